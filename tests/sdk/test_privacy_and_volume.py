"""Sampling, redaction, hashing and size limits — each drop counted in heron.stats()."""

from __future__ import annotations

import numpy as np

import heron
from heron import _ids


def test_sampling_is_deterministic_by_id_and_spans_still_count_every_call(telemetry):
    telemetry.configure(sample_rate=0.3)

    @heron.monitor(model="m", version="1")
    def predict(x: dict) -> int:
        return 1

    kept_ids = []
    for i in range(300):
        predict({"a": i})
        [pid] = heron.last_prediction_ids()
        if _ids.keep(pid, 0.3):
            kept_ids.append(pid)
    bodies = telemetry.bodies()
    assert [b["id"] for b in bodies] == kept_ids and 40 < len(kept_ids) < 150
    assert len(telemetry.spans()) == 300
    assert heron.stats()["predictions_sampled_out"] == 300 - len(kept_ids)


def test_sampling_a_batch_drops_rows_not_records(telemetry):
    telemetry.configure(sample_rate=0.5)

    @heron.monitor(model="m", version="1")
    def predict(X: np.ndarray) -> np.ndarray:
        return X[:, 0]

    predict(np.ones((200, 2)))
    [record] = telemetry.records()
    body = telemetry.bodies()[0]
    assert record.attributes["heron.rows"] == len(body["id"]) == len(body["numeric"]["0"]) < 200


def test_redacted_features_never_leave_and_hashed_ones_are_unreadable(telemetry):
    telemetry.configure(redact_features=["email", "*_ssn"], hash_features=["zip"], hash_salt="pepper")

    @heron.monitor(model="m", version="1")
    def predict(x: dict) -> int:
        return 0

    predict({"email": "a@b.c", "user_ssn": "123", "zip": "10115", "age": 3})
    predict({"email": "d@e.f", "user_ssn": "456", "zip": "10115", "age": 4})
    first, second = telemetry.bodies()
    assert "email" not in str(first) and "user_ssn" not in str(first)
    assert first["categorical"]["zip"] == second["categorical"]["zip"] != "10115"
    assert heron.stats()["features_redacted"] == 4


def test_feature_count_string_length_and_record_size_limits(telemetry):
    telemetry.configure(max_features=3, max_string_length=5, max_record_bytes=2_000)

    @heron.monitor(model="m", version="1")
    def predict(x: object) -> object:
        return 0 if isinstance(x, dict) else np.zeros(len(x))

    predict({"a": 1, "b": "abcdefgh", "c": 3, "d": 4, "e": 5})
    predict(np.arange(2_000, dtype=float).reshape(1_000, 2))
    small, *chunks = telemetry.bodies()
    assert small["numeric"] == {"a": 1, "c": 3} and small["categorical"] == {"b": "abcde"}
    assert len(chunks) > 1 and sum(len(c["id"]) for c in chunks) == 1_000
    stats = heron.stats()
    assert stats["features_over_limit"] == 2 and stats["strings_truncated"] == 1
    assert stats["records_chunked"] >= 1
