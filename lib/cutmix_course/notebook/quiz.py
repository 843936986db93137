"""The quiz: multiple-choice questions kept as data in quizzes/, a widget with a "Check" button, no answer key.

A quiz file (JSON) holds, per question: an id, the question, the choices (letter -> text), a hint shown after a
wrong answer, the *salted hash* of the right letter, and the explanation shown after the right answer, sealed
with a key derived from the right letter (so the file does not give the answer away through the explanation
either). Checking an answer hashes the chosen letter with the quiz's salt and compares.

This keeps the key out of plain sight, not out of reach: with four choices anyone can try every letter in one line.
So the questions here are *practice* (0 points, `"practice": true`): the Check button and its explanation are the
point, and the student kit ships them whole. A question that counts for the grade would travel to the kit as
`student_copy` makes it (question, choices and hint; no hash, no explanation). Points come from nbgrader's hidden
tests (notebook 6: numbers computed from the student's own code for their own id), never from this file.

Authoring: `seal(plain)` turns a plain quiz dict (with `answer` and `explanation` per question) into the sealed
form; `unseal(sealed, answers)` gives the plain form back for editing. Keep the plain form out of the repository.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from . import environment
from .paths import ASSIGNMENT as QUIZ_NAME
from .paths import quiz_dir


# ------------------------------------------------------------------------------------------------- hashing
def answer_hash(salt: str, qid: str, letter: str) -> str:
    return hashlib.sha256(f"{salt}:{qid}:{letter}".encode()).hexdigest()


def _keystream(key: bytes, n: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(key + counter.to_bytes(8, "big")).digest()
        counter += 1
    return out[:n]


def _xor(data: bytes, key: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, _keystream(key, len(data))))


def _explanation_key(salt: str, qid: str, letter: str) -> bytes:
    return hashlib.sha256(f"explanation:{salt}:{qid}:{letter}".encode()).digest()


def seal_text(text: str, salt: str, qid: str, letter: str) -> str:
    return base64.b64encode(_xor(text.encode(), _explanation_key(salt, qid, letter))).decode()


def open_text(sealed: str, salt: str, qid: str, letter: str) -> str:
    return _xor(base64.b64decode(sealed), _explanation_key(salt, qid, letter)).decode()


# ------------------------------------------------------------------------------------------------- the quiz
@dataclass(frozen=True)
class Question:
    id: str
    question: str
    choices: dict  # letter -> text, in display order
    hint: str
    answer_sha256: str | None  # None in a student copy, for a question that counts
    explanation_sealed: str | None
    practice: bool = False     # worth 0 points: the student copy keeps its answer, so the Check button works




@dataclass(frozen=True)
class Quiz:
    name: str
    title: str
    salt: str | None  # None in a student copy without practice questions
    questions: tuple

    @property
    def holds_answers(self) -> bool:
        """Whether every question can be checked here (False in a student copy with a question that counts)."""
        return all(self.checkable(q.id) for q in self.questions)

    def checkable(self, qid: str) -> bool:
        return self.salt is not None and self.question(qid).answer_sha256 is not None

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(f"no question {qid!r} in quiz {self.name!r}; it has {[q.id for q in self.questions]}")

    def is_correct(self, qid: str, letter) -> bool:
        """Whether `letter` ('A', 'b ', ...) is the right answer to question `qid`."""
        q = self.question(qid)
        if not isinstance(letter, str) or not self.checkable(qid):
            return False
        letter = letter.strip().upper()
        return letter in q.choices and answer_hash(self.salt, qid, letter) == q.answer_sha256

    def explanation(self, qid: str, letter: str) -> str:
        """The explanation of question `qid`, readable only with its right answer."""
        if not self.is_correct(qid, letter):
            raise ValueError(f"the explanation of {qid} opens with the right answer only")
        return open_text(self.question(qid).explanation_sealed, self.salt, qid, letter.strip().upper())

    def feedback(self, qid: str, letter) -> tuple[bool, str]:
        """(right?, text to show) after a student picks `letter` for question `qid`."""
        if letter is None:
            return False, "Pick an answer first."
        if not self.checkable(qid):
            return False, (f"Noted: {str(letter).strip().upper()}. This copy of the quiz holds no answers; yours is "
                           f"checked when your notebook is graded. Before you commit, ask yourself: "
                           f"{self.question(qid).hint}")
        if self.is_correct(qid, letter):
            return True, f"✓ Correct! {self.explanation(qid, letter)}"
        return False, f"✗ Not quite, try again. Hint: {self.question(qid).hint}"


def from_dict(data: dict) -> Quiz:
    """A Quiz from its sealed JSON form or a student copy (`student_copy`), validating every field clearly."""
    for key in ("name", "title", "questions"):
        if key not in data:
            raise ValueError(f"quiz file must have a {key!r} field; it has {sorted(data)}")
    copy = bool(data.get("student_copy"))
    if not copy and "salt" not in data:
        raise ValueError("quiz file must have a 'salt' field (only a student copy may leave it out)")
    questions = []
    for i, q in enumerate(data["questions"]):
        plain = {"answer", "correct", "explanation", "key"} & set(q)
        if plain:
            raise ValueError(f"question {i + 1} of the quiz holds plain {sorted(plain)}: store answer_sha256 and "
                             "explanation_sealed instead (see quiz.seal)")
        answer_fields = set() if copy and not q.get("practice") else {"answer_sha256", "explanation_sealed"}
        missing = ({"id", "question", "choices", "hint"} | answer_fields) - set(q)
        if missing:
            raise ValueError(f"question {i + 1} of the quiz is missing {sorted(missing)}")
        if copy and not q.get("practice") and {"answer_sha256", "explanation_sealed"} & set(q):
            raise ValueError(f"question {i + 1} of the quiz counts for the grade, but this student copy holds its "
                             "answer fields")
        if answer_fields and "salt" not in data:
            raise ValueError(f"question {i + 1} of the quiz holds an answer but the quiz has no salt")
        if not isinstance(q["choices"], dict) or len(q["choices"]) < 2:
            raise ValueError(f"question {q['id']}: choices must map letters to texts, got {q['choices']!r}")
        questions.append(Question(q["id"], q["question"], dict(q["choices"]), q["hint"], q.get("answer_sha256"),
                                  q.get("explanation_sealed"), bool(q.get("practice", False))))
    quiz = Quiz(data["name"], data["title"], data.get("salt"), tuple(questions))
    for q in (q for q in quiz.questions if quiz.checkable(q.id)):
        right = [c for c in q.choices if answer_hash(quiz.salt, q.id, c) == q.answer_sha256]
        if len(right) != 1:
            raise ValueError(f"question {q.id}: answer_sha256 matches {len(right)} of its choices, expected exactly 1")
    return quiz


def load(name: str = QUIZ_NAME, folder=None) -> Quiz:
    """Load quizzes/<name>.json (or <folder>/<name>.json)."""
    path = Path(folder or quiz_dir()) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"quiz file not found: {path} "
                                f"(set ${environment.QUIZZES} to the folder holding {name}.json)")
    return from_dict(json.loads(path.read_text(encoding="utf-8")))


# ------------------------------------------------------------------------------------------------- authoring
def seal(plain: dict, salt: str | None = None) -> dict:
    """Plain quiz (each question with 'answer' and 'explanation') -> the sealed form stored in quizzes/."""
    salt = salt or secrets.token_hex(16)
    out = {k: v for k, v in plain.items() if k != "questions"}
    out["salt"] = salt
    out["questions"] = []
    for q in plain["questions"]:
        letter = q["answer"].strip().upper()
        if letter not in q["choices"]:
            raise ValueError(f"question {q['id']}: answer {letter!r} is not one of its choices {list(q['choices'])}")
        sealed = {k: v for k, v in q.items() if k not in ("answer", "explanation")}  # "practice" travels along
        sealed["answer_sha256"] = answer_hash(salt, q["id"], letter)
        sealed["explanation_sealed"] = seal_text(q["explanation"], salt, q["id"], letter)
        out["questions"].append(sealed)
    from_dict(out)  # validate
    return out


def student_copy(sealed: dict) -> dict:
    """The quiz as the student kit ships it: practice questions (0 points) whole, so their Check button works; every
    question that counts without its hash and explanation; the salt only when a practice question needs it."""
    from_dict(sealed)  # validate
    keep = ("id", "question", "choices", "hint")
    questions = [dict(q) if q.get("practice") else {k: q[k] for k in keep} for q in sealed["questions"]]
    out = {**{k: v for k, v in sealed.items() if k not in ("salt", "questions")}, "student_copy": True,
           "questions": questions}
    if any(q.get("practice") for q in sealed["questions"]):
        out["salt"] = sealed["salt"]
    return out


def unseal(sealed: dict, answers: dict) -> dict:
    """The plain form back, given the right letter of every question (e.g. from the hidden tests)."""
    quiz = from_dict(sealed)
    plain = {k: v for k, v in sealed.items() if k not in ("salt", "questions")}
    plain["questions"] = []
    for q in sealed["questions"]:
        letter = answers[q["id"]].strip().upper()
        q_plain = {k: v for k, v in q.items() if k not in ("answer_sha256", "explanation_sealed")}
        q_plain["answer"] = letter
        q_plain["explanation"] = quiz.explanation(q["id"], letter)
        plain["questions"].append(q_plain)
    return plain


# ------------------------------------------------------------------------------------------------- the widget
def question_widget(quiz: Quiz, qid: str):
    """One question: its text, RadioButtons for the choices, a "Check" button and the feedback (an HTML widget)."""
    import html

    import ipywidgets as W

    q = quiz.question(qid)
    radio = W.RadioButtons(options=[(f"{c}. {text}", c) for c, text in q.choices.items()], value=None,
                           layout=W.Layout(width="max-content"))
    button = W.Button(description="Check", button_style="primary")
    feedback = W.HTML(value="")

    def on_check(_=None):
        right, text = quiz.feedback(qid, radio.value)
        colour = "green" if right else ("#b00" if radio.value is not None else "#555")
        feedback.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    button.on_click(on_check)
    number = [x.id for x in quiz.questions].index(qid) + 1
    box = W.VBox([W.HTML(f"<b>Question {number}.</b> {html.escape(q.question)}"), radio, button, feedback])
    box.check = on_check  # lets tests and notebooks press Check without a browser
    box.radio, box.feedback = radio, feedback
    return box


def quiz_widget(quiz: Quiz | None = None):
    """The whole quiz: one box per question, each with its own Check button."""
    import ipywidgets as W

    quiz = quiz or load()
    from .widgets import static_copy_box

    boxes = [question_widget(quiz, q.id) for q in quiz.questions]
    box = static_copy_box()([W.HTML(f"<h3>{quiz.title}</h3>"), *boxes])
    box.static = {"text/html": static_html(quiz)}
    return box


def static_html(quiz: Quiz) -> str:
    """The quiz as read-only HTML (title, questions, choices; no answer): what shows where no kernel runs."""
    import html

    items = []
    for number, q in enumerate(quiz.questions, 1):
        choices = "".join(f"<li>{c}. {html.escape(text)}</li>" for c, text in q.choices.items())
        items.append(f"<p><b>Question {number}.</b> {html.escape(q.question)}</p><ul>{choices}</ul>")
    note = "<p><i>Open this notebook in JupyterLab with its kernel to answer and check.</i></p>"
    return f"<div class='quiz-static'><h3>{html.escape(quiz.title)}</h3>{''.join(items)}{note}</div>"


# ------------------------------------------------------------------------------------------------- per student
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # roster ids: letters, digits, . _ - @, at most 64


def id_problem(declared) -> str | None:
    """Why `declared` is not a student id (None: it is one): a non-empty string of letters, digits, '.', '_', '-'
    and '@', at most 64 characters, starting with a letter or digit."""
    if not isinstance(declared, str):
        return f"STUDENT_ID must be a string (your id in quotes), got {type(declared).__name__} {declared!r}"
    if not declared.strip():
        return "STUDENT_ID is empty: set it to your id as on the course roster, e.g. STUDENT_ID = \"s1234567\""
    if not ID_PATTERN.fullmatch(declared.strip()):
        return (f"STUDENT_ID {declared!r} is not an id: expected letters, digits, '.', '_', '-' or '@' (at most 64, "
                "no spaces), as on the course roster")
    return None


def student_id(declared: str | None = None) -> str | None:
    """The id the cases are drawn for: the grader's (while grading), else JupyterHub's user, else `declared` when it
    is a well-formed id (`id_problem` says why not)."""
    for name in (environment.STUDENT, environment.HUB_USER):
        if environment.get(name):
            return environment.get(name)
    return declared.strip() if id_problem(declared) is None else None


def course_seed(sid: str) -> int:
    """A seed from a student id: stable across machines and sessions, different for different ids."""
    if not isinstance(sid, str) or not sid.strip():
        raise ValueError(f"a student id is a non-empty string, got {sid!r}")
    return int(hashlib.sha256(f"cutout_cutmix:{sid.strip()}".encode()).hexdigest()[:8], 16)


# The worked example every student sees measured; no student's own case is the example's.
EXAMPLE_CASE = {"size": 8, "lam": 0.5}
CASE_SIZES = (10, 12, 14, 16, 18, 20, 22, 24)
CASE_LAMBDAS = (0.2, 0.3, 0.4, 0.55, 0.65, 0.7, 0.8, 0.85)  # each a box half-side of its own, none the example's


def your_case(sid: str) -> dict:
    """The Cutout side and the CutMix λ whose averages student `sid` predicts (stable, from `course_seed`)."""
    seed = course_seed(sid)
    return {"size": CASE_SIZES[seed % len(CASE_SIZES)],
            "lam": CASE_LAMBDAS[(seed // len(CASE_SIZES)) % len(CASE_LAMBDAS)]}


def measured_averages(size: int, lam: float, cutout_batch=None, sample_box=None, n: int = 2048,
                      seed: int = 0) -> dict:
    """Averages measured on 32×32 images: the share of pixels Cutout hides with side `size` (over n random images;
    none is 0 before, so a changed pixel is a hidden one) and λ recomputed from the clipped box drawn for `lam` (over
    n boxes). By default with the course's Cutout and box, the definitions the predictions are about; a student's
    `cutout_batch` and `sample_box` (the exercises' signatures) instead where given."""
    import torch

    from ..core import augment

    cutout_batch = cutout_batch or (lambda x, s, generator=None: augment.cutout(x, s, generator=generator))
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, 32, 32, generator=g) + 0.5
    hidden = float((cutout_batch(images.clone(), size, generator=g) != images).any(1).float().mean())
    if sample_box is None:  # the course's box, n at once
        boxes = augment.rand_bbox(32, 32, torch.full((n,), float(lam), dtype=torch.float64), g).tolist()
    else:
        boxes = [[int(v) for v in sample_box(lam, 32, 32, generator=g)] for _ in range(n)]
    lams = [1 - max(x2 - x1, 0) * max(y2 - y1, 0) / 1024 for x1, y1, x2, y2 in boxes]
    return {"hidden share": hidden, "λ after clipping": sum(lams) / n}
