import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hybridrec_ml.evaluation.run_result import VariantRunResult
from hybridrec_ml.reporting.tables import (
    ablation_table,
    alpha_epochs_frame,
    main_table,
    markdown_table,
    segment_table,
    segments_frame,
    significance_table,
    significance_tests,
    tidy_results,
)

# Student t quantile 0.975 with 1 degree of freedom is 12.7062; two seeds 0.02 apart have s/sqrt(2) = 0.01.


def test_tidy_results_is_long_with_alpha_under_gate(runs):
    frame = tidy_results(runs)
    assert list(frame.columns) == ["variant", "seed", "protocol", "metric", "value"]
    assert len(frame) == 2 * (4 + 3) + (2 + 3) + 2 * 4
    gate = frame[(frame["variant"] == "v2") & (frame["protocol"] == "gate")]
    assert gate["metric"].tolist() == ["alpha_static", "alpha_dynamic", "alpha_content"]
    assert gate["value"].tolist() == [0.35, 0.33, 0.32]


def test_main_table_has_ci_over_seeds_alpha_and_collapse_note(runs):
    lines = main_table(tidy_results(runs), collapse_threshold=0.9).splitlines()
    assert lines[0] == (
        "| Variant | Seeds | NDCG@10 (sampled) | Recall@10 (sampled) | NDCG@10 (full) | Recall@10 (full) "
        "| α (static, dyn, content) | Notes |"
    )
    assert lines[2] == (
        "| v1 | 2 | 0.3100 ± 0.1271 | 0.4200 ± 0.2541 | 0.1100 ± 0.1271 | 0.2100 ± 0.1271 "
        "| (0.980, 0.010, 0.010) | collapsed (max α > 0.9) |"
    )
    assert lines[3] == "| v2 | 1 | 0.2700 (n=1) | 0.4100 (n=1) | — | — | (0.350, 0.330, 0.320) |  |"
    assert lines[4] == (
        "| static_only | 2 | 0.3200 ± 0.1271 | 0.4400 ± 0.1271 | 0.1200 ± 0.1271 | 0.2200 ± 0.1271 | — |  |"
    )


def test_ablation_table_gives_relative_change_to_v1(runs):
    lines = ablation_table(tidy_results(runs), reference="v1").splitlines()
    assert lines[2] == "| v1 | 0.3100 | — | 0.1100 | — |"
    assert lines[3] == "| v2 | 0.2700 | -12.9% | — | — |"
    assert lines[4] == "| static_only | 0.3200 | +3.2% | 0.1200 | +9.1% |"


def test_significance_pairs_rows_over_shared_seeds(runs):
    tests = significance_tests(runs, references=("v1", "static_only"))
    assert tests[["variant", "reference", "n_seeds"]].values.tolist() == [
        ["v2", "v1", 1],
        ["static_only", "v1", 2],
        ["v1", "static_only", 2],
        ["v2", "static_only", 1],
    ]
    v2_vs_v1 = tests.iloc[0]
    v2, v1_seed1 = np.array([0.5, 0, 0.5, 0.1, 0]), np.array([1, 0, 0.5, 0, 0.3])
    assert v2_vs_v1["mean_difference"] == pytest.approx(-0.14)
    assert v2_vs_v1["wilcoxon_p"] == pytest.approx(stats.wilcoxon(v2, v1_seed1).pvalue)
    assert v2_vs_v1["t_p"] == pytest.approx(stats.ttest_rel(v2, v1_seed1).pvalue)
    # static_only vs v1, seed-averaged rows: [1, .5, .5, .1, .3] - [1, 0, .5, .1, .3]
    assert tests.iloc[1]["mean_difference"] == pytest.approx(0.1)
    table = significance_table(tests).splitlines()
    assert table[2].startswith("| v2 | v1 | sampled | 5 | 1 | -0.1400 | ")


def test_significance_refuses_misaligned_rows(runs):
    shifted = VariantRunResult(**{**runs[2].__dict__, "event_order": np.array([9, 2, 3, 4, 5])})
    with pytest.raises(ValueError, match="different test rows"):
        significance_tests([runs[0], shifted])


def test_alpha_epochs_frame_counts_epochs_from_one(runs):
    frame = alpha_epochs_frame(runs)
    assert frame[frame["variant"] == "v2"].values.tolist() == [["v2", 1, 1, 0.34, 0.33, 0.33]]
    assert len(frame) == 5


def test_segment_table_averages_seeds(runs):
    report = pd.DataFrame(
        {
            "segment": ["cold-start (≤3)", "warm (4-10)"],
            "n_rows": [10, 0],
            "ndcg@10": [0.2, float("nan")],
            "recall@10": [0.4, float("nan")],
            "alpha_static": [0.9, float("nan")],
            "alpha_dynamic": [0.05, float("nan")],
            "alpha_content": [0.05, float("nan")],
            "collapsed": [False, False],
        }
    )
    second = report.assign(**{"ndcg@10": [0.4, float("nan")], "alpha_static": [0.96, float("nan")]})
    with_segments = [
        VariantRunResult(**{**runs[0].__dict__, "segments": report}),
        VariantRunResult(**{**runs[1].__dict__, "segments": second}),
    ]
    stacked = segments_frame(with_segments)
    assert list(stacked.columns[:3]) == ["variant", "seed", "segment"]
    lines = segment_table(stacked, collapse_threshold=0.9).splitlines()
    assert lines[2] == "| v1 | cold-start (≤3) | 10 | 0.3000 | 0.4000 | 0.930 | 0.050 | 0.050 | yes |"
    assert lines[3] == "| v1 | warm (4-10) | 0 | — | — | — | — | — | — |"


def test_markdown_table_escapes_bars():
    assert markdown_table(["a", "b"], [["x|y", "1"]]) == "| a | b |\n| --- | --- |\n| x\\|y | 1 |"
