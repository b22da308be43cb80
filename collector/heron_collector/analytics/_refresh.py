"""Force refreshable materialized views to run, in dependency order, and report their state.

ClickHouse schedules the views itself (REFRESH EVERY …); these helpers exist for `heron
refresh [--wait]`, `heron views`, tests and the demo, which need results *now*.
"""

from __future__ import annotations

import re
import time
from typing import Any

from heron_collector.migrations import identifier

_DEPENDS = re.compile(r"\bDEPENDS\s+ON\s+(.+?)(?:\bSETTINGS\b|\bAPPEND\b|\bTO\b|\bEMPTY\b|\bAS\b)",
                      re.IGNORECASE | re.DOTALL)


def _dependencies(create_query: str, database: str) -> set[str]:
    """Views named in `DEPENDS ON a, b` of a CREATE statement (same database only)."""
    match = _DEPENDS.search(create_query)
    if not match:
        return set()
    out = set()
    for name in match.group(1).split(","):
        name = name.strip().strip("`")
        if "." in name:
            db, _, name = name.partition(".")
            if db.strip("`") != database:
                continue
        out.add(name.strip("`"))
    return out


# Dependencies per (database, {(view, uuid)}): a view's DEPENDS ON changes only when it is created
# again (new uuid), and reading CREATE queries from system.tables costs ~20 ms per view.
_GRAPHS: dict[tuple[str, frozenset[tuple[str, str]]], dict[str, set[str] | None]] = {}


def refreshable_views(client: Any, database: str, views: list[str] | None = None) -> list[str]:
    """The database's refreshable views (or `views` of them), dependencies first, then by name."""
    database = identifier(database, "database")
    listed = client.query("SELECT view, toString(uuid) FROM system.view_refreshes WHERE database = {db:String}",
                          parameters={"db": database}).result_rows
    key = (database, frozenset((view, uuid) for view, uuid in listed))
    if key not in _GRAPHS:
        if len(_GRAPHS) > 16:
            _GRAPHS.clear()
        _GRAPHS[key] = {view: None for view, _ in listed}
    graph = _GRAPHS[key]
    wanted = set(graph) if views is None else set(views) & set(graph)
    _load_dependencies(client, database, graph, wanted)
    ordered: list[str] = []
    done: set[str] = set()

    def visit(view: str, path: tuple[str, ...]) -> None:
        if view in done or view in path:
            return
        for dep in sorted(graph.get(view) or ()):
            if dep in graph:
                visit(dep, (*path, view))
        done.add(view)
        ordered.append(view)

    for view in sorted(wanted):
        visit(view, ())
    return [view for view in ordered if view in wanted]


def _load_dependencies(client: Any, database: str, graph: dict[str, set[str] | None], views: set[str]) -> None:
    """Fill in the DEPENDS ON of `views` and, transitively, of the views they depend on."""
    missing = sorted(view for view in views if graph.get(view) is None)
    while missing:
        rows = client.query("SELECT name, create_table_query FROM system.tables "
                            "WHERE database = {db:String} AND name IN {names:Array(String)}",
                            parameters={"db": database, "names": missing}).result_rows
        found = dict(rows)
        for view in missing:
            graph[view] = _dependencies(found.get(view, ""), database)
        missing = sorted({dep for view in missing for dep in graph[view] or ()
                          if dep in graph and graph[dep] is None})


def refresh(client: Any, database: str, wait: bool = True, views: list[str] | None = None,
            timeout: float = 600.0) -> list[str]:
    """Run every refreshable view of `database` now (or only `views`), dependencies first.

    With `wait`, each view is awaited before its dependants start (SYSTEM WAIT VIEW raises the
    refresh's error, if any), and `finalize` then fills in the p-values. Without it the
    refreshes are only requested; ClickHouse runs them in the background. Returns the views.
    """
    database = identifier(database, "database")
    ordered = refreshable_views(client, database, views)
    unknown = sorted(set(views or ()) - set(ordered))
    if unknown:
        known = refreshable_views(client, database)
        raise ValueError(f"not refreshable views in {database}: {', '.join(unknown)}; "
                         f"known: {', '.join(known) or 'none'}")
    for view in ordered:
        name = f"{database}.{identifier(view, 'view')}"
        client.command(f"SYSTEM REFRESH VIEW {name}")
        if wait:
            _wait(client, database, view, name, timeout)
    if wait:
        from heron_collector.analytics._finalize import finalize

        finalize(client, database)
    return ordered


def _wait(client: Any, database: str, view: str, name: str, timeout: float) -> None:
    """SYSTEM WAIT VIEW, bounded: it raises the refresh's own error when the refresh failed."""
    deadline = time.monotonic() + timeout
    client.command(f"SYSTEM WAIT VIEW {name}")
    while time.monotonic() < deadline:  # WAIT returns once the requested run finished
        status = client.query(
            "SELECT status, exception FROM system.view_refreshes WHERE database = {db:String} "
            "AND view = {v:String}", parameters={"db": database, "v": view}).result_rows
        if not status or status[0][0] not in ("Running", "Scheduling"):
            if status and status[0][1]:
                raise RuntimeError(f"refresh of {name} failed: {status[0][1]}")
            return
        time.sleep(0.05)
    raise TimeoutError(f"refresh of {name} still running after {timeout:.0f} s")


_STATUS_COLUMNS = ("view", "status", "last_success_time", "last_success_duration_ms",
                   "last_refresh_time", "next_refresh_time", "exception", "retry", "progress",
                   "read_rows", "written_rows")


def view_status(client: Any, database: str) -> list[dict[str, Any]]:
    """One dict per refreshable view: state, last success/attempt, next run, error, row counts."""
    database = identifier(database, "database")
    result = client.query(
        f"SELECT {', '.join(_STATUS_COLUMNS)} FROM system.view_refreshes "
        "WHERE database = {db:String} ORDER BY view",
        parameters={"db": database},
    )
    return [dict(zip(_STATUS_COLUMNS, row, strict=True)) for row in result.result_rows]
