"""DESIGN §6: the SDK never changes what a function returns or raises, and never blocks it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.trace.export import SpanExporter

import heron

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.binary(max_size=10),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
exceptions = st.sampled_from([ValueError("v"), KeyError("k"), ZeroDivisionError(), RuntimeError("r"),
                              TypeError("t"), StopIteration(), KeyboardInterrupt()])


class Weird:
    """An object nothing can serialise, whose str() raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    __repr__ = __str__


inputs = st.one_of(values, st.just(Weird()), st.builds(lambda: {"a": Weird(), "b": float("nan")}),
                   st.builds(lambda: np.array([[np.nan, 1.0], [np.inf, -np.inf]])))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=inputs, out=st.one_of(values, st.just(Weird())), exc=st.none() | exceptions)
def test_decorated_returns_and_raises_exactly_what_undecorated_does(telemetry, x: Any, out: Any, exc: Any):
    def model(features: Any) -> Any:
        if exc is not None:
            raise exc
        return out

    decorated = heron.monitor(model="prop", version="1")(model)

    def outcome(fn: Any) -> tuple[str, Any]:
        try:
            return "returned", fn(x)
        except BaseException as caught:  # KeyboardInterrupt included: it must pass through too
            return "raised", caught

    expected, got = outcome(model), outcome(decorated)
    assert got[0] == expected[0] and got[1] is expected[1]


class BrokenSpans(SpanExporter):
    def export(self, spans: Any) -> Any:
        raise RuntimeError("span exporter exploded")


class BrokenLogs(LogRecordExporter):
    def export(self, batch: Any) -> Any:
        raise OSError("log exporter exploded")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_failing_exporters_never_reach_the_caller():
    heron.configure(span_exporter=BrokenSpans(), log_exporter=BrokenLogs())

    @heron.monitor(model="m", version="1")
    def predict(x: dict) -> int:
        return 3

    assert [predict({"a": i}) for i in range(50)] == [3] * 50
    heron.flush(timeout_s=2)
    assert predict({"a": 1}) == 3


def test_unserialisable_and_non_finite_inputs_are_counted_not_raised(telemetry):
    @heron.monitor(model="m", version="1")
    def predict(x: Any) -> Any:
        return {"prediction": float("nan"), "score": float("inf")}

    assert predict({"blob": Weird(), "nan": float("nan")})["score"] == float("inf")
    assert predict(object())["score"] == float("inf")  # unsupported input: still runs
    heron.flush()
    stats = heron.stats()
    assert stats.get("fault.features", 0) >= 1 or stats.get("fault.render", 0) >= 1


def test_async_exceptions_pass_through_unchanged(telemetry):
    error = LookupError("missing")

    @heron.monitor(model="m", version="1")
    async def predict(x: dict) -> int:
        raise error

    async def call() -> BaseException:
        try:
            await predict({"a": 1})
        except LookupError as caught:
            return caught
        raise AssertionError("no exception")

    assert asyncio.run(call()) is error


def test_a_cancelled_async_call_is_not_a_failure_and_sends_no_prediction(telemetry):
    started = asyncio.Event()

    @heron.monitor(model="m", version="1")
    async def predict(x: dict) -> int:
        started.set()
        await asyncio.sleep(10)
        return 1

    @heron.monitor(model="m", version="1")
    async def broken(x: dict) -> int:
        raise ValueError("bad input")

    async def run() -> None:
        task = asyncio.create_task(predict({"a": 1.0}))
        await started.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("the cancellation must reach the caller")
        with contextlib.suppress(ValueError):
            await broken({"a": 1.0})

    asyncio.run(run())
    cancelled, failed = sorted(telemetry.spans(), key=lambda s: "error.type" in s.attributes)
    assert cancelled.attributes["heron.cancelled"] is True and "error.type" not in cancelled.attributes
    assert cancelled.status.status_code.name == "UNSET" and not cancelled.events
    assert failed.attributes["error.type"] == "ValueError" and failed.status.status_code.name == "ERROR"
    assert [e.name for e in failed.events] == ["exception"]
    assert telemetry.bodies() == [], "neither call made a prediction"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_collector_does_not_slow_or_change_10000_calls():
    heron.configure(endpoint=f"http://127.0.0.1:{_closed_port()}", timeout=1.0, metrics=False)

    def model(x: dict) -> float:
        return x["a"] * 2.0

    predict = heron.monitor(model="m", version="1")(model)
    row = {f"f{i}": float(i) for i in range(20)}
    row["a"] = 1.5
    predict(row)  # first call: imports and provider setup

    start = time.perf_counter()
    results = [predict(row) for _ in range(10_000)]
    monitored = (time.perf_counter() - start) / 10_000
    start = time.perf_counter()
    for _ in range(10_000):
        model(row)
    bare = (time.perf_counter() - start) / 10_000

    assert results == [3.0] * 10_000
    # no network wait on the caller: a blocking export would cost ≥ 1 s (the timeout) per batch
    added_us = (monitored - bare) * 1e6
    assert added_us < 2_000, f"mean added latency {added_us:.0f} µs per call"


EXIT_SCRIPT = """
import atexit, json, sys, time
import heron
atexit.register(lambda: print(json.dumps(heron.stats()), flush=True))  # runs after Heron's own exit hook
heron.configure(endpoint="http://127.0.0.1:{port}", metrics=False)

@heron.monitor(model="m", version="1")
def predict(x: dict) -> float:
    return x["a"]

for _ in range(3000):
    predict({{"a": 1.0, "b": 2.0}})
print(time.time(), flush=True)
"""


def test_with_the_collector_down_the_process_exits_within_the_timeout_and_says_what_it_dropped(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "exit.py"
    script.write_text(EXIT_SCRIPT.format(port=_closed_port()))
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("OTEL_", "HERON_"))}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            env={**env, "HERON_EXIT_TIMEOUT_SECONDS": "3"})
    exited = time.time()
    assert result.returncode == 0, result.stderr
    done_at, stats = result.stdout.splitlines()[-2:]
    took = exited - float(done_at)
    assert took < 3 + 2, f"the process took {took:.1f} s to exit after its work"
    lines = [line for line in result.stderr.splitlines() if "HERON_EXIT_TIMEOUT_SECONDS" in line]
    assert len(lines) == 1 and "undelivered" in lines[0], result.stderr[-2000:]
    stats = json.loads(stats)
    for kind in ("spans", "prediction_rows"):  # every one failed or dropped, none twice
        settled = sum(n for key, n in stats.items() if key.endswith("." + kind) and key.split(".")[0] in
                      ("exported", "failed", "dropped"))
        assert settled == stats[f"produced.{kind}"] == 3000, stats
    assert sum("were not delivered" in line for line in result.stderr.splitlines()) <= 2, result.stderr


def test_delivery_is_counted_and_flush_says_when_something_was_not_delivered(telemetry, caplog):
    predict = heron.monitor(model="m", version="1")(lambda x: x["a"])
    for _ in range(30):
        predict({"a": 1.0})
    assert heron.flush() is True
    stats = heron.stats()
    assert stats["exported.prediction_rows"] == 30 and stats["exported.spans"] == 30
    assert stats["exported.records"] == stats["produced.records"] >= 1
    assert not any(key.startswith("failed.") for key in stats), stats
    points = {(p.attributes["heron.outcome"], p.attributes["heron.kind"]): p.value
              for p in telemetry.metric_points("heron.sdk.delivery")}
    assert points[("produced", "prediction_rows")] == points[("exported", "prediction_rows")] == 30, points
    assert points[("exported", "spans")] == 30, points

    heron.configure(endpoint=f"http://127.0.0.1:{_closed_port()}", timeout=1.0, metrics=False,
                    span_exporter=None, log_exporter=None, metric_reader=None)
    for _ in range(20):
        predict({"a": 1.0})
    assert heron.flush(timeout_s=20) is False, "undelivered predictions must make flush() False"
    stats = heron.stats()
    assert stats["failed.unavailable.prediction_rows"] == 20 and stats["failed.unavailable.spans"] == 20, stats
    assert sum("were not delivered" in r.getMessage() for r in caplog.records) == 2  # records, spans: once each
