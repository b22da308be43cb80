"""No poison rows: a stored timestamp out of any sane range never breaks a scheduled view.

Heron's collector refuses such timestamps at ingest, but the official OpenTelemetry Collector's
ClickHouse exporter applies no Heron limits: records go straight into otel_logs / otel_traces as
it would write them, through the real parse views. Model `bad` sends, besides its good rows, a
prediction in the year 2200 (past what toUnixTimestamp's UInt32 holds), one whose body `ts` is
1e30, a columnar batch with `"NaN"` and 1e30 among valid stamps, a record without `ts` whose own
Timestamp is in 2200, a label stamped `"NaN"` and a span in 2200. Every view must refresh, both
models' windows must hold exactly their plausible rows, and ml_data_quality must count the
implausible ones (queries/schema/012_time_bounds.sql, ml_time_bounds).
"""

from __future__ import annotations

import datetime as dt
import json
import time

import numpy as np

from heron_collector.analytics import refresh, view_status
from heron_collector.ingest.rows import LOG_COLUMNS

from ._data import hour_start, insert_reference

UTC = dt.timezone.utc
NS = 1_000_000_000
Y2200 = 7_258_118_400  # 2200-01-01 00:00:00 UTC, in seconds
N = 60  # plausible predictions per model


def record(model: str, event: str, body: dict, ts_ns: int | None = None, layout: str = "row",
           **attrs: str) -> list:
    """A log record as the exporter writes it into otel_logs (LOG_COLUMNS order)."""
    attributes = {"ml.model.name": model, "ml.model.version": "v1", "heron.schema.version": "1",
                  "heron.layout": layout, **attrs}
    return [time.time_ns() if ts_ns is None else ts_ns, "ab" * 16, "cd" * 8, 1, "INFO", 9, "svc",
            json.dumps(body), "", {}, "", "heron", "0.1.0", {}, attributes, event]


def span(model: str, ts: dt.datetime) -> list:
    attrs = {"ml.model.name": model, "ml.model.version": "v1", "heron.rows": "1"}
    return [ts, "ab" * 16, "cd" * 8, "heron.predict", "Internal", "svc", attrs, 5_000_000, "Unset"]


def load(store, window: dt.datetime) -> None:
    rng = np.random.default_rng(3)
    t0 = window.replace(tzinfo=UTC).timestamp()
    logs = []
    for model in ("good", "bad"):
        logs.append(record(model, "heron.model", {"task": "binary_classification", "positive_class": "1"}))
        insert_reference(store, model, "v1", {"x": rng.normal(0, 1, 300)}, {"c": rng.choice(["a", "b"], 300).tolist()},
                         prediction=rng.choice(["0", "1"], 300).tolist(), score=rng.uniform(0, 1, 300),
                         label=rng.choice(["0", "1"], 300).tolist())
        for i in range(N):
            logs.append(record(model, "heron.prediction", {
                "id": f"{model}{i}", "numeric": {"x": float(rng.normal())}, "categorical": {"c": "a"},
                "prediction": str(i % 2), "score": float(rng.uniform()), "ts": t0 + i}))
            logs.append(record(model, "heron.ground_truth", {"id": f"{model}{i}", "label": i % 3 % 2}))
    poison = [
        record("bad", "heron.prediction", {"id": "y2200", "numeric": {"x": 1.0}, "prediction": "1",
                                           "score": 0.5, "ts": Y2200}),
        record("bad", "heron.prediction", {"id": "e30", "numeric": {"x": 1.0}, "prediction": "1",
                                           "score": 0.5, "ts": 1e30}),
        record("bad", "heron.prediction", {"id": "record2200", "numeric": {"x": 1.0}}, ts_ns=Y2200 * NS),
        record("bad", "heron.prediction", {"id": ["nan", "huge", "fine"], "numeric": {"x": [1.0, 2.0, 3.0]},
                                           "ts": ["NaN", 1e30, t0 + 1]}, layout="columnar", **{"heron.rows": "3"}),
        record("bad", "heron.ground_truth", {"id": "bad0", "label": 0, "ts": "NaN"}),
    ]
    # one insert, as one exporter batch: the poison must not take the good rows down with it
    store.insert("heron.otel_logs", logs + poison, column_names=list(LOG_COLUMNS))
    spans = [span(model, window + dt.timedelta(seconds=i)) for model in ("good", "bad") for i in range(10)]
    spans.append(span("bad", dt.datetime(2200, 1, 1, tzinfo=UTC)))
    store.insert("heron.otel_traces", spans, column_names=["Timestamp", "TraceId", "SpanId", "SpanName", "SpanKind",
                                                           "ServiceName", "SpanAttributes", "Duration", "StatusCode"])


def dq_star(store, model: str) -> dict:
    """The '*' rows of ml_data_quality: window_start → (n_rows, implausible_timestamps)."""
    rows = store.query("SELECT window_start, n_rows, implausible_timestamps FROM heron.ml_data_quality FINAL "
                       "WHERE model_name = {m:String} AND feature = '*'", parameters={"m": model}).result_rows
    return {r[0].replace(tzinfo=None): (r[1], r[2]) for r in rows}


def test_implausible_timestamps_break_no_refresh_and_are_counted(store):
    window = hour_start(2)
    load(store, window)
    stored = store.query("SELECT prediction_id, toUnixTimestamp64Micro(timestamp) FROM heron.ml_predictions "
                         "WHERE model_name = 'bad' AND prediction_id IN ('y2200', 'e30', 'record2200', 'nan', "
                         "'huge', 'fine')").result_rows
    # 2200 fits DateTime64 and is kept as sent; what does not (NaN, 1e30) is stored as the epoch
    assert dict(stored) == {"y2200": Y2200 * 10**6, "record2200": Y2200 * 10**6, "e30": 0, "nan": 0, "huge": 0,
                            "fine": int(window.replace(tzinfo=UTC).timestamp() + 1) * 10**6}

    refresh(store, "heron")  # every view, dependencies first; raises the first refresh error
    assert all(v["exception"] == "" for v in view_status(store, "heron")), view_status(store, "heron")

    for model, extra in (("good", 0), ("bad", 1)):  # `fine` is bad's one plausible poison-batch row
        star = dq_star(store, model)
        assert star[window][0] == N + extra
        # the implausible rows arrived now: counted in the window they were stored in, and only there
        implausible = sum(count for _, count in star.values())
        assert implausible == (0 if model == "good" else 5)
        assert store.query("SELECT count() FROM heron.ml_data_quality FINAL WHERE model_name = {m:String} "
                           "AND window_start > now() + INTERVAL 1 DAY", parameters={"m": model}).result_rows == [(0,)]
        x = store.query("SELECT n_values FROM heron.ml_data_quality FINAL WHERE model_name = {m:String} "
                        "AND window_start = {w:DateTime} AND feature = 'x'",
                        parameters={"m": model, "w": window}).result_rows
        assert x == [(N + extra,)]
        drift = store.query("SELECT DISTINCT window_start, n_current FROM heron.ml_drift FINAL "
                            "WHERE model_name = {m:String} AND feature = 'x' AND method = 'psi'",
                            parameters={"m": model}).result_rows
        assert [(w.replace(tzinfo=None), n) for w, n in drift] == [(window, N + extra)]
        perf = store.query("SELECT DISTINCT window_start, predictions FROM heron.ml_performance FINAL "
                           "WHERE model_name = {m:String} AND segment_key = '' AND metric = 'accuracy'",
                           parameters={"m": model}).result_rows
        assert [p[1] for p in perf] == [N + extra]
        estimated = store.query("SELECT DISTINCT predictions FROM heron.ml_performance_estimated FINAL "
                                "WHERE model_name = {m:String} AND segment_key = '' AND metric = 'accuracy'",
                                parameters={"m": model}).result_rows
        assert estimated == [(N + extra,)]
        calls = store.query("SELECT sum(calls), max(window_start) < now() + INTERVAL 1 DAY FROM heron.ml_sla FINAL "
                            "WHERE model_name = {m:String} AND model_version = 'v1'",
                            parameters={"m": model}).result_rows
        assert calls == [(10, 1)]


def test_a_store_made_before_the_count_gets_its_column(store):
    """ml_data_quality of an older store lacks implausible_timestamps: migrating adds it in place."""
    from heron_collector.migrations import Layout, migrate

    store.command("DROP VIEW heron.ml_data_quality_mv SYNC")
    store.command("ALTER TABLE heron.ml_data_quality DROP COLUMN implausible_timestamps")
    store.command("INSERT INTO heron.heron_migrations (name, checksum, views) "
                  "VALUES ('views/20_data_quality.sql', 'before', [])")
    store.command("DELETE FROM heron.heron_migrations WHERE name = 'schema/011_result_columns.sql'")
    applied = migrate(store, Layout(database="heron"))
    assert applied[:1] == ["schema/011_result_columns.sql"] and "views/20_data_quality.sql" in applied
    columns = [r[0] for r in store.query("SELECT name FROM system.columns WHERE database = 'heron' "
                                         "AND table = 'ml_data_quality' ORDER BY position").result_rows]
    assert columns[-3:] == ["duplicate_ids", "implausible_timestamps", "computed_at"]
    store.insert("heron.ml_predictions", [["m", "v1", dt.datetime(2200, 1, 1), "p"]],
                 column_names=["model_name", "model_version", "timestamp", "prediction_id"])
    refresh(store, "heron", views=["ml_data_quality_mv"])
    assert store.query("SELECT n_rows, implausible_timestamps FROM heron.ml_data_quality FINAL "
                       "WHERE model_name = 'm' AND feature = '*'").result_rows == [(0, 1)]
