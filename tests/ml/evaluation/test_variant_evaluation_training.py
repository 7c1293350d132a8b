import numpy as np
import pandas as pd

from hybridrec_ml.evaluation.protocols import EvalResult
from hybridrec_ml.evaluation.variant_evaluation import VariantEvaluation, load_evaluation, save_evaluation


def _evaluation(training):
    order, ranks = np.array([5, 9]), np.array([0, 3])
    return VariantEvaluation(
        "bpr_mf", 42, EvalResult("sampled", order, ranks, None), EvalResult("full", order, ranks, None),
        pd.DataFrame({"segment": ["all"]}), None, (), training,
    )  # fmt: skip


def test_the_stored_evaluation_keeps_how_the_model_was_trained(tmp_path):
    training = {"profile": "research", "best_epoch": 31, "epochs": 36, "max_epochs": 100, "stopped_early": 1}
    loaded = load_evaluation(save_evaluation(_evaluation(training), tmp_path / "e.npz"))
    assert loaded.training == training
    assert load_evaluation(save_evaluation(_evaluation(None), tmp_path / "none.npz")).training is None
