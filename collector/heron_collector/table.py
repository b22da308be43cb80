"""Query results as aligned text columns, for the terminal (a leaf: imports nothing of Heron)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any


def _format_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {9: "\\t", 10: "\\n", 13: "\\r", 127: "\\x7f"}


def cell(value: Any) -> str:
    """A value as one table cell: control characters escaped, so a name cannot break the table."""
    return _format_value(value).translate(_CONTROL)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], out=None) -> None:
    out = out or sys.stdout  # looked up at the call: redirect_stdout and capturing tests see it
    if not rows:
        print("(no rows)", file=out)
        return
    columns = [cell(c) for c in columns]
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def one_line(text: str) -> str:
    """An engine error without its stack trace, on one line."""
    return " ".join(str(text).split("Stack trace")[0].split())[:600]
