"""The student's own code and id (cutmix_course.notebook.answers): functions loaded from saved notebooks, per-student
seeds, and notebook 6's graded predictions, which the hidden tests check for the case of the id being graded (a
classmate's case is usually another)."""
import functools
import math
import re
from pathlib import Path

import nbformat
import pytest
import torch

from cutmix_course.notebook import answers, checks, environment, hidden, quiz

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


def test_a_malformed_id_is_refused_with_what_was_expected(monkeypatch):
    monkeypatch.delenv(environment.STUDENT, raising=False)
    monkeypatch.delenv(environment.HUB_USER, raising=False)
    for bad in ("", "  ", "s 42", "s42;rm", "-s42", "x" * 65, 42, None):
        assert quiz.student_id(bad) is None, bad
        assert "STUDENT_ID" in quiz.id_problem(bad), bad
    assert "not an id: expected letters, digits" in quiz.id_problem("s 42")
    assert quiz.id_problem("jane.doe@uni-x.edu") is None
    assert quiz.student_id("jane.doe@uni-x.edu") == "jane.doe@uni-x.edu"
    with pytest.raises(checks.CheckFailed, match="STUDENT_ID is a student id"):
        checks.check_prediction("predicted_share", 0.1234, "s 42")
    with pytest.raises(checks.CheckFailed, match="at most 4 decimals"):
        checks.check_prediction("predicted_share", 0.12345, "s42")
    with pytest.raises(NotImplementedError):
        checks.check_prediction("predicted_share", None, "s42")
    checks.check_prediction("predicted_share", 0.1234, "s42")  # a well-formed answer passes the form check


def test_each_student_predicts_a_case_of_their_own_never_the_worked_example():
    cases = [quiz.your_case(f"s{i}") for i in range(400)]
    assert cases[7] == quiz.your_case("s7") == quiz.your_case(" s7 ")  # stable
    assert len({tuple(c.values()) for c in cases}) == len(quiz.CASE_SIZES) * len(quiz.CASE_LAMBDAS)  # all are used
    assert all(c["size"] != quiz.EXAMPLE_CASE["size"] for c in cases)
    # the example's measured λ must not answer anybody's: no case shares its box half-side
    half = [int(0.5 * (1 - lam) ** 0.5 * 32) for lam in (quiz.EXAMPLE_CASE["lam"], *quiz.CASE_LAMBDAS)]
    assert len(set(half)) == len(half)


def _hidden_tests(grade_id: str) -> str:
    nb = nbformat.read(SOLUTIONS / "06_quiz.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S).group(1)


def _run_hidden_test(grade_id, namespace, monkeypatch, graded_id="s0"):
    """The hidden test as the grader runs it: the graded id in CUTMIX_STUDENT, one namespace as in a kernel."""
    monkeypatch.setenv("CUTMIX_STUDENT", graded_id)
    monkeypatch.setattr(hidden, "_namespace", lambda: namespace)
    exec(_hidden_tests(grade_id), namespace)  # noqa: S102


PREDICTIONS = {"test_predicted_share": ("predicted_share", "size"),
               "test_predicted_lambda": ("predicted_lambda", "lam")}


@functools.cache
def _long_simulation(size, lam) -> dict:
    runs = [quiz.measured_averages(size, lam, n=8192, seed=seed) for seed in range(3)]
    return {k: sum(r[k] for r in runs) / 3 for k in runs[0]}


@pytest.mark.parametrize("grade_id", sorted(PREDICTIONS))
def test_the_hidden_key_is_what_a_long_simulation_measures_and_never_the_unclipped_value(grade_id, monkeypatch):
    """For every case: the average of 24576 simulated draws of the course's own Cutout and box passes the hidden
    test, and what the side or λ alone say (no clipping) fails it."""
    key, param = PREDICTIONS[grade_id]
    for size, lam in zip(quiz.CASE_SIZES, quiz.CASE_LAMBDAS):
        monkeypatch.setattr(quiz, "your_case", lambda sid, case={"size": size, "lam": lam}: case)
        measured = _long_simulation(size, lam)["hidden share" if param == "size" else "λ after clipping"]
        _run_hidden_test(grade_id, {key: round(measured, 4)}, monkeypatch)
        naive = size * size / 1024 if param == "size" else lam
        with pytest.raises(AssertionError, match=key):
            _run_hidden_test(grade_id, {key: naive}, monkeypatch)


@pytest.mark.parametrize("grade_id", sorted(PREDICTIONS))
def test_the_hidden_tests_accept_the_solutions_prediction_for_the_graded_id_only(grade_id, monkeypatch):
    """The solution's answer cell (inline code: an answer may not import the grader) run for the graded id passes,
    whatever STUDENT_ID says; a classmate's prediction (another case) and a bool fail."""
    key, _ = PREDICTIONS[grade_id]
    nb = nbformat.read(SOLUTIONS / "06_quiz.ipynb", as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "predictions").source

    def prediction(sid):
        namespace = {"math": math, "MY_CASE": quiz.your_case(sid)}
        exec(answer, namespace)  # noqa: S102
        return namespace[key]

    classmate = next(f"s{i}" for i in range(1, 50) if prediction(f"s{i}") != prediction("s0"))
    _run_hidden_test(grade_id, {"STUDENT_ID": "typed-anything", key: prediction("s0")}, monkeypatch)
    for wrong in (prediction(classmate), True):
        with pytest.raises(AssertionError, match=key):
            _run_hidden_test(grade_id, {"STUDENT_ID": "s0", key: wrong}, monkeypatch)


def _stable(logits, targets):
    return -(targets * (logits - torch.logsumexp(logits, 1, keepdim=True))).sum(1).mean()


def _overflows(logits, targets):  # right for small logits, nan once exp overflows
    p = torch.exp(logits) / torch.exp(logits).sum(1, keepdim=True)
    return -(targets * torch.log(p)).sum(1).mean()


def _summed(logits, targets):  # the batch summed, not averaged
    return -(targets * torch.log_softmax(logits, 1)).sum()


def _detached(logits, targets):  # the right number, but nothing to train with
    return torch.tensor(_stable(logits, targets).item())


def _stub(logits, targets):
    raise NotImplementedError()


def test_the_students_loss_trains_when_it_is_the_course_loss_and_never_otherwise(monkeypatch):
    from cutmix_course.core.augment import soft_target_cross_entropy

    monkeypatch.delenv(environment.STUDENT, raising=False)
    monkeypatch.delenv(environment.NBGRADER, raising=False)
    chosen = answers.training_loss(_stable)
    assert chosen.fn is _stable and str(chosen) == "training with your soft_target_loss"
    assert chosen.digest != "reference"
    for wrong, why in ((_overflows, "gives nan"), (_summed, "gives"), (_detached, "grad"),
                       (_stub, "not implemented yet")):
        chosen = answers.training_loss(wrong)
        assert chosen.fn is soft_target_cross_entropy and chosen.digest == "reference", wrong.__name__
        assert "reference loss instead of your soft_target_loss" in chosen.note and why in chosen.note, chosen.note
    # notebook 5: from the saved notebook 4 (the solution's answer cell; the release's stub is not answered)
    assert answers.training_loss(folder=SOLUTIONS).digest == answers.training_loss(_stable).digest
    assert answers.training_loss(folder=RELEASE).fn is soft_target_cross_entropy
    monkeypatch.setenv(environment.STUDENT, "s01")  # a graded run: the reference, whatever the student wrote
    assert answers.training_loss(_stable).fn is soft_target_cross_entropy
