"""The notebooks' one data setting: photographs where the student has them, the embedded shapes otherwise.

`DATASET` in each notebook's set-up cell (default "auto") and `$CUTMIX_DATASET` for all of them select the data set;
`course_data` loads it and prints one line saying which and why. Downloading is opt-in (`download_cifar10`, the
`photos` command); while a grader runs a notebook it is always the embedded set.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.data import COURSE_TEST, COURSE_TRAIN, DataSplit, cifar10_present, load_dataset
from . import environment


def default_cifar_root() -> Path:
    """The course's data folder: $CUTMIX_COURSE_DATA, default ~/.cache/cutmix_course."""
    return Path(environment.get(environment.COURSE_DATA) or Path.home() / ".cache" / "cutmix_course")


SETTINGS = ("auto", "synthetic", "cifar10", "cifar10:FOLDER", "npz:FILE")
DOWNLOAD_HINT = "python -m cutmix_course photos --download"


def resolve_setting(setting: str = "auto") -> tuple[str, str]:
    """The data set the notebooks' one setting selects: (name for `load_dataset`, one line that says why).

    While a grader runs the notebook (nbgrader or the course's grader) it is always the embedded set: a grade must not
    depend on what the grading machine holds or on the setting a student left in a notebook. Otherwise `setting` is
    the notebook's DATASET variable; "auto" defers to $CUTMIX_DATASET when it is set, and else is CIFAR-10 when the
    course's data folder ($CUTMIX_COURSE_DATA, default ~/.cache/cutmix_course) holds it, or the embedded set.
    Nothing is downloaded here: `python -m cutmix_course photos --download` does that, once.
    """
    if not isinstance(setting, str) or not setting:
        raise TypeError(f"DATASET must be a string, one of {SETTINGS}, got {setting!r}")
    if environment.grading():
        return "synthetic", ("data: the embedded shapes "
                             "(a grader is running this notebook: grades never depend on photos)")
    source = "DATASET"
    if setting == "auto" and environment.get(environment.DATASET):
        setting, source = environment.get(environment.DATASET), f"${environment.DATASET}"
    if setting != "auto":
        if setting not in ("synthetic", "cifar10") and not setting.startswith(("cifar10:", "npz:")):
            raise ValueError(f"{source} = {setting!r}: expected one of {SETTINGS}")
        return setting, f"data: {setting} (set by {source})"
    root = default_cifar_root()
    if cifar10_present(root):
        return "cifar10", f"data: CIFAR-10 photographs from {root}"
    return "synthetic", (f"data: the embedded shapes, since {root} holds no CIFAR-10 (for photographs: run "
                         f"`{DOWNLOAD_HINT}` once, or set DATASET = \"cifar10:FOLDER\" to a copy you have)")


def course_data(setting: str = "auto", *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                verbose: bool = True) -> DataSplit:
    """Load the data set the notebooks' DATASET setting selects (see `resolve_setting`) and print one line saying which.

    Photographs (CIFAR-10 or an npz of them) give the course 5000 training and 1000 test images by default, like the
    embedded set; `n_train` / `n_test` shrink either.
    """
    name, why = resolve_setting(setting)
    root = default_cifar_root()
    if name.startswith("cifar10:"):
        name, root = "cifar10", name[len("cifar10:"):]
    data = load_dataset(name, root=root, n_train=n_train or COURSE_TRAIN, n_test=n_test or COURSE_TEST, seed=seed)
    if verbose:
        print(f"{why}: {data.train_images.shape[0]} training and {data.test_images.shape[0]} test images, "
              f"classes {', '.join(data.classes)}")
    return data


def download_cifar10(root=None) -> Path:
    """Download CIFAR-10 through torchvision into the course's data folder (opt-in; needs internet, 170 MB)."""
    from torchvision.datasets import CIFAR10

    root = Path(root or default_cifar_root()).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        CIFAR10(str(root), train=train, download=True)
    return root


def main(argv=None) -> int:
    """`python -m cutmix_course photos [--download] [--root DIR]`: what \"auto\" finds; the opt-in download."""
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
