"""Data-quality view on known data: every rate counted by hand (numpy) on the same rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heron_collector.analytics import refresh

from ._data import hour_start, insert_predictions, insert_reference


def _dq(client) -> dict[tuple, dict]:
    result = client.query("SELECT * FROM heron.ml_data_quality FINAL WHERE model_name = 'q'")
    return {(r[2].replace(tzinfo=None), r[4]): dict(zip(result.column_names, r, strict=True))
            for r in result.result_rows}


def test_data_quality_rates(store):
    rng = np.random.default_rng(11)
    insert_reference(store, "q", "v1", {"x": rng.uniform(0, 10, 500), "gone": rng.normal(0, 1, 500),
                                        "t": rng.normal(0, 1, 500)},
                     {"c": rng.choice(["a", "b"], 500).tolist()})
    window = hour_start(2)
    n = 200
    x = rng.uniform(-2, 12, n).astype(object)
    x[:10] = None
    x[10:15] = math.nan
    x[15:18] = math.inf
    c = rng.choice(["a", "b", "new1", "new2"], n, p=[0.4, 0.4, 0.15, 0.05]).astype(object)
    c[:7] = None
    insert_predictions(store, "q", "v1", window, {"x": list(x), "extra": list(rng.normal(0, 1, n))},
                       {"c": list(c), "t": ["s"] * n}, id_prefix="d")
    # 5 duplicated prediction ids: the same ids sent again
    insert_predictions(store, "q", "v1", window, {"x": [1.0] * 5, "extra": [0.0] * 5},
                       {"c": ["a"] * 5, "t": ["s"] * 5}, id_prefix="d")
    refresh(store, "heron")
    dq = _dq(store)
    rows = n + 5
    xs = np.array([v for v in x if v is not None] + [1.0] * 5, dtype=float)
    finite = xs[np.isfinite(xs)]
    r = dq[(window, "x")]
    assert r["status"] == "ok" and r["n_rows"] == rows and r["n_values"] == rows
    assert r["missing_rate"] == pytest.approx(10 / rows)
    assert r["nan_rate"] == pytest.approx(5 / rows) and r["inf_rate"] == pytest.approx(3 / rows)
    ref_x = store.query("SELECT min, max FROM heron.ml_reference_bins FINAL "
                        "WHERE model_name = 'q' AND feature = 'x'").result_rows[0]
    outside = np.sum((finite < ref_x[0]) | (finite > ref_x[1]))
    assert r["out_of_range_rate"] == pytest.approx(outside / len(finite))
    cc = [v for v in c if v is not None] + ["a"] * 5
    r = dq[(window, "c")]
    assert r["missing_rate"] == pytest.approx(7 / rows)
    assert r["new_category_rate"] == pytest.approx(sum(v.startswith("new") for v in cc) / len(cc))
    assert r["new_categories"] == ["new1", "new2"]
    assert dq[(window, "gone")]["status"] == "disappeared"
    assert dq[(window, "gone")]["missing_rate"] == pytest.approx(1.0)
    assert dq[(window, "extra")]["status"] == "appeared"
    assert dq[(window, "t")]["status"] == "type_mismatch" and dq[(window, "t")]["type_mismatch"] == rows
    assert dq[(window, "*")]["duplicate_ids"] == 5
