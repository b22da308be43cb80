"""The PCA fit for multivariate drift, uploaded with ``heron.log_reference`` (kind ``pca``).

Data reconstruction drift, as NannyML's: standardise the reference's numeric features, keep the
principal components that explain ``VARIANCE_SHARE`` of the variance, and measure how far each
row is from its reconstruction from those components. A change in how features relate (a
correlation that flips) moves rows off the reference's principal subspace and raises the mean
error even when every marginal stays the same. The collector's view
(queries/views/14_drift_multivariate.sql) applies the same arithmetic to each window; the rules
are in docs/statistics.md ("Multivariate drift") and the record in docs/wire-format.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _record, _setup, _stats
from ._extract import Table
from ._privacy import HASH, Policy

VARIANCE_SHARE = 0.65  # NannyML's default: components kept until they explain more than this
CHUNKS = 10  # reference chunks for the error's mean and spread (NannyML's default chunk count)
MIN_FEATURES = 2


def _matrix(table: Table, policy: Policy) -> tuple[list[str], np.ndarray]:
    """(names, rows × features float matrix) of the exported numeric features; missing → NaN."""
    names: list[str] = []
    columns: list[np.ndarray] = []
    source = table.columns or {}
    for name, action in policy.select(source):
        col = source[name]
        if action == HASH or _record._column_kind(col) != _record.NUMERIC:
            continue
        if isinstance(col, np.ndarray) and col.dtype.kind in "fiu":
            values = col.astype(float)
        else:
            values = np.array([np.nan if v is None else float(v) for v in col], dtype=float)
        values[~np.isfinite(values)] = np.nan  # NaN, ±Inf and None are all imputed by the mean
        if np.isfinite(values).any():
            names.append(name)
            columns.append(values)
    if not columns:
        return names, np.empty((table.rows, 0))
    return names, np.column_stack(columns)


def standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x − mean) / std per feature, a non-finite or missing value taking the mean (z = 0)."""
    z = (x - mean) / std
    z[~np.isfinite(z)] = 0.0
    return z


def errors(z: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Euclidean distance of each standardised row from its reconstruction z·Wᵀ·W."""
    return np.sqrt(np.sum((z - (z @ components.T) @ components) ** 2, axis=1))


def fit(table: Table, policy: Policy) -> dict[str, Any] | None:
    """The ``pca`` reference body, or None when the reference has fewer than 2 numeric features
    (with a finite value) or fewer than ``CHUNKS`` rows, or no variance at all."""
    names, x = _matrix(table, policy)
    n, p = x.shape
    if p < MIN_FEATURES or n < CHUNKS:
        return None
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant feature: scale 1, as scikit-learn's StandardScaler
    z = standardise(x, mean, std)
    eigenvalues, vectors = np.linalg.eigh(z.T @ z / n)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = np.clip(eigenvalues[order], 0.0, None), vectors[:, order]
    total = eigenvalues.sum()
    if not total > 0:
        return None
    ratio = eigenvalues / total
    # as scikit-learn's PCA(n_components=0.65): the fewest components explaining more than the share
    kept = int(np.searchsorted(np.cumsum(ratio), VARIANCE_SHARE, side="right")) + 1
    kept = min(max(kept, 1), p - 1)
    components = vectors[:, :kept].T
    chunk_size = n // CHUNKS
    per_row = errors(z[:chunk_size * CHUNKS], components)
    chunk_errors = per_row.reshape(CHUNKS, chunk_size).mean(axis=1)
    _stats.count("reference_pca_fits")
    return {
        "features": names,
        "mean": mean.tolist(),
        "std": std.tolist(),
        "components": components.tolist(),
        "explained_variance_ratio": ratio[:kept].tolist(),
        "variance_share": VARIANCE_SHARE,
        "rows": n,
        "chunk_size": chunk_size,
        "chunks": CHUNKS,
        "error_mean": float(chunk_errors.mean()),
        "error_std": float(chunk_errors.std(ddof=1)),
    }


def log_fit(state: Any, attrs: dict[str, Any], table: Table, timestamp_ns: int) -> None:
    """Fit and emit the ``pca`` reference record of one upload (nothing when there is no fit)."""
    try:
        body = fit(table, state.policy)
        if body is not None:
            _setup.emit(state, "heron.reference", {**attrs, "heron.reference.kind": "pca"},
                        _setup.RowBody(body, state.settings.max_record_bytes), 1, timestamp_ns)
    except Exception as exc:
        _stats.fault("reference_pca", exc)
