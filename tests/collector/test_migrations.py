"""Migrations: ordered, idempotent, recorded; placeholders rendered from one Layout."""

from __future__ import annotations

import pytest

from heron_collector.migrations import Layout, MigrationError, discover, migrate, render, statements


def test_second_run_applies_nothing(store):
    assert migrate(store, Layout(database="heron")) == []


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
