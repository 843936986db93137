"""The quiz: three practice questions kept as data in quizzes/ (question 1 word for word from the course page, 0 points,
options of balanced length where the page does not fix them), a widget whose Check button gives the feedback, and
the graded part of notebook 6: numbers from the student's own code for their own id, and a written reflection."""
import json
import re
from pathlib import Path

import nbformat
import pytest

from cutmix_course.notebook import environment, paths, quiz
from quiz_key import ANSWERS

ROOT = Path(__file__).resolve().parents[2]
QUIZ_FILE = ROOT / "quizzes" / "cutout_cutmix.json"
SOLUTION = ROOT / "solutions" / "cutout_cutmix" / "06_quiz.ipynb"
RELEASE = ROOT / "notebooks" / "cutout_cutmix"




def graded_answers() -> dict:
    return dict(ANSWERS)


@pytest.fixture(scope="module")
def q():
    return quiz.load()


def test_question_one_is_the_course_page_word_for_word(q):
    q1 = q.question("q1")
    assert q1.question == "What does the Cutout augmentation do to the training images?"
    assert q1.choices == {"A": "Changes image colors randomly", "B": "Mixes two images together",
                          "C": "Randomly hides a square patch in the image", "D": "Rotates the image by 90 degrees"}


def test_three_questions_on_cutout_cutmix_labels_and_the_training_gap(q):
    assert [x.id for x in q.questions] == ["q1", "q2", "q3"]
    assert "λ" in q.question("q2").question and "clipping" in q.question("q2").question
    assert "training" in q.question("q3").question and "test" in q.question("q3").question
    assert all(len(x.choices) == 4 and x.hint for x in q.questions)


def test_every_question_is_practice_with_one_right_answer(q):
    assert all(x.practice for x in q.questions)
    for qid, right in ANSWERS.items():
        assert [c for c in "ABCD" if q.is_correct(qid, c)] == [right]
        assert q.is_correct(qid, right.lower() + " ")


def test_the_options_do_not_give_the_answer_away_by_length(q):
    """Question 1 is the page's, word for word; in the other two the right option is not the longest, and no
    option is more than 15% longer or shorter than the mean."""
    for qid in ("q2", "q3"):
        lengths = {c: len(t) for c, t in q.question(qid).choices.items()}
        mean = sum(lengths.values()) / len(lengths)
        assert lengths[ANSWERS[qid]] < max(lengths.values()), lengths
        assert all(abs(n - mean) <= 0.15 * mean for n in lengths.values()), lengths


def test_no_cell_of_notebook_6_restates_the_answers():
    texts = [c.source for c in nbformat.read(SOLUTION, as_version=4).cells]
    q = quiz.load()
    for qid, right in ANSWERS.items():
        option = q.question(qid).choices[right]
        assert not any(option[:30] in t for t in texts), qid
    assert not any(re.search(r"answer_q\d", t) for t in texts)


def test_the_explanation_opens_only_with_the_right_answer(q):
    answers = graded_answers()
    for qid, right in answers.items():
        text = q.explanation(qid, right)
        assert len(text) > 80 and text.isprintable()
        for wrong in set("ABCD") - {right}:
            with pytest.raises(ValueError):
                q.explanation(qid, wrong)
            ok, feedback = q.feedback(qid, wrong)
            assert not ok and feedback.startswith("✗ Not quite") and text not in feedback
        ok, feedback = q.feedback(qid, right)
        assert ok and feedback.startswith("✓ Correct!") and text in feedback


def test_no_plain_answer_key_in_quizzes_or_the_student_notebooks():
    data = json.loads(QUIZ_FILE.read_text(encoding="utf-8"))
    for question in data["questions"]:
        assert set(question) == {"id", "question", "choices", "hint", "answer_sha256", "explanation_sealed",
                                 "practice"}
    explanations = [quiz.from_dict(data).explanation(k, v) for k, v in ANSWERS.items()]
    student_text = "\n".join(p.read_text(encoding="utf-8") for p in [QUIZ_FILE, *RELEASE.glob("*.ipynb")])
    for text in explanations:
        assert text[:40] not in student_text


def test_a_student_copy_keeps_practice_questions_and_strips_those_that_count():
    sealed = json.loads(QUIZ_FILE.read_text(encoding="utf-8"))
    counted = {**sealed, "questions": [{**sealed["questions"][0], "practice": False}, *sealed["questions"][1:]]}
    copy = quiz.student_copy(counted)
    assert copy["student_copy"] and "answer_sha256" not in copy["questions"][0]
    assert copy["questions"][1]["answer_sha256"] == sealed["questions"][1]["answer_sha256"]
    loaded = quiz.from_dict(copy)
    assert not loaded.checkable("q1") and loaded.checkable("q2") and not loaded.holds_answers
    ok, text = loaded.feedback("q1", "c")
    assert not ok and "Noted: C" in text and "checked when your notebook is graded" in text
    with pytest.raises(ValueError, match="counts for the grade, but this student copy holds"):
        quiz.from_dict({**copy, "questions": counted["questions"]})


def test_seal_and_unseal_round_trip():
    plain = {"name": "t", "title": "T", "questions": [
        {"id": "a", "question": "2 + 2?", "choices": {"A": "3", "B": "4"}, "hint": "count", "answer": "B",
         "explanation": "two and two make four"}]}
    sealed = quiz.seal(plain, salt="s")
    assert "answer" not in sealed["questions"][0] and "four" not in json.dumps(sealed)
    assert quiz.unseal(sealed, {"a": "B"}) == plain
    assert quiz.from_dict(sealed).is_correct("a", "B") and not quiz.from_dict(sealed).is_correct("a", "A")
    with pytest.raises(ValueError, match="not one of its choices"):
        quiz.seal({**plain, "questions": [{**plain["questions"][0], "answer": "C"}]})


def test_bad_quiz_files_are_rejected_clearly(tmp_path):
    with pytest.raises(ValueError, match="plain \\['answer'\\]"):
        quiz.from_dict({"name": "t", "title": "T", "salt": "s", "questions": [{"id": "a", "answer": "B"}]})
    with pytest.raises(ValueError, match="must have a 'questions' field"):
        quiz.from_dict({"name": "t", "title": "T", "salt": "s"})
    sealed = json.loads(QUIZ_FILE.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="must have a 'salt' field"):  # a sealed quiz that lost its salt
        quiz.from_dict({k: v for k, v in sealed.items() if k != "salt"})
    with pytest.raises(ValueError, match="holds an answer but the quiz has no salt"):  # a copy that lost it
        quiz.from_dict({k: v for k, v in quiz.student_copy(sealed).items() if k != "salt"})
    with pytest.raises(ValueError, match="missing \\['answer_sha256'\\]"):  # a sealed quiz that lost a hash
        quiz.from_dict({**sealed, "questions": [{k: v for k, v in q.items() if k != "answer_sha256"}
                                                for q in sealed["questions"]]})
    broken = json.loads(QUIZ_FILE.read_text(encoding="utf-8"))
    broken["questions"][0]["answer_sha256"] = "0" * 64
    with pytest.raises(ValueError, match="matches 0 of its choices"):
        quiz.from_dict(broken)
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        quiz.load("nothere", folder=tmp_path)


def test_the_widget_checks_answers_headless(q):
    import ipywidgets as W

    box = quiz.quiz_widget(q)
    questions = [c for c in box.children if isinstance(c, W.VBox)]
    assert len(questions) == 3
    first = questions[0]
    assert q.question("q1").question in first.children[0].value
    radio = next(c for c in first.children if isinstance(c, W.RadioButtons))
    button = next(c for c in first.children if isinstance(c, W.Button))
    feedback = next(c for c in first.children if isinstance(c, W.HTML) and c is not first.children[0])
    assert button.description == "Check" and radio.value is None
    assert [label for label, _ in radio.options][2] == "C. Randomly hides a square patch in the image"

    button.click()
    assert "Pick an answer first" in feedback.value
    radio.value = "A"
    button.click()
    assert "Not quite" in feedback.value and "Hint:" in feedback.value
    radio.value = graded_answers()["q1"]
    button.click()
    assert "Correct!" in feedback.value


def test_quiz_folder_can_be_moved(tmp_path, monkeypatch):
    (tmp_path / "cutout_cutmix.json").write_text(QUIZ_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv(environment.QUIZZES, str(tmp_path))
    assert quiz.quiz_dir() == tmp_path and quiz.load().name == "cutout_cutmix"


def test_a_source_tree_without_a_course_finds_its_quiz_beside_lib(tmp_path, monkeypatch):
    # the student kit's layout: kit/lib/cutmix_course and kit/quizzes, no nbgrader_config.py anywhere
    package = tmp_path / "kit" / "lib" / "cutmix_course"
    package.mkdir(parents=True)
    (tmp_path / "kit" / "quizzes").mkdir()
    (tmp_path / "kit" / "quizzes" / "cutout_cutmix.json").write_text(QUIZ_FILE.read_text(encoding="utf-8"),
                                                                     encoding="utf-8")
    monkeypatch.delenv(environment.QUIZZES, raising=False)
    monkeypatch.delenv(environment.COURSE, raising=False)
    monkeypatch.setattr(paths, "_PACKAGE", package)
    monkeypatch.chdir(package)
    assert paths.course_root() is None
    assert paths.quiz_dir() == tmp_path / "kit" / "quizzes" and quiz.load().name == "cutout_cutmix"
