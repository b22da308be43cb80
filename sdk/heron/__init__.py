"""Heron: monitor machine-learning models in production over OpenTelemetry.

    import heron

    @heron.monitor(model="churn", version="3", task="binary_classification")
    def predict(features: dict) -> float: ...

Nothing needs configuring: on first use Heron reads the standard OTEL_* variables and its own
HERON_* ones (docs/configuration.md). Nothing Heron does can change what a monitored function
returns or raises, or make it wait on the network.

`Var` is how a HERON_* variable is declared (name, default, parser, doc); it is public so that
the collector declares its own the same way (heron_collector/settings.py), and so are the two
variables both sides read: the accepted timestamp window.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from . import _setup, _stats
from ._env import HERON_MAX_FUTURE_SECONDS, HERON_MAX_PAST_DAYS, Var
from ._monitor import monitor
from ._observe import Observation, last_prediction_ids, log_ground_truth, observe
from ._reference import log_reference
from ._registry import register_model


def configure(**settings: Any) -> None:
    """Override the environment in code; every argument is optional.

    Privacy and volume: ``sample_rate``, ``redact_features``, ``hash_features``, ``hash_salt``,
    ``max_features``, ``max_string_length``, ``max_record_bytes``, ``reference_sample_rows``,
    ``max_categories``. Deployment: ``environment``, ``service_name``, ``resource_attributes``,
    ``disabled``, ``metrics``. Delivery: ``queue_rows`` (rows waiting for the export thread),
    ``exit_timeout`` (seconds spent delivering at exit). OTLP: ``endpoint`` (e.g.
    ``http://collector:4318``), ``protocol`` (``http/protobuf`` | ``grpc``), ``headers``, ``timeout``
    (seconds). Pipelines (tests, or your own): ``span_exporter``, ``log_exporter``,
    ``metric_reader``, ``use_global_providers``.

    A bad argument raises ValueError or TypeError naming it. Calling configure() again keeps
    earlier arguments and replaces the ones given (flushing and closing Heron's old pipelines).
    """
    _setup.configure(**settings)


def flush(timeout_s: float = 10.0) -> bool:
    """Export everything buffered so far; True when every pipeline flushed in time."""
    return _setup.get().flush(timeout_s)


def shutdown() -> None:
    """Flush and close Heron's own pipelines within HERON_EXIT_TIMEOUT_SECONDS (also done at exit)."""
    _setup.get().close()


def stats() -> dict[str, int]:
    """Counts of what Heron did in this process: delivery per kind (``prediction_rows``,
    ``records``, ``spans``) as ``produced.*``, ``exported.*``, ``failed.<reason>.*`` and
    ``dropped.<reason>.*``, and what it dropped, truncated, sampled out or failed to do."""
    return _stats.snapshot()


__all__ = [
    "HERON_MAX_FUTURE_SECONDS",
    "HERON_MAX_PAST_DAYS",
    "Observation",
    "Var",
    "__version__",
    "configure",
    "flush",
    "last_prediction_ids",
    "log_ground_truth",
    "log_reference",
    "monitor",
    "observe",
    "register_model",
    "shutdown",
    "stats",
]
