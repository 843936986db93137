"""Fixtures shared by the grading tests."""
from types import SimpleNamespace

import pytest

from . import examples as ex
from . import toy_course as tc


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tc.make_course(tmp_path_factory.mktemp("toy") / "course")
    return SimpleNamespace(root=root, solution=ex.read_set(root / "solutions" / tc.ASSIGNMENT),
                           release=ex.read_set(root / "notebooks" / tc.ASSIGNMENT))
