"""Numbers and counts as every view writes them (micrograd_ann.formatting)."""

from __future__ import annotations

import pytest

from micrograd_ann import formatting


@pytest.mark.parametrize(("x", "digits", "shown"), [
    (-0.0, 4, "0"), (-1e-9, 4, "-1e-09"), (0.07010371654510807, 6, "0.0701037"),
    (2.5, 12, "2.5"), (123456789.0, 4, "1.235e+08"), (float("inf"), 6, "inf"),
    (float("nan"), 6, "nan"),
])
def test_a_number_has_its_significant_digits_and_never_a_minus_zero(x, digits, shown):
    assert formatting.number(x, digits) == shown


def test_an_edge_label_is_the_chain_rule_on_that_edge():
    assert formatting.edge_text(0.5, -3.0, 4) == "0.5 \u00d7 -3 = -1.5"
    assert formatting.edge_text(-0.0, 2.0, 4) == "0 \u00d7 2 = 0"


@pytest.mark.parametrize(("n", "shown"), [(0, "0 steps"), (1, "1 step"), (2, "2 steps"),
                                          (1000, "1,000 steps")])
def test_counts_agree_with_their_noun(n, shown):
    assert formatting.plural(n, "step") == shown


@pytest.mark.parametrize(("x", "shown"), [(0.0, "0.0000"), (-0.0, "0.0000"),
                                          (0.4427168038185168, "0.4427"),
                                          (1.19e80, "1.19e+80"), (1e-5, "1e-05")])
def test_a_loss_has_four_decimals_in_the_usual_range(x, shown):
    assert formatting.loss(x) == shown
