"""Shared fixtures: a real embedded ClickHouse (chDB) store, migrated, in a temp dir.

chDB allows one data path per process at a time, so the store fixture closes its client at
teardown; tests that need a second store at once run the collector in a subprocess.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
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

from heron_collector.migrations import Layout, discover, migrate

# -- migrated stores, copied from one template per layout ----------------------------------------
#
# Migrating a new store costs 2-5 s of CPU; copying a migrated one costs a tenth of one. So each
# distinct Layout is migrated once per test run, in a subprocess (chDB holds one data path per
# process), into a template every xdist worker copies. The template's name is a hash of the
# layout, every migration file's checksum and chDB's version: a copy is what migrating the same
# files with the same layout would give. The migrate a test or collector runs next on the copy
# finds nothing to do (the `store` fixture asserts it). tests/collector/test_migrations.py
# migrates from scratch instead.

_BUILD_TEMPLATE = """
import json, sys
import clickhouse_connect
from heron_collector.migrations import Layout, migrate
client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
migrate(client, Layout(**json.loads(sys.argv[2])))
client.close()
"""


def template_key(layout: Layout) -> str:
    import chdb

    parts = [json.dumps(dataclasses.asdict(layout), sort_keys=True), chdb.__version__,
             *(f"{m.name}={m.checksum()}" for m in discover())]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def store_template(tmp_path_factory, layout: Layout) -> Path:
    """The chDB directory of a store migrated with `layout`, built once per test run."""
    key = template_key(layout)
    root = run_root(tmp_path_factory) / "store-templates" / key
    with run_lock(tmp_path_factory, f"store-template-{key}"):
        if not (root / "ready").exists():
            shutil.rmtree(root, ignore_errors=True)  # a build that failed half-way
            root.mkdir(parents=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HERON_"))}
            done = subprocess.run([sys.executable, "-c", _BUILD_TEMPLATE, str(root / "chdb"),
                                   json.dumps(dataclasses.asdict(layout))],
                                  env=env, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                pytest.fail(f"migrating a template store failed:\n{done.stdout}\n{done.stderr}")
            (root / "ready").write_text(key)
    return root / "chdb"


@pytest.fixture(scope="session")
def migrated_copy(tmp_path_factory):
    """`migrated_copy(data_dir, layout)`: put a copy of the migrated template for `layout` at
    `data_dir/chdb`, where a collector or the CLI with `--data-dir data_dir` opens its store.
    Without a layout, a collector's default one (`Layout()`, what no HERON_* variable gives)."""
    def copy(data_dir, layout: Layout | None = None) -> Path:
        target = Path(data_dir) / "chdb"
        assert not target.exists(), f"{target} exists already: a copy goes into a new data dir"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(store_template(tmp_path_factory, layout or Layout()), target, symlinks=True)
        return target
    return copy


@pytest.fixture
def store(tmp_path, migrated_copy):
    """A migrated embedded store of its own (a test that changes the schema, or opens another
    store in this process). Closed after the test."""
    layout = Layout(database="heron", empty_views=True)
    path = migrated_copy(tmp_path, layout)
    client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
    try:
        assert migrate(client, layout) == [], "the template store is not what these migrations give"
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

    def __init__(self, root, migrated_copy=None) -> None:
        self.root = root
        self.migrated_copy = migrated_copy  # the migrated_copy fixture: a copy instead of migrating
        self.generation = 0
        self.client = None
        self._build()

    def _build(self) -> None:
        if self.client is not None:
            self.client.close()
        self.generation += 1
        path = os.path.join(self.root, f"store-{self.generation}", "chdb")
        layout = Layout(database=self.DB, refresh_seconds=30 * 86400, empty_views=True, refresh_margin_seconds=0)
        if self.migrated_copy is not None:
            self.migrated_copy(os.path.dirname(path), layout)
        self.client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
        applied = migrate(self.client, layout)
        assert self.migrated_copy is None or applied == [], f"the template store lacked {applied}"
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
def _module_store(tmp_path_factory, migrated_copy):
    shared = SharedStore(tmp_path_factory.mktemp("shared-store"), migrated_copy)
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
def collector_process(tmp_path, migrated_copy):
    """`heron collector` as a user starts it: a subprocess on free loopback ports over an embedded
    store in a temp dir (a copy of a migrated one), ready before the test starts. Yields (OTLP/HTTP
    base URL, data dir)."""
    migrated_copy(tmp_path)
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
