"""`--since`: durations back from now, ISO dates and times (UTC unless they say otherwise), and a
one-line error naming the accepted forms for anything else."""

from __future__ import annotations

import datetime as dt

import pytest

from heron_collector.report import PeriodError, parse_since

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("text", "start"), [
    ("7d", dt.datetime(2026, 11, 24, 12, 0)), ("12h", dt.datetime(2026, 12, 1, 0, 0)),
    ("30m", dt.datetime(2026, 12, 1, 11, 30)), (" 2D ", dt.datetime(2026, 11, 29, 12, 0)),
    ("2026-11-01", dt.datetime(2026, 11, 1)), ("2026-11-01T08:00:00Z", dt.datetime(2026, 11, 1, 8)),
    ("2026-11-01t08:00:00z", dt.datetime(2026, 11, 1, 8)), ("2026-11-01T09:00+01:00", dt.datetime(2026, 11, 1, 8)),
])
def test_durations_and_iso_times(text, start):
    assert parse_since(text, NOW) == start.replace(tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("text", ["7x", "", "d7", "-3d", "1w", "yesterday", "2026-13-01", "2027-01-01", "7d; DROP"])
def test_anything_else_is_refused_in_one_line(text):
    with pytest.raises(PeriodError) as caught:
        parse_since(text, NOW)
    message = str(caught.value)
    assert "--since" in message and "\n" not in message
    assert "7d" in message or "future" in message
