"""`make demo`: a model monitored end to end on this machine, no Docker, no server.

What runs, all for real:
  1. an embedded collector (OTLP over loopback into ClickHouse's engine in this process);
  2. a scikit-learn classifier trained on a generated credit-default problem, its training set
     uploaded as the reference (`heron.log_reference`);
  3. eight simulated days of traffic through `@heron.monitor`; a day lasts a few seconds and the
     model's analysis windows are set to that length, so the views see one window per day. From
     day 4 two features drift; from day 5 the world changes (concept shift: the same inputs default
     more often); from day 6 the service slows down, and on day 7 some calls fail;
  4. delayed ground truth for most of days 1–6 (days 7–8 have none yet, as in production);
  5. the scheduled views refreshed (`heron refresh`), and a summary read from them: drifted
     features per day, realised vs estimated accuracy, latency percentiles and error rate.

Every number printed comes from a SQL query on the views.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

DAYS = 8
DRIFT_FROM, SHIFT_FROM, SLOW_FROM, FAIL_DAY = 4, 5, 6, 7
MODEL, VERSION = "credit-default", "1.0"
NUMERIC = ["age", "income", "debt_ratio", "credit_score", "loan_amount", "tenure_months", "late_payments"]
CATEGORICAL = ["employment", "region", "channel"]


def say(message: str = "") -> None:
    print(message, flush=True)


# --- the problem -------------------------------------------------------------------------------
def applicants(n: int, rng: np.random.Generator, drift: bool = False):
    """Loan applicants; `drift` lowers incomes and credit scores and brings in partner traffic."""
    import pandas as pd

    income = rng.lognormal(math.log(42_000), 0.45, n) * (0.7 if drift else 1.0)
    return pd.DataFrame({
        "age": np.clip(rng.normal(41, 12, n), 18, 90).round(),
        "income": income.round(-2),
        "debt_ratio": rng.beta(2, 5, n),
        "credit_score": np.clip(rng.normal(610 if drift else 660, 70, n), 300, 850).round(),
        "loan_amount": rng.lognormal(math.log(12_000), 0.6, n).round(-2),
        "tenure_months": rng.exponential(40, n).round(),
        "late_payments": rng.poisson(0.8, n).astype(float),
        "employment": rng.choice(["salaried", "self_employed", "unemployed", "retired"], n, p=[.62, .2, .08, .1]),
        "region": rng.choice(["north", "south", "east", "west"], n),
        "channel": rng.choice(["web", "branch", "partner"], n, p=[.3, .2, .5] if drift else [.55, .35, .1]),
    })


def default_probability(x, shifted: bool = False) -> np.ndarray:
    """The true risk. After the concept shift, debt and late payments stop predicting default and
    young applicants with short tenure default instead: the same inputs, a different answer."""
    debt, late = x["debt_ratio"], x["late_payments"]
    logit = (-1.0 + 4.5 * (debt - 0.28) - 0.016 * (x["credit_score"] - 660) + 0.8 * late
             - 1.2 * np.log(x["income"] / 42_000) + 1.5 * (x["employment"] == "unemployed"))
    if shifted:
        logit = logit - 4.5 * (debt - 0.28) - 1.6 * late - 0.06 * (x["age"] - 41) - 0.03 * (x["tenure_months"] - 40)
    return 1 / (1 + np.exp(-logit))


def train(rng: np.random.Generator):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x = applicants(20_000, rng)
    y = (rng.random(len(x)) < default_probability(x)).astype(int)
    model = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(), CATEGORICAL)]),
        LogisticRegression(max_iter=500),
    ).fit(x, y)
    return model, x, y


# --- the summary, read from the views -----------------------------------------------------------
def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from .cli import print_table

    print_table(columns, rows)
    say()


def summary(client, day_of) -> None:
    params = {"m": MODEL}
    drift = client.query(
        "SELECT window_start, groupArrayIf(feature, drifted = 1 AND role = 'feature'), "
        "       maxIf(drifted, role = 'prediction'), countIf(role = 'feature') "
        "FROM heron.ml_drift FINAL WHERE model_name = {m:String} AND is_primary = 1 "
        "GROUP BY window_start ORDER BY window_start", parameters=params).result_rows
    say("Drift against the training set (primary method per feature, see docs/statistics.md)")
    table(["day", "features checked", "drifted features", "prediction drift"],
          [[day_of(w), n, ", ".join(sorted(f)) or "-", "yes" if p else "no"] for w, f, p, n in drift])

    perf = client.query(
        "SELECT r.window_start, r.labelled, r.predictions, r.value, e.value "
        "FROM (SELECT * FROM heron.ml_performance FINAL WHERE model_name = {m:String} AND segment_key = '' "
        "      AND metric = 'accuracy') AS r "
        "FULL JOIN (SELECT * FROM heron.ml_performance_estimated FINAL WHERE model_name = {m:String} "
        "      AND segment_key = '' AND metric = 'accuracy') AS e USING (model_name, model_version, window_start) "
        "ORDER BY r.window_start", parameters=params).result_rows
    say("Accuracy: realised (labels joined by prediction id) vs estimated from scores (CBPE)")
    table(["day", "labelled", "predictions", "realised", "estimated"],
          [[day_of(w), labelled, n, _pct(real), _pct(est)] for w, labelled, n, real, est in perf])

    sla = client.query(
        "SELECT window_start, calls, rows, latency_p50_ms, latency_p95_ms, latency_p99_ms, error_rate, status "
        "FROM heron.ml_sla FINAL WHERE model_name = {m:String} AND model_version = '*' AND calls > 0 "
        "ORDER BY window_start",
        parameters=params).result_rows
    say("Service level of the heron.predict spans (SLO: p99 ≤ 120 ms, errors ≤ 1 %)")
    table(["day", "calls", "rows", "p50 ms", "p95 ms", "p99 ms", "errors", "status"],
          [[day_of(w), c, r, _ms(p50), _ms(p95), _ms(p99), _pct(e), s] for w, c, r, p50, p95, p99, e, s in sla])


def _pct(value: float | None) -> str:
    return "-" if value is None or value != value else f"{100 * value:.1f} %"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# --- the run -----------------------------------------------------------------------------------
def run(data_dir: str, day_seconds: int, calls_per_day: int, rows_per_call: int) -> None:
    import heron

    from . import analytics
    from .collector import Collector, Settings

    rng = np.random.default_rng(7)
    say("Starting an embedded collector (OTLP → ClickHouse engine in this process) …")
    settings = Settings(otlp_http="127.0.0.1:0", otlp_grpc="127.0.0.1:0", admin="127.0.0.1:0", data_dir=data_dir,
                        clickhouse_url="", batch_seconds=0.2)
    with Collector(settings) as collector:
        client = collector.store.client
        say(f"  OTLP/HTTP on {collector.http_address}, store {collector.store.url.path}")
        client.command("INSERT INTO heron.ml_monitor_config (model_name, window_seconds, lookback_seconds) "
                       "VALUES ({m:String}, {w:UInt32}, 86400)", parameters={"m": MODEL, "w": day_seconds})
        client.command("INSERT INTO heron.ml_slo (model_name, p99_ms, error_rate) VALUES ({m:String}, 120, 0.01)",
                       parameters={"m": MODEL})
        heron.configure(endpoint=f"http://{collector.http_address}", service_name="credit-scorer",
                        environment="demo")

        say("Training a scikit-learn classifier on 20,000 generated loan applications …")
        model, x_train, y_train = train(rng)
        heron.register_model(MODEL, VERSION, task="binary_classification", framework="scikit-learn",
                             owner="risk-team", training_data_version="generated-2026-11", positive_class=1)
        heron.log_reference(MODEL, VERSION, x_train, predictions=model.predict(x_train), labels=y_train,
                            scores=model.predict_proba(x_train))
        say(f"  training accuracy {model.score(x_train, y_train):.3f}; reference profile + sample uploaded")

        slow = {"ms": 0.0}
        failing = {"now": False}

        @heron.monitor(model=MODEL, version=VERSION, task="binary_classification", classes=[0, 1])
        def predict(batch):
            if failing["now"]:
                raise TimeoutError("feature store timed out")
            if slow["ms"]:
                time.sleep(slow["ms"] / 1000)
            return model.predict_proba(batch)

        # Align day 1 with a window boundary, so each simulated day is exactly one window.
        start = (math.floor(time.time() / day_seconds) + 1) * day_seconds
        time.sleep(max(0.0, start - time.time()))
        labels: list[tuple[list[str], np.ndarray]] = []
        for day in range(1, DAYS + 1):
            day_start = start + (day - 1) * day_seconds
            slow["ms"] = 160.0 if day >= SLOW_FROM else 0.0
            errors = served = 0
            for call in range(calls_per_day):
                failing["now"] = day == FAIL_DAY and call % 4 == 1  # a quarter of the day's calls fail
                batch = applicants(rows_per_call, rng, drift=day >= DRIFT_FROM)
                try:
                    predict(batch)
                except TimeoutError:
                    errors += 1
                    continue
                served += len(batch)
                truth = rng.random(len(batch)) < default_probability(batch, shifted=day >= SHIFT_FROM)
                if day <= 6:
                    labels.append((heron.last_prediction_ids(), truth.astype(int)))
                if time.time() > day_start + day_seconds * 0.8:
                    break  # keep every call inside its window on a slow machine
            events = [name for name, first in (("drift", DRIFT_FROM), ("concept shift", SHIFT_FROM),
                                               ("slow", SLOW_FROM)) if day >= first]
            if errors:
                events.append(f"{errors} failed calls")
            say(f"  day {day}: served {served:,} predictions "
                f"{'(' + ', '.join(events) + ')' if events else ''}")
            time.sleep(max(0.0, day_start + day_seconds - time.time()))

        say("Ground truth arrives for 70 % of days 1–6 (days 7–8: not yet) …")
        for ids, truth in labels:
            keep = rng.random(len(ids)) < 0.7
            heron.log_ground_truth(MODEL, [i for i, k in zip(ids, keep, strict=True) if k], truth[keep])
        heron.flush()
        if not collector.flush(timeout=60):
            raise RuntimeError("the collector could not write everything it received")

        say("Refreshing the scheduled views (what `heron refresh --wait` does) …")
        t = time.perf_counter()
        refreshed = analytics.refresh(client, "heron", wait=True)
        say(f"  {len(refreshed)} views refreshed in {time.perf_counter() - t:.1f} s\n")

        def day_of(window_start) -> str:
            return str(round((window_start.timestamp() - start) / day_seconds) + 1)

        summary(client, day_of)
        counts = client.query("SELECT (SELECT count() FROM heron.ml_predictions), "
                              "(SELECT count() FROM heron.ml_ground_truth), "
                              "(SELECT count() FROM heron.otel_traces)").result_rows[0]
        say(f"Stored: {counts[0]:,} predictions, {counts[1]:,} labels, {counts[2]:,} spans in {data_dir}")
        heron.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heron_collector.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="keep the store here (default: a temporary directory)")
    parser.add_argument("--day-seconds", type=int, default=4, help="length of a simulated day (one window)")
    parser.add_argument("--calls-per-day", type=int, default=12)
    parser.add_argument("--rows-per-call", type=int, default=200)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    began = time.perf_counter()
    if args.data_dir:
        os.makedirs(args.data_dir, exist_ok=True)
        run(args.data_dir, args.day_seconds, args.calls_per_day, args.rows_per_call)
    else:
        with tempfile.TemporaryDirectory(prefix="heron-demo-") as tmp:
            run(tmp, args.day_seconds, args.calls_per_day, args.rows_per_call)
    say(f"Demo finished in {time.perf_counter() - began:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
