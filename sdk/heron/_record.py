"""Wire-format bodies (docs/wire-format.md): row or columnar JSON, chunked below a byte limit.

Numbers stay JSON numbers; NaN and ±Inf become the strings "NaN", "Infinity", "-Infinity";
missing is null; booleans are categories "true" / "false". A numeric numpy column stays a numpy
array in the body and orjson writes it directly (OPT_SERIALIZE_NUMPY, shortest round-trip
floats): only a column that holds NaN/±Inf (one ``np.isfinite`` per column) goes through
``tolist()`` so its non-finite values can be replaced by index, never by a per-row loop.
orjson would write NaN as null, so `dumps` expects JSON-safe values: everything built here is;
`json_safe` makes arbitrary user data (model params) so.
A feature's type (numeric or categorical) is decided per feature: by dtype for a column, by the
first non-null value seen for a single row, remembered per model so a null later goes under the
same map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from . import _stats
from ._extract import Outputs, Table
from ._privacy import HASH, Policy

NUMERIC, CATEGORICAL = "n", "c"
_ROW_KEYS = ("id", "prediction", "score", "ts", "label")
# per-row only in coalesced single predictions (docs/wire-format.md); a record-level scalar elsewhere
_COLUMN_IF_LIST = ("latency_ms", "trace_id", "span_id")
_MAP_KEYS = ("numeric", "categorical", "probabilities")


def _nonfinite(v: float) -> str:
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1  # what orjson writes as a JSON integer


# --- scalars ---------------------------------------------------------------------------------
def number(v: Any) -> Any:
    """A JSON-safe number (or its non-finite string); None stays None."""
    if type(v) is float:
        return v if math.isfinite(v) else _nonfinite(v)
    if v is None:
        return v
    if type(v) is int and _INT_MIN <= v <= _INT_MAX:
        return v
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, int):  # bool, an int subclass, or beyond 64 bits (then a float, as it is stored)
        v = int(v)
        if _INT_MIN <= v <= _INT_MAX:
            return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    except OverflowError:  # an int beyond the float range
        return "Infinity" if v > 0 else "-Infinity"
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


def number_list(col: Any, nan_is_missing: bool = False) -> np.ndarray | list[Any]:
    """A numeric column: a numpy array orjson writes as is, or a list when values had to change."""
    if isinstance(col, np.ndarray) and col.dtype.kind in "fiub":
        kind = col.dtype.kind
        if kind == "b":
            return col.astype(np.int8)
        if kind == "f":
            col = np.ascontiguousarray(col, dtype=np.float64)  # float32 keeps its exact value, as before
            bad = ~np.isfinite(col)
            if bad.any():
                values = col.tolist()
                for i in np.flatnonzero(bad).tolist():
                    v = values[i]
                    values[i] = None if (nan_is_missing and v != v) else _nonfinite(v)
                return values
            return col
        return np.ascontiguousarray(col, dtype=col.dtype.newbyteorder("="))  # orjson: native order, C layout
    out = [number(v) for v in col]
    if nan_is_missing:
        out = [None if v == "NaN" else v for v in out]
    return out


def seconds(ts: float | list[float]) -> Any:
    """Unix timestamps (one, or a list of them) as a JSON number or a numeric column."""
    return number_list(np.asarray(ts, dtype=np.float64)) if isinstance(ts, list) else number(ts)


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


_COLUMN = (list, np.ndarray)


def first(col: Any) -> Any:
    """The only value of a one-row column (a plain Python value)."""
    if isinstance(col, np.ndarray):
        return col[0].item()
    return col[0] if isinstance(col, list) else col


def broadcast(body: dict[str, Any], rows: int) -> None:
    """Make every per-row key of a columnar body a column (list or array) of ``rows`` values."""
    for key in _ROW_KEYS:
        if key in body and not isinstance(body[key], _COLUMN):
            body[key] = [body[key]] * rows
    for key in _MAP_KEYS:
        section = body.get(key)
        if section:
            for name, v in section.items():
                if not isinstance(v, _COLUMN):
                    section[name] = [v] * rows


def _keep(col: Any, mask: np.ndarray) -> Any:
    if isinstance(col, np.ndarray):
        return col[mask]
    return [v for v, k in zip(col, mask.tolist(), strict=True) if k]


def apply_mask(body: dict[str, Any], mask: Sequence[bool]) -> None:
    keep = np.asarray(mask, dtype=bool)
    for key in _ROW_KEYS:
        if isinstance(body.get(key), _COLUMN):
            body[key] = _keep(body[key], keep)
    for key in _MAP_KEYS:
        section = body.get(key)
        if section:
            for name, v in section.items():
                section[name] = _keep(v, keep)


# --- JSON and chunking -----------------------------------------------------------------------
def json_safe(o: Any) -> Any:
    """Arbitrary user data (e.g. model params) as values `dumps` writes faithfully."""
    if isinstance(o, np.generic):
        o = o.item()
    if o is None or isinstance(o, (str, bool)):
        return o
    if isinstance(o, (int, float)):
        return number(o)
    if isinstance(o, dict):
        return {str(k): json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in o]
    return str(o)


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _dumpb(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=_OPTIONS)


def dumps(body: dict[str, Any]) -> str:
    """Compact JSON of a body of JSON-safe values (numbers, strings, None, lists, dicts, arrays)."""
    return _dumpb(body).decode()


def _slice(body: dict[str, Any], a: int, b: int) -> dict[str, Any]:
    part: dict[str, Any] = {}
    for key, v in body.items():
        if key in _ROW_KEYS or (key in _COLUMN_IF_LIST and isinstance(v, _COLUMN)):
            part[key] = v[a:b]  # a numpy slice stays C-contiguous: orjson still writes it directly
        elif key in _MAP_KEYS:
            part[key] = {name: col[a:b] for name, col in v.items()}
        elif key == "offset":
            part[key] = v + a
        else:
            part[key] = v
    return part


class Oversize(ValueError):
    """A single row is larger than the record limit: it cannot be sent."""


def chunks(body: dict[str, Any], rows: int, columnar: bool, max_bytes: int) -> list[tuple[str, int, str]]:
    """[(json, rows, layout)] — the body, split into columnar records each at most max_bytes (UTF-8).

    The size of the whole body sets the rows per chunk (with 10 % to spare), so a batch is
    serialised about twice; only a chunk that is still too large (rows of very uneven size) is
    split again."""
    data = _dumpb(body)
    if len(data) <= max_bytes:
        return [(data.decode(), rows, "columnar" if columnar else "row")]
    if not columnar or rows <= 1:
        raise Oversize(f"one row of {len(data)} bytes is over HERON_MAX_RECORD_BYTES ({max_bytes})")
    parts = min(rows, max(2, math.ceil(len(data) * 1.1 / max_bytes)))
    step = math.ceil(rows / parts)
    out: list[tuple[str, int, str]] = []
    for a in range(0, rows, step):
        b = min(rows, a + step)
        out.extend(chunks(_slice(body, a, b), b - a, True, max_bytes))
    _stats.count("records_chunked")
    return out

