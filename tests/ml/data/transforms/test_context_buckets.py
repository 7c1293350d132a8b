"""Context buckets from timestamps and from context features: exact ids, and the two always agree."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
import torch

from hybridrec_ml.data.transforms.context_buckets import (
    CONTEXT_BUCKETS,
    bucket_of_context,
    bucket_of_timestamp,
    planted_mechanism_shares,
)
from hybridrec_ml.data.warehouse import schema

MONDAY = 1_514_764_800  # 2018-01-01 00:00 UTC
HOUR, DAY = 3600, 86_400


def context_features(ts: np.ndarray) -> np.ndarray:
    """The five features exactly as docs/architecture.md defines them, stored as FLOAT (float32)."""
    hour = (ts % DAY) / 3600
    dow = (ts // DAY + 3) % 7  # 1970-01-01 was a Thursday
    features = np.stack(
        [
            np.sin(2 * np.pi * hour / 24),
            np.cos(2 * np.pi * hour / 24),
            np.sin(2 * np.pi * dow / 7),
            np.cos(2 * np.pi * dow / 7),
            (dow >= 5).astype(np.float64),
        ],
        axis=1,
    )
    return features.astype(np.float32)


def test_bucket_names_and_ids():
    assert CONTEXT_BUCKETS == ("weekday_daytime", "weekday_evening_night", "weekend")


@pytest.mark.parametrize(
    ("ts", "bucket"),
    [
        (0, 1),  # Thursday 1970-01-01 00:00
        (MONDAY, 1),  # Monday 00:00
        (MONDAY + 8 * HOUR - 1, 1),  # Monday 07:59:59
        (MONDAY + 8 * HOUR, 0),  # Monday 08:00:00
        (MONDAY + 18 * HOUR - 1, 0),  # Monday 17:59:59
        (MONDAY + 18 * HOUR, 1),  # Monday 18:00:00
        (MONDAY + 4 * DAY + 12 * HOUR, 0),  # Friday noon
        (MONDAY + 4 * DAY + 23 * HOUR, 1),  # Friday 23:00
        (MONDAY + 5 * DAY, 2),  # Saturday 00:00
        (MONDAY + 5 * DAY + 12 * HOUR, 2),  # Saturday noon
        (MONDAY + 7 * DAY - 1, 2),  # Sunday 23:59:59
        (MONDAY + 7 * DAY, 1),  # next Monday 00:00
    ],
)
def test_bucket_of_timestamp_hand_picked(ts, bucket):
    assert bucket_of_timestamp(np.array([ts])).tolist() == [bucket]
    assert bucket_of_context(context_features(np.array([ts]))).tolist() == [bucket]


def test_context_and_timestamp_agree_for_every_second_of_a_week_and_random_times():
    week = MONDAY + np.arange(7 * DAY, dtype=np.int64)
    anytime = np.random.default_rng(0).integers(0, 2_000_000_000, 200_000)
    for ts in (week, anytime):
        assert np.array_equal(bucket_of_context(context_features(ts)), bucket_of_timestamp(ts))
    counts = np.bincount(bucket_of_timestamp(week))
    assert counts.tolist() == [5 * 10 * HOUR, 5 * 14 * HOUR, 2 * DAY]


def test_bucket_of_context_accepts_tensors_with_leading_dims():
    ts = np.array([[MONDAY + 9 * HOUR, MONDAY + 20 * HOUR], [MONDAY + 6 * DAY, MONDAY + 8 * HOUR]])
    features = torch.from_numpy(context_features(ts.ravel()).reshape(2, 2, 5))
    assert bucket_of_context(features).tolist() == [[0, 1], [2, 0]]


def test_planted_mechanism_shares_from_a_hand_built_ground_truth():
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {schema.GROUND_TRUTH} {schema.ddl(schema.GROUND_TRUTH_COLUMNS)}")
    rows = [
        ("A1", "B1", MONDAY + 9 * HOUR, "static"),
        ("A1", "B2", MONDAY + 9 * HOUR + 60, "content"),
        ("A2", "B1", MONDAY + DAY + 17 * HOUR, "content"),
        ("A2", "B3", MONDAY + 2 * DAY + 10 * HOUR, "content"),
        ("A1", "B3", MONDAY + 20 * HOUR, "dynamic"),
        ("A2", "B2", MONDAY + 3 * DAY + 2 * HOUR, "dynamic"),
    ]
    con.executemany(f"INSERT INTO {schema.GROUND_TRUTH} VALUES (?, ?, ?, ?)", rows)
    expected = pd.DataFrame(
        {
            "bucket": ["weekday_daytime", "weekday_evening_night"],
            "static": [0.25, 0.0],
            "dynamic": [0.0, 1.0],
            "content": [0.75, 0.0],
        }
    )
    pd.testing.assert_frame_equal(planted_mechanism_shares(con), expected)
