"""Rendered bodies are exactly the wire format (docs/wire-format.md), whatever the column holds."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

import heron
from heron import _ids, _record

NAN, INF = float("nan"), float("inf")
T0 = 1732252800.25


def strict(text: str) -> Any:
    """json.loads that refuses the bare NaN / Infinity tokens (they are not JSON)."""
    def refuse(token: str) -> Any:
        raise AssertionError(f"bare {token} in a body")

    return json.loads(text, parse_constant=refuse)


def backfill(telemetry: Any, features: Any, prediction: Any, score: Any = None) -> tuple[str, dict[str, Any]]:
    """Observe one batch with fixed ids and times (so no latency): its (raw body, parsed body)."""
    rows = len(prediction)
    with heron.observe(model="m", version="1", ids=[f"p{i}" for i in range(rows)],
                       timestamp=[T0 + i for i in range(rows)]) as obs:
        obs.features(features)
        obs.prediction(prediction, score=score)
    [record] = telemetry.records()
    assert record.attributes["heron.layout"] == "columnar" and record.attributes["heron.rows"] == rows
    return record.body, strict(record.body)


def test_a_numpy_batch_with_non_finite_and_missing_values_renders_exactly(telemetry):
    features = {
        "x": np.array([1.5, NAN, INF, -INF]),
        "n": np.array([1, 2, -3, 2**62]),
        "f32": np.array([0.1, NAN, 2.5, 1e30], dtype=np.float32),
        "be": np.array([1.0, 2.0, INF, 4.0], dtype=">f8"),
        "flag": np.array([True, False, True, False]),
        "city": np.array(["DE", "FR", "ü", "x"]),
        "mixed": [1, None, NAN, 2.5],
    }
    raw, body = backfill(telemetry, features, np.array([1, 0, 1, 0]), score=np.array([0.9, NAN, -INF, 0.25]))
    assert body == {
        "id": ["p0", "p1", "p2", "p3"],
        "numeric": {
            "x": [1.5, "NaN", "Infinity", "-Infinity"],
            "n": [1, 2, -3, 2**62],
            "f32": [float(np.float32(0.1)), "NaN", 2.5, float(np.float32(1e30))],  # the float32's exact value
            "be": [1.0, 2.0, "Infinity", 4.0],
            "mixed": [1, None, "NaN", 2.5],
        },
        "categorical": {"flag": ["true", "false", "true", "false"], "city": ["DE", "FR", "ü", "x"]},
        "prediction": [1, 0, 1, 0],
        "score": [0.9, "NaN", "-Infinity", 0.25],
        "ts": [T0, T0 + 1, T0 + 2, T0 + 3],
    }
    assert '"n":[1,2,-3,4611686018427387904]' in raw  # ints stay ints, however large
    assert '"prediction":[1,0,1,0]' in raw and '"x":[1.5,"NaN"' in raw


def test_a_pandas_batch_with_non_finite_and_missing_values_renders_exactly(telemetry):
    df = pd.DataFrame({
        "age": [31.0, NAN, INF, -INF],  # pandas: NaN is missing, ±Inf are values
        "n": pd.array([1, None, 3, 4], dtype="Int64"),
        "i": [1, 2, 3, 4],
        "country": ["DE", None, "FR", "x"],
        "vip": [True, False, True, False],
        "plan": pd.Categorical(["a", "b", None, "a"]),
    })
    _, body = backfill(telemetry, df, np.array(["yes", "no", "yes", "no"]), score=np.array([0.1, 0.2, NAN, 0.4]))
    assert body == {
        "id": ["p0", "p1", "p2", "p3"],
        "numeric": {"age": [31.0, None, "Infinity", "-Infinity"], "n": [1, None, 3, 4], "i": [1, 2, 3, 4]},
        "categorical": {
            "country": ["DE", None, "FR", "x"], "vip": ["true", "false", "true", "false"],
            "plan": ["a", "b", None, "a"],
        },
        "prediction": ["yes", "no", "yes", "no"],
        "score": [0.1, 0.2, "NaN", 0.4],
        "ts": [T0, T0 + 1, T0 + 2, T0 + 3],
    }


def test_one_row_keeps_scalars_and_non_finite_strings(telemetry):
    with heron.observe(model="m", version="1", ids="p", timestamp=T0) as obs:
        obs.features({"x": 1.5, "nan": NAN, "down": -INF, "i": 7, "big": 2**70, "np": np.float32(0.5), "c": "DE",
                      "b": True, "gone": None})
        obs.prediction(1.0, score=np.float64(0.75))
    [record] = telemetry.records()
    assert strict(record.body) == {
        "id": "p",
        "numeric": {"x": 1.5, "nan": "NaN", "down": "-Infinity", "i": 7, "big": float(2**70), "np": 0.5, "gone": None},
        "categorical": {"c": "DE", "b": "true"},
        "prediction": 1.0, "score": 0.75, "ts": T0,
    }


def test_sampling_keeps_each_row_with_its_own_values(telemetry):
    telemetry.configure(sample_rate=0.5)
    n = 200
    ids = [f"row-{i}" for i in range(n)]
    x = np.arange(n, dtype=float)
    x[::7] = NAN
    with heron.observe(model="m", version="1", ids=ids) as obs:
        obs.features({"x": x, "i": np.arange(n)})
        obs.prediction(np.arange(n) % 2)
    [body] = telemetry.bodies()
    kept = [i for i in range(n) if _ids.keep(ids[i], 0.5)]
    assert 0 < len(kept) < n and body["id"] == [ids[i] for i in kept]
    assert body["numeric"]["i"] == kept and body["prediction"] == [i % 2 for i in kept]
    assert body["numeric"]["x"] == ["NaN" if i % 7 == 0 else float(i) for i in kept]


def test_columns_of_any_memory_layout_are_written_as_numbers():
    strided = np.arange(10.0)[::3]
    swapped = np.arange(3, dtype=">i8")
    body = {"a": _record.number_list(strided), "b": _record.number_list(swapped),
            "c": _record.number_list(np.array([True, False]))}
    assert strict(_record.dumps(body)) == {"a": [0.0, 3.0, 6.0, 9.0], "b": [0, 1, 2], "c": [1, 0]}


def test_chunks_stay_below_the_byte_limit_and_keep_every_row():
    n = 1_000
    body = {"id": [f"id{i}" for i in range(n)], "numeric": {"x": _record.number_list(np.linspace(0, 1, n))},
            "tags": {"t": "é" * 50}}
    parts = _record.chunks(body, n, True, 4_000)
    assert len(parts) > 1 and all(len(text.encode()) <= 4_000 for text, _, _ in parts)
    assert sum(rows for _, rows, _ in parts) == n
    assert [i for text, _, _ in parts for i in strict(text)["id"]] == body["id"]
    assert all(strict(text)["tags"] == {"t": "é" * 50} for text, _, _ in parts)
