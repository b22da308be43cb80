"""Reference bins are computed once per reference and kept until their inputs change.

Every scheduled refresh would otherwise sort the whole reference sample again. A version keeps
its rows (same computed_at) while its newest upload, its settings and its task are unchanged; a
new upload, more rows under the same upload id, or a settings change bins it again, and features
the new reference lacks disappear.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from heron._reference import numeric_profile

from ._data import hour_start, insert_predictions, insert_reference, refresh_views, sample_edges

VIEWS = ("ml_reference_bins_mv",)


def _bins(store) -> dict[str, tuple]:
    rows = store.query("SELECT feature, n, edges, computed_at, signature FROM heron.ml_reference_bins "
                       "WHERE model_name = 'm' AND model_version = 'v1' AND role = 'feature'").result_rows
    return {feature: (n, list(edges), computed_at, signature) for feature, n, edges, computed_at, signature in rows}


def _edges(values: np.ndarray, bins: int) -> list[float]:
    return sample_edges(values, bins).tolist()


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


def _sources(store, model: str) -> dict[tuple[str, str, str], tuple]:
    rows = store.query("SELECT model_version, feature, role, source, n, edges, categories, counts "
                       "FROM heron.ml_reference_bins FINAL WHERE model_name = {m:String}",
                       parameters={"m": model}).result_rows
    return {(v, f, r): (s, n, list(e), list(c), list(k)) for v, f, r, s, n, e, c, k in rows}


def test_the_reference_setting_picks_profile_or_sample_per_version(store):
    """auto: per feature, the version's uploaded profile when it has the feature, else its sample
    (profiles carry no score); 'sample' and 'profile' take only that kind."""
    rng = np.random.default_rng(5)
    sample = rng.normal(0, 1, 400)
    insert_reference(store, "m", "v1", {"a": sample}, score=rng.uniform(0, 1, 400))
    insert_reference(store, "m", "v2", {"a": sample * 2})
    profile = numeric_profile(rng.normal(10, 1, 1000), 10)
    store.insert("heron.ml_reference_profile",
                 [["m", "v1", "p1", "a", "numeric", 1000, 0, 0, profile["edges"], profile["counts"],
                   {}, profile["min"], profile["max"], profile["mean"], profile["std"], dt.datetime(2026, 1, 1)]],
                 column_names=["model_name", "model_version", "reference_id", "feature", "kind", "count",
                               "missing", "non_finite", "edges", "counts", "categories", "min", "max",
                               "mean", "std", "timestamp"])
    refresh_views(store, *VIEWS)
    auto = _sources(store, "m")
    assert set(auto) == {("v1", "a", "feature"), ("v1", "score", "score"), ("v2", "a", "feature")}
    assert auto[("v1", "score", "score")][0] == "sample"
    assert auto[("v1", "a", "feature")][:3] == ("profile", 1000, profile["edges"])
    assert auto[("v2", "a", "feature")][:3] == ("sample", 400, _edges(sample * 2, 20))

    store.command("INSERT INTO heron.ml_monitor_config (model_name, reference) VALUES ('m', 'sample')")
    refresh_views(store, *VIEWS)
    only_samples = _sources(store, "m")
    assert set(only_samples) == {("v1", "a", "feature"), ("v1", "score", "score"), ("v2", "a", "feature")}
    assert only_samples[("v1", "a", "feature")][:3] == ("sample", 400, _edges(sample, 20))

    store.command("INSERT INTO heron.ml_monitor_config (model_name, reference) VALUES ('m', 'profile')")
    refresh_views(store, *VIEWS)
    assert set(_sources(store, "m")) == {("v1", "a", "feature")}


def test_a_window_reference_bins_production_data_of_every_version(store):
    """reference = window: [reference_start, reference_end) of production data, all versions
    together, is the reference of every version of the model (also versions deployed later)."""
    rng = np.random.default_rng(6)
    start, end = hour_start(30), hour_start(28)
    v1, v2 = rng.normal(0, 1, 150), rng.normal(1, 1, 120)
    c1, c2 = rng.choice(list("xyz"), 150).tolist(), rng.choice(list("xw"), 120).tolist()
    s1, s2 = rng.uniform(0, 1, 150), rng.uniform(0, 1, 120)
    insert_predictions(store, "w", "v1", start, {"a": v1}, {"c": c1}, score=s1, id_prefix="a")
    insert_predictions(store, "w", "v2", start + dt.timedelta(hours=1), {"a": v2}, {"c": c2}, score=s2,
                       id_prefix="b")
    # after the window: not part of the reference, but v3 gets the window's reference too
    insert_predictions(store, "w", "v3", hour_start(2), {"a": rng.normal(5, 1, 50)}, id_prefix="c")
    store.command("INSERT INTO heron.ml_monitor_config (model_name, reference, reference_start, reference_end) "
                  "VALUES ('w', 'window', {s:DateTime64(6, 'UTC')}, {e:DateTime64(6, 'UTC')})",
                  parameters={"s": start, "e": end})
    refresh_views(store, *VIEWS)
    rows = _sources(store, "w")
    both, scores, cats = np.r_[v1, v2], np.r_[s1, s2], c1 + c2
    for version in ("v1", "v2", "v3"):
        assert rows[(version, "a", "feature")][:3] == ("window", 270, _edges(both, 20))
        assert rows[(version, "score", "score")][:3] == ("window", 270, _edges(scores, 20))
        source, n, _, categories, counts = rows[(version, "c", "feature")]
        assert (source, n) == ("window", 270)
        assert dict(zip(categories, counts, strict=True)) == {k: cats.count(k) for k in set(cats)}
    assert {key[0] for key in rows} == {"v1", "v2", "v3"}


def test_binning_memory_grows_with_the_sample_not_with_sample_times_bins(store):
    """50,000 rows × 20 features bin within 100 MB (the per-edge binary search used to copy each
    feature's sorted values once per edge: ~150 MB here, ~3 GB for a million-row sample)."""
    store.command("INSERT INTO heron.ml_reference (model_name, model_version, reference_id, row_index, numeric, "
                  "timestamp) SELECT 'm', 'v1', 'r1', number, "
                  "mapFromArrays(arrayMap(i -> concat('f', toString(i)), range(20)), "
                  "arrayMap(i -> cityHash64(number, i) / 1e18, range(20))), now() FROM numbers(50000)")
    rows = store.query("SELECT feature, n, length(edges), arraySum(counts) FROM heron.ml_reference_bins_compute "
                       "SETTINGS max_memory_usage = 100000000").result_rows
    assert sorted(rows) == sorted((f"f{i}", 50000, 19, 50000.0) for i in range(20))
