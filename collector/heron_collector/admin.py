"""The collector's admin endpoint: read-only SQL, view refresh and status, over loopback HTTP.

In embedded mode only the collector's process can open the chDB path, so `heron sql`,
`heron refresh` and `heron views` reach the data through here. SQL runs with ClickHouse's
`readonly=1` in a session of its own (Store.reader), which refuses writes, DDL, SYSTEM
commands, file access and setting changes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .collector import Collector

def run_sql(reader, sql: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """A query on the read-only session as {columns, types, rows} (rows capped by the session)."""
    result = reader.query(sql, parameters=parameters or None)
    return {
        "columns": list(result.column_names),
        "types": [t.name for t in result.column_types],
        "rows": [list(row) for row in result.result_rows],
    }


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
        except Exception as exc:  # a bad query is the caller's error, reported verbatim
            return 400, {"error": str(exc)}
    if route in ("/admin/refresh", "/admin/views"):
        from . import analytics

        if method == "POST" and route == "/admin/refresh":
            views = analytics.refresh(store.client, store.database, wait=bool(request.get("wait", True)),
                                      views=request.get("views"))
            return 200, {"refreshed": views}
        if method == "GET" and route == "/admin/views":
            return 200, {"views": analytics.view_status(store.client, store.database)}
    return 404, {"error": f"no admin route {method} {route}; try POST /admin/sql, POST /admin/refresh, "
                          "GET /admin/views"}
