"""Turn what a model is called with into features, and what it returns into predictions.

Inputs become a `Table`: one row (a dict of scalars) or columns (name → numpy array or list),
copied so that a caller mutating its input after the call cannot change what is exported.
Outputs become `Outputs`: prediction, score and class probabilities, scalars for one row or
columns for a batch. Nothing here imports pandas or pydantic: they are recognised by duck typing.
Nothing here loops over rows in Python for numpy or pandas input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

SCALARS = (int, float, str, bool, type(None), np.generic)


class Table:
    """Features of one call: ``row`` (one prediction) or ``columns`` (a batch of ``rows``)."""

    __slots__ = ("columns", "nan_is_missing", "row", "rows")

    def __init__(
        self,
        rows: int,
        row: dict[str, Any] | None = None,
        columns: dict[str, Any] | None = None,
        nan_is_missing: bool = False,
    ) -> None:
        self.rows = rows
        self.row = row
        self.columns = columns
        self.nan_is_missing = nan_is_missing


class Outputs:
    """Predictions of one call; per-row values are scalars (rows == 1) or columns."""

    __slots__ = ("prediction", "probabilities", "rows", "score")

    def __init__(
        self,
        rows: int | None,
        prediction: Any = None,
        score: Any = None,
        probabilities: dict[str, Any] | None = None,
    ) -> None:
        self.rows = rows
        self.prediction = prediction
        self.score = score
        self.probabilities = probabilities


def _is_pandas(x: Any, name: str) -> bool:
    cls = type(x)
    return cls.__name__ == name and cls.__module__.startswith("pandas")


def _pandas_column(series: Any) -> tuple[Any, bool]:
    """A numpy copy of one pandas column; True when NaN in it means missing (pandas semantics)."""
    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    if isinstance(dtype, np.dtype) and kind in "fiub":
        return series.to_numpy(copy=True), kind == "f"
    # nullable / extension / categorical / string dtypes: NA → None, a real NaN stays NaN
    return series.to_numpy(dtype=object, na_value=None), False


def _names(n: int, feature_names: Sequence[str] | None) -> list[str]:
    if feature_names is not None and len(feature_names) == n:
        return [str(f) for f in feature_names]
    return [str(i) for i in range(n)]


def _record_dict(x: Any) -> dict[str, Any] | None:
    """A dataclass or pydantic model as a dict (shallow), else None."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: getattr(x, f.name) for f in dataclasses.fields(x)}
    dump = getattr(x, "model_dump", None)
    if callable(dump) and hasattr(type(x), "model_fields"):
        return dict(dump())
    return None


def _columns_from_dicts(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    names: dict[str, None] = {}
    for r in records:
        for k in r:
            names.setdefault(str(k), None)
    return {k: [r.get(k) for r in records] for k in names}


def features_of(x: Any, feature_names: Sequence[str] | None = None) -> Table | None:
    """The features in ``x``, or None when the type is not recognised."""
    if isinstance(x, dict):
        if not x:
            return None
        first = next(iter(x.values()))
        if not isinstance(first, (list, tuple, np.ndarray)):
            return Table(1, row=dict(x))  # one row; keys become strings when rendered
        values = list(x.values())
        if all(isinstance(v, (list, tuple, np.ndarray)) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) == 1:
                return Table(lengths.pop(), columns={
                    str(k): (np.array(v, copy=True) if isinstance(v, np.ndarray) else list(v))
                    for k, v in x.items()
                })
        return Table(1, row=dict(x))
    if isinstance(x, np.ndarray):
        if x.dtype.names:
            return Table(len(x), columns={n: np.array(x[n], copy=True) for n in x.dtype.names})
        if x.ndim == 1:
            return Table(1, row=dict(zip(_names(len(x), feature_names), x.tolist(), strict=True)))
        if x.ndim == 2:
            t = x.T.copy()
            return Table(x.shape[0], columns=dict(zip(_names(x.shape[1], feature_names), t, strict=True)))
        return None
    if _is_pandas(x, "DataFrame"):
        columns: dict[str, Any] = {}
        nan_missing = False
        for name in x.columns:
            col, nm = _pandas_column(x[name])
            columns[str(name)] = col
            nan_missing = nan_missing or nm
        return Table(len(x), columns=columns, nan_is_missing=nan_missing)
    if _is_pandas(x, "Series"):
        return Table(1, row={str(k): v for k, v in zip(x.index, x.tolist(), strict=True)})
    if isinstance(x, (list, tuple)):
        if not x:
            return None
        first = x[0]
        if isinstance(first, Mapping):
            return Table(len(x), columns=_columns_from_dicts(x))
        if isinstance(first, (list, tuple, np.ndarray)):
            cols = [list(c) for c in zip(*x, strict=True)]
            return Table(len(x), columns=dict(zip(_names(len(cols), feature_names), cols, strict=True)))
        as_dict = _record_dict(first)
        if as_dict is not None:
            return Table(len(x), columns=_columns_from_dicts([_record_dict(r) or {} for r in x]))
        return Table(1, row=dict(zip(_names(len(x), feature_names), x, strict=True)))
    as_dict = _record_dict(x)
    if as_dict is not None:
        return Table(1, row=as_dict)
    return None


def outputs_of(result: Any, rows: int | None, classes: Sequence[Any] | None = None) -> Outputs | None:
    """The predictions in ``result`` for a call of ``rows`` rows (None: unknown)."""
    if isinstance(result, SCALARS):
        return Outputs(1, prediction=result.item() if isinstance(result, np.generic) else result)
    if isinstance(result, Mapping):
        return _outputs_of_mapping(result, rows, classes)
    if _is_pandas(result, "Series") or _is_pandas(result, "DataFrame"):
        result = result.to_numpy()
    if isinstance(result, (list, tuple)):
        if not result:
            return None
        try:
            result = np.asarray(result)
        except (ValueError, TypeError):
            return None
        if result.dtype.kind == "O" and result.ndim != 1:
            return None
    if not isinstance(result, np.ndarray):
        return None
    if result.ndim == 0:
        return Outputs(1, prediction=result.item())
    if result.ndim == 1:
        if rows == 1 and len(result) == 1:
            return Outputs(1, prediction=result[0].item() if isinstance(result[0], np.generic) else result[0])
        if rows is not None and rows != len(result):
            if rows == 1 and result.dtype.kind == "f":  # one row of class probabilities
                return _probabilities(result[None, :], classes, single=True)
            return None
        return Outputs(len(result), prediction=np.array(result, copy=True))
    if result.ndim == 2:
        if rows is not None and rows != result.shape[0]:
            return None
        if result.shape[1] == 1:
            return outputs_of(result[:, 0], rows, classes)
        if result.dtype.kind not in "fiu":
            return None
        return _probabilities(result, classes, single=rows == 1)
    return None


def _class_names(k: int, classes: Sequence[Any] | None) -> list[Any]:
    if classes is not None and len(classes) == k:
        return [c.item() if isinstance(c, np.generic) else c for c in classes]
    return list(range(k))


def _probabilities(p: np.ndarray, classes: Sequence[Any] | None, single: bool) -> Outputs:
    names = _class_names(p.shape[1], classes)
    p = np.asarray(p, dtype=float)
    best = p.argmax(axis=1)
    label_arr = np.asarray(names, dtype=object)[best]
    score = p[:, 1] if p.shape[1] == 2 else p[np.arange(len(p)), best]
    probs = {str(c): p[:, j].copy() for j, c in enumerate(names)}
    if single:
        return Outputs(
            1, prediction=label_arr[0], score=float(score[0]),
            probabilities={k: float(v[0]) for k, v in probs.items()},
        )
    return Outputs(len(p), prediction=label_arr.tolist(), score=score.copy(), probabilities=probs)


_PREDICTION_KEYS = ("prediction", "label", "predicted_label", "class", "value", "y")


def _outputs_of_mapping(result: Mapping[Any, Any], rows: int | None, classes: Sequence[Any] | None) -> Outputs | None:
    keys = set(result)
    probs = result.get("probabilities", result.get("probas"))
    pred_key = next((k for k in _PREDICTION_KEYS if k in keys), None)
    score = result.get("score", result.get("probability", result.get("confidence")))
    if pred_key is None and probs is None and score is None:
        # {class: probability, ...}
        if result and all(isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)
                          for v in result.values()):
            names = list(result)
            values = np.asarray([float(result[k]) for k in names])[None, :]
            return _probabilities(values, names, single=True)
        return None
    base = outputs_of(result[pred_key], rows, classes) if pred_key is not None else None
    out = base or Outputs(rows if rows is not None else 1)
    if score is not None:
        out.score = _column_or_scalar(score)
    if isinstance(probs, Mapping):
        out.probabilities = {str(k): _column_or_scalar(v) for k, v in probs.items()}
    elif probs is not None:
        parsed = outputs_of(np.asarray(probs), rows, classes)
        if parsed is not None:
            out.probabilities = parsed.probabilities
            if out.prediction is None:
                out.prediction = parsed.prediction
            if out.score is None:
                out.score = parsed.score
    return out


def _column_or_scalar(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.item() if v.ndim == 0 else np.array(v, copy=True)
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return list(v)
    return v


Extractor = Callable[..., Any]
