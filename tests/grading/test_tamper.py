"""The static review of submitted notebooks (grading/tamper.py): each attack class is found and quoted, the course's
own code and honest answers are not, and what nbgrader overwrites (test and locked cells) is not read."""
from pathlib import Path

import nbformat
import pytest

from cutmix_course.grading import tamper

ROOT = Path(__file__).resolve().parents[2]
SOURCE = nbformat.read(ROOT / "solutions" / "cutout_cutmix" / "02_cutout.ipynb", as_version=4)
RELEASE = nbformat.read(ROOT / "notebooks" / "cutout_cutmix" / "02_cutout.ipynb", as_version=4)


def submitted(*extra: str, solution: str | None = None):
    """The release with `solution` as cutout_one's answer and `extra` code cells appended after it."""
    nb = nbformat.reads(nbformat.writes(RELEASE), as_version=4)  # a copy
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "cutout_one")
    if solution is not None:
        nb.cells[index].source = solution
    for offset, code in enumerate(extra, 1):
        nb.cells.insert(index + offset, nbformat.v4.new_code_cell(code))
    return nb


HONEST = ("def cutout_one(image, size, cy, cx):\n    out = image.clone()\n    h, w = image.shape[-2:]\n"
          "    y1, x1 = max(cy - size // 2, 0), max(cx - size // 2, 0)\n"
          "    out[:, y1:cy - size // 2 + size, x1:cx - size // 2 + size] = 0\n    return out\n")

ATTACKS = {
    "torch.equal = lambda a, b: True": tamper.TORCH_PATCH,
    "torch.Tensor.__ne__ = lambda self, other: self": tamper.TORCH_PATCH,
    "setattr(torch, 'allclose', lambda *a, **k: True)": tamper.HIDDEN,
    "class Liar(torch.Tensor):\n    pass": tamper.SUBCLASS,
    "def __torch_function__(cls, func, types, args=(), kwargs=None):\n    return True": tamper.SUBCLASS,
    "x = torch.zeros(3).as_subclass(object)": tamper.SUBCLASS,
    "import sys\nsys.setprofile(None)": tamper.TRIPWIRE,
    "import sys\nsys.modules['cutmix_course.notebook.tripwire'] = None": tamper.TRIPWIRE,
    "from cutmix_course.notebook import tripwire\ntripwire.forbid_reference.__exit__ = lambda *a: False":
        tamper.TRIPWIRE,
    "import threading\nthreading.settrace(print)": tamper.TRIPWIRE,
    "get_ipython().showtraceback = lambda *a, **k: None": tamper.IPYTHON,
    "ip = get_ipython()\nip.events.register('post_run_cell', print)": tamper.IPYTHON,
    "import sys, io\nsys.stderr = io.StringIO()": tamper.IPYTHON,
    "%load_ext something": tamper.IPYTHON,
    "!rm -rf /tmp/x": tamper.IPYTHON,
    "checks.check_cutout_one = lambda f: None": tamper.CHECKS,
    "import builtins\nbuiltins.all = lambda xs: True": tamper.CHECKS,
    "len = lambda x: 0": tamper.CHECKS,
    "def abs(x):\n    return 0": tamper.CHECKS,
    "\n\n\n\nimport builtins\nbuiltins.all = lambda xs: True": tamper.CHECKS,  # blank lines shift no quote
    "exec('torch.equal = lambda a, b: True')": tamper.HIDDEN,
    "eval(compile('1', 'x', 'eval'))": tamper.HIDDEN,
    "import importlib\nimportlib.import_module('IPyth' + 'on')": tamper.HIDDEN,
    "import ctypes": tamper.HIDDEN,
    "f = (lambda: 0).__globals__": tamper.HIDDEN,
    "().__class__.__base__.__subclasses__()": tamper.HIDDEN,
    "import inspect\ninspect.currentframe().f_back": tamper.HIDDEN,
    "__builtins__['all'] = any": tamper.CHECKS,
}


@pytest.mark.parametrize("code", list(ATTACKS))
def test_each_attack_is_found_with_its_class_and_quoted(code):
    findings = tamper.scan(submitted(code, solution=HONEST), SOURCE)
    assert ATTACKS[code] in {f.kind for f in findings}, findings
    assert all(f.code and f.code in code for f in findings) and findings[0].cell.startswith("cell ")
    assert "touches the testing machinery" in tamper.summary(findings)


def test_an_attack_inside_the_answer_cell_is_found_too():
    findings = tamper.scan(submitted(solution=HONEST + "\ntorch.equal = lambda a, b: True\n"), SOURCE)
    assert [(f.kind, f.code) for f in findings] == [(tamper.TORCH_PATCH, "torch.equal = lambda a, b: True")]
    assert "(cutout_one)" in findings[0].cell


def test_honest_work_the_release_and_the_solution_are_not_flagged():
    assert tamper.scan(RELEASE, SOURCE) == []
    assert tamper.scan(submitted(solution=HONEST), SOURCE) == []
    assert tamper.scan(SOURCE, SOURCE) == []  # hidden tests and all: they sit in test cells, which are not read
    innocent = ("import math\nimport torch\nsizes = [len(s) for s in ['a']]\nbest = max(sizes)\n"
                "out = torch.zeros(2)\nout[0] = 1\nprint(out.__len__(), math.pi)\nfor i in range(2):\n    pass\n")
    assert tamper.scan(submitted(innocent, solution=HONEST), SOURCE) == []


def test_what_nbgrader_overwrites_is_not_read():
    nb = submitted(solution=HONEST)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_cutout_one")
    test.source = "torch.equal = lambda a, b: True\n"  # never runs: the instructor's test cell replaces it
    assert tamper.scan(nb, SOURCE) == []


def test_the_hidden_tests_protected_names_come_from_the_hidden_tests():
    names = tamper.protected_names(SOURCE)
    assert {"len", "abs"} <= names
    assert "torch" not in names  # the hidden tests import it themselves (and run in the grader's process)
    assert "cutout_one" not in names and "_imgs" not in names  # the student's own answer; the tests' own names
    quiz = nbformat.read(ROOT / "solutions" / "cutout_cutmix" / "06_quiz.ipynb", as_version=4)
    assert "answer_q1" not in tamper.protected_names(quiz)


def test_code_the_review_cannot_read_is_held_never_passed():
    broken = tamper.scan(submitted("def broken(:\n    pass", solution=HONEST), SOURCE)
    assert [(f.kind, f.why) for f in broken] == [("unreadable", "the review cannot read it (SyntaxError)")]
    # the grammar switched by an earlier cell: the kernel runs `1 <> 2`, the review cannot parse it
    flag = tamper.scan(submitted("from __future__ import barry_as_FLUFL", "assert 1 <> 2", solution=HONEST), SOURCE)
    assert "unreadable" in {f.kind for f in flag}
    deep = "x = " + "(" * 5000 + "1" + ")" * 5000  # deeper than the parser or the walk can go
    assert {f.kind for f in tamper.scan(submitted(deep, solution=HONEST), SOURCE)} == {"unreadable"}


def test_a_locked_flag_written_into_an_answer_cell_does_not_hide_it():
    nb = submitted(solution=HONEST + "\ntorch.equal = lambda a, b: True\n")
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "cutout_one")
    answer.metadata["nbgrader"]["locked"] = True  # nbgrader runs it all the same
    answer.metadata["nbgrader"]["solution"] = False
    assert [f.kind for f in tamper.scan(nb, SOURCE)] == [tamper.TORCH_PATCH]


def test_a_second_cell_with_a_test_cells_id_is_read():
    nb = submitted(solution=HONEST)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_cutout_one")
    copy = nbformat.from_dict(dict(test, source="torch.equal = lambda a, b: True\n", id="dup"))
    nb.cells.append(copy)  # nbgrader restores the first and de-duplicates the id of the second, which runs
    assert [f.kind for f in tamper.scan(nb, SOURCE)] == [tamper.TORCH_PATCH]


@pytest.mark.parametrize("answer, why", [
    ("import torchvision.transforms.v2.functional as TF\n", "imports torchvision"),
    ("from cutmix_course.core import augment\n", "imports cutmix_course.core"),  # a course line, but in an answer
    ("import threading\n", "imports threading"),
    ("import torch\n_fill = torch.ops.aten.fill_\n", "uses torch.ops.aten.fill_"),
    ("import torchvision.transforms.v2.functional as F2\nerase = F2\n", "imports torchvision"),
])
def test_an_answer_cell_imports_only_the_allowlist_and_names_nothing_its_exercise_forbids(answer, why):
    findings = tamper.scan(submitted(solution=answer + HONEST), SOURCE)
    assert any(f.kind == tamper.REFERENCE and why in f.why for f in findings), findings
    assert tamper.scan(submitted(solution="import math\nimport torch\n" + HONEST), SOURCE) == []
    # an added cell may explore with any module: the allowlist is the answer cells'
    assert tamper.scan(submitted("import torchvision\n", solution=HONEST), SOURCE) == []


def test_a_forbidden_name_is_found_through_an_import_alias():
    answer = ("from torchvision.transforms.v2 import functional as TF\n"
              + HONEST.replace("return out", "return TF.erase(out, 0, 0, 1, 1, 0)"))
    whys = [f.why for f in tamper.scan(submitted(solution=answer), SOURCE) if f.kind == tamper.REFERENCE]
    assert any("torchvision.transforms.v2.functional.erase" in w for w in whys), whys
