"""Unix seconds to UTC calendar parts by plain arithmetic, independent of any session time zone."""

from __future__ import annotations

import numpy as np

SECONDS_PER_DAY = 86_400
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def weekday_and_second_of_day(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(day of the week, Monday 0 .. Sunday 6; second of the day) of each unix timestamp, UTC."""
    day, second_of_day = np.divmod(ts, SECONDS_PER_DAY)
    return (day + EPOCH_WEEKDAY) % 7, second_of_day
