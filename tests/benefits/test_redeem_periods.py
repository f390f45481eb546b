"""The period keys and ends redemptions are stored under, in Japan time (no app needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.benefits.periods import JST, period_end, period_key


@pytest.mark.parametrize(
    ("period", "moment", "key", "end"),
    [
        # 00:30 on 1 Dec in Japan is still 30 Nov in UTC: the key is Japan's day.
        ("day", datetime(2026, 11, 30, 15, 30, tzinfo=UTC), "2026-12-01", datetime(2026, 12, 2, tzinfo=JST)),
        ("day", datetime(2026, 12, 31, 23, 59, tzinfo=JST), "2026-12-31", datetime(2027, 1, 1, tzinfo=JST)),
        # ISO weeks run Monday to Sunday; 2026-12-31 (Thursday) is in 2026-W53, 2027-01-03 too.
        ("week", datetime(2026, 12, 31, 12, 0, tzinfo=JST), "2026-W53", datetime(2027, 1, 4, tzinfo=JST)),
        ("week", datetime(2027, 1, 3, 23, 59, tzinfo=JST), "2026-W53", datetime(2027, 1, 4, tzinfo=JST)),
        ("week", datetime(2027, 1, 4, 0, 0, tzinfo=JST), "2027-W01", datetime(2027, 1, 11, tzinfo=JST)),
        ("month", datetime(2026, 12, 31, 15, 0, tzinfo=UTC), "2027-01", datetime(2027, 2, 1, tzinfo=JST)),
        ("month", datetime(2026, 12, 15, tzinfo=JST), "2026-12", datetime(2027, 1, 1, tzinfo=JST)),
        ("term", datetime(2026, 12, 15, tzinfo=JST), "term", None),
    ],
)
def test_period_keys_and_ends_in_japan(period: str, moment: datetime, key: str, end: datetime | None) -> None:
    assert period_key(period, moment) == key
    assert period_end(period, moment) == end
    if end is not None:  # the end is the next period's first instant; a second before, still this one
        assert period_key(period, end) != key
        assert period_key(period, end - timedelta(seconds=1)) == key


def test_a_naive_moment_is_utc_and_an_unknown_period_is_refused() -> None:
    assert period_key("day", datetime(2026, 11, 30, 15, 30)) == "2026-12-01"
    assert period_end("term", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 3, 31, 15, tzinfo=UTC)) == datetime(
        2027, 3, 31, 15, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="unknown period"):
        period_key("year", datetime.now(UTC))
