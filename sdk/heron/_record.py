"""Wire-format bodies (docs/wire-format.md): row or columnar JSON, chunked below a byte limit.

Numbers stay JSON numbers; NaN and ±Inf become the strings "NaN", "Infinity", "-Infinity";
missing is null; booleans are categories "true" / "false". Columns from numpy go through
``tolist()`` once per column: non-finite values are fixed up by index, never by a per-row loop.
A feature's type (numeric or categorical) is decided per feature: by dtype for a column, by the
first non-null value seen for a single row, remembered per model so a null later goes under the
same map.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from itertools import compress
from typing import Any

import numpy as np

from . import _stats
from ._extract import Outputs, Table
from ._privacy import HASH, Policy

NUMERIC, CATEGORICAL = "n", "c"
_ROW_KEYS = ("id", "prediction", "score", "ts", "label")
_MAP_KEYS = ("numeric", "categorical", "probabilities")


def _nonfinite(v: float) -> str:
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


# --- scalars ---------------------------------------------------------------------------------
def number(v: Any) -> Any:
    """A JSON-safe number (or its non-finite string); None stays None."""
    if type(v) is float:
        return v if math.isfinite(v) else _nonfinite(v)
    if v is None or type(v) is int:
        return v
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return int(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else _nonfinite(f)


def text(v: Any, policy: Policy | None = None) -> str | None:
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return _nonfinite(v)
    s = v if isinstance(v, str) else str(v)
    return policy.truncate(s) if policy is not None else s


def label(v: Any, policy: Policy | None = None) -> Any:
    """A prediction or ground-truth label: numbers as numbers, the rest as text."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, (bool, str)):
        return text(v, policy)
    if isinstance(v, (int, float)):
        return number(v)
    return text(v, policy)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


# --- columns ---------------------------------------------------------------------------------
def _column_kind(col: Any) -> str:
    if isinstance(col, np.ndarray) and col.dtype.kind != "O":
        return NUMERIC if col.dtype.kind in "fiu" else CATEGORICAL
    seen = False
    for v in col:
        if v is None:
            continue
        if not _is_number(v):
            return CATEGORICAL
        seen = True
    return NUMERIC if seen else ""


def number_list(col: Any, nan_is_missing: bool = False) -> list[Any]:
    if isinstance(col, np.ndarray) and col.dtype.kind in "fiub":
        if col.dtype.kind == "b":
            return col.astype(np.int8).tolist()
        values = col.tolist()
        if col.dtype.kind == "f":
            bad = ~np.isfinite(col)
            if bad.any():
                for i in np.flatnonzero(bad).tolist():
                    v = values[i]
                    values[i] = None if (nan_is_missing and v != v) else _nonfinite(v)
        return values
    out = [number(v) for v in col]
    if nan_is_missing:
        out = [None if v == "NaN" else v for v in out]
    return out


def text_list(col: Any, policy: Policy | None, nan_is_missing: bool = False) -> list[Any]:
    if isinstance(col, np.ndarray):
        if col.dtype.kind == "b":
            return np.where(col, "true", "false").tolist()
        if col.dtype.kind in "US":
            values = col.astype(str).tolist() if col.dtype.kind == "S" else col.tolist()
            if policy is not None:
                limit = policy.max_string_length
                return [s if len(s) <= limit else policy.truncate(s) for s in values]
            return values
        if col.dtype.kind in "mM":
            return col.astype(str).tolist()
        col = col.tolist()
    out = [text(v, policy) for v in col]
    if nan_is_missing:
        out = [None if v == "NaN" else v for v in out]
    return out


def label_list(col: Any, policy: Policy | None = None) -> list[Any]:
    if isinstance(col, np.ndarray) and col.dtype.kind in "fiu":
        return number_list(col)
    if isinstance(col, np.ndarray) and col.dtype.kind in "bUS":
        return text_list(col, policy)
    return [label(v, policy) for v in (col.tolist() if isinstance(col, np.ndarray) else col)]


# --- features --------------------------------------------------------------------------------
def features(table: Table, policy: Policy, kinds: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(numeric, categorical) maps of one table: scalars for a row, lists for columns."""
    numeric: dict[str, Any] = {}
    categorical: dict[str, Any] = {}
    if table.row is not None:
        row = table.row
        if not all(type(k) is str for k in row):
            row = {str(k): v for k, v in row.items()}
        for name, action in policy.select(row):
            v = row[name]
            if action == HASH:
                categorical[name] = policy.hash_value(v)
                continue
            if v is None:
                (categorical if kinds.get(name) == CATEGORICAL else numeric)[name] = None
            elif _is_number(v) and kinds.get(name) != CATEGORICAL:
                numeric[name] = number(v)
                kinds.setdefault(name, NUMERIC)
            else:
                categorical[name] = text(v, policy)
                if name not in kinds and len(kinds) < 10_000:
                    kinds[name] = CATEGORICAL
        return numeric, categorical
    columns = table.columns or {}
    for name, action in policy.select(columns):
        col = columns[name]
        if action == HASH:
            categorical[name] = [policy.hash_value(v) for v in (col.tolist() if isinstance(col, np.ndarray) else col)]
            continue
        kind = _column_kind(col) or kinds.get(name, NUMERIC)
        if kind == NUMERIC and kinds.get(name) != CATEGORICAL:
            numeric[name] = number_list(col, table.nan_is_missing)
            kinds.setdefault(name, NUMERIC)
        else:
            categorical[name] = text_list(col, policy, table.nan_is_missing)
            kinds.setdefault(name, CATEGORICAL)
    return numeric, categorical


def outputs(out: Outputs, columnar: bool, policy: Policy | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if out.prediction is not None:
        body["prediction"] = label_list(out.prediction, policy) if columnar else label(out.prediction, policy)
    if out.score is not None:
        body["score"] = number_list(out.score) if columnar else number(out.score)
    if out.probabilities:
        body["probabilities"] = {
            str(k): (number_list(v) if columnar else number(v)) for k, v in out.probabilities.items()
        }
    return body


def broadcast(body: dict[str, Any], rows: int) -> None:
    """Make every per-row key of a columnar body a list of ``rows`` values."""
    for key in _ROW_KEYS:
        if key in body and not isinstance(body[key], list):
            body[key] = [body[key]] * rows
    for key in _MAP_KEYS:
        section = body.get(key)
        if section:
            for name, v in section.items():
                if not isinstance(v, list):
                    section[name] = [v] * rows


def apply_mask(body: dict[str, Any], mask: Sequence[bool]) -> None:
    for key in _ROW_KEYS:
        if isinstance(body.get(key), list):
            body[key] = list(compress(body[key], mask))
    for key in _MAP_KEYS:
        section = body.get(key)
        if section:
            for name, v in section.items():
                section[name] = list(compress(v, mask))


# --- JSON and chunking -----------------------------------------------------------------------
def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _sanitise(o: Any) -> Any:
    if isinstance(o, float):
        return o if math.isfinite(o) else _nonfinite(o)
    if isinstance(o, dict):
        return {str(k): _sanitise(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_sanitise(v) for v in o]
    return o


def dumps(body: dict[str, Any]) -> str:
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False, default=_default)
    except ValueError:  # a non-finite float slipped through (e.g. inside params)
        return json.dumps(_sanitise(body), separators=(",", ":"), allow_nan=False, default=_default)


def _slice(body: dict[str, Any], a: int, b: int) -> dict[str, Any]:
    part: dict[str, Any] = {}
    for key, v in body.items():
        if key in _ROW_KEYS:
            part[key] = v[a:b]
        elif key in _MAP_KEYS:
            part[key] = {name: col[a:b] for name, col in v.items()}
        elif key == "offset":
            part[key] = v + a
        else:
            part[key] = v
    return part


def chunks(body: dict[str, Any], rows: int, columnar: bool, max_bytes: int) -> list[tuple[str, int, str]]:
    """[(json, rows, layout)] — the body, split into columnar records each below max_bytes."""
    text_ = dumps(body)
    if len(text_) <= max_bytes:
        return [(text_, rows, "columnar" if columnar else "row")]
    if not columnar or rows <= 1:
        _stats.count("records_oversize")
        return []
    parts = min(rows, max(2, math.ceil(len(text_) * 1.1 / max_bytes)))
    step = math.ceil(rows / parts)
    out: list[tuple[str, int, str]] = []
    for a in range(0, rows, step):
        b = min(rows, a + step)
        out.extend(chunks(_slice(body, a, b), b - a, True, max_bytes))
    _stats.count("records_chunked")
    return out

