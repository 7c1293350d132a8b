import math

import pytest

from hybridrec_ml.tuning.objectives import gate_balance, normalised_entropy


def test_normalised_entropy_spans_collapsed_to_uniform():
    assert normalised_entropy((1.0, 0.0, 0.0)) == 0.0
    assert normalised_entropy((1 / 3, 1 / 3, 1 / 3)) == pytest.approx(1.0)
    assert normalised_entropy((0.5, 0.5, 0.0)) == pytest.approx(math.log(2) / math.log(3))


@pytest.mark.parametrize(
    ("alpha", "kind", "expected"),
    [
        ((0.98, 0.01, 0.01), "entropy", -(0.98 * math.log(0.98) + 2 * 0.01 * math.log(0.01)) / math.log(3)),  # 0.1120
        ((0.5, 0.3, 0.2), "entropy", -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2)) / math.log(3)),
        ((0.5, 0.3, 0.2), "one_minus_max", 0.5),
        ((1 / 3, 1 / 3, 1 / 3), "one_minus_max", 2 / 3),
        ((1.0, 0.0, 0.0), "one_minus_max", 0.0),
    ],
)
def test_gate_balance_on_hand_computed_weights(alpha, kind, expected):
    assert gate_balance(alpha, kind) == pytest.approx(expected, abs=1e-12)


def test_the_two_balance_kinds_order_a_collapsed_gate_below_a_uniform_one():
    for kind in ("entropy", "one_minus_max"):
        assert gate_balance((0.98, 0.01, 0.01), kind) < gate_balance((0.4, 0.3, 0.3), kind) < gate_balance((1 / 3,) * 3, kind)


def test_an_unknown_balance_kind_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown balance objective 'gini'; valid: entropy, one_minus_max"):
        gate_balance((0.5, 0.5, 0.0), "gini")
