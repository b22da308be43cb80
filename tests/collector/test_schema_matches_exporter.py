"""otel_logs / otel_traces are exactly the official exporter's tables, so either collector can
write them and Grafana's OTel mode reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from heron_collector.migrations import statements

EXPECTED_DDL = Path(__file__).parent / "data" / "exporter_ddl.sql"
DESCRIBE = """
    SELECT name, type, default_kind, default_expression, compression_codec
    FROM system.columns WHERE database = {db:String} AND table = {table:String} ORDER BY position
"""
INDEXES = """
    SELECT name, type_full, expr, granularity
    FROM system.data_skipping_indices WHERE database = {db:String} AND table = {table:String} ORDER BY name
"""


@pytest.fixture
def expected(store):
    store.command("CREATE DATABASE IF NOT EXISTS expected")
    for statement in statements(EXPECTED_DDL.read_text()):
        store.command(statement)
    return store


@pytest.mark.parametrize("table", ["otel_logs", "otel_traces"])
def test_columns_types_defaults_and_codecs_match_the_exporter(expected, table):
    ours = expected.query(DESCRIBE, parameters={"db": "heron", "table": table}).result_rows
    theirs = expected.query(DESCRIBE, parameters={"db": "expected", "table": table}).result_rows
    assert theirs, "the reference DDL created no columns"
    assert ours == theirs


@pytest.mark.parametrize("table", ["otel_logs", "otel_traces"])
def test_skip_indexes_and_sorting_match_the_exporter(expected, table):
    assert (expected.query(INDEXES, parameters={"db": "heron", "table": table}).result_rows
            == expected.query(INDEXES, parameters={"db": "expected", "table": table}).result_rows)
    keys = ("SELECT partition_key, sorting_key, primary_key FROM system.tables "
            "WHERE database = {db:String} AND name = {t:String}")
    assert (expected.query(keys, parameters={"db": "heron", "t": table}).result_rows
            == expected.query(keys, parameters={"db": "expected", "t": table}).result_rows)


def test_log_event_name_column_exists_for_heron_events(expected):
    names = [r[0] for r in expected.query(DESCRIBE, parameters={"db": "heron", "table": "otel_logs"}).result_rows]
    assert "EventName" in names
