"""``heron.log_reference``: a model version's training baseline, as a sample and a profile.

The sample is a bounded uniform random subset of rows (columnar records with ``offset``). The
profile summarises *every* row with numpy — quantile bin edges (plus a bin per point mass) and
per-bin counts for numeric features, value frequencies for categorical ones, and the prediction,
score and label distributions — so a 10M-row training set costs a few kilobytes on the wire
(docs/wire-format.md, ``heron.reference``). The collector compares drift against the sample when
it is the whole reference or large (its exact values give the exact KS), else the profile.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _extract, _pca, _record, _registry, _setup, _stats
from ._extract import Table
from ._privacy import HASH, Policy


def _as_column(values: Any, n: int, what: str) -> Any:
    if values is None:
        return None
    if type(values).__name__ in ("Series", "Index"):
        values = values.to_numpy()
    if isinstance(values, np.ndarray):
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise ValueError(f"log_reference({what}=...): expected one value per row, got shape {values.shape}")
    else:
        values = list(values)
    if len(values) != n:
        raise ValueError(f"log_reference({what}=...): {len(values)} values for {n} feature rows")
    return values


def _as_scores(scores: Any, n: int, classes: Sequence[Any] | None) -> tuple[Any, Any]:
    """(score column, predicted classes or None) from one score per row or a matrix of class
    probabilities; the score of probabilities is the one the prediction path derives (the second
    column of two, else the largest), so reference and production scores are the same quantity."""
    if scores is None:
        return None, None
    if _extract._is_pandas(scores, "DataFrame"):
        classes = list(scores.columns) if classes is None else classes
        scores = scores.to_numpy(dtype=float)
    elif isinstance(scores, (list, tuple)) and scores and isinstance(scores[0], (list, tuple, np.ndarray)):
        scores = np.asarray(scores, dtype=float)
    if isinstance(scores, np.ndarray) and scores.ndim == 2 and scores.shape[1] > 1:
        if scores.shape[0] != n:
            raise ValueError(f"log_reference(scores=...): {scores.shape[0]} rows of class probabilities for {n} "
                             "feature rows")
        if scores.dtype.kind not in "fiu":
            raise ValueError("log_reference(scores=...): class probabilities must be numbers")
        if classes is not None and len(classes) != scores.shape[1]:
            raise ValueError(f"log_reference(classes=...): {len(classes)} names for {scores.shape[1]} columns of "
                             "probabilities")
        out = _extract._probabilities(scores, classes, single=False)
        return out.score, out.prediction
    column = _as_column(scores, n, "scores")
    if _record._column_kind(column) == _record.CATEGORICAL:
        raise ValueError("log_reference(scores=...): expected numbers (a score or probability per row)")
    return column, None


def _take(col: Any, idx: np.ndarray) -> Any:
    if isinstance(col, np.ndarray):
        return col[idx]
    return [col[i] for i in idx.tolist()]


def _float_values(col: Any, nan_is_missing: bool) -> tuple[np.ndarray, int]:
    """(float array of the present values, count of missing)."""
    if isinstance(col, np.ndarray) and col.dtype.kind in "fiu":
        arr = col.astype(float, copy=False)
        if nan_is_missing:
            missing_mask = np.isnan(arr)
            return arr[~missing_mask], int(missing_mask.sum())
        return arr, 0
    values = col.tolist() if isinstance(col, np.ndarray) else list(col)
    present = [v for v in values if v is not None]
    arr = np.asarray(present, dtype=float)
    missing = len(values) - len(present)
    if nan_is_missing:
        nan_mask = np.isnan(arr)
        missing += int(nan_mask.sum())
        arr = arr[~nan_mask]
    return arr, missing


def bin_edges(ordered: np.ndarray, bins: int) -> np.ndarray:
    """Bin edges of sorted finite values: ``bins`` quantile bins plus a bin of its own per point mass.

    A value is a *point mass* when it holds at least 1/bins of the values (a whole bin's worth),
    zero when it holds at least 1/(10·bins), and every value when there are at most ``bins``
    distinct ones (integer codes, counts, flags). A point mass v gets the edges v and
    v⁺ = np.nextafter(v, inf), so its bin [v, v⁺) holds v and nothing else — in the reference and
    in every production window — and mass moving onto or off it is seen by every method
    (docs/statistics.md, "Reference"). Otherwise the edges are numpy's default (linear)
    quantiles at k/bins, k = 1 … bins−1; all edges are distinct and ascending.
    """
    n = ordered.size
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    values = ordered[starts]
    runs = np.diff(np.r_[starts, n])
    if values.size <= bins:
        heavy, quantiles = values, values[:0]
    else:
        heavy = values[(runs * bins >= n) | ((values == 0) & (runs * 10 * bins >= n))]
        quantiles = np.quantile(ordered, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    above = np.nextafter(heavy, np.inf)
    return np.unique(np.r_[quantiles, heavy, above[np.isfinite(above)]])


def numeric_profile(col: Any, bins: int, nan_is_missing: bool = False) -> dict[str, Any]:
    arr, missing = _float_values(col, nan_is_missing)
    finite = np.sort(arr[np.isfinite(arr)])
    out: dict[str, Any] = {
        "count": int(arr.size + missing), "missing": missing, "nan": int(arr.size - finite.size),
    }
    if finite.size:
        edges = bin_edges(finite, bins)
        counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
        out.update(
            edges=edges.tolist(), counts=counts.tolist(), min=float(finite[0]), max=float(finite[-1]),
            mean=float(finite.mean()), std=float(finite.std()),
        )
    else:
        out.update(edges=[], counts=[0])
    return out


def categorical_profile(values: list[Any], max_categories: int) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    out: dict[str, Any] = {"count": len(values), "missing": len(values) - len(present)}
    if not present:
        out["frequencies"] = {}
        return out
    uniq, counts = np.unique(np.asarray(present, dtype=object).astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    top = order[:max_categories]
    freqs = {str(uniq[i]): int(counts[i]) for i in top.tolist()}
    if order.size > max_categories:
        freqs["__other__"] = freqs.get("__other__", 0) + int(counts[order[max_categories:]].sum())
        _stats.count("reference_categories_folded", int(order.size - max_categories))
    out["frequencies"] = freqs
    return out


def _label_texts(col: Any, policy: Policy) -> list[Any]:
    """Class labels as the parse views store them: numbers canonical (1.0 → '1'), the rest as text."""
    out = []
    for v in _record.label_list(col, policy):
        if isinstance(v, float) and v.is_integer() and abs(v) < 2.0**53:
            v = int(v)
        out.append(None if v is None else (v if isinstance(v, str) else str(v)))
    return out


def _summary(col: Any, bins: int, policy: Policy, max_categories: int, task: str) -> dict[str, Any]:
    """A prediction or label summary whose kind follows the model's task (docs/statistics.md): numbers
    of a regression model are numeric, a classifier's labels categorical (its 0/1 predictions are
    classes, not values). When the task is unknown here, numbers with few distinct values carry both
    forms, and the collector picks the one the registered task calls for."""
    numeric = _record._column_kind(col) == _record.NUMERIC
    if numeric and task == "regression":
        return {"kind": "numeric", **numeric_profile(col, bins)}
    texts = _label_texts(col, policy)
    if not numeric or task:
        return {"kind": "categorical", **categorical_profile(texts, max_categories)}
    out = {"kind": "numeric", **numeric_profile(col, bins)}
    classes = categorical_profile(texts, max_categories)
    if "__other__" not in classes["frequencies"]:
        out["frequencies"] = classes["frequencies"]
    return out


def profile(
    table: Table, predictions: Any, labels: Any, scores: Any, policy: Policy, bins: int, max_categories: int,
    task: str = "",
) -> dict[str, Any]:
    numeric: dict[str, Any] = {}
    categorical: dict[str, Any] = {}
    columns = table.columns or {}
    for name, action in policy.select(columns):
        col = columns[name]
        if action == HASH:
            hashed = [policy.hash_value(v) for v in (col.tolist() if isinstance(col, np.ndarray) else col)]
            categorical[name] = categorical_profile(hashed, max_categories)
        elif _record._column_kind(col) in (_record.NUMERIC, ""):
            numeric[name] = numeric_profile(col, bins, table.nan_is_missing)
        else:
            categorical[name] = categorical_profile(
                _record.text_list(col, policy, table.nan_is_missing), max_categories
            )
    body: dict[str, Any] = {}
    if numeric:
        body["numeric"] = numeric
    if categorical:
        body["categorical"] = categorical
    if predictions is not None:
        body["prediction"] = _summary(predictions, bins, policy, max_categories, task)
    if scores is not None:
        body["score"] = {"kind": "numeric", **numeric_profile(scores, bins)}
    if labels is not None:
        body["label"] = _summary(labels, bins, policy, max_categories, task)
    return body


class SampleBody(_setup.Lazy):
    __slots__ = ("kinds", "labels", "max_bytes", "policy", "predictions", "scores", "table")

    def __init__(self, table: Table, predictions: Any, labels: Any, scores: Any, policy: Policy,
                 kinds: dict[str, str], max_bytes: int) -> None:
        self.table = table
        self.predictions = predictions
        self.labels = labels
        self.scores = scores
        self.policy = policy
        self.kinds = kinds
        self.max_bytes = max_bytes

    def render(self) -> list[tuple[str, int, str]]:
        numeric, categorical = _record.features(self.table, self.policy, self.kinds)
        body: dict[str, Any] = {"offset": 0}
        if numeric:
            body["numeric"] = numeric
        if categorical:
            body["categorical"] = categorical
        if self.predictions is not None:
            body["prediction"] = _record.label_list(self.predictions, self.policy)
        if self.scores is not None:
            body["score"] = _record.number_list(self.scores)
        if self.labels is not None:
            body["label"] = _record.label_list(self.labels, self.policy)
        return _record.chunks(body, self.table.rows, True, self.max_bytes)


def _check_names(m: _registry.Model, table: Table) -> None:
    """Warn once when this process's predictions of the model and its reference share no feature name:
    every feature would be left out of drift. (The collector reports the same per window, whatever
    the order of the calls: ml_drift_summary.unreferenced_features.)"""
    seen, names = set(m.kinds), set(table.columns or {})
    if seen and names and not seen & names:
        _stats.notice("reference_feature_names", (
            f"log_reference(model={m.name!r}, version={m.version!r}): none of the reference's feature names "
            f"({', '.join(sorted(names)[:5])}) is a feature of the model's predictions "
            f"({', '.join(sorted(seen)[:5])}), so no feature's drift can be measured; name the reference's "
            "columns as the predictions name them (feature_names=..., or a DataFrame)"))


def log_reference(
    model: str,
    version: str,
    features: Any,
    predictions: Any = None,
    labels: Any = None,
    *,
    scores: Any = None,
    classes: Sequence[Any] | None = None,
    sample_rows: int | None = None,
    profile_data: bool = True,
    bins: int = 20,
    reference_id: str | None = None,
    seed: int | None = 0,
    feature_names: Sequence[str] | None = None,
) -> str:
    """Upload the training / validation baseline of a model version; returns its reference id.

    ``features`` is a DataFrame, 2-D numpy array (with ``feature_names``-style column names
    taken from a structured dtype or a dict of columns), dict of columns or list of dicts;
    ``predictions`` and ``labels`` one value per row; ``scores`` the model's score per row (the
    positive-class probability or a confidence), or its class probabilities as a 2-D array or
    DataFrame (one column per class, named by ``classes`` or the DataFrame's columns): the score is
    then derived as on the prediction path, and the predicted classes too when ``predictions`` is
    not given. Sends a uniform random sample of at most ``sample_rows`` rows (default
    HERON_REFERENCE_SAMPLE_ROWS; 0 for none) and, unless ``profile_data=False``, a profile of every
    row (``bins`` quantile bins per numeric feature, plus a bin of its own per point mass: see
    ``bin_edges``; default 20, the number the collector's drift views use when they bin a sample
    themselves: docs/statistics.md measures the profile Wasserstein's error at 10 and 20 bins).
    ``feature_names`` names the columns of a plain 2-D numpy array, as ``@monitor(feature_names=…)``
    does, so reference and predictions compare feature by feature. With labels and predictions
    (or scores), the sample also gives the model's performance baselines (docs/statistics.md):
    upload held-out data then, since predictions on the training set are optimistic.
    """
    if not isinstance(model, str) or not model:
        raise ValueError(f"log_reference(model=...): expected a non-empty model name, got {model!r}")
    if not isinstance(bins, int) or bins < 2:
        raise ValueError(f"log_reference(bins=...): expected an int of at least 2, got {bins!r}")
    if feature_names is not None and (isinstance(feature_names, str)
                                      or not all(isinstance(n, str) for n in feature_names)):
        raise ValueError("log_reference(feature_names=...): expected a list of feature names (strings)")
    if (feature_names is not None and isinstance(features, np.ndarray) and features.ndim == 2
            and len(feature_names) != features.shape[1]):
        raise ValueError(f"log_reference(feature_names=...): {len(feature_names)} names for "
                         f"{features.shape[1]} columns")
    table = _extract.features_of(features, feature_names)
    if table is None:
        raise ValueError(
            f"log_reference(features=...): cannot read features from {type(features).__name__}; pass a "
            "DataFrame, dict of columns, 2-D numpy array or list of dicts"
        )
    if table.row is not None:
        table = Table(1, columns={k: [v] for k, v in table.row.items()})
    n = table.rows
    predictions = _as_column(predictions, n, "predictions")
    labels = _as_column(labels, n, "labels")
    scores, predicted = _as_scores(scores, n, classes)
    if predictions is None and predicted is not None:
        predictions = predicted
    ref_id = reference_id or uuid.uuid4().hex
    state = _setup.get()
    if not state.enabled:
        return ref_id
    s = state.settings
    k = s.reference_sample_rows if sample_rows is None else sample_rows
    m = _registry.model(model, str(version))
    _check_names(m, table)
    attrs = dict(m.attrs)
    attrs["heron.reference.id"] = ref_id
    now = time.time_ns()
    try:
        if k > 0 and n > 0:
            if n > k:
                idx = np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
                sample = Table(k, columns={c: _take(v, idx) for c, v in (table.columns or {}).items()},
                               nan_is_missing=table.nan_is_missing)
                sp = None if predictions is None else _take(predictions, idx)
                sl = None if labels is None else _take(labels, idx)
                ss = None if scores is None else _take(scores, idx)
            else:
                sample, sp, sl, ss = table, predictions, labels, scores
            body = SampleBody(sample, sp, sl, ss, state.policy, dict(m.kinds), s.max_record_bytes)
            _setup.emit(state, "heron.reference", {**attrs, "heron.reference.kind": "sample"}, body,
                        sample.rows, now)
        if profile_data and n > 0:
            prof = profile(table, predictions, labels, scores, state.policy, bins, s.max_categories, m.task)
            _setup.emit(state, "heron.reference", {**attrs, "heron.reference.kind": "profile"},
                        _setup.RowBody(prof, s.max_record_bytes), 1, now)
            _pca.log_fit(state, attrs, table, now)  # multivariate drift: docs/statistics.md
    except Exception as exc:
        _stats.fault("reference", exc)
    return ref_id
