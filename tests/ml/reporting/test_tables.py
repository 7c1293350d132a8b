import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hybridrec_ml.evaluation.oracle_ceilings import BucketFusion
from hybridrec_ml.evaluation.segments import segment_report
from hybridrec_ml.reporting.tables import (
    ablation_table,
    alpha_epochs_frame,
    best_baseline,
    gate_status,
    main_table,
    markdown_table,
    oracle_fusion_table,
    percent_of_oracle,
    population_table,
    results_frame,
    segment_table,
    segments_frame,
    significance_table,
    significance_tests,
    summary_lines,
    training_table,
)
from tests.ml.reporting.conftest import evaluation

# Student t quantile 0.975 with 1 degree of freedom is 12.7062.


def values(frame, variant, protocol, population, metric="ndcg@10"):
    selected = frame[
        (frame["variant"] == variant) & (frame["protocol"] == protocol)
        & (frame["population"] == population) & (frame["metric"] == metric)
    ]  # fmt: skip
    return selected["value"].tolist()


def test_results_are_user_level_means_for_all_and_warm_users(evaluations):
    frame = results_frame(evaluations)
    assert list(frame.columns) == ["variant", "seed", "protocol", "population", "metric", "value"]
    # per row v1 seed 1: rows [1, 0 | 1 | 0 | 1] -> users 0.5, 1, 0, 1: all 0.625 (the row mean would be 0.6)
    assert values(frame, "v1", "full", "all") == pytest.approx([0.625, 0.75])
    assert values(frame, "v1", "full", "warm") == pytest.approx([2.5 / 3, 1.0])
    # per user, positions [0, 100] for user 0: NDCG = 1 / (1 + 1/log2 3), recall 1/2
    user0 = 1 / (1 + 1 / np.log2(3))
    assert values(frame, "v1", "per_user", "all") == pytest.approx([(user0 + 1 + 0 + 1) / 4, (1 + 1 + 0 + 1) / 4])
    assert values(frame, "v1", "per_user", "all", "recall@10") == pytest.approx([(0.5 + 2) / 4, 3 / 4])
    assert values(frame, "v2", "gate", "all", "alpha_static") == [pytest.approx(0.35)]


def test_main_table_has_all_and_warm_columns_ci_over_seeds_and_one_gate_rule(evaluations):
    lines = main_table(results_frame(evaluations)).splitlines()
    assert lines[0] == (
        "| Variant | Seeds | NDCG@10 per row, full ranking (all) | NDCG@10 per row, full ranking (warm) "
        "| NDCG@10 per row, 99 sampled (all) | NDCG@10 per row, 99 sampled (warm) | NDCG@10 per user (RecBole) (all) "
        "| NDCG@10 per user (RecBole) (warm) | α (static, dyn, content) | Gate | NDCG@10 per row, full ranking (all), % of oracle |"
    )
    # v1: 0.625 and 0.75 -> 0.6875 ± 12.7062 * 0.0625
    assert lines[2].startswith("| v1 | 2 | 0.6875 ± 0.7941 | 0.9167 ± 1.0589 | 0.6875 ± 0.7941 |")
    assert lines[2].endswith("| (0.980, 0.010, 0.010) | collapsed (max α 0.98 > 0.9) | — |")  # no oracle evaluated
    assert lines[3].endswith("| (0.350, 0.330, 0.320) | not collapsed (max α 0.35) | — |")
    assert lines[4].startswith("| static_only | 2 | 0.5000 ± 0.0000 | 0.3333 ± 0.0000 |")
    assert lines[4].endswith("| (1.000, 0.000, 0.000) | n/a (no learned gate) | — |")
    assert lines[5].startswith("| pop | 1 | 1.0000 (n=1) |") and lines[5].endswith("| — | n/a (no learned gate) | — |")
    assert gate_status("no_attention", (1 / 3, 1 / 3, 1 / 3)) == "n/a (no learned gate)"


def test_population_table_counts_users_and_rows_per_protocol(evaluations):
    lines = population_table(evaluations[0]).splitlines()
    assert lines[2] == "| per row, full ranking | all | 4 | 5 rows |"
    assert lines[3] == "| per row, full ranking | warm | 3 | 4 rows |"
    assert lines[6] == "| per user (RecBole) | all | 4 | 5 positives (distinct test items) |"
    assert lines[7] == "| per user (RecBole) | warm | 3 | 4 positives (distinct test items) |"
    assert lines[8] == "| cold-item slice (full ranking) | all | 1 | 1 rows |"


def test_every_variant_is_also_a_percentage_of_the_oracle():
    records = [("oracle", seed, "full", "all", "ndcg@10", 0.4) for seed in (42, 43)]
    records += [("v1", 42, "full", "all", "ndcg@10", 0.1), ("v1", 43, "full", "all", "ndcg@10", 0.12)]
    frame = pd.DataFrame.from_records(records, columns=["variant", "seed", "protocol", "population", "metric", "value"])
    assert percent_of_oracle(frame, "v1") == "27.5%"
    assert percent_of_oracle(frame, "oracle") == "100.0%"
    assert percent_of_oracle(frame, "v1", protocol="sampled") == "—"
    assert main_table(frame).splitlines()[3].endswith("| 27.5% |")


def test_oracle_fusion_table_gives_the_planted_and_the_oracle_optimal_mixture_per_bucket():
    fusion = [
        BucketFusion("weekday_daytime", 10, (0.02, 0.02, 0.96), (0.1, 0.0, 0.9), 0.25),
        BucketFusion("weekend", 4, (0.96, 0.02, 0.02), (1.0, 0.0, 0.0), 0.3),
    ]
    lines = oracle_fusion_table(fusion).splitlines()
    assert lines[0] == "| Context bucket | Rows | Planted mixture | Oracle-optimal fusion | Oracle NDCG@10 with it |"
    assert lines[2] == "| weekday_daytime | 10 | (0.020, 0.020, 0.960) | (0.100, 0.000, 0.900) | 0.2500 |"
    assert lines[3] == "| weekend | 4 | (0.960, 0.020, 0.020) | (1.000, 0.000, 0.000) | 0.3000 |"


def test_ablation_table_gives_relative_change_to_v1(evaluations):
    lines = ablation_table(results_frame(evaluations), reference="v1").splitlines()
    assert lines[3].startswith("| v2 | 0.2500 | -63.6% |")
    assert lines[4].startswith("| static_only | 0.5000 | -27.3% |")


def test_significance_pairs_users_over_shared_seeds_with_holm(evaluations):
    assert best_baseline(results_frame(evaluations)) == "pop"
    tests = significance_tests(evaluations, references=("v1", "pop"))
    assert tests[["variant", "reference", "n_seeds", "n_users"]].values.tolist() == [
        ["v2", "v1", 1, 4], ["static_only", "v1", 2, 4], ["pop", "v1", 1, 4],
        ["v1", "pop", 1, 4], ["v2", "pop", 1, 4], ["static_only", "pop", 1, 4],
    ]  # fmt: skip
    # static_only vs v1 over seeds 1 and 2: users (0, 1, 1, 0) vs seed-averaged v1 (0.75, 1, 0, 1)
    static_only, v1 = np.array([0, 1, 1, 0.0]), np.array([0.75, 1, 0, 1])
    row = tests.iloc[1]
    assert row["mean_difference"] == pytest.approx(-0.1875)
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(static_only, v1).pvalue)
    # differences -0.75, 0, +1, -1: ranks of |d| 1, 2.5, 2.5 -> (2.5 - 3.5) / 6
    assert row["rank_biserial"] == pytest.approx(-1 / 6)
    order = np.argsort(tests["wilcoxon_p"].to_numpy(), kind="stable")
    assert tests["holm_p"].iloc[order[0]] == pytest.approx(min(1.0, 6 * tests["wilcoxon_p"].iloc[order[0]]))
    assert not tests["significant"].any()  # 4 users cannot clear Holm over 6 tests
    table = significance_table(tests).splitlines()
    assert table[3].startswith("| static_only | v1 | 4 | 2 | 0.5000 | 0.6875 | -0.1875 | [")


def test_summary_says_who_differs_and_by_how_much(evaluations):
    tests = significance_tests(evaluations, references=("v1",))
    assert summary_lines(tests, ["v1"]) == ["No variant differs from v1 at Holm-adjusted p < 0.05 (3 comparisons)."]
    fake = tests.assign(significant=[True, False, False])
    assert summary_lines(fake, ["v1"])[0].startswith(
        "Differ from v1 (Holm p < 0.05): v2 below by 0.3750 (-60.0%, CI ["
    )
    assert summary_lines(fake, ["v1"])[0].endswith("; not distinguishable: static_only, pop.")


def test_significance_refuses_different_users(evaluations):
    moved = evaluation("v2", 1, [0, 0, 100, 100, 100])
    object.__setattr__(moved.per_user, "users", np.array([0, 1, 2, 9]))
    object.__setattr__(moved, "row_user", np.array([0, 0, 1, 2, 9]))
    with pytest.raises(ValueError, match="different users"):
        significance_tests([evaluations[0], moved], references=("v1",))


def test_alpha_epochs_frame_counts_epochs_from_one(evaluations):
    frame = alpha_epochs_frame(evaluations)
    assert frame[frame["variant"] == "v2"].values.tolist() == [["v2", 1, 1, 0.34, 0.33, 0.33]]
    assert len(frame) == 7


def test_segment_table_is_per_user_with_cold_users_the_cold_item_slice_and_n_a(evaluations):
    chosen = [evaluations[0], evaluations[1], evaluations[3]]
    segments = [segment_report(e.users, has_gate=e.variant == "v1", collapse_threshold=0.9) for e in chosen]
    lines = segment_table(segments_frame(chosen, segments)).splitlines()
    # v1: cold user 2 scores 0 in both seeds; 1-3: user 3 (1, 1); 4-10: user 0 (0.5, 1); >30: user 1 (1, 1)
    assert lines[2] == "| v1 | 0 (cold) | 1 | 1 | 0.0000 | 0.0000 | 0.0000 | 0.980 | 0.010 | 0.010 | yes |"
    # per user, user 0: positions (0, 100) -> 1 / (1 + 1/log2 3) = 0.6131 in seed 1, (0, 1) -> 1 in seed 2
    assert lines[4] == "| v1 | 4-10 | 1 | 2 | 0.7500 | 0.7500 | 0.8066 | 0.980 | 0.010 | 0.010 | yes |"
    assert lines[5] == "| v1 | 11-30 | 0 | 0 | — | — | — | — | — | — | n/a |"
    # cold items: user 0's second row (rank 100 in seed 1, 0 in seed 2)
    assert lines[7] == "| v1 | cold items (unseen in training) | 1 | 1 | 0.5000 | 0.5000 | — | — | — | — | n/a |"
    static_only = [line for line in lines if line.startswith("| static_only |")]
    assert len(static_only) == 6 and all(line.endswith("| n/a |") for line in static_only)


def test_markdown_table_escapes_bars():
    assert markdown_table(["a", "b"], [["x|y", "1"]]) == "| a | b |\n| --- | --- |\n| x\\|y | 1 |"


def test_training_table_says_the_profile_the_best_epoch_and_what_ended_each_run():
    runs = [
        ("v1", 42, {"profile": "research", "best_epoch": 7, "epochs": 12, "max_epochs": 100, "stopped_early": 1}),
        ("bpr_mf", 42, {"profile": "demo", "best_epoch": 6, "epochs": 6, "max_epochs": 6, "stopped_early": 0}),
        ("pop", 42, {"profile": "demo", "best_epoch": 0, "epochs": 0, "max_epochs": 0, "stopped_early": 0}),
        ("old", 1, None),
    ]
    assert training_table(runs).splitlines()[2:] == [
        "| v1 | 42 | research | 7 | 12 (100) | patience |",
        "| bpr_mf | 42 | demo | 6 | 6 (6) | epoch cap |",
        "| pop | 42 | demo | 0 | 0 (0) | nothing to train |",
        "| old | 1 | — | — | — | not recorded |",
    ]


def test_the_best_baseline_is_any_registered_baseline_never_a_hybrid_or_the_oracle():
    evaluations = [
        evaluation("pop", 1, [100] * 5, positions=[100, 101, 100, 100, 100]),  # per-user full NDCG@10: all 0
        evaluation("sasrec", 1, [0, 0, 0, 100, 100], positions=[0, 1, 0, 100, 100]),  # u0 1, u1 1 -> 0.5
        evaluation("ease", 1, [100, 100, 0, 100, 100], positions=[100, 101, 0, 100, 100]),  # u1 1 -> 0.25
        evaluation("hybrid_plus", 1, [0] * 5, positions=[0, 1, 0, 0, 0]),  # 1, but not a baseline
        evaluation("oracle", 1, [0] * 5, positions=[0, 1, 0, 0, 0]),
    ]
    assert best_baseline(results_frame(evaluations)) == "sasrec"
