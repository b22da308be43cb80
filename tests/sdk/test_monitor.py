"""@heron.monitor: one span and one prediction record per call, for every kind of function."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json

import numpy as np
import pandas as pd
import pytest
from opentelemetry.trace import StatusCode

import heron


def test_a_monitored_call_is_one_span_one_record_and_metrics(telemetry):
    @heron.monitor(model="churn", version="3", task="binary_classification")
    def predict(features: dict) -> int:
        return 1

    assert predict({"age": 42, "income": 52000.5, "country": "DE"}) == 1

    [span] = telemetry.spans()
    assert span.name == "heron.predict"
    assert dict(span.attributes) == {"ml.model.name": "churn", "ml.model.version": "3", "heron.rows": 1}
    [record] = telemetry.records()
    assert record.trace_id == span.context.trace_id and record.span_id == span.context.span_id
    assert dict(record.attributes) == {
        "ml.model.name": "churn", "ml.model.version": "3", "heron.schema.version": "1",
        "heron.rows": 1, "heron.layout": "row",
    }
    assert record.severity_number.value == 9
    [body] = telemetry.bodies()
    assert body["id"] == heron.last_prediction_ids()[0]
    assert body["numeric"] == {"age": 42, "income": 52000.5}
    assert body["categorical"] == {"country": "DE"}
    assert body["prediction"] == 1 and body["latency_ms"] >= 0
    [count] = telemetry.metric_points("heron.predictions")
    assert count.value == 1 and dict(count.attributes) == {"ml.model.name": "churn", "ml.model.version": "3"}
    [latency] = telemetry.metric_points("heron.predict.duration")
    assert latency.count == 1


def test_the_first_call_registers_the_model_version_once(telemetry):
    @heron.monitor(model="churn", version="3", task="regression")
    def predict(x: dict) -> float:
        return 0.5

    predict({"a": 1})
    predict({"a": 2})
    [model] = telemetry.bodies("heron.model")
    assert model["task"] == "regression"
    assert model["libraries"]["heron"] == heron.__version__ and "numpy" in model["libraries"]


def test_bare_form_names_the_model_after_the_function(telemetry):
    @heron.monitor
    def score(x: dict) -> float:
        return 0.25

    assert score({"a": 1.0}) == 0.25
    [record] = telemetry.records()
    assert record.attributes["ml.model.name"].endswith("score")
    assert record.attributes["ml.model.version"] == "unversioned"


def test_decorated_functions_keep_their_name_doc_and_signature():
    def predict(x: dict, threshold: float = 0.5, *, explain: bool = False) -> int:
        """Docstring."""
        return 1

    wrapped = heron.monitor(model="m")(predict)
    assert wrapped.__name__ == "predict" and wrapped.__doc__ == "Docstring."
    assert inspect.signature(wrapped) == inspect.signature(predict)
    assert wrapped.__wrapped__ is predict


def test_methods_skip_self_and_read_the_features_argument(telemetry):
    class Model:
        @heron.monitor(model="m", version="1")
        def predict(self, row: dict) -> str:
            return "cat"

    assert Model().predict({"weight": 4.2}) == "cat"
    [body] = telemetry.bodies()
    assert body["numeric"] == {"weight": 4.2} and body["prediction"] == "cat"


def test_keyword_style_functions_use_their_arguments_as_features(telemetry):
    @heron.monitor(model="m", version="1")
    def predict(age: int, country: str, plan: str = "free") -> float:
        return 0.1

    predict(30, country="FR")
    [body] = telemetry.bodies()
    assert body["numeric"] == {"age": 30}
    assert body["categorical"] == {"country": "FR", "plan": "free"}


def test_async_functions_are_monitored_and_awaited_once(telemetry):
    calls = []

    @heron.monitor(model="m", version="1")
    async def predict(x: dict) -> int:
        calls.append(x)
        await asyncio.sleep(0)
        return 7

    assert asyncio.run(predict({"a": 1})) == 7
    assert len(calls) == 1
    assert [b["prediction"] for b in telemetry.bodies()] == [7]
    assert len(telemetry.spans()) == 1


def test_generators_yield_unchanged_and_are_one_span(telemetry):
    @heron.monitor(model="m", version="1")
    def stream(x: dict):
        received = yield "first"
        yield f"got {received}"
        return "done"

    gen = stream({"a": 1})
    assert next(gen) == "first"
    assert gen.send("hi") == "got hi"
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done"
    assert len(telemetry.spans()) == 1


def test_async_generators_yield_unchanged(telemetry):
    @heron.monitor(model="m", version="1")
    async def stream(x: dict):
        for i in range(3):
            yield i

    async def consume():
        return [i async for i in stream({"a": 1})]

    assert asyncio.run(consume()) == [0, 1, 2]
    assert len(telemetry.spans()) == 1


def test_a_raising_model_raises_the_same_exception_and_marks_the_span(telemetry):
    error = ValueError("bad input")

    @heron.monitor(model="m", version="1")
    def predict(x: dict) -> int:
        raise error

    with pytest.raises(ValueError) as caught:
        predict({"a": 1})
    assert caught.value is error
    [span] = telemetry.spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "ValueError"
    assert [e.name for e in span.events] == ["exception"]
    assert telemetry.records() == []  # no prediction, but the failed call is counted:
    [count] = telemetry.metric_points("heron.predictions")
    assert dict(count.attributes)["error.type"] == "ValueError"


def test_a_numpy_batch_is_one_columnar_record(telemetry):
    @heron.monitor(model="m", version="1", feature_names=["a", "b"], classes=["no", "yes"])
    def predict_proba(X: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-X[:, 0]))
        return np.c_[1 - p, p]

    X = np.array([[0.0, 1.0], [np.nan, 2.0], [np.inf, 3.0]])
    predict_proba(X)
    [record] = telemetry.records()
    assert record.attributes["heron.layout"] == "columnar" and record.attributes["heron.rows"] == 3
    [body] = telemetry.bodies()
    assert body["id"] == heron.last_prediction_ids() and len(set(body["id"])) == 3
    assert body["numeric"] == {"a": [0.0, "NaN", "Infinity"], "b": [1.0, 2.0, 3.0]}
    assert body["prediction"][0] in ("no", "yes") and body["prediction"][2] == "yes"
    assert set(body["probabilities"]) == {"no", "yes"} and len(body["score"]) == 3
    assert isinstance(body["latency_ms"], float)
    [span] = telemetry.spans()
    assert span.attributes["heron.rows"] == 3


def test_a_pandas_batch_keeps_types_and_treats_nan_as_missing(telemetry):
    @heron.monitor(model="m", version="1")
    def predict(df: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(df))

    df = pd.DataFrame({"age": [31.0, np.nan], "country": ["DE", None], "vip": [True, False], "n": [1, 2]})
    predict(df)
    [body] = telemetry.bodies()
    assert body["numeric"] == {"age": [31.0, None], "n": [1, 2]}
    assert body["categorical"] == {"country": ["DE", None], "vip": ["true", "false"]}
    assert body["prediction"] == [0.0, 0.0]


def test_dataclasses_lists_and_custom_extractors(telemetry):
    @dataclasses.dataclass
    class Applicant:
        age: int
        city: str

    @heron.monitor(model="a", version="1")
    def one(applicant: Applicant) -> bool:
        return True

    @heron.monitor(model="b", version="1")
    def many(rows: list) -> list:
        return [0] * len(rows)

    @heron.monitor(model="c", version="1", features=lambda req: req["payload"], prediction=lambda r: r["out"])
    def custom(req: dict) -> dict:
        return {"out": "approve", "debug": object()}

    one(Applicant(40, "Lyon"))
    many([{"x": 1.5}, {"x": 2.5}])
    custom({"payload": {"z": 9}})
    bodies = telemetry.bodies()
    assert bodies[0]["numeric"] == {"age": 40} and bodies[0]["categorical"] == {"city": "Lyon"}
    assert bodies[0]["prediction"] == "true"
    assert bodies[1]["numeric"] == {"x": [1.5, 2.5]} and bodies[1]["prediction"] == [0, 0]
    assert bodies[2]["numeric"] == {"z": 9} and bodies[2]["prediction"] == "approve"


def test_callers_can_pass_their_own_prediction_ids(telemetry):
    @heron.monitor(model="m", version="1", ids="request_id")
    def predict(x: dict, request_id: str) -> int:
        return 0

    predict({"a": 1}, request_id="req-42")
    assert heron.last_prediction_ids() == ["req-42"]
    [body] = telemetry.bodies()
    assert body["id"] == "req-42" and "request_id" not in body.get("categorical", {})


def test_nested_monitored_calls_are_parent_and_child_spans(telemetry):
    @heron.monitor(model="inner", version="1")
    def inner(x: dict) -> int:
        return 1

    @heron.monitor(model="outer", version="1")
    def outer(x: dict) -> int:
        return inner(x) + 1

    assert outer({"a": 1}) == 2
    spans = {s.attributes["ml.model.name"]: s for s in telemetry.spans()}
    assert spans["inner"].parent.span_id == spans["outer"].context.span_id


def test_a_lone_scalar_argument_is_a_feature_named_after_its_parameter(telemetry):
    @heron.monitor(model="m", version="1")
    async def apredict(x: float) -> float:
        return x * 2

    @heron.monitor(model="m", version="1")
    def label(country: str) -> str:
        return country.lower()

    assert asyncio.run(apredict(3.0)) == 6.0
    assert label("DE") == "de"
    first, second = telemetry.bodies()
    assert first["numeric"] == {"x": 3.0} and first["prediction"] == 6.0
    assert second["categorical"] == {"country": "DE"} and second["prediction"] == "de"
    assert not any(key.startswith("fault.") for key in heron.stats()), heron.stats()


def test_the_framework_is_detected_under_monitor(telemetry):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])

    @heron.monitor(model="global", version="1")
    def predict(x: dict) -> int:
        return int(clf.predict([[x["a"]]])[0])

    class Service:
        def __init__(self) -> None:
            self.model = clf

        @heron.monitor(model="method", version="1")
        def predict(self, x: dict) -> int:
            return int(self.model.predict([[x["a"]]])[0])

    bound = heron.monitor(model="bound", version="1")(clf.predict)
    predict({"a": 1.0})
    Service().predict({"a": 2.0})
    bound(np.array([[3.0]]))
    records = telemetry.records("heron.model")
    frameworks = {r.attributes["ml.model.name"]: json.loads(r.body)["framework"] for r in records}
    assert frameworks == {"global": "scikit-learn", "method": "scikit-learn", "bound": "scikit-learn"}
