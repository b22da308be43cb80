"""A real collector on loopback (ephemeral ports) over a real embedded store in a temp dir."""

from __future__ import annotations

import pytest

from heron_collector.collector import Collector, Settings
from heron_collector.migrations import Layout


def local_settings(data_dir, **overrides) -> Settings:
    """Settings of a collector on ephemeral loopback ports over an embedded store in `data_dir`,
    whatever the environment says; `overrides` on top."""
    return Settings(**{"otlp_http": "127.0.0.1:0", "otlp_grpc": "127.0.0.1:0", "admin": "127.0.0.1:0",
                       "data_dir": str(data_dir),
                       "clickhouse_url": "", "token": "", "batch_seconds": 0.2, **overrides})


def seeded(migrated_copy, settings: Settings) -> Settings:
    """`settings`, with a copy of the store migrated for their layout put in their data dir."""
    migrated_copy(settings.data_dir, Layout.from_settings(settings))
    return settings


@pytest.fixture
def collector(tmp_path, migrated_copy):
    """A collector over a copy of a migrated store (tests/conftest.py, migrated_copy)."""
    settings = seeded(migrated_copy, local_settings(tmp_path, max_body_bytes=4 * 1024 * 1024, batch_rows=5_000))
    with Collector(settings) as running:
        yield running


def query(collector: Collector, sql: str):
    """Rows of a query on the collector's store, after everything buffered has been written."""
    assert collector.flush(timeout=30), "the writer did not drain"
    return collector.store.client.query(sql).result_rows
