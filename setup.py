"""Only for one build step pyproject.toml cannot say: ship the repository's quizzes/ inside the wheel.

The quiz data lives at the top of the repository (quizzes/, beside lib/); a wheel copies it to cutmix_course/quizzes/,
where `cutmix_course.notebook.paths.quiz_dir` finds it when the package is installed without the repository. An editable
install (`pip install -e .`, the venv of `make`) reads the repository's folder instead.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithQuizzes(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = Path(self.build_lib) / "cutmix_course" / "quizzes"
        dest.mkdir(parents=True, exist_ok=True)
        for path in sorted(Path(__file__).parent.joinpath("quizzes").glob("*.json")):
            shutil.copy2(path, dest / path.name)


setup(cmdclass={"build_py": BuildPyWithQuizzes})
