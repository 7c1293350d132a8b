"""The segment view the collapse check and segment_report's metadata are built from, on a hand-built frame."""

import pandas as pd

from hybridrec_ml.reporting.segment_summary import metric_prefix, summarize_segments

NAN = float("nan")
LABELS = ["0 (cold)", "1-3", "4-10", ">30", "cold items (unseen in training)"]


def _segments(alpha_rows, collapsed):
    return pd.DataFrame(
        {
            "segment": LABELS,
            "n_users": [3, 0, 4, 1, 2],
            "n_rows": [5, 0, 7, 2, 3],
            "ndcg@10": [0.25, NAN, 0.5, 0.125, 0.0],
            "alpha_static": [a[0] for a in alpha_rows],
            "alpha_dynamic": [a[1] for a in alpha_rows],
            "alpha_content": [a[2] for a in alpha_rows],
            "collapsed": collapsed,
        }
    )


# The empty "1-3" segment (collapsed None: nobody in it) has the largest α of all: it must not be picked.
GATED = _segments(
    [(0.5, 0.25, 0.25), (0.99, 0.005, 0.005), (0.25, 0.75, 0.0), (0.6, 0.2, 0.2), (NAN, NAN, NAN)],
    [False, None, False, False, None],
)
METRICS = {
    "segment_0_cold_ndcg_at_10": 0.25, "segment_0_cold_users": 3, "segment_0_cold_rows": 5,
    "segment_4_10_ndcg_at_10": 0.5, "segment_4_10_users": 4, "segment_4_10_rows": 7,
    "segment_over_30_ndcg_at_10": 0.125, "segment_over_30_users": 1, "segment_over_30_rows": 2,
    "segment_cold_items_unseen_in_training_ndcg_at_10": 0.0, "segment_cold_items_unseen_in_training_users": 2,
    "segment_cold_items_unseen_in_training_rows": 3,
}  # fmt: skip


def test_the_most_concentrated_gated_segment_is_picked():
    summary = summarize_segments(GATED)
    assert summary.most_concentrated == "4-10"
    assert summary.alpha_mean == (0.25, 0.75, 0.0)
    assert summary.metrics == METRICS


def test_without_a_learned_gate_nothing_is_judged_but_metrics_stay():
    summary = summarize_segments(GATED.assign(collapsed=[None] * 5))
    assert (summary.most_concentrated, summary.alpha_mean) == (None, None)
    assert summary.metrics == METRICS


def test_metric_prefix_makes_labels_into_keys():
    assert [metric_prefix(label) for label in LABELS] == [
        "segment_0_cold", "segment_1_3", "segment_4_10", "segment_over_30", "segment_cold_items_unseen_in_training",
    ]  # fmt: skip
