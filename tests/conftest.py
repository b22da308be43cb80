"""Shared fixtures: a real embedded ClickHouse (chDB) store, migrated, in a temp dir.

chDB allows one data path per process at a time, so the store fixture closes its client at
teardown; tests that need a second store at once run the collector in a subprocess.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

try:
    import chdb  # noqa: F401
    import clickhouse_connect
except ImportError as exc:  # pragma: no cover - fail loudly with the fix
    raise RuntimeError(f"the tests need the embedded store: pip install -e '.[dev]' ({exc})") from exc

from heron_collector.migrations import Layout, migrate


@pytest.fixture
def store(tmp_path):
    """A migrated embedded store of its own (a test that changes the schema, or opens another
    store in this process). Closed after the test."""
    client = clickhouse_connect.get_client(dsn=f"chdb://{os.path.join(tmp_path, 'chdb')}")
    layout = Layout(database="heron", empty_views=True)
    migrate(client, layout)
    try:
        yield client
    finally:
        client.close()


class SharedStore:
    """One migrated store for a whole test module, emptied back to its just-migrated state before
    each test: migrating costs seconds, emptying it a tenth of one.

    `reset` drops what a test created, truncates every table and puts back the rows migration
    seeded. A test that dropped or altered an object of the schema gets a freshly migrated store
    instead. Its views are created empty and refresh only when a test asks (every 30 days otherwise)."""

    DB = "heron"

    def __init__(self, root) -> None:
        self.root = root
        self.generation = 0
        self.client = None
        self._build()

    def _build(self) -> None:
        if self.client is not None:
            self.client.close()
        self.generation += 1
        path = os.path.join(self.root, f"store-{self.generation}", "chdb")
        self.client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
        migrate(self.client, Layout(database=self.DB, refresh_seconds=30 * 86400, empty_views=True,
                                    refresh_margin_seconds=0))
        self.schema = self._schema()
        self.seeds = {table: self.client.query(f"SELECT * FROM {self.DB}.`{table}`")
                      for table, engine in self.schema.items() if "MergeTree" in engine[0]
                      and table != "heron_migrations"}
        self.seeds = {t: r for t, r in self.seeds.items() if r.result_rows}

    def _schema(self) -> dict[str, tuple[str, str]]:
        rows = self.client.query("SELECT name, engine, create_table_query FROM system.tables "
                                 "WHERE database = {db:String} AND NOT startsWith(name, '.')",
                                 parameters={"db": self.DB}).result_rows
        return {name: (engine, query) for name, engine, query in rows}

    def reset(self):
        client = self.client
        running = client.query("SELECT view FROM system.view_refreshes WHERE database = {db:String} "
                               "AND status IN ('Running', 'Scheduling')", parameters={"db": self.DB}).result_rows
        for (view,) in running:
            client.command(f"SYSTEM WAIT VIEW {self.DB}.`{view}`")
        now = self._schema()
        if any(now.get(name) != shape for name, shape in self.schema.items()):
            self._build()  # a test dropped or altered part of the schema
            return self.client
        for name, (engine, _) in now.items():
            if name not in self.schema:
                client.command(f"DROP {'VIEW' if 'View' in engine else 'TABLE'} IF EXISTS {self.DB}.`{name}` SYNC")
        for name, (engine, _) in self.schema.items():
            if "MergeTree" in engine and name != "heron_migrations":
                client.command(f"TRUNCATE TABLE {self.DB}.`{name}`")
        for table, seed in self.seeds.items():
            client.insert(f"{self.DB}.{table}", seed.result_rows, column_names=list(seed.column_names))
        return client


@pytest.fixture(scope="module")
def _module_store(tmp_path_factory):
    shared = SharedStore(tmp_path_factory.mktemp("shared-store"))
    try:
        yield shared
    finally:
        shared.client.close()


@pytest.fixture
def shared_store(_module_store):
    """A migrated store shared by the module's tests, empty at the start of each (see SharedStore)."""
    return _module_store.reset()


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


def run_root(tmp_path_factory) -> Path:
    """A directory shared by every pytest-xdist worker of this run (the workers' base temps are its
    children); the run's own base temp when the suite runs in one process."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def run_lock(tmp_path_factory, name: str):
    """Held by one worker of the run at a time: for what is built once per run (the demo store) or
    must not run twice at once (apt-get)."""
    with open(run_root(tmp_path_factory) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory):
    """The store `make demo` leaves behind, built once per test run in a subprocess (chDB holds
    one data path per process, and the demo's collector needs its own) and shared by the run's
    workers. Read it through `open_demo_store`, which copies it so a test's refresh or insert
    cannot leak into another's, and what the demo printed through `demo_stdout`."""
    path = run_root(tmp_path_factory) / "demo" / "store"
    with run_lock(tmp_path_factory, "demo"):
        if not (path.parent / DEMO_STDOUT).exists():
            shutil.rmtree(path.parent, ignore_errors=True)  # a build that failed half-way
            path.parent.mkdir(parents=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HERON_"))}
            done = subprocess.run([sys.executable, "-m", "heron_collector.demo", "--data-dir", str(path)],
                                  env=env, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                pytest.fail(f"the demo failed (run `make demo` to see it):\n{done.stdout}\n{done.stderr}")
            (path.parent / DEMO_STDOUT).write_text(done.stdout)
    return path


DEMO_STDOUT = "demo-stdout.txt"


def demo_stdout(demo_data_dir) -> str:
    """What the demo that built `demo_data_dir` printed on stdout."""
    return (demo_data_dir.parent / DEMO_STDOUT).read_text()


def open_demo_store(demo_data_dir, into):
    """A client on a private copy of the demo's store (close it before opening another store)."""
    copy = os.path.join(into, "demo-store")
    shutil.copytree(demo_data_dir, copy, symlinks=True)  # the store's links are relative
    return clickhouse_connect.get_client(dsn=f"chdb://{os.path.join(copy, 'chdb')}")


def reset_sdk() -> None:
    """The SDK as a fresh process has it: no pipelines, no counts, no registered models."""
    from heron import _registry, _setup, _stats

    _setup.reset()
    _stats.reset()
    _registry._models.clear()


@pytest.fixture
def sdk_logs():
    """Heron configured with in-memory span, log and metric exporters; the log exporter is yielded
    (tests hand its records to the collector's own converter)."""
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import heron

    reset_sdk()
    out = InMemoryLogRecordExporter()
    heron.configure(span_exporter=InMemorySpanExporter(), log_exporter=out, metric_reader=InMemoryMetricReader())
    try:
        yield out
    finally:
        reset_sdk()
