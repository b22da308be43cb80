"""Shared fixtures: a real embedded ClickHouse (chDB) store, migrated, in a temp dir.

chDB allows one data path per process at a time, so the store fixture closes its client at
teardown; tests that need a second store at once run the collector in a subprocess.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

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


HERON_CLI = [sys.executable, "-m", "heron_collector"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def collector_process(tmp_path):
    """`heron collector` as a user starts it: a subprocess on free loopback ports over an embedded
    store in a temp dir, healthy before the test starts. Yields (OTLP/HTTP base URL, data dir)."""
    http_port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HERON_"))}
    process = subprocess.Popen(
        [*HERON_CLI, "collector", "--otlp-grpc", f"127.0.0.1:{grpc_port}", "--data-dir", str(tmp_path)],
        env={**env, "HERON_OTLP_HTTP": f"127.0.0.1:{http_port}", "HERON_BATCH_SECONDS": "0.1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as reply:
                if reply.status == 200:
                    break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"collector exited early:\n{process.stdout.read() if process.stdout else ''}")
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("collector did not become healthy in 90 s")
            time.sleep(0.2)
    try:
        yield url, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=60)
