"""/metrics carries each model's newest health values — drift, realised and estimated performance,
p99 latency, error rate, alert states — equal to the views', read once after a refresh (never at
scrape time), with the number of series bounded by HERON_PROMETHEUS_MAX_SERIES.

A real collector on loopback over a real embedded store: data goes into the ML tables and
otel_traces, `POST /admin/refresh` runs the views, and the scrape is parsed by prometheus_client's
own parser."""

from __future__ import annotations

import datetime as dt
import json
import math
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from heron_collector import config
from heron_collector.collector import Collector

from ..analytics._data import SCORED_COLUMNS, day_start, insert_reference
from ..analytics.test_performance import insert_labels, register
from .conftest import local_settings

DB = "heron"
DAY = 86400
CAP = 300
WIDE = [f"x{j:04d}" for j in range(1000)]
SHIFTED = set(WIDE[:40])
SPAN_COLUMNS = ["Timestamp", "TraceId", "SpanId", "SpanName", "SpanKind", "ServiceName", "SpanAttributes",
                "Duration", "StatusCode"]
ONE_VIEW = {"wait": True, "views": ["ml_sla_mv"]}  # a refresh that costs little: the read follows it
ALERT_COLUMNS = ["fingerprint", "rule", "model_name", "model_version", "subject", "severity", "state", "since", "at"]


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    """One collector for the module; its views refresh only when a test asks (every 30 days otherwise)."""
    settings = local_settings(tmp_path_factory.mktemp("prometheus"), refresh_seconds=30 * DAY,
                              prometheus_max_series=CAP)
    with Collector(settings) as running:
        yield running


@pytest.fixture(scope="module")
def filled(collector):
    """Both models' data, then one refresh through the admin endpoint (the views' work is the cost)."""
    _fill_churn(collector.store.client)
    _fill_wide(collector.store.client)
    before = scrape(collector)
    assert before["heron_model_health_series"][()] == 0, "nothing is read before the refresh"
    admin(collector, "/admin/refresh", {"wait": True})
    return collector


def admin(collector, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"http://{collector.admin_address}{path}", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=300) as reply:
        return json.loads(reply.read())


def scrape(collector) -> dict[str, dict[tuple, float]]:
    """GET /metrics parsed by prometheus_client: metric family → {sorted label items: value}."""
    with urllib.request.urlopen(f"http://{collector.http_address}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def rows(client, sql: str, **parameters) -> list[dict]:
    result = client.query(sql, parameters=parameters)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def newest(records: list[dict], *key: str) -> list[dict]:
    """The record with the latest window_start for each value of `key`."""
    best: dict[tuple, dict] = {}
    for record in records:
        k = tuple(record[name] for name in key)
        if k not in best or record["window_start"] > best[k]["window_start"]:
            best[k] = record
    return list(best.values())


def labels(**items: str) -> tuple:
    return tuple(sorted(items.items()))


def _fill_churn(store) -> None:
    """Yesterday's window of a binary classifier: f0 shifted against its reference, f1 not; labels,
    calibrated-ish scores, spans with errors, and alert transitions."""
    rng = np.random.default_rng(14)
    register(store, "churn", "v1", "binary_classification", positive_class="yes")
    config.set_values(store, DB, "churn", {"window_seconds": str(DAY), "lookback_seconds": str(3 * DAY)})
    insert_reference(store, "churn", "v1", {"f0": rng.normal(0, 1, 1_000).tolist(),
                                            "f1": rng.normal(0, 1, 1_000).tolist()})
    start, n = day_start(1), 400
    f0, f1 = rng.normal(1.5, 1, n), rng.normal(0, 1, n)
    score = 1 / (1 + np.exp(-f1 * 2))
    label = rng.random(n) < score
    predictions, truths = [], []
    for i in range(n):
        ts = start + dt.timedelta(seconds=i * 60)
        predictions.append(["churn", "v1", ts, f"c{i}", "yes" if score[i] > 0.5 else "no", None, float(score[i]), {},
                            {"f0": float(f0[i]), "f1": float(f1[i])}])
        truths.append((f"c{i}", "yes" if label[i] else "no", None, ts + dt.timedelta(minutes=5)))
    store.insert(f"{DB}.ml_predictions", predictions, column_names=[*SCORED_COLUMNS, "numeric"])
    insert_labels(store, "churn", truths)
    spans = []
    for i in range(200):
        attrs = {"ml.model.name": "churn", "ml.model.version": "v1", "heron.rows": "1"}
        spans.append([start + dt.timedelta(seconds=i * 300), "ab" * 16, f"{i:016x}", "heron.predict", "Internal", "svc",
                      attrs, int(rng.gamma(2.0, 10.0) * 1e6), "Error" if i % 25 == 0 else "Unset"])
    store.insert(f"{DB}.otel_traces", spans, column_names=SPAN_COLUMNS)
    t0 = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    alerts = [  # (fingerprint, rule, subject, [states oldest first])
        ("fp-a", "feature_drift", "f0", ["pending", "firing"]),
        ("fp-b", "feature_drift", "f1", ["pending", "firing", "recovering"]),
        ("fp-c", "feature_drift", "f2", ["firing", "recovering", "resolved"]),
        ("fp-d", "sla_error_rate", "", ["pending"]),
    ]
    store.insert(f"{DB}.ml_alerts", [[fp, rule, "churn", "v1", subject, "warning", state, t0,
                                      t0 + dt.timedelta(minutes=k)]
                                     for fp, rule, subject, states in alerts for k, state in enumerate(states)],
                 column_names=ALERT_COLUMNS)


def _fill_wide(store) -> None:
    """A model of 1,000 features, the first 40 shifted against their reference."""
    rng = np.random.default_rng(1000)
    config.set_values(store, DB, "wide", {"window_seconds": str(DAY), "lookback_seconds": str(3 * DAY)})
    insert_reference(store, "wide", "v1", {f: rng.normal(0, 1, 200).tolist() for f in WIDE})
    start = day_start(1)
    values = rng.normal(0, 1, (60, len(WIDE)))
    predictions = [["wide", "v1", start + dt.timedelta(seconds=i * 600), f"w{i}", "no", None, None, {},
                    {f: float(values[i, j]) + (4.0 if f in SHIFTED else 0.0) for j, f in enumerate(WIDE)}]
                   for i in range(len(values))]
    store.insert(f"{DB}.ml_predictions", predictions, column_names=[*SCORED_COLUMNS, "numeric"])


def test_metrics_carry_the_views_newest_values_per_model_and_version(filled):
    collector = filled
    store = collector.store.client
    metrics = scrape(collector)

    summary = newest(rows(store, f"SELECT * FROM {DB}.ml_drift_summary WHERE model_name = 'churn' "
                                 "AND n_features > 0"), "model_version")
    assert len(summary) == 1 and summary[0]["n_drifted"] == 1, summary  # f0 drifted, f1 did not
    window = summary[0]["window_start"]
    assert metrics["heron_model_drift_share"][labels(model="churn", version="v1")] == summary[0]["drift_share"]
    assert metrics["heron_model_drifted_features"][labels(model="churn", version="v1")] == 1
    verdicts = rows(store, f"SELECT feature, method, drifted FROM {DB}.ml_drift FINAL WHERE model_name = 'churn' "
                           "AND is_primary = 1 AND role = 'feature' AND window_start = {w:DateTime('UTC')}", w=window)
    assert {(v["feature"], v["drifted"]) for v in verdicts} == {("f0", 1), ("f1", 0)}
    assert {k: v for k, v in metrics["heron_model_feature_drifted"].items() if ("model", "churn") in k} == {
        labels(model="churn", version="v1", feature=v["feature"], method=v["method"]): v["drifted"] for v in verdicts}

    for table, name in (("ml_performance", "heron_model_performance"),
                        ("ml_performance_estimated", "heron_model_performance_estimated")):
        expected = newest(rows(store, f"SELECT metric, window_start, value FROM {DB}.{table} FINAL WHERE "
                                      "model_name = 'churn' AND segment_key = '' AND value IS NOT NULL"), "metric")
        expected = {labels(model="churn", version="v1", metric=r["metric"]): r["value"] for r in expected
                    if math.isfinite(r["value"])}
        assert {"accuracy", "roc_auc"} <= {dict(k)["metric"] for k in expected}, expected
        got = {k: v for k, v in metrics[name].items() if ("model", "churn") in k}
        assert got.keys() == expected.keys()
        assert all(math.isclose(got[k], expected[k], rel_tol=1e-12) for k in expected), (got, expected)

    sla = newest(rows(store, f"SELECT model_version, window_start, latency_p99_ms, error_rate FROM {DB}.ml_sla FINAL "
                             "WHERE model_name = 'churn' AND calls > 0"), "model_version")
    assert {r["model_version"] for r in sla} == {"v1", "*"}
    for r in sla:
        key = labels(model="churn", version=r["model_version"])
        assert math.isclose(metrics["heron_model_latency_p99_seconds"][key], r["latency_p99_ms"] / 1000, rel_tol=1e-12)
        assert metrics["heron_model_error_ratio"][key] == r["error_rate"] == 8 / 200

    alerts = {(dict(k)["rule"], dict(k)["state"]): v for k, v in metrics["heron_model_alerts"].items()
              if ("model", "churn") in k}
    # fp-a firing, fp-b recovering (still firing), fp-c resolved; fp-d pending
    assert alerts == {("feature_drift", "firing"): 2, ("feature_drift", "pending"): 0,
                      ("sla_error_rate", "firing"): 0, ("sla_error_rate", "pending"): 1}
    assert metrics["heron_model_health_read_ok"][()] == 1
    assert 0 <= metrics["heron_model_health_age_seconds"][()] < 60


def test_a_failing_read_keeps_the_last_values_and_says_how_old_they_are(filled):
    collector = filled
    store = collector.store.client
    kept = scrape(collector)["heron_model_drift_share"]
    store.command(f"RENAME TABLE {DB}.ml_model_health TO {DB}.ml_model_health_away")
    try:
        admin(collector, "/admin/refresh", ONE_VIEW)  # the read after it fails
        metrics = scrape(collector)
        assert metrics["heron_model_drift_share"] == kept
        assert metrics["heron_model_health_read_ok"][()] == 0
        assert metrics["heron_model_health_read_failures_total"][()] >= 1
        with urllib.request.urlopen(f"http://{collector.http_address}/healthz", timeout=10) as reply:
            assert "ml_model_health" in json.loads(reply.read())["model_health_error"]
    finally:
        store.command(f"RENAME TABLE {DB}.ml_model_health_away TO {DB}.ml_model_health")
    admin(collector, "/admin/refresh", ONE_VIEW)
    assert scrape(collector)["heron_model_health_read_ok"][()] == 1


def test_a_thousand_features_stay_under_the_series_cap(filled):
    collector = filled
    store = collector.store.client
    metrics = scrape(collector)
    total = store.command(f"SELECT count() FROM {DB}.ml_model_health")
    health = {name: series for name, series in metrics.items() if name.startswith("heron_model_")
              and not name.startswith("heron_model_health_")}
    exposed = sum(len(series) for series in health.values())
    assert total > CAP + 500, "1,000 feature verdicts must exceed the cap"
    assert exposed == metrics["heron_model_health_series"][()] == CAP
    assert metrics["heron_model_health_series_dropped"][()] == total - CAP
    assert metrics["heron_model_health_max_series"][()] == CAP
    # model-level figures are kept whole; among features the drifted ones come first
    assert metrics["heron_model_drifted_features"][labels(model="wide", version="v1")] == len(SHIFTED)
    wide = {dict(k)["feature"]: v for k, v in health["heron_model_feature_drifted"].items() if ("model", "wide") in k}
    assert {f for f, v in wide.items() if v == 1} == SHIFTED
    assert 0 < len(wide) < len(WIDE)
