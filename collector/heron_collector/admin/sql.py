"""The collector's admin endpoint: read-only SQL, view refresh and status, on a listener of its own.

In embedded mode only the collector's process can open the chDB path, so `heron sql`,
`heron refresh` and `heron views` reach the data through here. A statement is first judged by
ClickHouse's parser (sql_guard: one read-only statement, no INTO OUTFILE, no table function that
reaches outside, no SETTINGS), then runs in a session of its own (Store.reader) with
`readonly = 1` and time, memory and result limits.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import sql_guard

if TYPE_CHECKING:
    from ..collector import Collector


def run_sql(reader, sql: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """A query on the read-only session as {columns, types, rows} (rows capped by the session).

    Raises sql_guard.Refused for anything but one read-only statement."""
    sql_guard.check(reader, sql, parameters)
    result = reader.query(sql + "\n", parameters=parameters or None)
    return {
        "columns": list(result.column_names),
        "types": [t.name for t in result.column_types],
        "rows": [list(row) for row in result.result_rows],
    }


LIMIT_HINTS = {
    "159": "HERON_ADMIN_MAX_SECONDS",
    "241": "HERON_ADMIN_MAX_MEMORY_BYTES",
}


def query_error(exc: Exception) -> str:
    """The engine's error as one line (no stack trace), naming the admin limit that stopped it."""
    text = str(exc).split("Stack trace")[0].strip()
    first = " ".join(text.split())[:600] or type(exc).__name__
    for code, setting in LIMIT_HINTS.items():
        if f"Code: {code}." in first:
            return f"{first} — stopped by the admin limit {setting}"
    return first


def handle(collector: Collector, method: str, path: str, body: bytes) -> tuple[int, Any]:
    store = collector.store
    if store is None or not collector.ready.is_set():
        return 503, {"error": "the collector is starting"}
    route = path.split("?")[0]
    try:
        request = json.loads(body) if body else {}
    except json.JSONDecodeError as exc:
        return 400, {"error": f"admin requests are JSON objects: {exc}"}
    if method == "POST" and route == "/admin/sql":
        sql = request.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            return 400, {"error": 'body must be {"sql": "SELECT …", "parameters": {…}}'}
        try:
            return 200, run_sql(store.reader(), sql, request.get("parameters"))
        except sql_guard.Refused as exc:
            return 403, {"error": str(exc)}
        except Exception as exc:  # a bad query is the caller's error, reported in one line
            return 400, {"error": query_error(exc)}
    if route == "/admin/config":
        from .. import config

        try:
            if method == "GET":
                model = request.get("model") or _query_param(path, "model") or "*"
                return 200, {"settings": config.show(store.client, store.database, model)}
            if method == "POST":
                return 200, {"settings": config.set_values(store.client, store.database, request.get("model"),
                                                           request.get("values") or {})}
        except config.ConfigError as exc:
            return 400, {"error": str(exc)}
    if route == "/admin/purge" and method == "POST":
        from .. import purge

        if not collector.flush(timeout=60):  # spooled rows of the model must not land after the purge
            return 503, {"error": "the spool still holds rows the store has not taken; purge once writes succeed "
                                  "(GET /readyz says why they fail)"}
        try:
            return 200, purge.run(store.client, store.database, request)
        except purge.PurgeError as exc:
            return 400, {"error": str(exc)}
    if route == "/admin/alerts" and method == "POST":
        from ..alerts import manage

        try:
            return 200, manage.run(store.client, store.database, request, collector.settings.alert_rules)
        except ValueError as exc:
            return 400, {"error": str(exc)}
    if route in ("/admin/refresh", "/admin/views"):
        from .. import analytics

        if method == "POST" and route == "/admin/refresh" and ("from" in request or "to" in request):
            from ..analytics import _replay

            try:
                return 200, {"replayed": _replay.run(store.client, store.database, request)}
            except ValueError as exc:
                return 400, {"error": str(exc)}
        if method == "POST" and route == "/admin/refresh":
            wait = bool(request.get("wait", True))
            views = analytics.refresh(store.client, store.database, wait=wait, views=request.get("views"))
            if wait:  # /metrics shows the new values at once
                collector.model_health.reload(store.client, store.database)
            return 200, {"refreshed": views}
        if method == "GET" and route == "/admin/views":
            return 200, {"views": analytics.view_status(store.client, store.database)}
    return 404, {"error": f"no admin route {method} {route}; try POST /admin/sql, POST /admin/refresh, "
                          "GET /admin/views, GET or POST /admin/config, POST /admin/purge, POST /admin/alerts"}


def _query_param(path: str, name: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return (parse_qs(urlsplit(path).query).get(name) or [""])[0]
