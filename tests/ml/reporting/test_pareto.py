"""The report's Pareto section from a hand-built study outcome."""

from hybridrec_ml.reporting.pareto import front_table, pareto_figure
from hybridrec_ml.reporting.results_report import build_results_report
from hybridrec_ml.tuning.outcome import ParetoOutcome, TrialPoint
from hybridrec_ml.tuning.space import GateSetting

TEST = {
    "test_full_all_ndcg_at_10": 0.2, "test_full_all_ndcg_at_10_ci95": 0.01, "test_full_all_recall_at_10": 0.3,
    "test_alpha_static": 0.5, "test_alpha_dynamic": 0.3, "test_alpha_content": 0.2, "users_all": 1200,
}  # fmt: skip
POINTS = [
    TrialPoint(0, GateSetting(0.0, 0.0, None), 0.30, 0.10, (0.9, 0.05, 0.05), "v1", True, "r0", TEST),
    TrialPoint(1, GateSetting(0.05, 0.01, 0.01), 0.20, 0.95, (0.35, 0.33, 0.32), "v2 = study", True, "r1", TEST | {"test_full_all_ndcg_at_10": 0.18}),
    TrialPoint(2, GateSetting(0.3, 0.0, 0.002), 0.10, 0.50, (0.6, 0.2, 0.2), None, False, "r2"),
    TrialPoint(3, GateSetting(0.001, 2.5, None), 0.25, 0.60, (0.5, 0.3, 0.2), None, True, "r3", TEST),
]
OUTCOME = ParetoOutcome("study-x", "sqlite:///optuna.db", "v2", "entropy", [0, 1, 2, 3], POINTS)


def test_the_figure_draws_every_trial_the_front_in_balance_order_and_marks_the_references():
    figure = pareto_figure(OUTCOME)
    assert [trace.name for trace in figure.data] == ["dominated trial", "Pareto front", "v1", "v2 = study"]
    dominated, front, v1, v2 = figure.data
    assert (list(dominated.x), list(dominated.y)) == ([0.50], [0.10])
    assert (list(front.x), list(front.y)) == ([0.10, 0.60, 0.95], [0.30, 0.25, 0.20])
    assert (list(v1.x), list(v1.y), v1.marker.symbol) == ([0.10], [0.30], "x")
    assert (list(v2.x), list(v2.y), v2.marker.symbol) == ([0.95], [0.20], "star")


def test_the_front_table_lists_the_settings_with_their_test_numbers():
    assert front_table(OUTCOME).splitlines()[2:] == [
        "| 0 | v1 | 0 | 0 | default | 0.3000 | 0.1000 | 0.2000 ± 0.0100 | 0.3000 | 0.500, 0.300, 0.200 | 1,200 |",
        "| 3 |  | 0.001 | 2.5 | default | 0.2500 | 0.6000 | 0.2000 ± 0.0100 | 0.3000 | 0.500, 0.300, 0.200 | 1,200 |",
        "| 1 | v2 = study | 0.05 | 0.01 | 0.01 | 0.2000 | 0.9500 | 0.1800 ± 0.0100 | 0.3000 | 0.500, 0.300, 0.200 | 1,200 |",
    ]


def test_metadata_numbers_name_the_references_and_the_front_ends():
    assert OUTCOME.metadata_numbers() == {
        "trials_completed": 4, "trials_run_now": 4, "front_size": 3, "v1_val_ndcg_at_10": 0.30, "v1_gate_balance": 0.10,
        "v2_study_val_ndcg_at_10": 0.20, "v2_study_gate_balance": 0.95, "most_balanced_test_ndcg_at_10": 0.18,
        "most_accurate_test_ndcg_at_10": 0.2,
    }  # fmt: skip


def test_the_results_report_carries_the_section_only_with_an_outcome(tmp_path, evaluations):
    without = build_results_report(evaluations, tmp_path / "a.html").path.read_text(encoding="utf-8")
    assert "Pareto frontier" not in without
    text = build_results_report(evaluations, tmp_path / "b.html", pareto=OUTCOME).path.read_text(encoding="utf-8")
    assert "<h2>The (λ_ent, λ_bal) Pareto frontier</h2>" in text
    assert "Marked: v1 (trial 0), v2 = study (trial 1)." in text
    assert text.count('class="plotly-graph-div"') == without.count('class="plotly-graph-div"') + 1
