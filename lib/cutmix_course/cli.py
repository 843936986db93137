"""Command line: `python -m cutmix_course trace|bench|grade ...`.

trace  runs the whole pipeline headless (data -> Cutout/CutMix -> three trainings -> the three tables) and writes a
       report folder with markdown and figures.
bench  the speed benchmark (see cutmix_course.bench).
grade  autograde a folder of nbgrader submissions (see cutmix_course.grading).
bench-grade  grading throughput with 1 and 2 workers (see cutmix_course.grading.bench).
kit    the student kit: dist/cutout_cutmix-student.zip (see cutmix_course.kit).
check  run a student's notebooks in quick mode and list every public check (see cutmix_course.selfcheck).
photos which data set the notebooks will use; --download fetches CIFAR-10 once (opt-in, needs internet).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

RUNS = ("none", "cutout", "cutmix")
RUN_NAMES = {"none": "baseline", "cutout": "Cutout", "cutmix": "CutMix", "cutout+cutmix": "Cutout+CutMix"}


def _trace_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cutmix_course trace",
                                description="Run the Cutout/CutMix pipeline and print the three trace tables.")
    p.add_argument("--dataset", default="synthetic", help="synthetic (default), cifar10 or npz:PATH")
    p.add_argument("--root", default=None, help="folder holding CIFAR-10 in torchvision's layout (for --dataset cifar10)")
    p.add_argument("--download", action="store_true", help="let torchvision download CIFAR-10 (needs internet)")
    p.add_argument("--n-train", type=int, default=None, help="training images (default: the data set's course size)")
    p.add_argument("--n-test", type=int, default=None, help="test images (default: the data set's course size)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--runs", default=",".join(RUNS), help="comma-separated augmentations to train (default: %(default)s)")
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
    p.add_argument("--quick", action="store_true", help="smoke run: 1000/500 images, 2 epochs")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def trace_main(argv=None) -> int:
    args = _trace_parser().parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from . import plots, trace
    from .augment import cutmix, cutout
    from .data import load_dataset, summary
    from .train import TrainConfig, occlusion_robustness, train

    if args.quick:
        args.n_train, args.n_test, args.epochs = args.n_train or 1000, args.n_test or 500, min(args.epochs, 2)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = load_dataset(args.dataset, root=args.root, download=args.download, n_train=args.n_train,
                        n_test=args.n_test, seed=args.seed)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, cutout_size=args.cutout_size,
                      cutmix_alpha=args.alpha, flip=args.flip, crop_padding=args.crop_padding, seed=args.seed,
                      tta_flip=args.tta_flip,
                      **{k: v for k, v in (("label_smoothing", args.label_smoothing),
                                           ("weight_decay", args.weight_decay)) if v is not None})
    report = [f"# Model pipeline trace: {data.name}", "",
              f"Measured on {platform.node() or 'this machine'}: {platform.processor() or platform.machine()}, "
              f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
              f"{time.strftime('%Y-%m-%d %H:%M')}. Command: `python -m cutmix_course trace "
              f"{' '.join(argv if argv is not None else sys.argv[2:])}`", ""]

    def section(title, body):
        print(f"\n== {title} ==\n{body}", flush=True)
        report.extend([f"## {title}", "", body, ""])

    s = summary(data.train_images, data.train_labels, data.classes)
    section("Data set", f"{data.name}: {s['count']} training images of shape {s['shape']} ({s['dtype']}), "
            f"{data.test_images.shape[0]} test images; per class {s['per_class']}; "
            f"per-channel mean {s['mean']}, std {s['std']}")

    g = torch.Generator().manual_seed(args.seed)
    x = data.normalize(data.train_images[:16])
    y = data.train_labels[:16]
    figures = {
        "examples.png": plots.image_grid(x, [data.classes[i] for i in y], data=data, suptitle="training images"),
        "cutout.png": plots.image_grid(cutout(x, args.cutout_size, generator=g), [data.classes[i] for i in y],
                                       data=data, suptitle=f"Cutout {args.cutout_size}×{args.cutout_size}"),
    }
    mixed, soft = cutmix(x, y, data.num_classes, args.alpha, per_sample=True, generator=g)
    figures["cutmix.png"] = plots.image_grid(mixed, [plots.soft_label_text(r, data.classes) for r in soft],
                                             data=data, ncols=4, scale=2.0, suptitle="CutMix (one box per image)")

    models, histories = {}, {}
    for aug in runs:
        name = RUN_NAMES.get(aug, aug)
        model, hist = train(data, cfg, device=args.device, progress=not args.no_progress, augment=aug)
        models[name], histories[name] = model, hist
        hist.save(out / f"history_{aug.replace('+', '_')}.json")

    first = next(iter(models.values()))
    section("Data flow", trace.markdown_table(trace.data_flow(data, first, args.batch_size, args.cutout_size,
                                                              args.alpha, args.seed)))
    for name, hist in histories.items():
        section(f"Training trace: {name} ({sum(hist.column('seconds')):.0f} s, device {hist.device})",
                trace.markdown_table(trace.training_trace(hist)))

    occl = {name: {where: occlusion_robustness(m, data, where=where, seed=args.seed, flip=cfg.tta_flip)
                   for where in ("center", "random")}
            for name, m in models.items()}
    sizes = list(next(iter(occl.values()))["center"])
    rows = []
    for name, hist in histories.items():
        f = hist.final
        row = {"run": name, "train acc (clean)": f"{f['clean_train_acc']:.1%}", "test acc": f"{f['test_acc']:.1%}",
               "gap": f"{f['clean_train_acc'] - f['test_acc']:+.1%}",
               "best test acc": f"{max(hist.column('test_acc')):.1%}",
               "train time": f"{sum(hist.column('seconds')):.0f} s"}
        for where in ("center", "random"):
            for size in sizes[1:]:
                if size in (8, 16):
                    row[f"occluded {size}px {where}"] = f"{occl[name][where][size]:.1%}"
        rows.append(row)
    section("Comparison", trace.markdown_table(rows))

    # the prediction trace of the last model on the first test image
    name, model = list(models.items())[-1]
    image = data.normalize(data.test_images[:1])
    truth = data.classes[int(data.test_labels[0])]
    section(f"Prediction trace ({name} model, first test image, true class: {truth})",
            trace.markdown_table(trace.prediction_trace(model, image[0], data.classes)))

    figures["curves.png"] = plots.training_curves(histories)
    figures["occlusion.png"] = plots.occlusion_curves(occl, title=f"occlusion robustness ({data.name})")
    figures["prediction_trace.png"] = plots.prediction_trace_figure(model.trace(image), data.classes, data=data)
    for fname, fig in figures.items():
        plots.save(fig, out / fname)
    report += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes
    report.append(f"Total wall time: {elapsed:.0f} s. Peak resident memory: {peak_mb:.0f} MB.")
    (out / "report.md").write_text("\n".join(report) + "\n")
    (out / "summary.json").write_text(json.dumps({
        "dataset": data.name, "epochs": args.epochs, "seconds": elapsed, "peak_rss_mb": round(peak_mb),
        "runs": {n: h.final for n, h in histories.items()}, "occlusion": occl}, indent=1))
    print(f"\nReport written to {out / 'report.md'} ({elapsed:.0f} s, peak resident memory {peak_mb:.0f} MB)")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"trace": trace_main, "bench": _bench, "grade": _grade, "bench-grade": _bench_grade, "kit": _kit,
                "check": _check, "photos": _photos}
    if not argv or argv[0] not in commands:
        print(f"usage: python -m cutmix_course {{{','.join(commands)}}} [options]   (--help after a command "
              "for its options)", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


def _bench(argv) -> int:
    from .bench import main as bench_main

    return bench_main(argv)


def _grade(argv) -> int:
    from .grading.cli import main_grade

    return main_grade(argv)


def _bench_grade(argv) -> int:
    from .grading.bench import main as bench_grade_main

    return bench_grade_main(argv)


def _kit(argv) -> int:
    from .kit import main as kit_main

    return kit_main(argv)


def _check(argv) -> int:
    from .selfcheck import main as check_main

    return check_main(argv)


def _photos(argv) -> int:
    from .data import course_data, default_cifar_root, download_cifar10

    p = argparse.ArgumentParser(prog="python -m cutmix_course photos",
                                description="Which data set the notebooks use (DATASET = \"auto\"), and the opt-in "
                                            "download of CIFAR-10 (170 MB, through torchvision).")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 into the course's data folder")
    p.add_argument("--root", default=None, help=f"the data folder (default: {default_cifar_root()})")
    args = p.parse_args(argv)
    if args.download:
        try:
            root = download_cifar10(args.root)
        except Exception as e:  # noqa: BLE001 - no network, a full disk: say so in one line
            print(f"download failed ({type(e).__name__}: {e}); the notebooks keep using the embedded shapes",
                  file=sys.stderr)
            return 1
        print(f"CIFAR-10 is in {root}")
        if args.root and Path(args.root).expanduser().resolve() != default_cifar_root().expanduser().resolve():
            print(f'the notebooks find it with DATASET = "cifar10:{root}" or CUTMIX_COURSE_DATA={root}')
    course_data("auto", n_train=10, n_test=10)
    return 0
