"""Every requirement a hidden test enforces is written down: each assertion message of each hidden test appears in
the row table of its exercise in docs/instructor/requirements.md (f-string messages by their literal parts), and
each public check property of the exercise appears there too."""
import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "instructor" / "requirements.md").read_text(encoding="utf-8")
SOLUTIONS = ROOT / "solutions" / "cutout_cutmix"


def hidden_tests() -> dict:
    """test grade_id -> the code of its hidden-test region."""
    out = {}
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            m = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
            if m:
                out[cell.metadata["nbgrader"]["grade_id"]] = m.group(1)
    return out


def messages(code: str) -> list:
    """Each assertion's message as its literal parts (an f-string's placeholders dropped); None for no message."""
    out = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assert):
            if isinstance(node.msg, ast.Constant):
                out.append([node.msg.value])
            elif isinstance(node.msg, ast.JoinedStr):
                out.append([v.value for v in node.msg.values if isinstance(v, ast.Constant) and v.value.strip()])
            else:
                out.append(None)
    return out


def section(grade_id: str) -> str:
    """The doc's section of the exercise tested by `grade_id` (test_cutout_one -> `cutout_one`)."""
    name = {"test_predicted_share": "your predictions", "test_predicted_lambda": "your predictions"}.get(
        grade_id, f"`{grade_id.removeprefix('test_')}`")
    parts = re.split(r"\n## ", DOC)
    found = [p for p in parts if name in p.splitlines()[0]]
    assert found, f"docs/instructor/requirements.md has no section for {name}"
    return found[0]


TESTS = hidden_tests()


@pytest.mark.parametrize("grade_id", sorted(TESTS))
def test_every_hidden_assertion_message_is_in_the_requirement_table(grade_id):
    text = section(grade_id)
    for parts in messages(TESTS[grade_id]):
        assert parts is not None, f"{grade_id}: an assertion without a message (the student would see nothing)"
        for part in parts:
            literal = part.strip(" :,()=")
            assert literal in text, f"{grade_id}: {literal!r} is not in its table"


def test_the_check_catches_a_message_left_out():
    assert messages('assert x, f"only {n} squares: draw per image"') == [["only ", " squares: draw per image"]]
    assert messages("assert x") == [None]
    with pytest.raises(AssertionError):
        assert "a message nobody wrote down" in section("test_cutout_one")


@pytest.mark.parametrize("check,exercise", [("check_cutout_batch", "cutout_batch"), ("check_sample_box", "sample_box"),
                                            ("check_cutmix_batch", "cutmix_batch"),
                                            ("check_cutmix_per_sample", "cutmix_per_sample"),
                                            ("check_soft_target_loss", "soft_target_loss"),
                                            ("check_channel_mean_std", "channel_mean_std")])
def test_every_public_check_property_is_in_the_table(check, exercise):
    source = (ROOT / "lib" / "cutmix_course" / "notebook" / "checks.py").read_text(encoding="utf-8")
    body = re.search(rf"def {check}\(.*?(?=\ndef )", source, re.S).group(0)
    props = []
    for node in ast.walk(ast.parse(body)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "expect" and len(node.args) >= 2:
            prop = node.args[1]
            props.append(prop.value if isinstance(prop, ast.Constant) else
                         "".join(v.value for v in prop.values if isinstance(v, ast.Constant)).split("{")[0])
    text = section(f"test_{exercise}")
    missing = [p for p in props if p.split(",")[0].strip() not in text]
    assert not missing, f"{exercise}: public check properties not in the table: {missing}"
