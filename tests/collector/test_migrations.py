"""Migrations: ordered, idempotent, recorded; placeholders rendered from one Layout."""

from __future__ import annotations

import clickhouse_connect
import pytest

from heron_collector.migrations import Layout, MigrationError, discover, migrate, render, statements

LAYOUT = Layout(database="heron", empty_views=True)  # the `store` fixture's


@pytest.fixture
def store(tmp_path):
    """Migrated from scratch here (the other tests copy a migrated template: tests/conftest.py)."""
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'chdb'}")
    migrate(client, Layout(database="heron", empty_views=True))
    try:
        yield client
    finally:
        client.close()


def test_second_run_applies_nothing(store):
    assert migrate(store, Layout(database="heron", empty_views=True)) == []


def test_every_file_is_recorded_once(store):
    names = [m.name for m in discover()]
    recorded = store.query("SELECT name FROM heron.heron_migrations FINAL ORDER BY name").result_columns[0]
    assert sorted(recorded) == sorted(names)


def test_ml_tables_exist(store):
    tables = set(store.query("SELECT name FROM system.tables WHERE database = 'heron'").result_columns[0])
    assert {"otel_logs", "otel_traces", "ml_predictions", "ml_ground_truth", "ml_reference",
            "ml_reference_profile", "ml_models"} <= tables


def test_cluster_layout_renders_on_cluster_and_replicated_engines():
    sql = render("CREATE TABLE {{db}}.t {{on_cluster}} (a UInt8) ENGINE = {{replicated}}MergeTree()",
                 Layout(database="mon", cluster="prod"))
    assert sql == "CREATE TABLE mon.t ON CLUSTER prod (a UInt8) ENGINE = ReplicatedMergeTree()"


def test_unknown_placeholder_is_an_error_naming_it():
    with pytest.raises(MigrationError, match="nope"):
        render("SELECT {{nope}}", Layout())


def test_identifiers_are_validated():
    with pytest.raises(ValueError, match="database"):
        Layout(database="heron; DROP TABLE x").values()


def test_statements_split_at_semicolon_line_ends_and_drop_comment_only_chunks():
    sql = "-- header\nCREATE TABLE a (x UInt8);\n\n-- only a comment\nSELECT 1;\n"
    assert statements(sql) == ["-- header\nCREATE TABLE a (x UInt8)", "-- only a comment\nSELECT 1"]


def test_a_comment_line_ending_in_semicolon_does_not_end_a_statement():
    sql = "SELECT 1,\n  -- a note; and another;\n  2;\n"
    assert statements(sql) == ["SELECT 1,\n  -- a note; and another;\n  2"]


def test_a_changed_view_file_is_reapplied_and_a_removed_one_drops_its_view(store, tmp_path):
    import shutil

    from heron_collector.migrations import queries_dir

    root = tmp_path / "queries"
    shutil.copytree(queries_dir(), root)
    extra = root / "views" / "99_extra.sql"
    extra.write_text("CREATE TABLE IF NOT EXISTS {{db}}.extra_t (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
                     "CREATE OR REPLACE VIEW {{db}}.extra_compute AS SELECT 1 AS x FROM {{db}}.otel_logs;\n"
                     "CREATE MATERIALIZED VIEW {{db}}.extra_mv TO {{db}}.extra_t\n"
                     "AS SELECT x FROM {{db}}.extra_compute;\n")
    assert migrate(store, LAYOUT, root) == ["views/99_extra.sql"]
    extra.write_text(extra.read_text().replace("SELECT 1 AS x", "SELECT 2 AS x"))
    assert migrate(store, LAYOUT, root) == ["views/99_extra.sql"]
    assert "SELECT 2" in store.command("SELECT create_table_query FROM system.tables "
                                       "WHERE database = 'heron' AND name = 'extra_compute'")
    extra.unlink()
    assert migrate(store, LAYOUT, root) == ["views/99_extra.sql (removed)"]
    assert store.command("SELECT count() FROM system.tables WHERE database = 'heron' "
                         "AND name IN ('extra_mv', 'extra_compute')") == 0
    assert migrate(store, LAYOUT, root) == []


def test_settings_of_a_store_made_before_columns_inherited_keep_their_values(tmp_path):
    """A store whose ml_monitor_config rows replaced the '*' row whole, with label_lookback_seconds
    in ml_performance_config: after migrating, every model resolves to the values it had."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'chdb'}")
    try:
        client.command("CREATE DATABASE heron")
        client.command("CREATE TABLE heron.ml_monitor_config (model_name String, window_seconds UInt32 DEFAULT 3600, "
                       "lookback_seconds UInt32 DEFAULT 259200, reference Enum8('auto' = 0, 'profile' = 1, "
                       "'sample' = 2, 'window' = 3) DEFAULT 'auto', reference_start Nullable(DateTime64(6, 'UTC')), "
                       "reference_end Nullable(DateTime64(6, 'UTC')), bins UInt16 DEFAULT 20, small_sample UInt32 "
                       "DEFAULT 1000, ks_exact_max_reference UInt32 DEFAULT 20000, drift_share Float64 DEFAULT 0.5, "
                       "updated_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree(updated_at) "
                       "ORDER BY model_name")
        client.command("CREATE TABLE heron.ml_performance_config (model_name String, label_lookback_seconds UInt32 "
                       "DEFAULT 1209600, updated_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
                       "ENGINE = ReplacingMergeTree(updated_at) ORDER BY model_name")
        client.command("INSERT INTO heron.ml_monitor_config (model_name, bins) VALUES ('*', 30)")
        client.command("INSERT INTO heron.ml_monitor_config (model_name, window_seconds) VALUES ('churn', 900)")
        client.command("INSERT INTO heron.ml_performance_config (model_name, label_lookback_seconds) "
                       "VALUES ('*', 1209600), ('churn', 0), ('fraud', 604800)")
        migrate(client, Layout(database="heron"))
        resolved = client.query("SELECT model_name, window_seconds, lookback_seconds, bins, label_lookback_seconds "
                                "FROM heron.ml_monitor_settings WHERE model_name IN ('*', 'churn', 'fraud') "
                                "ORDER BY model_name").result_rows
        # churn's row was whole: its bins stay the 20 it held, not the '*' row's 30
        assert resolved == [("*", 3600, 259200, 30, 1209600), ("churn", 900, 259200, 20, 1209600),
                            ("fraud", 3600, 259200, 30, 604800)]
        assert client.command("SELECT count() FROM system.tables WHERE database = 'heron' "
                              "AND name = 'ml_performance_config'") == 0
        assert migrate(client, Layout(database="heron")) == []
    finally:
        client.close()


def test_a_store_whose_result_tables_lack_newer_columns_gets_them_once(tmp_path):
    """The one-shot upgrades of schema/011 on a store made before its columns existed; on a fresh
    store (where the view files create the tables later, complete) its ALTERs are skipped."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'chdb'}")
    try:
        migrate(client, Layout(database="heron", empty_views=True))
        columns = ("SELECT name FROM system.columns WHERE database = 'heron' AND table = {t:String} "
                   "AND name = {c:String}")
        dropped = [("ml_reference_bins", "signature"), ("ml_data_quality", "implausible_timestamps"),
                   ("ml_baselines", "chunk_n"), ("ml_baselines", "min_value"), ("ml_baselines", "max_value")]
        for table, column in dropped:
            assert client.query(columns, parameters={"t": table, "c": column}).result_rows, "a fresh store has it"
            client.command(f"ALTER TABLE heron.{table} DROP COLUMN {column}")
        client.command("DELETE FROM heron.heron_migrations WHERE name = 'schema/011_result_columns.sql'")
        assert migrate(client, Layout(database="heron", empty_views=True)) == ["schema/011_result_columns.sql"]
        for table, column in dropped:
            assert client.query(columns, parameters={"t": table, "c": column}).result_rows, (table, column)
        assert migrate(client, Layout(database="heron", empty_views=True)) == []
    finally:
        client.close()


def test_a_changed_refresh_interval_recreates_the_scheduled_views(store):
    """The checksum is of the SQL as applied: HERON_REFRESH_SECONDS changed on an existing store
    re-creates its refreshable views with the new interval; nothing else is applied again."""
    def query() -> str:
        return str(store.command("SELECT create_table_query FROM system.tables WHERE database = 'heron' "
                                 "AND name = 'ml_drift_mv'"))

    assert "REFRESH EVERY 1 MINUTE 17 SECOND" not in query()  # ClickHouse normalises 77 s
    applied = migrate(store, Layout(database="heron", empty_views=True, refresh_seconds=77))
    assert "REFRESH EVERY 1 MINUTE 17 SECOND" in query()
    assert applied and all(name.startswith("views/") for name in applied), applied
    assert migrate(store, Layout(database="heron", empty_views=True, refresh_seconds=77)) == []
