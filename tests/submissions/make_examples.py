"""Build the bundled example submissions from the course's own notebooks (run after changing the notebooks):

    .venv/bin/python tests/submissions/make_examples.py

Reads solutions/cutout_cutmix/ (the full solution) and notebooks/cutout_cutmix/ (the untouched release), applies
the edits of tests/grading/examples.standard_examples with the course's choices below, and rewrites
tests/submissions/submitted/<student>/cutout_cutmix/*.ipynb, duedate.txt and expected.json. These files are
committed; `python -m cutmix_course grade` with no argument grades them, and tests/grading/test_examples.py checks
both that they are up to date with this script and that every one grades as expected.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.grading import examples as ex  # noqa: E402

ASSIGNMENT = "cutout_cutmix"
HERE = ROOT / "tests" / "submissions"

# The notebook that receives the generic edits (infinite loop, memory hog, hostile cells, ...): a quick one.
EDIT_NOTEBOOK = "02_cutout"

# The course-specific example: an exercise answered by calling the reference instead of implementing it. The hidden
# tests of that exercise run the student's function inside notebook.tripwire.forbid_reference(...), so exactly the
# tests listed in `fails` must score 0. Check these names against the notebooks whenever they change.
DELEGATION = dict(
    notebook="02_cutout",
    cell="cutout_batch",
    code=("from cutmix_course.core.augment import cutout as _reference_cutout\n\n\n"
          "def cutout_batch(images, size, generator=None):\n"
          "    return _reference_cutout(images, size, generator=generator)\n"),
    fails=["test_cutout_batch"],
)


def delegation_example(solution: dict) -> ex.Example:
    spec = DELEGATION
    nb = solution.get(spec["notebook"])
    if nb is None:
        raise SystemExit(f"make_examples: DELEGATION names the notebook {spec['notebook']!r}, which is not in "
                         f"solutions/{ASSIGNMENT}")
    ids = {ex.grade_id(c) for c in nb.cells}
    unknown = [g for g in [spec["cell"], *spec["fails"]] if g not in ids]
    if unknown:
        raise SystemExit(f"make_examples: DELEGATION names grade_ids {unknown} that {spec['notebook']}.ipynb does "
                         f"not have (it has {sorted(i for i in ids if i)}); update DELEGATION")
    # the review reads the reference's import in the answer cell and holds the notebook; it still runs (the
    # instructor sees the tripwire's finding beside the review's)
    return ex.Example("s14-delegation", f"{spec['cell']} calls the reference implementation",
                      edits=[ex.set_source(spec["notebook"], spec["cell"], spec["code"])],
                      fail={spec["notebook"]: "*"}, problems=["integrity", "tamper"])


# The tamper-evidence examples: one plain wrong submission, and one attack per class on top of it (or
# on top of the delegation example, for the class that switches the tripwire off). Each attack, working or not, must
# score no more than its plain twin and be flagged "tamper" (the static review holds the notebook: all its tests 0
# until the instructor grades it by hand). tests/grading/test_examples.py checks both.
WRONG_CUTOUT_ONE = "def cutout_one(image, size, cy, cx):\n    return image.clone()  # hides nothing\n"
ATTACKS = {
    "s22-patch-torch": ("replaces torch.equal, torch.allclose and Tensor.__ne__, the comparisons the tests use", """\
import torch

torch.equal = lambda a, b: True
torch.allclose = lambda *args, **kwargs: True
torch.Tensor.__ne__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
"""),
    "s23-tensor-subclass": ("returns a tensor subclass whose __torch_function__ says every comparison is equal", """\
import torch


class _Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("equal", "allclose"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


_plain_cutout_one = cutout_one


def cutout_one(image, size, cy, cx):
    return _plain_cutout_one(image, size, cy, cx).as_subclass(_Agreeable)
"""),
    "s24-tripwire-off": ("delegates cutout_batch to the reference and switches the tripwire off (its class, the "
                         "profile hook and its sys.modules entry)", """\
import collections
import sys
import types

from cutmix_course.notebook import exercises, tripwire


class _Off:
    def __init__(self, *targets, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


tripwire.forbid_reference = _Off
exercises.FORBIDDEN = collections.defaultdict(tuple)
_fake = types.ModuleType("cutmix_course.notebook.tripwire")
_fake.forbid_reference = _Off
sys.modules["cutmix_course.notebook.tripwire"] = _fake
_fake = types.ModuleType("cutmix_course.notebook.exercises")
_fake.FORBIDDEN = collections.defaultdict(tuple)
sys.modules["cutmix_course.notebook.exercises"] = _fake
sys.setprofile = lambda *args: None
"""),
    "s25-ipython": ("patches IPython's error reporting so a failing test prints no error", """\
_shell = get_ipython()
_shell.showtraceback = lambda *args, **kwargs: None
_shell._showtraceback = lambda *args, **kwargs: None
"""),
    "s26-patch-checks-builtins": ("replaces the public check and the builtin all", """\
import builtins

from cutmix_course.notebook import checks

checks.check_cutout_one = lambda fn: print("cutout_one: All public checks passed.")
builtins.all = lambda iterable: True
"""),
    "s27-hidden-exec": ("the IPython patch of s25, hidden in base64 behind exec", """\
import base64

exec(base64.b64decode("X3NoZWxsID0gZ2V0X2lweXRob24oKQpfc2hlbGwuc2hvd3RyYWNlYmFjayA9IGxhbWJkYSAqYSwgKiprOiBOb25lCl9zaGVsbC5fc2hvd3RyYWNlYmFjayA9IGxhbWJkYSAqYSwgKiprOiBOb25lCg==").decode())
"""),
}
TWIN = "s21-wrong-cutout-one"

# The attacks of a class that read the grader (issue 19), each on the twin (or on the delegation example, where it
# delegates): against the verdict computed in the grader's process, the review of answer cells by an allowlist, the
# review's fail-closed parsing and the intake that takes notebooks only. Each must score no more than its twin and
# be held ("tamper") or refused ("extra").
SWALLOW_ERRORS = """\
import ast


class _Swallow(ast.NodeTransformer):
    def visit_Module(self, node):
        handler = ast.ExceptHandler(type=ast.Name("BaseException", ast.Load()), name=None, body=[ast.Pass()])
        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[], finalbody=[])]
        return ast.fix_missing_locations(node)


get_ipython().ast_transformers.append(_Swallow())
"""
PATCH_TORCH = "import torch\n\ntorch.equal = lambda a, b: True\ntorch.allclose = lambda *args, **kwargs: True\n"
THREAD_DELEGATION = """\
import threading

from cutmix_course.core.augment import cutout as _reference_cutout


def cutout_batch(images, size, generator=None):
    out = []  # the reference runs on a thread of its own, where a tripwire watching this thread sees nothing
    worker = threading.Thread(target=lambda: out.append(_reference_cutout(images, size, generator=generator)))
    worker.start()
    worker.join()
    return out[0]
"""
ECHO_HISTORY = "print(_i)\nprint(_ii)\nprint(_iii)\n"  # IPython's input history: the cells run before this one
TORCH_PY = b"import importlib, sys\n# loads the real torch, then does what it likes\n"


def lock(notebook: str, gid: str):
    """The cell's metadata says it is locked (nbgrader runs an answer cell all the same)."""
    def edit(nbs):
        meta = nbs[notebook].cells[ex.find(nbs[notebook], gid)].metadata["nbgrader"]
        meta.update(locked=True, solution=False)
    return edit


def add_file(name: str, data: bytes):
    def edit(nbs):
        nbs[name] = data
    return edit


def read_the_grader_examples() -> list:
    nb, twin = "02_cutout", [ex.set_source("02_cutout", "cutout_one", WRONG_CUTOUT_ONE)]
    held, on_twin = {nb: "*"}, {nb: ["test_cutout_one"]}
    return [
        ex.Example("t01-swallow-errors", "an AST transformer that wraps every later cell in try/except",
                   edits=[*twin, ex.insert_after(nb, "cutout_one", SWALLOW_ERRORS)], fail=held, problems=["tamper"]),
        ex.Example("t02-locked-answer", "torch patched in the answer cell, whose metadata says it is locked",
                   edits=[ex.set_source(nb, "cutout_one", WRONG_CUTOUT_ONE + PATCH_TORCH), lock(nb, "cutout_one")],
                   fail=held, problems=["tamper"]),
        ex.Example("t03-future-grammar", "a __future__ flag that makes the next cell unparseable to the review",
                   edits=[*twin, ex.insert_after(nb, "cutout_one", "assert 1 <> 2\n" + PATCH_TORCH),
                          ex.insert_after(nb, "cutout_one", "from __future__ import barry_as_FLUFL\n")],
                   fail=held, problems=["tamper"]),
        # the tripwire sees it too (it watches the threads started during the call): "integrity" beside "tamper"
        ex.Example("t04-thread-delegation", "cutout_batch calls the reference on a helper thread",
                   edits=[ex.set_source(nb, "cutout_batch", THREAD_DELEGATION)], fail=held,
                   problems=["tamper", "integrity"]),
        ex.Example("t05-echo-history", "prints IPython's input history after each test cell (the hidden tests?)",
                   edits=[*twin, ex.insert_after(nb, "test_cutout_one", ECHO_HISTORY),
                          ex.insert_after(nb, "test_cutout_batch", ECHO_HISTORY)], fail=on_twin),
        ex.Example("t06-torch-py", "a torch.py beside the notebooks, ahead of the real torch on the kernel's path",
                   edits=[*twin, add_file("torch.py", TORCH_PY)], fail=on_twin, problems=["extra"]),
    ]


def tamper_examples(solution: dict) -> list:
    """The plain wrong twin and one example per attack class (see ATTACKS)."""
    nb = "02_cutout"
    twin_edits = [ex.set_source(nb, "cutout_one", WRONG_CUTOUT_ONE)]
    out = [ex.Example(TWIN, "cutout_one hides nothing (a plain wrong answer: the twin of the attacks)",
                      edits=twin_edits, fail={nb: ["test_cutout_one"]})]
    for student, (why, code) in ATTACKS.items():
        if student == "s24-tripwire-off":  # its twin is the delegation example
            edits = [ex.set_source(DELEGATION["notebook"], DELEGATION["cell"], DELEGATION["code"]),
                     ex.insert_after(nb, "cutout_one", code)]
        else:
            edits = [*twin_edits, ex.insert_after(nb, "cutout_one", code)]
        out.append(ex.Example(student, why, edits=edits, fail={nb: "*"}, problems=["tamper"]))
    return out


# The similarity review's examples: a renamed copy of the reference, two students sharing one answer
# (flagged as a pair), and an independent correct solution (not flagged). All four are correct: similarity never
# changes a score. SIMILAR says which pairs the review must report; test_examples.py checks it on the graded run.
SHARED_CUTOUT_BATCH = '''def cutout_batch(images, size, generator=None):
    """One square of side `size` per image of the batch (B, C, H, W), centred on a uniformly drawn pixel,
    clipped at the borders, filled with 0. Returns a new batch of the same shape and dtype."""
    b, c, h, w = images.shape
    out = images.clone()
    ys = torch.randint(h, (b,), generator=generator)
    xs = torch.randint(w, (b,), generator=generator)
    grid_y = torch.arange(h).view(1, h, 1)
    grid_x = torch.arange(w).view(1, 1, w)
    top = (ys - size // 2).view(b, 1, 1)
    left = (xs - size // 2).view(b, 1, 1)
    hole = (grid_y >= top) & (grid_y < top + size) & (grid_x >= left) & (grid_x < left + size)
    out[hole.unsqueeze(1).expand_as(out)] = 0
    return out
'''
SHARED_CUTOUT_BATCH_RENAMED = '''def cutout_batch(images, size, generator=None):
    """One square of side `size` per image of the batch (B, C, H, W), centred on a uniformly drawn pixel,
    clipped at the borders, filled with 0. Returns a new batch of the same shape and dtype."""
    n, ch, height, width = images.shape
    result = images.clone()
    rows = torch.randint(height, (n,), generator=generator)
    cols = torch.randint(width, (n,), generator=generator)
    yy = torch.arange(height).view(1, height, 1)
    xx = torch.arange(width).view(1, 1, width)
    y0 = (rows - size // 2).view(n, 1, 1)
    x0 = (cols - size // 2).view(n, 1, 1)
    square = (yy >= y0) & (yy < y0 + size) & (xx >= x0) & (xx < x0 + size)
    result[square.unsqueeze(1).expand_as(result)] = 0
    return result
'''
INDEPENDENT = {
"cutout_one": '''def cutout_one(image, size, cy, cx):
    """Copy of image (C, H, W) with the square of side `size` centred on (cy, cx), clipped at the borders, set to 0."""
    first_row, first_col = cy - size // 2, cx - size // 2
    row_ok = [first_row <= r < first_row + size for r in range(image.shape[1])]
    col_ok = [first_col <= c < first_col + size for c in range(image.shape[2])]
    covered = torch.tensor(row_ok)[:, None] & torch.tensor(col_ok)[None, :]
    return torch.where(covered, torch.zeros((), dtype=image.dtype), image)
''',
"cutout_batch": '''def cutout_batch(images, size, generator=None):
    """One square of side `size` per image of the batch (B, C, H, W), centred on a uniformly drawn pixel,
    clipped at the borders, filled with 0. Returns a new batch of the same shape and dtype."""
    count, _, height, width = images.shape
    centre_y = torch.randint(0, height, (count, 1), generator=generator)
    centre_x = torch.randint(0, width, (count, 1), generator=generator)
    offset_y = torch.arange(height).unsqueeze(0) - (centre_y - size // 2)
    offset_x = torch.arange(width).unsqueeze(0) - (centre_x - size // 2)
    hide_y = offset_y.ge(0).logical_and(offset_y.lt(size))
    hide_x = offset_x.ge(0).logical_and(offset_x.lt(size))
    keep = hide_y.unsqueeze(2).logical_and(hide_x.unsqueeze(1)).logical_not()
    return images * keep.unsqueeze(1).to(images.dtype)
''',
"sample_box": '''def sample_box(lam, height, width, generator=None):
    """The CutMix box for mixing ratio lam: sides sqrt(1 - lam) * H and sqrt(1 - lam) * W around a centre drawn
    uniformly over the image, clipped to the image. Returns (x1, y1, x2, y2), ints, half-open."""
    side = (1.0 - lam) ** 0.5
    half_w, half_h = int(side * width) // 2, int(side * height) // 2
    centre_x = torch.randint(width, (1,), generator=generator).item()
    centre_y = torch.randint(height, (1,), generator=generator).item()

    def inside(value, limit):
        return min(max(value, 0), limit)

    return (inside(centre_x - half_w, width), inside(centre_y - half_h, height),
            inside(centre_x + half_w, width), inside(centre_y + half_h, height))
''',
"cutmix_per_sample": '''def cutmix_per_sample(images, labels, num_classes, lam, generator=None):
    """CutMix with one box, one λ and one partner per image (timm's "elem" mode): lam holds B mixing ratios.
    Returns (mixed images, soft labels (B, num_classes))."""
    count, _, height, width = images.shape
    shrink = (1.0 - torch.as_tensor(lam, dtype=torch.float64).reshape(count)).sqrt()
    half_w = (shrink * width).floor().long() // 2
    half_h = (shrink * height).floor().long() // 2
    centre_x = torch.randint(0, width, (count,), generator=generator)
    centre_y = torch.randint(0, height, (count,), generator=generator)
    order = torch.randperm(count, generator=generator)
    lo_x, hi_x = (centre_x - half_w).clamp(min=0), (centre_x + half_w).clamp(max=width)
    lo_y, hi_y = (centre_y - half_h).clamp(min=0), (centre_y + half_h).clamp(max=height)
    xs, ys = torch.arange(width).expand(count, width), torch.arange(height).expand(count, height)
    take_y = ys.ge(lo_y.unsqueeze(1)).logical_and(ys.lt(hi_y.unsqueeze(1)))
    take_x = xs.ge(lo_x.unsqueeze(1)).logical_and(xs.lt(hi_x.unsqueeze(1)))
    take = take_y.unsqueeze(2).logical_and(take_x.unsqueeze(1)).unsqueeze(1).expand_as(images)
    result = images.clone()
    result[take] = images[order][take]
    share = take[:, 0].flatten(1).double().mean(1)
    eye = torch.eye(num_classes, dtype=torch.float64)
    return result, (eye[labels] * (1 - share[:, None]) + eye[labels[order]] * share[:, None]).float()
''',
"cutmix_batch": '''def cutmix_batch(images, labels, num_classes, lam, generator=None):
    """CutMix with one box for the batch: paste the box of a randomly permuted partner into every image and mix
    the labels by the pasted area. Returns (mixed images, soft labels (B, num_classes))."""
    n, _, height, width = images.shape
    left, top, right, bottom = sample_box(lam, height, width, generator=generator)
    order = torch.randperm(n, generator=generator)
    region = torch.zeros(height, width, dtype=torch.bool)
    region[top:bottom, left:right] = True
    mixed = torch.where(region, images[order], images)
    pasted = float(region.sum()) / (height * width)
    eye = torch.eye(num_classes)
    return mixed, eye[labels] * (1 - pasted) + eye[labels[order]] * pasted
''',
"predictions": '''# every centre of the 32 x 32 image, counted: the clipped box's area over the image's, averaged
def average_area(first, length, n=32):
    areas = []
    for cy in range(n):
        for cx in range(n):
            rows = len(range(max(cy + first, 0), min(cy + first + length, n)))
            cols = len(range(max(cx + first, 0), min(cx + first + length, n)))
            areas.append(rows * cols / n / n)
    return sum(areas) / len(areas)


side = MY_CASE["size"]
predicted_share = round(average_area(-(side // 2), side), 4)
h = int(0.5 * math.sqrt(1 - MY_CASE["lam"]) * 32)
predicted_lambda = round(1 - average_area(-h, 2 * h), 4)
''',
}


def _renamed(code: str) -> str:
    """`code` with every local variable renamed (parameters keep their names: tests pass some by keyword)."""
    import ast
    import re

    tree = ast.parse(code)
    params = {a.arg for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) for a in node.args.args}
    local = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} - params)
    for i, name in enumerate(local):
        code = re.sub(rf"\b{name}\b", f"{name}_v{i}", code)  # a suffix: "_r = ..." would be a hidden-test line
    return code


SIMILAR = {  # student -> the other side its flagged pair must have, per exercise ("reference" or a student)
    "s28-renamed-reference": {"cutout_batch": "reference", "cutmix_batch": "reference"},
    "s29-shared-a": {"cutout_batch": "s30-shared-b"},
    "s30-shared-b": {"cutout_batch": "s29-shared-a"},
}
INDEPENDENT_STUDENT = "s31-independent"  # flagged for nothing


def similarity_examples(solution: dict) -> list:
    from cutmix_course.notebook.regions import without_solution_markers

    def answer(nb, gid):
        return without_solution_markers(solution[nb].cells[ex.find(solution[nb], gid)].source)

    where = {"cutout_one": "02_cutout", "cutout_batch": "02_cutout", "sample_box": "03_cutmix",
             "cutmix_batch": "03_cutmix", "cutmix_per_sample": "03_cutmix"}
    renamed = [ex.set_source(nb, gid, _renamed(answer(nb, gid))) for gid, nb in where.items()]
    return [
        ex.Example("s28-renamed-reference", "the solution with every local variable renamed (similarity review)",
                   edits=renamed),
        ex.Example("s29-shared-a", "a cutout_batch of its own, shared with s30 (similarity review)",
                   edits=[ex.set_source("02_cutout", "cutout_batch", SHARED_CUTOUT_BATCH)]),
        ex.Example("s30-shared-b", "s29's cutout_batch with the variables renamed (similarity review)",
                   edits=[ex.set_source("02_cutout", "cutout_batch", SHARED_CUTOUT_BATCH_RENAMED)]),
        ex.Example(INDEPENDENT_STUDENT, "six answers written independently of the reference (similarity review)",
                   edits=[ex.set_source(nb, gid, INDEPENDENT[gid])
                          for gid, nb in {**where, "predictions": "06_quiz"}.items()]),
    ]


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Build the example submissions from the course's notebooks.")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: %(default)s)")
    parser.add_argument("--course", type=Path, default=ROOT,
                        help="course root holding solutions/ and notebooks/ (default: this repository)")
    args = parser.parse_args(argv)
    out = args.out
    solution = ex.read_set(args.course / "solutions" / ASSIGNMENT)
    release = ex.read_set(args.course / "notebooks" / ASSIGNMENT)
    if not solution or set(solution) != set(release):
        raise SystemExit(f"make_examples: solutions/{ASSIGNMENT} and notebooks/{ASSIGNMENT} must hold the same "
                         f"notebooks (got {sorted(solution)} and {sorted(release)}); run `make release` first")
    if EDIT_NOTEBOOK not in solution:
        raise SystemExit(f"make_examples: EDIT_NOTEBOOK {EDIT_NOTEBOOK!r} is not one of {sorted(solution)}")
    examples = ex.standard_examples(solution, release, EDIT_NOTEBOOK, delegation_example(solution))
    examples += tamper_examples(solution) + read_the_grader_examples() + similarity_examples(solution)
    shutil.rmtree(out / "submitted", ignore_errors=True)
    ex.build(examples, solution, release, out, ASSIGNMENT)
    print(f"wrote {len(examples)} example submissions to {out / 'submitted'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
