"""Deleting a model, a version, prediction ids or a time range from every table that holds them.

For erasure requests and bad data. The tables are found in the database, not listed here: a table
is purged by what its columns say it holds (`model_name`, `model_version`, `prediction_id`,
`timestamp` / `window_start`), and the raw OTLP tables by the attributes and body fields of the
wire format. A dry run counts what would go; the deletion is ClickHouse's lightweight DELETE, one
statement per table, with every value a bound parameter. Tables referenced by other tables'
conditions (ml_predictions for ids and trace ids, otel_traces, otel_logs) are purged last.

Granularity: a raw otel_logs record is deleted whole when it holds a purged id, so a columnar
batch record also loses the raw copy of its other rows (their ml_predictions rows stay); the dry
run counts records. Computed windows are deleted for a model, a version or a time range, and
recomputed by the next refresh; a purge of ids or of a time range first records the windows of the
predictions it deletes as touched (ml_windows_touched), so the next refresh recomputes them from
the rows that remain.
The per-version totals of ml_versions are deleted with their model or version, and after a purge
of ids or of a time range computed again from the model's remaining predictions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .migrations import identifier

ANCHORS = ("otel_traces_trace_id_ts", "otel_traces", "ml_predictions", "otel_logs")  # purged last, in this order
MAX_IDS = 100_000


class PurgeError(ValueError):
    """The purge request is not valid; the message says what to pass."""


@dataclass
class Selection:
    model: str
    version: str | None = None
    ids: list[str] = field(default_factory=list)
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @classmethod
    def parse(cls, document: dict[str, Any]) -> Selection:
        model = document.get("model")
        if not isinstance(model, str) or not model or model == "*":
            raise PurgeError("purge needs --model NAME (a model's name; '*' is not a model)")
        version = document.get("version") or None
        ids = document.get("ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise PurgeError("ids must be a list of prediction ids (strings)")
        if len(ids) > MAX_IDS:
            raise PurgeError(f"at most {MAX_IDS} ids per purge; split the list")

        def when(name: str) -> dt.datetime | None:
            text = document.get(name)
            if not text:
                return None
            try:
                value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
            except ValueError:
                raise PurgeError(f"{name} = {text!r} is not an ISO time such as 2026-11-01T00:00:00Z") from None
            return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)

        since, until = when("since"), when("until")
        if since and until and since >= until:
            raise PurgeError("since must be before until")
        return cls(model, version, list(ids), since, until)

    def params(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version or "", "ids": self.ids,
                "since": self.since or dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
                "until": self.until or dt.datetime(2262, 1, 1, tzinfo=dt.timezone.utc)}


def _time(column: str) -> str:
    return f"{column} >= {{since:DateTime64(6, 'UTC')}} AND {column} < {{until:DateTime64(6, 'UTC')}}"


RAW_ATTRIBUTES = {"otel_logs": "LogAttributes", "otel_traces": "SpanAttributes"}
IDS = "{ids:Array(String)}"
MODEL = "{model:String}"
VERSION = "{version:String}"


def _condition(db: str, table: str, columns: set[str], s: Selection) -> str | None:
    """The WHERE condition selecting `s` in `table`, or None when the table holds nothing of it."""
    parts: list[str] = []
    if table in RAW_ATTRIBUTES:
        attributes = RAW_ATTRIBUTES[table]
        parts.append(f"{attributes}['ml.model.name'] = {MODEL}")
        if s.version:
            parts.append(f"{attributes}['ml.model.version'] = {VERSION}")
        if s.ids:
            parts.append(f"(JSONExtractString(Body, 'id') IN {IDS} "
                         f"OR hasAny(JSONExtract(Body, 'id', 'Array(String)'), {IDS}))" if table == "otel_logs" else
                         f"TraceId IN (SELECT trace_id FROM {db}.ml_predictions WHERE model_name = {MODEL} "
                         f"AND prediction_id IN {IDS})")
        if s.since or s.until:
            parts.append(_time("Timestamp"))
    elif table == "otel_traces_trace_id_ts":
        spans = _condition(db, "otel_traces", set(), s)
        return f"TraceId IN (SELECT TraceId FROM {db}.otel_traces WHERE {spans})"
    elif table == "heron_dead_letter":
        if s.since or s.until:
            return None
        parts.append(f"(JSONExtractString(row, 'LogAttributes', 'ml.model.name') = {MODEL} "
                     f"OR JSONExtractString(row, 'SpanAttributes', 'ml.model.name') = {MODEL})")
        if s.version:
            parts.append(f"(JSONExtractString(row, 'LogAttributes', 'ml.model.version') = {VERSION} "
                         f"OR JSONExtractString(row, 'SpanAttributes', 'ml.model.version') = {VERSION})")
        if s.ids:
            parts.append(f"JSONExtractString(JSONExtractString(row, 'Body'), 'id') IN {IDS}")
    elif "model_name" in columns:
        parts.append(f"model_name = {MODEL}")
        if s.version:
            if "model_version" in columns:
                parts.append(f"model_version = {VERSION}")
            elif "prediction_id" in columns:
                parts.append(f"prediction_id IN (SELECT prediction_id FROM {db}.ml_predictions "
                             f"WHERE model_name = {MODEL} AND model_version = {VERSION})")
            else:
                return None  # a model's settings outlive the purge of one version
        if s.ids:
            if "prediction_id" not in columns:
                return None
            parts.append(f"prediction_id IN {IDS}")
        if s.since or s.until:
            column = next((c for c in ("timestamp", "window_start") if c in columns), None)
            if column is None:
                return None
            parts.append(_time(column))
    else:
        return None
    return " AND ".join(parts)


def plan(client, database: str, selection: Selection) -> list[tuple[str, str]]:
    """(table, condition) for every table of `database` holding part of `selection`, anchors last."""
    db = identifier(database, "database")
    result = client.query(
        "SELECT table, groupArray(name) FROM system.columns WHERE database = {db:String} AND table IN "
        "(SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree%' "
        # a refreshable view's `.tmp.inner_id.*` table exists only while it refreshes; run() refreshes after
        "AND NOT startsWith(name, '.')) GROUP BY table",
        parameters={"db": db})
    tables = {table: set(columns) for table, columns in result.result_rows}
    order = sorted(tables, key=lambda t: (ANCHORS.index(t) + 1 if t in ANCHORS else 0, t))
    out = []
    for table in order:
        condition = _condition(db, table, tables[table], selection)
        if condition:
            out.append((table, condition))
    return out


def purge(client, database: str, selection: Selection, dry_run: bool = True) -> list[dict[str, Any]]:
    """Count (and unless `dry_run`, delete) the rows of `selection` in every table; one row per table."""
    db = identifier(database, "database")
    params = selection.params()
    report = []
    for table, condition in plan(client, db, selection):
        count = int(client.command(f"SELECT count() FROM {db}.{table} WHERE {condition}", parameters=params))
        report.append({"table": table, "rows": count})
    if not dry_run:
        if selection.ids or selection.since or selection.until:
            _touch_windows(client, db, selection, params)
        for table, condition in plan(client, db, selection):
            client.command(f"DELETE FROM {db}.{table} WHERE {condition}", parameters=params)
        if selection.ids or selection.since or selection.until:
            _recount_versions(client, db, params)
    return report


def _touch_windows(client, db: str, selection: Selection, params: dict[str, Any]) -> None:
    """Record the minutes of the predictions about to go, as their insert did
    (queries/schema/014_windows_touched.sql)."""
    condition = _condition(db, "ml_predictions", {"model_name", "model_version", "prediction_id", "timestamp"},
                           selection)
    exists = "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'ml_windows_touched'"
    if not condition or not int(client.command(exists, parameters={"db": db})):
        return
    client.command(
        f"INSERT INTO {db}.ml_windows_touched (model_name, model_version, minute, rows, inserted_at) "
        f"WITH (SELECT ts_min FROM {db}.ml_time_bounds) AS ts_min, (SELECT ts_max FROM {db}.ml_time_bounds) AS ts_max "
        f"SELECT model_name, model_version, {db}_v1_touched_minute(timestamp, inserted_at, ts_min, ts_max) AS minute, "
        f"count(), now64(6) FROM {db}.ml_predictions WHERE {condition} "
        f"GROUP BY model_name, model_version, minute", parameters=params)


def _recount_versions(client, db: str, params: dict[str, Any]) -> None:
    """ml_versions holds totals per model version (queries/schema/013_ml_versions.sql), which a purge
    of some ids or of a time range cannot subtract from: the model's are computed again from the
    predictions that remain."""
    exists = "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'ml_versions'"
    if not int(client.command(exists, parameters={"db": db})):
        return
    client.command(f"DELETE FROM {db}.ml_versions WHERE model_name = {MODEL}", parameters=params)
    client.command(f"INSERT INTO {db}.ml_versions SELECT * FROM {db}.ml_versions_scan WHERE model_name = {MODEL}",
                   parameters=params)


def run(client, database: str, request: dict[str, Any]) -> dict[str, Any]:
    """A purge request as the admin endpoint and the CLI send it: {model, version, ids, since, until,
    dry_run (default true)}. Deletes unless a dry run, then refreshes the views; PurgeError if invalid."""
    from . import analytics

    selection = Selection.parse(request)
    dry_run = bool(request.get("dry_run", True))
    report = purge(client, database, selection, dry_run=dry_run)
    if not dry_run:
        analytics.refresh(client, database, wait=True)
    return {"tables": report, "dry_run": dry_run}
