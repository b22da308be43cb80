"""What Grafana and the grafana-clickhouse-datasource plugin (4.20.0) do to a dashboard's SQL before
ClickHouse sees it, so the tests can run the dashboards' queries as they would be run.

Order, as the plugin's `applyTemplateVariables` then its backend `macros.Interpolate`:
  1. `$__conditionalAll(phrase, $var)` → `1=1` when the variable is All (or empty), else `phrase`
     (src/data/CHDatasource.ts `applyConditionalAll`: innermost-last first, arguments split at
     top-level commas);
  2. template variables: `${var:sqlstring}` (Grafana's format: each value quoted, `'` doubled, joined
     with `,`), which every value in the dashboards' SQL uses, since a model name may hold a quote; and
     `$var` / `${var}` with the plugin's own format function (a multi-value becomes `'a','b'`, without
     escaping; a single value is inserted raw);
  3. the backend macros (pkg/macros/macros.go): only those below. Any other `$__name` fails the test,
     so a dashboard cannot use a macro whose expansion was never checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
PLUGIN_TYPE = "grafana-clickhouse-datasource"
ALL = "$__all"


def dashboards() -> dict[str, dict]:
    """Every dashboard file by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


@dataclass(frozen=True)
class Query:
    dashboard: str
    kind: str        # panel type, "variable" or "annotation"
    title: str
    sql: str
    fmt: int | None  # the plugin's format: 0 time series, 1 table
    panel: dict = field(repr=False, hash=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.dashboard.removesuffix('.json')}/{self.kind}/{self.title}"


def panels(board: dict) -> Iterator[dict]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def queries(name: str, board: dict) -> Iterator[Query]:
    """Every SQL statement of a dashboard: panel targets, query variables, annotations."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield Query(name, panel["type"], panel["title"], target["rawSql"], target.get("format"), panel)
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            yield Query(name, "variable", var["name"], var["query"]["rawSql"], None, var)
    for anno in board["annotations"]["list"]:
        if "target" in anno:
            yield Query(name, "annotation", anno["name"], anno["target"]["rawSql"], anno["target"].get("format"), anno)


# --- 1. $__conditionalAll --------------------------------------------------------------------------------
_CONDITIONAL_ALL = "$__conditionalAll("


def _macro_args(sql: str, open_paren: int) -> list[str]:
    """Arguments of the call whose '(' is at `open_paren`, split at its top-level commas."""
    depth, start, args = 0, open_paren + 1, []
    for i in range(open_paren, len(sql)):
        ch = sql[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i])
                return args
        elif ch == "," and depth == 1:
            args.append(sql[start:i])
            start = i + 1
    raise AssertionError(f"unbalanced $__conditionalAll( in: {sql}")


def conditional_all(sql: str, values: dict[str, str | list[str]]) -> str:
    at = sql.rfind(_CONDITIONAL_ALL)
    while at != -1:
        args = _macro_args(sql, at + len(_CONDITIONAL_ALL) - 1)
        assert len(args) == 2, f"$__conditionalAll takes (phrase, $variable): {args}"
        var = re.search(r"(?<=\$\{)\w+(?=\})|(?<=\$)\w+", args[1].strip())
        phrase = args[0]
        if var:
            assert var.group(0) in values, f"$__conditionalAll names an unknown variable: {args[1]}"
            value = values[var.group(0)]
            if (value if isinstance(value, str) else ",".join(value)) in ("", ALL):
                phrase = "1=1"
        sql = sql.replace(f"{_CONDITIONAL_ALL}{args[0]},{args[1]})", phrase)
        at = sql.rfind(_CONDITIONAL_ALL)
    return sql


# --- 2. template variables --------------------------------------------------------------------------------
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::([^}]*))?\}|\[\[(\w+)\]\]")


def substitute(sql: str, values: dict[str, str | list[str]], options: dict[str, list[str]]) -> str:
    """Grafana's templateSrv.replace with the plugin's format function. All of a multi-value
    variable without a custom all value stands for every option."""

    def one(match: re.Match) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        if name.startswith("__"):
            return match.group(0)  # a macro, or a Grafana built-in: not a template variable
        fmt = match.group(3)
        assert fmt in (None, "sqlstring"), f"variable format ${{{name}:{fmt}}} is not expanded here"
        assert name in values, f"unknown template variable ${name}"
        value = values[name]
        if value == ALL or value == [ALL]:
            value = options[name]
        if fmt == "sqlstring":
            return ",".join("'" + v.replace("'", "''") + "'" for v in ([value] if isinstance(value, str) else value))
        return "'" + "','".join(value) + "'" if isinstance(value, list) else value

    return _VARIABLE.sub(one, sql)


# --- 3. the plugin's backend macros -------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeRange:
    start: int       # Unix seconds
    end: int
    interval_s: int  # what Grafana computes from the range and the panel's width (at least 1)


def _call(sql: str, name: str, expand) -> str:
    token = f"$__{name}("
    while (at := sql.find(token)) != -1:
        args = _macro_args(sql, at + len(token) - 1)
        end = at + len(token) + sum(len(a) for a in args) + len(args)
        sql = sql[:at] + expand(*(a.strip() for a in args)) + sql[end:]
    return sql


def macros(sql: str, tr: TimeRange) -> str:
    def frm() -> str:
        return f"toDateTime({tr.start})"

    def to() -> str:
        return f"toDateTime({tr.end})"

    sql = _call(sql, "timeFilter", lambda c: f"{c} >= {frm()} AND {c} <= {to()}")
    sql = _call(sql, "timeInterval",
                lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {max(tr.interval_s, 1)} second)")
    sql = re.sub(r"\$__fromTime\b(?!_)", frm(), sql)
    sql = re.sub(r"\$__toTime\b(?!_)", to(), sql)
    sql = re.sub(r"\$__interval_s\b", str(max(tr.interval_s, 1)), sql)
    left = re.findall(r"\$__\w+", sql)
    assert not left, f"macros the test does not expand (add them to tests/dashboards/_grafana.py): {left}"
    return sql


def render(sql: str, values: dict[str, str | list[str]], options: dict[str, list[str]], tr: TimeRange) -> str:
    """The statement ClickHouse receives for `sql` with these variable values and time range."""
    return macros(substitute(conditional_all(sql, values), values, options), tr)


def variables(client, board: dict, tr: TimeRange, all_values: bool) -> tuple[dict, dict]:
    """Each template variable's value as Grafana resolves them on load, in order: a query variable
    runs its query with the variables before it; a multi-value one takes All (`all_values`, when it
    offers All) or its first option, a single one its saved value or first option. Returns the
    values and every variable's options."""
    values: dict = {}
    options: dict = {}
    for var in board["templating"]["list"]:
        name = var["name"]
        if var["type"] == "datasource":
            continue
        if var["type"] == "textbox":
            values[name] = var["query"]
            continue
        if var["type"] == "query":
            rows = client.query(render(var["query"]["rawSql"], values, options, tr)).result_rows
            options[name] = [str(r[0]) for r in rows]
        elif var["type"] == "custom":
            options[name] = [o["value"] for o in var["options"]]
        else:
            raise AssertionError(f"variable {name}: type {var['type']} is not resolved here")
        assert options[name], f"variable {name} has no option over this data"
        if var.get("multi"):
            values[name] = ALL if all_values and var.get("includeAll") else [options[name][0]]
        else:
            values[name] = var["current"].get("value") or options[name][0]
    return values, options
