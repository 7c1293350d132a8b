"""Numbers as Dagster shows them: floats to 4 significant digits (0.1871, not 0.18709749978402304).

The one place metadata floats are rounded; MLflow and the stored evaluation files keep full precision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

SIGNIFICANT_DIGITS = 4


def rounded(value: float) -> float:
    """4 significant digits, never fewer than the integer part: 0.187097 -> 0.1871, 12345.678 -> 12346.0."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, max(0, SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value)))))


def rounded_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The same metadata with every float (numpy's too) rounded; ints, flags, text and MetadataValues unchanged."""
    return {
        key: rounded(float(value)) if isinstance(value, Real) and not isinstance(value, Integral) else value
        for key, value in metadata.items()
    }
