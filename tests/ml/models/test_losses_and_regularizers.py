import functools
import math

import pytest
import torch

from hybridrec_ml.models.losses import bce_loss, bpr_loss
from hybridrec_ml.models.regularizers import load_balance, mean_negative_entropy

approx = functools.partial(pytest.approx, rel=1e-6, abs=1e-7)  # float32 arithmetic


def test_bpr_is_the_mean_negative_log_sigmoid_of_the_margins():
    positive = torch.tensor([2.0, 0.0])
    negative = torch.tensor([[1.0, 2.0], [0.0, -3.0]])  # margins 1, 0, 0, 3
    expected = (math.log1p(math.exp(-1)) + 2 * math.log(2) + math.log1p(math.exp(-3))) / 4
    assert float(bpr_loss(positive, negative)) == approx(expected)


def test_bce_labels_positives_one_and_negatives_zero():
    positive = torch.tensor([0.0, 2.0])
    negative = torch.tensor([[0.0], [-1.0]])
    # -log sigmoid(0), -log sigmoid(2), -log(1 - sigmoid(0)), -log(1 - sigmoid(-1))
    expected = (math.log(2) + math.log1p(math.exp(-2)) + math.log(2) + math.log1p(math.exp(-1))) / 4
    assert float(bce_loss(positive, negative)) == approx(expected)


def test_uniform_alpha_has_entropy_term_minus_log_3_and_no_imbalance():
    uniform = torch.full((4, 3), 1 / 3)
    assert float(mean_negative_entropy(uniform)) == approx(-math.log(3))
    assert float(load_balance(uniform)) == approx(0.0)


def test_one_hot_alpha_has_zero_entropy_and_maximal_imbalance():
    collapsed = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert float(mean_negative_entropy(collapsed)) == 0.0
    assert float(load_balance(collapsed)) == approx((2 / 3) ** 2 + 2 * (1 / 3) ** 2)


def test_regularisers_on_a_hand_computed_batch():
    alpha = torch.tensor([[0.5, 0.25, 0.25], [0.7, 0.2, 0.1]])
    row_sums = [
        0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25),
        0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1),
    ]
    assert float(mean_negative_entropy(alpha)) == approx(sum(row_sums) / 2)  # -0.92077...
    mean = [0.6, 0.225, 0.175]
    assert float(load_balance(alpha)) == approx(sum((m - 1 / 3) ** 2 for m in mean))  # 0.10792...

