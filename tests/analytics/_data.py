"""Loading known data straight into the ML tables (no mocks: the real embedded engine)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

PREDICTION_COLUMNS = ["model_name", "model_version", "timestamp", "prediction_id", "numeric",
                      "categorical", "prediction", "prediction_value", "score"]
# Predictions without features, for the performance and CBPE tests.
SCORED_COLUMNS = ["model_name", "model_version", "timestamp", "prediction_id", "prediction",
                  "prediction_value", "score", "tags"]
REFERENCE_COLUMNS = ["model_name", "model_version", "reference_id", "row_index", "numeric",
                     "categorical", "prediction", "prediction_value", "score", "label", "timestamp"]


# what ml_drift is computed from: the reference bins, the exact KS, then the drift itself
DRIFT_VIEWS = ("ml_reference_bins_mv", "ml_drift_ks_exact_mv", "ml_drift_mv")


def refresh_views(client: Any, *views: str, database: str = "heron") -> None:
    """Run these scheduled views now and wait for them (what `heron refresh --wait` does)."""
    from heron_collector import analytics

    analytics.refresh(client, database, wait=True, views=list(views))


def day_start(days_ago: int) -> dt.datetime:
    """Start of the UTC day `days_ago` days before today (aware UTC)."""
    today = int(dt.datetime.now(dt.timezone.utc).timestamp()) // 86400 * 86400
    return dt.datetime.fromtimestamp(today - days_ago * 86400, dt.timezone.utc)


def hour_start(hours_ago: int) -> dt.datetime:
    """Start of the UTC hour `hours_ago` hours before the current one (naive UTC)."""
    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    return now - dt.timedelta(hours=hours_ago)


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if v is None else v) for k, v in values.items()}


def insert_predictions(client: Any, model: str, version: str, start: dt.datetime,
                       numeric: dict[str, Sequence[float | None]],
                       categorical: dict[str, Sequence[str | None]] | None = None,
                       prediction: Sequence[str | None] | None = None,
                       score: Sequence[float | None] | None = None, id_prefix: str = "p",
                       spacing_s: float = 0.1, database: str = "heron") -> None:
    categorical = categorical or {}
    n = len(next(iter(numeric.values()))) if numeric else len(next(iter(categorical.values())))
    rows = []
    for i in range(n):
        rows.append([
            model, version, start + dt.timedelta(seconds=spacing_s * i), f"{id_prefix}{i}",
            _clean({k: (None if v[i] is None else float(v[i])) for k, v in numeric.items()}),
            {k: v[i] for k, v in categorical.items()},
            None if prediction is None else prediction[i], None,
            None if score is None else float(score[i]),
        ])
    client.insert(f"{database}.ml_predictions", rows, column_names=PREDICTION_COLUMNS)


def insert_reference(client: Any, model: str, version: str,
                     numeric: dict[str, Sequence[float | None]],
                     categorical: dict[str, Sequence[str | None]] | None = None,
                     prediction: Sequence[str | None] | None = None,
                     score: Sequence[float | None] | None = None,
                     label: Sequence[str | None] | None = None,
                     reference_id: str = "ref1", database: str = "heron") -> None:
    categorical = categorical or {}
    n = len(next(iter(numeric.values()))) if numeric else len(next(iter(categorical.values())))
    stamp = dt.datetime(2026, 1, 1)
    rows = []
    for i in range(n):
        rows.append([
            model, version, reference_id, i,
            {k: (None if v[i] is None else float(v[i])) for k, v in numeric.items()},
            {k: v[i] for k, v in categorical.items()},
            None if prediction is None else prediction[i], None,
            None if score is None else float(score[i]),
            None if label is None else label[i], stamp,
        ])
    client.insert(f"{database}.ml_reference", rows, column_names=REFERENCE_COLUMNS)


def drift_rows(client: Any, model: str, database: str = "heron") -> dict[tuple, dict[str, Any]]:
    """ml_drift (FINAL) keyed by (window_start, feature, method)."""
    result = client.query(
        f"SELECT * FROM {database}.ml_drift FINAL WHERE model_name = {{m:String}}",
        parameters={"m": model})
    out = {}
    for row in result.result_rows:
        rec = dict(zip(result.column_names, row, strict=True))
        out[(rec["window_start"].replace(tzinfo=None), rec["feature"], rec["method"])] = rec
    return out


def sample_edges(values: Any, bins: int = 20) -> Any:
    """Heron's bin edges of a reference sample (docs/statistics.md, "Reference"): the distinct
    ⌈k·n/bins⌉-th smallest values, k = 1 … bins−1, and v, np.nextafter(v, inf) of every point mass v
    (a value holding >= 1/bins of the values, zero >= 1/(10·bins), every value when there are at
    most `bins` distinct ones). Integer arithmetic for the positions: np.quantile(method="inverted_cdf")
    is the same up to float rounding of k/bins."""
    import numpy as np

    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    quantiles = ordered[[-(-k * n // bins) - 1 for k in range(1, bins)]]
    distinct, runs = np.unique(ordered, return_counts=True)
    if len(distinct) <= bins:
        heavy = distinct
    else:
        heavy = distinct[(runs * bins >= n) | ((distinct == 0) & (runs * 10 * bins >= n))]
    above = np.nextafter(heavy, np.inf)
    return np.unique(np.r_[quantiles, heavy, above[np.isfinite(above)]])
