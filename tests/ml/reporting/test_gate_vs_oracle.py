"""The report's gate section: α and effective shares per bucket against the oracle-optimal fusion, and their distance."""

import math

import pandas as pd
import pytest

from hybridrec_ml.evaluation.oracle_ceilings import BucketFusion
from hybridrec_ml.reporting.gate_vs_oracle import (
    gate_vs_oracle,
    gate_vs_oracle_sentences,
    gate_vs_oracle_table,
    total_variation,
)

FUSION = [
    BucketFusion("weekday_daytime", 10, (0.02, 0.02, 0.96), (0.1, 0.0, 0.9), 0.25),
    BucketFusion("weekend", 4, (0.96, 0.02, 0.02), (1.0, 0.0, 0.0), 0.3),
]
COLUMNS = ["bucket", "n_rows", "alpha_static", "alpha_dynamic", "alpha_content",
           "effective_share_static", "effective_share_dynamic", "effective_share_content"]  # fmt: skip
NAN = float("nan")


def seeds(*rows):
    return pd.DataFrame(rows, columns=COLUMNS)


# v1, two seeds: daytime α mean (0.3, 0.3, 0.4), share mean (0.1, 0.1, 0.8); weekend α (0.9, 0.05, 0.05), share (0.5, 0.25, 0.25)
V1 = seeds(
    ("weekday_daytime", 10, 0.2, 0.3, 0.5, 0.0, 0.2, 0.8), ("weekend", 4, 0.9, 0.05, 0.05, 0.5, 0.25, 0.25),
    ("weekday_daytime", 10, 0.4, 0.3, 0.3, 0.2, 0.0, 0.8), ("weekend", 4, 0.9, 0.05, 0.05, 0.5, 0.25, 0.25),
)  # fmt: skip
# v2: no weekend row, shares not recorded
V2 = seeds(("weekday_daytime", 10, 1 / 3, 1 / 3, 1 / 3, NAN, NAN, NAN), ("weekend", 0, NAN, NAN, NAN, NAN, NAN, NAN))


def test_total_variation_is_half_the_l1_distance():
    assert total_variation((0.3, 0.3, 0.4), (0.1, 0.0, 0.9)) == pytest.approx(0.5)
    assert total_variation((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)) == 1.0
    assert total_variation((0.2, 0.3, 0.5), (0.2, 0.3, 0.5)) == 0.0


def test_each_gated_variant_per_bucket_with_its_distances_to_the_oracle_fusion():
    comparison = gate_vs_oracle(FUSION, {"v1": V1, "v2": V2})
    v1 = comparison[comparison.variant == "v1"].set_index("bucket")
    assert v1.loc["weekday_daytime", "alpha"] == pytest.approx((0.3, 0.3, 0.4))
    assert v1.loc["weekday_daytime", "effective_share"] == pytest.approx((0.1, 0.1, 0.8))
    assert v1["tv_alpha"].tolist() == pytest.approx([0.5, 0.1])
    assert v1["tv_share"].tolist() == pytest.approx([0.1, 0.5])
    v2 = comparison[comparison.variant == "v2"].set_index("bucket")
    assert v2.loc["weekday_daytime", "tv_alpha"] == pytest.approx(0.5 * (1 / 3 - 0.1 + 1 / 3 + 0.9 - 1 / 3))
    assert v2.loc["weekday_daytime", "effective_share"] is None and math.isnan(v2.loc["weekday_daytime", "tv_share"])
    assert v2.loc["weekend", "alpha"] is None and math.isnan(v2.loc["weekend", "tv_alpha"])
    lines = gate_vs_oracle_table(comparison).splitlines()
    assert lines[0] == (
        "| Variant | Context bucket | Oracle-optimal fusion | α (mean over seeds) | TV(α, oracle) | "
        "Effective share (mean over seeds) | TV(share, oracle) |"
    )
    assert lines[2] == "| v1 | weekday_daytime | (0.100, 0.000, 0.900) | (0.300, 0.300, 0.400) | 0.500 | (0.100, 0.100, 0.800) | 0.100 |"
    assert lines[5] == "| v2 | weekend | (1.000, 0.000, 0.000) | — | — | — | — |"


def test_one_computed_sentence_per_variant_and_the_others_not_applicable():
    comparison = gate_vs_oracle(FUSION, {"v1": V1, "v2": V2})
    sentences = gate_vs_oracle_sentences(comparison, ["no_attention", "pop"])
    # v1 weighted by rows: α (10 x 0.5 + 4 x 0.1) / 14 = 0.3857, shares (10 x 0.1 + 4 x 0.5) / 14 = 0.2143
    assert sentences == [
        "v1: α is 0.386 from the oracle-optimal fusion (total variation, mean over buckets weighted by rows), its "
        "effective shares 0.214; farthest in weekday_daytime (α 0.500).",
        "v2: α is 0.567 from the oracle-optimal fusion (total variation, mean over buckets weighted by rows), its "
        "effective shares were not recorded; farthest in weekday_daytime (α 0.567).",
        "no_attention, pop: not applicable (no learned gate).",
    ]
    assert comparison[comparison.variant == "v2"]["n_rows"].tolist() == [10, 4]  # the oracle's rows weigh the buckets
