"""`make demo`: a model monitored end to end on this machine, no Docker, no server.

What runs, all for real:
  1. an embedded collector (OTLP over loopback into ClickHouse's engine in this process), and a
     webhook receiver on loopback that checks each notification's signature;
  2. a scikit-learn classifier trained on a generated credit-default problem, its training set
     uploaded as the reference (`heron.log_reference`);
  3. eight simulated days of traffic through `@heron.monitor`, served by four worker threads; a
     day lasts a few seconds and is one analysis window. From day 4 three features drift
     (income, credit_score, channel); from day 5 the world changes (concept shift: the same
     inputs default differently); on days 6 and 7 two calls a day wait 1.5 s, and on day 7 a
     quarter fail; day 8 is healthy again;
  4. delayed ground truth for 70 % of days 1–6 (days 7–8 have none yet, as in production);
  5. the scheduled views refreshed (`heron refresh`), days 1–3 as the baseline period;
  6. the default alert rules evaluated as of the end of each day and once more at the end, as
     the collector's loop would have, on the demo's clock (their durations assume hourly windows:
     an hour of a rule is one simulated day here), notifying the webhook receiver through the
     signed webhook channel: alerts fire, and the latency and error alerts resolve;
  7. a summary read from the views, `heron status`, and the HTML report.

Every number printed comes from a SQL query on the views (the webhook receiver's count aside:
that is what arrived).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

DAYS = 8
DRIFT_FROM, SHIFT_FROM, SLOW_DAYS, FAIL_DAY = 4, 5, (6, 7), 7
BASELINE_DAYS = 3      # days 1–3 set each metric's baseline and control limits
LABELLED_DAYS = 6      # ground truth arrives for these days only
DRIFTED = ("channel", "credit_score", "income")
MODEL, VERSION = "credit-default", "1.0"
NUMERIC = ["age", "income", "debt_ratio", "credit_score", "loan_amount", "tenure_months", "late_payments"]
CATEGORICAL = ["employment", "region", "channel"]
SLOW_MS = 1500.0       # what a slow call waits for its feature store: over the default SLO (p99 ≤ 1 s)
SLOW_CALLS = 2         # of a slow day's calls; with 24 calls a day, p99 lies between the two slowest
WORKERS = 4            # concurrent requests the service handles
SINK = "demo-webhook"  # the channel name of the loopback receiver
REPORT = "heron-demo-report.html"  # where the report goes without --data-dir


def say(message: str = "") -> None:
    print(message, flush=True)


class Progress:
    """A plain text bar on stderr, redrawn in place on a terminal (nothing when stderr is a file)."""

    WIDTH = 30

    def __init__(self, total: int, out=sys.stderr) -> None:
        self.total, self.done, self.label, self.out = total, 0, "", out
        self.live = hasattr(out, "isatty") and out.isatty()

    def step(self, label: str, amount: float = 1) -> None:
        self.done, self.label = min(self.total, self.done + amount), label
        self._draw()

    def say(self, message: str) -> None:
        """A line on stdout above the bar."""
        self._clear()
        say(message)
        self._draw()

    def finish(self) -> None:
        self._clear()

    def _draw(self) -> None:
        if self.live:
            filled = round(self.WIDTH * self.done / self.total)
            self.out.write(f"\r[{'#' * filled}{'-' * (self.WIDTH - filled)}] {100 * self.done / self.total:3.0f} %"
                           f"  {self.label}\x1b[K")
            self.out.flush()

    def _clear(self) -> None:
        if self.live:
            self.out.write("\r\x1b[K")
            self.out.flush()


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


def faults(day: int) -> list[str]:
    """What is wrong on `day`, as injected."""
    return [name for name, on in (("drift", day >= DRIFT_FROM), ("concept shift", day >= SHIFT_FROM),
                                  ("slow calls", day in SLOW_DAYS), ("failing calls", day == FAIL_DAY)) if on]


# --- the alerts --------------------------------------------------------------------------------
def demo_rules(day_seconds: float, channel: str) -> list:
    """The default rules on the demo's clock, all notifying `channel`. Their durations (`for`,
    `keep_firing_for`, `group_interval`, `repeat_interval`) are written for hourly windows; a window
    here lasts `day_seconds`, so each is scaled by day_seconds / 3600: `for = 2h` waits two simulated
    days. group_wait is 0: the demo looks for due notifications only when it evaluates, once a
    window, so any wait would hold each first notification a whole simulated day."""
    from .alerts import rules

    scale = day_seconds / 3600
    return [replace(r, for_seconds=r.for_seconds * scale, keep_firing_for_seconds=r.keep_firing_for_seconds * scale,
                    group_wait_seconds=0.0, group_interval_seconds=rules.timing(r).group_interval * scale,
                    repeat_seconds=rules.timing(r).repeat_interval * scale, channels=(channel,))
            for r in rules.default_rules()]


def evaluate_alerts(client: Any, rules: list, channels: dict, times: Sequence[dt.datetime]) -> None:
    """What the collector's alert loop does, as of each of `times` in turn: evaluate, keep the
    transitions in ml_alerts, hand the notifications to the channels (ml_alert_notifications
    records each outcome), and wait until they are delivered."""
    from .alerts import dispatch, evaluate, notify

    def outcome(n, delivery) -> None:
        notify.record(client, "heron", n, delivery.channel, delivery.outcome, delivery.status, delivery.attempts,
                      delivery.error)

    with dispatch.Dispatcher(channels, on_outcome=outcome) as dispatcher:
        for now in times:
            evaluate.evaluate(client, "heron", rules, now)
            notify.send(client, "heron", notify.plan(client, "heron", rules, now), dispatcher, now)
        if not dispatcher.flush(timeout=30):
            raise RuntimeError("the webhook receiver did not take every notification within 30 s")


# --- the summary, read from the views -----------------------------------------------------------
def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from .table import print_table

    print_table(columns, rows)
    say()


def daily(client: Any) -> dict[Any, dict[str, Any]]:
    """Per window: the drift summary, realised and estimated accuracy, and the service level."""
    params = {"m": MODEL, "v": VERSION}
    days: dict[Any, dict[str, Any]] = {}

    def merge(sql: str, names: Sequence[str]) -> None:
        for window, *values in client.query(sql, parameters=params).result_rows:
            days.setdefault(window, {}).update(zip(names, values, strict=True))

    merge("SELECT window_start, n_features, drifted_features FROM heron.ml_drift_summary "
          "WHERE model_name = {m:String} AND model_version = {v:String}", ["features", "drifted"])
    merge("SELECT window_start, value, labelled FROM heron.ml_performance FINAL WHERE model_name = {m:String} "
          "AND model_version = {v:String} AND segment_key = '' AND metric = 'accuracy'", ["accuracy", "labelled"])
    merge("SELECT window_start, value FROM heron.ml_performance_estimated FINAL WHERE model_name = {m:String} "
          "AND model_version = {v:String} AND segment_key = '' AND metric = 'accuracy'", ["estimated"])
    merge("SELECT window_start, calls, latency_p50_ms, latency_p99_ms, error_rate, status FROM heron.ml_sla FINAL "
          "WHERE model_name = {m:String} AND model_version = {v:String} AND calls > 0",
          ["calls", "p50", "p99", "errors", "sla"])
    return dict(sorted(days.items()))


class Clock:
    """Simulated days: day d is the window [start + (d − 1)·D, start + d·D)."""

    def __init__(self, start: float, day_seconds: float) -> None:
        self.start, self.day_seconds = start, day_seconds

    def _seconds(self, moment: dt.datetime) -> float:
        aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
        return aware.timestamp() - self.start

    def window(self, window_start: dt.datetime) -> str:
        return str(math.floor(self._seconds(window_start) / self.day_seconds) + 1)

    def evaluation(self, at: dt.datetime) -> str:
        """The day whose end an evaluation at `at` came after; 'end' after the last day."""
        day = math.floor(self._seconds(at) / self.day_seconds)
        return str(day) if day <= DAYS else "end"


def summary(client: Any, clock: Clock, sink_counts: dict[str, int]) -> None:
    say(f"Injected: {', '.join(DRIFTED)} drift from day {DRIFT_FROM}; concept shift from day {SHIFT_FROM}; "
        f"slow calls on days {SLOW_DAYS[0]}–{SLOW_DAYS[-1]}; failing calls on day {FAIL_DAY}; labels for days "
        f"1–{LABELLED_DAYS}; days 1–{BASELINE_DAYS} are the baseline.\n")
    p99_slo, errors_slo = client.query("SELECT any(slo_p99_ms), any(slo_error_rate) FROM heron.ml_sla FINAL "
                                       "WHERE model_name = {m:String}", parameters={"m": MODEL}).result_rows[0]
    say(f"What the views found, per day (the default SLO: p99 ≤ {p99_slo:.0f} ms, errors ≤ {100 * errors_slo:.0f} %)")
    rows = []
    for window, d in daily(client).items():
        drifted = ", ".join(d.get("drifted") or []) or ("-" if d.get("features") else "not measured")
        accuracy = f"{_pct(d.get('accuracy'))} ({d['labelled']:,})" if d.get("labelled") else "no labels yet"
        rows.append([clock.window(window), drifted, accuracy, _pct(d.get("estimated")), _ms(d.get("p50")),
                     _ms(d.get("p99")), _pct(d.get("errors")), d.get("sla", "-")])
    table(["day", "drifted features", "accuracy (labelled)", "estimated", "p50 ms", "p99 ms", "errors", "SLA"], rows)

    alerts = client.query(
        "SELECT rule, model_version, subject, severity, minIf(at, state = 'firing') AS fired, "
        "       maxIf(at, state = 'resolved'), argMinIf(summary, at, state = 'firing') "
        "FROM heron.ml_alerts WHERE model_name = {m:String} "
        "GROUP BY fingerprint, rule, model_version, subject, severity "
        "HAVING countIf(state = 'firing') > 0 ORDER BY fired, rule, subject, model_version",
        parameters={"m": MODEL}).result_rows
    say("Alerts (default rules, evaluated as of the end of each day; 'end': after the labels arrived)")
    table(["rule", "version", "subject", "severity", "fired", "resolved", "when it fired"],
          [[rule, version, subject or "-", severity, clock.evaluation(fired),
            clock.evaluation(resolved) if resolved.year > 1970 else "-", text]
           for rule, version, subject, severity, fired, resolved, text in alerts])

    sent = client.query("SELECT status, countIf(outcome = 'delivered'), countIf(outcome IN ('failed', 'dropped')) "
                        "FROM heron.ml_alert_notifications GROUP BY status ORDER BY status").result_rows
    recorded = ", ".join(f"{status} {ok} delivered" + (f", {bad} not" if bad else "") for status, ok, bad in sent)
    say(f"Notifications (ml_alert_notifications): {recorded or 'none'}. The webhook receiver verified "
        f"{sink_counts['notifications']} signed notifications ({sink_counts['firing']} firing, "
        f"{sink_counts['resolved']} resolved; {sink_counts['alerts_resolved']} alerts reported resolved) "
        f"and refused {sink_counts['refused']}.\n")


def _pct(value: float | None) -> str:
    return "-" if value is None or value != value else f"{100 * value:.1f} %"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _write_report(client: Any, path: str) -> None:
    """The HTML report of the demo's model over its days (`heron report`), beside the store."""
    from . import report

    stats = report.write(client, MODEL, VERSION, "1d", path)
    say(f"report: {stats['path']} ({stats['bytes']:,} bytes; open it in a browser, it needs no network)")


# --- the run -----------------------------------------------------------------------------------
def make_traffic(rng: np.random.Generator, calls: int, rows: int) -> list[tuple[list, list[np.ndarray]]]:
    """Each day's requests, and the truth the world will reveal about them (after the concept
    shift, another truth), made before the clock starts so the days spend their time serving."""
    traffic = []
    for day in range(1, DAYS + 1):
        batches = [applicants(rows, rng, drift=day >= DRIFT_FROM) for _ in range(calls)]
        traffic.append((batches, [rng.random(len(b)) < default_probability(b, shifted=day >= SHIFT_FROM)
                                  for b in batches]))
    return traffic


def serve_day(predict, fault: threading.local, batches: list, slow: bool, failing: bool,
              deadline: float) -> list[list[str] | None]:
    """One day's calls through the model, WORKERS at a time; each call's prediction ids, or None
    for a call that failed (or would have ended after its window). A quarter of a failing day's
    calls fail; SLOW_CALLS of a slow day's wait SLOW_MS."""
    import heron

    slow_calls = {2 + i * len(batches) // SLOW_CALLS for i in range(SLOW_CALLS)}

    def call(i: int) -> list[str] | None:
        if time.time() > deadline:
            return None  # keep every call inside its window on a slow machine
        fault.kind = "fail" if failing and i % 4 == 1 else "slow" if slow and i in slow_calls else ""
        try:
            predict(batches[i])
        except TimeoutError:
            return None
        return heron.last_prediction_ids()

    with ThreadPoolExecutor(WORKERS, thread_name_prefix="demo-service") as pool:
        return list(pool.map(call, range(len(batches))))


def serve(model, traffic: list, day_seconds: int, bar: Progress) -> tuple[float, list[tuple[list[str], np.ndarray]]]:
    """The service: `model` behind `@heron.monitor`, serving `traffic` one simulated day per window.
    Returns when day 1 started and the (prediction ids, truth) of the calls of labelled days."""
    import heron

    fault = threading.local()  # what goes wrong in this call, set by the worker that makes it

    @heron.monitor(model=MODEL, version=VERSION, task="binary_classification", classes=[0, 1])
    def predict(batch):
        kind = getattr(fault, "kind", "")
        if kind == "fail":
            raise TimeoutError("feature store timed out")
        if kind == "slow":
            time.sleep(SLOW_MS / 1000)
        return model.predict_proba(batch)

    with ThreadPoolExecutor(WORKERS) as pool:  # the service's first calls are slow: not in day 1's numbers
        list(pool.map(model.predict_proba, traffic[0][0][:WORKERS]))
    # Align day 1 with a window boundary, so each simulated day is exactly one window.
    start = (math.floor(time.time() / day_seconds) + 1) * day_seconds
    time.sleep(max(0.0, start - time.time()))
    labels: list[tuple[list[str], np.ndarray]] = []
    for day, (batches, truths) in enumerate(traffic, start=1):
        day_start = start + (day - 1) * day_seconds
        served = serve_day(predict, fault, batches, slow=day in SLOW_DAYS, failing=day == FAIL_DAY,
                           deadline=day_start + day_seconds * 0.8)
        if day <= LABELLED_DAYS:
            labels += [(ids, truth.astype(int)) for ids, truth in zip(served, truths, strict=True) if ids]
        events = ", ".join(faults(day))
        bar.step(f"day {day} of {DAYS}")
        bar.say(f"  day {day}: served {sum(len(ids) for ids in served if ids):,} predictions in "
                f"{sum(1 for ids in served if ids)} calls{f' ({events})' if events else ''}")
        time.sleep(max(0.0, day_start + day_seconds - time.time()))
    return start, labels


def configure(client: Any, day_seconds: int, baseline_from: float | None = None) -> None:
    """The model's windows (one per simulated day) and, once the healthy days are past, its
    baseline period (what `heron config set` does; the demo's windows are shorter than it allows).
    The SLO is the default one (ml_slo_defaults)."""
    baseline = {"b0": None, "b1": None} if baseline_from is None else {
        "b0": _utc(baseline_from), "b1": _utc(baseline_from + BASELINE_DAYS * day_seconds)}
    client.command("INSERT INTO heron.ml_monitor_config (model_name, window_seconds, lookback_seconds, baseline_start, "
                   "baseline_end) VALUES ({m:String}, {w:UInt32}, 86400, {b0:Nullable(DateTime64(6, 'UTC'))}, "
                   "{b1:Nullable(DateTime64(6, 'UTC'))})", parameters={"m": MODEL, "w": day_seconds, **baseline})


def run(data_dir: str, report_path: str, day_seconds: int, calls_per_day: int, rows_per_call: int) -> None:
    import heron

    from . import analytics, status
    from .alerts.channels import channels_from_config
    from .collector import Collector
    from .settings import Settings
    from .webhook_sink import WebhookSink, new_secret

    bar = Progress(total=DAYS + 6)
    bar.say("Training a scikit-learn classifier on 20,000 generated loan applications, while an embedded "
            "collector starts (OTLP → ClickHouse engine in this process) …")
    trainer = ThreadPoolExecutor(1, thread_name_prefix="demo-train")
    training = trainer.submit(train, np.random.default_rng(7))
    trainer.shutdown(wait=False)
    # The demo refreshes the views and evaluates the alerts itself, on its own clock: the collector's
    # schedule is set past the demo's end, whatever HERON_REFRESH_SECONDS / HERON_ALERT_RULES say.
    settings = Settings(otlp_http="127.0.0.1:0", otlp_grpc="127.0.0.1:0", admin="127.0.0.1:0", data_dir=data_dir,
                        clickhouse_url="", batch_seconds=0.2, refresh_seconds=3600, alert_rules="")
    secret = new_secret()
    with Collector(settings) as collector, WebhookSink(secret) as sink:
        client = collector.store.client
        model, x_train, y_train = training.result()
        bar.step("collector ready")
        bar.say(f"  OTLP/HTTP on {collector.http_address}, store {collector.store.url.path}; "
                f"webhook receiver on {sink.url}")
        heron.configure(endpoint=f"http://{collector.http_address}", service_name="credit-scorer",
                        environment="demo")
        heron.register_model(MODEL, VERSION, task="binary_classification", framework="scikit-learn",
                             owner="risk-team", training_data_version="generated-2026-11", positive_class=1)
        heron.log_reference(MODEL, VERSION, x_train, predictions=model.predict(x_train), labels=y_train,
                            scores=model.predict_proba(x_train))
        bar.step("model trained")
        bar.say(f"  training accuracy {model.score(x_train, y_train):.3f}; reference profile + sample uploaded")
        configure(client, day_seconds)
        rng = np.random.default_rng(8)
        start, labels = serve(model, make_traffic(rng, calls_per_day, rows_per_call), day_seconds, bar)

        bar.say(f"Ground truth arrives for 70 % of days 1–{LABELLED_DAYS} (days {LABELLED_DAYS + 1}–{DAYS}: not yet) …")
        for ids, truth in labels:
            keep = rng.random(len(ids)) < 0.7
            heron.log_ground_truth(MODEL, [i for i, k in zip(ids, keep, strict=True) if k], truth[keep])
        heron.flush()
        if not collector.flush(timeout=60):
            raise RuntimeError("the collector could not write everything it received")
        bar.step("labels stored")

        configure(client, day_seconds, baseline_from=start)
        bar.say(f"Refreshing the scheduled views (what `heron refresh --wait` does), days 1–{BASELINE_DAYS} as the "
                "baseline …")
        t = time.perf_counter()
        refreshed = analytics.refresh(client, "heron", wait=True)
        bar.step("views refreshed", 2)
        bar.say(f"  {len(refreshed)} views refreshed in {time.perf_counter() - t:.1f} s")

        bar.say("Evaluating the default alert rules as of the end of each day, then now; notifying the receiver …")
        channels = channels_from_config({SINK: {"type": "webhook", "url": sink.url, "secret": secret}})
        ends = [start + d * day_seconds + 0.5 for d in range(1, DAYS + 1)]
        time.sleep(max(0.0, ends[-1] + day_seconds - time.time()))  # the last hold runs out (keep_firing_for)
        evaluate_alerts(client, demo_rules(day_seconds, SINK), channels,
                        [_utc(t) for t in ends] + [dt.datetime.now(dt.timezone.utc)])
        bar.step("alerts evaluated")
        bar.finish()
        say()

        summary(client, Clock(start, day_seconds), sink.counts())
        say("heron status")
        status.print_status(client, "heron")
        say()
        _write_report(client, report_path)
        counts = client.query("SELECT (SELECT count() FROM heron.ml_predictions), "
                              "(SELECT count() FROM heron.ml_ground_truth), "
                              "(SELECT count() FROM heron.otel_traces)").result_rows[0]
        say(f"Stored: {counts[0]:,} predictions, {counts[1]:,} labels, {counts[2]:,} spans in {data_dir}")
        heron.shutdown()


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heron_collector.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="keep the store and report.html here: a new or empty directory "
                                           f"(default: a temporary directory, removed at the end, and {REPORT} "
                                           "in the current directory)")
    parser.add_argument("--day-seconds", type=int, default=3, help="length of a simulated day (one window)")
    parser.add_argument("--calls-per-day", type=int, default=24)
    parser.add_argument("--rows-per-call", type=int, default=100)
    args = parser.parse_args(argv)
    if args.day_seconds < 1 or args.rows_per_call < 1:
        parser.error("--day-seconds and --rows-per-call must be at least 1")
    if args.calls_per_day < 20:
        parser.error("--calls-per-day must be at least 20 (the SLA rules judge windows of 20 calls or more)")
    if args.data_dir and os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        parser.error(f"--data-dir {args.data_dir} is a file; name a new or empty directory")
    if args.data_dir and os.path.isdir(args.data_dir) and os.listdir(args.data_dir):
        parser.error(f"--data-dir {args.data_dir} is not empty: the demo builds a new store; remove it "
                     "(rm -r) or name another directory")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    began = time.perf_counter()
    if args.data_dir:
        os.makedirs(args.data_dir, exist_ok=True)
        run(args.data_dir, os.path.join(args.data_dir, "report.html"), args.day_seconds, args.calls_per_day,
            args.rows_per_call)
    else:  # the store goes with the temporary directory; the report stays
        with tempfile.TemporaryDirectory(prefix="heron-demo-") as tmp:
            run(tmp, os.path.abspath(REPORT), args.day_seconds, args.calls_per_day, args.rows_per_call)
    say(f"Demo finished in {time.perf_counter() - began:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
