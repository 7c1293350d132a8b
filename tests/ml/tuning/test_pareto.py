import optuna
import pytest

from hybridrec_ml.tuning.pareto import pareto_optimal

# (val NDCG@10, balance), both maximised
POINTS = [
    (0.30, 0.10),  # 0: most accurate -> optimal
    (0.20, 0.50),  # 1: optimal
    (0.25, 0.40),  # 2: optimal (between 0 and 1)
    (0.20, 0.40),  # 3: dominated by 1 (same NDCG, less balance) and by 2
    (0.10, 0.90),  # 4: most balanced -> optimal
    (0.10, 0.90),  # 5: a tie with 4: nobody is strictly better, both stay
    (0.05, 0.85),  # 6: dominated by 4
    (0.30, 0.05),  # 7: dominated by 0 (same NDCG, less balance)
]


def test_pareto_selection_on_hand_built_points():
    assert pareto_optimal(POINTS) == [True, True, True, False, True, True, False, False]


def test_edge_cases():
    assert pareto_optimal([]) == []
    assert pareto_optimal([(0.1, 0.2)]) == [True]
    with pytest.raises(ValueError, match="NaN"):
        pareto_optimal([(0.1, float("nan"))])


def test_the_selection_agrees_with_optuna_best_trials_on_a_sqlite_study(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", directions=["maximize", "maximize"])
    for values in POINTS:
        study.add_trial(optuna.trial.create_trial(values=list(values)))
    optimal = pareto_optimal(POINTS)
    assert sorted(t.number for t in study.best_trials) == [i for i, flag in enumerate(optimal) if flag]
