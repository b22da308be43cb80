"""Reference bins are computed once per reference and kept until their inputs change.

Every scheduled refresh would otherwise sort the whole reference sample again. A version keeps
its rows (same computed_at) while its newest upload, its settings and its task are unchanged; a
new upload, more rows under the same upload id, or a settings change bins it again, and features
the new reference lacks disappear.
"""

from __future__ import annotations

import numpy as np

from ._data import insert_reference, refresh_views

VIEWS = ("ml_reference_bins_mv",)


def _bins(store) -> dict[str, tuple]:
    rows = store.query("SELECT feature, n, edges, computed_at, signature FROM heron.ml_reference_bins "
                       "WHERE model_name = 'm' AND model_version = 'v1' AND role = 'feature'").result_rows
    return {feature: (n, list(edges), computed_at, signature) for feature, n, edges, computed_at, signature in rows}


def _edges(values: np.ndarray, bins: int) -> list[float]:
    ordered = np.sort(values)
    n = len(ordered)
    return np.unique(ordered[[-(-k * n // bins) - 1 for k in range(1, bins)]]).tolist()


def test_unchanged_reference_is_kept_and_a_new_upload_replaces_it(store):
    rng = np.random.default_rng(3)
    first = {"a": rng.normal(0, 1, 500), "b": rng.exponential(1, 500)}
    insert_reference(store, "m", "v1", first, reference_id="r1")
    refresh_views(store, *VIEWS)
    before = _bins(store)
    assert before["a"][1] == _edges(first["a"], 20) and before["b"][0] == 500

    refresh_views(store, *VIEWS)
    assert _bins(store) == before  # same rows, same computed_at: nothing was binned again

    second = {"a": rng.normal(5, 2, 300)}
    insert_reference(store, "m", "v1", second, reference_id="r2")
    refresh_views(store, *VIEWS)
    after = _bins(store)
    assert set(after) == {"a"}  # the new reference has no "b"
    assert after["a"][1] == _edges(second["a"], 20) and after["a"][0] == 300
    assert after["a"][2] > before["a"][2] and after["a"][3] != before["a"][3]


def test_rows_arriving_later_under_the_same_upload_and_settings_changes_rebin(store):
    rng = np.random.default_rng(4)
    part1, part2 = rng.normal(0, 1, 200), rng.normal(3, 1, 200)
    insert_reference(store, "m", "v1", {"a": part1}, reference_id="r1")
    refresh_views(store, *VIEWS)
    assert _bins(store)["a"][0] == 200

    # the rest of the same upload arrives in a later batch (row_index continues)
    store.insert("heron.ml_reference", [["m", "v1", "r1", 200 + i, {"a": float(x)}] for i, x in enumerate(part2)],
                 column_names=["model_name", "model_version", "reference_id", "row_index", "numeric"])
    refresh_views(store, *VIEWS)
    both = np.r_[part1, part2]
    assert _bins(store)["a"][0] == 400 and _bins(store)["a"][1] == _edges(both, 20)

    store.command("INSERT INTO heron.ml_monitor_config (model_name, bins) VALUES ('m', 5)")
    refresh_views(store, *VIEWS)
    assert _bins(store)["a"][1] == _edges(both, 5)
