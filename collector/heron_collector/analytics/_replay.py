"""Compute the scheduled analytics as of past times: back-test a configuration on last month's
data without rewriting its timestamps.

Every refreshable view `<name>_mv` is ``SELECT * FROM <name>_compute(as_of = now(), since_view =
'<name>_mv')``: the compute view takes the time it computes for as a parameter, and the view
whose last refresh bounds what changed (ml_windows_due); a replay passes since_view = '', every
window of the look-back. A replay runs, for each time T of
[start, end] stepped by `step`, every compute view in dependency order as of T and appends its
rows to the view's table, then fills in the p-values (`finalize`). Each step recomputes the
windows overlapping [T − lookback, T], so a step no longer than the smallest configured
look-back leaves no window out; windows computed twice are deduplicated by the tables'
ReplacingMergeTree (read them with FINAL), and the newest computation wins.

The tables a scheduled refresh replaces whole (ml_reference_bins, ml_drift_ks_exact: the
inputs of drift, not results) keep replayed rows only until that view's next refresh; the
results (drift, data quality, performance, SLA) keep them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from heron_collector.analytics._finalize import finalize
from heron_collector.analytics._refresh import refreshable_views
from heron_collector.migrations import identifier

DEFAULT_STEP_SECONDS = 86_400


def smallest_lookback(client: Any, database: str) -> int:
    """The shortest look-back any model is configured with (drift and SLO settings), in seconds."""
    db = identifier(database, "database")
    found = []
    for view in ("ml_monitor_settings", "ml_slo_settings"):
        try:
            value = client.command(f"SELECT min(lookback_seconds) FROM {db}.{view}")
        except Exception:  # a store without that view: nothing configured there
            continue
        if str(value).strip() not in ("", "0", "\\N"):
            found.append(int(value))
    return min(found) if found else 259_200


def replay(client: Any, database: str, start: dt.datetime, end: dt.datetime, step_seconds: int | None = None,
           views: list[str] | None = None) -> dict[str, Any]:
    """Compute `views` (default: every refreshable view) as of each time from `start` to `end`.

    Returns {"as_of": [times], "views": [names], "rows": {table: rows appended}}. ValueError when
    the range is empty or the step would skip windows.
    """
    db = identifier(database, "database")
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        raise ValueError(f"replay: --to ({end:%Y-%m-%d %H:%M:%S}) must be after --from ({start:%Y-%m-%d %H:%M:%S})")
    lookback = smallest_lookback(client, db)
    step = int(step_seconds or min(DEFAULT_STEP_SECONDS, lookback))
    if step <= 0 or step > lookback:
        raise ValueError(f"replay: --step {step} s must be between 1 and the smallest look-back configured "
                         f"({lookback} s), or windows between steps are never computed")
    ordered = refreshable_views(client, db, views)
    unknown = sorted(set(views or ()) - set(ordered))
    if unknown:
        raise ValueError(f"not refreshable views in {db}: {', '.join(unknown)}; "
                         f"known: {', '.join(refreshable_views(client, db)) or 'none'}")
    times = []
    t = start + dt.timedelta(seconds=step)
    while t < end:
        times.append(t)
        t += dt.timedelta(seconds=step)
    times.append(end)
    targets = {view: view.removesuffix("_mv") for view in ordered}
    takes_time = {view: _takes_as_of(client, db, f"{targets[view]}_compute") for view in ordered}
    rows: dict[str, int] = dict.fromkeys(targets.values(), 0)
    for step_index, as_of in enumerate(times):
        edge = step_index in (0, len(times) - 1)
        for view in ordered:
            if not takes_time[view] and not edge:
                # no as-of time (reference bins, baselines): computed at the first step, for the
                # views that read it, and at the last, for its final value; nothing reads it between
                continue
            table = targets[view]
            source = f"{db}.{table}_compute" + (
                "(as_of = toDateTime({t:UInt32}, 'UTC'), since_view = '')" if takes_time[view] else "")
            summary = client.command(f"INSERT INTO {db}.{table} SELECT * FROM {source}",
                                     parameters={"t": int(as_of.timestamp())})
            rows[table] += _written(summary)
    finalize(client, db)
    return {"as_of": [t.isoformat() for t in times], "views": ordered, "rows": rows}


def run(client: Any, database: str, request: dict[str, Any]) -> dict[str, Any]:
    """A replay as the admin endpoint and the CLI send it: {from, to (ISO times), step (seconds,
    optional), views (optional)}; ValueError naming the field when one is wrong."""
    step = request.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise ValueError(f"step = {step!r} must be a whole number of seconds")
    views = request.get("views")
    if views is not None and (not isinstance(views, list) or not all(isinstance(v, str) for v in views)):
        raise ValueError("views must be a list of view names")
    return replay(client, database, parse_time(request.get("from"), "from"), parse_time(request.get("to"), "to"),
                  step, views or None)


def parse_time(text: Any, what: str) -> dt.datetime:
    """An ISO 8601 date or time (UTC unless it says otherwise)."""
    if not text:
        raise ValueError(f"replay needs --from and --to (ISO times such as 2026-11-01 or 2026-11-01T06:00:00Z); "
                         f"{what} is missing")
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--{what} = {text!r} is not an ISO time such as 2026-11-01 or 2026-11-01T06:00:00Z") from None
    return _utc(value, what)


def _takes_as_of(client: Any, db: str, compute: str) -> bool:
    query = client.command("SELECT create_table_query FROM system.tables WHERE database = {db:String} "
                           "AND name = {name:String}", parameters={"db": db, "name": compute})
    return "{as_of:DateTime}" in str(query)


def _written(summary: Any) -> int:
    """Rows an INSERT … SELECT wrote, from the client's query summary (0 when it does not say)."""
    written = getattr(summary, "written_rows", None)
    if written is None and isinstance(summary, dict):
        written = summary.get("written_rows")
    try:
        return int(written or 0)
    except (TypeError, ValueError):
        return 0


def _utc(value: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise ValueError(f"replay: {what} must be a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
