"""One home for "the test split ranked on the per-row window path and on the sequence-chunk path"."""

from __future__ import annotations

from hybridrec_ml.config import VariantConfig
from hybridrec_ml.evaluation.protocols import EvalResult, evaluate_full
from hybridrec_ml.models.base import Recommender
from hybridrec_ml.tensors.bundle import TrainingBundle
from hybridrec_ml.tensors.sequences import batch_maker


def full_ranking_on_both_paths(model: Recommender, variant: VariantConfig, bundle: TrainingBundle) -> list[EvalResult]:
    """Full-ranking results of the test split with the queries built as windows, then as chunks."""
    return [
        evaluate_full(model, bundle.test, bundle.timeline, bundle.n_items,
                      make_query=batch_maker(variant.with_train(sequence=path), bundle, "test"))
        for path in ("window", "chunks")
    ]  # fmt: skip
