"""Plain data on the wire between the grader and a student's kernel: what a student's function may take and return.

A value is encoded as JSON with a type tag on every node, and decoded into *fresh* objects of exactly the tagged
type: None, bool, int, float, str, tuple, list, dict with str keys, a tensor (dtype, shape and raw bytes; a plain
`torch.Tensor`, never a subclass) and a `torch.Generator` (its state). Nothing else crosses: an object with a lying
`__eq__`, a tensor subclass or a lazy list is either read into plain data on its own side or refused. The decoder
checks every node (tag, field types, byte count against shape and dtype, nesting depth), so the grader can decode what
a hostile kernel sends.
"""
from __future__ import annotations

import base64
import json
import math

import torch

DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64)}
MAX_DEPTH = 32


class WireError(ValueError):
    """A value that is not plain data of the kinds above, or a message that does not decode."""


def encode(value, generators: list | None = None) -> dict:
    """`value` as a tagged JSON-able tree. With a list `generators`, each generator met is appended to it once (in
    order) and a generator met again is sent as a reference to its first appearance."""
    return _encode(value, generators, 0)


def _encode(value, generators, depth):
    if depth > MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH} levels")
    if value is None:
        return {"t": "none"}
    if type(value) is bool:
        return {"t": "bool", "v": value}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"t": "int", "v": str(int(value))}
    if isinstance(value, float):
        return {"t": "float", "v": repr(float(value))}
    if isinstance(value, str):
        return {"t": "str", "v": str(value)}
    if isinstance(value, torch.Generator):
        if generators is None:
            return {"t": "generator", "state": _b64(value.get_state())}
        for i, seen in enumerate(generators):  # one generator passed twice stays one generator on the other side
            if seen is value:
                return {"t": "generator", "ref": i}
        generators.append(value)
        return {"t": "generator", "state": _b64(value.get_state())}
    if isinstance(value, torch.Tensor):
        plain = torch.Tensor.detach(value).cpu().contiguous()
        if plain.dtype not in DTYPES.values():
            raise WireError(f"tensor dtype {plain.dtype} cannot cross (expected one of {sorted(DTYPES)})")
        raw = plain.reshape(-1).view(torch.uint8).numpy().tobytes() if plain.numel() else b""
        return {"t": "tensor", "dtype": str(plain.dtype).removeprefix("torch."), "shape": list(plain.shape),
                "data": base64.b64encode(raw).decode("ascii"), "grad": bool(value.requires_grad)}
    if isinstance(value, (tuple, list)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {"t": kind, "v": [_encode(v, generators, depth + 1) for v in list(value)]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise WireError("only dicts with str keys can cross")
        return {"t": "dict", "v": [[str(k), _encode(v, generators, depth + 1)] for k, v in dict(value).items()]}
    if callable(value):
        return {"t": "function"}
    raise WireError(f"a {type(value).__name__} cannot cross (plain data only: numbers, strings, tensors, "
                    "tuples, lists, dicts)")


def _b64(tensor: torch.Tensor) -> str:
    return base64.b64encode(tensor.numpy().tobytes()).decode("ascii")


def decode(node, generators: list | None = None):
    """The fresh value a tagged tree stands for; generators decoded are appended to `generators` when given.
    Raises WireError on anything malformed."""
    return _decode(node, generators, 0)


def _field(node: dict, key: str, kind: type):
    value = node.get(key)
    if type(value) is not kind:
        raise WireError(f"field {key!r} of a {node.get('t')!r} node must be a {kind.__name__}")
    return value


def _decode(node, generators, depth):
    if depth > MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH} levels")
    if type(node) is not dict or type(node.get("t")) is not str:
        raise WireError("every node must be an object with a type tag 't'")
    tag = node["t"]
    if tag == "none":
        return None
    if tag == "bool":
        return bool(_field(node, "v", bool))
    if tag == "int":
        text = _field(node, "v", str)
        if len(text) > 4300 or not text.lstrip("-").isdigit():
            raise WireError("an int node must hold decimal digits")
        return int(text)
    if tag == "float":
        text = _field(node, "v", str)
        if len(text) > 40:
            raise WireError("a float node must hold a float's repr")
        try:
            return float(text)
        except ValueError:
            raise WireError(f"not a float: {text[:40]!r}") from None
    if tag == "str":
        return str(_field(node, "v", str))
    if tag in ("tuple", "list"):
        items = [_decode(v, generators, depth + 1) for v in _field(node, "v", list)]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict":
        pairs = _field(node, "v", list)
        if not all(type(p) is list and len(p) == 2 and type(p[0]) is str for p in pairs):
            raise WireError("a dict node holds [str key, value] pairs")
        return {k: _decode(v, generators, depth + 1) for k, v in pairs}
    if tag == "tensor":
        return _decode_tensor(node)
    if tag == "generator" and "ref" in node:
        ref = _field(node, "ref", int)
        if generators is None or not 0 <= ref < len(generators):
            raise WireError(f"generator reference {ref} to no generator met before")
        return generators[ref]
    if tag == "generator":
        generator = torch.Generator()
        state = torch.frombuffer(bytearray(_bytes(node, "state")), dtype=torch.uint8).clone()
        try:
            generator.set_state(state)
        except RuntimeError as exc:
            raise WireError(f"not a generator state: {exc}") from None
        if generators is not None:
            generators.append(generator)
        return generator
    raise WireError(f"unknown type tag {tag!r}")


def _bytes(node: dict, key: str) -> bytes:
    try:
        return base64.b64decode(_field(node, key, str), validate=True)
    except (ValueError, TypeError):
        raise WireError(f"field {key!r} is not base64") from None


def _decode_tensor(node: dict) -> torch.Tensor:
    dtype = DTYPES.get(_field(node, "dtype", str))
    shape = _field(node, "shape", list)
    if dtype is None:
        raise WireError(f"tensor dtype {node['dtype']!r} is not one of {sorted(DTYPES)}")
    if not all(type(s) is int and s >= 0 for s in shape) or len(shape) > MAX_DEPTH:
        raise WireError("a tensor's shape is a list of sizes >= 0")
    raw = _bytes(node, "data")
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(raw) != math.prod(shape) * itemsize:
        raise WireError(f"{len(raw)} bytes do not make a {dtype} tensor of shape {tuple(shape)}")
    flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
    tensor = flat.view(dtype).reshape(shape).clone()
    return tensor.requires_grad_(True) if node.get("grad") is True and dtype.is_floating_point else tensor


def dumps(tree) -> str:
    """A tagged tree (or a message holding some) as one ASCII line."""
    return base64.b64encode(json.dumps(tree, separators=(",", ":")).encode("utf-8")).decode("ascii")


def loads(text: str, limit: int):
    """The message `dumps` made, read back; refuses one longer than `limit` characters."""
    if type(text) is not str or len(text) > limit:
        raise WireError(f"a message must be a str of at most {limit} characters")
    try:
        return json.loads(base64.b64decode(text, validate=True))
    except ValueError as exc:
        raise WireError(f"not a message: {exc}") from None
