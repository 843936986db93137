"""The tripwire: `forbid_reference` fails a check whose code calls one of the course's reference implementations.

The public checks run the student's function under it (a teaching aid: "you called the reference"), and so do the
hidden tests in the grading kernel; what each exercise may not call is `exercises.FORBIDDEN`. It imports nothing
beyond the standard library: code in the student's own process can switch it off, so it decides no grade alone.
"""
from __future__ import annotations

import sys
import threading
import types


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
                     f"'cutmix_course.core.augment.cutout')")


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

        with forbid_reference("cutmix_course.core.augment.cutout", "torchvision.transforms.v2.RandomErasing"):
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
