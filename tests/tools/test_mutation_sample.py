"""A sample of `make mutate` in every full run: about 30 mutants of augment.py, drawn by a seeded rule
(random.Random(MUTATION_SEED, default 2026).sample over the sorted mutant names), must all be killed by the fast
tests or be declared equivalent in tests/mutation/equivalent.txt. The whole run (all modules, ~30 min) is
`make mutate`; this keeps a new hole in the augmentation tests from landing unnoticed."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_seeded_sample_of_augment_mutants_is_all_killed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MUTANT_UNDER_TEST")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [sys.executable, str(ROOT / "scripts" / "mutate.py"), "--sample", "30", "--minutes", "20",
           "--out", str(tmp_path), "--work", str(tmp_path / "stage")]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    tail = done.stdout[-3000:] + done.stderr[-3000:]
    assert "set-up check: a Cutout that hides nothing is caught" in done.stdout, tail
    scores = json.loads((tmp_path / "scores.json").read_text())
    (row,) = scores["rows"]
    assert row["module"] == "core/augment.py" and row["generated"] == 30 and len(scores["sample"]) == 30, tail
    assert row["not_run"] == 0 and scores["finished"], tail
    survivors = (tmp_path / "survivors.txt").read_text()
    assert done.returncode == 0 and row["survived"] == row["no_tests"] == 0, f"survivors:\n{survivors}\n{tail}"
    assert row["killed"] + row["timeout"] + row["equivalent"] == 30
