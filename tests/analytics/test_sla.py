"""SLA from heron.predict spans (queries/views/40_slo.sql, 41_sla.sql) against numpy.

Spans go straight into otel_traces (the exporter's schema); the view's calls, errors, rows,
throughput and exact latency percentiles must equal numpy on the same spans (numpy.percentile,
method 'linear'), and the status must follow the configured SLO targets.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ._data import refresh_views

DB = "heron"
HOUR = 3600
UTC = dt.timezone.utc
SPAN_COLUMNS = [
    "Timestamp",
    "TraceId",
    "SpanId",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "SpanAttributes",
    "Duration",
    "StatusCode",
]


def hour_start(hours_ago: int) -> dt.datetime:
    now = int(dt.datetime.now(UTC).timestamp()) // HOUR * HOUR
    return dt.datetime.fromtimestamp(now - hours_ago * HOUR, UTC)


def span(ts, model, version, duration_ns, status="Unset", rows=1, name="heron.predict"):
    attrs = {"ml.model.name": model, "ml.model.version": version, "heron.rows": str(rows)}
    return [ts, "ab" * 16, "cd" * 8, name, "Internal", "svc", attrs, duration_ns, status]


def sla(client, model: str) -> dict:
    result = client.query(f"SELECT * FROM {DB}.ml_sla FINAL WHERE model_name = {{m:String}}", parameters={"m": model})
    rows = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
    return {(r["model_version"], r["window_start"].replace(tzinfo=UTC)): r for r in rows}


def test_sla_statistics_equal_numpy_and_status_follows_targets(store):
    rng = np.random.default_rng(9)
    store.insert(
        f"{DB}.ml_slo",
        [["fraud", 50.0, 0.05, None]],
        column_names=["model_name", "p99_ms", "error_rate", "min_throughput"],
    )
    spans, expected = [], {}
    # hours 5 and 4: v1; hour 3: nobody; hour 2: v1 and v2; the current hour: nothing
    plan = {
        (5, "v1"): (300, 0.01, 10.0),
        (4, "v1"): (200, 0.10, 10.0),
        (2, "v1"): (150, 0.0, 30.0),
        (2, "v2"): (100, 0.02, 8.0),
    }
    for (hours_ago, version), (n, err, scale) in plan.items():
        start = hour_start(hours_ago)
        durations = (rng.gamma(2.0, scale / 2, n) * 1e6).astype(np.uint64) + 1
        errors = rng.random(n) < err
        rows = rng.integers(1, 50, n)
        for i in range(n):
            ts = start + dt.timedelta(seconds=float(rng.uniform(0, HOUR - 1)))
            status = ("Error" if i % 2 else "STATUS_CODE_ERROR") if errors[i] else "Ok"
            spans.append(span(ts, "fraud", version, int(durations[i]), status, int(rows[i])))
        expected[(version, start)] = (durations, errors, rows)
        both = expected.get(("*", start), (np.array([], np.uint64), np.array([], bool), np.array([], int)))
        expected[("*", start)] = tuple(
            np.concatenate([a, b]) for a, b in zip(both, (durations, errors, rows), strict=True)
        )
    # ignored: other span names, other models' spans are their own rows
    spans.append(span(hour_start(5), "fraud", "v1", 10**12, name="db.query"))
    spans.append(span(hour_start(5), "other", "1", 5 * 10**6))
    store.insert(f"{DB}.otel_traces", spans, column_names=SPAN_COLUMNS)
    refresh_views(store, "ml_sla_mv")
    got = sla(store, "fraud")

    for key, (durations, errors, rows) in expected.items():
        row = got[key]
        ms = durations / 1e6
        assert row["calls"] == len(ms) and row["errors"] == int(errors.sum()) and row["rows"] == int(rows.sum())
        assert row["error_rate"] == pytest.approx(errors.mean(), rel=1e-9)
        assert row["seconds"] == HOUR
        assert row["calls_per_second"] == pytest.approx(len(ms) / HOUR, rel=1e-9)
        assert row["rows_per_second"] == pytest.approx(rows.sum() / HOUR, rel=1e-9)
        p50, p95, p99 = np.percentile(ms, [50, 95, 99], method="linear")
        assert row["latency_p50_ms"] == pytest.approx(p50, rel=1e-9)
        assert row["latency_p95_ms"] == pytest.approx(p95, rel=1e-9)
        assert row["latency_p99_ms"] == pytest.approx(p99, rel=1e-9)
        assert row["latency_mean_ms"] == pytest.approx(ms.mean(), rel=1e-9)
        assert row["latency_max_ms"] == pytest.approx(ms.max(), rel=1e-9)
        breaches = [b for b, bad in (("latency_p99", p99 > 50.0), ("error_rate", errors.mean() > 0.05)) if bad]
        assert row["breaches"] == breaches
        assert row["status"] == ("breach" if breaches else "ok")
        assert (row["slo_p99_ms"], row["slo_error_rate"], row["slo_min_throughput"]) == (50.0, 0.05, 0.0)
    # the hour without calls, and for '*' the current hour: no data
    assert got[("v1", hour_start(3))]["status"] == "no_data"
    assert got[("*", hour_start(3))]["calls"] == 0 and got[("*", hour_start(3))]["latency_p99_ms"] is None
    assert got[("*", hour_start(0))]["status"] == "no_data"
    assert ("v2", hour_start(0)) not in got and ("v1", hour_start(0)) not in got
    assert len(sla(store, "other")) == 7  # its "1" hour, and "*" from then (5 h ago) to now

    # a throughput target turns the silent hours into breaches; '*' row defaults for other models
    store.insert(
        f"{DB}.ml_slo",
        [["fraud", 50.0, 0.05, 0.05], ["*", 2000.0, None, None]],
        column_names=["model_name", "p99_ms", "error_rate", "min_throughput"],
    )
    refresh_views(store, "ml_sla_mv")
    got = sla(store, "fraud")
    assert got[("*", hour_start(3))]["status"] == "breach"
    assert got[("*", hour_start(3))]["breaches"] == ["throughput"]
    assert got[("v2", hour_start(2))]["breaches"] == ["throughput"]  # 100 calls / 3600 s < 0.05
    other = sla(store, "other")[("1", hour_start(5))]
    assert (other["slo_p99_ms"], other["slo_error_rate"], other["slo_min_throughput"]) == (2000.0, 0.01, 0.0)
    assert other["status"] == "ok"


def test_late_spans_and_window_settings(store):
    """Spans replayed late land in their window; window length comes from ml_monitor_config."""
    store.insert(
        f"{DB}.ml_monitor_config",
        [["late", 2 * HOUR, 2 * 86400]],
        column_names=["model_name", "window_seconds", "lookback_seconds"],
    )
    base = int(dt.datetime.now(UTC).timestamp()) // (2 * HOUR) * (2 * HOUR) - 10 * HOUR
    start = dt.datetime.fromtimestamp(base, UTC)
    store.insert(
        f"{DB}.otel_traces",
        [span(start + dt.timedelta(minutes=i), "late", "1", 10**6 * (i + 1)) for i in range(3)],
        column_names=SPAN_COLUMNS,
    )
    refresh_views(store, "ml_sla_mv")
    assert sla(store, "late")[("1", start)]["calls"] == 3
    store.insert(
        f"{DB}.otel_traces",
        [span(start + dt.timedelta(minutes=90), "late", "1", 2 * 10**9, "Error")],
        column_names=SPAN_COLUMNS,
    )
    refresh_views(store, "ml_sla_mv")
    row = sla(store, "late")[("1", start)]
    assert (row["calls"], row["errors"], row["window_seconds"]) == (4, 1, 2 * HOUR)
    assert row["latency_p50_ms"] == pytest.approx(np.percentile([1, 2, 3, 2000], 50))
    assert row["breaches"] == ["latency_p99", "error_rate"]  # built-in 1000 ms and 1 %
