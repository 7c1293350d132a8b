"""How far each learned gate is from the fusion an ideal gate would choose, per context bucket.

The oracle-optimal fusion of a bucket (evaluation.oracle_ceilings) is a mixture over the three
mechanisms. A gate is compared with it twice: its mean α, and its mean effective share (α × the
component's score spread over the catalogue, normalised: what the ranking actually takes from each
component, evaluation.contributions). The distance is the total variation ½ Σ_k |p_k − q_k|: 0 for
the same mixture, 1 for mixtures on disjoint components; a variant's figure is the mean over
buckets weighted by the bucket's test rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hybridrec_ml.config import ALPHA_COLUMNS, EFFECTIVE_SHARE_COLUMNS
from hybridrec_ml.evaluation.oracle_ceilings import BucketFusion
from hybridrec_ml.reporting.tables import format_mixture, markdown_table

GATE_VS_ORACLE_COLUMNS = ["variant", "bucket", "n_rows", "optimal", "alpha", "effective_share", "tv_alpha", "tv_share"]


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    """½ Σ_k |p_k − q_k| between two mixtures over the same components (NaN if either has a NaN)."""
    return float(0.5 * np.abs(np.asarray(p, dtype=np.float64) - np.asarray(q, dtype=np.float64)).sum())


def gate_vs_oracle(fusion: Sequence[BucketFusion], learned: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (gated variant, bucket of `fusion`) in GATE_VS_ORACLE_COLUMNS: the seeds' mean α and mean
    effective share (tuples; None where the variant has no row in the bucket or no measured share) and
    their total-variation distances to the oracle-optimal fusion (NaN where there is nothing to compare).

    `learned` maps a variant to its `segments.alpha_by_context_bucket` frames stacked over seeds.
    """
    records = []
    for variant, frames in learned.items():
        populated = frames[frames["n_rows"] > 0]
        means = populated.groupby("bucket", sort=False)[[*ALPHA_COLUMNS, *EFFECTIVE_SHARE_COLUMNS]].mean()
        for b in fusion:
            alpha = share = None
            if b.bucket in means.index:
                alpha = tuple(float(v) for v in means.loc[b.bucket, list(ALPHA_COLUMNS)])
                values = means.loc[b.bucket, list(EFFECTIVE_SHARE_COLUMNS)]
                share = None if values.isna().any() else tuple(float(v) for v in values)
            records.append({
                "variant": variant, "bucket": b.bucket, "n_rows": b.n_rows, "optimal": b.optimal, "alpha": alpha,
                "effective_share": share,
                "tv_alpha": total_variation(alpha, b.optimal) if alpha is not None else float("nan"),
                "tv_share": total_variation(share, b.optimal) if share is not None else float("nan"),
            })  # fmt: skip
    return pd.DataFrame.from_records(records, columns=GATE_VS_ORACLE_COLUMNS)


def gate_vs_oracle_table(comparison: pd.DataFrame) -> str:
    """`gate_vs_oracle` as markdown: per variant and bucket, the oracle's fusion, α, effective share, distances."""
    headers = ["Variant", "Context bucket", "Oracle-optimal fusion", "α (mean over seeds)", "TV(α, oracle)",
               "Effective share (mean over seeds)", "TV(share, oracle)"]  # fmt: skip
    rows = [
        [
            r.variant, r.bucket, format_mixture(r.optimal), format_mixture(r.alpha), _distance(r.tv_alpha),
            format_mixture(r.effective_share), _distance(r.tv_share),
        ]
        for r in comparison.itertuples(index=False)
    ]  # fmt: skip
    return markdown_table(headers, rows)


def gate_vs_oracle_sentences(comparison: pd.DataFrame, not_applicable: Sequence[str] = ()) -> list[str]:
    """One computed sentence per gated variant (row-weighted mean distance over buckets, and the farthest
    bucket), then one naming the variants without a learned gate as not applicable."""
    sentences = []
    for variant, rows in comparison.groupby("variant", sort=False):
        alpha, share = _weighted(rows, "tv_alpha"), _weighted(rows, "tv_share")
        if not np.isfinite(alpha):
            sentences.append(f"{variant}: no test row in a bucket the oracle scored; nothing to compare.")
            continue
        farthest = rows.loc[rows["tv_alpha"].idxmax()]
        share_text = (
            f"its effective shares {share:.3f}" if np.isfinite(share) else "its effective shares were not recorded"
        )
        sentences.append(
            f"{variant}: α is {alpha:.3f} from the oracle-optimal fusion (total variation, mean over buckets "
            f"weighted by rows), {share_text}; farthest in {farthest['bucket']} (α {farthest['tv_alpha']:.3f})."
        )
    if not_applicable:
        sentences.append(f"{', '.join(not_applicable)}: not applicable (no learned gate).")
    return sentences


def _weighted(rows: pd.DataFrame, column: str) -> float:
    """Mean of `column` over the rows where it is defined, weighted by n_rows (NaN if none)."""
    defined = rows[np.isfinite(rows[column].to_numpy(dtype=np.float64))]
    if defined.empty or defined["n_rows"].sum() == 0:
        return float("nan")
    return float(np.average(defined[column], weights=defined["n_rows"]))


def _distance(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "—"
