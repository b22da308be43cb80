"""What a /metrics scrape costs with the model-health gauges, against the read that fills them, in one run.

    .venv/bin/python benchmarks/prometheus_health.py [--models 5] [--features 100] [--days 7]

An embedded store gets `--models` models of `--features` numeric features each, `--days` daily
windows of 50 predictions and a reference of 500 rows; the scheduled views run once. Then, in
rounds on the same store:
  read_ms    ModelHealth.reload: the one query of ml_model_health that runs after each refresh;
  scrape_ms  the collector registry rendered in the Prometheus text format (what GET /metrics
             does, minus HTTP), with every model-health series in it.
Reported: medians, the series exposed, and ratio = read_ms / scrape_ms — how much a per-scrape
query would have cost over serving the cached values. The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time

import numpy as np

from heron_collector import analytics, config
from heron_collector.collector import Collector, Settings

DB = "heron"
DAY = 86400
COLUMNS = ["model_name", "model_version", "timestamp", "prediction_id", "prediction", "numeric"]
REFERENCE = ["model_name", "model_version", "reference_id", "row_index", "numeric", "timestamp"]


def fill(client, models: int, features: int, days: int) -> None:
    rng = np.random.default_rng(7)
    names = [f"f{j:03d}" for j in range(features)]
    today = int(time.time()) // DAY * DAY
    for m in range(models):
        model = f"model{m:02d}"
        config.set_values(client, DB, model, {"window_seconds": str(DAY), "lookback_seconds": str((days + 1) * DAY)})
        reference = rng.normal(0, 1, (500, features))
        client.insert(f"{DB}.ml_reference", [[model, "v1", "ref", i, dict(zip(names, map(float, row), strict=True)),
                                              dt.datetime(2026, 1, 1)] for i, row in enumerate(reference)],
                      column_names=REFERENCE)
        rows = []
        for d in range(days, 0, -1):
            start = dt.datetime.fromtimestamp(today - d * DAY, dt.timezone.utc)
            values = rng.normal(0.3 * (d % 3), 1, (50, features))
            rows += [[model, "v1", start + dt.timedelta(minutes=20 * i), f"{d}-{i}", "no",
                      dict(zip(names, map(float, row), strict=True))] for i, row in enumerate(values)]
        client.insert(f"{DB}.ml_predictions", rows, column_names=COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(otlp_http="127.0.0.1:0", otlp_grpc="127.0.0.1:0", admin="127.0.0.1:0", data_dir=tmp,
                            clickhouse_url="", token="", refresh_seconds=30 * DAY,
                            prometheus_max_series=10 * args.models * (args.features + 50))
        with Collector(settings) as collector:
            client = collector.store.client
            t0 = time.perf_counter()
            fill(client, args.models, args.features, args.days)
            analytics.refresh(client, DB, wait=True)
            prepare_s = time.perf_counter() - t0
            health = collector.model_health
            reads, scrapes = [], []
            for _ in range(args.rounds):
                t = time.perf_counter()
                assert health.reload(client, DB), health.error
                reads.append((time.perf_counter() - t) * 1000)
                for _ in range(10):
                    t = time.perf_counter()
                    text = collector.metrics.render()
                    scrapes.append((time.perf_counter() - t) * 1000)
            read_ms, scrape_ms = statistics.median(reads), statistics.median(scrapes)
            series = health.snapshot.series
    print(f"models={args.models} features={args.features} days={args.days}: filled and refreshed in "
          f"{prepare_s:.1f} s; {series} model-health series, /metrics {len(text) / 1024:.0f} KiB")
    print(f"read (one query of ml_model_health, after each refresh): median {read_ms:.1f} ms")
    print(f"scrape (render of the cached values):                   median {scrape_ms:.2f} ms")
    print(f"RESULT series={series} read_ms={read_ms:.1f} scrape_ms={scrape_ms:.2f} ratio={read_ms / scrape_ms:.1f}")


if __name__ == "__main__":
    main()
