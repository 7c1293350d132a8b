"""The collapse section from hand-built gate_diagnosis records: tables, not-applicable cells and a computed verdict."""

import math

import pytest

from hybridrec_ml.reporting.collapse_report import (
    DAY_NOTE,
    NOT_APPLICABLE,
    cells_frame,
    collapse_section,
    verdict,
    write_collapse_report,
)


def record(variant: str, alpha: tuple[float, ...], spread: tuple[float, ...], ndcg: float, drops=(0.0, 0.0, 0.0)) -> dict:
    """`ndcg` is the full-ranking value; the sampled one is 0.9 - ndcg, so its differences run the other way."""
    effective = [a * s for a, s in zip(alpha, spread)]
    shares = [e / sum(effective) for e in effective]
    components = ("static", "dynamic", "content")[: len(alpha)]
    contributions = [
        {"segment": segment, "component": c, "n_users": 5, "n_rows": 10, "alpha": a, "score_spread": s, "effective_share": sh,
         "ndcg@10": ndcg, "ndcg@10_without": ndcg - d, "ndcg_drop": d}
        for segment in ("all", "warm (4-10)")
        for c, a, s, sh, d in zip(components, alpha, spread, shares, drops)
    ]  # fmt: skip
    epochs = [{"epoch": 1, "alpha": list(alpha), "val_ndcg_at_10": ndcg, "gate_entropy": 0.5, "gate_logit_grad_norm": 0.1,
               "score_scale_static": 1.0}]  # fmt: skip
    return {"variant": variant, "seed": 42, "applicable": True, "best_epoch": 1, "epochs": epochs,
            "contributions": contributions,
            "ndcg_full_user_ci": {"mean": ndcg, "half_width": 0.01, "n_users": 10, "mask": "history"}, "drop_protocol": "full",
            "ndcg_sampled_user_ci": {"mean": 0.9 - ndcg, "half_width": 0.02, "n_users": 10}}  # fmt: skip


RECORDS = [
    record("v1", (0.5, 0.3, 0.2), (1.0, 1.0, 1.0), 0.30),
    record("v2", (0.34, 0.33, 0.33), (1.0, 1.0, 1.0), 0.29),
    record("personalised_v1", (0.95, 0.03, 0.02), (1.0, 1.0, 1.0), 0.31),  # personalised collapses
    record("personalised_v2", (0.4, 0.3, 0.3), (1.0, 1.0, 1.0), 0.30),
    record("day_v1", (0.6, 0.2, 0.2), (1.0, 1.0, 1.0), 0.30),
    record("score_norm", (0.2, 0.66, 0.14), (1.0, 1.0, 3.6), 0.28),
    record("v2_no_content", (0.5, 0.5), (1.0, 1.0), 0.20),  # perfectly balanced, but over two components
    {"variant": "no_attention", "seed": 42, "applicable": False, "best_epoch": 1, "epochs": []},
]


def test_cells_hold_alpha_shares_and_balance():
    cells = cells_frame(RECORDS).set_index("variant")
    assert math.isclose(cells.loc["score_norm", "share_content"], 0.504 / 1.364)
    assert cells.loc["v2", "max_alpha"] == 0.34
    expected_balance = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2)) / math.log(3)
    assert math.isclose(cells.loc["v1", "balance"], expected_balance)
    assert cells.loc["v1", "entropy"] == 0.5 / math.log(3)
    assert not cells.loc["no_attention", "applicable"]


def test_verdict_names_the_factor_and_the_fix_from_the_numbers():
    text = verdict(cells_frame(RECORDS), threshold=0.9)
    assert "The gate collapses (largest mean α > 0.9) in personalised_v1." in text
    # architecture study -> personalised: v1 0.5 -> 0.95 (+0.45), v2 0.34 -> 0.4 (+0.06): mean +0.255
    assert "the change that raises the largest α most is architecture study → personalised" in text
    assert "architecture study → personalised: +0.255; context second → day: +0.100" in text
    assert "The full-model fix with the most balanced effective shares is v2" in text
    assert "NDCG@10 change of -0.0100 against v1 (0.2900 vs 0.3000, full ranking" in text  # sampled: +0.0100
    assert "intervals overlap, so the cost is not resolved at this size" in text  # ±0.01 each around a 0.01 gap
    assert "the largest gap is in score_norm, whose largest mean α is 0.66 while its largest effective share is 0.48" in text
    # flip the numbers and the verdict follows them
    calm = [r for r in RECORDS if r["variant"] != "personalised_v1"] + [record("personalised_v1", (0.5, 0.3, 0.2), (1, 1, 1), 0.3)]
    assert "No cell of the factor grid collapses: the largest mean α is 0.600 (day_v1)" in verdict(cells_frame(calm), 0.9)


def test_section_marks_fixed_fusions_not_applicable_and_day_cells(tmp_path):
    report = collapse_section(RECORDS)
    section = report.section
    assert section.heading == "Why does the gate collapse?"
    no_attention = [line for line in section.markdown.splitlines() if line.startswith("| no_attention |")]
    assert len(no_attention) == 2 and all(NOT_APPLICABLE in line and "yes" not in line for line in no_attention)
    assert "| day_v1 | 42 | study | day-floored † | v1 |" in section.markdown and DAY_NOTE in section.markdown
    assert "| personalised_v1 | 42 | personalised | informative | v1 | 0.95 / 0.03 / 0.02 |" in section.markdown
    assert len(section.figures) == 3
    assert "| v1 | 42 | warm (4-10) | 5 (10) |" in section.markdown
    assert report.verdict == verdict(cells_frame(RECORDS)) and report.verdict in section.markdown
    assert report.factor_table.startswith("| Variant | Seed | Architecture |") and "score_norm" not in report.factor_table
    assert ("| v1 | 42 | study | informative | v1 | 0.50 / 0.30 / 0.20 | 0.455 | 0.50 / 0.30 / 0.20 | 0.000 / 0.000 / 0.000 "
            "| 0.3000 ± 0.0100 | 0.6000 ± 0.0200 | no |") in section.markdown  # full ranking first, sampled beside it
    assert "| NDCG@10 full ranking (user-level 95% CI) | NDCG@10 sampled (user-level 95% CI) |" in report.factor_table
    written = write_collapse_report(RECORDS, tmp_path / "collapse.html")
    assert written.path == tmp_path / "collapse.html" and "Why does the gate collapse?" in written.path.read_text()


def test_a_record_with_sampled_drops_is_refused_by_name():
    old = {k: v for k, v in record("v1", (0.5, 0.3, 0.2), (1.0, 1.0, 1.0), 0.3).items() if k != "drop_protocol"}
    with pytest.raises(ValueError, match="gate_diagnosis of v1 seed 42 was measured on the sampled candidates"):
        cells_frame([old])


def test_a_train_only_mask_is_named_in_its_cell():
    masked = record("v1", (0.5, 0.3, 0.2), (1.0, 1.0, 1.0), 0.3)
    masked["ndcg_full_user_ci"] = masked["ndcg_full_user_ci"] | {"mask": "train_only"}
    assert "| 0.3000 ± 0.0100 (train_only mask) |" in collapse_section([masked]).factor_table
