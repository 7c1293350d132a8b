"""The segment view the collapse check and segment_report's metadata are built from, on a hand-built frame."""

import pandas as pd

from hybridrec_ml.reporting.segment_summary import metric_prefix, summarize_segments

NAN = float("nan")


def _segments(alpha_rows):
    labels = ["cold-start (≤3)", "warm (4-10)", "hot (11-30)", "super-hot (>30)"]
    return pd.DataFrame(
        {
            "segment": labels,
            "n_rows": [5, 0, 7, 2],
            "ndcg@10": [0.25, NAN, 0.5, 0.125],
            "recall@10": [0.4, NAN, 0.6, 0.5],
            "alpha_static": [a[0] for a in alpha_rows],
            "alpha_dynamic": [a[1] for a in alpha_rows],
            "alpha_content": [a[2] for a in alpha_rows],
        }
    )


# The empty "warm" segment has the largest α of all but no rows: it must not be picked.
GATED = _segments([(0.5, 0.25, 0.25), (0.99, 0.005, 0.005), (0.25, 0.75, 0.0), (0.6, 0.2, 0.2)])
METRICS = {
    "cold_start_ndcg_at_10": 0.25, "cold_start_rows": 5,
    "hot_ndcg_at_10": 0.5, "hot_rows": 7,
    "super_hot_ndcg_at_10": 0.125, "super_hot_rows": 2,
}  # fmt: skip


def test_the_most_concentrated_populated_segment_is_picked():
    summary = summarize_segments(GATED, has_learned_gate=True)
    assert summary.most_concentrated == "hot (11-30)"
    assert summary.alpha_mean == (0.25, 0.75, 0.0)
    assert summary.metrics == METRICS


def test_without_a_learned_gate_nothing_is_judged_but_metrics_stay():
    summary = summarize_segments(_segments([(NAN, NAN, NAN)] * 4), has_learned_gate=False)
    assert (summary.most_concentrated, summary.alpha_mean) == (None, None)
    assert summary.metrics == METRICS


def test_no_populated_segment_gives_no_pick_and_no_metrics():
    empty = GATED.assign(n_rows=0)
    summary = summarize_segments(empty, has_learned_gate=True)
    assert (summary.most_concentrated, summary.alpha_mean, summary.metrics) == (None, None, {})


def test_metric_prefix_drops_the_range_and_dashes():
    assert [metric_prefix(label) for label in GATED["segment"]] == ["cold_start", "warm", "hot", "super_hot"]
