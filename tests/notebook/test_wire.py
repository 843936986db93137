"""notebook.wire: plain data only, decoded into fresh objects of exactly the tagged kinds; anything else refused."""
import json
import math

import pytest
import torch

from cutmix_course.notebook import wire


def roundtrip(value, generators=None):
    """value sent and read back; `generators` collects the generators decoded on the receiving side."""
    sent = [] if generators is not None else None
    return wire.decode(wire.loads(wire.dumps(wire.encode(value, sent)), 10**8), generators)


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2**80, 1.5, -0.0, math.inf, "zoë 学生", (), [],
                                   (1, [2.5, "x"], {"k": None}), {"a": (True, 3)}])
def test_plain_values_cross_unchanged_and_with_their_exact_type(value):
    back = roundtrip(value)
    assert back == value and type(back) is type(value)
    assert repr(back) == repr(value)  # -0.0 stays -0.0, tuples stay tuples inside lists


def test_nan_crosses_as_nan():
    assert math.isnan(roundtrip(float("nan")))


@pytest.mark.parametrize("dtype", sorted(wire.DTYPES.values(), key=str))
def test_tensors_of_every_dtype_and_shape_cross_bit_for_bit(dtype):
    for shape in ((), (0, 3), (2, 3, 4)):
        t = (torch.arange(math.prod(shape) or 1)[: math.prod(shape)] % 7).reshape(shape).to(dtype)
        back = roundtrip(t)
        assert type(back) is torch.Tensor and back.dtype == dtype and back.shape == t.shape
        assert torch.equal(back, t)
    strided = torch.arange(12.0).reshape(3, 4).t()  # not contiguous
    assert torch.equal(roundtrip(strided), strided)


def test_a_tensor_subclass_arrives_as_a_plain_tensor_with_its_values():
    class Agreeable(torch.Tensor):
        def __eq__(self, other):
            return True

    sneaky = torch.tensor([1.0, 2.0]).as_subclass(Agreeable)
    back = roundtrip(sneaky)
    assert type(back) is torch.Tensor and back.tolist() == [1.0, 2.0]
    assert not bool((back == torch.tensor([5.0, 5.0])).any())


def test_a_lazy_list_is_read_on_its_own_side_and_arrives_as_a_plain_list():
    class Lazy(list):
        reads = 0

        def __iter__(self):
            Lazy.reads += 1
            return iter([("cat", 0.9)])

    back = roundtrip(Lazy())
    assert type(back) is list and back == [("cat", 0.9)] and Lazy.reads == 1


def test_an_object_with_a_lying_eq_is_refused():
    class Liar:
        def __eq__(self, other):
            return True

    with pytest.raises(wire.WireError, match="Liar cannot cross"):
        wire.encode(Liar())


def test_a_generator_crosses_with_its_state_and_one_generator_passed_twice_stays_one():
    g = torch.Generator().manual_seed(11)
    torch.rand(3, generator=g)
    generators = []
    first, again = roundtrip((g, g), generators)
    assert first is again and generators == [first]
    assert torch.equal(torch.rand(4, generator=first), torch.rand(4, generator=g))


def test_requires_grad_crosses_as_a_fresh_leaf():
    t = torch.ones(2, dtype=torch.float64, requires_grad=True) * 3
    back = roundtrip(t)
    assert back.requires_grad and back.is_leaf and back.grad_fn is None
    assert not roundtrip(torch.ones(2, dtype=torch.int64)).requires_grad


def _raw(node):
    return wire.dumps(node)


@pytest.mark.parametrize("node, match", [
    ({"t": "tensor", "dtype": "float32", "shape": [2], "data": "AAAA", "grad": False}, "do not make"),
    ({"t": "tensor", "dtype": "complex64", "shape": [1], "data": "", "grad": False}, "not one of"),
    ({"t": "tensor", "dtype": "uint8", "shape": [-1], "data": "", "grad": False}, "sizes >= 0"),
    ({"t": "int", "v": "12a"}, "decimal digits"),
    ({"t": "int", "v": 12}, "must be a str"),
    ({"t": "float", "v": "1e400x"}, "not a float"),
    ({"t": "dict", "v": [[1, {"t": "none"}]]}, "str key"),
    ({"t": "pickle", "v": "gASV"}, "unknown type tag"),
    ({"v": 1}, "type tag"),
    ({"t": "generator", "ref": 0}, "no generator met before"),
    ({"t": "generator", "state": "AAAA"}, "not a generator state"),
])
def test_malformed_nodes_are_refused_with_what_was_wrong(node, match):
    with pytest.raises(wire.WireError, match=match):
        wire.decode(wire.loads(_raw(node), 10**6), [])


def test_nesting_and_size_are_bounded():
    deep = {"t": "none"}
    for _ in range(wire.MAX_DEPTH + 2):
        deep = {"t": "list", "v": [deep]}
    with pytest.raises(wire.WireError, match="nested deeper"):
        wire.decode(deep)
    with pytest.raises(wire.WireError, match="at most 10 characters"):
        wire.loads(_raw({"t": "str", "v": "x" * 100}), 10)
    with pytest.raises(wire.WireError, match="not a message"):
        wire.loads("!!!not base64!!!", 100)
    assert json.loads(__import__("base64").b64decode(_raw({"t": "none"}))) == {"t": "none"}
