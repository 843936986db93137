"""`python -m cutmix_course bench` (`make bench`): how fast the augmentations and the training are.

Everything runs in one process and every figure is set against a reference measured in the same run, so the
ratios mean something on any machine even where the absolute times do not:

1. Augmentations on a batch of 128 x 3 x 32 x 32 images, float32 and uint8: our `cutout` (8x8, one square per
   image) and `cutmix` (one box per batch, and one box per image) against
   - a plain `clone()` of the batch: the memory floor, no augmentation can write a new batch faster;
   - torchvision's `v2.CutMix` (one box per batch, as our per-batch mode);
   - torchvision's `v2.RandomErasing` applied to each image in a Python loop: the usual way to get Cutout with a
     new square per image;
   - a Python loop over the images with our own semantics (what a straightforward per-image version costs).
2. Training: images per second of the course CNN (forward, backward and optimiser step, batch 128, channels-last
   as in `train.train`), the wall time of one epoch of `train.train` with each augmentation, and the wall time of
   the full comparison of the runs of `make trace` at the default settings (skipped with --skip-full, estimated
   from the epochs).

Timing: the cases of a table are run in interleaved rounds (A, B, C, A, B, C, ...), each round timing a fixed
number of calls; a table shows the median time per call over the rounds and the inter-quartile range (IQR), the
noise. Interleaving makes a burst of load from another process hit every case alike, so the ratios are steadier
than the times. The inputs and generators are seeded: every run measures the same work.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from ..core.augment import cutmix, cutout, lambda_from_boxes, rand_bbox, sample_lambda, soft_target_cross_entropy
from .trace_report import DEFAULT_RUNS

BATCH, CHANNELS, SIDE, CLASSES, CUTOUT_SIZE = 128, 3, 32, 10, 8
LARGE_BATCH = 1024
AUGMENTATIONS = DEFAULT_RUNS  # the runs of `make trace`


# ------------------------------------------------------------------------------------------------ timing
def measure(cases: dict, rounds: int, round_seconds: float, reseed=None) -> dict:
    """Time each zero-argument callable of `cases`; return {name: stats} with seconds per call.

    Each case is warmed up and calibrated once (calls per round so that a round takes about `round_seconds`),
    then the cases are timed in `rounds` interleaved rounds. `reseed(r)`, if given, is called before each case's
    round r, so that every case draws the same random numbers in round r whatever the calls per round.
    """
    calls = {}
    for name, fn in cases.items():
        for _ in range(3):  # warm-up: first-call allocations, caches, lazy imports
            fn()
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        calls[name] = max(1, min(1000, round(round_seconds / max(once, 1e-9))))
    samples = {name: [] for name in cases}
    faults = dict.fromkeys(cases, 0)
    for _ in range(rounds):
        for name, fn in cases.items():
            if reseed is not None:
                reseed(len(samples[name]))
            faults_before = _page_faults()
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / calls[name])
            faults[name] += _page_faults() - faults_before
    return {name: _stats(samples[name], calls[name], faults[name] / (rounds * calls[name])) for name in cases}


def _stats(samples: list, calls: int, faults: float) -> dict:
    quartiles = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 else samples * 3
    return {"median_s": statistics.median(samples), "iqr_s": quartiles[2] - quartiles[0], "rounds": len(samples),
            "calls_per_round": calls, "page_faults_per_call": faults}


def _page_faults() -> int:
    """Minor page faults of this process so far: memory the allocator had to map afresh (each costs ~1 µs)."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    except (ImportError, OSError):  # not on Windows
        return 0


# ------------------------------------------------------------------------------------------------ references
def loop_cutout(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Cutout with our semantics, one image at a time in Python (centre per image, square clipped at the borders)."""
    out = images.clone()
    _, _, h, w = images.shape
    for image in out:
        y1 = int(torch.randint(h, (1,), generator=generator)) - size // 2
        x1 = int(torch.randint(w, (1,), generator=generator)) - size // 2
        image[:, max(y1, 0):y1 + size, max(x1, 0):x1 + size] = 0  # slicing clips at the far borders
    return out


def loop_cutmix(images: torch.Tensor, labels: torch.Tensor, num_classes: int, generator: torch.Generator):
    """Per-sample CutMix with our semantics, one image at a time in Python (lambda, box and partner per image)."""
    out = images.clone()
    b, _, h, w = images.shape
    partner = torch.randperm(b, generator=generator).tolist()
    onehot = torch.nn.functional.one_hot(labels, num_classes).float()
    soft = torch.empty(b, num_classes)
    for i in range(b):
        box = rand_bbox(h, w, sample_lambda(1.0, 1, generator), generator)[0]
        x1, y1, x2, y2 = box.tolist()
        out[i, :, y1:y2, x1:x2] = images[partner[i], :, y1:y2, x1:x2]
        lam = float(lambda_from_boxes(box, h, w))
        soft[i] = lam * onehot[i] + (1 - lam) * onehot[partner[i]]
    return out, soft


def erasing_per_image(dtype: torch.dtype):
    """torchvision's v2.RandomErasing set up as an 8x8 Cutout (square, always applied, filled with 0)."""
    from torchvision.transforms import v2

    share = CUTOUT_SIZE * CUTOUT_SIZE / (SIDE * SIDE)
    erase = v2.RandomErasing(p=1.0, scale=(share, share), ratio=(1.0, 1.0), value=0)
    return lambda images: torch.stack([erase(image) for image in images])


def batch_inputs(dtype: torch.dtype, batch: int = BATCH, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        images = torch.randint(0, 256, (batch, CHANNELS, SIDE, SIDE), generator=g, dtype=torch.uint8)
    else:
        images = torch.randn(batch, CHANNELS, SIDE, SIDE, generator=g).to(dtype)
    return images, torch.randint(0, CLASSES, (batch,), generator=g)


# ------------------------------------------------------------------------------------------------ sections
def augmentation_section(dtype: torch.dtype, rounds: int, round_seconds: float, batch: int = BATCH,
                         per_image_references: bool = True) -> dict:
    from torchvision.transforms import v2

    images, labels = batch_inputs(dtype, batch)
    g = torch.Generator()

    def reseed(r: int):
        g.manual_seed(r)
        torch.manual_seed(r)  # torchvision draws from the global generator

    tv_cutmix = v2.CutMix(num_classes=CLASSES)
    erase = erasing_per_image(dtype)
    cases = {
        "clone": lambda: images.clone(),
        "cutout": lambda: cutout(images, CUTOUT_SIZE, generator=g),
        "cutmix per batch": lambda: cutmix(images, labels, CLASSES, generator=g),
        "cutmix per sample": lambda: cutmix(images, labels, CLASSES, per_sample=True, generator=g),
        "torchvision v2.CutMix": lambda: tv_cutmix(images, labels),
    }
    if per_image_references:
        cases.update({
            "torchvision v2.RandomErasing, per image": lambda: erase(images),
            "Python loop: cutout": lambda: loop_cutout(images, CUTOUT_SIZE, g),
            "Python loop: cutmix per sample": lambda: loop_cutmix(images, labels, CLASSES, g),
        })
    return measure(cases, rounds, round_seconds, reseed)


def throughput_section(rounds: int, round_seconds: float, device: str) -> dict:
    """Images per second of one training step at batch 128: forward, soft-target loss, backward and an optimiser
    step, on channels-last images and model, the way `train.train` steps.

    Model and optimiser come from `train.TrainConfig`'s defaults through `train.make_optimizer`, so this follows
    the training recipe; the epoch timings (`epoch_section`) run `train.train` itself.
    """
    from ..core.model import make_model
    from ..core.train import TrainConfig, make_optimizer

    cfg = TrainConfig()
    model = make_model(CLASSES, cfg.seed, cfg.widths, device).to(memory_format=torch.channels_last).train()
    optimizer, _ = make_optimizer(model, cfg, steps_per_epoch=1)
    images, labels = batch_inputs(torch.float32)
    images = images.to(device).contiguous(memory_format=torch.channels_last)
    targets = torch.nn.functional.one_hot(labels, CLASSES).float().to(device)

    def step():
        loss = soft_target_cross_entropy(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device != "cpu":
            torch.cuda.synchronize()

    stats = measure({"train step": step}, rounds, round_seconds)["train step"]
    stats["images_per_s"] = BATCH / stats["median_s"]
    return stats


def epoch_section(data, device: str, epochs: int) -> dict:
    """Wall time of `train.train` for `epochs` epochs with each augmentation (evaluation after each epoch included)."""
    from ..core.train import train

    result = {}
    for aug in AUGMENTATIONS:
        start = time.perf_counter()
        _, history = train(data, device=device, progress=False, augment=aug, epochs=epochs)
        result[aug] = {"wall_s": time.perf_counter() - start, "epoch_s": [e["seconds"] for e in history.epochs],
                       "test_acc": history.final["test_acc"]}
    return result


def steady_malloc() -> str:
    """Stop glibc from handing freed memory back to the system between calls; return what was done.

    By default glibc trims the top of its heap once enough is free and maps big blocks afresh, so whether a call
    pays for fresh pages (minor page faults, ~1 µs per 4 KiB) depends on what the cases before it freed: the same
    function then measured up to 1.5x slower or faster from one run to the next. A training loop keeps a large heap
    and rarely sees this, so for steady, comparable figures the benchmark keeps freed memory (as jemalloc or
    tcmalloc would). --system-malloc measures with the default behaviour instead.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        if libc.mallopt(m_trim_threshold, 1 << 30) == 1 and libc.mallopt(m_mmap_threshold, 32 << 20) == 1:
            return "glibc, freed memory kept (mallopt: trim threshold 1 GiB, mmap threshold 32 MiB)"
    except (OSError, AttributeError):
        pass
    return "system default (not glibc)"


def machine_info() -> dict:
    import torchvision

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "cores": os.cpu_count(), "usable_cores": usable, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "platform": platform.platform()}


def _busy(results: dict) -> str:
    """A note when other processes were using the CPUs as the run began (1-minute load average >= half the cores;
    afterwards the load includes the benchmark's own training, so only the load before it tells)."""
    cores = results["machine"]["usable_cores"] or 1
    load = results["load_before"][0] if results["load_before"] else 0.0
    return f"1-minute load average {load} on {cores} usable cores as it began" if load >= max(1.0, cores / 2) else ""


def _load() -> list:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


# ------------------------------------------------------------------------------------------------ report
def targets(results: dict) -> list[dict]:
    """The course's speed targets, each with its measured figure and whether it is met."""
    rows = []
    for dtype, cases in results["augment"].items():
        t = {name: s["median_s"] for name, s in cases.items()}
        for op in ("cutout", "cutmix per sample"):
            ratio = t[op] / t["clone"]
            rows.append({"target": f"{op} <= 3x clone ({dtype})", "measured": f"{ratio:.2f}x clone",
                         "value": ratio, "met": ratio <= 3.0})
        for op in ("cutout", "cutmix per sample"):
            speedup = t["torchvision v2.RandomErasing, per image"] / t[op]
            rows.append({"target": f"{op} >= 50x faster than per-image v2.RandomErasing ({dtype})",
                         "measured": f"{speedup:.0f}x faster", "value": speedup, "met": speedup >= 50.0})
        ratio = t["cutmix per batch"] / t["torchvision v2.CutMix"]
        rows.append({"target": f"cutmix per batch no slower than v2.CutMix ({dtype})",
                     "measured": f"{ratio:.2f}x v2.CutMix's time", "value": ratio, "met": ratio <= 1.0})
    ips = results["train"]["throughput"]["images_per_s"]
    rows.append({"target": "training throughput >= 1000 images/s", "measured": f"{ips:.0f} images/s",
                 "value": ips, "met": ips >= 1000})
    full = results["train"].get("full")
    if full is not None:
        total = sum(r["wall_s"] for r in full["runs"].values())
        what = f"{len(full['runs'])}-run comparison ({full['epochs']} epochs x {full['n_train']} images)"
        rows.append({"target": f"{what} <= 5 min",
                     "measured": f"{total / 60:.1f} min", "value": total, "met": total <= 300})
    return rows


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark results", "",
        f"Machine: {m['cpu']}, {m['usable_cores']} usable cores ({m['cores']} present), torch {m['torch']} "
        f"(torchvision {m['torchvision']}, CPU capability {m['cpu_capability']}), {m['torch_threads']} torch "
        f"threads, Python {m['python']}, {m['platform']}. Load average before / after: "
        f"{results['load_before']} / {results['load_after']} (a busy machine shows in the IQR column). "
        f"Allocator: {results['allocator']}.",
        *([f"**Warning: the machine was busy** ({results['busy']}): times are inflated, and timings with more than "
           "one thread are distorted by waits for descheduled threads; re-run on a quiet machine."]
          if results.get("busy") else []),
        f"Command: `{results['command']}`, {results['date']}, {results['seconds']:.0f} s in all.", "",
        f"## Augmentations: batch {BATCH} x {CHANNELS} x {SIDE} x {SIDE}", "",
        "Median time per call over interleaved rounds; IQR = inter-quartile range over the rounds (the noise); "
        "x clone = time / time of `clone()` of the same batch (the memory floor); page faults = fresh memory pages "
        "mapped per call (a cost the allocator decides, included in the time).", "",
        "| dtype | operation | median (µs) | IQR (µs) | x clone | page faults |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for dtype, cases in results["augment"].items():
        floor = cases["clone"]["median_s"]
        for name, s in cases.items():
            lines.append(f"| {dtype} | {name} | {s['median_s'] * 1e6:,.1f} | {s['iqr_s'] * 1e6:,.1f} | "
                         f"{s['median_s'] / floor:,.2f} | {s['page_faults_per_call']:,.1f} |")
    large = results["augment_large"]
    lines += ["", f"The same on a batch of {large['batch']} (float32): the part of the cost that comes per call (a few "
              "dozen small tensor operations) is shared by 8x more pixels, the part that comes per pixel (passes over "
              "the batch, now larger than the caches) is not.", "",
              "| operation | median (µs) | IQR (µs) | x clone |", "|---|---:|---:|---:|"]
    floor = large["float32"]["clone"]["median_s"]
    lines += [f"| {name} | {s['median_s'] * 1e6:,.1f} | {s['iqr_s'] * 1e6:,.1f} | {s['median_s'] / floor:,.2f} |"
              for name, s in large["float32"].items()]
    tr = results["train"]
    th = tr["throughput"]
    lines += ["", "## Training (CPU)", "",
              f"Course CNN, batch {BATCH}, channels-last, forward + backward + "
              f"{tr.get('optimizer', 'optimiser')} step: "
              f"**{th['images_per_s']:.0f} images/s** (median step {th['median_s'] * 1e3:.1f} ms, "
              f"IQR {th['iqr_s'] * 1e3:.1f} ms).", "",
              f"One epoch of `train.train` on {tr['n_train']} training images (evaluation on {tr['n_test']} test "
              f"and the clean-train subset included), data set `{tr['dataset']}`:", "",
              "| augmentation | wall time (s) | training images/s (wall) |", "|---|---:|---:|"]
    lines += [f"| {aug} | {r['wall_s']:.2f} | {tr['n_train'] / r['wall_s']:.0f} |" for aug, r in tr["epoch"].items()]
    full = tr.get("full")
    one_epoch = sum(r["wall_s"] for r in tr["epoch"].values())
    if full is not None:
        lines += ["", f"Full {len(full['runs'])}-run comparison, {full['epochs']} epochs x {full['n_train']} images "
                      f"each: "
                      f"**{sum(r['wall_s'] for r in full['runs'].values()) / 60:.1f} min** "
                      "(" + ", ".join(f"{aug} {r['wall_s']:.0f} s, test acc {r['test_acc']:.1%}"
                                      for aug, r in full["runs"].items()) + ")."]
    elif results["quick"]:
        lines += ["", "Full comparison not run (--quick: a smoke run on a small data set)."]
    else:
        lines += ["", f"Full comparison not run (--skip-full); {tr['default_epochs']} x the epochs "
                      f"above estimates it at {tr['default_epochs'] * one_epoch / 60:.1f} min."]
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {r['target']} | {r['measured']} | {'yes' if r['met'] else 'no'} |" for r in results["targets"]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ main
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cutmix_course bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: few rounds, a 256-image epoch, no full comparison (written to reports/bench-quick)")
    p.add_argument("--skip-full", action="store_true",
                   help="skip the full comparison of the runs of make trace (minutes)")
    p.add_argument("--out", default=None, help="folder for RESULTS.md and results.json (default: bench/)")
    p.add_argument("--rounds", type=int, default=None, help="timing rounds per case (default 21; quick 3)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    p.add_argument("--device", default="cpu", help="device for the training measurements (default: cpu)")
    p.add_argument("--system-malloc", action="store_true",
                   help="keep glibc's default trimming of freed memory (noisier; see steady_malloc)")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit(f"--threads must be a positive integer, got {args.threads}")
        torch.set_num_threads(args.threads)
    rounds = args.rounds or (3 if args.quick else 21)
    if rounds < 1:
        raise SystemExit(f"--rounds must be a positive integer, got {rounds}")
    round_seconds = 0.002 if args.quick else 0.02
    out = Path(args.out or ("reports/bench-quick" if args.quick else "bench"))
    started = time.perf_counter()
    allocator = "system default (--system-malloc)" if args.system_malloc else steady_malloc()
    results = {"command": "python -m cutmix_course bench " + " ".join(argv if argv is not None else sys.argv[2:]),
               "date": time.strftime("%Y-%m-%d %H:%M"), "load_before": _load(), "machine": machine_info(),
               "quick": args.quick, "allocator": allocator, "augment": {}}

    for dtype in (torch.float32, torch.uint8):
        name = str(dtype).removeprefix("torch.")
        print(f"augmentations, {name} ...", flush=True)
        results["augment"][name] = augmentation_section(dtype, rounds, round_seconds)

    # the same functions on 8x more images: separates the cost per call (a few dozen small tensor operations)
    # from the cost per pixel (passes over the batch)
    print(f"augmentations, float32, batch {LARGE_BATCH} ...", flush=True)
    results["augment_large"] = {"batch": LARGE_BATCH, "float32": augmentation_section(
        torch.float32, rounds, round_seconds, LARGE_BATCH, per_image_references=False)}

    from ..core.data import load_dataset
    from ..core.train import TrainConfig

    print("training throughput ...", flush=True)
    n_train, n_test = (256, 128) if args.quick else (None, None)
    data = load_dataset("synthetic", n_train=n_train, n_test=n_test)
    default_epochs = TrainConfig().epochs
    results["train"] = {"dataset": data.name, "n_train": int(data.train_images.shape[0]),
                        "n_test": int(data.test_images.shape[0]), "default_epochs": default_epochs,
                        "optimizer": TrainConfig().optimizer,
                        "throughput": throughput_section(max(3, rounds // 2), 10 * round_seconds, args.device)}
    print("one epoch per augmentation ...", flush=True)
    results["train"]["epoch"] = epoch_section(data, args.device, epochs=1)
    if not (args.quick or args.skip_full):
        print(f"full comparison: {len(AUGMENTATIONS)} x {default_epochs} epochs ...", flush=True)
        results["train"]["full"] = {"epochs": default_epochs, "n_train": results["train"]["n_train"],
                                    "runs": epoch_section(data, args.device, epochs=default_epochs)}
    results["machine"]["torch_threads_after"] = torch.get_num_threads()  # training may set its own
    results["targets"] = targets(results)
    results["load_after"] = _load()
    results["busy"] = _busy(results)
    results["seconds"] = time.perf_counter() - started

    out.mkdir(parents=True, exist_ok=True)
    text = markdown(results)
    (out / "RESULTS.md").write_text(text)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print("\n" + text + f"\nWritten to {out / 'RESULTS.md'} and {out / 'results.json'}")
    return 0

