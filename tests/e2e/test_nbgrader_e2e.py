"""nbgrader end to end on the real assignment, with a real sqlite gradebook in a temporary course folder.

generate_assignment -> three submissions -> autograde -> export CSV:
- "solver" submits the release with every exercise solved as in solutions/: full marks;
- "untouched" submits the release as it was handed out: 0 on every autograded cell;
- "buggy" solves everything, but with two plausible bugs: a Cutout that never clips (centres drawn so the square
  always fits) and a CutMix that keeps the λ it drew instead of recomputing it from the clipped box. It must lose
  exactly test_cutout_batch and test_cutmix_batch, and the feedback must name the failed property.
Expected scores come from the points in the gradebook, not from numbers written here.
"""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import kernel_timeouts as kt

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "cutout_cutmix"
NEVER_CLIPS = '''\
def cutout_batch(images, size, generator=None):
    b, _, h, w = images.shape
    top = torch.randint(h - size + 1, (b,), generator=generator)  # the square always fits: never clipped
    left = torch.randint(w - size + 1, (b,), generator=generator)
    rows, cols = torch.arange(h), torch.arange(w)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)
    return images.masked_fill((in_rows[:, :, None] & in_cols[:, None, :])[:, None], 0)
'''
UNCORRECTED_LAMBDA = '''\
def cutmix_batch(images, labels, num_classes, lam, generator=None):
    b, _, h, w = images.shape
    x1, y1, x2, y2 = sample_box(lam, h, w, generator=generator)
    partner = torch.randperm(b, generator=generator)
    mixed = images.clone()
    mixed[:, :, y1:y2, x1:x2] = images[partner, :, y1:y2, x1:x2]
    onehot = F.one_hot(labels, num_classes).float()
    return mixed, lam * onehot + (1.0 - lam) * onehot[partner]  # keeps the λ that was drawn
'''
BUGS = {"cutout_batch": NEVER_CLIPS, "cutmix_batch": UNCORRECTED_LAMBDA}
BUGGY_FAILS = {"test_cutout_batch": "squares near the border are clipped",
               "test_cutmix_batch": "label weights equal the pixel shares"}


def nbgrader(course: Path, *args) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("nbgrader")
    env = {**os.environ, "PATH": os.pathsep.join([str(exe.parent), os.environ.get("PATH", "")])}
    env.pop("CUTMIX_QUICK", None)  # quick mode must come from nbgrader's own NBGRADER_EXECUTION
    result = subprocess.run([str(exe), *args], cwd=course, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, \
        f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def solution_body(source: str) -> str:
    """A solution cell as the student would have written it: the instructor's code without the markers."""
    return "\n".join(line for line in source.splitlines() if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line)


def submit(course: Path, student: str, answers: dict | None) -> None:
    """Copy the release into submitted/<student>/; fill every solution cell from `answers` (grade_id -> source)."""
    out = course / "submitted" / student / ASSIGNMENT
    out.mkdir(parents=True)
    for path in sorted((course / "notebooks" / ASSIGNMENT).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if answers is not None and cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = answers[gid]
        nbformat.write(nb, out / path.name)


@pytest.mark.slow
def test_three_students_graded_end_to_end(tmp_path):
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    nbgrader(course, "generate_assignment", ASSIGNMENT)

    solved = {}
    for path in sorted((course / "solutions" / ASSIGNMENT).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                solved[cell.metadata["nbgrader"]["grade_id"]] = solution_body(cell.source)
    assert set(BUGS) <= set(solved)
    submit(course, "solver", solved)
    submit(course, "untouched", None)
    submit(course, "buggy", {**solved, **BUGS})

    nbgrader(course, "autograde", ASSIGNMENT, f"--Execute.timeout={kt.E2E_CELL}")  # nbgrader's default: 30 s
    nbgrader(course, "export", f"--to={tmp_path / 'grades.csv'}")

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        graded = {(nb.name, c.name): c.max_score for nb in assignment.notebooks for c in nb.grade_cells}
        # graded by hand (the reflection of notebook 6): autograding leaves it to the instructor, at 0
        by_hand = {(nb.name, c.name) for nb in assignment.notebooks for c in nb.solution_cells} & set(graded)
        assert {c for _, c in by_hand} == {"reflection"}
        assert all(gb.find_grade(c, nb, ASSIGNMENT, "solver").needs_manual_grade for nb, c in by_hand)
        cells = {key: points for key, points in graded.items() if key not in by_hand}
        assert len({nb for nb, _ in cells}) == 6 and set(BUGGY_FAILS) <= {c for _, c in cells}
        assert all(points > 0 for points in cells.values())
        scores = {student: {(nb, c): gb.find_grade(c, nb, ASSIGNMENT, student).score for nb, c in graded}
                  for student in ("solver", "untouched", "buggy")}
    total, max_total = sum(cells.values()), sum(graded.values())

    assert {k: v for k, v in scores["solver"].items() if k in cells} == cells, "the solution must get every point"
    assert all(scores[s][key] == 0 for s in scores for key in by_hand), "nothing graded by hand yet"
    assert all(v == 0 for v in scores["untouched"].values()), "the untouched release must score 0 everywhere"
    lost = {c for (nb, c), v in scores["buggy"].items() if (nb, c) in cells and v != cells[(nb, c)]}
    assert lost == set(BUGGY_FAILS), f"the buggy submission lost {sorted(lost)}"
    assert all(scores["buggy"][key] == 0 for key in cells if key[1] in BUGGY_FAILS)

    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "grades.csv", encoding="utf-8"))}
    assert set(rows) == {"solver", "untouched", "buggy"}
    expected = {"solver": total, "untouched": 0.0,
                "buggy": total - sum(v for (_, c), v in cells.items() if c in BUGGY_FAILS)}
    for student, score in expected.items():
        assert float(rows[student]["score"]) == pytest.approx(score), student
        assert float(rows[student]["max_score"]) == pytest.approx(max_total)
    assert 0 < expected["buggy"] < total

    # the buggy student fails for the right reason: the public check names the property in the feedback
    for nb_path in (course / "autograded" / "buggy" / ASSIGNMENT).glob("*.ipynb"):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in BUGGY_FAILS:
                text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
                assert f"✗ {BUGGY_FAILS[gid]}" in text, text
                assert any(o.output_type == "error" and o.ename == "CheckFailed" for o in cell.outputs)
    # no stderr in any test cell of the full solution (nbgrader would score it 0)
    for nb_path in (course / "autograded" / "solver" / ASSIGNMENT).glob("*.ipynb"):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            assert not any(o.get("name") == "stderr" for o in cell.get("outputs", [])), (nb_path.name, cell.source[:80])
