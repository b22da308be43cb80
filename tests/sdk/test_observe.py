"""heron.observe, ground truth, reference baselines and the model registry."""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np
import pandas as pd
import pytest

import heron


def test_observe_records_features_prediction_and_tags(telemetry):
    with heron.observe(model="churn", version="3") as obs:
        obs.features({"age": 42}, plan="pro")
        obs.prediction(1, score=0.93)
        obs.tag(segment="eu")
    [body] = telemetry.bodies()
    assert body["id"] == obs.id
    assert body["numeric"] == {"age": 42} and body["categorical"] == {"plan": "pro"}
    assert (body["prediction"], body["score"], body["tags"]) == (1, 0.93, {"segment": "eu"})
    [span] = telemetry.spans()
    assert telemetry.records()[0].span_id == span.context.span_id


def test_async_with_observe(telemetry):
    async def handler() -> str:
        async with heron.observe(model="m", version="1") as obs:
            obs.features(x=1.0)
            obs.prediction("ok")
        return obs.id

    prediction_id = asyncio.run(handler())
    assert telemetry.bodies()[0]["id"] == prediction_id


def test_backfilled_batches_carry_their_own_timestamps_and_no_span(telemetry):
    when = [dt.datetime(2024, 11, 22, tzinfo=dt.timezone.utc), dt.datetime(2024, 11, 23, tzinfo=dt.timezone.utc)]
    with heron.observe(model="m", version="1", timestamp=when, ids=["a", "b"]) as obs:
        obs.features(pd.DataFrame({"x": [1.0, 2.0]}))
        obs.prediction(np.array([0, 1]))
    [body] = telemetry.bodies()
    assert body["ts"] == [1732233600.0, 1732320000.0] and body["id"] == ["a", "b"]
    assert "latency_ms" not in body
    assert telemetry.records()[0].timestamp == 1732233600 * 10**9
    assert telemetry.spans() == []


def test_ground_truth_single_and_batch(telemetry):
    heron.log_ground_truth(model="churn", ids="p1", labels=1)
    heron.log_ground_truth(model="churn", ids=np.array(["p2", "p3"]), labels=pd.Series([0, 1]), version="3")
    one, batch = telemetry.records("heron.ground_truth")
    assert one.body == '{"id":"p1","label":1}' and one.attributes["heron.layout"] == "row"
    assert "ml.model.version" not in one.attributes
    assert batch.attributes["heron.layout"] == "columnar" and batch.attributes["ml.model.version"] == "3"
    assert telemetry.bodies("heron.ground_truth")[1] == {"id": ["p2", "p3"], "label": [0, 1]}


def test_ground_truth_arguments_are_checked():
    with pytest.raises(ValueError, match="2 ids but 1 labels"):
        heron.log_ground_truth(model="m", ids=["a", "b"], labels=[1])


def test_reference_is_a_bounded_sample_plus_a_profile_of_every_row(telemetry):
    rng = np.random.default_rng(1)
    n = 50_000
    train = pd.DataFrame({"age": rng.normal(40, 10, n), "country": rng.choice(["DE", "FR", "US"], n)})
    labels = rng.integers(0, 2, n)
    ref_id = heron.log_reference(model="churn", version="3", features=train, labels=labels, sample_rows=100)
    sample, profile = telemetry.records("heron.reference")
    assert sample.attributes["heron.reference.kind"] == "sample"
    assert profile.attributes["heron.reference.kind"] == "profile"
    assert sample.attributes["heron.reference.id"] == profile.attributes["heron.reference.id"] == ref_id
    sample_body, profile_body = telemetry.bodies("heron.reference")
    assert len(sample_body["numeric"]["age"]) == 100 and sample_body["offset"] == 0
    age = profile_body["numeric"]["age"]
    assert age["count"] == n and sum(age["counts"]) == n and len(age["counts"]) == len(age["edges"]) + 1
    assert age["edges"] == sorted(age["edges"]) and abs(age["mean"] - train["age"].mean()) < 1e-9
    assert sum(profile_body["categorical"]["country"]["frequencies"].values()) == n
    assert profile_body["label"]["kind"] == "numeric"


def test_a_large_sample_is_chunked_with_offsets(telemetry):
    telemetry.configure(max_record_bytes=4_000)
    X = np.arange(3_000, dtype=float).reshape(1_000, 3)
    heron.log_reference(model="m", version="1", features={"a": X[:, 0], "b": X[:, 1]}, profile_data=False)
    bodies = telemetry.bodies("heron.reference")
    assert len(bodies) > 1
    assert [b["offset"] for b in bodies] == sorted(b["offset"] for b in bodies)
    assert sum(len(b["numeric"]["a"]) for b in bodies) == 1_000
    assert all(len(r.body) <= 4_000 for r in telemetry.records("heron.reference"))


def test_register_model_captures_metadata(telemetry):
    heron.register_model(
        "churn", "3", task="binary_classification", framework="scikit-learn",
        hyperparameters={"n_estimators": 200}, training_data_version="s3://b/2026-11-01", owner="risk",
        tags={"team": "risk"}, positive_class=1,
    )
    [body] = telemetry.bodies("heron.model")
    assert body["params"] == {"n_estimators": 200} and body["positive_class"] == "1"
    assert body["libraries"]["scikit-learn"] and body["owner"] == "risk"
    with pytest.raises(ValueError, match="task="):
        heron.register_model("churn", "3", task="clustering")


def test_a_millisecond_or_nanosecond_timestamp_is_converted_with_one_warning(telemetry, caplog):
    import time

    now = time.time()
    for value in (now * 1000, int(now * 1e9)):
        with heron.observe(model="m", version="1", timestamp=value, ids="p") as obs:
            obs.features({"x": 1.0})
            obs.prediction(1)
    stamps = [body["ts"] for body in telemetry.bodies()]
    assert all(abs(stamp - now) < 1 for stamp in stamps), stamps
    assert heron.stats()["timestamp_converted"] == 2
    assert sum("looks like milliseconds" in r.getMessage() for r in caplog.records) == 1


def test_an_implausible_timestamp_drops_its_record_alone_and_counts_it(telemetry):
    with heron.observe(model="m", version="1", timestamp=dt.datetime(2200, 1, 1), ids="far") as obs:
        obs.features({"x": 1.0})
        obs.prediction(1)
    with heron.observe(model="m", version="1", ids="beside") as obs:
        obs.features({"x": 2.0})
        obs.prediction(0)
    assert [body["id"] for body in telemetry.bodies()] == ["beside"]
    stats = heron.stats()
    assert stats["dropped.timestamp"] == 1 and stats["fault.timestamp"] == 1
    with pytest.raises(ValueError, match=r"log_ground_truth\(timestamp=...\) = 1e\+30 is not a Unix time"):
        heron.log_ground_truth(model="m", ids=["beside"], labels=[1], timestamp=1e30)


def test_one_api_model_everywhere_classes_and_feature_names(telemetry):
    heron.register_model(model="m", version="1", owner="risk")
    heron.register_model(name="m", version="2")  # the older spelling stays an alias
    with pytest.raises(ValueError, match="not both"):
        heron.register_model(model="m", name="other", version="1")
    with heron.observe(model="m", version="1", ids="p", classes=["no", "yes"], feature_names=["a", "b"]) as obs:
        obs.features(np.array([1.0, 2.0]))
        obs.prediction(np.array([[0.2, 0.8]]))
    [body] = telemetry.bodies()
    assert body["numeric"] == {"a": 1.0, "b": 2.0}
    assert set(body["probabilities"]) == {"no", "yes"}, body
    heron.log_reference("m", "1", np.array([[1.0, 2.0], [3.0, 4.0]]), feature_names=["a", "b"], profile_data=False)
    [sample] = telemetry.bodies("heron.reference")
    assert set(sample["numeric"]) == {"a", "b"}
    with pytest.raises(ValueError, match="3 names for 2 columns"):
        heron.log_reference("m", "1", np.array([[1.0, 2.0]]), feature_names=["a", "b", "c"])
