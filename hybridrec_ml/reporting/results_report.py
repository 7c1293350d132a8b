"""Assemble the study's tables and figures from every stored evaluation into one offline HTML report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hybridrec_ml.config import DEFAULT_COLLAPSE_THRESHOLD, VARIANTS
from hybridrec_ml.evaluation.variant_evaluation import VariantEvaluation
from hybridrec_ml.reporting.figures import alpha_epochs_figure, context_alpha_figure, tradeoff_figure
from hybridrec_ml.reporting.html_report import ReportSection, write_html_report
from hybridrec_ml.reporting.tables import (
    ablation_table,
    alpha_epochs_frame,
    main_table,
    segment_table,
    segments_frame,
    significance_table,
    significance_tests,
    tidy_results,
)

ABLATIONS = ("v1", "no_dynamic", "no_content", "no_attention", "static_only")


@dataclass(frozen=True)
class ResultsReport:
    path: Path
    tables: dict[str, str]  # name -> markdown
    results: pd.DataFrame  # tidy (variant, seed, protocol, metric, value)


def _ordered(evaluations: Sequence[VariantEvaluation]) -> list[VariantEvaluation]:
    order = {name: i for i, name in enumerate(VARIANTS)}
    return sorted(evaluations, key=lambda e: (order.get(e.variant, len(order)), e.seed))


def build_results_report(
    evaluations: Sequence[VariantEvaluation],
    path: Path,
    *,
    planted_shares: pd.DataFrame | None = None,
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD,
    title: str = "HybridRec results",
) -> ResultsReport:
    """Main table, ablations, segments, significance, trade-off / α figures; HTML written atomically."""
    if not evaluations:
        raise ValueError("no evaluations to report: materialize evaluation partitions first")
    evaluations = _ordered(evaluations)
    runs = [e.run_result() for e in evaluations]
    frame = tidy_results(runs)
    present = list(dict.fromkeys(r.variant for r in runs))
    tables = {
        "main": main_table(frame, collapse_threshold=collapse_threshold),
        "ablation": ablation_table(frame, reference="v1", variants=[v for v in ABLATIONS if v in present])
        if "v1" in present
        else "",
        "segments": segment_table(segments_frame(runs), collapse_threshold=collapse_threshold),
        "significance": "\n\n".join(
            significance_table(significance_tests(runs, [r for r in ("v1", "static_only") if r in present], protocol))
            for protocol in ("sampled", "full")
        ),
    }
    sections = [
        ReportSection(
            "Main results",
            "Test split. Sampled protocol: the positive against 99 stored negatives; full ranking: against "
            "the whole catalogue with the user's training items masked. Mean ± 95% CI over seeds; ties "
            "count against the positive.\n\n" + tables["main"],
        ),
        ReportSection("Ablations (Δ vs v1)", tables["ablation"]),
        ReportSection("Per user segment (full ranking)", tables["segments"]),
        ReportSection("Paired tests of per-interaction NDCG@10", tables["significance"]),
        ReportSection(
            "Gate over training",
            "Mean α per epoch on the training rows.",
            (alpha_epochs_figure(alpha_epochs_frame(runs)),),
        ),
    ]
    if {"v1", "v2"} <= set(present):
        sections.append(ReportSection("v1 vs v2 trade-off", "", (tradeoff_figure(frame[frame["variant"].isin(["v1", "v2"])]),)))
    gated = [e for e in evaluations if e.context_alpha is not None]
    if planted_shares is not None and gated:
        figures = []
        for variant in dict.fromkeys(e.variant for e in gated):
            learned = pd.concat([e.context_alpha for e in gated if e.variant == variant])
            learned = learned.groupby("bucket", sort=False, as_index=False).mean(numeric_only=True)
            figures.append(context_alpha_figure(learned, planted_shares, variant))
        sections.append(
            ReportSection(
                "Learned α per context bucket vs planted mechanisms",
                "Synthetic data only: the generator records which mechanism produced each interaction.",
                tuple(figures),
            )
        )
    html = write_html_report(path, title, sections)
    return ResultsReport(html, tables, frame)
