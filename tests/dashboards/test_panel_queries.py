"""Every query of the shipped dashboards — panels, template variables, annotations — run as Grafana and
the ClickHouse plugin would run it (tests/dashboards/_grafana.py), against the store the demo leaves
behind, over a time range that covers the demo's data. Each must return rows in the shape its
visualisation reads: a time series needs a time column first, sorted ascending (the plugin converts
long frames to wide and refuses unsorted ones), numbers to draw and only string labels beside them;
a stat a number; a table the columns its overrides name; an annotation time and text.

Each query runs twice: with the multi-value variables on All, and on their first value."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse

import pytest

from heron_collector import analytics, config
from heron_collector.alerts import evaluate, rules

from ..conftest import open_demo_store
from ._grafana import ALL, TimeRange, dashboards, queries, render, variables

DB = "heron"
MODEL = "credit-default"
BOARDS = dashboards()
QUERIES = [q for name, board in BOARDS.items() for q in queries(name, board)]
TIME = re.compile(r"^(Nullable\()?(DateTime|DateTime64|Date|Date32)\b")
NUMBER = re.compile(r"^(Nullable\()?(U?Int\d+|Float\d+|Decimal)")
TEXT = re.compile(r"^(Nullable\()?(LowCardinality\()?(Nullable\()?String")


@pytest.fixture(scope="module")
def demo(demo_data_dir, tmp_path_factory):
    """The demo's store with a baseline period over its first three windows and the default alert
    rules evaluated once after its last window; and the time range its data covers."""
    client = open_demo_store(demo_data_dir, tmp_path_factory.mktemp("dashboards"))
    client.database = DB  # what the datasource's default database is to the plugin: the panels name none
    try:
        windows = [r[0] for r in client.query(
            "SELECT DISTINCT window_start FROM heron.ml_performance FINAL WHERE model_name = {m:String} "
            "ORDER BY 1", parameters={"m": MODEL}).result_rows]
        config.set_values(client, DB, MODEL, {"baseline_start": windows[0].isoformat(),
                                              "baseline_end": windows[3].isoformat()})
        analytics.refresh(client, DB, wait=True, views=["ml_baselines_mv"])
        [(last,)] = client.query("SELECT max(window_end) FROM heron.ml_drift").result_rows
        evaluate.evaluate(client, DB, rules.default_rules(),
                          now=last.replace(tzinfo=dt.timezone.utc) + dt.timedelta(seconds=1))
        [(start, end)] = client.query(
            "SELECT least((SELECT min(timestamp) FROM heron.ml_predictions), (SELECT min(Timestamp) FROM "
            "heron.otel_traces)), greatest((SELECT max(timestamp) FROM heron.ml_predictions), "
            "(SELECT max(at) FROM heron.ml_alerts), (SELECT max(window_end) FROM heron.ml_sla))").result_rows
        start, end = int(start.timestamp()) - 60, int(end.timestamp()) + 60
        yield client, TimeRange(start, end, interval_s=max(1, (end - start) // 1000))
    finally:
        _RESOLVED.pop(client, None)
        client.close()


_RESOLVED: dict = {}  # the demo client → (dashboard, all_values) → the variables' values and options


def _run(client, query, board, tr, all_values):
    key = (query.dashboard, all_values)  # Grafana resolves the variables once per dashboard load
    if key not in _RESOLVED.get(client, {}):
        _RESOLVED.setdefault(client, {})[key] = variables(client, board, tr, all_values)
    values, options = _RESOLVED[client][key]
    sql = render(query.sql, values, options, tr)
    result = client.query(sql)
    types = [t.name for t in result.column_types]
    return result, dict(zip(result.column_names, types, strict=True)), sql


def _check_time_series(query, result, types, sql):
    names = list(types)
    assert names[0] == "time" and TIME.match(types["time"]), (query.id, types)
    times = [row[0] for row in result.result_rows]
    assert times == sorted(times), f"{query.id}: not sorted by time (the plugin cannot make it wide)"
    numbers = [n for n in names[1:] if NUMBER.match(types[n])]
    labels = [n for n in names[1:] if TEXT.match(types[n])]
    assert numbers, f"{query.id}: no numeric column to draw: {types}"
    assert len(numbers) + len(labels) == len(names) - 1, f"{query.id}: columns neither number nor label: {types}"
    keys = [(row[0], *(row[names.index(n)] for n in labels)) for row in result.result_rows]
    assert len(keys) == len(set(keys)), f"{query.id}: a time and labels repeat (the wide frame would be ambiguous)"
    drawn = [row[i] for row in result.result_rows for i, n in enumerate(names) if n in numbers]
    assert any(v is not None for v in drawn), f"{query.id}: every value is NULL\n{sql}"
    if not labels:  # a wide frame: fields keep the column names, which overrides match exactly
        _check_table(query, result, types)
    if query.kind == "heatmap":
        assert len(numbers) == 1 and len(labels) == 1, f"{query.id}: a heatmap needs one value per bucket label"


def _check_table(query, result, types):
    for override in query.panel["fieldConfig"]["overrides"]:
        matcher = override["matcher"]
        if matcher["id"] == "byName":
            assert matcher["options"] in types, f"{query.id}: override names a missing column {matcher['options']}"
        else:
            assert any(re.fullmatch(matcher["options"], n) for n in types), f"{query.id}: {matcher} matches nothing"


@pytest.mark.parametrize("all_values", [True, False], ids=["all", "first"])
@pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
def test_every_query_returns_what_its_visualisation_reads(demo, query, all_values):
    client, tr = demo
    result, types, sql = _run(client, query, BOARDS[query.dashboard], tr, all_values)
    assert result.result_rows, f"{query.id}: no rows over the demo's data\n{sql}"
    if query.kind in ("timeseries", "heatmap", "state-timeline"):
        assert query.fmt == 0, f"{query.id}: a time series panel needs the plugin's time-series format (0)"
        _check_time_series(query, result, types, sql)
    elif query.kind == "stat":
        assert query.fmt == 1 and len(result.result_rows) == 1, query.id
        [value] = [v for v, n in zip(result.result_rows[0], types, strict=True) if NUMBER.match(types[n])]
        assert value is not None, f"{query.id}: the stat would show no data\n{sql}"
    elif query.kind == "table":
        assert query.fmt == 1, query.id
        _check_table(query, result, types)
    elif query.kind == "variable":
        assert len(types) == 1 and TEXT.match(next(iter(types.values()))), (query.id, types)
    elif query.kind == "annotation":
        assert TIME.match(types["time"]) and TEXT.match(types["text"]), (query.id, types)
        assert "tags" not in types or TEXT.match(types["tags"]), (query.id, types)
    else:
        pytest.fail(f"{query.id}: no check for panel type {query.kind}: add one")


def test_a_prediction_links_to_its_trace_in_the_trace_view(demo):
    """The TraceId column's data link opens Explore on the plugin's trace format (3) with a query
    that, for a prediction's trace id, returns its heron.predict span with the trace view's fields."""
    client, tr = demo
    board = BOARDS["heron-model-detail.json"]
    table = next(q for q in queries("heron-model-detail.json", board) if q.title == "Predictions")
    result, _, _ = _run(client, table, board, tr, all_values=True)
    trace_id = result.result_rows[0][result.column_names.index("TraceId")]
    [override] = [o for o in table.panel["fieldConfig"]["overrides"] if o["matcher"]["options"] == "TraceId"]
    [link] = next(p["value"] for p in override["properties"] if p["id"] == "links")
    url = urllib.parse.urlsplit(link["url"])
    assert url.path == "/explore"
    [panes] = urllib.parse.parse_qs(url.query)["panes"]
    [pane] = json.loads(panes).values()
    assert pane["datasource"] == "${datasource}" and pane["range"] == {"from": "${__from}", "to": "${__to}"}
    [q] = pane["queries"]
    assert q["format"] == 3 and q["datasource"] == {"type": "grafana-clickhouse-datasource", "uid": "${datasource}"}
    spans = client.query(q["rawSql"].replace("${__value.raw}", trace_id))
    assert {"traceID", "spanID", "parentSpanID", "serviceName", "operationName", "startTime", "duration", "tags",
            "serviceTags"} <= set(spans.column_names)
    rows = [dict(zip(spans.column_names, r, strict=True)) for r in spans.result_rows]
    assert rows and all(r["traceID"] == trace_id for r in rows)
    assert "heron.predict" in {r["operationName"] for r in rows}
    assert all(r["duration"] > 0 and r["startTime"] >= tr.start * 1000 for r in rows)


def test_the_detail_dashboard_tells_the_demos_story(demo):
    """The heat map marks the features the demo drifts, and only from the day they drift; the
    performance panel draws realised, estimated, labelled and the baseline band."""
    client, tr = demo
    board = BOARDS["heron-model-detail.json"]
    by_title = {q.title: q for q in queries("heron-model-detail.json", board)}
    heat, _, _ = _run(client, by_title["Feature drift against threshold"], board, tr, all_values=True)
    days = sorted({t for t, _, _ in heat.result_rows})
    drifted = {(days.index(t) + 1, f) for t, f, v in heat.result_rows if v is not None and v >= 1}
    assert {f for _, f in drifted} == {"channel", "credit_score", "income"}, drifted
    assert min(day for day, _ in drifted) == 4, drifted
    performance = by_title["Realised vs estimated $metric"]
    perf, types, _ = _run(client, performance, board, tr, all_values=True)
    assert list(types) == ["time", "realised", "estimated", "labelled", "baseline_lower", "baseline_upper"]
    rows = [dict(zip(types, r, strict=True)) for r in perf.result_rows]
    assert all(r["baseline_lower"] < r["baseline_upper"] for r in rows), "the band is drawn in every window"
    assert [r["labelled"] > 0 for r in rows] == [True] * 6 + [False] * 2, "labels for days 1–6 only"
    assert all(r["estimated"] is not None for r in rows)
    band = [(o["matcher"]["options"], p["value"]) for o in performance.panel["fieldConfig"]["overrides"]
            for p in o["properties"] if p["id"] == "custom.fillBelowTo"]
    assert band == [("baseline_upper", "baseline_lower")], band


def test_every_table_a_query_reads_exists_in_the_migrated_store(demo):
    client, _ = demo
    existing = {name for (name,) in client.query("SELECT name FROM system.tables WHERE database = 'heron'").result_rows}
    for q in QUERIES:
        qualified = re.findall(r"\b(?:FROM|JOIN)\s+(\w+\.\w+)", q.sql)
        assert not qualified, f"{q.id} reads {qualified}: the datasource's default database is Heron's"
        read = set(re.findall(r"\b(?:FROM|JOIN)\s+((?:ml|otel)_\w+)", q.sql))
        assert read, f"{q.id} reads no heron table"
        assert read <= existing, f"{q.id} reads what a migrated store lacks: {read - existing}"


def test_a_quote_in_a_name_stays_inside_its_string(demo):
    """${var:sqlstring} as Grafana formats it: the engine reads back exactly the names it was given."""
    client, tr = demo
    names = ["o'brien", "a,b", "x'); DROP TABLE heron.ml_models; --"]
    for value in (names[0], names, ALL):
        sql = render("SELECT [${model:sqlstring}] AS v", {"model": value}, {"model": names}, tr)
        [(got,)] = client.query(sql).result_rows
        assert got == ([value] if value == names[0] else names)
