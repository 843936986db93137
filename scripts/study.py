"""Where augmentation starts to pay on photographs: the default recipe on the CIFAR-10 split for several lengths.

    .venv/bin/python scripts/study.py run --epochs 20 50 100     # trains (hours on 2 CPU cores), writes the results
    .venv/bin/python scripts/study.py table                       # docs/results.md's table and curve from the results

`run` calls `python -m cutmix_course trace` once per length (separate runs: the learning-rate schedule depends on the
length) with the photo settings (flips, 2-px crops, flip test-time averaging), seed 0, for baseline, Cutout, CutMix
and Cutout→CutMix, and copies each run's histories and summary.json to docs/results/cifar10/e<N>/ (committed).
`table` reads them back: final and best clean test accuracy, the train/test gap, accuracy under a 16-px occluding
square in the centre, and whether each augmentation is above the baseline; and draws docs/results/cifar10/curves.png.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from cutmix_course.core.train import RUN_NAMES, History, run_slug

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "cifar10"
DATA = "npz:" + str((ROOT / ".." / "shared" / "data" / "cifar10" / "cifar10_test_jpeg.npz").resolve())


def run(epochs: list[int], runs: str, seed: int, work: Path) -> None:
    for n in epochs:
        out = work / f"e{n}"
        cmd = [sys.executable, "-m", "cutmix_course", "trace", "--dataset", DATA, "--flip", "--crop-padding", "2",
               "--tta-flip", "--epochs", str(n), "--runs", runs, "--seed", str(seed), "--no-progress",
               "--out", str(out)]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        dest = RESULTS / f"e{n}"
        dest.mkdir(parents=True, exist_ok=True)
        for path in [*out.glob("history_*.json"), out / "summary.json"]:
            shutil.copy2(path, dest / path.name)


def load() -> dict:
    """{epochs: {run key: (History, occluded-16px-centre accuracy or None)}} from the committed results."""
    out = {}
    for folder in sorted(RESULTS.glob("e*"), key=lambda p: int(p.name[1:])):
        summary = json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").exists() else {}
        occl = summary.get("occlusion", {})
        runs = {}
        for key, name in RUN_NAMES.items():
            path = folder / f"history_{run_slug(key)}.json"
            if path.exists():
                runs[key] = (History.load(path), occl.get(name, {}).get("center", {}).get("16"))
        out[int(folder.name[1:])] = runs
    return out


def table(results: dict) -> str:
    lines = ["| epochs | run | clean test acc (final) | best | train acc (clean) | gap | occluded 16 px centre | "
             "vs baseline (final) | train time |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, runs in results.items():
        base = runs.get("none")
        for key, (h, occl16) in runs.items():
            f = h.final
            delta = "" if key == "none" or base is None else f"{(f['test_acc'] - base[0].final['test_acc']) * 100:+.1f}"
            lines.append(f"| {n} | {RUN_NAMES[key]} | {f['test_acc']:.1%} | {max(h.column('test_acc')):.1%} | "
                         f"{f['clean_train_acc']:.1%} | {f['clean_train_acc'] - f['test_acc']:+.1%} | "
                         f"{'-' if occl16 is None else f'{occl16:.1%}'} | {delta or '-'} | "
                         f"{sum(h.column('seconds')) / 60:.0f} min |")
    return "\n".join(lines)


def curves(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(max(6.0, 4.5 * len(results)), 3.6), squeeze=False)
    for ax, (n, runs) in zip(axes[0], results.items()):
        for key, (h, _) in runs.items():
            ax.plot(h.column("epoch"), [a * 100 for a in h.column("test_acc")], label=RUN_NAMES[key])
        ax.set(title=f"{n} epochs", xlabel="epoch", ylabel="clean test accuracy (%)", ylim=(25, 85))
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.suptitle("CIFAR-10 split (5000 train / 5000 eval), course recipe + flips, crops, flip TTA; seed 0", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train and store the results")
    r.add_argument("--epochs", type=int, nargs="+", default=[20, 50, 100])
    r.add_argument("--runs", default="none,cutout,cutmix,cutout+cutmix")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--work", type=Path, default=ROOT / "build" / "study")
    sub.add_parser("table", help="print the table and draw the curves from the stored results")
    args = p.parse_args(argv)
    if args.command == "run":
        run(args.epochs, args.runs, args.seed, args.work)
    results = load()
    print(table(results))
    curves(results, RESULTS / "curves.png")
    print(f"\ncurves: {RESULTS / 'curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
