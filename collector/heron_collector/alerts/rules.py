"""Alert rules: the defaults that ship on, and a TOML file that adds to or overrides them.

TOML, read with the standard library's tomllib: no new dependency, and its types are explicit
(YAML would read `no` as false and `1e3` as a string). A rule is one `[[rules]]` table; the same
name as a default replaces it, `enabled = false` turns one off. A rule that cannot be used is
refused with the file, the line of its `[[rules]]` header (or of the key) and the reason:
`heron alerts check FILE` says so before a collector starts with it (HERON_ALERT_RULES).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, published as tomli
    import tomli as tomllib

from .. import durations

SIGNALS = ("metric", "feature_drift", "dataset_drift", "multivariate_drift", "sla_error_rate",
           "sla_latency_p99", "no_predictions")
COMPARES = ("flag", "above", "below", "limit", "baseline")
CHARTS = ("beyond", "two_of_three", "ewma")
DIRECTIONS = ("below", "above", "both")
SEVERITIES = ("warning", "critical")


class RuleError(ValueError):
    """A rule file or rule is not valid: `file:line: rule NAME: reason`."""


@dataclass(frozen=True)
class Timing:
    """When a group's notifications go out: Alertmanager's route timings, with its defaults.
    A rule file's `[notifications]` table sets them for every rule; a rule may set its own."""

    group_wait: float = 30.0             # a new group waits this long: alerts firing together go out as one
    group_interval: float = 300.0        # a notified group's changes go out no sooner than this after the last
    repeat_interval: float = 4 * 3600.0  # a group still firing, unchanged, is sent again after this


DEFAULT_TIMING = Timing()
_TIMING_FIELDS = {"group_wait": "group_wait_seconds", "group_interval": "group_interval_seconds",
                  "repeat_interval": "repeat_seconds"}  # rule-file key: Rule field


@dataclass(frozen=True)
class Rule:
    name: str
    signal: str
    compare: str = "flag"
    kind: str = ""                    # signal metric: the window metric's kind (performance, data_quality …)
    metrics: tuple[str, ...] = ()     # signal metric: which metrics ('' = the signal's own)
    subjects: tuple[str, ...] = ()    # restrict to these features / subjects (empty = all)
    warning: float | None = None      # above/below: the value; baseline: σ (beyond, two_of_three) or L (ewma)
    critical: float | None = None
    severity: str = "warning"         # flag / limit rules: the severity when the flag is set
    direction: str = "both"           # baseline: which side of the band alerts
    chart: str = "beyond"             # baseline: beyond | two_of_three | ewma
    ewma_lambda: float = 0.2
    min_samples: int = 0
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    group_wait_seconds: float | None = None      # None: the file's [notifications] value, else DEFAULT_TIMING's
    group_interval_seconds: float | None = None
    repeat_seconds: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    channels: tuple[str, ...] = ()
    inhibits: tuple[str, ...] = ()    # rules not notified for the same model, version and subject while this fires
    enabled: bool = True
    summary: str = ""                 # a one-line description, for people


def _duration(value: Any, where: str) -> float:
    found = durations.seconds(value)
    if found is None:
        raise RuleError(f"{where}: {value!r} is not a duration such as {durations.EXAMPLES}")
    return found


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RuleError(f"{where}: expected a string or a list of strings, got {value!r}")


_KEYS = {"name", "signal", "compare", "kind", "metric", "metrics", "subjects", "warning", "critical", "severity",
         "direction", "chart", "ewma_lambda", "min_samples", "for", "keep_firing_for", "repeat_interval", "labels",
         "channels", "inhibits", "enabled", "summary", "group_wait", "group_interval"}


def parse_rule(table: dict[str, Any], where: str) -> Rule:
    """One `[[rules]]` table as a Rule; RuleError naming `where`, the key and the fix."""
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(_KEYS))}")
    name = table.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name or ""):
        raise RuleError(f"{where}: name must be 1–100 letters, digits, '_', '-' or '.', got {name!r}")
    where = f"{where}: rule {name}"
    signal = table.get("signal")
    if signal not in SIGNALS:
        raise RuleError(f"{where}: signal {signal!r} is not one of {', '.join(SIGNALS)}")
    compare = table.get("compare", "flag")
    if compare not in COMPARES:
        raise RuleError(f"{where}: compare {compare!r} is not one of {', '.join(COMPARES)}")
    if signal == "metric" and compare in ("flag", "limit"):
        raise RuleError(f"{where}: a metric rule compares 'above', 'below' or 'baseline', not {compare!r}")
    values = {}
    for key in ("warning", "critical"):
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise RuleError(f"{where}: {key} must be a number, got {value!r}")
        values[key] = None if value is None else float(value)
    if compare in ("above", "below", "baseline") and values["warning"] is None and values["critical"] is None:
        raise RuleError(f"{where}: compare = {compare!r} needs warning and/or critical levels")
    severity = table.get("severity", "warning")
    if severity not in SEVERITIES:
        raise RuleError(f"{where}: severity {severity!r} is not warning or critical")
    for key, allowed in (("direction", DIRECTIONS), ("chart", CHARTS)):
        if table.get(key, allowed[0] if key == "chart" else "both") not in allowed:
            raise RuleError(f"{where}: {key} {table[key]!r} is not one of {', '.join(allowed)}")
    min_samples = table.get("min_samples", 0)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 0:
        raise RuleError(f"{where}: min_samples must be a whole number ≥ 0, got {min_samples!r}")
    lam = table.get("ewma_lambda", 0.2)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 < lam <= 1:
        raise RuleError(f"{where}: ewma_lambda must be in (0, 1], got {lam!r}")
    labels = table.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise RuleError(f"{where}: labels must be a table of strings, e.g. labels = {{ team = \"ml\" }}")
    metrics = _strings(table["metrics"], f"{where}: metrics") if "metrics" in table else \
        _strings(table["metric"], f"{where}: metric") if "metric" in table else ()
    if signal == "metric" and (not table.get("kind") or not metrics):
        raise RuleError(f"{where}: a metric rule needs kind (performance, estimated, drift, data_quality, sla) "
                        "and metric")
    return Rule(
        name=name, signal=signal, compare=compare, kind=str(table.get("kind", "")), metrics=metrics,
        subjects=_strings(table.get("subjects", []), f"{where}: subjects"),
        warning=values["warning"], critical=values["critical"], severity=severity,
        direction=table.get("direction", "both"), chart=table.get("chart", "beyond"), ewma_lambda=float(lam),
        min_samples=min_samples, for_seconds=_duration(table.get("for", 0), f"{where}: for"),
        keep_firing_for_seconds=_duration(table.get("keep_firing_for", 0), f"{where}: keep_firing_for"),
        group_wait_seconds=_timing(table, "group_wait", where), group_interval_seconds=_timing(
            table, "group_interval", where), repeat_seconds=_timing(table, "repeat_interval", where),
        labels=dict(labels), channels=_strings(table.get("channels", []), f"{where}: channels"),
        inhibits=_strings(table.get("inhibits", []), f"{where}: inhibits"),
        enabled=bool(table.get("enabled", True)), summary=str(table.get("summary", "")),
    )


def _timing(table: dict[str, Any], key: str, where: str) -> float | None:
    """A timing key of a rule or of [notifications]; group_interval and repeat_interval must be > 0."""
    if key not in table:
        return None
    seconds = _duration(table[key], f"{where}: {key}")
    if seconds <= 0 and key != "group_wait":
        raise RuleError(f"{where}: {key} must be longer than 0 s, e.g. {key} = \"5m\"")
    return seconds


def timing(rule: Rule) -> Timing:
    """The rule's notification timing: its own values, else the defaults."""
    return Timing(
        DEFAULT_TIMING.group_wait if rule.group_wait_seconds is None else rule.group_wait_seconds,
        DEFAULT_TIMING.group_interval if rule.group_interval_seconds is None else rule.group_interval_seconds,
        DEFAULT_TIMING.repeat_interval if rule.repeat_seconds is None else rule.repeat_seconds)


def _notifications(document: dict[str, Any], path: str) -> dict[str, float]:
    """The [notifications] table: the timings every rule without its own takes."""
    table = document.get("notifications", {})
    if not isinstance(table, dict):
        raise RuleError(f"{path}: notifications must be a table: [notifications] with group_wait, group_interval, "
                        "repeat_interval")
    unknown = sorted(set(table) - set(_TIMING_FIELDS))
    if unknown:
        raise RuleError(f"{path}: [notifications]: unknown key {unknown[0]!r}; known: {', '.join(_TIMING_FIELDS)}")
    return {key: value for key in _TIMING_FIELDS if (value := _timing(table, key, f"{path}: [notifications]"))
            is not None}


def _header_lines(text: str) -> list[int]:
    """The line number of each `[[rules]]` header, in order."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.strip().startswith("[[rules]]")]


def load_text(text: str, path: str, defaults: list[Rule] | None = None) -> tuple[list[Rule], dict[str, dict]]:
    """(rules, channels) from a rule file's text, over `defaults`; RuleError on the first problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path}: {exc}") from None
    unknown = sorted(set(document) - {"rules", "channels", "notifications"})
    if unknown:
        raise RuleError(f"{path}: unknown top-level key {unknown[0]!r}; a rule file has [[rules]], [channels.NAME] "
                        "and [notifications]")
    shared = _notifications(document, path)
    tables = document.get("rules", [])
    if not isinstance(tables, list):
        raise RuleError(f"{path}: rules must be [[rules]] tables")
    lines = _header_lines(text)
    by_name = {r.name: r for r in (defaults if defaults is not None else default_rules())}
    seen: set[str] = set()
    for i, table in enumerate(tables):
        where = f"{path}:{lines[i] if i < len(lines) else '?'}"
        if isinstance(table, dict) and set(table) <= {"name", "enabled"} and table.get("name") in by_name:
            by_name[table["name"]] = replace(by_name[table["name"]], enabled=bool(table.get("enabled", True)))
            continue
        rule = parse_rule(table, where)
        if rule.name in seen:
            raise RuleError(f"{where}: rule {rule.name}: defined twice in this file")
        seen.add(rule.name)
        by_name[rule.name] = rule
    channels = document.get("channels", {})
    if not isinstance(channels, dict) or not all(isinstance(v, dict) for v in channels.values()):
        raise RuleError(f"{path}: channels must be [channels.NAME] tables")
    rules = [replace(rule, **{_TIMING_FIELDS[k]: v for k, v in shared.items() if getattr(rule, _TIMING_FIELDS[k])
                              is None}) for rule in by_name.values()]
    for rule in rules:
        missing = [c for c in rule.channels if c not in channels]
        if missing:
            line = next((n for n, t in zip(lines, tables, strict=False) if t.get("name") == rule.name), "?")
            raise RuleError(f"{path}:{line}: rule {rule.name}: channel {missing[0]!r} is not defined; add "
                            f"[channels.{missing[0]}] with its type and url")
        unknown_rules = [r for r in rule.inhibits if r not in by_name]
        if unknown_rules:
            raise RuleError(f"{path}: rule {rule.name}: inhibits an unknown rule {unknown_rules[0]!r}")
    return rules, channels


def load(path: str | Path | None) -> tuple[list[Rule], dict[str, dict]]:
    """The rules in force: the defaults, with the file at `path` (HERON_ALERT_RULES) over them."""
    if not path:
        return default_rules(), {}
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"{p}: cannot read the rule file ({exc.strerror or exc})") from None
    return load_text(text, str(p))


DEFAULTS = """
# The rules that ship on (docs/alerts.md explains each). A rule file overrides one by its name.
[[rules]]
name = "feature_drift"
signal = "feature_drift"
summary = "a feature's distribution drifted from the reference (the drift view's verdict) in two windows running"
severity = "warning"
min_samples = 100
for = "2h"
keep_firing_for = "2h"

[[rules]]
name = "dataset_drift"
signal = "dataset_drift"
summary = "at least drift_share of the model's features drifted, two windows running"
severity = "critical"
for = "2h"
keep_firing_for = "2h"

[[rules]]
name = "multivariate_drift"
signal = "multivariate_drift"
summary = "how the features relate changed (PCA reconstruction error outside its reference band)"
severity = "warning"
min_samples = 100
keep_firing_for = "2h"

[[rules]]
name = "performance_baseline"
signal = "metric"
kind = "performance"
metrics = ["accuracy", "f1", "roc_auc", "pr_auc", "r2"]
compare = "baseline"
direction = "below"
chart = "beyond"
warning = 3.0
min_samples = 50
summary = "realised performance fell below its baseline's control limits (mean − 3σ)"

[[rules]]
name = "error_baseline"
signal = "metric"
kind = "performance"
metrics = ["mae", "rmse", "mape", "log_loss"]
compare = "baseline"
direction = "above"
warning = 3.0
min_samples = 50
summary = "realised error rose above its baseline's control limits (mean + 3σ)"

[[rules]]
name = "estimated_performance_baseline"
signal = "metric"
kind = "estimated"
metrics = ["accuracy", "f1", "roc_auc"]
compare = "baseline"
direction = "below"
warning = 3.0
min_samples = 50
summary = "estimated performance (CBPE, no labels needed) fell below its baseline's control limits"

[[rules]]
name = "missing_values"
signal = "metric"
kind = "data_quality"
metric = "missing_rate"
compare = "above"
warning = 0.05
critical = 0.25
min_samples = 50
inhibits = ["feature_drift"]
keep_firing_for = "1h"
summary = "a feature is missing in more of the window's predictions than it should"

[[rules]]
name = "new_categories"
signal = "metric"
kind = "data_quality"
metric = "new_category_rate"
compare = "above"
warning = 0.05
critical = 0.25
min_samples = 50
keep_firing_for = "1h"
summary = "a categorical feature takes values the reference never had"

[[rules]]
name = "schema_change"
signal = "metric"
kind = "data_quality"
metric = "type_mismatch_rate"
compare = "above"
warning = 0.01
critical = 0.5
min_samples = 20
summary = "a feature arrives with another type than the reference's (a pipeline change)"

[[rules]]
name = "sla_error_rate"
signal = "sla_error_rate"
compare = "limit"
severity = "critical"
min_samples = 20
keep_firing_for = "15m"
summary = "the error rate of predict calls is over the SLO"

[[rules]]
name = "sla_latency_p99"
signal = "sla_latency_p99"
compare = "limit"
severity = "warning"
min_samples = 20
for = "10m"
keep_firing_for = "15m"
summary = "p99 latency of predict calls is over the SLO"

[[rules]]
name = "no_predictions"
signal = "no_predictions"
severity = "critical"
summary = "a model stopped sending predictions (none for three windows, at least an hour)"
"""


def default_rules() -> list[Rule]:
    rules, _ = load_text(DEFAULTS, "<defaults>", defaults=[])
    return rules
