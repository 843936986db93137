"""The three trace tables and the `trace` command line."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cutmix_course.core.data import make_synthetic
from cutmix_course.core.model import make_model
from cutmix_course.core.train import History
from cutmix_course.notebook import trace_tables


@pytest.fixture(scope="module")
def data():
    return make_synthetic(200, 100, seed=1)


def test_data_flow_reports_the_real_shapes(data):
    rows = trace_tables.data_flow(data, make_model(10, seed=0), batch_size=64, cutout_size=8)
    assert [r["stage"] for r in rows] == ["Original data set", "Cutout", "CutMix", "Training batch"]
    assert rows[0]["input shape"].startswith("200 images × 32×32×3") \
        and rows[0]["output shape"].startswith("(200, 3, 32, 32)")
    assert rows[1]["output shape"] == "(64, 3, 32, 32)"
    assert "soft labels (64, 10)" in rows[2]["output shape"]
    assert rows[3]["output shape"] == "logits (64, 10)"
    # the hidden share is measured: at most one 8×8 square of 32×32 per image
    share = float(rows[1]["operation"].split("; ")[1].split("%")[0]) / 100
    assert 0 < share <= 64 / 1024


def _history(rows):
    keys = History.EPOCH_KEYS
    return History({}, "synthetic", list("abcdefghij"), "cpu", [dict(zip(keys, r)) for r in rows])


def test_training_trace_observations_follow_the_numbers():
    h = _history([
        (1, 2.30, 0.10, 0.12, 2.2, 0.11, 1.0),
        (2, 1.50, 0.40, 0.45, 1.6, 0.40, 1.0),   # loss falls by 35%, best test so far
        (3, 1.00, 0.60, 0.80, 1.4, 0.50, 1.0),   # gap 30% and growing
        (4, 0.90, 0.70, 1.00, 1.5, 0.505, 1.0),  # memorised; test flat vs epoch 1? no: vs epoch 1 far
        (5, 0.85, 0.72, 1.00, 1.6, 0.495, 1.0),  # levelling off vs epoch 2? no, vs epoch 2: 0.40 -> 0.495
        (6, 0.84, 0.73, 1.00, 1.6, 0.50, 1.0),   # vs epoch 3 (0.50): levelling off
    ])
    rows = trace_tables.training_trace(h)
    obs = [r["observation"] for r in rows]
    assert "chance 10%" in obs[0]
    assert "loss falling fast" in obs[1] and "best test accuracy so far" in obs[1]
    assert "gap 30% and growing: overfitting" in obs[2]
    assert "training set memorised" in obs[3]
    assert "levelling off" in obs[5]
    assert rows[2]["gap"] == "+30.0%" and rows[2]["test acc"] == "50.0%"


# A real CIFAR-10 Cutout run (epochs 8 to 11) where test accuracy fell from 63.5% to 50.9% at epoch 10, which a rule
# reading the training loss alone would call "steady": (epoch, train loss, train acc, clean acc, test loss, test acc,
# seconds).
README_CUTOUT = [(8, 1.315, 0.657, 0.657, 1.095, 0.633, 6.0), (9, 1.287, 0.673, 0.673, 1.097, 0.635, 6.0),
                 (10, 1.251, 0.543, 0.543, 1.317, 0.509, 6.0), (11, 1.234, 0.721, 0.721, 1.042, 0.660, 6.0)]


def test_a_fall_in_test_accuracy_and_a_rising_test_loss_are_reported():
    obs = [r["observation"] for r in trace_tables.training_trace(_history(README_CUTOUT))]
    assert obs[2].startswith("test accuracy fell 12.6 points; test loss rising"), obs[2]
    assert "steady" not in obs[2] and "fell" not in obs[1] and "fell" not in obs[3]


def test_overfitting_by_the_test_loss_and_underfitting_are_reported():
    overfit = _history([(1, 2.0, 0.3, 0.3, 1.50, 0.30, 1.0), (2, 1.5, 0.5, 0.5, 1.20, 0.45, 1.0),
                        (3, 1.2, 0.6, 0.6, 1.30, 0.45, 1.0), (4, 1.0, 0.7, 0.7, 1.40, 0.45, 1.0)])
    obs = [r["observation"] for r in trace_tables.training_trace(overfit)]
    assert obs[2].startswith("test loss rising") and "overfitting" not in obs[2]
    assert obs[3].startswith("test loss rising while training loss falls: overfitting")
    under = _history([(1, 2.2, 0.3, 0.30, 2.0, 0.30, 1.0), (2, 2.1, 0.4, 0.40, 1.9, 0.39, 1.0),
                      (3, 2.0, 0.5, 0.52, 1.8, 0.50, 1.0)])
    obs = [r["observation"] for r in trace_tables.training_trace(under)]
    assert "underfitting: training accuracy 52%, no better than test" in obs[2] and "underfitting" not in obs[1]


def test_prediction_trace_has_six_layers_and_a_consistent_top3(data):
    model = make_model(10, seed=0)
    image = data.normalize(data.test_images[:1])[0]
    rows = trace_tables.prediction_trace(model, image, data.classes)
    assert [r["layer"] for r in rows] == ["input", "convolution", "pooling", "fully connected", "softmax", "prediction"]
    assert rows[0]["shape"] == "(3, 32, 32)" and rows[3]["shape"] == "(10,)"
    probs = model.trace(image.unsqueeze(0))[4].activation[0]
    top = probs.argmax().item()
    assert rows[4]["what happens"].startswith(f"top-3: {data.classes[top]} ")
    assert rows[5]["what happens"].startswith(data.classes[top])


def test_markdown_table_escapes_pipes():
    table = trace_tables.markdown_table([{"a": 1, "b": "x|y"}])
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| 1 | x\\|y |"]


@pytest.mark.slow
def test_trace_command_writes_the_report(tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "cutmix_course", "trace", "--quick", "--n-train", "300", "--n-test",
                           "200", "--epochs", "1", "--no-progress", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for title in ("Data flow", "Training trace: baseline", "Training trace: Cutout", "Training trace: CutMix",
                  "Training trace: Cutout→CutMix", "Comparison", "The course page's trace beside the Cutout→CutMix run",
                  "The page's key insight, clause by clause", "Prediction trace"):
        assert f"== {title}" in proc.stdout
    report = (out / "report.md").read_text()
    for png in ("examples.png", "cutout.png", "cutmix.png", "curves.png", "occlusion.png", "prediction_trace.png"):
        assert (out / png).stat().st_size > 5000 and f"]({png})" in report
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["runs"]) == {"baseline", "Cutout", "CutMix", "Cutout→CutMix"}
    assert trace_tables.KEY_INSIGHT in report and "Training converged with strong performance" in report
    assert 0.0 <= summary["runs"]["CutMix"]["test_acc"] <= 1.0
    assert set(summary["occlusion"]["baseline"]) == {"center", "random"}


def test_trace_command_rejects_an_unknown_data_set(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cutmix_course", "trace", "--dataset", "mnist",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "unknown data set 'mnist'" in proc.stderr


def test_the_entropy_of_a_soft_label_is_the_floor_of_its_loss():
    assert abs(trace_tables.target_entropy(torch.tensor([[0.6, 0.4]])) - 0.6730) < 1e-4  # the page's 0.6 cat + 0.4 dog
    assert trace_tables.target_entropy(torch.eye(10)) == 0.0
    smoothed = trace_tables.target_entropy(torch.eye(10), 0.1)  # 0.91 on the label, 0.01 on the nine others
    assert abs(smoothed - -(0.91 * math.log(0.91) + 9 * 0.01 * math.log(0.01))) < 1e-9
    floors = trace_tables.loss_floors(10, batches=10)
    assert floors["one-hot labels"] == pytest.approx(smoothed)
    assert smoothed < floors["CutMix labels"] < smoothed + math.log(2)  # mixing two labels adds at most ln 2
    ones = trace_tables.loss_floors(10, cutmix_fn=lambda x, y, k, lam, generator=None: (x, torch.eye(k)[y]), batches=2)
    assert ones["CutMix labels"] == pytest.approx(smoothed)  # a CutMix that never mixes has the one-hot floor


def test_the_pages_table_sits_beside_the_runs_rows_at_its_epochs():
    rows = [(e, 2.0 - 0.1 * e, 0.3 + 0.02 * e, 0.3 + 0.02 * e, 1.9 - 0.05 * e, 0.28 + 0.02 * e, 1.0)
            for e in range(1, 12)]
    h = _history(rows)
    table = trace_tables.page_comparison(h)
    assert [r["epoch"] for r in table] == [1, 5, 10, 15, 20]
    assert (table[0]["page: loss"], table[0]["page: accuracy"]) == ("1.20", "45%")
    assert (table[4]["page: loss"], table[4]["page: accuracy"]) == ("0.30", "90%")
    assert (table[2]["page: loss"], table[2]["page: accuracy"]) == ("0.50", "80%")  # the page gives all five rows
    assert table[3]["page: observation"] == "Loss low, accuracy high, good generalization"  # its words
    assert table[2]["your train loss"] == f"{2.0 - 1.0:.3f}" and table[2]["your test acc"] == f"{0.28 + 0.2:.1%}"
    assert table[2]["your observation"] == trace_tables.observe(h.epochs, 9, 10)  # epoch 10 is the 10th record
    assert table[3]["your train loss"] == table[4]["your train loss"] == "not run"  # the run stopped at epoch 11


def test_the_pages_rows_are_the_pages_words_and_numbers():
    page = (Path(__file__).parents[2] / ".." / "shared" / "course-page" / "page.txt")
    if not page.exists():
        pytest.skip("the course page is not beside this checkout")
    text = page.read_text(encoding="utf-8")
    lines = text.splitlines()
    for epoch, row in trace_tables.PAGE_TRACE.items():  # the page runs its cells together: "11.20.45Model starts..."
        tail = f"{row['accuracy']:.2f}{row['observation']}"
        found = [line for line in lines if line.startswith(str(epoch)) and line.endswith(tail)]
        assert len(found) == 1 and float(found[0][len(str(epoch)):-len(tail)]) == row["loss"], (epoch, found)
    assert trace_tables.KEY_INSIGHT in text
    assert all(line.rstrip() in text for line in trace_tables.PAGE_LOSS_PLOT.splitlines())


def _two_runs(base_final, aug_final):
    keys = History.EPOCH_KEYS
    return {name: History({}, "synthetic", list("abcdefghij"), "cpu", [dict(zip(keys, (1, *final, 1.0)))])
            for name, final in (("baseline", base_final), ("Cutout→CutMix", aug_final))}


def test_the_key_insight_is_judged_clause_by_clause_from_the_numbers():
    # train loss, train acc, clean train acc, test loss, test acc
    runs = _two_runs((0.40, 0.95, 0.98, 0.90, 0.70), (0.95, 0.60, 0.85, 0.80, 0.72))
    rows = trace_tables.key_insight_clauses(runs, {"baseline": {16: 0.40}, "Cutout→CutMix": {16: 0.55}})
    verdicts = {(r["clause"], r["measured by"].split(" (")[0]): r["supported by this run"] for r in rows}
    assert verdicts == {
        ("more varied and challenging", "training loss on the training batches"): "yes",
        ("more varied and challenging", "accuracy on clean training images"): "yes",
        ("lower loss", "training loss on the training batches"): "no",  # the augmented run's training loss is higher
        ("lower loss", "loss on the test images"): "yes",
        ("higher accuracy", "accuracy on clean test images"): "yes",
        ("generalizes well to new images", "gap: clean training accuracy − test accuracy"): "yes",
        ("generalizes well to new images", "test accuracy with a 16-px square over the centre"): "yes",
    }
    assert rows[4]["baseline"] == "70.0%" and rows[4]["Cutout→CutMix"] == "72.0%"
    assert rows[5]["baseline"] == "+28.0%" and rows[5]["Cutout→CutMix"] == "+13.0%"
    # the same numbers the other way round: every clause the augmented run bore out now fails, and the other way
    swapped = trace_tables.key_insight_clauses({"baseline": runs["Cutout→CutMix"], "Cutout→CutMix": runs["baseline"]},
                                               {"baseline": {16: 0.55}, "Cutout→CutMix": {16: 0.40}})
    assert [r["supported by this run"] for r in swapped] == ["no", "no", "yes", "no", "no", "no", "no"]


def test_the_floor_table_has_both_columns_from_the_same_draws():
    rows = trace_tables.floor_table(10)
    onehot, mixed = rows
    assert onehot["floor without label smoothing"] == "0.000"
    assert onehot["floor with label smoothing 0.1"] == f"{trace_tables.target_entropy(torch.eye(10), 0.1):.3f}"
    assert float(mixed["floor without label smoothing"]) == pytest.approx(
        trace_tables.loss_floors(10, label_smoothing=0.0)["CutMix labels"], abs=5e-4)
    assert 0.3 < float(mixed["floor without label smoothing"]) < math.log(2)  # λ ~ Beta(1, 1): about 0.47 nats
