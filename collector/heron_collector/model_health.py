"""The newest model-health values as Prometheus gauges, read from the views, served from memory.

A scrape never queries the store: `ModelHealth.reload` reads the view ml_model_health
(queries/views/70_model_health.sql) in one query after the analytics refresh, the alert
evaluation and `heron refresh`, and swaps in a new snapshot; `collect` (the prometheus_client
collector protocol) only renders it. A failed read keeps the last snapshot, and the gauges
heron_model_health_age_seconds and heron_model_health_read_ok say how old it is and whether the
last read worked (the error itself is logged once and shown by /healthz).

Labels are bounded: at most HERON_PROMETHEUS_MAX_SERIES model-health series are exposed. The
model-level figures come first, then alert states, then per-feature verdicts with drifted
features first; what does not fit is left out and counted in heron_model_health_series_dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .migrations import identifier

log = logging.getLogger("heron.collector")
QUERY_SECONDS = 30  # the read runs off the scrape path; still, a stuck store must not hold the loop

# figure of ml_model_health → (metric name, help, label names of subject and detail, rank of the tier)
GAUGES: dict[str, tuple[str, str, tuple[str, ...], int]] = {
    "drift_share": ("heron_model_drift_share", "Share of drifted features in the newest drift window", (), 0),
    "drifted_features": ("heron_model_drifted_features", "Features that drifted in the newest drift window", (), 0),
    "performance": ("heron_model_performance", "Realised metric of the newest window with labels", ("metric",), 0),
    "estimated": ("heron_model_performance_estimated", "Estimated (CBPE) metric of the newest scored window",
                  ("metric",), 0),
    "latency_p99": ("heron_model_latency_p99_seconds", "p99 latency of the newest window with calls", (), 0),
    "error_rate": ("heron_model_error_ratio", "Errors / calls in the newest window with calls", (), 0),
    "alerts": ("heron_model_alerts", "Alerts of the rule now firing (or recovering) or pending", ("rule", "state"), 1),
    "feature_drifted": ("heron_model_feature_drifted", "1 when the feature drifted in the newest drift window",
                        ("feature", "method"), 2),
}
BASE_LABELS = ("model", "version")


@dataclass(frozen=True)
class Snapshot:
    """What one read found: samples per figure (label values, value), and what the cap left out."""

    samples: dict[str, list[tuple[tuple[str, ...], float]]] = field(default_factory=dict)
    series: int = 0
    dropped: int = 0


def select(rows: list[tuple], max_series: int) -> Snapshot:
    """The series to expose from the view's rows (figure, model, version, subject, detail, value).

    Rank: model-level figures, then alert states, then feature verdicts (drifted ones first), each
    by model, version and labels, so the same series survive the cap from one read to the next."""
    ranked = []
    for figure, model, version, subject, detail, value in rows:
        gauge = GAUGES.get(figure)
        if gauge is None:
            continue
        extra = (subject, detail)[:len(gauge[2])]
        drifted_first = -value if figure == "feature_drifted" else 0
        ranked.append(((gauge[3], drifted_first, model, version, figure, extra), figure, (model, version, *extra),
                       value))
    ranked.sort(key=lambda item: item[0])
    kept = ranked[:max_series]
    samples: dict[str, list[tuple[tuple[str, ...], float]]] = {}
    for _, figure, labels, value in kept:
        samples.setdefault(figure, []).append((labels, value))
    return Snapshot(samples, len(kept), len(ranked) - len(kept))


class ModelHealth:
    """The cached model-health gauges of one collector (a prometheus_client custom collector)."""

    def __init__(self, max_series: int) -> None:
        self.max_series = max_series
        self.snapshot = Snapshot()
        self.read_at = 0.0  # time of the last successful read (0: none yet)
        self.error = ""
        self.failures = 0
        self._lock = threading.Lock()
        self._version: tuple | None = None

    def reload(self, client: Any, database: str) -> bool:
        """Read the view and swap in the new snapshot; on failure keep the last one. True when read."""
        db = identifier(database, "database")
        with self._lock:
            try:
                result = client.query(
                    f"SELECT figure, model_name, model_version, subject, detail, value FROM {db}.ml_model_health",
                    settings={"max_execution_time": QUERY_SECONDS})
                self.snapshot = select(result.result_rows, self.max_series)
                self.read_at, self.error = time.time(), ""
                return True
            except Exception as exc:  # the last values stay; the gauges say how old they are
                message = " ".join(str(exc).split("Stack trace")[0].split())[:500] or type(exc).__name__
                if message != self.error:
                    log.warning("model-health read failed (keeping the last values): %s", message)
                self.error, self.failures = message, self.failures + 1
                return False

    def reload_if_changed(self, client: Any, database: str) -> bool:
        """Reload when a scheduled view refreshed or an alert changed since the last read (one cheap query)."""
        db = identifier(database, "database")
        try:
            version = tuple(client.query(
                "SELECT (SELECT max(last_success_time) FROM system.view_refreshes WHERE database = {db:String}), "
                f"(SELECT max(at) FROM {db}.ml_alerts), (SELECT max(computed_at) FROM {db}.ml_drift)",
                parameters={"db": db}, settings={"max_execution_time": QUERY_SECONDS}).result_rows[0])
        except Exception:
            version = None  # read anyway: the read records the error if the store is the problem
        if version is not None and version == self._version and not self.error:
            return False
        if self.reload(client, database):
            self._version = version
        return True

    # --- prometheus_client's collector protocol ------------------------------------------------
    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        snapshot = self.snapshot
        for figure, (name, doc, extra, _) in GAUGES.items():
            family = GaugeMetricFamily(name, doc, labels=[*BASE_LABELS, *extra])
            for labels, value in snapshot.samples.get(figure, ()):
                family.add_metric(list(labels), value)
            yield family
        yield GaugeMetricFamily("heron_model_health_series", "Model-health series exposed", value=snapshot.series)
        yield GaugeMetricFamily("heron_model_health_series_dropped",
                                "Model-health series left out by HERON_PROMETHEUS_MAX_SERIES at the last read",
                                value=snapshot.dropped)
        yield GaugeMetricFamily("heron_model_health_max_series", "HERON_PROMETHEUS_MAX_SERIES", value=self.max_series)
        age = time.time() - self.read_at if self.read_at else float("nan")
        yield GaugeMetricFamily("heron_model_health_age_seconds",
                                "Seconds since the model-health values were read (NaN: never)", value=age)
        yield GaugeMetricFamily("heron_model_health_read_ok", "1 when the last model-health read succeeded",
                                value=1 if self.read_at and not self.error else 0)
        yield CounterMetricFamily("heron_model_health_read_failures", "Failed model-health reads since start",
                                  value=self.failures)
