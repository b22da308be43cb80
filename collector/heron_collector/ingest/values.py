"""OTLP AnyValue → the strings the official ClickHouse exporter stores.

The contrib exporter writes every attribute value with pdata's `Value.AsString()`; we match it
byte for byte so both collectors fill the same table the same way:
str as is, bool `true`/`false`, int in decimal, double in Go's ES6-like shortest form
(`1.0` → `1`, `1e-07` → `1e-7`), bytes as standard base64, arrays and maps as compact JSON with
sorted keys, empty as ''. See ../shared/reference/otel-clickhouse.md §2.
"""

from __future__ import annotations

import base64
import json
import math
import re
from decimal import Decimal
from typing import Any

_EXP = re.compile(r"e([+-])0(\d)$")


def go_float(value: float) -> str:
    """A double as Go's strconv 'ES6' formatting in pdata's AsString writes it."""
    if math.isnan(value) or math.isinf(value):
        return "json: unsupported value: " + ("NaN" if value != value else ("+Inf" if value > 0 else "-Inf"))
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return _EXP.sub(r"e\1\2", repr(value))
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _json(value: Any) -> str:
    """Compact JSON with sorted keys and Go-formatted doubles, as pdata marshals maps and slices."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return json.dumps(value.string_value, ensure_ascii=False)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return go_float(value.double_value)
    if kind == "bytes_value":
        return json.dumps(base64.b64encode(value.bytes_value).decode())
    if kind == "array_value":
        return "[" + ",".join(_json(v) for v in value.array_value.values) + "]"
    if kind == "kvlist_value":
        items = {kv.key: kv.value for kv in value.kvlist_value.values}
        return "{" + ",".join(
            json.dumps(k, ensure_ascii=False) + ":" + _json(items[k]) for k in sorted(items)
        ) + "}"
    return "null"


def as_string(value: Any) -> str:
    """pdata Value.AsString() for an OTLP AnyValue message: scalars as `_json` writes them, except
    that strings and bytes are not quoted and an empty value is ''."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return ""
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return _json(value)


def attributes(kvs: Any) -> dict[str, str]:
    """A repeated KeyValue as the exporter's Map(String, String) (later duplicates win)."""
    return {kv.key: as_string(kv.value) for kv in kvs}
