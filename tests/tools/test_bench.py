"""Smoke test of `python -m cutmix_course bench --quick`: it runs, writes its table and JSON, and every ratio is a
positive number. No timing is asserted (timings belong in the benchmark's output, not in tests)."""
from __future__ import annotations

import json
import math
import re

import pytest
import torch

from cutmix_course.__main__ import main as cli_main
from cutmix_course.tools import bench_speed

OPERATIONS = ("clone", "cutout", "cutmix per batch", "cutmix per sample", "torchvision v2.CutMix",
              "torchvision v2.RandomErasing, per image", "Python loop: cutout", "Python loop: cutmix per sample")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert cli_main(["bench", "--quick", "--out", str(out)]) == 0
    return (out / "RESULTS.md").read_text(), json.loads((out / "results.json").read_text())


def test_quick_bench_writes_the_table_with_every_row(quick_run):
    text, _ = quick_run
    for dtype in ("float32", "uint8"):
        for op in OPERATIONS:
            numbers = r" \| ".join([r"([\d,.]+)"] * 4)  # median, IQR, x clone, page faults
            row = re.search(rf"^\| {dtype} \| {re.escape(op)} \| {numbers} \|$", text, re.M)
            assert row, f"missing row {dtype} / {op}"
            median, iqr, ratio, faults = (float(v.replace(",", "")) for v in row.groups())
            assert median > 0 and iqr >= 0 and ratio > 0 and faults >= 0
    assert "images/s" in text and "| cutmix |" in text and "## Targets" in text
    assert re.search(r"\d+ usable cores .*torch \S+.*\d+ torch threads", text), "the machine is recorded"


def test_quick_bench_json_ratios_are_positive_numbers(quick_run):
    _, results = quick_run
    assert results["quick"] is True and results["machine"]["torch_threads"] >= 1
    for dtype, cases in results["augment"].items():
        assert set(cases) == set(OPERATIONS), dtype
        for stats in cases.values():
            assert stats["median_s"] > 0 and stats["iqr_s"] >= 0 and stats["rounds"] == 3
    large = results["augment_large"]
    assert large["batch"] == 1024 and set(large["float32"]) == set(OPERATIONS[:5])
    assert all(stats["median_s"] > 0 for stats in large["float32"].values())
    assert results["train"]["throughput"]["images_per_s"] > 0
    assert set(results["train"]["epoch"]) == {"none", "cutout", "cutmix", "cutout+cutmix"}  # the runs of make trace
    assert all(r["wall_s"] > 0 for r in results["train"]["epoch"].values())
    assert "full" not in results["train"], "--quick skips the full comparison"
    targets = results["targets"]
    assert len(targets) == 2 * 5 + 1  # per dtype: 2 x clone, 2 x RandomErasing, 1 x v2.CutMix; throughput
    for target in targets:
        assert math.isfinite(target["value"]) and target["value"] > 0 and isinstance(target["met"], bool)


def test_python_loop_references_have_our_semantics():
    """The per-image loops the benchmark compares against must do the same work as the vectorised functions."""
    g = torch.Generator().manual_seed(0)
    images = torch.ones(64, 3, 12, 12)
    out = bench_speed.loop_cutout(images, 5, g)
    hidden = out[:, 0] == 0
    assert torch.equal(hidden, (out == 0).all(dim=1)), "all channels are hidden together"
    counts = hidden.sum(dim=(1, 2))
    assert counts.min() >= 3 * 3 and counts.max() == 25, "squares of side 5, clipped at the borders"
    labels = torch.arange(64) % 10
    mixed, soft = bench_speed.loop_cutmix(torch.arange(64.0).view(64, 1, 1, 1).expand(64, 3, 12, 12), labels, 10, g)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(64))
    for i in range(64):
        pasted = mixed[i, 0] != i
        if not pasted.any():
            continue
        sources = mixed[i, :, pasted].unique()
        assert sources.numel() == 1, "the patch comes from one partner"
        j = int(sources)
        if labels[j] != labels[i]:
            kept = 1 - float(pasted.sum()) / 144  # lambda = the share of the image kept
            torch.testing.assert_close(soft[i, labels[i]], torch.tensor(kept))
            torch.testing.assert_close(soft[i, labels[j]], torch.tensor(1 - kept))


def test_targets_compare_the_right_cases():
    fake = {"augment": {"float32": {name: {"median_s": 1.0} for name in OPERATIONS}},
            "train": {"throughput": {"images_per_s": 500.0}}}
    fake["augment"]["float32"]["cutout"]["median_s"] = 2.0  # 2x clone
    fake["augment"]["float32"]["torchvision v2.RandomErasing, per image"]["median_s"] = 100.0
    rows = {r["target"]: r for r in bench_speed.targets(fake)}
    assert rows["cutout <= 3x clone (float32)"]["value"] == 2.0 and rows["cutout <= 3x clone (float32)"]["met"]
    assert rows["cutout >= 50x faster than per-image v2.RandomErasing (float32)"]["value"] == 50.0
    assert not rows["training throughput >= 1000 images/s"]["met"]
