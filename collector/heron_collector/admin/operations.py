"""The admin operations: one table, read by the admin HTTP endpoint, the CLI's local path
(access.Direct: this process holds the store) and its remote path (access.Remote: a running
collector does), and the route hints of every "no such route" answer.

Each row is `(method, route) → Operation(function, errors)`: the function takes the host the
operation runs against and the request document (the JSON body; for GET, the query string) and
returns the answer document; `errors` maps the exceptions it may raise to the HTTP status of the
answer (the first that matches). The same function runs on both paths, so `heron sql` answers
the same with a collector running or not. Adding an operation is one row here and its function.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..config import ConfigError
from ..purge import PurgeError
from .sql import query_error, run_sql
from .sql_guard import Refused

# What an operation runs against, the Collector or access.Direct: .store (a Store), .settings
# (a Settings), .flush(timeout) -> bool (the spool written), .refreshed() (after a refresh).
Host = Any


class AdminRequestError(ValueError):
    """The request is wrong; the message says how (HTTP 400)."""


class Unavailable(RuntimeError):
    """The operation cannot run now; the message says when it can (HTTP 503)."""


@dataclass(frozen=True)
class Operation:
    run: Callable[[Host, dict[str, Any]], Any]
    errors: tuple[tuple[type[Exception], int], ...] = ()

    def status(self, exc: Exception) -> int | None:
        """The HTTP status of an exception this operation answers, None for a fault (500)."""
        for kind, status in (*self.errors, (AdminRequestError, 400), (Unavailable, 503)):
            if isinstance(exc, kind):
                return status
        return None


def _sql(host: Host, request: dict[str, Any]) -> dict[str, Any]:
    sql = request.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise AdminRequestError('body must be {"sql": "SELECT …", "parameters": {…}}')
    try:
        return run_sql(host.store.reader(), sql, request.get("parameters"))
    except Refused:
        raise
    except Exception as exc:  # a bad query is the caller's error, reported in one line
        raise AdminRequestError(query_error(exc)) from None


def _refresh(host: Host, request: dict[str, Any]) -> dict[str, Any]:
    from .. import analytics

    store = host.store
    if "from" in request or "to" in request:  # a replay: compute the views as of past times
        from ..analytics import _replay

        try:
            return {"replayed": _replay.run(store.client, store.database, request)}
        except ValueError as exc:
            raise AdminRequestError(str(exc)) from None
    wait = bool(request.get("wait", True))
    views = analytics.refresh(store.client, store.database, wait=wait, views=request.get("views"))
    if wait:
        host.refreshed()
    return {"refreshed": views}


def _views(host: Host, request: dict[str, Any]) -> dict[str, Any]:
    from .. import analytics

    return {"views": analytics.view_status(host.store.client, host.store.database)}


def _config_show(host: Host, request: dict[str, Any]) -> dict[str, Any]:
    from .. import config

    return {"settings": config.show(host.store.client, host.store.database, request.get("model") or "*")}


def _config_set(host: Host, request: dict[str, Any]) -> dict[str, Any]:
    from .. import config

    return {"settings": config.set_values(host.store.client, host.store.database, request.get("model"),
                                          request.get("values") or {})}


def _purge(host: Host, request: dict[str, Any]) -> dict[str, Any]:
    from .. import purge

    if not host.flush(60):  # spooled rows of the model must not land after the purge
        raise Unavailable("the spool still holds rows the store has not taken; purge once writes succeed "
                          "(GET /readyz says why they fail)")
    return purge.run(host.store.client, host.store.database, request)


def _alerts(host: Host, request: dict[str, Any]) -> dict[str, Any]:
    from ..alerts import manage

    return manage.run(host.store.client, host.store.database, request, host.settings.alert_rules)


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/admin/sql"): Operation(_sql, ((Refused, 403),)),
    ("POST", "/admin/refresh"): Operation(_refresh),
    ("GET", "/admin/views"): Operation(_views),
    ("GET", "/admin/config"): Operation(_config_show, ((ConfigError, 400),)),
    ("POST", "/admin/config"): Operation(_config_set, ((ConfigError, 400),)),
    ("POST", "/admin/purge"): Operation(_purge, ((PurgeError, 400),)),
    ("POST", "/admin/alerts"): Operation(_alerts, ((ValueError, 400),)),
}


def route_hints() -> str:
    """Every admin route with its methods, as the 404 answers list them."""
    routes: dict[str, list[str]] = {}
    for method, route in OPERATIONS:
        routes.setdefault(route, []).append(method)
    return ", ".join(f"{' or '.join(methods)} {route}" for route, methods in routes.items())


def run(host: Host, method: str, route: str, request: dict[str, Any]) -> Any:
    """Run one operation in this process; raises what its function raises (KeyError: no such route)."""
    return OPERATIONS[(method, route)].run(host, request)


def handle(host: Host, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """One admin HTTP request to a collector (`host`) → (status, answer document)."""
    if host.store is None or not host.ready.is_set():
        return 503, {"error": "the collector is starting"}
    parts = urlsplit(path)
    route = parts.path
    try:
        request = json.loads(body) if body else {}
    except json.JSONDecodeError as exc:
        return 400, {"error": f"admin requests are JSON objects: {exc}"}
    operation = OPERATIONS.get((method, route))
    if operation is None:
        return 404, {"error": f"no admin route {method} {route}; try {route_hints()}"}
    if method == "GET":
        request = {**{k: v[0] for k, v in parse_qs(parts.query).items()}, **request}
    try:
        return 200, operation.run(host, request)
    except Exception as exc:
        status = operation.status(exc)
        if status is None:
            raise
        return status, {"error": str(exc)}
