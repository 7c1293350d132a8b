import dataclasses

import optuna
import pytest

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.tuning.space import STUDY_SETTING, GateSetting, SearchSpace, reference_settings


def test_v1_is_a_point_of_the_space_applied_to_v2():
    """The study varies v2; v1's setting applied to it must give v1 back (only the name differs)."""
    as_v1 = GateSetting.of(VARIANTS["v1"]).apply(VARIANTS["v2"], "v1")
    assert dataclasses.replace(as_v1, description=VARIANTS["v1"].description) == VARIANTS["v1"]
    assert GateSetting.of(VARIANTS["v1"]) == GateSetting(0.0, 0.0, None)


def test_references_join_identical_settings():
    # the registry's v2 carries the study's λ values and init std (reference README): one trial for both
    assert STUDY_SETTING == GateSetting(0.05, 0.01, 0.01) == GateSetting.of(VARIANTS["v2"])
    assert reference_settings() == {"v1": GateSetting(0.0, 0.0, None), "v2 = study": GateSetting(0.05, 0.01, 0.01)}


@pytest.mark.parametrize(
    "setting", [GateSetting(0.0, 0.0, None), GateSetting(0.05, 0.01, 0.01), GateSetting(0.0, 3.0, 0.5)]
)
def test_an_enqueued_setting_comes_back_from_suggest_and_from_the_stored_params(tmp_path, setting):
    space = SearchSpace()
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", directions=["maximize", "maximize"])
    study.enqueue_trial(space.params(setting))
    trial = study.ask()
    assert space.suggest(trial) == setting
    study.tell(trial, [0.1, 0.2])
    assert space.setting_of(study.trials[0].params) == setting


def test_suggested_values_stay_in_the_ranges_and_zero_is_reachable(tmp_path):
    space = SearchSpace(entropy_lambda=(1e-3, 1e-1), balance_lambda=(1e-2, 1.0), gate_init_std=(1e-2, 1e-1))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), directions=["maximize", "maximize"])
    settings = []
    for _ in range(40):
        trial = study.ask()
        settings.append(space.suggest(trial))
        study.tell(trial, [0.0, 0.0])
    assert all(s.entropy_lambda == 0 or 1e-3 <= s.entropy_lambda <= 1e-1 for s in settings)
    assert all(s.balance_lambda == 0 or 1e-2 <= s.balance_lambda <= 1.0 for s in settings)
    assert all(s.gate_init_std is None or 1e-2 <= s.gate_init_std <= 1e-1 for s in settings)
    assert {s.entropy_lambda == 0 for s in settings} == {True, False}
    assert {s.gate_init_std is None for s in settings} == {True, False}
