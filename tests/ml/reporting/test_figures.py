import pandas as pd
import pytest

from hybridrec_ml.reporting.figures import (
    alpha_epochs_figure,
    context_alpha_figure,
    tradeoff_figure,
)
from hybridrec_ml.reporting.tables import alpha_epochs_frame, results_frame
from hybridrec_ml.tuning.objectives import normalised_entropy
from tests.ml.reporting.conftest import evaluation


def test_tradeoff_has_one_point_per_gated_variant(evaluations):
    frame = results_frame([*evaluations, evaluation("no_dynamic", 1, [0, 0, 0, 0, 100], (0.6, 0.0, 0.4))])
    figure = tradeoff_figure(frame)
    # every variant with a learned gate; static_only (alpha fixed at 1, 0, 0) and pop have none
    assert [trace.name for trace in figure.data] == ["v1", "v2", "no_dynamic"]
    v1, v2, _ = figure.data
    assert v1.x[0] == pytest.approx(normalised_entropy((0.98, 0.01, 0.01)))
    assert v1.y[0] == pytest.approx(0.6875)  # full ranking, all users: seeds 0.625 and 0.75
    assert v1.error_y.array[0] == pytest.approx(12.706204736 * 0.0625)
    assert v2.error_y.array[0] == 0.0  # one seed: no interval to draw
    assert v2.x[0] == pytest.approx(normalised_entropy((0.35, 0.33, 0.32)))


def test_alpha_epochs_figure_averages_seeds_per_variant(evaluations):
    figure = alpha_epochs_figure(alpha_epochs_frame(evaluations))
    static_v1 = figure.data[0]
    assert (static_v1.name, list(static_v1.x), list(static_v1.y)) == ("static", [1, 2], pytest.approx([0.6, 0.98]))
    assert [trace.name for trace in figure.data] == ["static", "dynamic", "content"] * 3
    assert [trace.showlegend for trace in figure.data] == [True] * 3 + [False] * 6
    # coinciding lines (v2's dynamic and content both at 0.33) stay apart by dash and marker
    assert [(t.line.dash, t.marker.symbol) for t in figure.data[3:6]] == [
        ("solid", "circle"), ("dash", "square-open"), ("dot", "diamond-open"),
    ]  # fmt: skip


def test_context_figure_puts_learned_next_to_planted():
    learned = pd.DataFrame(
        {
            "bucket": ["weekday_daytime", "weekday_evening_night", "weekend"],
            "n_rows": [5, 0, 3],
            "alpha_static": [0.5, float("nan"), 0.2],
            "alpha_dynamic": [0.3, float("nan"), 0.1],
            "alpha_content": [0.2, float("nan"), 0.7],
        }
    )
    planted = pd.DataFrame(
        {"bucket": ["weekday_daytime", "weekend"], "static": [0.6, 0.1], "dynamic": [0.3, 0.2], "content": [0.1, 0.7]}
    )
    figure = context_alpha_figure(learned, planted, "v2")
    content = figure.data[2]
    assert content.name == "content"
    assert [list(level) for level in content.x] == [
        ["weekday_daytime", "weekday_daytime", "weekend", "weekend"],
        ["learned α", "planted share", "learned α", "planted share"],
    ]
    assert list(content.y) == [0.2, 0.1, 0.7, 0.7]
    assert figure.layout.barmode == "stack" and figure.layout.title.text.endswith("(v2)")
