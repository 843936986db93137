"""The integrity tripwire of the hidden tests: `forbid_reference` fails a test whose code calls the reference.

Kernel side: it runs inside the student's grading kernel (hidden tests do `from cutmix_course.grading.integrity import
forbid_reference`, and import nothing else of the grader), so it imports nothing beyond the standard library.
"""
from __future__ import annotations

import sys
import threading
import types


_SOFTMAX = ("torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax", "torch.nn.Softmax",
            "torch.special.softmax", "torch._softmax", "torch.log_softmax", "torch.Tensor.log_softmax",
            "torch.nn.functional.log_softmax", "torch.nn.LogSoftmax", "torch.special.log_softmax")
_CUTOUT = ("cutmix_course.augment.cutout", "cutmix_course.augment.Cutout", "cutmix_course.augment.box_mask",
           "cutmix_course.augment.centered_boxes", "cutmix_course.augment._clip", "cutmix_course.augment._box_spans", "cutmix_course.augment._hole_spans", "cutmix_course.augment._fill",
           "cutmix_course.train.occlude", "torchvision.transforms.v2.RandomErasing",
           "torchvision.transforms.v2.functional.erase", "torchvision.transforms.RandomErasing",
           "torchvision.transforms.functional.erase")

# What each exercise may not call, by dotted name: every function and class of the course that implements it (private
# helpers included) and the library functions that compute its answer outright, C functions and methods included. The
# exercise's prose lists the same names (a test checks it); the hidden tests and the public checks watch them.
# Left out: augment._arange and augment._box_limits, cached constants that compute no part of an answer.
FORBIDDEN = {
    "channel_mean_std": ("cutmix_course.data.channel_stats", "cutmix_course.data.summary"),
    "normalize": ("cutmix_course.data.DataSplit.normalize", "torchvision.transforms.v2.Normalize",
                  "torchvision.transforms.v2.functional.normalize", "torchvision.transforms.Normalize",
                  "torchvision.transforms.functional.normalize"),
    "cutout_one": _CUTOUT,
    "cutout_batch": _CUTOUT,
    "sample_box": ("cutmix_course.augment.rand_bbox", "cutmix_course.augment._rand_bbox",
                   "cutmix_course.augment._signed_half_sides", "cutmix_course.augment.centered_boxes",
                   "cutmix_course.augment._clip", "cutmix_course.augment.cutmix",
                   "cutmix_course.augment.CutMix", "torchvision.transforms.v2.CutMix"),
    "cutmix_batch": ("cutmix_course.augment.cutmix", "cutmix_course.augment.CutMix", "cutmix_course.augment.paste_boxes",
                     "cutmix_course.augment._paste_boxes", "cutmix_course.augment._blend",
                     "cutmix_course.augment.lambda_from_boxes", "cutmix_course.augment.box_area",
                     "cutmix_course.augment.box_mask", "cutmix_course.augment._box_spans",
                     "cutmix_course.augment.rand_bbox", "cutmix_course.augment._rand_bbox",
                     "torchvision.transforms.v2.CutMix"),
    "cutmix_per_sample": ("cutmix_course.augment.cutmix", "cutmix_course.augment.CutMix",
                          "cutmix_course.augment.paste_boxes", "cutmix_course.augment._paste_boxes",
                          "cutmix_course.augment._blend", "cutmix_course.augment.lambda_from_boxes",
                          "cutmix_course.augment.box_area", "cutmix_course.augment.box_mask",
                          "cutmix_course.augment._box_spans", "cutmix_course.augment.rand_bbox",
                          "cutmix_course.augment._rand_bbox", "cutmix_course.augment._signed_half_sides",
                          "cutmix_course.augment.centered_boxes", "cutmix_course.augment._clip",
                          "torchvision.transforms.v2.CutMix"),
    "soft_target_loss": ("cutmix_course.augment.soft_target_cross_entropy", "torch.nn.functional.cross_entropy",
                         "torch.nn.CrossEntropyLoss", "torch.nn.functional.nll_loss", "torch.nn.NLLLoss",
                         "torch._C._nn.cross_entropy_loss", "torch._C._nn.nll_loss", "torch._C._nn.nll_loss_nd"),
    "softmax": _SOFTMAX,
    "top_k": _SOFTMAX,
}


class ReferenceUsedError(Exception):
    """Raised by `forbid_reference` when the student's code called a reference implementation."""


def _resolve(target):
    if not isinstance(target, str):
        return target, f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', target)}"
    import importlib

    parts = target.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            for name in parts[i:]:
                obj = getattr(obj, name)
        except (ImportError, AttributeError):
            continue
        return obj, target
    raise ValueError(f"forbid_reference: cannot import {target!r} (expected a dotted name such as "
                     f"'cutmix_course.augment.cutout')")


def _code_objects(obj):
    """Code objects of a function, or of every method a class defines itself."""
    funcs = []
    if isinstance(obj, type):
        for value in vars(obj).values():
            value = getattr(value, "__func__", value)  # static/class methods
            if isinstance(value, property):
                value = value.fget
            funcs.append(value)
    else:
        funcs.append(obj)
    codes = set()
    for f in funcs:
        while hasattr(f, "__wrapped__"):
            codes.add(getattr(f, "__code__", None))
            f = f.__wrapped__
        codes.add(getattr(f, "__code__", None))
    codes.discard(None)
    return codes


class forbid_reference:  # noqa: N801 (used like a function: `with forbid_reference(...):`)
    """Context manager for hidden tests: fail if the code run inside calls one of the reference implementations.

        with forbid_reference("cutmix_course.augment.cutout", "torchvision.transforms.v2.RandomErasing"):
            result = cutout_batch(images, 8, generator=g)   # the student's function

    Targets are functions or classes (every method the class defines), as objects or dotted names, and C functions
    and methods (`torch.softmax`, `torch.Tensor.softmax`: a method matches whatever instance it is called on). A
    profile hook watches every Python call and every call of a C function made while the block runs; a call into
    a target, by whatever name or alias the student reached it, raises `ReferenceUsedError` at the end of the
    block with a message the student sees in the feedback, so that test cell scores 0. Call the reference for the
    expected values *outside* the block. It catches delegation (calling the reference); it does not catch a
    verbatim copy of the reference's source, and code that deliberately tampers with the interpreter can defeat
    any in-process check (the hook notices if it was removed and fails the test then too).
    """

    def __init__(self, *targets, what: str = "your code"):
        if not targets:
            raise ValueError("forbid_reference needs at least one target (a function, a class or a dotted name)")
        self.what = what
        self.codes = {}          # Python code object -> name
        self.c_functions = []    # (C function object, name): watched through c_call events, by identity
        self.c_methods = {}      # (method name, defining class) -> name: a C method reached through any instance
        self.caches = []         # functools caches of targets: emptied on entry, so a call runs (and shows) the code
        for target in targets:
            obj, name = _resolve(target)
            if callable(getattr(obj, "cache_clear", None)):
                self.caches.append(obj)
            if isinstance(obj, types.BuiltinFunctionType):  # e.g. torch.softmax
                self.c_functions.append((obj, name))
            elif isinstance(obj, (types.MethodDescriptorType, types.WrapperDescriptorType)):  # e.g. Tensor.softmax
                self.c_methods[(obj.__name__, obj.__objclass__)] = name
            else:
                codes = _code_objects(obj)
                if not codes:
                    raise ValueError(f"forbid_reference: cannot watch {name!r} (neither Python code nor a C "
                                     f"function or method: {type(obj).__name__})")
                for code in codes:
                    self.codes[code] = name
        self.hits: list[str] = []

    def _hit(self, name: str) -> None:
        if name not in self.hits:
            self.hits.append(name)

    def _profile(self, frame, event, arg):
        if event == "call":
            name = self.codes.get(frame.f_code)
            if name is not None:
                self._hit(name)
        elif event == "c_call":
            for function, name in self.c_functions:
                if arg is function:
                    self._hit(name)
            if self.c_methods:
                owner = getattr(arg, "__self__", None)
                for (method, cls), name in self.c_methods.items():
                    if getattr(arg, "__name__", None) == method and isinstance(owner, cls):
                        self._hit(name)

    def __enter__(self):
        for cached in self.caches:  # a cache hit runs no Python frame; an empty cache makes the first call visible
            cached.cache_clear()
        self._previous = sys.getprofile()
        self._hook = self._profile  # one bound-method object, so that `is` below can recognise it
        sys.setprofile(self._hook)
        threading.setprofile(self._hook)
        return self

    def __exit__(self, exc_type, exc, tb):
        removed = sys.getprofile() is not self._hook
        sys.setprofile(self._previous)
        threading.setprofile(None)
        if self.hits:
            raise ReferenceUsedError(
                f"integrity: {self.what} called the reference implementation {', '.join(self.hits)} instead of "
                f"implementing it, so this test scores 0. Write the computation yourself.")
        if removed:
            raise ReferenceUsedError("integrity: the call-tracing of this test was switched off by the code under "
                                     "test, so this test scores 0.")
        return False
