"""The report's Pareto section: v2's (λ_ent, λ_bal, init std) frontier on validation, and its test numbers."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from hybridrec_ml.reporting.html_report import ReportSection
from hybridrec_ml.tuning.outcome import ParetoOutcome, TrialPoint

BALANCE_TITLES = {"entropy": "balance: H(ᾱ) / log 3", "one_minus_max": "balance: 1 − max ᾱ"}
REFERENCE_SYMBOLS = ("x", "star", "diamond", "cross")


def _hover(point: TrialPoint) -> str:
    return f"trial {point.number}{f' ({point.reference})' if point.reference else ''}<br>{point.setting.label()}"


def pareto_figure(outcome: ParetoOutcome) -> go.Figure:
    """Every completed trial (val NDCG@10 against balance), the Pareto front as a line, the references marked."""
    figure = go.Figure()
    others = [p for p in outcome.points if not p.pareto and not p.reference]
    figure.add_trace(go.Scatter(
        x=[p.gate_balance for p in others], y=[p.val_ndcg_at_10 for p in others], mode="markers", name="dominated trial",
        marker={"color": "#aaaaaa", "size": 8}, hovertext=[_hover(p) for p in others], hoverinfo="text+x+y",
    ))  # fmt: skip
    front = outcome.front
    figure.add_trace(go.Scatter(
        x=[p.gate_balance for p in front], y=[p.val_ndcg_at_10 for p in front], mode="lines+markers",
        name="Pareto front", line={"color": "#d62728"}, marker={"size": 10},
        hovertext=[_hover(p) for p in front], hoverinfo="text+x+y",
    ))  # fmt: skip
    references = [p for p in outcome.points if p.reference]
    for point, symbol in zip(references, REFERENCE_SYMBOLS * len(references)):
        figure.add_trace(go.Scatter(
            x=[point.gate_balance], y=[point.val_ndcg_at_10], mode="markers+text", name=point.reference,
            text=[point.reference], textposition="top center", marker={"symbol": symbol, "size": 14, "color": "#1f1f1f"},
            hovertext=[_hover(point)], hoverinfo="text+x+y",
        ))  # fmt: skip
    figure.update_layout(
        title=f"(λ_ent, λ_bal, gate init std) study of {outcome.base_variant}: validation NDCG@10 vs gate balance",
        xaxis={"title": f"{BALANCE_TITLES.get(outcome.balance, outcome.balance)} (training rows, best epoch)"},
        yaxis={"title": "validation NDCG@10 (full ranking, mean over users)"},
    )
    return figure


def _std(point: TrialPoint) -> str:
    return "default" if point.setting.gate_init_std is None else f"{point.setting.gate_init_std:.3g}"


def front_table(outcome: ParetoOutcome) -> str:
    """Markdown: each Pareto-optimal setting, its validation objectives and its test numbers (main protocol)."""
    lines = [
        "| trial | reference | λ_ent | λ_bal | init std | val NDCG@10 | balance | test NDCG@10 (±95% CI over users) "
        "| test Recall@10 | test α (s, d, c) | users |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in outcome.front:
        test = p.test or {}
        ndcg = test.get("test_full_all_ndcg_at_10", math.nan)
        ci = test.get("test_full_all_ndcg_at_10_ci95", math.nan)
        alpha = ", ".join(f"{test.get(f'test_alpha_{c}', math.nan):.3f}" for c in ("static", "dynamic", "content"))
        lines.append(
            f"| {p.number} | {p.reference or ''} | {p.setting.entropy_lambda:.3g} | {p.setting.balance_lambda:.3g} "
            f"| {_std(p)} | {p.val_ndcg_at_10:.4f} | {p.gate_balance:.4f} | {ndcg:.4f} ± {ci:.4f} "
            f"| {test.get('test_full_all_recall_at_10', math.nan):.4f} | {alpha} | {int(test.get('users_all', 0)):,} |"
        )
    return "\n".join(lines)


def pareto_section(outcome: ParetoOutcome) -> ReportSection:
    references = ", ".join(f"{p.reference} (trial {p.number})" for p in outcome.points if p.reference) or "none completed"
    text = (
        f"Optuna study `{outcome.study_name}` ({len(outcome.points)} completed trials; storage {outcome.storage_url}). "
        f"Each trial trains {outcome.base_variant} with one (λ_ent, λ_bal, gate init std) on the training split under "
        "the same budget and seed, early-stopped on validation NDCG@10; the two objectives are validation NDCG@10 and "
        "the balance of the gate's mean α. λ = 0 and PyTorch's default init are choices of their own, so v1 is a point "
        f"of the space. Marked: {references}. The Pareto-optimal settings are chosen on validation only; the table then "
        "scores each on the test split with the main protocol (per row, full ranking, history masked, every test user, "
        "mean over users).\n\n" + front_table(outcome)
    )
    return ReportSection("The (λ_ent, λ_bal) Pareto frontier", text, (pareto_figure(outcome),))
