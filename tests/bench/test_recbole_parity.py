"""The RecBole parity script's settings for RecBole (bench/recbole_parity.py, bench/recbole_runner.py).

RecBole itself lives in the script's own virtualenv, so these tests check what the script hands it
and how it labels a run; the figures come from running the script (README, RecBole parity).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from bench.recbole_parity import PAIRS, epochs_cell, recbole_config, recbole_gru4rec_init
from bench.recbole_runner import check_one_item_space
from hybridrec_ml.config import ModelDims
from hybridrec_ml.models.baselines.gru4rec import GRU4Rec

ARGS = argparse.Namespace(epochs=200, patience=10, batch_size=256, lr=1e-3)


@pytest.mark.parametrize("model", [name for name, pair in PAIRS.items() if pair.sequential])
def test_sequential_models_read_histories_in_the_item_id_space(model, tmp_path: Path):
    config = recbole_config(ARGS, tmp_path, 42, PAIRS[model], tmp_path)
    assert config["alias_of_item_id"] == ["item_id_list"]
    assert "item_id_list" in config["load_col"]["inter"]
    assert (config["epochs"], config["stopping_step"], config["train_batch_size"]) == (200, 10, 256)


@pytest.mark.parametrize("model", [name for name, pair in PAIRS.items() if not pair.sequential])
def test_general_models_load_no_history(model, tmp_path: Path):
    config = recbole_config(ARGS, tmp_path, 42, PAIRS[model], tmp_path)
    assert "alias_of_item_id" not in config
    assert config["load_col"]["inter"] == ["user_id", "item_id"]


def test_a_history_vocabulary_apart_from_the_items_is_refused():
    items = ["[PAD]", "i129", "i5", "i126"]
    check_one_item_space({"item_id": items, "item_id_list": items})  # aliased: one id space
    check_one_item_space({"item_id": items, "item_id_list": items[:3]})  # histories use fewer items
    check_one_item_space({"item_id": items})  # a general model: no histories
    # what RecBole 1.2.1 built from our export without the alias (first ids of the real run)
    with pytest.raises(ValueError, match="alias_of_item_id"):
        check_one_item_space({"item_id": items, "item_id_list": ["[PAD]", "i13", "i79", "i5"]})


def test_the_epochs_cell_says_whether_patience_or_the_cap_ended_the_run():
    assert epochs_cell(37, 27, 200) == "37 (27), early stop"
    assert epochs_cell(200, 198, 200) == "200 (198), cap"


def test_recbole_init_of_our_gru4rec_is_recboles():
    torch.manual_seed(0)
    model = recbole_gru4rec_init(GRU4Rec(150, ModelDims(gru_hidden=100, gru_layers=1)))
    gru = dict(model.encoder.gru.named_parameters())
    for name in ("bias_ih_l0", "bias_hh_l0"):  # RecBole's GRU has no biases: zero and never trained
        assert not gru[name].any() and not gru[name].requires_grad
    xavier_std = (2 / (151 + 64)) ** 0.5  # 151 rows (with padding) x 64 dims
    assert model.encoder.item_emb.weight.std().item() == pytest.approx(xavier_std, rel=0.05)
    bound = (6 / (100 + 3 * 100)) ** 0.5  # xavier-uniform of weight_hh_l0 [3 * 100, 100]
    assert gru["weight_hh_l0"].abs().max().item() <= bound and gru["weight_hh_l0"].abs().max().item() > 0.9 * bound
    untouched = torch.nn.Linear(2, 2)
    before = untouched.weight.clone()
    assert recbole_gru4rec_init(untouched) is untouched and torch.equal(untouched.weight, before)
