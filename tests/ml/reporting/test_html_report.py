from html.parser import HTMLParser

import plotly.graph_objects as go

from hybridrec_ml.reporting.html_report import ReportSection, markdown_to_html, render_html_report, write_html_report
from hybridrec_ml.reporting.tables import main_table, tidy_results

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


def test_report_is_self_contained_html_with_tables_and_figures(tmp_path, runs):
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0.31, 0.27]))
    sections = [
        ReportSection("Main results", "Test split, 2 seeds.\n\n" + main_table(tidy_results(runs)), (figure,)),
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
    assert "0.3100 ± 0.1271" in parser.cells
    assert "collapsed (max α > 0.9)" in parser.cells
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
