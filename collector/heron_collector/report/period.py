"""The report's `--since`: a duration back from now (7d, 12h, 30m) or an ISO date or time (UTC
unless it says otherwise)."""

from __future__ import annotations

import datetime as dt

from .. import durations


class PeriodError(ValueError):
    """A `--since` that is neither a duration nor an ISO time; the message says the accepted forms."""


def parse_since(text: str | dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    """The start of the report's period as an aware UTC datetime, not after `now`."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if isinstance(text, dt.datetime):
        start = text
    else:
        value = str(text).strip().lower()
        back = durations.seconds(value, unit_required=True)
        if back is not None:
            start = now - dt.timedelta(seconds=back)
        else:
            try:
                start = dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            except ValueError:
                raise PeriodError(f"--since {str(text)[:60]!r} is neither a duration (7d, 12h, 30m) nor an ISO "
                                  "date or time (2026-11-01, 2026-11-01T08:00:00Z)") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.timezone.utc)
    start = start.astimezone(dt.timezone.utc)
    if start > now:
        raise PeriodError(f"--since {start.isoformat()} is in the future; give a past time or a duration such as 7d")
    return start
