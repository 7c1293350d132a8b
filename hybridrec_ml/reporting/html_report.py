"""One self-contained HTML results report: markdown text and tables plus interactive plotly figures.

plotly.js is inlined once in the head (no CDN) so the file opens offline, from Dagster metadata
or as an MLflow artifact alike.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from hybridrec_ml.atomic import atomic_write_text

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
"""
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_SEPARATOR_CELL = re.compile(r"^\s*:?-{3,}:?\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


@dataclass(frozen=True)
class ReportSection:
    """A heading, markdown (paragraphs, "- " lists, pipe tables, # headings) and figures below it."""

    heading: str
    markdown: str = ""
    figures: tuple[go.Figure, ...] = ()


def _cells(line: str) -> list[str]:
    """Cells of a pipe-table line; "\\|" is a literal bar inside a cell."""
    inner = line.strip()[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _table(lines: list[str]) -> str:
    header, body = _cells(lines[0]), lines[2:]
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(line)) + "</tr>" for line in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _is_table_start(lines: list[str], i: int) -> bool:
    return (
        i + 1 < len(lines)
        and bool(_TABLE_ROW.match(lines[i]))
        and bool(_TABLE_ROW.match(lines[i + 1]))
        and all(_SEPARATOR_CELL.match(cell) for cell in _cells(lines[i + 1]))
    )


def _starts_block(lines: list[str], i: int) -> bool:
    return _is_table_start(lines, i) or bool(_HEADING.match(lines[i])) or _is_list_item(lines[i])


def _is_list_item(line: str) -> bool:
    return line.lstrip().startswith("- ")


def markdown_to_html(text: str) -> str:
    """The markdown subset our tables and notes use, every text escaped (results may contain "<")."""
    lines, parts, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if _is_table_start(lines, i):
            end = i + 2
            while end < len(lines) and _TABLE_ROW.match(lines[end]):
                end += 1
            parts.append(_table(lines[i:end]))
            i = end
        elif heading := _HEADING.match(line):
            level = len(heading.group(1))
            parts.append(f"<h{level}>{html.escape(heading.group(2))}</h{level}>")
            i += 1
        elif _is_list_item(line):
            end = i
            while end < len(lines) and _is_list_item(lines[end]):
                end += 1
            items = "".join(f"<li>{html.escape(item.lstrip()[2:])}</li>" for item in lines[i:end])
            parts.append(f"<ul>{items}</ul>")
            i = end
        elif line.strip():
            end = i + 1
            while end < len(lines) and lines[end].strip() and not _starts_block(lines, end):
                end += 1
            parts.append(f"<p>{html.escape(' '.join(part.strip() for part in lines[i:end]))}</p>")
            i = end
        else:
            i += 1
    return "\n".join(parts)


def render_html_report(title: str, sections: Sequence[ReportSection]) -> str:
    """The whole document as a string; figure divs get stable ids so reruns give identical files."""
    body, figure_number = [], 0
    for section in sections:
        body.append(f"<section><h2>{html.escape(section.heading)}</h2>")
        body.append(markdown_to_html(section.markdown))
        for figure in section.figures:
            figure_number += 1
            body.append(
                figure.to_html(
                    full_html=False, include_plotlyjs=False, div_id=f"figure-{figure_number}", default_height="480px"
                )
            )
        body.append("</section>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n"
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def write_html_report(path: str | os.PathLike[str], title: str, sections: Sequence[ReportSection]) -> Path:
    """Write the report atomically (temp file in the same folder, then rename); returns the path."""
    # 0644: mkstemp creates 0600; the report is meant to be read by others
    return atomic_write_text(Path(path), render_html_report(title, sections), mode=0o644)
