"""One partition's segment table reduced to what the collapse check and the asset metadata need.

The collapse check judges a gate where it is most concentrated: a gate balanced on average can
still have picked one component for the users of one history-length segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hybridrec_ml.config import ALPHA_COLUMNS


@dataclass(frozen=True)
class SegmentSummary:
    most_concentrated: str | None  # label of the populated segment with the largest mean α; None: no gate or no rows
    alpha_mean: tuple[float, ...] | None  # that segment's mean α per component, in ALPHA_COLUMNS order
    metrics: dict[str, float | int]  # "<segment>_ndcg_at_10" and "<segment>_rows" per populated segment


def metric_prefix(label: str) -> str:
    """"cold-start (≤3)" -> "cold_start": the segment name without its range, usable as a metadata key."""
    return label.split(" ")[0].replace("-", "_")


def summarize_segments(segments: pd.DataFrame, *, has_learned_gate: bool) -> SegmentSummary:
    """`segments` is `evaluation.segments.segment_report`'s frame; empty segments are left out."""
    populated = segments[segments["n_rows"] > 0]
    metrics: dict[str, float | int] = {}
    for _, row in populated.iterrows():
        prefix = metric_prefix(row["segment"])
        metrics |= {f"{prefix}_ndcg_at_10": float(row["ndcg@10"]), f"{prefix}_rows": int(row["n_rows"])}
    if not has_learned_gate or not len(populated):
        return SegmentSummary(None, None, metrics)
    worst = populated.loc[populated[list(ALPHA_COLUMNS)].max(axis=1).idxmax()]
    return SegmentSummary(str(worst["segment"]), tuple(float(worst[c]) for c in ALPHA_COLUMNS), metrics)
