"""Read-only SQL for the admin endpoint and the CLI (the operations are in admin/operations.py).

In embedded mode only the collector's process can open the chDB path, so `heron sql`,
`heron refresh` and `heron views` reach the data through the collector's admin endpoint. A
statement is first judged by ClickHouse's parser (sql_guard: one read-only statement, no INTO
OUTFILE, no table function that reaches outside, no SETTINGS), then runs in a session of its own
(Store.reader) with `readonly = 1` and time, memory and result limits.
"""

from __future__ import annotations

from typing import Any

from . import sql_guard


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
