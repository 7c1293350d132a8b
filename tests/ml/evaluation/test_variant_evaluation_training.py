from dataclasses import replace

from hybridrec_ml.evaluation.variant_evaluation import load_evaluation, save_evaluation
from tests.ml.reporting.conftest import evaluation


def test_the_stored_evaluation_keeps_how_the_model_was_trained(tmp_path):
    training = {"profile": "research", "best_epoch": 31, "epochs": 36, "max_epochs": 100, "stopped_early": 1}
    trained = replace(evaluation("bpr_mf", 42, [0, 3, 1, 0, 2]), training=training)
    loaded = load_evaluation(save_evaluation(trained, tmp_path / "e.npz"))
    assert loaded.training == training
    untracked = evaluation("bpr_mf", 42, [0, 3, 1, 0, 2])
    assert load_evaluation(save_evaluation(untracked, tmp_path / "none.npz")).training is None
