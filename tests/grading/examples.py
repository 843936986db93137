"""Example submissions: real notebook sets made from a course's solutions/ and notebooks/ by small edits.

One `Example` per student: a base set ("solution" or "release"), a list of edits, and the expected outcome.
`standard_examples()` derives the issue's examples from *any* nbgrader assignment (the grade cells and their order
are read from the notebooks), so the same code builds the toy course's examples in the tests and the real course's
examples under tests/submissions/. Only the delegation example needs to know an exercise; the caller passes it.

Expected outcomes are stated, not measured: `fail` names the grade cells that must score 0 ("*" = every grade cell
of that notebook); every other grade cell must get full points. The test turns this into scores with the points
in the gradebook, so no number is written down twice.
"""
from __future__ import annotations

import ast
import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
from nbformat.v4 import new_code_cell

CORRUPT = b'{"cells": [{"cell_type": "code", "source": "def mean(xs):\\n'  # a notebook cut off mid-way
NON_ASCII_STUDENT = "s17-zoë-müller_学生"
DUEDATE = "2025-03-01 23:59:59 UTC"
ON_TIME, LATE = "2025-03-01 12:00:00 UTC", "2025-03-02 09:30:00 UTC"


@dataclass
class Example:
    student: str
    why: str
    base: str = "solution"                                   # "solution" or "release"
    edits: list = field(default_factory=list)                # callables (notebooks: dict) -> None
    fail: dict = field(default_factory=dict)                 # notebook -> list of grade_ids, or "*"
    problems: list = field(default_factory=list)             # problem kinds that must be reported
    late: bool = False
    timestamp: str | None = None

    def expectation(self) -> dict:
        return {"why": self.why, "fail": self.fail, "problems": sorted(set(self.problems)), "late": self.late}


# ------------------------------------------------------------------------------------------------ cell helpers
def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def find(nb, gid: str) -> int:
    for i, cell in enumerate(nb.cells):
        if grade_id(cell) == gid:
            return i
    raise KeyError(f"no cell with grade_id {gid!r}")


def tests_of(nb) -> list[str]:
    return [grade_id(c) for c in nb.cells if is_test(c)]


def first_solution(nb) -> str:
    return next(grade_id(c) for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))


def first_function(source: str) -> str:
    return next(node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef))


# ------------------------------------------------------------------------------------------------ edits
def insert_after(notebook: str, gid: str, code: str) -> Callable:
    def edit(nbs):
        nb = nbs[notebook]
        nb.cells.insert(find(nb, gid) + 1, new_code_cell(code))
    return edit


def insert_before(notebook: str, gid: str, code: str) -> Callable:
    def edit(nbs):
        nb = nbs[notebook]
        nb.cells.insert(find(nb, gid), new_code_cell(code))
    return edit


def set_source(notebook: str, gid: str, code: str) -> Callable:
    def edit(nbs):
        nbs[notebook].cells[find(nbs[notebook], gid)].source = code
    return edit


def append_source(notebook: str, gid: str, code: str) -> Callable:
    def edit(nbs):
        cell = nbs[notebook].cells[find(nbs[notebook], gid)]
        cell.source = cell.source.rstrip("\n") + "\n" + code
    return edit


def delete(notebook: str, gid: str) -> Callable:
    def edit(nbs):
        del nbs[notebook].cells[find(nbs[notebook], gid)]
    return edit


def rename_grade_id(notebook: str, gid: str, new: str) -> Callable:
    """The cell `gid` renamed `new`, with the source a student has of it (the release's: no hidden tests)."""
    def edit(nbs):
        cell = nbs[notebook].cells[find(nbs[notebook], gid)]
        cell.source = nbs["__release__"][notebook].cells[find(nbs["__release__"][notebook], gid)].source
        cell.metadata["nbgrader"]["grade_id"] = new
    return edit


def corrupt(notebook: str) -> Callable:
    def edit(nbs):
        nbs[notebook] = CORRUPT
    return edit


def remove(notebook: str) -> Callable:
    def edit(nbs):
        nbs[notebook] = None
    return edit


def take_release(notebook: str) -> Callable:
    def edit(nbs):
        nbs[notebook] = copy.deepcopy(nbs["__release__"][notebook])
    return edit


# ------------------------------------------------------------------------------------------------ hostile code
READ_SECRETS = '''\
# Hostile: look for the gradebook, the instructor source (hidden tests) and solutions above the working folder.
import os
stolen = []
folder = os.getcwd()
for _ in range(8):
    for name in ("gradebook.db", "source", "solutions", "release-gradebook.db"):
        path = os.path.join(folder, name)
        try:
            if name.endswith(".db"):
                stolen.append(open(path, "rb").read(100))
            else:
                for sub in os.listdir(path):
                    for nb in os.listdir(os.path.join(path, sub)):
                        stolen.append(open(os.path.join(path, sub, nb)).read())
        except OSError:
            pass
    folder = os.path.dirname(folder)
print("stolen:", len(stolen))
print("".join(map(str, stolen))[:5000])
'''

WRITE_GRADEBOOK = '''\
# Hostile: give myself full marks in the gradebook.
import os, sqlite3
for up in range(1, 8):
    path = os.path.join(*[".."] * up, "gradebook.db")
    try:
        with open(path, "rb"):
            pass
        con = sqlite3.connect(path)
        con.execute("UPDATE grade SET auto_score = 1000")
        con.commit()
        print("changed", path)
    except Exception as exc:
        print("no luck with", path, type(exc).__name__)
'''

TOUCH_OTHERS = '''\
# Hostile: damage the other students' submissions, results and feedback.
import os, shutil
course = os.path.dirname(os.path.dirname(os.path.dirname(os.getcwd())))
me = os.path.basename(os.path.dirname(os.getcwd()))
for area in ("submitted", "autograded", "feedback"):
    try:
        for other in os.listdir(os.path.join(course, area)):
            if other != me:
                target = os.path.join(course, area, other)
                with open(os.path.join(target, "HACKED.txt"), "w") as fh:
                    fh.write("hacked")
                shutil.rmtree(target)
                print("removed", target)
    except OSError as exc:
        print("no luck with", area, type(exc).__name__)
# ... and plant a module in the shared course package and in torch, for the students graded after me
# (a harmless file, so that running these examples without a sandbox damages nothing).
import cutmix_course, torch
for module in (cutmix_course, torch):
    try:
        with open(os.path.join(os.path.dirname(module.__file__), "HACKED.py"), "w") as fh:
            fh.write("hacked = True\\n")
        print("planted a file in", module.__name__)
    except OSError as exc:
        print("no luck with", module.__name__, type(exc).__name__)
'''

# 8 GiB, every byte written: a real hog without a limit. One allocation, so a MemoryError leaves nothing held (a
# hog that fills a list keeps it alive through IPython's stored traceback, failing what follows for lack of memory).
MEMORY_HOG = '''\
hog = b"x" * (8 * 2**30)
'''

WARN_WRAPPER = '''\
import functools as _functools, warnings as _warnings
def _noisy(function):
    @_functools.wraps(function)
    def wrapper(*args, **kwargs):
        _warnings.warn("a harmless warning from the student's code")
        return function(*args, **kwargs)
    return wrapper
{name} = _noisy({name})
'''


def standard_examples(solution: dict, release: dict, notebook: str, delegation: Example) -> list[Example]:
    """The issue's examples for any assignment. `notebook` is where the edits go (choose a quick one);
    `delegation` is the course-specific example that calls the reference instead of implementing it."""
    nb = solution[notebook]
    tests = tests_of(nb)
    sol_cell = first_solution(nb)
    function = first_function(nb.cells[find(nb, sol_cell)].source)
    last_test = tests[-1]
    after_exit = [t for t in tests if find(nb, t) >= find(nb, last_test)]
    on_time, late = ON_TIME, LATE
    all_nbs = {name: "*" for name in solution}
    return [
        Example("s01-solution", "the full solution", timestamp=on_time),
        Example("s02-release", "the untouched release", base="release", fail=all_nbs),
        Example("s03-partial", f"solution except {notebook}, left as released", edits=[take_release(notebook)],
                fail={notebook: "*"}),
        Example("s04-infinite-loop", "an infinite loop in a cell of its own",
                edits=[insert_after(notebook, sol_cell, "while True:\n    pass\n")], problems=["timeout"]),
        Example("s05-sys-exit", "sys.exit() in a cell (IPython survives it)",
                edits=[insert_after(notebook, sol_cell, "import sys\nsys.exit()\n")], problems=["exit"]),
        Example("s06-os-exit", "os._exit(1) before the last test: the kernel dies",
                edits=[insert_before(notebook, last_test, "import os\nos._exit(1)\n")],
                fail={notebook: after_exit}, problems=["kernel died"]),
        Example("s07-memory-hog", "allocates until the memory limit stops it",
                edits=[insert_after(notebook, sol_cell, MEMORY_HOG)], problems=["memory"]),
        Example("s08-print-flood", "prints 100,000 lines",
                edits=[insert_after(notebook, sol_cell, "for i in range(100_000):\n    print('line', i)\n")],
                problems=["output"]),
        Example("s09-deleted-test", f"{notebook} as released (failing) with its first test cell deleted",
                edits=[take_release(notebook), delete(notebook, tests[0])], fail={notebook: "*"},
                problems=["restored"]),
        Example("s10-edited-test", f"{notebook} as released (failing) with its first test cell edited to pass",
                edits=[take_release(notebook), set_source(notebook, tests[0], "assert True\n")],
                fail={notebook: "*"}, problems=["restored"]),
        Example("s11-changed-grade-id", "the solution with a test cell's grade_id changed",
                edits=[rename_grade_id(notebook, tests[0], tests[0] + "_mine")], problems=["restored"]),
        Example("s12-corrupt-json", f"{notebook} is not valid JSON", edits=[corrupt(notebook)],
                fail={notebook: "*"}, problems=["corrupt"]),
        Example("s13-missing-notebook", f"{notebook} was not submitted", edits=[remove(notebook)],
                fail={notebook: "*"}, problems=["missing"]),
        delegation,
        Example("s15-stderr-warning", f"correct code whose {function}() emits a warning on stderr",
                edits=[append_source(notebook, sol_cell, WARN_WRAPPER.format(name=function))], problems=["stderr"]),
        Example("s16-late", "the full solution, submitted after the due date", timestamp=late, late=True,
                problems=["late"]),
        Example(NON_ASCII_STUDENT, "the full solution from a student id with non-ASCII characters"),
        Example("s18-read-secrets", "tries to read the gradebook, the hidden tests and the solutions",
                edits=[insert_after(notebook, sol_cell, READ_SECRETS)], problems=["sandbox"]),
        Example("s19-write-gradebook", "tries to give itself full marks in the gradebook",
                edits=[insert_after(notebook, sol_cell, WRITE_GRADEBOOK)], problems=["sandbox"]),
        Example("s20-touch-others", "tries to delete the other students' folders",
                edits=[insert_after(notebook, sol_cell, TOUCH_OTHERS)], problems=["sandbox"]),
    ]


# ------------------------------------------------------------------------------------------------ building
def _stable_ids(nbs: dict, base: dict) -> None:
    """Cells added by edits get ids numbered in order (nbformat draws random ones), so rebuilding the examples
    gives the same files."""
    for name, nb in nbs.items():
        if isinstance(nb, nbformat.NotebookNode):
            known = {c.get("id") for c in base.get(name, nbformat.v4.new_notebook()).cells}
            added = 0
            for cell in nb.cells:
                if cell.get("id") not in known:
                    added += 1
                    cell["id"] = f"example-cell-{added}"


def read_set(folder: Path) -> dict:
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted(Path(folder).glob("*.ipynb"))}


def build(examples: list[Example], solution: dict, release: dict, out: Path, assignment: str,
          duedate: str = DUEDATE) -> Path:
    """Write out/submitted/<student>/<assignment>/*.ipynb (+ timestamp.txt), out/duedate.txt and
    out/expected.json. Returns out/submitted."""
    out = Path(out)
    for ex in examples:
        nbs = copy.deepcopy(solution if ex.base == "solution" else release)
        nbs["__release__"] = release
        for edit in ex.edits:
            edit(nbs)
        del nbs["__release__"]
        _stable_ids(nbs, solution if ex.base == "solution" else release)
        folder = out / "submitted" / ex.student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for name, nb in nbs.items():
            if nb is None:
                continue
            if isinstance(nb, bytes) and "." in name:  # a file that is no notebook, under its own name
                (folder / name).write_bytes(nb)
            elif isinstance(nb, bytes):
                (folder / f"{name}.ipynb").write_bytes(nb)
            else:
                nbformat.write(nb, folder / f"{name}.ipynb")
        if ex.timestamp:
            (folder / "timestamp.txt").write_text(ex.timestamp + "\n")
    (out / "duedate.txt").write_text(duedate + "\n")
    expected = {"assignment": assignment, "duedate": duedate,
                "students": {ex.student: ex.expectation() for ex in examples}}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out / "submitted"


# ------------------------------------------------------------------------------------------------ checking
def mismatches(run, expected: dict) -> list[str]:
    """Every way the graded `run` differs from `expected` (the expected.json written by `build`); [] if none.

    Per student: each grade cell scores 0 if listed in `fail` (or its notebook is "*"), else its full points from
    the gradebook; the reported problem kinds equal the expected ones; the late flag matches; a late submission
    under the zero policy scores 0 after the penalty."""
    from nbgrader.api import Gradebook

    errors = []
    results = run.by_student()
    if set(results) != set(expected["students"]):
        errors.append(f"graded {sorted(results)}, expected {sorted(expected['students'])}")
    with Gradebook(run.db_url or f"sqlite:///{run.gradebook}") as gb:
        notebooks = gb.find_assignment(expected["assignment"]).notebooks
        points = {(nb.name, cell.name): cell.max_score for nb in notebooks for cell in nb.grade_cells}
        # graded by hand (solution and grade cell): it scores 0 until a human grades it (`manual` lists it)
        manual = {(nb.name, cell.name) for nb in notebooks for cell in nb.solution_cells} & set(points)
    for student, want in expected["students"].items():
        got = results.get(student)
        if got is None:
            continue
        for (nb, cell), full in sorted(points.items()):
            failing = want["fail"].get(nb) == "*" or cell in want["fail"].get(nb, [])
            score = got.notebooks[nb].cells.get(cell)
            expect = 0.0 if (nb, cell) in manual or failing else full  # graded by hand: 0 until a human grades it
            if score != expect:
                errors.append(f"{student}: {nb}/{cell} scored {score}, expected {expect} ({want['why']})")
        kinds = sorted({kind for kind, _, _ in got.problems})
        if kinds != want["problems"]:
            errors.append(f"{student}: problems {kinds}, expected {want['problems']}: {got.problem_text()}")
        if got.late != want["late"]:
            errors.append(f"{student}: late={got.late}, expected {want['late']}")
        if got.late and got.score != 0.0:
            errors.append(f"{student}: late under the zero policy but scored {got.score}")
    return errors


def student_lines(submitted: Path) -> set[str]:
    """Every line the students wrote or kept outside the test cells (their code may legitimately show such a line
    in their feedback even if a hidden test happens to contain it too, e.g. `try:`)."""
    lines = set()
    for path in Path(submitted).rglob("*.ipynb"):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001
            continue
        lines |= {line.strip() for c in nb.cells if not is_test(c) for line in c.source.split("\n")}
    return lines


def hidden_lines(solution: dict, release: dict, begin: str = "BEGIN HIDDEN TESTS",
                 end: str = "END HIDDEN TESTS", min_length: int = 12) -> set[str]:
    """The lines (stripped, at least `min_length` long) of every hidden-test region in the solutions that appear
    nowhere in the release (a line such as `import torch` may be public too); no feedback page may show one."""
    public = {line.strip() for nb in release.values() for cell in nb.cells for line in cell.source.split("\n")}
    hidden = set()
    for nb in solution.values():
        for cell in nb.cells:
            inside = False
            for line in cell.source.split("\n"):
                if begin in line:
                    inside = True
                elif end in line:
                    inside = False
                elif inside and len(line.strip()) >= min_length and line.strip() not in public:
                    hidden.add(line.strip())
    return hidden


def page_text(page: Path) -> str:
    """What a browser shows of an HTML page (nbconvert splits code into highlighting spans)."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", Path(page).read_text(encoding="utf-8")))


def leaks(feedback: Path, hidden: set[str]) -> list[str]:
    """(page, line) for every hidden-test line found in a feedback page under `feedback`."""
    found = []
    for page in sorted(Path(feedback).rglob("*.html")):
        text = page_text(page)
        found += [f"{page}: {line}" for line in sorted(hidden) if line in text]
    return found
