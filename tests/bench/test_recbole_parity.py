"""The RecBole parity script's settings for RecBole (bench/recbole_parity.py, bench/recbole_runner.py).

RecBole itself lives in the script's own virtualenv, so these tests check what the script hands it
and how it labels a run; the figures come from running the script (README, RecBole parity).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from bench.recbole_parity import PAIRS, RecBoleShapedSASRec, epochs_cell, initialiser, recbole_config, recbole_init
from bench.recbole_runner import check_one_item_space
from hybridrec_ml.config import ModelDims
from hybridrec_ml.models.baselines.gru4rec import GRU4Rec
from hybridrec_ml.models.baselines.sasrec import SASRec
from hybridrec_ml.tensors.batch import SequenceChunks

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
    model = recbole_init(GRU4Rec(150, ModelDims(gru_hidden=100, gru_layers=1)))
    gru = dict(model.encoder.gru.named_parameters())
    for name in ("bias_ih_l0", "bias_hh_l0"):  # RecBole's GRU has no biases: zero and never trained
        assert not gru[name].any() and not gru[name].requires_grad
    xavier_std = (2 / (151 + 64)) ** 0.5  # 151 rows (with padding) x 64 dims
    assert model.encoder.item_emb.weight.std().item() == pytest.approx(xavier_std, rel=0.05)
    bound = (6 / (100 + 3 * 100)) ** 0.5  # xavier-uniform of weight_hh_l0 [3 * 100, 100]
    assert gru["weight_hh_l0"].abs().max().item() <= bound and gru["weight_hh_l0"].abs().max().item() > 0.9 * bound
    untouched = torch.nn.Linear(2, 2)
    before = untouched.weight.clone()
    assert recbole_init(untouched) is untouched and torch.equal(untouched.weight, before)


def test_recbole_init_of_our_sasrec_draws_every_block_matrix_like_recbole():
    torch.manual_seed(0)
    dims = ModelDims(dropout=0.2)
    model = recbole_init(SASRec(150, dims))
    blocks = dict(model.blocks.named_parameters())
    for name in ("layers.0.self_attn.in_proj_weight", "layers.0.self_attn.out_proj.weight", "layers.1.linear1.weight"):
        assert blocks[name].std().item() == pytest.approx(0.02, rel=0.1)  # PyTorch's default would be about 0.07-0.13
    assert not blocks["layers.0.self_attn.in_proj_bias"].any() and not blocks["layers.1.linear2.bias"].any()
    assert torch.equal(blocks["layers.0.norm1.weight"], torch.ones(64))  # LayerNorms keep 1 / 0


def test_the_recbole_shaped_sasrec_is_post_norm_on_a_normalised_input():
    torch.manual_seed(0)
    dims = ModelDims(dropout=0.0)
    model = initialiser("recbole-shape", dims)(SASRec(150, dims)).eval()
    assert isinstance(model, RecBoleShapedSASRec) and not model.blocks.layers[0].norm_first and model.blocks.norm is None
    items = torch.tensor([[3, 7, 0]])
    chunks = SequenceChunks(items=items, lengths=torch.tensor([2]), state_at=torch.tensor([1]))
    outputs = model.sequence_outputs(chunks)
    # a post-norm block ends in a LayerNorm with unit weight and zero bias: every real position is standardised
    real = outputs[0, :2]
    torch.testing.assert_close(real.mean(dim=-1), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(real.var(dim=-1, unbiased=False), torch.ones(2), atol=1e-3, rtol=0)
    assert initialiser("ours", dims) is None and initialiser("recbole", dims) is recbole_init
    with pytest.raises(ValueError, match="SASRec only"):
        initialiser("recbole-shape", dims)(GRU4Rec(150, ModelDims(gru_hidden=100, gru_layers=1)))
