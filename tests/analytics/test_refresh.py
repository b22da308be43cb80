"""`refresh` runs views dependencies first and names unknown views; the order follows re-created views."""

from __future__ import annotations

import pytest

from heron_collector.analytics import refresh, refreshable_views


def test_dependencies_come_first_also_for_a_subset(store):
    ordered = refreshable_views(store, "heron")
    drift_views = ["ml_reference_bins_mv", "ml_drift_ks_exact_mv", "ml_drift_mv"]
    assert [v for v in ordered if v in drift_views] == drift_views  # ks and drift DEPEND ON the bins
    assert refreshable_views(store, "heron", ["ml_drift_mv", "ml_reference_bins_mv"]) == [
        "ml_reference_bins_mv", "ml_drift_mv"]


def test_unknown_views_are_named_with_the_known_ones(store):
    with pytest.raises(ValueError, match=r"not refreshable views in heron: nope; known: .*ml_drift_mv"):
        refresh(store, "heron", views=["ml_drift_mv", "nope"])


def test_a_view_created_again_with_other_dependencies_is_ordered_by_its_new_definition(store):
    for table in ("t_a", "t_z"):
        store.command(f"CREATE TABLE heron.{table} (x UInt8) ENGINE = MergeTree ORDER BY x")
    store.command("CREATE MATERIALIZED VIEW heron.a_mv REFRESH EVERY 1 DAY DEPENDS ON heron.ml_drift_mv "
                  "TO heron.t_a AS SELECT 1 AS x")
    assert refreshable_views(store, "heron", ["a_mv", "ml_drift_mv"]) == ["ml_drift_mv", "a_mv"]
    store.command("DROP VIEW heron.a_mv SYNC")
    store.command("CREATE MATERIALIZED VIEW heron.a_mv REFRESH EVERY 1 DAY TO heron.t_a AS SELECT 1 AS x")
    store.command("CREATE MATERIALIZED VIEW heron.z_mv REFRESH EVERY 1 DAY DEPENDS ON heron.a_mv "
                  "TO heron.t_z AS SELECT 2 AS x")
    assert refreshable_views(store, "heron", ["z_mv", "ml_drift_mv", "a_mv"]) == ["a_mv", "ml_drift_mv", "z_mv"]


def test_a_compute_view_previews_what_the_refresh_writes(store):
    """Each `<name>_mv` selects from `<name>_compute(as_of = now(), since_view = '<name>_mv')`:
    querying it with since_view = '' shows what a refresh of the whole look-back writes."""
    from ._data import hour_start, insert_predictions, insert_reference

    insert_reference(store, "m", "v1", {"a": [float(i % 50) for i in range(400)]})
    insert_predictions(store, "m", "v1", hour_start(1), {"a": [float(i % 70) for i in range(300)]})
    refresh(store, "heron", views=["ml_reference_bins_mv", "ml_drift_ks_exact_mv", "ml_drift_mv"])
    query = ("SELECT window_start, feature, method, statistic, n_current, n_reference FROM heron.{} "
             "WHERE model_name = 'm'")
    written = sorted(store.query(query.format("ml_drift FINAL")).result_rows)
    preview = sorted(store.query(query.format("ml_drift_compute(as_of = now(), since_view = '')")).result_rows)
    assert written and preview == written
    mvs = store.query("SELECT name, as_select FROM system.tables WHERE database = 'heron' AND engine = "
                      "'MaterializedView' AND name IN (SELECT view FROM system.view_refreshes)").result_rows
    def only_selects_its_compute_view(name: str, select: str) -> bool:
        compute = f"heron.{name.removesuffix('_mv')}_compute"
        return select.strip() in (f"SELECT * FROM {compute}",   # no windows: reference bins, baselines
                                  f"SELECT * FROM `{compute}`(as_of = now())",   # ml_sla: every window
                                  f"SELECT * FROM `{compute}`(as_of = now(), since_view = '{name}')")

    assert mvs and all(only_selects_its_compute_view(name, select) for name, select in mvs), mvs
