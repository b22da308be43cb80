"""The SDK's rendered records, through OTLP and the collector's row mapping, into the real parse
views: what lands in ml_predictions is what the model saw and said, value for value."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

import heron
from heron_collector.ingest.limits import Limits
from heron_collector.ingest.rows import LOG_COLUMNS, log_rows

COLUMNS = "prediction_id, numeric, categorical, prediction, prediction_value, score, probabilities, batch_rows, " \
          "trace_id, span_id"


def store_sdk_records(telemetry: Any, store: Any) -> None:
    """Every exported log record, encoded as the OTLP exporter sends it, converted as the collector
    converts it, inserted into otel_logs."""
    converted = log_rows(encode_logs(telemetry.raw()), Limits(), time.time_ns())
    assert converted.rejected == 0, converted.error_message
    store.insert("heron.otel_logs", converted.rows, column_names=list(LOG_COLUMNS))


def stored(store: Any, model: str) -> dict[str, tuple[Any, ...]]:
    rows = store.query(f"SELECT {COLUMNS} FROM heron.ml_predictions WHERE model_name = '{model}'").result_rows
    return {r[0]: r[1:] for r in rows}


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


def test_a_1000_row_numpy_batch_arrives_value_for_value(telemetry, store):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1_000, 20)) * 10.0 ** rng.integers(-8, 9, size=(1_000, 20))
    X[rng.random(X.shape) < 0.01] = np.nan
    X[5, 3], X[6, 4] = np.inf, -np.inf
    names = [f"f{j}" for j in range(20)]

    @heron.monitor(model="np", version="1", feature_names=names, classes=["no", "yes"])
    def predict_proba(X: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-np.clip(np.nan_to_num(X[:, 0]), -50.0, 50.0)))
        return np.c_[1.0 - p, p]

    proba = predict_proba(X)
    ids = heron.last_prediction_ids()
    [span] = telemetry.spans()
    store_sdk_records(telemetry, store)
    rows = stored(store, "np")
    assert len(rows) == 1_000 and set(rows) == set(ids)
    for i, pid in enumerate(ids):
        numeric, categorical, prediction, value, score, probabilities, batch_rows, trace, span_id = rows[pid]
        assert numeric.keys() == set(names) and categorical == {}
        assert all(same(numeric[n], float(X[i, j])) for j, n in enumerate(names)), (i, numeric)
        assert prediction == ("yes" if proba[i, 1] > proba[i, 0] else "no") and value is None
        assert score == proba[i, 1] and probabilities == {"no": proba[i, 0], "yes": proba[i, 1]}
        assert batch_rows == 1_000
        assert (trace, span_id) == (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")


def test_a_pandas_batch_arrives_with_missing_non_finite_and_categories(telemetry, store):
    df = pd.DataFrame({
        "age": [31.0, np.nan, np.inf, -np.inf, 0.1],
        "n": pd.array([1, None, 3, 4, 2**53], dtype="Int64"),
        "country": ["DE", None, "FR", "ü", "x"],
        "vip": [True, False, True, False, True],
    })

    @heron.monitor(model="pd", version="1")
    def predict(df: pd.DataFrame) -> np.ndarray:
        return df["age"].to_numpy() * 2.0

    predict(df)
    ids = heron.last_prediction_ids()
    store_sdk_records(telemetry, store)
    rows = stored(store, "pd")
    expected_numeric = [
        {"age": 31.0, "n": 1.0}, {"age": None, "n": None}, {"age": math.inf, "n": 3.0},
        {"age": -math.inf, "n": 4.0}, {"age": 0.1, "n": float(2**53)},
    ]
    expected_categorical = [
        {"country": "DE", "vip": "true"}, {"country": None, "vip": "false"}, {"country": "FR", "vip": "true"},
        {"country": "ü", "vip": "false"}, {"country": "x", "vip": "true"},
    ]
    # a NaN prediction is a value (pandas' NaN-means-missing is for features), stored as NaN
    expected_prediction = [("62", 62.0), ("NaN", math.nan), ("Infinity", math.inf), ("-Infinity", -math.inf),
                           ("0.2", 0.2)]
    assert len(rows) == 5 and set(rows) == set(ids)
    for i, pid in enumerate(ids):
        numeric, categorical, prediction, value, score, probabilities, batch_rows, _, _ = rows[pid]
        assert numeric == expected_numeric[i] and categorical == expected_categorical[i]
        assert (batch_rows, score, probabilities) == (5, None, {})
        assert prediction == expected_prediction[i][0] and same(value, expected_prediction[i][1]), (i, prediction)
