"""The study's tables as markdown, from results gathered over variants and seeds.

The inputs are `VariantRunResult`s (one per trained variant and seed); the Dagster layer only
gathers them. Every table states uncertainty: mean ± 95% t-interval over seeds, paired tests
on the same test rows.
"""

from __future__ import annotations

from collections.abc import Sequence
import numpy as np
import pandas as pd

from hybridrec_ml.config import ALPHA_COLUMNS, DEFAULT_COLLAPSE_THRESHOLD, gate_can_collapse
from hybridrec_ml.evaluation.run_result import VariantRunResult
from hybridrec_ml.evaluation.significance import mean_ci, paired_test

PROTOCOLS: tuple[str, ...] = ("sampled", "full")
GATE = "gate"  # the tidy frame's protocol value for the α entries (they do not depend on a protocol)
TIDY_COLUMNS = ["variant", "seed", "protocol", "metric", "value"]


def tidy_results(runs: Sequence[VariantRunResult]) -> pd.DataFrame:
    """Long frame (variant, seed, protocol, metric, value): metric means per protocol, α under "gate"."""
    records = []
    for run in runs:
        for protocol, metrics in (("sampled", run.sampled_metrics), ("full", run.full_metrics)):
            records += [(run.variant, run.seed, protocol, name, value) for name, value in (metrics or {}).items()]
        if run.alpha_mean is not None:
            alpha = zip(ALPHA_COLUMNS, run.alpha_mean)
            records += [(run.variant, run.seed, GATE, name, value) for name, value in alpha]
    return pd.DataFrame.from_records(records, columns=TIDY_COLUMNS)


def segments_frame(runs: Sequence[VariantRunResult]) -> pd.DataFrame:
    """All runs' segment reports stacked, with variant and seed columns in front."""
    frames = [run.segments.assign(variant=run.variant, seed=run.seed) for run in runs if run.segments is not None]
    if not frames:
        return pd.DataFrame()
    stacked = pd.concat(frames, ignore_index=True)
    return stacked[["variant", "seed", *[c for c in stacked.columns if c not in ("variant", "seed")]]]


def alpha_epochs_frame(runs: Sequence[VariantRunResult]) -> pd.DataFrame:
    """(variant, seed, epoch, alpha_static, alpha_dynamic, alpha_content), epochs counted from 1."""
    records = [
        {"variant": run.variant, "seed": run.seed, "epoch": epoch, **dict(zip(ALPHA_COLUMNS, alpha))}
        for run in runs
        for epoch, alpha in enumerate(run.alpha_per_epoch, start=1)
    ]
    return pd.DataFrame.from_records(records, columns=["variant", "seed", "epoch", *ALPHA_COLUMNS])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub pipe table; "|" inside a cell is escaped so it cannot split the cell."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(row) for row in rows)])


def _variants(frame: pd.DataFrame, variants: Sequence[str] | None) -> list[str]:
    return list(variants) if variants is not None else list(dict.fromkeys(frame["variant"]))


def _values(frame: pd.DataFrame, variant: str, protocol: str, metric: str) -> np.ndarray:
    selected = frame[(frame["variant"] == variant) & (frame["protocol"] == protocol) & (frame["metric"] == metric)]
    return selected["value"].to_numpy(dtype=np.float64)


def _cell(frame: pd.DataFrame, variant: str, protocol: str, metric: str) -> str:
    values = _values(frame, variant, protocol, metric)
    return mean_ci(values).format() if values.size else "—"


def _mean_alpha(frame: pd.DataFrame, variant: str) -> tuple[float, ...] | None:
    means = [_values(frame, variant, GATE, column) for column in ALPHA_COLUMNS]
    return tuple(float(values.mean()) for values in means) if all(values.size for values in means) else None


def _format_alpha(alpha: tuple[float, ...] | None) -> str:
    return "—" if alpha is None else "(" + ", ".join(f"{a:.3f}" for a in alpha) + ")"


def main_table(
    frame: pd.DataFrame,
    variants: Sequence[str] | None = None,
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD,
) -> str:
    """The study's main table under both protocols: NDCG@10 and Recall@10 as mean ± 95% CI over seeds."""
    headers = [
        "Variant", "Seeds", "NDCG@10 (sampled)", "Recall@10 (sampled)", "NDCG@10 (full)", "Recall@10 (full)",
        "α (static, dyn, content)", "Notes",
    ]  # fmt: skip
    rows = []
    for variant in _variants(frame, variants):
        alpha = _mean_alpha(frame, variant)
        collapsed = alpha is not None and max(alpha) > collapse_threshold and gate_can_collapse(variant)
        rows.append(
            [
                variant,
                str(frame.loc[frame["variant"] == variant, "seed"].nunique()),
                *(_cell(frame, variant, p, m) for p in PROTOCOLS for m in ("ndcg@10", "recall@10")),
                _format_alpha(alpha),
                f"collapsed (max α > {collapse_threshold:g})" if collapsed else "",
            ]
        )
    return markdown_table(headers, rows)


def _mean(frame: pd.DataFrame, variant: str, protocol: str, metric: str = "ndcg@10") -> float:
    values = _values(frame, variant, protocol, metric)
    return float(values.mean()) if values.size else float("nan")


def _delta_percent(value: float, reference: float) -> str:
    if not np.isfinite(value) or not np.isfinite(reference) or reference == 0:
        return "—"
    return f"{100 * (value - reference) / reference:+.1f}%"


def ablation_table(frame: pd.DataFrame, reference: str = "v1", variants: Sequence[str] | None = None) -> str:
    """Mean NDCG@10 per variant under both protocols with its Δ% relative to `reference`."""
    headers = ["Variant", "NDCG@10 (sampled)", "Δ% sampled", "NDCG@10 (full)", "Δ% full"]
    rows = []
    for variant in _variants(frame, variants):
        row = [variant]
        for protocol in PROTOCOLS:
            mean, reference_mean = _mean(frame, variant, protocol), _mean(frame, reference, protocol)
            row += [
                f"{mean:.4f}" if np.isfinite(mean) else "—",
                "—" if variant == reference else _delta_percent(mean, reference_mean),
            ]
        rows.append(row)
    return markdown_table(headers, rows)


def segment_table(segments: pd.DataFrame, collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD) -> str:
    """Per variant and user segment: rows, NDCG@10, Recall@10, mean α (means over seeds), collapse flag."""
    headers = [
        "Variant", "Segment", "Rows", "NDCG@10", "Recall@10", "α_static", "α_dynamic", "α_content", "Collapsed",
    ]  # fmt: skip
    if segments.empty:
        return markdown_table(headers, [])
    numeric = ["n_rows", "ndcg@10", "recall@10", *ALPHA_COLUMNS]
    means = segments.groupby(["variant", "segment"], sort=False)[numeric].mean().reset_index()
    rows = []
    for record in means.to_dict("records"):
        alpha = [record[column] for column in ALPHA_COLUMNS]
        has_alpha = not np.isnan(alpha).any()
        rows.append(
            [
                record["variant"],
                record["segment"],
                f"{record['n_rows']:.0f}",
                *(f"{record[m]:.4f}" if np.isfinite(record[m]) else "—" for m in ("ndcg@10", "recall@10")),
                *(f"{a:.3f}" if has_alpha else "—" for a in alpha),
                ("yes" if max(alpha) > collapse_threshold else "no") if has_alpha else "—",
            ]
        )
    return markdown_table(headers, rows)


def _averaged_over_shared_seeds(
    run_by_seed: dict[int, VariantRunResult], other_by_seed: dict[int, VariantRunResult], protocol: str
) -> tuple[np.ndarray, np.ndarray] | None:
    seeds = sorted(set(run_by_seed) & set(other_by_seed))
    pairs = [(run_by_seed[s], other_by_seed[s]) for s in seeds]
    pairs = [(a, b) for a, b in pairs if a.ndcg_per_row(protocol) is not None and b.ndcg_per_row(protocol) is not None]
    if not pairs:
        return None
    for a, b in pairs:
        if not np.array_equal(a.event_order, b.event_order):
            raise ValueError(f"{a.variant} and {b.variant} (seed {a.seed}) were evaluated on different test rows")
    mean_a = np.mean([a.ndcg_per_row(protocol) for a, _ in pairs], axis=0)
    mean_b = np.mean([b.ndcg_per_row(protocol) for _, b in pairs], axis=0)
    return mean_a, mean_b


def significance_tests(
    runs: Sequence[VariantRunResult], references: Sequence[str] = ("v1", "static_only"), protocol: str = "sampled"
) -> pd.DataFrame:
    """Paired tests of per-row NDCG@10, every variant against each reference on the same test rows.

    A variant's per-row NDCG@10 is first averaged over the seeds it shares with the reference,
    so the test compares models, not one lucky seed. Columns: variant, reference, protocol,
    n_rows, n_seeds, mean_difference (variant - reference), wilcoxon_p, t_p.
    """
    by_variant: dict[str, dict[int, VariantRunResult]] = {}
    for run in runs:
        by_variant.setdefault(run.variant, {})[run.seed] = run
    records = []
    for reference in references:
        for variant, run_by_seed in by_variant.items():
            if variant == reference or reference not in by_variant:
                continue
            paired = _averaged_over_shared_seeds(run_by_seed, by_variant[reference], protocol)
            if paired is None:
                continue
            test = paired_test(*paired)
            records.append(
                {
                    "variant": variant,
                    "reference": reference,
                    "protocol": protocol,
                    "n_rows": test.n,
                    "n_seeds": len(set(run_by_seed) & set(by_variant[reference])),
                    "mean_difference": test.mean_difference,
                    "wilcoxon_p": test.wilcoxon_p,
                    "t_p": test.t_p,
                }
            )
    columns = ["variant", "reference", "protocol", "n_rows", "n_seeds", "mean_difference", "wilcoxon_p", "t_p"]
    return pd.DataFrame.from_records(records, columns=columns)


def significance_table(tests: pd.DataFrame) -> str:
    """Markdown view of `significance_tests`."""
    headers = ["Variant", "vs", "Protocol", "Rows", "Seeds", "Δ NDCG@10", "Wilcoxon p", "paired t p"]
    rows = [
        [
            record.variant, record.reference, record.protocol, str(record.n_rows), str(record.n_seeds),
            f"{record.mean_difference:+.4f}", f"{record.wilcoxon_p:.3g}", f"{record.t_p:.3g}",
        ]  # fmt: skip
        for record in tests.itertuples(index=False)
    ]
    return markdown_table(headers, rows)
