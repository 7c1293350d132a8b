"""The artifact layout under the store's root: files written by one asset are found by the next, and by users."""

import pytest

from hybridrec_assets.artifacts import (
    ceilings_path,
    evaluation_path,
    model_path,
    optuna_storage_path,
    pareto_outcome_path,
    recbole_folder,
    report_path,
    resume_path,
    study_models_folder,
    summary_path,
)
from hybridrec_assets.resources import ArtifactStore


def test_paths_of_one_partition():
    assert model_path("v2", 43) == ("models", "v2", "seed-43", "model.pt")
    assert summary_path("v2", 43) == ("models", "v2", "seed-43", "summary.json")
    assert resume_path("v2", 43) == ("checkpoints", "v2", "seed-43", "resume")
    assert evaluation_path("v2", 43) == ("evaluation", "v2", "seed-43", "evaluation.npz")
    assert ceilings_path(42) == ("evaluation", "oracle", "seed-42", "ceilings.json")
    assert report_path() == ("reports", "results.html")
    assert recbole_folder("hybridrec") == ("recbole", "hybridrec")


def test_paths_of_the_lambda_study():
    assert optuna_storage_path() == ("tuning", "optuna.db")
    assert study_models_folder("lambda_pareto-v2") == ("tuning", "lambda_pareto-v2", "models")
    assert pareto_outcome_path() == ("tuning", "lambda_pareto.json")


def test_store_resolves_them_under_its_root(tmp_path):
    store = ArtifactStore(root=str(tmp_path))
    assert store.path(*evaluation_path("pop", 42)) == tmp_path / "evaluation" / "pop" / "seed-42" / "evaluation.npz"


def test_locating_a_path_creates_nothing_and_writing_one_creates_its_folder(tmp_path):
    store = ArtifactStore(root=str(tmp_path))
    located = store.locate(*evaluation_path("curriculum", 43))
    assert located == tmp_path / "evaluation" / "curriculum" / "seed-43" / "evaluation.npz"
    assert not located.exists() and list(tmp_path.iterdir()) == []  # a report's existence check leaves no folders
    assert store.path(*evaluation_path("curriculum", 43)).parent.is_dir()
    with pytest.raises(ValueError, match="outside the artifacts root"):
        store.locate("..", "elsewhere")
