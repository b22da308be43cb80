"""Multivariate drift by PCA reconstruction error (queries/views/14_drift_multivariate.sql).

The reference goes through the real SDK: ``heron.log_reference`` fits the PCA (heron/_pca.py),
the OpenTelemetry log exporter's records are encoded as OTLP, converted as the collector converts
them (its validation included) and inserted into otel_logs, so the parse view stores the SDK's
own fit. Predictions go straight into ml_predictions. Checked: (a) the fit is scikit-learn's
StandardScaler + PCA(n_components=0.65) and the view's per-window error is numpy's on the same
rows, missing values included, to 1e-9; (b) a correlation that flips while both marginals stay
put is invisible to every univariate test and flagged by the multivariate view, and an
undrifted window is not.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from scipy import stats

import heron
from heron_collector.analytics import refresh
from heron_collector.ingest.limits import Limits
from heron_collector.ingest.rows import LOG_COLUMNS, log_rows

from ..conftest import reset_sdk
from ._data import drift_rows, hour_start, insert_predictions

VIEW = "ml_drift_multivariate_mv"



def _upload(store: Any, logs: InMemoryLogRecordExporter) -> None:
    """The SDK's exported records, as the OTLP exporter encodes and the collector stores them."""
    assert heron.flush(timeout_s=30)
    converted = log_rows(encode_logs(logs.get_finished_logs()), Limits(), time.time_ns())
    assert converted.rejected == 0, converted.error_message
    store.insert("heron.otel_logs", converted.rows, column_names=list(LOG_COLUMNS))


def _fit(store: Any, model: str) -> dict[str, Any]:
    result = store.query("SELECT * FROM heron.ml_reference_pca FINAL WHERE model_name = {m:String}",
                         parameters={"m": model})
    [row] = result.result_rows
    return dict(zip(result.column_names, row, strict=True))


def _rows(store: Any, model: str) -> dict[dt.datetime, dict[str, Any]]:
    result = store.query("SELECT * FROM heron.ml_drift_multivariate FINAL WHERE model_name = {m:String}",
                         parameters={"m": model})
    out = {}
    for row in result.result_rows:
        rec = dict(zip(result.column_names, row, strict=True))
        out[rec["window_start"].replace(tzinfo=None)] = rec
    return out


def _window_error(store: Any, model: str, start: dt.datetime, fit: dict[str, Any]) -> tuple[float, int, int]:
    """numpy on the window's stored rows: (mean reconstruction error, rows, imputed values)."""
    names = fit["features"]
    result = store.query(
        "SELECT numeric FROM heron.ml_predictions WHERE model_name = {m:String} AND timestamp >= {s:DateTime64(6)} "
        "AND timestamp < {s:DateTime64(6)} + INTERVAL 1 HOUR", parameters={"m": model, "s": start})
    x = np.array([[np.nan if r[0].get(f) is None else r[0][f] for f in names] for r in result.result_rows])
    missing = ~np.isfinite(x)
    z = np.where(missing, 0.0, (np.where(missing, 0.0, x) - fit["mean"]) / np.asarray(fit["std"]))
    w = np.asarray(fit["components"])
    residual = z @ (np.eye(len(names)) - w.T @ w)  # z minus its projection onto the kept axes
    return float(np.linalg.norm(residual, axis=1).mean()), len(x), int(missing.sum())


def _correlated(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    f1, f2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    return {"a": f1 + 0.3 * rng.normal(size=n), "b": 2 * f1 + 0.4 * rng.normal(size=n) + 5,
            "c": f2 + 0.5 * rng.normal(size=n), "d": -10 * f2 + 3 * rng.normal(size=n)}


def test_sdk_fit_is_sklearns_and_window_errors_match_numpy(sdk_logs, store):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(21)
    ref = _correlated(rng, 4000)
    heron.log_reference("mv", "v1", {**ref, "city": rng.choice(["x", "y"], 4000).tolist()})
    _upload(store, sdk_logs)
    fit = _fit(store, "mv")
    assert fit["features"] == ["a", "b", "c", "d"] and fit["rows"] == 4000
    assert (fit["chunks"], fit["chunk_size"], fit["variance_share"]) == (10, 400, 0.65)

    x = np.column_stack([ref[f] for f in fit["features"]])
    scaled = StandardScaler().fit(x)
    pca = PCA(n_components=0.65, svd_solver="full").fit(scaled.transform(x))
    w = np.asarray(fit["components"])
    assert len(w) == pca.n_components_ == 2  # two pairs of correlated features: two components
    np.testing.assert_allclose(fit["mean"], scaled.mean_, rtol=1e-12)
    np.testing.assert_allclose(fit["std"], scaled.scale_, rtol=1e-12)
    np.testing.assert_allclose(w.T @ w, pca.components_.T @ pca.components_, atol=1e-9)  # same subspace
    np.testing.assert_allclose(fit["explained_variance_ratio"], pca.explained_variance_ratio_, atol=1e-9)
    per_row = np.linalg.norm(scaled.transform(x) - pca.inverse_transform(pca.transform(scaled.transform(x))), axis=1)
    chunks = per_row.reshape(10, 400).mean(axis=1)
    assert fit["error_mean"] == pytest.approx(chunks.mean(), abs=1e-9)
    assert fit["error_std"] == pytest.approx(chunks.std(ddof=1), abs=1e-9)

    # two windows; the second shifted, with absent, NULL, NaN and ±Inf values (imputed by the mean)
    w1, w2 = hour_start(5), hour_start(3)
    cur1 = _correlated(rng, 500)
    insert_predictions(store, "mv", "v1", w1, cur1, id_prefix="a")
    cur2 = _correlated(rng, 400)
    cur2["a"] = [None if i % 7 == 0 else v + 1 for i, v in enumerate(cur2["a"])]
    cur2["d"] = [[np.nan, np.inf, -np.inf][i % 3] if i % 11 == 0 else v for i, v in enumerate(cur2["d"])]
    insert_predictions(store, "mv", "v1", w2, cur2, id_prefix="b")
    insert_predictions(store, "mv", "v1", w2 + dt.timedelta(minutes=30),
                       {k: v for k, v in _correlated(rng, 60).items() if k != "c"}, id_prefix="no_c")
    refresh(store, "heron", views=[VIEW])
    rows = _rows(store, "mv")
    assert set(rows) == {w1, w2}
    for window in (w1, w2):
        error, n, imputed = _window_error(store, "mv", window, fit)
        row = rows[window]
        assert row["reconstruction_error"] == pytest.approx(error, abs=1e-9)
        assert (row["n_current"], row["imputed_values"]) == (n, imputed)
        assert (row["n_features"], row["n_components"], row["k"]) == (4, len(w), 3.0)
        half = 3.0 * fit["error_std"] * np.sqrt(fit["chunk_size"] / n)
        assert row["upper_threshold"] == pytest.approx(fit["error_mean"] + half, rel=1e-12)
        assert row["lower_threshold"] == pytest.approx(max(fit["error_mean"] - half, 0.0), rel=1e-12)
    assert rows[w2]["imputed_values"] == 58 + 37 + 60  # every 7th a, every 11th d, the rows without c
    assert rows[w1]["drifted"] == 0 and rows[w2]["drifted"] == 1
    # the preview is what the refresh wrote
    preview = store.query("SELECT window_start, reconstruction_error FROM heron.ml_drift_multivariate_compute("
                          "as_of = now(), since_view = '') WHERE model_name = 'mv'").result_rows
    assert {s.replace(tzinfo=None): pytest.approx(e, abs=1e-12) for s, e in preview} == {
        s: r["reconstruction_error"] for s, r in rows.items()}


def _flip(rng: np.random.Generator, n: int, sign: float) -> dict[str, np.ndarray]:
    """x1 ~ N(0, 1), x2 = sign·x1 + noise: the same marginals either way, opposite correlation."""
    x1 = rng.normal(0, 1, n)
    return {"x1": x1, "x2": sign * x1 + 0.5 * rng.normal(size=n)}


def test_a_flipped_correlation_is_found_by_the_multivariate_view_only(sdk_logs, store):
    rng = np.random.default_rng(5)
    ref = _flip(rng, 5000, 1.0)
    heron.log_reference("flip", "v1", ref)
    _upload(store, sdk_logs)
    same, flipped = hour_start(4), hour_start(2)
    cur_same, cur_flip = _flip(rng, 600, 1.0), _flip(rng, 600, -1.0)
    insert_predictions(store, "flip", "v1", same, cur_same, id_prefix="s")
    insert_predictions(store, "flip", "v1", flipped, cur_flip, id_prefix="f")
    refresh(store, "heron")  # every view: the univariate drift as well

    univariate = drift_rows(store, "flip")
    for window, cur in ((same, cur_same), (flipped, cur_flip)):
        for feature in ("x1", "x2"):
            assert stats.ks_2samp(ref[feature], cur[feature]).pvalue > 0.05, (window, feature)
            ks = univariate[(window, feature, "ks")]
            assert ks["is_primary"] == 1 and ks["drifted"] == 0, (window, feature, ks)
            drifted = [m for (w, f, m), r in univariate.items() if (w, f) == (window, feature) and r["drifted"]]
            assert drifted == [], (window, feature, drifted)

    rows = _rows(store, "flip")
    assert rows[same]["drifted"] == 0
    assert rows[same]["lower_threshold"] <= rows[same]["reconstruction_error"] <= rows[same]["upper_threshold"]
    assert rows[flipped]["drifted"] == 1
    assert rows[flipped]["reconstruction_error"] > 3 * rows[flipped]["upper_threshold"]
    assert rows[flipped]["n_components"] == 1


def test_the_band_k_comes_from_ml_drift_config(sdk_logs, store):
    rng = np.random.default_rng(9)
    heron.log_reference("k", "v1", _flip(rng, 1000, 1.0))
    _upload(store, sdk_logs)
    insert_predictions(store, "k", "v1", hour_start(1), _flip(rng, 300, 1.0))
    store.command("INSERT INTO heron.ml_drift_config (model_name, feature_type, feature, method, threshold) "
                  "VALUES ('*', 'multivariate', '*', 'pca_reconstruction', 4), "
                  "('k', 'multivariate', '*', 'pca_reconstruction', 1000)")
    refresh(store, "heron", views=[VIEW, "ml_reference_bins_mv", "ml_drift_ks_exact_mv", "ml_drift_mv"])
    [row] = _rows(store, "k").values()
    fit = _fit(store, "k")
    assert row["k"] == 1000.0
    assert row["upper_threshold"] == pytest.approx(
        fit["error_mean"] + 1000 * fit["error_std"] * np.sqrt(fit["chunk_size"] / 300), rel=1e-12)
    # the univariate verdicts ignore the multivariate row
    assert {r["method"] for r in drift_rows(store, "k").values() if r["is_primary"]} == {"ks"}


def test_no_fit_without_two_numeric_features_or_the_profile_and_redacted_ones_are_left_out():
    reset_sdk()
    out = InMemoryLogRecordExporter()
    heron.configure(span_exporter=InMemorySpanExporter(), log_exporter=out, metric_reader=InMemoryMetricReader(),
                    redact_features=["secret"])
    try:
        rng = np.random.default_rng(1)
        heron.log_reference("one", "v1", {"a": rng.normal(size=200), "city": ["x", "y"] * 100})
        heron.log_reference("redacted", "v1", {"a": rng.normal(size=200), "secret": rng.normal(size=200)})
        heron.log_reference("two", "v1", {"a": rng.normal(size=200), "secret": rng.normal(size=200),
                                          "b": [None] * 200, "c": rng.normal(size=200)})
        heron.log_reference("sample_only", "v1", {"a": rng.normal(size=200), "c": rng.normal(size=200)},
                            profile_data=False)
        assert heron.flush(timeout_s=30)
        kinds = {(r.log_record.attributes["ml.model.name"], r.log_record.attributes["heron.reference.kind"]): r
                 for r in out.get_finished_logs()}
    finally:
        reset_sdk()
    assert {m for m, kind in kinds if kind == "sample"} == {"one", "redacted", "two", "sample_only"}
    assert {m for m, kind in kinds if kind == "profile"} == {"one", "redacted", "two"}
    assert {m for m, kind in kinds if kind == "pca"} == {"two"}
    body = json.loads(kinds[("two", "pca")].log_record.body)
    assert body["features"] == ["a", "c"]  # redacted and all-missing features are not fitted
