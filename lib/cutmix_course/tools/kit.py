"""The student kit: `make student-kit` -> dist/cutout_cutmix-student.zip, what a student downloads instead of this repo.

The kit holds the student notebooks (the release), the rooms of the package a student's kernel imports (`core/` and
`notebook/`, reference implementations included: the notebooks call them, and the grader's reviews keep students
from submitting them; `grading/` and `tools/` stay with the instructor), a student copy of the quiz (questions,
choices and hints; no salt, hashes or explanations), the packages a student needs (a subset of requirements.txt with
the same pins), and a student README and Makefile with two commands: `make lab` (set up on first use, open the
notebooks) and `make check` (the public checks).

Nothing from solutions/, tests/, the gradebook, the quiz's answers or its explanations goes in;
tests/tools/test_student_kit.py unpacks the kit, runs its notebooks and scans every file for solution and hidden-test
lines.
"""
from __future__ import annotations

import argparse
import json
import re
import zipfile
from pathlib import Path

from ..grading.course_folders import course_folders
from ..notebook import paths, quiz

KIT_NAME = f"{paths.ASSIGNMENT}-student"
STUDENT_ROOMS = ("__init__.py", "__main__.py", "core", "notebook")  # what a student's kernel and make check import
TEMPLATES = Path("docs") / "student-kit"  # README.md and Makefile of the kit, relative to the course root
# the packages a student's machine needs (the rest of requirements.txt is the instructor's: tests, grading at scale)
STUDENT_PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "tqdm", "ipywidgets", "jupyter", "jupyterlab",
                    "notebook", "ipykernel", "nbformat", "nbclient", "nbconvert", "nbgrader")
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==")


def student_requirements(text: str) -> str:
    """requirements.txt reduced to STUDENT_PACKAGES (pins unchanged) plus the kit's own package (`-e .`)."""
    keep = [line for line in text.splitlines() if (m := _PIN.match(line.strip())) and m.group(1) in STUDENT_PACKAGES]
    missing = set(STUDENT_PACKAGES) - {_PIN.match(line).group(1) for line in keep}
    if missing:
        raise ValueError(f"requirements.txt has no pinned line (name==version) for {sorted(missing)}")
    return "\n".join(["# Pinned packages for the course (Python 3.11); torch/torchvision run on the CPU.", *keep,
                      "# the course package (lib/cutmix_course)", "-e .", ""])


def kit_files(root: Path) -> dict[str, bytes]:
    """Kit path -> content, everything under one top folder named KIT_NAME."""
    files: dict[str, bytes] = {}

    def add(rel: str, data: bytes) -> None:
        files[f"{KIT_NAME}/{rel}"] = data

    release = course_folders(root).release()
    notebooks = sorted(release.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no student notebooks in {release}: run `make release` first")
    for nb in notebooks:
        add(f"notebooks/{paths.ASSIGNMENT}/{nb.name}", nb.read_bytes())
    package = root / "lib" / "cutmix_course"
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).parts[0] in STUDENT_ROOMS:
            add(f"lib/{path.relative_to(root / 'lib').as_posix()}", path.read_bytes())
    sealed = json.loads((root / "quizzes" / f"{paths.ASSIGNMENT}.json").read_text(encoding="utf-8"))
    add(f"quizzes/{paths.ASSIGNMENT}.json",
        (json.dumps(quiz.student_copy(sealed), indent=1, ensure_ascii=False) + "\n").encode())
    add("requirements.txt", student_requirements((root / "requirements.txt").read_text()).encode())
    for name in ("pyproject.toml", "setup.py"):
        add(name, (root / name).read_bytes())
    for name in ("README.md", "Makefile"):
        add(name, (root / TEMPLATES / name).read_bytes())
    return files


def build(root=None, out=None) -> Path:
    """Write the kit's zip (default dist/<KIT_NAME>.zip under the course root) and return its path."""
    root = Path(root) if root else paths.course_root(required=True)
    out = Path(out) if out else root / "dist" / f"{KIT_NAME}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    files = kit_files(root)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))  # same files -> same zip
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m cutmix_course kit", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help=f"the zip to write (default: dist/{KIT_NAME}.zip)")
    args = p.parse_args(argv)
    out = build(out=args.out)
    with zipfile.ZipFile(out) as zf:
        n = len(zf.namelist())
    print(f"student kit written to {out} ({n} files, {out.stat().st_size / 1e6:.1f} MB)")
    return 0
