"""`python -m cutmix_course trace` (`make trace`), the main job: the whole pipeline headless, as a report folder.

data -> Cutout / CutMix figures -> one training per augmentation -> the course page's three trace tables (data flow,
training trace, prediction trace), a comparison with occlusion robustness, and figures; report.md and summary.json
in the output folder. The tables are notebook.trace_tables', the figures notebook.plots': the notebooks show the same.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

DEFAULT_RUNS = ("none", "cutout", "cutmix", "cutout+cutmix")  # the last is the course page's pipeline
QUICK = {"n_train": 1000, "n_test": 500, "epochs": 2}  # --quick: a smoke run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cutmix_course trace",
                                description="Run the Cutout/CutMix pipeline and print the three trace tables.")
    p.add_argument("--dataset", default="synthetic", help="synthetic (default), cifar10 or npz:PATH")
    p.add_argument("--root", default=None,
                   help="folder holding CIFAR-10 in torchvision's layout (for --dataset cifar10)")
    p.add_argument("--download", action="store_true", help="let torchvision download CIFAR-10 (needs internet)")
    p.add_argument("--n-train", type=int, default=None, help="training images (default: the data set's course size)")
    p.add_argument("--n-test", type=int, default=None, help="test images (default: the data set's course size)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--runs", default=",".join(DEFAULT_RUNS),
                   help="comma-separated augmentations to train (default: %(default)s)")
    p.add_argument("--cutout-size", type=int, default=8)
    p.add_argument("--alpha", type=float, default=1.0, help="CutMix Beta(alpha, alpha)")
    p.add_argument("--flip", action="store_true", help="add random horizontal flips to every run")
    p.add_argument("--crop-padding", type=int, default=0, help="add random crops with this padding to every run")
    p.add_argument("--tta-flip", action="store_true",
                   help="evaluate each test image and its mirror image and average the logits (for photographs)")
    p.add_argument("--label-smoothing", type=float, default=None, help="default: TrainConfig's (0.1)")
    p.add_argument("--weight-decay", type=float, default=None, help="AdamW's decoupled weight decay (default: 0.5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--out", default="reports/trace", help="report folder (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: {QUICK['n_train']}/{QUICK['n_test']} images, {QUICK['epochs']} epochs")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


class Report:
    """The report's markdown lines; each section is also printed as it is written."""

    def __init__(self, title: str, header: str):
        self.lines = [f"# {title}", "", header, ""]

    def section(self, title: str, body: str) -> None:
        print(f"\n== {title} ==\n{body}", flush=True)
        self.lines.extend([f"## {title}", "", body, ""])


def train_config(args):
    from ..core.train import TrainConfig

    optional = {k: v for k, v in (("label_smoothing", args.label_smoothing), ("weight_decay", args.weight_decay))
                if v is not None}
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, cutout_size=args.cutout_size,
                       cutmix_alpha=args.alpha, flip=args.flip, crop_padding=args.crop_padding, seed=args.seed,
                       tta_flip=args.tta_flip, **optional)


def machine_line(command: str) -> str:
    import torch

    return (f"Measured on {platform.node() or 'this machine'}: {platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}. "
            f"Command: `python -m cutmix_course trace {command}`")


def data_section(report: Report, data) -> None:
    from ..core.data import summary

    s = summary(data.train_images, data.train_labels, data.classes)
    report.section("Data set", f"{data.name}: {s['count']} training images of shape {s['shape']} ({s['dtype']}), "
                   f"{data.test_images.shape[0]} test images; per class {s['per_class']}; "
                   f"per-channel mean {s['mean']}, std {s['std']}")


def augmentation_figures(data, cutout_size: int, alpha: float, seed: int) -> dict:
    """16 training images as they are, with Cutout, and with per-image CutMix (with their mixed labels)."""
    import torch

    from ..core.augment import cutmix, cutout
    from ..notebook import plots

    g = torch.Generator().manual_seed(seed)
    x, y = data.normalize(data.train_images[:16]), data.train_labels[:16]
    names = [data.classes[i] for i in y]
    mixed, soft = cutmix(x, y, data.num_classes, alpha, per_sample=True, generator=g)
    return {
        "examples.png": plots.image_grid(x, names, data=data, suptitle="training images"),
        "cutout.png": plots.image_grid(cutout(x, cutout_size, generator=g), names, data=data,
                                       suptitle=f"Cutout {cutout_size}×{cutout_size}"),
        "cutmix.png": plots.image_grid(mixed, [plots.soft_label_text(r, data.classes) for r in soft], data=data,
                                       ncols=4, scale=2.0, suptitle="CutMix (one box per image)"),
    }


def train_runs(data, cfg, runs, out: Path, device=None, progress: bool = True) -> tuple[dict, dict]:
    """{run name: model}, {run name: history}, one training per augmentation; each history saved in `out`."""
    from ..core.train import RUN_NAMES, run_slug, train

    models, histories = {}, {}
    for aug in runs:
        name = RUN_NAMES.get(aug, aug)  # an unknown one: train() says what it expected
        models[name], histories[name] = train(data, cfg, device=device, progress=progress, augment=aug)
        histories[name].save(out / f"history_{run_slug(aug)}.json")
    return models, histories


def comparison_rows(histories: dict, occlusion: dict) -> list[dict]:
    """One row per run: final accuracies, the gap, best test accuracy, time, accuracy under 8- and 16-px occluders."""
    rows = []
    for name, hist in histories.items():
        f = hist.final
        row = {"run": name, "train acc (clean)": f"{f['clean_train_acc']:.1%}", "test acc": f"{f['test_acc']:.1%}",
               "gap": f"{f['clean_train_acc'] - f['test_acc']:+.1%}",
               "best test acc": f"{max(hist.column('test_acc')):.1%}",
               "train time": f"{sum(hist.column('seconds')):.0f} s"}
        for where, by_size in occlusion[name].items():
            for size in (8, 16):
                if size in by_size:
                    row[f"occluded {size}px {where}"] = f"{by_size[size]:.1%}"
        rows.append(row)
    return rows


def trace_sections(report: Report, data, models: dict, histories: dict, occlusion: dict, args) -> None:
    from ..notebook.trace_tables import (
        KEY_INSIGHT,
        data_flow,
        key_insight_clauses,
        markdown_table,
        page_comparison,
        prediction_trace,
        training_trace,
    )

    first = next(iter(models.values()))
    report.section("Data flow", markdown_table(data_flow(data, first, args.batch_size, args.cutout_size, args.alpha,
                                                         args.seed)))
    for name, hist in histories.items():
        report.section(f"Training trace: {name} ({sum(hist.column('seconds')):.0f} s, device {hist.device})",
                       markdown_table(training_trace(hist)))
    report.section("Comparison", markdown_table(comparison_rows(histories, occlusion)))
    if "Cutout→CutMix" in histories:  # the page's pipeline: its five rows beside the run, its key insight judged
        report.section("The course page's trace beside the Cutout→CutMix run",
                       markdown_table(page_comparison(histories["Cutout→CutMix"])))
        if "baseline" in histories:
            centre = {name: by_where["center"] for name, by_where in occlusion.items()}
            report.section("The page's key insight, clause by clause (Cutout→CutMix against the baseline)",
                           f"> {KEY_INSIGHT}\n\n" + markdown_table(key_insight_clauses(histories, centre)))
    name, model = list(models.items())[-1]  # the prediction trace of the last model on the first test image
    truth = data.classes[int(data.test_labels[0])]
    report.section(f"Prediction trace ({name} model, first test image, true class: {truth})",
                   markdown_table(prediction_trace(model, data.normalize(data.test_images[:1])[0], data.classes)))


def result_figures(data, models: dict, histories: dict, occlusion: dict) -> dict:
    from ..notebook import plots

    model = list(models.values())[-1]
    image = data.normalize(data.test_images[:1])
    return {"curves.png": plots.training_curves(histories),
            "occlusion.png": plots.occlusion_curves(occlusion, title=f"occlusion robustness ({data.name})"),
            "prediction_trace.png": plots.prediction_trace_figure(model.trace(image), data.classes, data=data)}


def run(args, command: str) -> Path:
    """The whole pipeline for parsed `args`; returns the report's path."""
    import matplotlib

    matplotlib.use("Agg")
    from ..core.data import load_dataset
    from ..core.train import occlusion_robustness
    from ..notebook import plots

    if args.quick:
        args.n_train, args.n_test = args.n_train or QUICK["n_train"], args.n_test or QUICK["n_test"]
        args.epochs = min(args.epochs, QUICK["epochs"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = load_dataset(args.dataset, root=args.root, download=args.download, n_train=args.n_train,
                        n_test=args.n_test, seed=args.seed)
    cfg = train_config(args)
    report = Report(f"Model pipeline trace: {data.name}", machine_line(command))
    data_section(report, data)
    figures = augmentation_figures(data, args.cutout_size, args.alpha, args.seed)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    models, histories = train_runs(data, cfg, runs, out, args.device, not args.no_progress)
    occlusion = {name: {where: occlusion_robustness(m, data, where=where, seed=args.seed, flip=cfg.tta_flip)
                        for where in ("center", "random")} for name, m in models.items()}
    trace_sections(report, data, models, histories, occlusion, args)
    figures.update(result_figures(data, models, histories, occlusion))
    for fname, fig in figures.items():
        plots.save(fig, out / fname)
    report.lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes
    report.lines.append(f"Total wall time: {elapsed:.0f} s. Peak resident memory: {peak_mb:.0f} MB.")
    (out / "report.md").write_text("\n".join(report.lines) + "\n")
    (out / "summary.json").write_text(json.dumps({
        "dataset": data.name, "epochs": args.epochs, "seconds": elapsed, "peak_rss_mb": round(peak_mb),
        "runs": {n: h.final for n, h in histories.items()}, "occlusion": occlusion}, indent=1))
    print(f"\nReport written to {out / 'report.md'} ({elapsed:.0f} s, peak resident memory {peak_mb:.0f} MB)")
    return out / "report.md"


def main(argv=None) -> int:
    argv = list(sys.argv[2:] if argv is None else argv)
    run(parser().parse_args(argv), " ".join(argv))
    return 0
