"""hybridrec_ml's packages form one order; each imports only itself and those before it, and never dagster.

    config, atomic, locks -> data -> tensors -> models -> training -> evaluation -> data_layer -> tuning
    -> reporting -> serving

`config`, `atomic` and `locks` may be imported by all and import no other package. A cycle between two
packages is an upward import on one side, so this test keeps the package graph acyclic.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hybridrec_ml

ROOT = "hybridrec_ml"
ORDER = (
    "config", "atomic", "locks", "data", "tensors", "models", "training", "evaluation", "data_layer", "tuning",
    "reporting", "serving",
)  # fmt: skip
FOUNDATION = (ROOT, "config", "atomic", "locks")  # may be imported by every package (ROOT: its own __init__)
FORBIDDEN = ("dagster",)  # the science never imports the orchestrator


def rank(package: str) -> int:
    """Position of a package in the order; the foundation modules share the first place."""
    return 0 if package in FOUNDATION else ORDER.index(package)


def imported_modules(module: str, source: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, relative ones resolved, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from hybridrec_ml import models` imports the package named by the alias
            targets = [f"{base}.{alias.name}" for alias in node.names] if base == ROOT else [base]
            found += [(node.lineno, target) for target in targets]
    return found


def layering_violations(modules: dict[str, str]) -> list[str]:
    """`module:line imports target (why)` for every import that breaks the order; `modules` maps name -> source."""
    violations = []
    for module, source in sorted(modules.items()):
        own = module.split(".")[1] if module != f"{ROOT}.__init__" else ROOT
        if own not in ORDER and own != ROOT:
            violations.append(f"{module}: package {own!r} has no place in the layer order {ORDER}")
            continue
        for line, target in imported_modules(module, source, module.endswith(".__init__")):
            top = target.split(".")
            if top[0] in FORBIDDEN:
                violations.append(f"{module}:{line} imports {target} (no {top[0]} in {ROOT})")
            elif top[0] == ROOT and len(top) > 1 and top[1] != own:
                if top[1] not in ORDER:
                    violations.append(f"{module}:{line} imports {target} (not in the layer order)")
                elif rank(top[1]) > rank(own) or (own in FOUNDATION and top[1] not in FOUNDATION):
                    violations.append(f"{module}:{line} imports {target} (upward: {own} comes before {top[1]})")
                elif own in FOUNDATION:
                    violations.append(f"{module}:{line} imports {target} ({own} imports no other package)")
    return violations


def library_modules() -> dict[str, str]:
    root = Path(hybridrec_ml.__file__).parent
    return {
        ".".join((ROOT, *path.relative_to(root).with_suffix("").parts)): path.read_text()
        for path in sorted(root.rglob("*.py"))
    }


def test_the_library_imports_only_downward_and_never_dagster():
    modules = library_modules()
    assert len(modules) > 40  # the walk found the tree, not an empty folder
    assert layering_violations(modules) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "hybridrec_ml.tensors.batching",
            "from hybridrec_ml.models.base import Batch\n",
            ["hybridrec_ml.tensors.batching:1 imports hybridrec_ml.models.base (upward: tensors comes before models)"],
        ),
        (
            "hybridrec_ml.models.hybrid",
            "import torch\n\ndef f():\n    from ..training import regularizers\n",
            ["hybridrec_ml.models.hybrid:4 imports hybridrec_ml.training (upward: models comes before training)"],
        ),
        (
            "hybridrec_ml.evaluation.variant_evaluation",
            "from hybridrec_ml import reporting, data\n",
            [
                "hybridrec_ml.evaluation.variant_evaluation:1 imports hybridrec_ml.reporting "
                "(upward: evaluation comes before reporting)"
            ],
        ),
        (
            "hybridrec_ml.evaluation.protocols",
            "from hybridrec_ml.tuning.pareto import pareto_optimal\n",
            [
                "hybridrec_ml.evaluation.protocols:1 imports hybridrec_ml.tuning.pareto "
                "(upward: evaluation comes before tuning)"
            ],
        ),
        (
            "hybridrec_ml.config",
            "from hybridrec_ml.data.warehouse import schema\n",
            ["hybridrec_ml.config:1 imports hybridrec_ml.data.warehouse (upward: config comes before data)"],
        ),
        (
            "hybridrec_ml.atomic",
            "from hybridrec_ml import config\n",
            ["hybridrec_ml.atomic:1 imports hybridrec_ml.config (atomic imports no other package)"],
        ),
        (
            "hybridrec_ml.training.trainer",
            "import dagster as dg\n",
            ["hybridrec_ml.training.trainer:1 imports dagster (no dagster in hybridrec_ml)"],
        ),
        (
            "hybridrec_ml.plugins.api",
            "import torch\n",
            ["hybridrec_ml.plugins.api: package 'plugins' has no place in the layer order " + str(ORDER)],
        ),
        (
            "hybridrec_ml.reporting.tables",
            "from hybridrec_ml.config import VARIANTS\nfrom hybridrec_ml.evaluation.protocols import EvalResult\n"
            "from hybridrec_ml.atomic import atomic_write_bytes\nfrom . import figures\n",
            [],
        ),
    ],
)
def test_the_checker_names_each_broken_rule(module, source, expected):
    assert layering_violations({module: source}) == expected
