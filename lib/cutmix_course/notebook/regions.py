"""nbgrader's regions in a cell's source, read in one place: the student's answer (### BEGIN/END SOLUTION) and the
hidden tests (### BEGIN/END HIDDEN TESTS), whose delimiter lines nbgrader removes or replaces.
"""
from __future__ import annotations

import re

SOLUTION = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_TESTS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_SOLUTION_MARKER = re.compile(r"[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?")
_ANY_BEGIN = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)")
_ANY_END = re.compile(r"### END (SOLUTION|HIDDEN TESTS)")


def without_solution_markers(source: str) -> str:
    """The answer cell's source as the student's code: the solution delimiter lines removed, their content kept."""
    return _SOLUTION_MARKER.sub("", source)


def without_region(source: str, begin: str, end: str, note: str | None = None) -> str:
    """`source` without its `begin`..`end` regions (delimiter lines included); `note` replaces each region."""
    lines, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
            if note is not None:
                lines.append(line[: len(line) - len(line.lstrip())] + note)
        elif end in line:
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


def hidden_tests(source: str) -> list[str]:
    """The code of each hidden-test region of `source`."""
    return re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source + "\n", re.S)


def outside_regions(source: str) -> list[str]:
    """The lines of `source` outside its solution and hidden-test regions (the course's own code)."""
    lines, inside = [], False
    for line in source.splitlines():
        if _ANY_BEGIN.search(line):
            inside = True
        elif _ANY_END.search(line):
            inside = False
        elif not inside:
            lines.append(line)
    return lines
