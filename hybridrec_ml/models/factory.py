"""One entry point from a named variant to a model sized for a dataset."""

from __future__ import annotations

import torch

from hybridrec_ml.config import VariantConfig
from hybridrec_ml.data.synthetic.truth import PlantedTruth, PlantedTruthMissing
from hybridrec_ml.models.base import Recommender
from hybridrec_ml.models.baselines.bpr_mf import BPRMF
from hybridrec_ml.models.baselines.ease import EASE
from hybridrec_ml.models.baselines.gru4rec import GRU4Rec
from hybridrec_ml.models.baselines.neumf import NeuMF
from hybridrec_ml.models.baselines.pop import Popularity
from hybridrec_ml.models.baselines.sasrec import SASRec
from hybridrec_ml.models.hybrid import HybridRecommender
from hybridrec_ml.models.hybrid_plus import HybridPlus
from hybridrec_ml.models.oracle import PlantedOracle
from hybridrec_ml.tensors.bundle import TrainingBundle


def build_model(variant: VariantConfig, bundle: TrainingBundle, truth: PlantedTruth | None = None) -> Recommender:
    """A freshly initialised model for `variant` (initialisation draws from torch's global RNG).

    `truth` (synthetic data only, `load_planted_truth`) is read by the oracle and by no other model.
    """
    if variant.model == "oracle":
        if truth is None:
            raise PlantedTruthMissing("the oracle variant needs the planted truth, which only synthetic data has")
        return PlantedOracle(truth, (bundle.train, bundle.val, bundle.test), bundle.n_items)
    if variant.model == "pop":
        return Popularity(bundle.item_train_count)
    if variant.model == "bpr_mf":
        return BPRMF(bundle.n_users, bundle.n_items, variant.dims.embedding_dim, known_users(bundle))
    if variant.model == "neumf":
        return NeuMF(bundle.n_users, bundle.n_items, variant.dims, known_users(bundle))
    if variant.model == "gru4rec":
        return GRU4Rec(bundle.n_items, variant.dims)
    if variant.model == "sasrec":
        return SASRec(bundle.n_items, variant.dims)
    if variant.model == "ease":
        return EASE(bundle.train_items_by_user, bundle.n_items, variant.ease_lambda)
    if variant.model == "hybrid_plus":
        return HybridPlus(variant, bundle.n_users, bundle.n_items, bundle.tfidf, known_users(bundle))
    return HybridRecommender(variant, bundle.n_users, bundle.n_items, bundle.tfidf, known_users(bundle))


def known_users(bundle: TrainingBundle) -> torch.Tensor:
    """[n_users] bool: the users with a training interaction; the rest are scored as the unknown user."""
    return bundle.user_train_count > 0
