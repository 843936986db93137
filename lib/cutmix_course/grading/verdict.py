"""The verdict, computed where no student code runs: hidden tests in the grader's process, the student's functions
called through a narrow channel into their sandboxed kernel.

A test cell's hidden region is course code (restored from the gradebook). It runs here, never in the student's
kernel, so no student code can see it, patch what it compares with, or echo it into the feedback. It reaches the
student through `notebook.hidden.student` (a function, a value, course code run there); each request crosses as plain
data (notebook.wire) and every answer is decoded into fresh objects of the declared kinds: a tensor subclass, a lying
`__eq__` or a lazy list cannot cross. Comparisons, tolerances and properties are all checked on this side, on what was
sent and what came back.

What the channel cannot prove, and who does: that a function did not call a reference (the answer-code review and,
as a teaching aid, the tripwire in the kernel). That an input was left unchanged is checked on what the kernel says
the call left of its arguments (a kernel can lie about it, as about anything: the review reads the code).
"""
from __future__ import annotations

import contextlib
import io
from typing import Callable

import torch

from ..notebook import hidden, wire

REPLY_LIMIT = 256 * 2**20  # characters of one reply (base64): a batch of 400 float64 images is about 10 MiB


class StudentCodeError(Exception):
    """The student's code raised `ename` (its type's name, as the kernel reported it) with message `evalue`."""

    def __init__(self, ename: str, evalue: str):
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue = ename, evalue


class ChannelError(Exception):
    """The kernel's answer was not a reply of the channel (a broken or hostile kernel): the test fails."""


class KernelChannel:
    """The grader's end of the channel: `request(text) -> text` sends one request to the student's kernel (see
    preprocessors.guarded_execute) and returns its reply."""

    def __init__(self, request: Callable[[str], str], graded: str | None = None):
        self._request, self._graded = request, graded

    def graded_id(self) -> str | None:
        return self._graded

    def ask(self, message: dict) -> dict:
        try:
            reply = wire.loads(self._request(wire.dumps(message)), REPLY_LIMIT)
        except wire.WireError as exc:
            raise ChannelError(f"the kernel's reply is not plain data: {exc}") from None
        if type(reply) is not dict:
            raise ChannelError("the kernel's reply is not a reply")
        error = reply.get("error")
        if error is not None:
            if not (type(error) is list and len(error) == 2 and all(type(e) is str for e in error)):
                raise ChannelError("the kernel's error reply is malformed")
            raise StudentCodeError(error[0][:100], error[1][:2000])
        return reply

    def value(self, name: str):
        node = self.ask({"op": "value", "name": name}).get("ok")
        if type(node) is dict and node.get("t") == "function":
            return StudentFunction(self, name)
        try:
            return wire.decode(node)
        except wire.WireError as exc:
            raise ChannelError(f"{name}: {exc}") from None

    def function(self, name: str):
        found = self.value(name)
        if not isinstance(found, StudentFunction):
            raise TypeError(f"{name} must be a function, got a {type(found).__name__}")
        return found

    def run(self, code: str) -> None:
        self.ask({"op": "run", "code": code})


class StudentFunction:
    """A student's function as the grader sees it: called with plain data, answering plain data."""

    def __init__(self, channel: KernelChannel, name: str):
        self._channel, self.name = channel, name

    def __repr__(self) -> str:
        return f"<the student's {self.name}>"

    def __call__(self, *args, **kwargs):
        return self.many([(args, kwargs)])[0]

    def many(self, calls) -> list:
        """Call the function once per (args, kwargs), in order, in one round trip; generators passed are advanced
        as the student's calls advanced them."""
        calls = [(tuple(args), dict(kwargs)) for args, kwargs in calls]
        generators: list = []
        request = {"op": "call", "name": self.name, "calls": wire.encode(calls, generators)}
        reply = self._channel.ask(request)
        try:
            results = wire.decode(reply.get("ok"))
            states = [wire.decode({"t": "generator", "state": s}) for s in reply.get("generators", [])]
            grads = [_grads(g) for g in reply.get("grads", [])]
            inputs = [[wire.decode(t) for t in call] for call in reply.get("inputs", [])]
        except (wire.WireError, TypeError, AttributeError) as exc:
            raise ChannelError(f"{self.name}: {exc}") from None
        if type(results) is not list or len(results) != len(calls) or len(states) != len(generators) \
                or len(grads) != len(calls) or len(inputs) != len(calls):
            raise ChannelError(f"{self.name}: the reply does not answer the calls sent")
        for mine, theirs in zip(generators, states):
            mine.set_state(theirs.get_state())
        for call, after in zip(calls, inputs):
            sent = list(hidden.tensors_in(call))
            if len(after) != len(sent) or not all(isinstance(t, torch.Tensor) for t in after):
                raise ChannelError(f"{self.name}: the reply does not say what the call left of its inputs")
            hidden.unchanged_inputs(self.name, [t.detach() for t in sent], after)
        return [_with_gradient(r, call, g) for r, call, g in zip(results, calls, grads)]


def _grads(node):
    return None if node is None else [wire.decode(g) for g in node]


def _with_gradient(result, call, grads):
    """A scalar result whose backward() gives the argument tensors (that require grad) the gradients the kernel
    computed: result + sum(leaf * g) - sum(leaf * g).detach() has the value of result, to the last bit."""
    leaves = [t for t in hidden.tensors_in(call) if t.requires_grad]
    if grads is None or not isinstance(result, torch.Tensor) or len(grads) != len(leaves):
        return result
    surrogate = result.detach()
    for leaf, grad in zip(leaves, grads):
        if grad is not None and grad.shape == leaf.shape:
            link = (leaf * grad.to(leaf.dtype)).sum()
            surrogate = surrogate + (link - link.detach()).to(surrogate.dtype)
    return surrogate


def run_hidden_tests(code: str, channel: KernelChannel, fatal: tuple = ()) -> tuple[str, str] | None:
    """Run a hidden-test region here with `notebook.hidden.student` reaching the student through `channel`.
    Returns None when every assertion held, else (ename, evalue) of the first failure; the exception types in
    `fatal` (the kernel died) propagate. What the tests print is dropped: it is course code's, and may show test
    inputs."""
    namespace = {"__name__": "__hidden_tests__"}
    try:
        with hidden.using(channel), contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, "<hidden tests>", "exec"), namespace)  # noqa: S102 - course code from the gradebook
    except fatal:
        raise
    except StudentCodeError as exc:
        return exc.ename, exc.evalue
    except Exception as exc:  # noqa: BLE001 - a failed assertion, a channel error, a student value of a wrong kind
        return type(exc).__name__, str(exc)
    return None
