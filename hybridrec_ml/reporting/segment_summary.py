"""One partition's segment table reduced to what the collapse check and the asset metadata need.

The collapse check judges a gate where it is most concentrated: a gate balanced on average can
still have picked one component for the users of one history-length segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from hybridrec_ml.config import ALPHA_COLUMNS


@dataclass(frozen=True)
class SegmentSummary:
    most_concentrated: str | None  # label of the gated segment with the largest mean α; None: no gate or no users
    alpha_mean: tuple[float, ...] | None  # that segment's mean α per component, in ALPHA_COLUMNS order
    metrics: dict[str, float | int]  # "<segment>_ndcg_at_10", "<segment>_users", "<segment>_rows" per populated row


def metric_prefix(label: str) -> str:
    """"0 (cold)" -> "segment_0_cold", ">30" -> "segment_over_30": a label usable as a metadata key."""
    return "segment_" + re.sub(r"[^0-9a-z]+", "_", label.lower().replace(">", "over_")).strip("_")


def summarize_segments(segments: pd.DataFrame) -> SegmentSummary:
    """`segments` is `evaluation.segments.segment_report`'s frame; rows without users are left out.

    Only rows whose `collapsed` is not None (a learned gate and users) can be the most concentrated.
    """
    metrics: dict[str, float | int] = {}
    for _, row in segments[segments["n_users"] > 0].iterrows():
        prefix = metric_prefix(row["segment"])
        metrics |= {
            f"{prefix}_ndcg_at_10": float(row["ndcg@10"]),
            f"{prefix}_users": int(row["n_users"]),
            f"{prefix}_rows": int(row["n_rows"]),
        }
    gated = segments[segments["collapsed"].notna()]
    if not len(gated):
        return SegmentSummary(None, None, metrics)
    worst = gated.loc[gated[list(ALPHA_COLUMNS)].max(axis=1).idxmax()]
    return SegmentSummary(str(worst["segment"]), tuple(float(worst[c]) for c in ALPHA_COLUMNS), metrics)
