"""The study's tables as markdown, from the stored evaluations of every (variant, seed).

Every number is a user-level mean (each user weighs once), shown as mean ± 95% t-interval over
seeds; comparisons pair per-user means on the same users, with Holm correction per table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hybridrec_ml.config import ALPHA_COLUMNS, DEFAULT_COLLAPSE_THRESHOLD, VARIANTS, gate_can_collapse
from hybridrec_ml.evaluation.oracle_ceilings import BucketFusion
from hybridrec_ml.evaluation.significance import holm, mean_ci, paired_comparison
from hybridrec_ml.evaluation.variant_evaluation import (
    POPULATIONS,
    PROTOCOL_LABELS,
    PROTOCOLS,
    USER_METRICS,
    VariantEvaluation,
)

ORACLE = "oracle"  # the variant every model is also reported against, as a percentage
GATE = "gate"  # the results frame's protocol value for the α entries (they do not depend on a protocol)
RESULT_COLUMNS = ["variant", "seed", "protocol", "population", "metric", "value"]
BASELINES: tuple[str, ...] = tuple(name for name, variant in VARIANTS.items() if variant.is_baseline)
SIGNIFICANCE_LEVEL = 0.05


def results_frame(evaluations: Sequence[VariantEvaluation]) -> pd.DataFrame:
    """Long frame (variant, seed, protocol, population, metric, value) of user-level means; α under "gate"."""
    records = []
    for evaluation in evaluations:
        for population in POPULATIONS:
            users = evaluation.population(population)
            records += [
                (evaluation.variant, evaluation.seed, protocol, population, metric, float(users[f"{protocol}:{metric}"].mean()))
                for protocol in PROTOCOLS
                for metric in USER_METRICS
            ]
        if evaluation.full.alpha_mean is not None:
            alpha = zip(ALPHA_COLUMNS, evaluation.full.alpha_mean)
            records += [(evaluation.variant, evaluation.seed, GATE, "all", name, value) for name, value in alpha]
    return pd.DataFrame.from_records(records, columns=RESULT_COLUMNS)


def segments_frame(evaluations: Sequence[VariantEvaluation], segments: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Every run's segment report stacked, with variant and seed columns in front."""
    frames = [s.assign(variant=e.variant, seed=e.seed) for e, s in zip(evaluations, segments)]
    if not frames:
        return pd.DataFrame()
    stacked = pd.concat(frames, ignore_index=True)
    return stacked[["variant", "seed", *[c for c in stacked.columns if c not in ("variant", "seed")]]]


def alpha_epochs_frame(evaluations: Sequence[VariantEvaluation]) -> pd.DataFrame:
    """(variant, seed, epoch, alpha_static, alpha_dynamic, alpha_content), epochs counted from 1."""
    records = [
        {"variant": e.variant, "seed": e.seed, "epoch": epoch, **dict(zip(ALPHA_COLUMNS, alpha))}
        for e in evaluations
        for epoch, alpha in enumerate(e.alpha_per_epoch, start=1)
    ]
    return pd.DataFrame.from_records(records, columns=["variant", "seed", "epoch", *ALPHA_COLUMNS])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub pipe table; "|" inside a cell is escaped so it cannot split the cell."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(row) for row in rows)])


def _variants(frame: pd.DataFrame, variants: Sequence[str] | None) -> list[str]:
    return list(variants) if variants is not None else list(dict.fromkeys(frame["variant"]))


def _values(frame: pd.DataFrame, variant: str, protocol: str, metric: str, population: str = "all") -> np.ndarray:
    selected = frame[
        (frame["variant"] == variant)
        & (frame["protocol"] == protocol)
        & (frame["metric"] == metric)
        & (frame["population"] == population)
    ]
    return selected["value"].to_numpy(dtype=np.float64)


def _cell(frame: pd.DataFrame, variant: str, protocol: str, metric: str, population: str) -> str:
    values = _values(frame, variant, protocol, metric, population)
    return mean_ci(values).format() if values.size else "—"


def mean_alpha(frame: pd.DataFrame, variant: str) -> tuple[float, ...] | None:
    means = [_values(frame, variant, GATE, column) for column in ALPHA_COLUMNS]
    return tuple(float(values.mean()) for values in means) if all(values.size for values in means) else None


def format_mixture(weights: Sequence[float] | None) -> str:
    """(static, dynamic, content) weights as "(0.100, 0.000, 0.900)"; "—" for None."""
    return "—" if weights is None else "(" + ", ".join(f"{w:.3f}" for w in weights) + ")"


def gate_status(variant: str, alpha: Sequence[float] | None, threshold: float = DEFAULT_COLLAPSE_THRESHOLD) -> str:
    """"collapsed (max α 0.97 > 0.9)", "not collapsed (max α 0.66)" or "n/a (no learned gate)": one rule everywhere."""
    if not gate_can_collapse(variant) or alpha is None:
        return "n/a (no learned gate)"
    largest = max(alpha)
    return f"collapsed (max α {largest:.2f} > {threshold:g})" if largest > threshold else f"not collapsed (max α {largest:.2f})"


def main_table(
    frame: pd.DataFrame,
    metric: str = "ndcg@10",
    variants: Sequence[str] | None = None,
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD,
) -> str:
    """`metric` under every protocol for all users and warm users (mean ± 95% CI over seeds), α and the gate."""
    name = metric.replace("ndcg", "NDCG").replace("recall", "Recall")
    headers = ["Variant", "Seeds"]
    headers += [f"{name} {PROTOCOL_LABELS[p]} ({population})" for p in PROTOCOLS for population in POPULATIONS]
    headers += ["α (static, dyn, content)", "Gate", f"{name} per row, full ranking (all), % of oracle"]
    rows = []
    for variant in _variants(frame, variants):
        alpha = mean_alpha(frame, variant)
        rows.append(
            [
                variant,
                str(frame.loc[frame["variant"] == variant, "seed"].nunique()),
                *(_cell(frame, variant, p, metric, population) for p in PROTOCOLS for population in POPULATIONS),
                format_mixture(alpha),
                gate_status(variant, alpha, collapse_threshold),
                percent_of_oracle(frame, variant, metric),
            ]
        )
    return markdown_table(headers, rows)


def population_table(evaluation: VariantEvaluation) -> str:
    """Who is evaluated: users and test rows per protocol and population (identical for every variant)."""
    counts = evaluation.counts()
    rows = []
    for protocol in PROTOCOLS:
        for population in POPULATIONS:
            users = evaluation.population(population)
            unit = "positives (distinct test items)" if protocol == "per_user" else "rows"
            n_rows = int(evaluation.per_user.n_positives[users.index].sum()) if protocol == "per_user" else int(users["rows"].sum())
            rows.append([PROTOCOL_LABELS[protocol], population, f"{len(users):,}", f"{n_rows:,} {unit}"])
    rows.append(["cold-item slice (full ranking)", "all", f"{int((evaluation.users['cold_item_rows'] > 0).sum()):,}", f"{counts['cold_item_rows']:,} rows"])
    return markdown_table(["Protocol", "Population", "Users", "Evaluated"], rows)


def percent_of_oracle(frame: pd.DataFrame, variant: str, metric: str = "ndcg@10", protocol: str = "full") -> str:
    """Mean `metric` of `variant` (all users) as a percentage of the `oracle` variant's (synthetic data only; "—" without it)."""
    ceiling, value = _mean(frame, ORACLE, protocol, metric), _mean(frame, variant, protocol, metric)
    if not (np.isfinite(ceiling) and np.isfinite(value)) or ceiling == 0:
        return "—"
    return f"{100 * value / ceiling:.1f}%"


def oracle_fusion_table(fusion: Sequence[BucketFusion]) -> str:
    """Per context bucket: the planted mixture and the oracle-optimal fusion (the gates next to it: gate_vs_oracle)."""
    headers = ["Context bucket", "Rows", "Planted mixture", "Oracle-optimal fusion", "Oracle NDCG@10 with it"]
    rows = [
        [b.bucket, str(b.n_rows), format_mixture(b.planted), format_mixture(b.optimal), f"{b.optimal_ndcg_at_10:.4f}"]
        for b in fusion
    ]
    return markdown_table(headers, rows)


def _mean(frame: pd.DataFrame, variant: str, protocol: str, metric: str = "ndcg@10") -> float:
    values = _values(frame, variant, protocol, metric)
    return float(values.mean()) if values.size else float("nan")


def _delta_percent(value: float, reference: float) -> str:
    if not np.isfinite(value) or not np.isfinite(reference) or reference == 0:
        return "—"
    return f"{100 * (value - reference) / reference:+.1f}%"


def ablation_table(frame: pd.DataFrame, reference: str = "v1", variants: Sequence[str] | None = None) -> str:
    """Mean NDCG@10 (all users) per variant under each protocol with its Δ% relative to `reference`."""
    headers = ["Variant"]
    for protocol in PROTOCOLS:
        headers += [f"NDCG@10 {PROTOCOL_LABELS[protocol]}", "Δ%"]
    rows = []
    for variant in _variants(frame, variants):
        row = [variant]
        for protocol in PROTOCOLS:
            values, reference_values = _values(frame, variant, protocol, "ndcg@10"), _values(frame, reference, protocol, "ndcg@10")
            mean = float(values.mean()) if values.size else float("nan")
            reference_mean = float(reference_values.mean()) if reference_values.size else float("nan")
            row += [f"{mean:.4f}" if np.isfinite(mean) else "—", "—" if variant == reference else _delta_percent(mean, reference_mean)]
        rows.append(row)
    return markdown_table(headers, rows)


def segment_table(segments: pd.DataFrame) -> str:
    """Per variant and user segment (then the cold-item slice): users, rows, per-user means over seeds, α, collapse."""
    headers = [
        "Variant", "Segment", "Users", "Rows", "NDCG@10 (full, per row)", "Recall@10 (full, per row)",
        "NDCG@10 (per user)", "α_static", "α_dynamic", "α_content", "Collapsed",
    ]  # fmt: skip
    if segments.empty:
        return markdown_table(headers, [])
    numeric = ["n_users", "n_rows", "ndcg@10", "recall@10", "per_user_ndcg@10", *ALPHA_COLUMNS]
    grouped = segments.groupby(["variant", "segment"], sort=False)
    means = grouped[numeric].mean().reset_index()
    collapsed = grouped["collapsed"].agg(lambda flags: None if flags.isna().any() else bool(flags.astype(bool).any()))
    rows = []
    for record in means.to_dict("records"):
        flag = collapsed[(record["variant"], record["segment"])]
        alpha = [record[column] for column in ALPHA_COLUMNS]
        rows.append(
            [
                record["variant"],
                record["segment"],
                f"{record['n_users']:.0f}",
                f"{record['n_rows']:.0f}",
                *(f"{record[m]:.4f}" if np.isfinite(record[m]) else "—" for m in ("ndcg@10", "recall@10", "per_user_ndcg@10")),
                *(f"{a:.3f}" if np.isfinite(a) else "—" for a in alpha),
                "n/a" if flag is None else ("yes" if flag else "no"),
            ]
        )
    return markdown_table(headers, rows)


def best_baseline(frame: pd.DataFrame, protocol: str = "full", metric: str = "ndcg@10") -> str | None:
    """The baseline with the highest mean `metric` over all users, or None if no baseline was evaluated."""
    means = {b: _values(frame, b, protocol, metric).mean() for b in BASELINES if _values(frame, b, protocol, metric).size}
    return max(means, key=means.get) if means else None


def _user_values(runs: dict[int, VariantEvaluation], seeds: list[int], column: str, population: str) -> pd.Series:
    """Per-user values averaged over `seeds`, indexed by user."""
    stacked = [runs[s].population(population).set_index("user")[column] for s in seeds]
    return pd.concat(stacked, axis=1).mean(axis=1)


def significance_tests(
    evaluations: Sequence[VariantEvaluation],
    references: Sequence[str],
    protocol: str = "full",
    population: str = "all",
    metric: str = "ndcg@10",
) -> pd.DataFrame:
    """Every variant against each reference on the same users, Holm-corrected across the whole table.

    A variant's per-user values are averaged over the seeds it shares with the reference first, so
    a test compares models, not one lucky seed. Columns: variant, reference, protocol, population,
    metric, n_users, n_seeds, mean_variant, mean_reference, mean_difference, ci_low, ci_high,
    rank_biserial, wilcoxon_p, holm_p, significant.
    """
    by_variant: dict[str, dict[int, VariantEvaluation]] = {}
    for evaluation in evaluations:
        by_variant.setdefault(evaluation.variant, {})[evaluation.seed] = evaluation
    records = []
    column = f"{protocol}:{metric}"
    for reference in references:
        if reference not in by_variant:
            continue
        for variant, runs in by_variant.items():
            seeds = sorted(set(runs) & set(by_variant[reference]))
            if variant == reference or not seeds:
                continue
            a = _user_values(runs, seeds, column, population)
            b = _user_values(by_variant[reference], seeds, column, population)
            if not a.index.equals(b.index):
                raise ValueError(f"{variant} and {reference} were evaluated on different users")
            comparison = paired_comparison(a.to_numpy(), b.to_numpy())
            records.append(
                {
                    "variant": variant, "reference": reference, "protocol": protocol, "population": population,
                    "metric": metric, "n_users": comparison.n, "n_seeds": len(seeds),
                    "mean_variant": comparison.mean_a, "mean_reference": comparison.mean_b,
                    "mean_difference": comparison.mean_difference, "ci_low": comparison.ci_low,
                    "ci_high": comparison.ci_high, "rank_biserial": comparison.rank_biserial,
                    "wilcoxon_p": comparison.wilcoxon_p,
                }  # fmt: skip
            )
    tests = pd.DataFrame.from_records(records)
    if tests.empty:
        return pd.DataFrame(columns=[*RESULT_COLUMNS[:1], "reference", "holm_p", "significant"])
    tests["holm_p"] = holm(tests["wilcoxon_p"].to_numpy())
    tests["significant"] = tests["holm_p"] < SIGNIFICANCE_LEVEL
    return tests


def significance_table(tests: pd.DataFrame) -> str:
    """Markdown view of `significance_tests`: n, effect sizes, raw and Holm-adjusted p in every row."""
    headers = [
        "Variant", "vs", "Users", "Seeds", "Mean", "Mean (vs)", "Δ", "Δ 95% CI (bootstrap over users)",
        "Rank-biserial r", "Wilcoxon p", "Holm p", f"Significant (Holm p < {SIGNIFICANCE_LEVEL:g})",
    ]  # fmt: skip
    rows = [
        [
            r.variant, r.reference, f"{r.n_users:,}", str(r.n_seeds), f"{r.mean_variant:.4f}", f"{r.mean_reference:.4f}",
            f"{r.mean_difference:+.4f}", f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]", f"{r.rank_biserial:+.2f}",
            f"{r.wilcoxon_p:.3g}", f"{r.holm_p:.3g}", "yes" if r.significant else "no",
        ]  # fmt: skip
        for r in tests.itertuples(index=False)
    ]
    return markdown_table(headers, rows)


def summary_lines(tests: pd.DataFrame, references: Sequence[str]) -> list[str]:
    """One sentence per reference: which variants differ from it after Holm, in which direction, by how much."""
    lines = []
    for reference in references:
        rows = tests[tests["reference"] == reference] if not tests.empty else tests
        if rows.empty:
            continue
        differ = rows[rows["significant"]]
        if differ.empty:
            lines.append(f"No variant differs from {reference} at Holm-adjusted p < {SIGNIFICANCE_LEVEL:g} ({len(rows)} comparisons).")
            continue
        parts = [
            f"{r.variant} {'above' if r.mean_difference > 0 else 'below'} by {abs(r.mean_difference):.4f} "
            f"({100 * r.mean_difference / r.mean_reference:+.1f}%, CI [{r.ci_low:+.4f}, {r.ci_high:+.4f}], r = {r.rank_biserial:+.2f})"
            if r.mean_reference
            else f"{r.variant} {r.mean_difference:+.4f}"
            for r in differ.sort_values("mean_difference", ascending=False).itertuples(index=False)
        ]
        same = rows.loc[~rows["significant"], "variant"].tolist()
        tail = f"; not distinguishable: {', '.join(same)}" if same else ""
        lines.append(f"Differ from {reference} (Holm p < {SIGNIFICANCE_LEVEL:g}): " + "; ".join(parts) + tail + ".")
    return lines


def training_table(runs: Sequence[tuple[str, int, Mapping[str, Any] | None]]) -> str:
    """One row per (variant, seed, training record): the profile, the best epoch of the epochs run, and what ended the run."""
    headers = ["Variant", "Seed", "Profile", "Best epoch", "Epochs run (cap)", "Ended by"]
    rows = []
    for variant, seed, training in runs:
        if training is None:
            rows.append([variant, str(seed), "—", "—", "—", "not recorded"])
            continue
        ended = "nothing to train" if training["epochs"] == 0 else "patience" if training["stopped_early"] else "epoch cap"
        rows.append([
            variant, str(seed), str(training["profile"]), str(training["best_epoch"]),
            f"{training['epochs']} ({training['max_epochs']})", ended,
        ])  # fmt: skip
    return markdown_table(headers, rows)
