"""Metadata floats are shown to 4 significant digits; everything else passes through unchanged."""

import numpy as np
from dagster import MetadataValue

from hybridrec_assets.metadata import rounded, rounded_metadata


def test_floats_keep_four_significant_digits_and_their_integer_part():
    assert rounded(0.18709749978402304) == 0.1871
    assert rounded(-0.000123456) == -0.0001235
    assert rounded(3.14159) == 3.142
    assert rounded(12345.678) == 12346.0
    assert rounded(0.0) == 0.0
    assert rounded(float("inf")) == float("inf")


def test_only_floats_are_rounded():
    path = MetadataValue.path("/tmp/report.html")
    shown = rounded_metadata(
        {"ndcg": 0.18709749978402304, "alpha": np.float32(0.33333334), "rows": 45000, "big": np.int64(7),
         "flag": True, "kind": "synthetic", "report": path}
    )
    assert shown == {"ndcg": 0.1871, "alpha": 0.3333, "rows": 45000, "big": 7, "flag": True, "kind": "synthetic", "report": path}
    assert type(shown["alpha"]) is float and shown["flag"] is True
