import pytest

from hybridrec_assets.defs.model.assets import TrainingConfig
from hybridrec_assets.profile import PROFILE_ENV


def test_the_profile_comes_from_the_config_else_the_environment_else_demo(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert TrainingConfig().variant("bpr_mf", 1).train.profile == "demo"
    monkeypatch.setenv(PROFILE_ENV, "research")
    research = TrainingConfig().variant("bpr_mf", 1).train
    assert (research.profile, research.epochs, research.patience, research.seed) == ("research", 100, 5, 1)
    assert TrainingConfig(profile="demo", epochs=3).variant("v1", 2).train.epochs == 3  # explicit settings win
    assert TrainingConfig(profile="demo").variant("v1", 2).train.patience == 2


def test_an_unknown_profile_is_refused(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "fast")
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        TrainingConfig().variant("v1", 1)
