"""One entry point from a named variant to a model sized for a dataset."""

from __future__ import annotations

import torch

from hybridrec_ml.config import VariantConfig
from hybridrec_ml.models.base import Recommender
from hybridrec_ml.models.baselines.bpr_mf import BPRMF
from hybridrec_ml.models.baselines.pop import Popularity
from hybridrec_ml.models.hybrid import HybridRecommender
from hybridrec_ml.tensors.bundle import TrainingBundle


def build_model(variant: VariantConfig, bundle: TrainingBundle) -> Recommender:
    """A freshly initialised model for `variant` (initialisation draws from torch's global RNG)."""
    if variant.model == "pop":
        return Popularity(bundle.item_train_count)
    if variant.model == "bpr_mf":
        return BPRMF(bundle.n_users, bundle.n_items, variant.dims.embedding_dim, known_users(bundle))
    return HybridRecommender(variant, bundle.n_users, bundle.n_items, bundle.tfidf, known_users(bundle))


def known_users(bundle: TrainingBundle) -> torch.Tensor:
    """[n_users] bool: the users with a training interaction; the rest are scored as the unknown user."""
    return bundle.user_train_count > 0
