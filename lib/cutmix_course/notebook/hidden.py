"""What a hidden test reaches of the student's work, and the kernel's end of the grader's channel.

A hidden test names no student function directly. It asks `student.function("cutout_one")` (a callable),
`student.value("hidden_share")` (plain data), `student.run(code)` (course code run where the student's code lives,
for example to swap in a known-good helper) or `student.graded_id()` (whom the grader grades, None outside grading).
A call through `student.function` fails with "... modified its input" when the function changed a tensor it was
given, so no test has to check that itself. In a plain kernel (the instructor's notebook, nbval, plain
`nbgrader autograde`) these read and run in the notebook's own namespace. While the course's grader runs the hidden
tests in its own process, where no student code runs, it installs its channel (grading.verdict) with `using()`: the
same calls then go to the student's sandboxed kernel through `serve`, and come back as plain data (notebook.wire).

Either way a student function runs under the tripwire of its exercise (notebook.exercises): a teaching aid that
catches the plain call of a reference, not a guarantee (the grader's review of the answer code is that).
"""
from __future__ import annotations

import contextlib
import contextvars

from . import wire
from .exercises import FORBIDDEN
from .tripwire import forbid_reference

REQUEST_LIMIT = 256 * 2**20  # characters of one request: the largest test input, base64, with room to spare
_channel: contextvars.ContextVar = contextvars.ContextVar("student_channel", default=None)


def _tripwire(name: str):
    """The tripwire of exercise `name` (nothing for a function that is no exercise of the course)."""
    return forbid_reference(*FORBIDDEN[name], what=name) if FORBIDDEN.get(name) else contextlib.nullcontext()


def _namespace() -> dict:
    import __main__

    return __main__.__dict__


class _Local:
    """The student's work in this very kernel: the notebook's namespace."""

    def value(self, name: str):
        namespace = _namespace()
        if name not in namespace:
            raise NameError(f"name {name!r} is not defined: run the cell that defines it")
        return namespace[name]

    def function(self, name: str):
        found = self.value(name)
        if not callable(found):
            raise TypeError(f"{name} must be a function, got a {type(found).__name__}")
        return LocalFunction(name, found)

    def run(self, code: str) -> None:
        exec(compile(code, "<course code>", "exec"), _namespace())  # noqa: S102 - the course's own code

    def graded_id(self) -> str | None:
        from . import environment

        return environment.get(environment.STUDENT) or None


def unchanged_inputs(name: str, sent: list, after: list) -> None:
    """Raise AssertionError when a tensor argument differs after the call from what was sent (same order)."""
    import torch

    for before, now in zip(sent, after):
        if before.shape != now.shape or before.dtype != now.dtype or not torch.equal(before, now):
            raise AssertionError(f"{name} modified its input")


class LocalFunction:
    """A student function called under its exercise's tripwire; `many` makes several calls in one go (over the
    grader's channel, one round trip)."""

    def __init__(self, name: str, function):
        self.name, self._function = name, function

    def __call__(self, *args, **kwargs):
        sent = [t.detach().clone() for t in tensors_in((args, kwargs))]
        with _tripwire(self.name):
            result = self._function(*args, **kwargs)
        unchanged_inputs(self.name, sent, [t.detach() for t in tensors_in((args, kwargs))])
        return result

    def many(self, calls) -> list:
        return [self(*args, **kwargs) for args, kwargs in calls]


class _Student:
    """`student`: the channel the grader installed, else this kernel's namespace."""

    def _where(self):
        return _channel.get() or _Local()

    def value(self, name: str):
        return self._where().value(name)

    def function(self, name: str):
        return self._where().function(name)

    def run(self, code: str) -> None:
        self._where().run(code)

    def graded_id(self) -> str | None:
        return self._where().graded_id()


student = _Student()


@contextlib.contextmanager
def using(channel):
    """Within the block, `student` reaches the student through `channel` (the grader's side)."""
    token = _channel.set(channel)
    try:
        yield
    finally:
        _channel.reset(token)


# ------------------------------------------------------------------------------------------------ kernel side
def serve(request: str) -> str:
    """Answer one request of the grader in the student's kernel: `value`, `call` or `run` (see grading.verdict).
    What it returns is a reply of plain data; any exception becomes a reply naming it (type name and message)."""
    try:
        message = wire.loads(request, REQUEST_LIMIT)
        op = message.get("op")
        if op == "value":
            reply = {"ok": wire.encode(_Local().value(str(message["name"])))}
        elif op == "call":
            reply = _call(str(message["name"]), message["calls"])
        elif op == "run":
            _Local().run(str(message["code"]))
            reply = {"ok": wire.encode(None)}
        else:
            raise wire.WireError(f"unknown request {op!r}")
    except BaseException as exc:  # noqa: BLE001 - whatever the student's code raised goes back as data
        reply = {"error": [type(exc).__name__, str(exc)[:2000]]}
    return wire.dumps(reply)


def _call(name: str, calls_node) -> dict:
    function = _Local().function(name)
    generators: list = []
    calls = wire.decode(calls_node, generators)
    if type(calls) is not list or not all(type(c) is tuple and len(c) == 2 and type(c[0]) is tuple
                                          and type(c[1]) is dict for c in calls):
        raise wire.WireError("calls must be a list of (args tuple, kwargs dict)")
    results, grads, inputs = [], [], []
    with _tripwire(name):  # encoding inside: a lazy result computes here
        for args, kwargs in calls:
            result = function._function(*args, **kwargs)
            results.append(wire.encode(result))
            grads.append(_gradients(result, (args, kwargs)))
            inputs.append([wire.encode(t) for t in tensors_in((args, kwargs))])  # as the call left them
    states = [wire.encode(g)["state"] for g in generators]
    return {"ok": {"t": "list", "v": results}, "generators": states, "grads": grads, "inputs": inputs}


def _gradients(result, arguments) -> list | None:
    """d result / d leaf for each argument tensor that requires grad, when the result is a scalar tensor that
    depends on them (so the grader's side can check a backward pass); None otherwise."""
    import torch

    leaves = [t for t in tensors_in(arguments) if t.requires_grad]
    if not leaves or not isinstance(result, torch.Tensor) or result.numel() != 1 or not result.requires_grad:
        return None
    found = torch.autograd.grad(result.sum(), leaves, allow_unused=True)
    return [wire.encode(g) for g in found]


def tensors_in(value):
    """The tensors in `value` (nested tuples, lists and dict values), in order: both ends of the channel walk
    arguments this way, so they agree on which is which."""
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)
