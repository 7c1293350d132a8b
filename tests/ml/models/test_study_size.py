"""The study's architecture at the study's sizes has the study's parameter count (69,986,372), plus the one
unknown-user row HybridRec adds for cold users (models/users.py)."""

import torch

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.models.hybrid import HybridRecommender
from hybridrec_ml.tensors.bundle import SparseRows

STUDY_ITEMS = 159_729  # "Full-rank evaluation against all 159,729 candidates"
STUDY_VOCABULARY = 5_000  # MLP[5000 -> 512 -> 256 -> 64]
STUDY_PARAMETERS = 69_986_372
# Everything but the three tables is fixed by the architecture table; the tables hold
# 64 x (users + items + items + 1 padding row) parameters, so the total pins the user count:
# (69,986,372 - 2,903,108) / 64 - 2 x 159,729 - 1 = 728,717 ("728K users").
STUDY_FUNCTIONAL_LAYERS = 2_903_108
STUDY_USERS = (STUDY_PARAMETERS - STUDY_FUNCTIONAL_LAYERS) // 64 - 2 * STUDY_ITEMS - 1
UNKNOWN_USER_ROW = 64  # HybridRec's learned row for users without a training interaction


def _parameters(variant: str) -> dict[str, int]:
    """Parameter counts per top-level part, built on the meta device (no memory for 70M weights)."""
    tfidf = SparseRows(torch.zeros(STUDY_ITEMS + 1, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), torch.zeros(0), STUDY_VOCABULARY)
    with torch.device("meta"):
        model = HybridRecommender(VARIANTS[variant], STUDY_USERS, STUDY_ITEMS, tfidf)
    counts: dict[str, int] = {}
    for name, parameter in model.named_parameters():
        part = name.split(".")[1] if name.startswith("components.") else name.split(".")[0]
        counts[part] = counts.get(part, 0) + parameter.numel()
    return counts


def test_the_user_count_derived_from_the_study_is_its_728k_users():
    assert STUDY_USERS == 728_717
    assert (STUDY_PARAMETERS - STUDY_FUNCTIONAL_LAYERS) % 64 == 0  # the tables fill whole rows


def test_the_study_variants_have_exactly_the_study_parameter_count_plus_the_unknown_user_row():
    counts = _parameters("v1")
    assert sum(counts.values()) - UNKNOWN_USER_ROW == STUDY_PARAMETERS == 69_986_372
    assert counts == {
        "static": 64 * (STUDY_USERS + 1 + STUDY_ITEMS) + 8_256,  # embeddings (+ unknown user) + MLP[128 -> 64]
        "dynamic": 64 * (STUDY_ITEMS + 1) + 173_568 + 12_352,  # embeddings + 2-layer GRU(128) + Linear(192 -> 64)
        "content": 2_560_512 + 131_328 + 16_448,  # MLP[5000 -> 512 -> 256 -> 64], no user embedding
        "gate": 384 + 195,  # Linear[5 -> 64] -> Linear[64 -> 3]
        "head": 65,
    }
    assert sum(counts.values()) - 64 * (STUDY_USERS + 1 + 2 * STUDY_ITEMS + 1) == STUDY_FUNCTIONAL_LAYERS
    for name in ("v2", "day_v1", "z_loss", "curriculum", "loss_free_balance", "score_norm"):  # same weights
        assert sum(_parameters(name).values()) == STUDY_PARAMETERS + UNKNOWN_USER_ROW, name


def test_the_personalised_architecture_adds_one_user_embedding_to_the_content_component():
    study = sum(_parameters("v1").values())
    assert sum(_parameters("personalised_v1").values()) == study + 64 * (STUDY_USERS + 1) == 116_624_388
