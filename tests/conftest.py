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


def spawn_collector(data_dir, http_port: int, grpc_port: int, admin_port: int | None = None,
                    **env: str) -> subprocess.Popen:
    """`heron collector` as a user starts it, on these loopback ports (admin on a free one unless
    given) over an embedded store in `data_dir`; HERON_*/OTEL_* from the test's environment are
    left out, `env` added."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HERON_"))}
    admin = f"127.0.0.1:{admin_port or free_port()}"
    return subprocess.Popen(
        [*HERON_CLI, "collector", "--otlp-grpc", f"127.0.0.1:{grpc_port}", "--data-dir", str(data_dir)],
        env={**base, "HERON_OTLP_HTTP": f"127.0.0.1:{http_port}", "HERON_ADMIN": admin, "HERON_BATCH_SECONDS": "0.1",
             **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    """Until GET /readyz answers 200; fails the test (with the collector's output) otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            pytest.fail(f"collector exited early:\n{process.stdout.read() if process.stdout else ''}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"collector did not become ready in {timeout:.0f} s")
        time.sleep(0.2)


@pytest.fixture
def collector_process(tmp_path):
    """`heron collector` as a user starts it: a subprocess on free loopback ports over an embedded
    store in a temp dir, ready before the test starts. Yields (OTLP/HTTP base URL, data dir)."""
    http_port, grpc_port = free_port(), free_port()
    process = spawn_collector(tmp_path, http_port, grpc_port)
    url = f"http://127.0.0.1:{http_port}"
    wait_ready(url, process)
    try:
        yield url, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=60)
