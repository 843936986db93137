"""The package's rooms (see cutmix_course's docstring): imports point down only, read from the source with ast.

core <- notebook <- grading <- tools: a module may import its own room and the rooms below it, never one above (the
student kit ships core and notebook alone, so an upward import there would break every student's notebook).
"""
import ast
from pathlib import Path

import pytest

import cutmix_course

PACKAGE = Path(cutmix_course.__file__).resolve().parent
RANK = {"core": 0, "notebook": 1, "grading": 2, "tools": 3}
TOP = {"__init__.py": 1, "__main__.py": 3}  # the command table names every room, lazily, by string


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "cutmix_course" and parts[1] in RANK else None


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of the package in the file, relative imports resolved."""
    package = ["cutmix_course", *path.relative_to(PACKAGE).parent.parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]  # `from .. import grading`
    return [(line, m) for line, m in found if m.startswith("cutmix_course")]


def upward_imports(path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE)
    own = RANK[rel.parts[0]] if rel.parts[0] in RANK else TOP[rel.name]
    return [f"{rel}:{line} imports {module}" for line, module in imported_modules(path)
            if room_of(module) is not None and RANK[room_of(module)] > own]


def test_every_module_lives_in_a_room():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in TOP]
    assert loose == [] and sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == \
        sorted(RANK)


@pytest.mark.parametrize("room", sorted(RANK))
def test_imports_point_down_only(room):
    assert [hit for path in sorted((PACKAGE / room).rglob("*.py")) for hit in upward_imports(path)] == []


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The test above can fail: a core module importing the kernel room is reported, with its line."""
    fake = tmp_path / "cutmix_course"
    (fake / "core").mkdir(parents=True)
    (fake / "core" / "bad.py").write_text("import torch\n\nfrom ..notebook import checks\nfrom . import augment\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert upward_imports(fake / "core" / "bad.py") == ["core/bad.py:3 imports cutmix_course.notebook",
                                                        "core/bad.py:3 imports cutmix_course.notebook.checks"]


def test_core_reads_no_environment_and_prints_nothing():
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | \
            {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not names & {"environ", "getenv", "print"}, f"{path.name} uses {names & {'environ', 'getenv', 'print'}}"
