"""Assemble the study's tables and figures from every stored evaluation into one offline HTML report.

The report opens with its answer: what was run (source, scale, who was evaluated under which
protocol, seeds, epochs, commit, date) and a summary computed from the user-level tests; the
tables and figures follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hybridrec_ml.config import DEFAULT_COLLAPSE_THRESHOLD, VARIANTS, gate_can_collapse
from hybridrec_ml.evaluation.oracle_ceilings import OracleCeilings
from hybridrec_ml.evaluation.segments import segment_report
from hybridrec_ml.evaluation.variant_evaluation import PROTOCOL_LABELS, PROTOCOLS, VariantEvaluation
from hybridrec_ml.tuning.outcome import ParetoOutcome
from hybridrec_ml.reporting.figures import alpha_epochs_figure, context_alpha_figure, tradeoff_figure
from hybridrec_ml.reporting.gate_vs_oracle import gate_vs_oracle, gate_vs_oracle_sentences, gate_vs_oracle_table
from hybridrec_ml.reporting.html_report import ReportSection, write_html_report
from hybridrec_ml.reporting.pareto import pareto_section
from hybridrec_ml.reporting.tables import (
    ORACLE,
    ablation_table,
    alpha_epochs_frame,
    best_baseline,
    main_table,
    oracle_fusion_table,
    population_table,
    results_frame,
    segment_table,
    segments_frame,
    significance_table,
    significance_tests,
    summary_lines,
    training_table,
)

ABLATIONS = ("v1", "no_dynamic", "no_content", "no_attention", "static_only")
PRIMARY = ("full", "all", "ndcg@10")  # protocol, population, metric of the summary


@dataclass(frozen=True)
class RunDescription:
    """What produced the numbers, for the report's first lines (filled in by the orchestration layer)."""

    source: str = "unknown"
    scale: str = "unknown"
    epochs: str = "variant defaults"
    commit: str = "unknown"
    date: str = "unknown"
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultsReport:
    path: Path
    tables: dict[str, str]  # name -> markdown
    results: pd.DataFrame  # (variant, seed, protocol, population, metric, value)
    summary: str  # markdown: what was run, then the answer


def _ordered(evaluations: Sequence[VariantEvaluation]) -> list[VariantEvaluation]:
    order = {name: i for i, name in enumerate(VARIANTS)}
    return sorted(evaluations, key=lambda e: (order.get(e.variant, len(order)), e.seed))


def training_profiles(evaluations: Sequence[VariantEvaluation]) -> str:
    """The profile(s) the evaluated models were trained with, as their evaluations recorded it."""
    recorded = sorted({e.training["profile"] for e in evaluations if e.training and e.training.get("profile")})
    if not recorded:
        return "not recorded"
    return recorded[0] if len(recorded) == 1 else f"mixed ({', '.join(recorded)})"


def _what_was_run(evaluations: Sequence[VariantEvaluation], run: RunDescription) -> list[str]:
    first = evaluations[0]
    counts = first.counts()
    seeds = sorted({e.seed for e in evaluations})
    variants = list(dict.fromkeys(e.variant for e in evaluations))
    lines = [
        f"- Source: {run.source}, scale {run.scale}; profile {training_profiles(evaluations)}, epochs: {run.epochs}.",
        f"- Variants: {', '.join(variants)}; seeds {', '.join(map(str, seeds))} ({len(evaluations)} runs).",
        f"- Test users evaluated: {counts['users_all']:,} (warm, i.e. with a training interaction: "
        f"{counts['users_warm']:,}); test rows: {counts['rows_all']:,} (warm users' rows: {counts['rows_warm']:,}); "
        f"per-user protocol: {counts['per_user_positives_all']:,} positives; cold-item rows: {counts['cold_item_rows']:,}.",
        f"- Masking: {'everything the user had before the row (train, val, earlier test)' if first.mask == 'history' else 'training items only (train_only)'}"
        " for per-row full ranking; sampled negatives are stored (eval_negatives); per user: train + valid.",
        f"- Code: commit {run.commit}; report written {run.date}.",
    ]
    lines += [f"- {key}: {value}" for key, value in run.extra.items()]
    return lines


def build_results_report(
    evaluations: Sequence[VariantEvaluation],
    path: Path,
    *,
    run: RunDescription = RunDescription(),
    planted_shares: pd.DataFrame | None = None,
    segment_bounds: tuple[int, ...] | None = None,
    ceilings: OracleCeilings | None = None,
    collapse_threshold: float = DEFAULT_COLLAPSE_THRESHOLD,
    pareto: ParetoOutcome | None = None,
    title: str = "HybridRec results",
) -> ResultsReport:
    """Summary first, then main tables, populations, significance, ablations, segments, figures; HTML written atomically.

    `ceilings` (synthetic data, from the oracle's evaluation) adds the gate-vs-oracle-fusion section;
    `pareto` (lambda_pareto's outcome) the (λ_ent, λ_bal) frontier.
    """
    if not evaluations:
        raise ValueError("no evaluations to report: materialize evaluation partitions first")
    evaluations = _ordered(evaluations)
    frame = results_frame(evaluations)
    present = list(dict.fromkeys(e.variant for e in evaluations))
    protocol, population, metric = PRIMARY
    baseline = best_baseline(frame, protocol, metric)
    references = [r for r in ("v1", baseline) if r is not None and r in present]
    tests = {
        (p, pop): significance_tests(evaluations, references, p, pop, metric)
        for p in PROTOCOLS
        for pop in ("all", "warm")
    }
    bounds = {} if segment_bounds is None else {"bounds": segment_bounds}
    segments = [
        segment_report(e.users, has_gate=gate_can_collapse(e.variant), collapse_threshold=collapse_threshold, **bounds)
        for e in evaluations
    ]
    answer = summary_lines(tests[(protocol, population)], references)
    summary = "\n".join(
        [
            "### What was run",
            *_what_was_run(evaluations, run),
            "",
            f"### Answer (NDCG@10, {PROTOCOL_LABELS[protocol]}, all users; paired Wilcoxon over users, Holm-corrected)",
            *(f"- {line}" for line in answer or ["Nothing to compare: evaluate v1 or a baseline too."]),
            f"- Best baseline: {baseline or 'none evaluated'}.",
        ]
    )
    tables = {
        "main": main_table(frame, "ndcg@10", collapse_threshold=collapse_threshold),
        "recall": main_table(frame, "recall@10", collapse_threshold=collapse_threshold),
        "populations": population_table(evaluations[0]),
        "ablation": ablation_table(frame, reference="v1", variants=[v for v in ABLATIONS if v in present])
        if "v1" in present
        else "",
        "segments": segment_table(segments_frame(evaluations, segments)),
        "significance": "\n\n".join(
            f"#### {PROTOCOL_LABELS[p]}, {pop} users\n\n" + significance_table(t) for (p, pop), t in tests.items()
        ),
        "training": training_table([(e.variant, e.seed, e.training) for e in evaluations]),
    }
    sections = [
        ReportSection("Summary", summary),
        ReportSection(
            "Main results: NDCG@10",
            "Test split. Each cell is the mean over users of the user's value (each user weighs once), then "
            "mean ± 95% CI over seeds. Per row: every test interaction is one positive, ranked against the "
            "whole catalogue minus what the user had before it (full), or against its 99 stored negatives "
            "(sampled); per user (RecBole's full sort): all of a user's test items are positives at once, train + "
            "valid masked, RecBole's NDCG/Recall normalisation. all = every test user, warm = users with a "
            "training interaction. Ties count against the positive.\n\n" + tables["main"],
        ),
        ReportSection("Who was evaluated", tables["populations"]),
        ReportSection("Main results: Recall@10", tables["recall"]),
        ReportSection(
            "Paired tests over users (NDCG@10)",
            "Per-user values averaged over shared seeds; Δ = variant − reference; Wilcoxon signed-rank over "
            "users, bootstrap 95% CI of Δ (2,000 resamples of users), rank-biserial effect size; Holm "
            "correction across the comparisons of each table.\n\n" + tables["significance"],
        ),
        ReportSection("Ablations (Δ vs v1, all users)", tables["ablation"]),
        ReportSection(
            "Per user segment and the cold-item slice",
            "Users by training interactions (0 = cold user, scored through the learned unknown-user row "
            "and its in-period history). Per-user means; α is the user's mean over its test rows. "
            "The cold-item slice: users with a test row whose item is unseen in training, over those rows. "
            "Collapsed: n/a without a learned gate.\n\n" + tables["segments"],
        ),
        ReportSection(
            "Training (profile, best epoch, what ended the run)",
            "Each run returns its best epoch on validation (full ranking, mean over users). 'patience': "
            "validation stopped improving before the cap; 'epoch cap': the budget ended it.\n\n" + tables["training"],
        ),
        ReportSection(
            "Gate over training",
            "Mean α per epoch on the training rows, one panel per variant (dash and marker tell components apart).",
            (alpha_epochs_figure(alpha_epochs_frame(evaluations)),),
        ),
    ]
    if any(gate_can_collapse(v) for v in present):
        sections.append(ReportSection("Accuracy vs fusion balance", "", (tradeoff_figure(frame),)))
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
    if ceilings is not None:
        learned = {
            v: pd.concat([e.context_alpha for e in gated if e.variant == v])
            for v in dict.fromkeys(e.variant for e in gated)
            if gate_can_collapse(v)
        }
        comparison = gate_vs_oracle(ceilings.fusion_by_bucket, learned)
        not_applicable = [v for v in present if not gate_can_collapse(v) and v != ORACLE]
        tables["oracle_fusion"] = oracle_fusion_table(ceilings.fusion_by_bucket)
        tables["gate_vs_oracle"] = gate_vs_oracle_table(comparison)
        distances = gate_vs_oracle_sentences(comparison, not_applicable)
        sections.append(_oracle_section(ceilings, tables["oracle_fusion"], tables["gate_vs_oracle"], distances))
    if pareto is not None:
        sections.append(pareto_section(pareto))
    html = write_html_report(path, title, sections)
    return ResultsReport(html, tables, frame, summary)


def _oracle_section(ceilings: OracleCeilings, fusion_table: str, gate_table: str, distances: Sequence[str]) -> ReportSection:
    """What the planted world allows, and the learned gates next to the oracle-optimal fusion per bucket."""
    mechanisms = ", ".join(f"{name} {value:.4f}" for name, value in ceilings.per_mechanism.items())
    text = (
        f"Full-ranking NDCG@10 on the test rows: Bayes oracle {ceilings.oracle:.4f}; best context-free mixture "
        f"{ceilings.context_free:.4f} at (static, dynamic, content) = {ceilings.context_free_mixture} "
        f"(knowing the context bucket is worth {100 * ceilings.context_gain:+.1f}%); one mechanism alone: {mechanisms}. "
        "The oracle-optimal fusion of a bucket is the fixed mixture of the per-mechanism oracles that ranks that "
        "bucket's rows best (buckets from the true times). An ideal gate follows it, not the raw planted shares. "
        "Learned α per bucket uses the context features the models see.\n\n" + fusion_table + "\n\n"
        "Each learned gate against it: α and the effective share (α × the component's score spread over the "
        "catalogue, normalised: what the full ranking takes from each component), means over the bucket's test "
        "rows, then over seeds; TV is the total-variation distance to the oracle-optimal fusion (0 = the same "
        "mixture, 1 = disjoint).\n\n" + gate_table + "\n\n" + "\n".join(f"- {line}" for line in distances)
    )
    return ReportSection("Gate vs the oracle-optimal fusion per context bucket", text)
