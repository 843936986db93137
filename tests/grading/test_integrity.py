"""forbid_reference, the integrity tripwire hidden tests wrap around the student's call (runs in-process, fast)."""
import sys

import pytest
import torch
from torchvision.transforms import v2

from cutmix_course.core import augment
from cutmix_course.notebook.regions import without_region as _strip_hidden
from cutmix_course.notebook.tripwire import ReferenceUsedError, forbid_reference

IMAGES = torch.zeros(2, 3, 8, 8)


def own_cutout(images, size):
    out = images.clone()
    out[..., :size, :size] = 1.0
    return out


def delegating_cutout(images, size):
    return augment.cutout(images, size, generator=torch.Generator().manual_seed(0))


def test_own_implementation_passes():
    with forbid_reference("cutmix_course.core.augment.cutout"):
        out = own_cutout(IMAGES, 4)
    assert out.sum() == 2 * 3 * 16


def test_delegation_is_caught_with_a_message_naming_the_reference():
    with pytest.raises(ReferenceUsedError, match=r"integrity: .*cutmix_course\.core\.augment\.cutout.*scores 0"):
        with forbid_reference("cutmix_course.core.augment.cutout"):
            delegating_cutout(IMAGES, 4)


def test_delegation_through_an_alias_is_caught():
    from cutmix_course.core.augment import cutout as renamed

    namespace = {"hide": renamed, "torch": torch}
    exec("def sneaky(x):\n    return hide(x, 4, generator=torch.Generator().manual_seed(1))", namespace)  # noqa: S102
    with pytest.raises(ReferenceUsedError):
        with forbid_reference(augment.cutout):  # object target, not a name
            namespace["sneaky"](IMAGES)


def test_class_targets_cover_their_methods():
    labels = torch.tensor([0, 1])
    with pytest.raises(ReferenceUsedError, match="CutMix"):
        with forbid_reference("torchvision.transforms.v2.CutMix"):
            v2.CutMix(num_classes=2)(IMAGES, labels)


def test_reference_outside_the_block_is_allowed():
    expected = delegating_cutout(IMAGES, 4)  # the test's own use of the reference
    with forbid_reference("cutmix_course.core.augment.cutout"):
        own_cutout(IMAGES, 4)
    assert expected.shape == IMAGES.shape


def test_switching_the_hook_off_fails_the_test():
    with pytest.raises(ReferenceUsedError, match="switched off"):
        with forbid_reference("cutmix_course.core.augment.cutout"):
            sys.setprofile(None)
            delegating_cutout(IMAGES, 4)


def test_previous_profiler_is_restored():
    calls = []

    def outer(frame, event, arg):
        calls.append(event)

    sys.setprofile(outer)
    try:
        with forbid_reference("cutmix_course.core.augment.cutout"):
            pass
        assert sys.getprofile() is outer
    finally:
        sys.setprofile(None)


def test_bad_targets_are_reported_by_name():
    with pytest.raises(ValueError, match="cutmix_course.no_such_module"):
        forbid_reference("cutmix_course.no_such_module.cutout")
    with pytest.raises(ValueError, match="at least one target"):
        forbid_reference()


def test_strip_hidden_matches_nbgrader_and_can_leave_a_note():
    from nbformat.v4 import new_code_cell
    from nbgrader.preprocessors import ClearHiddenTests

    source = "a = 1\n### BEGIN HIDDEN TESTS\nassert secret\n### END HIDDEN TESTS\nb = 2"
    cell = new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1,
                                                        "solution": False, "locked": True}})
    cleared, _ = ClearHiddenTests().preprocess_cell(cell, {}, 0)
    assert _strip_hidden(source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS") == cleared.source
    assert _strip_hidden(source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", note="# hidden") == "a = 1\n# hidden\nb = 2"


# ------------------------------------------------------------------------------------------ C-level functions
def own_softmax(x):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


SOFTMAX_TARGETS = ("torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax", "torch.log_softmax")


@pytest.mark.parametrize("delegate, caught", [
    (lambda x: torch.softmax(x, -1), "torch.softmax"),
    (lambda x: x.softmax(-1), "torch.Tensor.softmax"),                # a C method, reached through the instance
    (lambda x: torch.Tensor.softmax(x, -1), "torch.Tensor.softmax"),
    (lambda x: torch.nn.functional.softmax(x, -1), "torch.nn.functional.softmax"),
    (lambda x: torch.log_softmax(x, -1).exp(), "torch.log_softmax"),
    (lambda x: getattr(torch, "soft" + "max")(x, -1), "torch.softmax"),  # by any name
])
def test_delegation_to_a_c_level_function_is_caught(delegate, caught):
    x = torch.randn(4, 5)
    with pytest.raises(ReferenceUsedError, match=caught.replace(".", r"\.")):
        with forbid_reference(*SOFTMAX_TARGETS):
            delegate(x)


def test_own_computation_with_other_c_functions_passes():
    x = torch.randn(4, 5)
    with forbid_reference(*SOFTMAX_TARGETS):
        out = own_softmax(x)
    torch.testing.assert_close(out, torch.softmax(x, -1))


def test_a_target_that_cannot_be_watched_is_refused_not_ignored():
    with pytest.raises(ValueError, match="cannot watch"):
        forbid_reference(torch.float32)


# ------------------------------------------------------------------------------------------------ exact behaviour
def _wrapping(f):
    import functools

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)
    return wrapper


def _inner_reference(x):
    return x + 1


_wrapped_reference = _wrapping(_inner_reference)


class _Reference:
    @staticmethod
    def fixed(x):
        return x * 2

    @classmethod
    def made(cls, x):
        return x * 3

    @property
    def value(self):
        return 4


def test_the_message_names_the_reference_by_its_full_name():
    with pytest.raises(ReferenceUsedError) as info:
        with forbid_reference(augment.cutout):
            augment.cutout(torch.zeros(1, 1, 4, 4), 2, generator=torch.Generator().manual_seed(0))
    assert str(info.value) == ("integrity: your code called the reference implementation "
                               "cutmix_course.core.augment.cutout instead of implementing it, so this test scores 0. "
                               "Write the computation yourself.")
    with pytest.raises(ReferenceUsedError, match="^integrity: cutout_batch called the reference implementation "
                                                 "cutmix_course.notebook.tripwire.forbid_reference.__exit__"):
        with forbid_reference("cutmix_course.notebook.tripwire.forbid_reference.__exit__", what="cutout_batch"):
            with forbid_reference(augment.box_area):
                pass


def test_a_decorated_reference_is_caught_through_the_function_it_wraps():
    for call in (_wrapped_reference, _inner_reference):
        with pytest.raises(ReferenceUsedError, match="_inner_reference"):
            with forbid_reference(_wrapped_reference):
                call(1)


def test_static_class_methods_and_properties_of_a_class_target_are_watched():
    for use in (lambda: _Reference.fixed(1), lambda: _Reference.made(1), lambda: _Reference().value):
        with pytest.raises(ReferenceUsedError, match="_Reference"):
            with forbid_reference(_Reference):
                use()


def test_a_call_from_another_thread_started_in_the_block_is_caught():
    import threading

    with pytest.raises(ReferenceUsedError, match="box_area"):
        with forbid_reference(augment.box_area):
            worker = threading.Thread(target=augment.box_area, args=(torch.tensor([0, 0, 2, 2]),))
            worker.start()
            worker.join()
    assert threading.setprofile is not None and threading._profile_hook is None, "the threads' hook is removed"


def test_an_error_inside_the_block_is_not_swallowed():
    with pytest.raises(KeyError, match="mine"):
        with forbid_reference(augment.box_area):
            raise KeyError("mine")


def test_switching_the_hook_off_is_reported_with_its_own_message():
    with pytest.raises(ReferenceUsedError) as info:
        with forbid_reference(augment.box_area):
            sys.setprofile(None)
    assert str(info.value) == ("integrity: the call-tracing of this test was switched off by the code under test, so "
                               "this test scores 0.")


def test_no_target_is_refused():
    with pytest.raises(ValueError, match=r"^forbid_reference needs at least one target \(a function, a class or a "
                                         r"dotted name\)$"):
        forbid_reference()
    with pytest.raises(ValueError, match=r"cannot watch 'x.y' \(neither Python code nor a C function or "
                                         r"method: _Named\)"):
        forbid_reference(_Named("x.y"))


class _Named(int):
    """An object that is neither code nor a C function, with a module and a qualified name to show."""

    def __new__(cls, dotted):
        obj = super().__new__(cls, 0)
        obj.__module__, obj.__qualname__ = dotted.split(".")
        return obj
