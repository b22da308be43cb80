"""Each model's monitoring settings, shown and changed through one typed table of settings.

The settings live in ClickHouse tables the scheduled views read (ml_monitor_config in
queries/schema/010_monitor_config.sql, ml_slo in views/40_slo.sql); this module is the only writer. Every value is
parsed and range-checked here, the model name too, and written with bound parameters — never as
SQL text. In both tables a NULL column inherits (model row → '*' row → the built-in default of
ml_monitor_defaults / ml_slo_defaults, the only place a default is written), so `set_values`
writes what the model set itself and leaves the rest NULL.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .migrations import identifier

DAY = 86400


class ConfigError(ValueError):
    """A setting name, value or model name is not valid; the message names it and what is allowed."""


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(str(text).strip())
        if not low <= value <= high:
            raise ValueError
        return value

    return parse


def _number(low: float, high: float, low_open: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(str(text).strip())
        if not math.isfinite(value) or value < low or value > high or (low_open and value == low):
            raise ValueError
        return value

    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = str(text).strip().lower()
        if value not in choices:
            raise ValueError
        return value

    return parse


def _timestamp(text: str) -> dt.datetime | None:
    if str(text).strip().lower() in ("", "null", "none"):
        return None
    value = dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Setting:
    name: str
    table: str
    column: str
    ch_type: str  # the bound parameter's ClickHouse type
    parse: Callable[[str], Any]
    allowed: str
    doc: str


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("window_seconds", "ml_monitor_config", "window_seconds", "UInt32", _whole(60, 366 * DAY),
            "whole seconds from 60 to 31622400 (366 days)", "width of the analysis windows"),
    Setting("lookback_seconds", "ml_monitor_config", "lookback_seconds", "UInt32", _whole(0, 3660 * DAY),
            "whole seconds from 0 to 316224000", "windows overlapping [now − look-back, now] are recomputed"),
    Setting("reference", "ml_monitor_config", "reference", "String", _choice("auto", "profile", "sample", "window"),
            "auto, profile, sample or window", "what drift compares against"),
    Setting("reference_start", "ml_monitor_config", "reference_start", "Nullable(DateTime64(6, 'UTC'))", _timestamp,
            "an ISO time such as 2026-11-01T00:00:00Z, or null", "start of a 'window' reference"),
    Setting("reference_end", "ml_monitor_config", "reference_end", "Nullable(DateTime64(6, 'UTC'))", _timestamp,
            "an ISO time such as 2026-11-08T00:00:00Z, or null", "end of a 'window' reference"),
    Setting("bins", "ml_monitor_config", "bins", "UInt16", _whole(2, 1000), "a whole number from 2 to 1000",
            "quantile bins per numeric feature"),
    Setting("small_sample", "ml_monitor_config", "small_sample", "UInt32", _whole(0, 10**9),
            "a whole number from 0 to 1000000000", "up to this many rows the verdict is a p-value test"),
    Setting("ks_exact_max_reference", "ml_monitor_config", "ks_exact_max_reference", "UInt32", _whole(0, 10**9),
            "a whole number from 0 to 1000000000", "exact KS up to this many reference values"),
    Setting("drift_share", "ml_monitor_config", "drift_share", "Float64", _number(0, 1, low_open=True),
            "a number above 0 and at most 1", "share of drifted features that flags the dataset"),
    Setting("baseline_start", "ml_monitor_config", "baseline_start", "Nullable(DateTime64(6, 'UTC'))", _timestamp,
            "an ISO time such as 2026-11-01T00:00:00Z, or null",
            "start of the production period whose windows set the baselines"),
    Setting("baseline_end", "ml_monitor_config", "baseline_end", "Nullable(DateTime64(6, 'UTC'))", _timestamp,
            "an ISO time such as 2026-11-08T00:00:00Z, or null", "end of that period"),
    Setting("baseline_k", "ml_monitor_config", "baseline_k", "Float64", _number(0, 100, low_open=True),
            "a number above 0 (3 = three sigma)", "control limits are mean ± k·σ over the baseline's windows"),
    Setting("label_lookback_seconds", "ml_monitor_config", "label_lookback_seconds", "UInt32",
            _whole(0, 3660 * DAY), "whole seconds from 0 to 316224000",
            "how late labels may arrive and still count (the performance views' look-back)"),
    Setting("slo_p99_ms", "ml_slo", "p99_ms", "Nullable(Float64)", _number(0, 1e9, low_open=True),
            "milliseconds above 0", "p99 latency target"),
    Setting("slo_error_rate", "ml_slo", "error_rate", "Nullable(Float64)", _number(0, 1),
            "a share from 0 to 1", "error-rate target"),
    Setting("slo_min_throughput", "ml_slo", "min_throughput", "Nullable(Float64)", _number(0, 1e12),
            "calls per second, 0 or more (0 = off)", "throughput floor"),
)}
# Each settings table and the one-row view of its built-in defaults.
TABLES = {"ml_monitor_config": "ml_monitor_defaults", "ml_slo": "ml_slo_defaults"}
INHERIT = "inherit"  # the value that clears a model's own setting


# Drift verdict overrides (ml_drift_config): `drift.<feature>=<method>:<threshold>`, feature '*' = all.
DRIFT_METHODS = {
    "ks": (_number(0, 1, low_open=True), "an alpha above 0 and below 1 (p-value test)"),
    "chi2": (_number(0, 1, low_open=True), "an alpha above 0 and below 1 (p-value test)"),
    "psi": (_number(0, 100, low_open=True), "a PSI above 0 (0.1 is a common 'moderate' line, 0.25 'major')"),
    "wasserstein": (_number(0, 1e9, low_open=True), "a normed Wasserstein distance above 0"),
    "jensen_shannon": (_number(0, 1, low_open=True), "a Jensen–Shannon distance above 0 and at most 1"),
}
DRIFT_PREFIX = "drift."


def parse_drift(name: str, text: Any) -> tuple[str, str, float]:
    """(feature, method, threshold) of a `drift.<feature>` setting; ConfigError names what is allowed."""
    feature = name[len(DRIFT_PREFIX):]
    if not feature or len(feature.encode()) > 1024 or any(ord(c) < 32 for c in feature):
        raise ConfigError(f"{name!r}: name a feature after 'drift.' (or '*' for every feature)")
    method, sep, threshold = str(text).partition(":")
    method = method.strip().lower()
    if method not in DRIFT_METHODS or not sep:
        raise ConfigError(f"{name} = {text!r} is not allowed: METHOD:THRESHOLD with METHOD one of "
                          f"{', '.join(DRIFT_METHODS)} (for example psi:0.25 or ks:0.01)")
    parse, allowed = DRIFT_METHODS[method]
    try:
        value = parse(threshold)
        if method in ("ks", "chi2") and value >= 1:
            raise ValueError
    except (ValueError, TypeError):
        raise ConfigError(f"{name} = {text!r} is not allowed: the {method} threshold is {allowed}") from None
    return feature, method, value


def check_model(model: Any) -> str:
    if not isinstance(model, str) or not model.strip():
        raise ConfigError("model must be a model name (or '*' for the default of every model)")
    if len(model.encode()) > 1024 or any(ord(c) < 32 for c in model):
        raise ConfigError("model must be at most 1 KiB without control characters")
    return model


def parse_values(values: dict[str, Any]) -> dict[str, Any]:
    """Typed values for `values` (name → text); ConfigError names each bad one and what is allowed."""
    if not values:
        raise ConfigError(f"name at least one setting: {', '.join(SETTINGS)}")
    parsed = {}
    for name, text in values.items():
        if name.startswith(DRIFT_PREFIX):
            parsed[name] = parse_drift(name, text)
            continue
        setting = SETTINGS.get(name)
        if setting is None:
            raise ConfigError(f"unknown setting {name!r}; the settings are: {', '.join(SETTINGS)}, "
                              "and drift.<feature>=<method>:<threshold>")
        if str(text).strip().lower() == INHERIT:
            parsed[name] = None  # NULL: back to the '*' row's value, else the built-in default
            continue
        try:
            parsed[name] = setting.parse(text)
        except (ValueError, TypeError):
            raise ConfigError(f"{name} = {text!r} is not allowed: {setting.allowed}") from None
    return parsed


def _rows(client, db: str, table: str, model: str) -> dict[str, dict[str, Any]]:
    """The latest row of `model` and of '*' in a settings table, by model name."""
    result = client.query(f"SELECT * FROM {db}.{table} FINAL WHERE model_name IN ({{m:String}}, '*')",
                          parameters={"m": model})
    return {row[0]: dict(zip(result.column_names, row, strict=True)) for row in result.result_rows}


def _defaults(client, db: str, view: str) -> dict[str, Any]:
    result = client.query(f"SELECT * FROM {db}.{view}")
    return dict(zip(result.column_names, result.result_rows[0], strict=True))


def show(client, database: str, model: str) -> list[dict[str, Any]]:
    """Each setting's effective value for `model` and where it comes from (model, '*', built-in)."""
    db, model = identifier(database, "database"), check_model(model)
    rows = {table: _rows(client, db, table, model) for table in TABLES}
    defaults = {table: _defaults(client, db, view) for table, view in TABLES.items()}
    out = []
    for setting in SETTINGS.values():
        own, star = rows[setting.table].get(model), rows[setting.table].get("*")
        value, source = defaults[setting.table][setting.column], "built-in"
        for name, row in (("'*'", star), ("model", own)):  # NULL inherits, column by column
            if row is not None and row[setting.column] is not None:
                value, source = row[setting.column], name
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        out.append({"setting": setting.name, "value": value, "source": source if model != "*" or source != "model"
                    else "'*'", "allowed": setting.allowed})
    overrides = client.query(f"SELECT model_name, feature, method, threshold FROM {db}.ml_drift_config FINAL "
                             "WHERE model_name IN ({m:String}, '*') AND feature_type = '*' ORDER BY model_name = '*', "
                             "feature", parameters={"m": model})
    seen = set()
    for owner, feature, method, threshold in overrides.result_rows:
        if feature in seen:
            continue
        seen.add(feature)
        out.append({"setting": f"{DRIFT_PREFIX}{feature}", "value": f"{method}:{threshold:g}",
                    "source": "model" if owner == model and model != "*" else "'*'",
                    "allowed": "METHOD:THRESHOLD, METHOD one of " + ", ".join(DRIFT_METHODS)})
    return out


def _nullable(ch_type: str) -> str:
    return ch_type if ch_type.startswith("Nullable(") else f"Nullable({ch_type})"


def set_values(client, database: str, model: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate and write `values` for `model` (one new row per table touched); returns `show`."""
    db, model = identifier(database, "database"), check_model(model)
    parsed = parse_values(values)
    for feature, method, threshold in (v for k, v in parsed.items() if k.startswith(DRIFT_PREFIX)):
        client.command(f"INSERT INTO {db}.ml_drift_config (model_name, feature_type, feature, method, threshold) "
                       "SELECT {m:String}, '*', {f:String}, {method:String}, {t:Float64}",
                       parameters={"m": model, "f": feature, "method": method, "t": threshold})
    for table in TABLES:
        touched = [s for s in SETTINGS.values() if s.table == table and s.name in parsed]
        if not touched:
            continue
        columns = [s for s in SETTINGS.values() if s.table == table]
        own = _rows(client, db, table, model).get(model)
        params: dict[str, Any] = {"model": model}
        for i, setting in enumerate(columns):
            # what the model did not set itself keeps inheriting (NULL)
            value = parsed[setting.name] if setting.name in parsed else (own[setting.column] if own else None)
            if setting.ch_type.startswith("Nullable(DateTime64") and isinstance(value, str):
                value = _timestamp(value)
            params[f"v{i}"] = value
        names = ", ".join(s.column for s in columns)
        binds = ", ".join(f"{{v{i}:{_nullable(s.ch_type)}}}" for i, s in enumerate(columns))
        client.command(f"INSERT INTO {db}.{table} (model_name, {names}) SELECT {{model:String}}, {binds}",
                       parameters=params)
    monitor = show(client, db, model)
    by_name = {s["setting"]: s["value"] for s in monitor}
    start, end = by_name["reference_start"], by_name["reference_end"]
    if by_name["reference"] == "window" and not (start and end):
        monitor.append({"setting": "warning", "value": "reference = window needs reference_start and reference_end",
                        "source": "", "allowed": ""})
    if bool(by_name["baseline_start"]) != bool(by_name["baseline_end"]):
        monitor.append({"setting": "warning", "value": "a baseline needs both baseline_start and baseline_end",
                        "source": "", "allowed": ""})
    return monitor
