"""The README's asset-graph drawing shows exactly the dependencies the assets declare, and every asset."""

import re
from pathlib import Path

from hybridrec_assets.definitions import defs

README = Path(__file__).resolve().parents[2] / "README.md"
DOMAIN_LABEL = re.compile(r"^(data|model|evaluation|serving|tuning|reporting|diagnosis)\s")  # the drawing's left column, not an asset


def _drawing() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## The asset graph\n", 1)[1]
    return section.split("```\n", 2)[1].splitlines()


def _drawn(lines: list[str]) -> tuple[set[str], set[tuple[str, str]]]:
    """Names and (upstream, downstream) pairs: every name left of an arrow feeds every name right of it.
    Notes in parentheses and partition brackets are not names."""
    names, edges = set(), set()
    for line in lines:
        body = DOMAIN_LABEL.sub("", re.sub(r"\([^)]*\)|\[[^\]]*\]", "", line))
        groups = [re.findall(r"[a-z][a-z0-9_]*", part) for part in body.split("─►")]
        names |= {name for group in groups for name in group}
        edges |= {(up, down) for ups, downs in zip(groups, groups[1:]) for up in ups for down in downs}
    return names, edges


def _declared() -> tuple[set[str], set[tuple[str, str]]]:
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    names = {key.to_user_string() for key in keys}
    edges = {(parent.to_user_string(), key.to_user_string()) for key in keys for parent in graph.get(key).parent_keys}
    return names, edges


def test_readme_drawing_matches_the_declared_dependencies():
    drawn_names, drawn_edges = _drawn(_drawing())
    names, edges = _declared()
    assert drawn_names == names
    assert sorted(drawn_edges - edges) == []  # drawn but not declared
    assert sorted(edges - drawn_edges) == []  # declared but not drawn


def test_the_parser_reads_chains_and_fan_in():
    names, edges = _drawn(["model       a, b ─► c[variant|seed] ─► d   (note with e_f)", "evaluation  c ─► g"])
    assert names == {"a", "b", "c", "d", "g"}
    assert edges == {("a", "c"), ("b", "c"), ("c", "d"), ("c", "g")}
