"""The parse views turn wire-format v1 records (docs/wire-format.md) into ml_* rows.

Records go straight into otel_logs, as either collector would write them; the assertions are
the contract the SDK and the analytics rely on.
"""

from __future__ import annotations

import json
import math

import pytest

from heron_collector.ingest.rows import LOG_COLUMNS


@pytest.fixture
def store(shared_store):
    """One migrated store for the module, emptied before each test (tests/conftest.py)."""
    return shared_store


T0 = 1_732_252_800_000_000_000  # 2024-11-22 05:20:00 UTC, in ns


def record(event: str, body: dict, layout: str | None = "row", event_attribute: bool = False, **attrs: str):
    attributes = {"ml.model.name": "m", "ml.model.version": "1", "heron.schema.version": "1", **attrs}
    if layout:
        attributes["heron.layout"] = layout
    if event_attribute:
        attributes["event.name"] = event
    return [T0, "ab" * 16, "cd" * 8, 1, "INFO", 9, "svc", json.dumps(body), "",
            {"deployment.environment.name": "prod"}, "", "heron", "0.1.0", {}, attributes,
            "" if event_attribute else event]


def insert(store, *records):
    store.insert("heron.otel_logs", list(records), column_names=list(LOG_COLUMNS))


PREDICTION_COLUMNS = ("prediction_id, toUnixTimestamp64Micro(timestamp), numeric, categorical, prediction, "
                      "prediction_value, score, probabilities, tags, latency_ms, batch_rows, trace_id, environment")


def predictions(store, where: str = "1"):
    return store.query(f"SELECT {PREDICTION_COLUMNS} FROM heron.ml_predictions WHERE {where} "
                       f"ORDER BY prediction_id").result_rows


def test_one_prediction_keeps_types_missing_and_non_finite_values(store):
    insert(store, record("heron.prediction", {
        "id": "p1", "numeric": {"age": 42, "income": None, "ratio": "NaN", "up": "Infinity", "down": "-Infinity"},
        "categorical": {"country": "DE", "vip": True, "plan": None, "zip": 10115},
        "prediction": 1.0, "score": 0.93, "probabilities": {"0": 0.07, "1": 0.93},
        "tags": {"segment": "eu"}, "latency_ms": 3.5,
    }))
    [row] = predictions(store)
    pid, ts, numeric, categorical, prediction, value, score, probabilities, tags, latency, rows, trace, env = row
    assert pid == "p1" and ts == T0 // 1000
    assert numeric["age"] == 42.0 and numeric["income"] is None and math.isnan(numeric["ratio"])
    assert numeric["up"] == math.inf and numeric["down"] == -math.inf
    assert categorical == {"country": "DE", "vip": "true", "plan": None, "zip": "10115"}
    assert (prediction, value, score) == ("1", 1.0, 0.93)
    assert (probabilities, tags, latency, rows) == ({"0": 0.07, "1": 0.93}, {"segment": "eu"}, 3.5, 1)
    assert (trace, env) == ("ab" * 16, "prod")


def test_columnar_batch_explodes_into_rows_with_per_row_timestamps(store):
    insert(store, record("heron.prediction", {
        "id": ["a", "b", "c"],
        "numeric": {"x": [1.5, None, "NaN"], "y": [1, 2, 3]},
        "categorical": {"c": ["u", None, "w"]},
        "prediction": ["yes", "no", "yes"], "score": [0.9, 0.1, None],
        "probabilities": {"yes": [0.9, 0.1, 0.5], "no": [0.1, 0.9, 0.5]},
        "tags": {"route": "champion"}, "latency_ms": 12.0, "ts": [1732252800.25, 1732252801.5, 1732252802],
    }, layout="columnar", **{"heron.rows": "3"}))
    rows = predictions(store)
    assert [r[0] for r in rows] == ["a", "b", "c"]
    assert [r[1] for r in rows] == [1732252800250000, 1732252801500000, 1732252802000000]
    assert rows[0][2] == {"x": 1.5, "y": 1.0} and rows[1][2] == {"x": None, "y": 2.0}
    assert math.isnan(rows[2][2]["x"])
    assert [r[3] for r in rows] == [{"c": "u"}, {"c": None}, {"c": "w"}]
    assert [(r[4], r[5], r[6]) for r in rows] == [("yes", None, 0.9), ("no", None, 0.1), ("yes", None, None)]
    assert rows[1][7] == {"yes": 0.1, "no": 0.9}
    assert all(r[8] == {"route": "champion"} and r[9] == 12.0 and r[10] == 3 for r in rows)


def test_coalesced_single_predictions_keep_their_own_latency_trace_and_span(store):
    insert(store, record("heron.prediction", {
        "id": ["a", "b"], "numeric": {"x": [1, 2]}, "prediction": [0, 1],
        "latency_ms": [0.5, 7.25], "ts": [1732252800.25, 1732252801.5],
        "trace_id": ["11" * 16, "22" * 16], "span_id": ["33" * 8, "44" * 8],
    }, layout="columnar", **{"heron.rows": "2"}))
    rows = store.query("SELECT prediction_id, latency_ms, trace_id, span_id, toUnixTimestamp64Micro(timestamp) "
                       "FROM heron.ml_predictions ORDER BY prediction_id").result_rows
    assert rows == [("a", 0.5, "11" * 16, "33" * 8, 1732252800250000),
                    ("b", 7.25, "22" * 16, "44" * 8, 1732252801500000)]


def test_many_batches_in_one_insert_keep_their_rows_apart(store):
    batches = [record("heron.prediction", {"id": [f"{b}-{i}" for i in range(200)],
                                           "numeric": {"batch": [b] * 200, "i": list(range(200))}},
                      layout="columnar") for b in range(20)]
    insert(store, *batches)
    assert store.query("SELECT count(), uniqExact(prediction_id), "
                       "countIf(toString(toUInt32(numeric['batch'])) || '-' || toString(toUInt32(numeric['i'])) "
                       "= prediction_id) FROM heron.ml_predictions").result_rows == [(4000, 4000, 4000)]


def test_deprecated_event_name_attribute_is_accepted(store):
    insert(store, record("heron.prediction", {"id": "old", "prediction": 0}, event_attribute=True))
    assert [r[0] for r in predictions(store)] == ["old"]


def test_ground_truth_row_and_columnar(store):
    insert(store,
           record("heron.ground_truth", {"id": "p1", "label": 1.0}),
           record("heron.ground_truth", {"id": ["a", "b"], "label": ["cat", None], "ts": [1732339200, 1732339201]},
                  layout="columnar"))
    rows = store.query("SELECT prediction_id, label, label_value, toUnixTimestamp(timestamp) "
                       "FROM heron.ml_ground_truth ORDER BY prediction_id").result_rows
    assert rows == [("a", "cat", None, 1732339200), ("b", None, None, 1732339201), ("p1", "1", 1.0, T0 // 10**9)]


def test_a_ts_no_datetime_holds_is_stored_as_the_epoch_and_breaks_no_insert(store):
    """`ts` as the official exporter passes it on, unchecked: a number DateTime64 holds is kept
    (2200 too), NaN / ±Inf / 1e30 become 0 (the analytics count them as implausible), null takes
    the record's time; the valid rows of the same insert are stored."""
    stamps = ["NaN", "Infinity", 1e30, -1e30, 7258118400, None, 1732252801.5]
    insert(store,
           *[record("heron.prediction", {"id": f"r{i}", "ts": ts}) for i, ts in enumerate(stamps)],
           record("heron.prediction", {"id": [f"c{i}" for i in range(len(stamps))], "ts": stamps},
                  layout="columnar"),
           record("heron.ground_truth", {"id": [f"g{i}" for i in range(len(stamps))], "label": [1] * len(stamps),
                                         "ts": stamps}, layout="columnar"))
    expected = [0, 0, 0, 0, 7258118400 * 10**6, T0 // 1000, 1732252801500000]
    got = {pid: ts for pid, ts, *_ in predictions(store)}
    assert [got[f"r{i}"] for i in range(len(stamps))] == expected
    assert [got[f"c{i}"] for i in range(len(stamps))] == expected
    labels = dict(store.query("SELECT prediction_id, toUnixTimestamp64Micro(timestamp) FROM heron.ml_ground_truth")
                  .result_rows)
    assert [labels[f"g{i}"] for i in range(len(stamps))] == expected


def test_reference_sample_rows_are_numbered_across_chunks(store):
    attrs = {"heron.reference.kind": "sample", "heron.reference.id": "r1"}
    insert(store,
           record("heron.reference", {"offset": 0, "numeric": {"x": [1, 2]}, "prediction": [0, 1], "label": [0, 0]},
                  layout="columnar", **attrs),
           record("heron.reference", {"offset": 2, "numeric": {"x": [3]}, "categorical": {"c": ["k"]},
                                      "prediction": [1], "label": [1]}, layout="columnar", **attrs))
    rows = store.query("SELECT reference_id, row_index, numeric, categorical, prediction, label, label_value "
                       "FROM heron.ml_reference ORDER BY row_index").result_rows
    assert rows == [("r1", 0, {"x": 1.0}, {}, "0", "0", 0.0), ("r1", 1, {"x": 2.0}, {}, "1", "0", 0.0),
                    ("r1", 2, {"x": 3.0}, {"c": "k"}, "1", "1", 1.0)]


def test_reference_profile_one_row_per_feature(store):
    insert(store, record("heron.reference", {
        "numeric": {"age": {"count": 10, "missing": 1, "nan": 2, "edges": [20.0, 40.0], "counts": [1, 3, 3],
                            "min": 18.0, "max": 70.0, "mean": 39.5, "std": 12.25}},
        "categorical": {"country": {"count": 10, "missing": 0, "frequencies": {"DE": 6, "FR": 4}}},
        "label": {"kind": "categorical", "count": 10, "missing": 0, "frequencies": {"0": 7, "1": 3}},
    }, layout=None, **{"heron.reference.kind": "profile", "heron.reference.id": "r9"}))
    rows = store.query("SELECT feature, kind, count, missing, non_finite, edges, counts, categories, "
                       "min, max, mean, std FROM heron.ml_reference_profile ORDER BY feature").result_rows
    assert rows == [
        ("age", "numeric", 10, 1, 2, [20.0, 40.0], [1, 3, 3], {}, 18.0, 70.0, 39.5, 12.25),
        ("country", "categorical", 10, 0, 0, [], [], {"DE": 6, "FR": 4}, None, None, None, None),
        ("label", "label", 10, 0, 0, [], [], {"0": 7, "1": 3}, None, None, None, None),
    ]


def test_model_registration(store):
    insert(store, record("heron.model", {
        "task": "binary_classification", "positive_class": 1, "framework": "scikit-learn", "owner": "risk",
        "training_data_version": "2026-11-01", "params": {"depth": 8}, "tags": {"team": "risk"},
        "libraries": {"numpy": "2.4"}, "git_sha": "4f1c2e9",
    }, layout=None))
    rows = store.query("SELECT model_name, model_version, task, positive_class, framework, owner, "
                       "training_data_version, params, tags, libraries, git_sha FROM heron.ml_models FINAL").result_rows
    assert rows == [("m", "1", "binary_classification", "1", "scikit-learn", "risk", "2026-11-01", '{"depth":8}',
                     {"team": "risk"}, {"numpy": "2.4"}, "4f1c2e9")]


@pytest.mark.parametrize("event", ["heron.prediction", "heron.ground_truth"])
def test_other_events_do_not_leak_into_the_table(store, event):
    insert(store, record("app.log", {"id": "x", "prediction": 1, "label": 1}))
    table = "ml_predictions" if event == "heron.prediction" else "ml_ground_truth"
    assert store.query(f"SELECT count() FROM heron.{table}").result_rows == [(0,)]
