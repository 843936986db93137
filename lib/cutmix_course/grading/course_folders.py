"""The course folder's layout as its nbgrader_config.py states it: where the instructor source and the release are.

nbgrader's own config loader reads the file (it is Python: `c.CourseDirectory.source_directory = ...`), so the
grader, the release and the kit follow whatever folders the instructor configured.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..notebook.paths import ASSIGNMENT


@dataclass(frozen=True)
class CourseFolders:
    root: Path
    source_directory: str = "source"    # nbgrader's defaults, used where the config says nothing
    release_directory: str = "release"

    def source(self, assignment: str = ASSIGNMENT) -> Path:
        """The instructor notebooks of `assignment` (solutions and hidden tests)."""
        return self.root / self.source_directory / assignment

    def release(self, assignment: str = ASSIGNMENT) -> Path:
        """The student version of `assignment`."""
        return self.root / self.release_directory / assignment


def course_folders(root) -> CourseFolders:
    """Read `root`/nbgrader_config.py; FileNotFoundError when `root` has none."""
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(root).resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{root} is no course folder: expected nbgrader_config.py in it")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    directory = config.CourseDirectory
    return CourseFolders(root, str(directory.get("source_directory", "source")),
                         str(directory.get("release_directory", "release")))
