"""Shared fixtures: a real embedded ClickHouse (chDB) store, migrated, in a temp dir.

chDB allows one data path per process at a time, so the store fixture closes its client at
teardown; tests that need a second store at once run the collector in a subprocess.
"""

from __future__ import annotations

import os

import pytest

try:
    import chdb  # noqa: F401
    import clickhouse_connect
except ImportError as exc:  # pragma: no cover - fail loudly with the fix
    raise RuntimeError(f"the tests need the embedded store: pip install -e '.[dev]' ({exc})") from exc

from heron_collector.migrations import Layout, migrate


@pytest.fixture
def store(tmp_path):
    """A migrated embedded store: (client, database name). Closed after the test."""
    client = clickhouse_connect.get_client(dsn=f"chdb://{os.path.join(tmp_path, 'chdb')}")
    layout = Layout(database="heron")
    migrate(client, layout)
    try:
        yield client
    finally:
        client.close()
