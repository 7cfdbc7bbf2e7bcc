"""extras.require: an optional package, or a MissingExtraError that says how to get it."""

from __future__ import annotations

import pytest

from micrograd_ann.extras import MissingExtraError, require


def test_an_installed_module_is_returned():
    import json

    assert require("json", "dev", "this test") is json


def test_a_missing_module_names_the_extra_and_the_purpose():
    with pytest.raises(MissingExtraError) as info:
        require("no_such_module_xyz", "plot", "PNG plots")
    error = info.value
    assert isinstance(error, ImportError) and (error.module, error.extra) == (
        "no_such_module_xyz", "plot")
    assert str(error).startswith("PNG plots needs the optional extra 'plot' (Python package "
                                 "'no_such_module_xyz')")
    assert 'pip install -e ".[plot]"' in str(error)
