"""Plotly figures of the results report: the accuracy/balance trade-off, α over epochs, α per context.

Each function takes a plain frame (see `tables.results_frame`, `tables.alpha_epochs_frame`,
`evaluation.segments.alpha_by_context_bucket`) and returns a `go.Figure`; writing is the
report's job.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hybridrec_ml.config import ALL_COMPONENTS, ALPHA_COLUMNS, gate_can_collapse
from hybridrec_ml.evaluation.significance import mean_ci
from hybridrec_ml.reporting.tables import GATE
from hybridrec_ml.tuning.objectives import normalised_entropy

COMPONENT_COLOURS = dict(zip(ALL_COMPONENTS, ("#1f77b4", "#ff7f0e", "#2ca02c")))
# Lines that coincide (e.g. two components both at 1/3) stay visible through their dash and marker.
COMPONENT_DASHES = dict(zip(ALL_COMPONENTS, ("solid", "dash", "dot")))
COMPONENT_MARKERS = dict(zip(ALL_COMPONENTS, ("circle", "square-open", "diamond-open")))


def tradeoff_figure(frame: pd.DataFrame, protocol: str = "full") -> go.Figure:
    """NDCG@10 over all users (mean ± 95% CI over seeds) against the balance of the mean α, one point per gated variant.

    The study's v1 sits at balance ≈ 0 (collapsed) and v2 near 1 at a small accuracy cost; every
    variant with a learned gate is a point, those without one have no α to place.
    """
    figure = go.Figure()
    frame = frame[frame["population"] == "all"]
    for variant in dict.fromkeys(frame["variant"]):
        if not gate_can_collapse(variant):
            continue
        rows = frame[frame["variant"] == variant]
        alpha = [rows.loc[(rows["protocol"] == GATE) & (rows["metric"] == column), "value"] for column in ALPHA_COLUMNS]
        ndcg = rows.loc[(rows["protocol"] == protocol) & (rows["metric"] == "ndcg@10"), "value"]
        if any(a.empty for a in alpha) or ndcg.empty:
            continue
        ci = mean_ci(ndcg.to_numpy())
        figure.add_trace(
            go.Scatter(
                x=[normalised_entropy([a.mean() for a in alpha])],
                y=[ci.mean],
                error_y={"type": "data", "array": [0.0 if math.isnan(ci.half_width) else ci.half_width]},
                mode="markers+text",
                text=[variant],
                textposition="top center",
                name=variant,
            )
        )
    figure.update_layout(
        title=f"Accuracy vs fusion balance, every gated variant ({protocol} protocol, all users)",
        xaxis={"title": "balance of mean α: H(ᾱ) / log 3", "range": [-0.05, 1.05]},
        yaxis={"title": "NDCG@10"},
    )
    return figure


def alpha_epochs_figure(epochs: pd.DataFrame) -> go.Figure:
    """Mean α per component after each epoch (averaged over seeds), one panel per variant."""
    variants = list(dict.fromkeys(epochs["variant"]))
    figure = make_subplots(rows=1, cols=max(len(variants), 1), shared_yaxes=True, subplot_titles=variants)
    for column_number, variant in enumerate(variants, start=1):
        per_epoch = epochs[epochs["variant"] == variant].groupby("epoch")[list(ALPHA_COLUMNS)].mean()
        for component, column in zip(ALL_COMPONENTS, ALPHA_COLUMNS):
            figure.add_trace(
                go.Scatter(
                    x=per_epoch.index.tolist(),
                    y=per_epoch[column].tolist(),
                    mode="lines+markers",
                    name=component,
                    legendgroup=component,
                    showlegend=column_number == 1,
                    line={"color": COMPONENT_COLOURS[component], "dash": COMPONENT_DASHES[component]},
                    marker={"symbol": COMPONENT_MARKERS[component], "size": 9},
                ),
                row=1,
                col=column_number,
            )
        figure.update_xaxes(title_text="epoch", row=1, col=column_number)
    figure.update_yaxes(title_text="mean α", range=[0, 1], row=1, col=1)
    figure.update_layout(title="Fusion weights during training")
    return figure


def context_alpha_figure(learned: pd.DataFrame, planted: pd.DataFrame, variant: str = "") -> go.Figure:
    """Per context bucket, the learned mean α next to the planted mechanism shares, stacked by component.

    `learned` comes from `segments.alpha_by_context_bucket` (buckets without rows are skipped),
    `planted` from `context_buckets.planted_mechanism_shares`. An adaptive gate should follow the
    planted mixture from bucket to bucket; a collapsed or merely balanced one stays flat.
    """
    learned = learned[learned["n_rows"] > 0].set_index("bucket")
    planted = planted.set_index("bucket")
    buckets = list(dict.fromkeys([*planted.index, *learned.index]))
    figure = go.Figure()
    for component, column in zip(ALL_COMPONENTS, ALPHA_COLUMNS):
        bars = [(b, "learned α", learned.at[b, column]) for b in buckets if b in learned.index]
        bars += [(b, "planted share", planted.at[b, component]) for b in buckets if b in planted.index]
        bars.sort(key=lambda bar: (buckets.index(bar[0]), bar[1]))
        figure.add_trace(
            go.Bar(
                x=[[bar[0] for bar in bars], [bar[1] for bar in bars]],
                y=[float(bar[2]) for bar in bars],
                name=component,
                marker_color=COMPONENT_COLOURS[component],
            )
        )
    title = "Learned fusion weights vs planted mechanisms per context bucket"
    figure.update_layout(
        barmode="stack", title=f"{title} ({variant})" if variant else title, yaxis={"title": "share", "range": [0, 1]}
    )
    return figure
