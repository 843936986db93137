"""The student's own code and id (cutmix_course.notebook.answers): functions loaded from saved notebooks, per-student
seeds, and notebook 6's graded numbers, which the hidden tests recompute with the id being graded (a classmate's do
not fit)."""
import re
from pathlib import Path

import nbformat
import pytest
import torch

import plain
from cutmix_course.notebook import answers, environment, hidden, quiz

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions" / "cutout_cutmix"
RELEASE = ROOT / "notebooks" / "cutout_cutmix"


def test_load_runs_the_answer_cell_of_a_saved_notebook():
    fns = answers.load("02_cutout.ipynb", "cutout_one", "cutout_batch", folder=SOLUTIONS)
    image = torch.ones(3, 6, 6)
    assert int((fns["cutout_one"](image, 2, 0, 0) == 0).all(0).sum()) == 1  # clipped at the corner: one pixel
    assert fns["cutout_batch"](torch.ones(2, 3, 8, 8), 4).shape == (2, 3, 8, 8)


def test_load_says_when_the_answer_is_a_stub_or_missing(tmp_path):
    with pytest.raises(answers.NotAnswered, match="not answered yet"):
        answers.load("02_cutout.ipynb", "cutout_batch", folder=RELEASE)
    with pytest.raises(answers.NotAnswered, match="no cell with grade_id 'nothing'"):
        answers.load("02_cutout.ipynb", "nothing", folder=SOLUTIONS)
    nb = nbformat.read(SOLUTIONS / "02_cutout.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "cutout_one")
    cell.source = "def cut_one(image, size, cy, cx):\n    return image\n"
    nbformat.write(nb, tmp_path / "02_cutout.ipynb")
    with pytest.raises(answers.NotAnswered, match="does not define cutout_one"):
        answers.load("02_cutout.ipynb", "cutout_one", folder=tmp_path)


def test_the_id_comes_from_the_grader_then_the_hub_then_the_notebook(monkeypatch):
    monkeypatch.delenv(environment.STUDENT, raising=False)
    monkeypatch.delenv(environment.HUB_USER, raising=False)
    assert quiz.student_id("  s42 ") == "s42" and quiz.student_id("") is None
    monkeypatch.setenv(environment.HUB_USER, "hub-user")
    assert quiz.student_id("s42") == "hub-user"
    monkeypatch.setenv(environment.STUDENT, "graded-id")
    assert quiz.student_id("s42") == "graded-id"


def test_seeds_are_stable_and_differ_between_students():
    seeds = {quiz.course_seed(f"s{i}") for i in range(200)}
    assert len(seeds) == 200 and quiz.course_seed("s1") == quiz.course_seed(" s1 ")
    with pytest.raises(ValueError, match="non-empty string"):
        quiz.course_seed("")


def test_quiz_numbers_are_what_the_functions_give():
    seed = quiz.course_seed("s1")
    got = quiz.quiz_numbers(plain.cutout, lambda lam, h, w, generator=None: plain.rand_bbox(h, w, lam, generator),
                               seed)
    images = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) + 0.5
    out = plain.cutout(images, 8, generator=torch.Generator().manual_seed(seed))
    assert got["hidden_share"] == round(float((out == 0).all(1).float().mean()), 4)
    x1, y1, x2, y2 = plain.rand_bbox(32, 32, 0.5, torch.Generator().manual_seed(seed)).tolist()
    assert got["clipped_lambda"] == round(1 - (x2 - x1) * (y2 - y1) / 1024, 4)
    # not every student gets the same numbers: what a classmate types does not fit
    others = {tuple(quiz.quiz_numbers(plain.cutout, lambda lam, h, w, generator=None:
                                         plain.rand_bbox(h, w, lam, generator), quiz.course_seed(f"s{i}")).values())
              for i in range(10)}
    assert len(others) >= 8


def _hidden_tests(grade_id: str) -> str:
    nb = nbformat.read(SOLUTIONS / "06_quiz.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S).group(1)


@pytest.mark.parametrize("grade_id,key", [("test_hidden_share", "hidden_share"),
                                          ("test_clipped_lambda", "clipped_lambda")])
def test_the_hidden_tests_accept_your_numbers_and_reject_a_classmates(grade_id, key, monkeypatch):
    """The hidden test, run as the grader runs it (the graded id in CUTMIX_STUDENT, the notebooks beside it)."""
    monkeypatch.chdir(SOLUTIONS)
    mine = {**answers.load("02_cutout.ipynb", "cutout_batch"), **answers.load("03_cutmix.ipynb", "sample_box")}

    def numbers(sid):
        return quiz.quiz_numbers(mine["cutout_batch"], mine["sample_box"], quiz.course_seed(sid))

    code = _hidden_tests(grade_id)
    classmate = next(f"s{i}" for i in range(1, 50) if numbers(f"s{i}")[key] != numbers("s0")[key])
    monkeypatch.setenv("CUTMIX_STUDENT", "s0")

    def run_in_kernel(namespace):  # the hidden test and notebook.hidden see one namespace, as in a kernel
        monkeypatch.setattr(hidden, "_namespace", lambda: namespace)
        exec(code, namespace)  # noqa: S102

    run_in_kernel({"STUDENT_ID": "typed-anything", key: numbers("s0")[key]})
    with pytest.raises(AssertionError, match="student id 's0'"):
        run_in_kernel({"STUDENT_ID": "s0", key: numbers(classmate)[key]})
