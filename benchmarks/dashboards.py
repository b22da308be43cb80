"""Every query of the Grafana dashboards over 10M predictions: what a dashboard load costs ClickHouse.

Data, generated in SQL by the embedded engine (INSERT … SELECT FROM numbers(), as benchmarks/drift.py):
one binary classifier, `rows` predictions over 24 hourly windows × 20 numeric + 5 categorical features
(drift.py's generator: f1 and c0 drift), versions v1 then v2 (the last quarter), a score, a tag with
three segments, latency, trace and span ids of 100-row batch calls; a heron.predict span per call (one
in 50 failed); labels for half the predictions; a 100k-row reference and a PCA fit per version; a
baseline period over the first six windows. The scheduled views are refreshed once (their time is
printed, not the target) and the default alert rules evaluated, so every panel reads what a running
deployment holds.

Then every panel, template variable and annotation query of dashboards/*.json is expanded as the
grafana-clickhouse-datasource plugin expands it (tests/dashboards/_grafana.py; variables on All,
the model on the benchmark's) over the data's whole time range and run `--repeat` times, once the
inserts' background merges have ended; the median is its time. Target: every query <= 1 s. The RESULT line:
  queries  how many were timed;  max_s / median_s  over them;  over_1s  how many missed the target;
  slowest  which one took max_s;  load_s / refresh_s  loading the data / refreshing the views.

    python benchmarks/dashboards.py [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "dashboards"))

import _grafana  # noqa: E402  (the plugin's expansion, shared with the tests)

from drift import N_REFERENCE, NUMERIC, _maps  # noqa: E402

MODEL = "bench"
HOURS = 24
WINDOW = 3600
SCORE = "(cityHash64(number, 1) % 1000000) / 1e6"


def load(client, rows: int, end: int) -> None:
    """Predictions, spans, labels, references and the model's registration, ending at `end` (Unix s)."""
    start = end - HOURS * WINDOW
    step_us = HOURS * WINDOW * 1_000_000 // rows
    v2_from = rows * 3 // 4
    version = f"if(number < {v2_from}, 'v1', 'v2')"
    client.command("INSERT INTO heron.ml_monitor_config (model_name, window_seconds, lookback_seconds) "
                   f"VALUES ('{MODEL}', {WINDOW}, {2 * HOURS * WINDOW})")
    for v in ("v1", "v2"):
        client.command("INSERT INTO heron.ml_models (model_name, model_version, task, positive_class, registered_at) "
                       f"VALUES ('{MODEL}', '{v}', 'binary_classification', '1', now64(6))")
        client.command(
            "INSERT INTO heron.ml_reference (model_name, model_version, reference_id, row_index, numeric, "
            "categorical, prediction, prediction_value, score, label, label_value, timestamp) "
            f"SELECT '{MODEL}', '{v}', 'ref', number, {_maps(False)}, if({SCORE} >= 0.5, '1', '0'), "
            f"toFloat64({SCORE} >= 0.5), {SCORE}, toString(toUInt8((cityHash64(number, 2) % 1000000) / 1e6 < {SCORE})),"
            f" toFloat64((cityHash64(number, 2) % 1000000) / 1e6 < {SCORE}), now64(6) FROM numbers({N_REFERENCE})")
        # a PCA fit for multivariate drift: the first five axes of the standardised features
        axes = [[1.0 if j == i else 0.0 for j in range(len(NUMERIC))] for i in range(5)]
        client.insert("heron.ml_reference_pca", [[MODEL, v, "ref", NUMERIC, [0.0] * len(NUMERIC),
                                                   [1.0 + i for i in range(len(NUMERIC))], axes, [0.1] * 5, 0.5,
                                                   N_REFERENCE, 1000, 100, 3.9, 0.05,
                                                   dt.datetime.now(dt.timezone.utc)]],
                      column_names=["model_name", "model_version", "reference_id", "features", "mean", "std",
                                    "components", "explained_variance_ratio", "variance_share", "rows",
                                    "chunk_size", "chunks", "error_mean", "error_std", "timestamp"])
    client.command(
        "INSERT INTO heron.ml_predictions (model_name, model_version, timestamp, prediction_id, numeric, categorical, "
        "prediction, prediction_value, score, tags, latency_ms, batch_rows, trace_id, span_id, service_name, "
        f"environment) SELECT '{MODEL}', {version}, "
        f"fromUnixTimestamp64Micro(toInt64({start}) * 1000000 + number * {step_us}, 'UTC'), toString(number), "
        f"{_maps(True)}, if({SCORE} >= 0.5, '1', '0'), toFloat64({SCORE} >= 0.5), {SCORE}, "
        "map('segment', concat('s', toString(number % 3))), 5 + (intDiv(number, 100) % 100) / 10, 100, "
        "lower(hex(toUInt128(cityHash64(intDiv(number, 100))))), lower(hex(cityHash64(intDiv(number, 100), 3))), "
        f"'bench-svc', 'bench' FROM numbers({rows}) SETTINGS max_insert_threads = 2")
    client.command(
        "INSERT INTO heron.otel_traces (Timestamp, TraceId, SpanId, SpanName, SpanKind, ServiceName, "
        "ResourceAttributes, SpanAttributes, Duration, StatusCode) "
        f"SELECT fromUnixTimestamp64Micro(toInt64({start}) * 1000000 + number * 100 * {step_us}, 'UTC'), "
        "lower(hex(toUInt128(cityHash64(number)))), lower(hex(cityHash64(number, 3))), 'heron.predict', 'Internal', "
        "'bench-svc', map('service.name', 'bench-svc', 'deployment.environment.name', 'bench'), "
        f"map('ml.model.name', '{MODEL}', 'ml.model.version', if(number * 100 < {v2_from}, 'v1', 'v2'), "
        "'heron.rows', '100'), toUInt64((5 + (number % 100) / 10) * 1000000), if(number % 50 = 0, 'Error', 'Unset') "
        f"FROM numbers({rows // 100})")
    client.command(
        "INSERT INTO heron.ml_ground_truth (model_name, prediction_id, label, label_value, timestamp) "
        f"SELECT '{MODEL}', toString(number), toString(toUInt8((cityHash64(number, 2) % 1000000) / 1e6 < {SCORE})), "
        f"toFloat64((cityHash64(number, 2) % 1000000) / 1e6 < {SCORE}), now64(6) "
        f"FROM numbers({rows}) WHERE number % 2 = 0 SETTINGS max_insert_threads = 2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import clickhouse_connect

    from heron_collector import analytics, config
    from heron_collector.alerts import evaluate, rules
    from heron_collector.migrations import Layout, migrate

    workdir = tempfile.mkdtemp(prefix="heron-bench-dashboards-")
    client = clickhouse_connect.get_client(dsn=f"chdb://{os.path.join(workdir, 'chdb')}")
    try:
        migrate(client, Layout(database="heron", refresh_seconds=30 * 86400))
        analytics.refresh(client, "heron", wait=True)  # the creation-time refreshes, on an empty store
        end = int(time.time()) // WINDOW * WINDOW
        t0 = time.perf_counter()
        load(client, args.rows, end)
        load_s = time.perf_counter() - t0
        start = end - HOURS * WINDOW
        config.set_values(client, "heron", MODEL, {
            "baseline_start": dt.datetime.fromtimestamp(start, dt.timezone.utc).isoformat(),
            "baseline_end": dt.datetime.fromtimestamp(start + 6 * WINDOW, dt.timezone.utc).isoformat()})
        print(f"loaded {args.rows:,} predictions, {args.rows // 100:,} spans, {args.rows // 2:,} labels in "
              f"{load_s:.1f} s", flush=True)
        t0 = time.perf_counter()
        analytics.refresh(client, "heron", wait=True)
        refresh_s = time.perf_counter() - t0
        fired = evaluate.evaluate(client, "heron", rules.default_rules())
        print(f"views refreshed in {refresh_s:.1f} s; {len(fired)} alert transitions", flush=True)
        settled = time.perf_counter()
        while client.query("SELECT count() FROM system.merges").result_rows[0][0] and \
                time.perf_counter() - settled < 600:
            time.sleep(0.5)  # the inserts' background merges end first: a dashboard reads a settled store

        tr = _grafana.TimeRange(start - 60, int(time.time()) + 60, interval_s=HOURS * WINDOW // 1000)
        timings: list[tuple[float, str, int]] = []
        for name, board in _grafana.dashboards().items():
            values, options = _grafana.variables(client, board, tr, all_values=True)
            for query in _grafana.queries(name, board):
                sql = _grafana.render(query.sql, values, options, tr)
                runs = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    n = len(client.query(sql).result_rows)
                    runs.append(time.perf_counter() - t0)
                timings.append((statistics.median(runs), query.id, n))
                print(f"{timings[-1][0]:7.3f} s  {n:6d} rows  {query.id}", flush=True)
    finally:
        client.close()
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = [t for t, _, _ in timings]
    slowest = max(timings)
    over = sum(t > 1.0 for t in seconds)
    print(f"RESULT rows={args.rows} queries={len(timings)} max_s={slowest[0]:.3f} "
          f"median_s={statistics.median(seconds):.3f} over_1s={over} slowest={slowest[1].replace(' ', '_')} "
          f"load_s={load_s:.1f} refresh_s={refresh_s:.1f} targets_met={'yes' if over == 0 else 'no'}")


if __name__ == "__main__":
    main()
