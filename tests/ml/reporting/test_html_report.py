import dataclasses
from html.parser import HTMLParser

import plotly.graph_objects as go

from hybridrec_ml.evaluation.variant_evaluation import VariantEvaluation
from hybridrec_ml.reporting.html_report import ReportSection, markdown_to_html, render_html_report, write_html_report
from hybridrec_ml.reporting.results_report import RunDescription, build_results_report, training_profiles
from hybridrec_ml.reporting.tables import main_table, results_frame
from tests.ml.reporting.conftest import evaluation

VOID = {"meta", "br", "hr", "img", "input", "link"}


class Structure(HTMLParser):
    """Records tags, script sources and table cells; fails on a tag closed out of order."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.script_sources: list[str | None] = []
        self.cells: list[str] = []
        self.in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.script_sources.append(dict(attrs).get("src"))
        if tag not in VOID:
            self.open.append(tag)
        self.in_cell = tag in ("td", "th")
        if self.in_cell:
            self.cells.append("")

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, f"unbalanced </{tag}>"
        self.in_cell = False

    def handle_data(self, data):
        if self.in_cell:
            self.cells[-1] += data


def test_report_is_self_contained_html_with_tables_and_figures(tmp_path, evaluations):
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0.31, 0.27]))
    sections = [
        ReportSection("Main results", "Test split, 2 seeds.\n\n" + main_table(results_frame(evaluations)), (figure,)),
        ReportSection("Notes", "- ties count against the positive\n- <raw> text is escaped", (figure,)),
    ]
    path = write_html_report(tmp_path / "out" / "report.html", "HybridRec results", sections)
    assert path == tmp_path / "out" / "report.html"
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temp file left behind
    text = path.read_text(encoding="utf-8")
    parser = Structure()
    parser.feed(text)
    parser.close()
    assert parser.open == []
    assert parser.script_sources and all(source is None for source in parser.script_sources)
    assert text.count("plotly.js v") == 1  # plotly.js inlined exactly once
    assert 'id="figure-1"' in text and 'id="figure-2"' in text
    assert parser.cells[:2] == ["Variant", "Seeds"]
    assert "0.6875 ± 0.7941" in parser.cells
    assert "collapsed (max α 0.98 > 0.9)" in parser.cells
    assert "&lt;raw&gt; text is escaped" in text


def test_markdown_subset():
    rendered = markdown_to_html("## Title\nline one\nline two\n\n| a | b\\|c |\n| --- | --- |\n| 1 | 2 |\n- item")
    assert rendered == (
        "<h2>Title</h2>\n<p>line one line two</p>\n"
        "<table><thead><tr><th>a</th><th>b|c</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>\n"
        "<ul><li>item</li></ul>"
    )


def test_rendering_is_reproducible():
    sections = [ReportSection("Figure", "", (go.Figure(go.Bar(x=["a"], y=[1])),))]
    assert render_html_report("t", sections) == render_html_report("t", sections)


def test_results_report_opens_with_what_was_run_and_the_answer(tmp_path, evaluations):
    run = RunDescription(source="synthetic", scale="tiny", epochs="v1 6", commit="abc1234", date="2026-12-02 01:00 UTC")
    report = build_results_report(evaluations, tmp_path / "results.html", run=run)
    text = report.path.read_text(encoding="utf-8")
    body = text[text.index("<body>") :]
    # the summary is the first section, before any results table
    assert body.index("<h2>Summary</h2>") < body.index("What was run") < body.index("<h2>Main results: NDCG@10</h2>")
    assert report.summary.splitlines()[:6] == [
        "### What was run",
        "- Source: synthetic, scale tiny; profile not recorded, epochs: v1 6.",  # the fixtures carry no training record
        "- Variants: v1, v2, static_only, pop; seeds 1, 2 (6 runs).",
        "- Test users evaluated: 4 (warm, i.e. with a training interaction: 3); test rows: 5 (warm users' rows: 4); "
        "per-user protocol: 5 positives; cold-item rows: 1.",
        "- Masking: everything the user had before the row (train, val, earlier test) for per-row full ranking; "
        "sampled negatives are stored (eval_negatives); per user: train + valid.",
        "- Code: commit abc1234; report written 2026-12-02 01:00 UTC.",
    ]
    assert "- No variant differs from v1 at Holm-adjusted p < 0.05 (3 comparisons)." in report.summary
    assert "- Best baseline: pop." in report.summary
    assert set(report.tables) == {"main", "recall", "populations", "ablation", "segments", "significance", "training"}


def test_the_profile_line_is_what_the_evaluated_models_were_trained_with():
    def trained(profile: str | None, seed: int = 1) -> VariantEvaluation:
        base = evaluation("v1", seed, [0, 100, 0, 100, 0])
        return dataclasses.replace(base, training=None if profile is None else {"profile": profile, "best_epoch": 3})

    assert training_profiles([trained("research"), trained("research", 2)]) == "research"
    assert training_profiles([trained("demo"), trained("research", 2), trained(None, 3)]) == "mixed (demo, research)"
    assert training_profiles([trained(None)]) == "not recorded"
