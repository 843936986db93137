"""A normal (non-editable) install of the package works without the repository: the wheel carries the quiz data,
and nothing finds the course by assuming the repository's layout.

Builds the wheel from this checkout, installs it into an empty target folder (no dependencies: they come from the
venv) and uses it from a folder outside the repository, with the target first on the path.
"""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

USE = r"""
import json, sys
import cutmix_course
from cutmix_course.notebook import paths, quiz
from cutmix_course.grading import GradingOptions
from cutmix_course.notebook.tripwire import forbid_reference
from cutmix_course.grading.cli import parser
q = quiz.load()
assert [q.is_correct(q.questions[0].id, letter) for letter in "ABCD"].count(True) == 1
print(json.dumps({"file": cutmix_course.__file__, "quiz_dir": str(paths.quiz_dir()), "course": str(paths.course_root()),
                  "quiz": q.name, "questions": len(q.questions), "timeout": GradingOptions().timeout,
                  "help": "--workers" in parser().format_help()}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(work / "dist"), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    wheel = next((work / "dist").glob("cutmix_course-*.whl"))
    target = work / "target"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return wheel, target, work


def test_the_wheel_ships_the_package_and_the_quiz_data(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "cutmix_course/quizzes/cutout_cutmix.json" in names
    assert "cutmix_course/notebook/tripwire.py" in names and "cutmix_course/grading/preprocessors/__init__.py" in names
    assert not [n for n in names if n.startswith(("solutions/", "tests/", "notebooks/"))]


def test_the_installed_package_works_outside_the_repository(installed):
    _, target, work = installed
    outside = work / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUTMIX_")}
    env["PYTHONPATH"] = str(target)  # before the venv's site-packages, which hold the editable install of lib/
    done = subprocess.run([sys.executable, "-c", USE], capture_output=True, text=True, cwd=outside, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(seen["file"]).is_relative_to(target)
    assert Path(seen["quiz_dir"]) == target / "cutmix_course" / "quizzes"
    assert seen["course"] == "None"  # no course here, and no repository layout assumed
    assert seen["quiz"] == "cutout_cutmix" and seen["questions"] == 3 and seen["help"] and seen["timeout"] == 60
    grade = subprocess.run([sys.executable, "-m", "cutmix_course", "grade", "--out", str(work / "g")],
                           capture_output=True, text=True, cwd=outside, env=env, timeout=300)
    assert grade.returncode == 2 and "--course" in grade.stderr  # says what is missing instead of guessing a path
