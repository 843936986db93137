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
# tests of that exercise run the student's function inside cutmix_course.grading.integrity.forbid_reference(...), so exactly
# the tests listed in `fails` must score 0. Check these names against the notebooks whenever they change.
DELEGATION = dict(
    notebook="02_cutout",
    cell="cutout_batch",
    code=("from cutmix_course.augment import cutout as _reference_cutout\n\n\n"
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
    return ex.Example("s14-delegation", f"{spec['cell']} calls the reference implementation",
                      edits=[ex.set_source(spec["notebook"], spec["cell"], spec["code"])],
                      fail={spec["notebook"]: spec["fails"]}, problems=["integrity"])


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
    shutil.rmtree(out / "submitted", ignore_errors=True)
    ex.build(examples, solution, release, out, ASSIGNMENT)
    print(f"wrote {len(examples)} example submissions to {out / 'submitted'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
