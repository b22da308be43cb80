"""Analytics cost against retained data: one refresh of every view through a running collector.

Model `bench` v1 (binary classification): 25 features, f0..f19 numeric (normal or exponential, one
scale per feature) and c0..c4 categorical (4 to 16 categories), a score, a 0/1 prediction, and a
label for 30 % of the rows. Defaults of the store are left as they are (hourly windows, 3-day
look-back), so every retained row is inside the look-back.

Per retained size (`--retained`, default 1M and 10M), on a fresh embedded store:
  1. reference  a real `heron collector` starts on the store; the SDK (heron.register_model,
                heron.log_reference in its own process) uploads a 100k-row training set as a
                deployment does: a 10k-row sample, a profile of every row and the PCA fit.
  2. load       the collector stops; a separate process opens the store and generates the retained
                rows in SQL (INSERT … SELECT FROM numbers()) *into otel_logs*, as the records the SDK
                sends: columnar heron.prediction records of 1,000 rows, a heron.ground_truth record
                per prediction record (30 % of its ids), and one heron.predict span per record in
                otel_traces. So the parse views and every insert-time view run on them, as on rows a
                collector stores. Predictions are spread evenly from the start of the hour 23 h ago
                to 2 minutes ago: 24 hourly windows.
  3. measure    the collector starts again (HERON_REFRESH_SECONDS=86400: only explicit refreshes run,
                after the startup refresh that opening a store triggers; it is awaited, and printed
                as startup_s). After the refresh margin (300 s) one catch-up refresh, so that what
                the load wrote is older than the timed refresh's look-back over changes, as in a
                deployment whose retained rows arrived before its last refresh. The SDK sends 100k
                new predictions (`--new-rows`) in 1,000-row batch calls through OTLP/HTTP protobuf
                (30 % labelled), flushed every 20 calls so its queue never drops; until
                ml_predictions and ml_ground_truth hold them all.
Figures (RESULT line per size):
  retained           prediction rows in the store before the new ones;
  refresh_s          wall time of the CLI `heron refresh --wait --data-dir DIR` (every view, through
                     the running collector's admin endpoint, finalize included; the CLI's own start,
                     about 0.5 s, included), after the new rows are stored;
  cold_s             the same, right after a new reference was uploaded (SDK, new reference id) and
                     stored: the first refresh on a new basis;
  insert_us_per_row  what the insert-time views add to storing a prediction row: during the load,
                     chunks of 100k rows (1,000-row records) are generated once into a staging table,
                     then inserted into otel_logs (every materialized view attached) and into an
                     identical table without views (otel_logs_bare), in alternating order; (Σ time
                     with views − Σ time without) / rows, over `--insert-sample` rows (default 1M)
                     spread over the load;
  peak_mb            the collector's peak resident set (VmHWM, /proc/PID/status) over its run: the
                     startup refresh, the new rows, both timed refreshes;
  load1, load5       the machine's load average when the line is printed (2 shared cores).
Per-view engine times (system.view_refreshes) of both refreshes are printed above the line.
Disk: after the first size the script knows the store's bytes per retained row (printed) and refuses
a size that would not fit in the free space with a margin (before: an estimate of 700 B/row).

`--sustained`: a fresh store, a reference as above (and `--preload` retained rows, default 0), a
collector with HERON_REFRESH_SECONDS=`--refresh-seconds` (default 60: ClickHouse's own schedule,
REFRESH EVERY 60 SECOND). An SDK process makes `--batch`-row batch calls (default 500) paced at
`--rate` predictions/s (default 5,000) for `--minutes` (default 10), 30 % labelled. Every second this
script reads the rows stored (count() of ml_predictions) and the rows the drift statistics count
(Σ over windows of ml_drift's n_current for f0). A row's refresh lag is the time from its arrival
(the first poll that saw it stored) to the first poll whose statistics include it; lag_max_s is the
largest lag seen and lag_p50_s the median over rows. Sending stops after --minutes; the script then
waits at most --drain seconds (default 2 refresh intervals + 30 s) for the statistics to catch up, and
rows still missing then count with the lag they had reached (caught_up=0: lag_max_s is a lower bound).
Refresh time: per scheduled cycle, the sum of the views' last_success_duration_ms (a view belongs to
the cycle its run started in); first/last/max over the run. cpu_cores: the collector's CPU seconds
(utime + stime, /proc/PID/stat) over the sending period / its wall time. Last line:
  RESULT mode=sustained rate=… achieved_rate=… stored_rate=… lag_p50_s=… lag_max_s=… caught_up=…
         refreshes=… refresh_first_s=… refresh_last_s=… refresh_max_s=… cpu_cores=… peak_mb=… load1=…

    python benchmarks/analytics_scale.py [--retained 1000000 10000000] [--new-rows 100000]
    python benchmarks/analytics_scale.py --sustained [--rate 5000] [--minutes 10] [--refresh-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from heron_collector.migrations import Layout
from ingest import wait_startup_refresh

NUMERIC = [f"f{i}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
MODEL, VERSION = "bench", "v1"
RECORD_ROWS = 1000  # rows per columnar record, as the SDK sends a 1,000-row batch call
CHUNK_RECORDS = 100  # records per generated insert: 100k rows
LABELLED = 3  # of 10 rows carry a label
TRAINING_ROWS = 100_000
BYTES_PER_ROW_GUESS = 700.0
REFRESH_MARGIN_S = Layout().refresh_margin_seconds  # how far before its last run a refresh takes changes
LOG_COLUMNS = ("Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, "
               "ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, "
               "Body, LogAttributes, EventName")  # in the order _records_sql selects them
HERE = os.path.abspath(__file__)
# Rows the drift statistics count: Σ over the windows of f0's n_current.
COUNTED = ("SELECT sum(n) FROM (SELECT window_start, max(n_current) AS n FROM heron.ml_drift FINAL "
           f"WHERE model_name = '{MODEL}' AND role = 'feature' AND feature = 'f0' GROUP BY window_start)")


# --- data generated in SQL: the records the SDK sends --------------------------------------------

def _numeric_sql(i: int) -> str:
    draw = f"randNormal(0, 1, k + r + {i})" if i % 3 else f"randExponential(1.0, k + r + {i})"
    return f"'f{i}', arrayMap(k -> round({draw} * {1 + i}, 6), ks)"


def _categorical_sql(i: int) -> str:
    return (f"'c{i}', arrayMap(k -> concat('v', toString(least(toUInt32(randExponential(1.0, k + r + {100 + i})), "
            f"{3 + 3 * i}))), ks)")


def _records_sql(first: int, count: int, base_us: int, step_us: int, now_us: int) -> tuple[str, str, str]:
    """SELECTs of (prediction records, ground-truth records, spans) for records [first, first + count).

    Record r holds rows r·1000 … r·1000 + 999 (ids 'r<row>'), stamped base + r·step; its scores are a
    hash of (r, k), so the label record (30 % of the ids, label = 1 with probability = score) agrees."""
    head = (f"WITH number AS r, range({RECORD_ROWS}) AS ks, "
            "arrayMap(k -> (cityHash64(r, k) % 1000000) / 1e6, ks) AS scores, "
            f"{base_us} + r * {step_us} AS ts_us, lower(hex(sipHash128(r))) AS trace_id, "
            "lower(hex(reinterpretAsString(sipHash64(r, 1)))) AS span_id ")
    common = ("1 AS TraceFlags, 'INFO' AS SeverityText, 9 AS SeverityNumber, 'bench' AS ServiceName, "
              "'' AS ResourceSchemaUrl, map('service.name', 'bench') AS ResourceAttributes, "
              "'' AS ScopeSchemaUrl, 'heron' AS ScopeName, '0.1.0' AS ScopeVersion, map() AS ScopeAttributes")
    numbers = f"FROM numbers({first}, {count})"
    predictions = (
        f"{head} SELECT fromUnixTimestamp64Micro(ts_us) AS Timestamp, trace_id AS TraceId, span_id AS SpanId, "
        f"{common}, concat('{{\"id\":', toJSONString(arrayMap(k -> concat('r', toString(r * {RECORD_ROWS} + k)), ks)), "
        f"',\"numeric\":', toJSONString(map({', '.join(_numeric_sql(i) for i in range(len(NUMERIC)))})), "
        f"',\"categorical\":', toJSONString(map({', '.join(_categorical_sql(i) for i in range(len(CATEGORICAL)))})), "
        "',\"prediction\":', toJSONString(arrayMap(s -> toUInt8(s > 0.5), scores)), "
        "',\"score\":', toJSONString(scores), ',\"latency_ms\":12.5}') AS Body, "
        f"map('ml.model.name', '{MODEL}', 'ml.model.version', '{VERSION}', 'heron.schema.version', '1', "
        f"'heron.rows', '{RECORD_ROWS}', 'heron.layout', 'columnar') AS LogAttributes, "
        f"'heron.prediction' AS EventName {numbers}")
    labelled = f"arrayFilter(k -> cityHash64(r, k, 1) % 10 < {LABELLED}, ks)"
    truth = (
        f"{head}, {labelled} AS kept SELECT fromUnixTimestamp64Micro(least(ts_us + 600000000, {now_us})) AS Timestamp, "
        f"'' AS TraceId, '' AS SpanId, {common}, "
        f"concat('{{\"id\":', toJSONString(arrayMap(k -> concat('r', toString(r * {RECORD_ROWS} + k)), kept)), "
        "',\"label\":', toJSONString(arrayMap(k -> toUInt8((cityHash64(r, k, 2) % 1000000) / 1e6 < scores[k + 1]), "
        "kept)), '}') AS Body, "
        f"map('ml.model.name', '{MODEL}', 'heron.schema.version', '1', 'heron.rows', toString(length(kept)), "
        f"'heron.layout', 'columnar') AS LogAttributes, 'heron.ground_truth' AS EventName {numbers}")
    spans = (
        f"{head} SELECT fromUnixTimestamp64Micro(ts_us) AS Timestamp, trace_id AS TraceId, span_id AS SpanId, "
        "'' AS ParentSpanId, '' AS TraceState, 'heron.predict' AS SpanName, 'Internal' AS SpanKind, "
        "'bench' AS ServiceName, map('service.name', 'bench') AS ResourceAttributes, 'heron' AS ScopeName, "
        f"'0.1.0' AS ScopeVersion, map('ml.model.name', '{MODEL}', 'ml.model.version', '{VERSION}', "
        f"'heron.rows', '{RECORD_ROWS}') AS SpanAttributes, "
        "toUInt64(8000000 + cityHash64(r, 3) % 9000000) AS Duration, "
        "if(cityHash64(r, 4) % 100 = 0, 'Error', 'Unset') AS StatusCode, '' AS StatusMessage "
        f"{numbers}")
    return predictions, truth, spans


def load(client, rows: int, insert_sample: int) -> dict:
    """Generate `rows` retained predictions (labels, spans) through otel_logs; time the views' share."""
    client.command("SYSTEM STOP VIEWS")  # opening the store made them due; this process only loads
    for table in ("bench_stage", "otel_logs_bare"):
        client.command(f"DROP TABLE IF EXISTS heron.{table}")
        client.command(f"CREATE TABLE heron.{table} AS heron.otel_logs")
    records = max(1, rows // RECORD_ROWS)
    now_us = int(time.time() * 1e6)
    base_us = (now_us // 3_600_000_000 - 23) * 3_600_000_000
    step_us = (now_us - 120_000_000 - base_us) // records
    chunks = range(0, records, CHUNK_RECORDS)
    every = max(1, len(chunks) * CHUNK_RECORDS * RECORD_ROWS // max(insert_sample, 1))
    with_views = without = measured = 0.0
    t0 = time.perf_counter()
    for n, first in enumerate(chunks):
        count = min(CHUNK_RECORDS, records - first)
        predictions, truth, spans = _records_sql(first, count, base_us, step_us, now_us)
        if n % every == 0:
            client.command("TRUNCATE TABLE heron.bench_stage")
            client.command(f"INSERT INTO heron.bench_stage ({LOG_COLUMNS}) {predictions}")
            order = ("otel_logs", "otel_logs_bare") if (n // every) % 2 == 0 else ("otel_logs_bare", "otel_logs")
            for table in order:
                start = time.perf_counter()
                client.command(f"INSERT INTO heron.{table} ({LOG_COLUMNS}) SELECT {LOG_COLUMNS} FROM heron.bench_stage")
                if table == "otel_logs":
                    with_views += time.perf_counter() - start
                else:
                    without += time.perf_counter() - start
            client.command("TRUNCATE TABLE heron.otel_logs_bare")
            measured += count * RECORD_ROWS
        else:
            client.command(f"INSERT INTO heron.otel_logs ({LOG_COLUMNS}) {predictions}")
        client.command(f"INSERT INTO heron.otel_logs ({LOG_COLUMNS}) {truth}")
        client.command(f"INSERT INTO heron.otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, "
                       "SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, "
                       f"Duration, StatusCode, StatusMessage) {spans}")
        if n % 10 == 9:
            print(f"  loaded {(first + count) * RECORD_ROWS:,} rows ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    for table in ("bench_stage", "otel_logs_bare"):
        client.command(f"DROP TABLE heron.{table}")
    stored = int(client.command(f"SELECT count() FROM heron.ml_predictions WHERE model_name = '{MODEL}'"))
    labels = int(client.command(f"SELECT count() FROM heron.ml_ground_truth WHERE model_name = '{MODEL}'"))
    disk = int(client.command("SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'heron' AND active"))
    return {"seconds": seconds, "stored": stored, "labels": labels, "bytes": disk, "measured_rows": measured,
            "with_views_s": with_views, "without_views_s": without,
            "insert_us_per_row": (with_views - without) / measured * 1e6 if measured else float("nan")}


# --- the SDK side: reference, new rows, sustained load (each in its own process) -----------------

def _features(rng, n: int) -> dict:
    import numpy as np

    out = {}
    for i, name in enumerate(NUMERIC):
        draw = rng.normal(0, 1, n) if i % 3 else rng.exponential(1.0, n)
        out[name] = np.round(draw * (1 + i), 6)
    for i, name in enumerate(CATEGORICAL):
        out[name] = np.char.add("v", np.minimum(rng.exponential(1.0, n).astype(int), 3 + 3 * i).astype(str))
    return out


def _sdk(endpoint: str):
    import heron

    heron.configure(endpoint=endpoint, protocol="http/protobuf", metrics=False, service_name="bench")
    heron.register_model(MODEL, VERSION, task="binary_classification")
    return heron


def _predictor(heron):
    @heron.monitor(model=MODEL, version=VERSION, features="features")
    def predict(features: dict, score) -> dict:
        return {"prediction": (score > 0.5).astype(int), "score": score}

    return predict


def _batches(seed: int, count: int, rows: int) -> list[tuple[dict, object, object]]:
    """A pool of batch calls: (features, the model's scores, labels drawn with probability = score)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(count):
        scores = np.round(rng.random(rows), 6)
        pool.append((_features(rng, rows), scores, (rng.random(rows) < scores).astype(int)))
    return pool


def _call(heron, predict, features: dict, scores, labels, rng) -> None:
    """One batch call, then labels for 30 % of its prediction ids."""
    predict(features, scores)
    ids = heron.last_prediction_ids()
    keep = rng.random(len(ids)) < LABELLED / 10
    heron.log_ground_truth(MODEL, [i for i, k in zip(ids, keep, strict=True) if k], labels[keep])


def step_reference(endpoint: str, seed: int) -> dict:
    import numpy as np

    heron = _sdk(endpoint)
    rng = np.random.default_rng(seed)
    features = _features(rng, TRAINING_ROWS)
    scores = np.round(rng.random(TRAINING_ROWS), 6)
    labels = (rng.random(TRAINING_ROWS) < scores).astype(int)
    t0 = time.perf_counter()
    ref = heron.log_reference(MODEL, VERSION, features, predictions=(scores > 0.5).astype(int), labels=labels,
                              scores=scores)
    heron.flush(60)
    return {"reference_id": ref, "seconds": time.perf_counter() - t0, "stats": heron.stats()}


def step_send(endpoint: str, rows: int, seed: int) -> dict:
    import numpy as np

    heron = _sdk(endpoint)
    predict = _predictor(heron)
    pool = _batches(seed, 10, RECORD_ROWS)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for n in range(rows // RECORD_ROWS):
        _call(heron, predict, *pool[n % len(pool)], rng)
        if n % 20 == 19:
            heron.flush(60)
    heron.flush(60)
    return {"seconds": time.perf_counter() - t0, "stats": heron.stats()}


def step_sustain(endpoint: str, rate: float, seconds: float, batch: int, seed: int) -> dict:
    import numpy as np

    heron = _sdk(endpoint)
    predict = _predictor(heron)
    pool = _batches(seed, 20, batch)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    sent = n = 0
    while True:
        due = t0 + n * batch / rate
        now = time.perf_counter()
        if due - t0 >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        _call(heron, predict, *pool[n % len(pool)], rng)
        sent += batch
        n += 1
    elapsed = time.perf_counter() - t0
    heron.flush(30)
    return {"sent": sent, "seconds": elapsed, "stats": heron.stats()}
# --- the collector and the CLI, as a deployment runs them ----------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict:
    """This environment without OTEL_*/HERON_* (a test's settings must not leak in), plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HERON_"))}, **extra}


class Collector:
    """`heron collector --data-dir DIR` on free loopback ports; its output goes to DIR/collector.log."""

    def __init__(self, data_dir: str, refresh_seconds: int) -> None:
        self.data_dir = data_dir
        http, admin = free_port(), free_port()
        self.endpoint, self.admin = f"http://127.0.0.1:{http}", f"http://127.0.0.1:{admin}"
        self.log = open(os.path.join(data_dir, "collector.log"), "a")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "heron_collector", "collector", "--data-dir", data_dir],
            env=_env(HERON_OTLP_HTTP=f"127.0.0.1:{http}", HERON_OTLP_GRPC=f"127.0.0.1:{free_port()}",
                     HERON_ADMIN=f"127.0.0.1:{admin}", HERON_REFRESH_SECONDS=str(refresh_seconds)),
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(self.endpoint + "/readyz", timeout=1):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"the collector did not become ready; see {self.log.name}") from None
                time.sleep(0.2)

    def sql(self, query: str, timeout: float = 120) -> list:
        post = urllib.request.Request(self.admin + "/admin/sql", data=json.dumps({"sql": query}).encode(),
                                      headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(post, timeout=timeout) as reply:
            return json.loads(reply.read())["rows"]

    def count(self, table: str) -> int:
        return int(self.sql(f"SELECT count() FROM heron.{table} WHERE model_name = '{MODEL}'")[0][0])

    def settle(self, timeout: float = 3600) -> float:
        """Until no view is running and each has run once (the startup refresh); its seconds."""
        return wait_startup_refresh(self.admin, timeout)

    def wait_rows(self, table: str, expected: int, timeout: float = 600) -> float:
        t0 = time.perf_counter()
        while self.count(table) < expected:
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(f"{table} holds {self.count(table)} rows of {expected} after {timeout:.0f} s")
            time.sleep(0.2)
        return time.perf_counter() - t0

    def view_times(self) -> dict[str, tuple[str, int]]:
        """view → (last success time, its duration in ms)."""
        rows = self.sql("SELECT view, toString(last_success_time), last_success_duration_ms "
                        "FROM system.view_refreshes WHERE database = 'heron'")
        return {view: (when, int(ms or 0)) for view, when, ms in rows}

    def peak_mb(self) -> float:
        return _status_mb(self.process.pid, "VmHWM")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def refresh(self) -> float:
        """Wall time of the CLI `heron refresh --wait` against this collector."""
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "heron_collector", "refresh", "--wait", "--data-dir", self.data_dir],
                       env=_env(), check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def _status_mb(pid: int, key: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def step(name: str, *args: str, timeout: float | None = None) -> dict:
    """Run one step in a fresh process of this script; its last stdout line is a JSON result."""
    out = subprocess.run([sys.executable, HERE, "--step", name, *args], env=_env(), check=True,
                         stdout=subprocess.PIPE, text=True, timeout=timeout)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_step(name: str, args: list[str]) -> dict:
    if name == "load":  # load PATH ROWS INSERT_SAMPLE
        import clickhouse_connect

        client = clickhouse_connect.get_client(dsn=f"chdb://{os.path.join(args[0], 'chdb')}")
        try:
            return load(client, int(args[1]), int(args[2]))
        finally:
            client.close()
    if name == "reference":  # reference ENDPOINT SEED
        return step_reference(args[0], int(args[1]))
    if name == "send":  # send ENDPOINT ROWS SEED
        return step_send(args[0], int(args[1]), int(args[2]))
    if name == "sustain":  # sustain ENDPOINT RATE SECONDS BATCH SEED
        return step_sustain(args[0], float(args[1]), float(args[2]), int(args[3]), int(args[4]))
    raise ValueError(f"unknown step {name}")


def _load_text() -> str:
    load1, load5, _ = os.getloadavg()
    return f"load1={load1:.2f} load5={load5:.2f}"


def prepare(data_dir: str, retained: int, insert_sample: int, refresh_seconds: int) -> tuple[dict, dict]:
    """A fresh store with a reference uploaded by the SDK and `retained` rows loaded.

    Every collector on it uses the same `refresh_seconds`: another HERON_REFRESH_SECONDS would
    re-create the scheduled views (their rendered SQL changed), and their next refresh would
    recompute the whole look-back."""
    collector = Collector(data_dir, refresh_seconds)
    try:
        collector.settle()
        ref = step("reference", collector.endpoint, "1")
        collector.wait_rows("ml_reference", 10_000)
    finally:
        collector.stop()
    loaded = step("load", data_dir, str(retained), str(insert_sample)) if retained else {}
    return ref, loaded


def _views_line(before: dict, after: dict) -> str:
    """The views that ran between two view_times(): their engine seconds in all, and the slowest."""
    ran = sorted(((ms, view) for view, (when, ms) in after.items() if before.get(view, ("",))[0] != when),
                 reverse=True)
    return (f"{len(ran)} views, {sum(ms for ms, _ in ran) / 1000:.1f} s in the engine; slowest (s): "
            + ", ".join(f"{view.removesuffix('_mv')} {ms / 1000:.1f}" for ms, view in ran[:6]))


def scale(args: argparse.Namespace, workdir: str) -> None:
    bytes_per_row = BYTES_PER_ROW_GUESS
    for retained in args.retained:
        data_dir = os.path.join(workdir, f"store-{retained}")
        need = retained * bytes_per_row * 1.5 + 3e9  # parts being merged, the staging tables, the spool
        free = shutil.disk_usage(workdir).free
        if need > free:
            print(f"SKIP retained={retained}: needs about {need / 1e9:.0f} GB "
                  f"({bytes_per_row:.0f} B/row × 1.5 + 3 GB), "
                  f"{free / 1e9:.0f} GB free in {workdir}; pass a smaller --retained or --workdir on a larger disk",
                  flush=True)
            continue
        os.makedirs(data_dir)
        try:
            _, loaded = prepare(data_dir, retained, args.insert_sample, 86400)
            bytes_per_row = loaded["bytes"] / max(loaded["stored"], 1)
            print(f"retained {loaded['stored']:,} predictions, {loaded['labels']:,} labels loaded through otel_logs "
                  f"in {loaded['seconds']:.0f} s; {loaded['bytes'] / 1e9:.2f} GB on disk ({bytes_per_row:.0f} B/row); "
                  f"insert: {loaded['with_views_s']:.1f} s with views, {loaded['without_views_s']:.1f} s without, "
                  f"over {loaded['measured_rows']:,.0f} rows", flush=True)
            collector = Collector(data_dir, 86400)
            try:
                startup_s = collector.settle()
                # A deployment's retained rows, reference bins and labels arrived before its last
                # refresh; here they were written moments ago, inside the margin a refresh looks
                # back over (Layout.refresh_margin_seconds). Wait it out, then catch up once, so
                # the timed refresh takes what a steady deployment's does: the windows of new rows.
                time.sleep(REFRESH_MARGIN_S + 2)
                catch_up_s = collector.refresh()
                before_new = collector.count("ml_predictions")
                labels_before = collector.count("ml_ground_truth")
                sent = step("send", collector.endpoint, str(args.new_rows), "2")
                dropped = {k: v for k, v in sent["stats"].items() if k.startswith(("dropped", "failed"))}
                stored_s = collector.wait_rows("ml_predictions", before_new + args.new_rows)
                collector.wait_rows("ml_ground_truth", labels_before + 1)
                print(f"startup refresh {startup_s:.1f} s, catch-up refresh {catch_up_s:.1f} s "
                      f"after {REFRESH_MARGIN_S} s; {args.new_rows:,} new rows sent by the SDK in "
                      f"{sent['seconds']:.1f} s, all stored {stored_s:.1f} s later{f'; {dropped}' if dropped else ''}",
                      flush=True)
                views = collector.view_times()
                refresh_s = collector.refresh()
                after = collector.view_times()
                print(f"refresh --wait {refresh_s:.2f} s; {_views_line(views, after)}", flush=True)
                new_ref = step("reference", collector.endpoint, "3")
                deadline = time.monotonic() + 300
                while not collector.sql(f"SELECT count() FROM heron.ml_reference WHERE reference_id = "
                                        f"'{new_ref['reference_id']}'")[0][0]:
                    if time.monotonic() > deadline:
                        raise SystemExit("the new reference was not stored in 300 s")
                    time.sleep(0.2)
                time.sleep(2)  # its profile and PCA fit are in the same request; let the writer land them
                cold_s = collector.refresh()
                cold = collector.view_times()
                print(f"cold refresh --wait {cold_s:.2f} s; {_views_line(after, cold)}", flush=True)
                peak = collector.peak_mb()
            finally:
                collector.stop()
            print(f"RESULT retained={before_new} new_rows={args.new_rows} refresh_s={refresh_s:.2f} "
                  f"cold_s={cold_s:.2f} insert_us_per_row={loaded['insert_us_per_row']:.2f} peak_mb={peak:.0f} "
                  f"{_load_text()}", flush=True)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


def sustained(args: argparse.Namespace, workdir: str) -> None:
    data_dir = os.path.join(workdir, "store-sustained")
    os.makedirs(data_dir)
    interval = args.refresh_seconds
    prepare(data_dir, args.preload, args.insert_sample, interval)
    collector = Collector(data_dir, interval)
    arrivals: list[tuple[float, int]] = []  # (time, rows stored)
    reflected: list[tuple[float, int]] = []  # (time, rows the drift statistics count)
    runs: dict[tuple[str, str], int] = {}  # (view, success time) → ms
    try:
        collector.settle()
        base = collector.count("ml_predictions")
        cpu0, t0, started = collector.cpu_seconds(), time.perf_counter(), time.time()
        sender = subprocess.Popen([sys.executable, HERE, "--step", "sustain", collector.endpoint, str(args.rate),
                                   str(args.minutes * 60), str(args.batch), "4"],
                                  env=_env(), stdout=subprocess.PIPE, text=True)
        drain = args.drain if args.drain is not None else 2 * interval + 30
        cpu1 = t_sent = None
        last_print = 0.0
        while True:
            now = time.perf_counter()
            if t_sent is None and sender.poll() is not None:
                cpu1, t_sent = collector.cpu_seconds(), now
            try:
                stored = collector.count("ml_predictions") - base
                counted = int(collector.sql(COUNTED)[0][0] or 0) - base
                for view, (when, ms) in collector.view_times().items():
                    if when and _epoch(when) >= started:  # runs of the startup refresh excluded
                        runs[(view, when)] = ms
            except OSError as exc:  # a slow admin answer costs one sample, not the run
                print(f"  poll failed: {exc}", file=sys.stderr)
                time.sleep(1)
                continue
            now = time.perf_counter()
            arrivals.append((now - t0, stored))
            reflected.append((now - t0, counted))
            if now - last_print > 30:
                print(f"  {now - t0:5.0f} s: stored {stored:,}, in the statistics {counted:,}", flush=True)
                last_print = now
            if t_sent is not None and (counted >= stored or now - t_sent > drain):
                break
            time.sleep(1)
        sent = json.loads(sender.stdout.read().strip().splitlines()[-1])
        peak = collector.peak_mb()
        sent_s = t_sent - t0
    finally:
        collector.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    lags = _lags(arrivals, reflected)
    final_stored, final_counted = arrivals[-1][1], reflected[-1][1]
    cycles = _cycles(runs, interval)
    totals = [sum(ms for _, ms in views) / 1000 for _, views in sorted(cycles.items())]
    dropped = {k: v for k, v in sent["stats"].items() if k.startswith(("dropped", "failed"))}
    print(f"sent {sent['sent']:,} predictions in {sent['seconds']:.0f} s{f'; SDK {dropped}' if dropped else ''}; "
          f"stored {final_stored:,}; the statistics count {final_counted:,}", flush=True)
    print("refresh cycles (Σ view seconds): " + ", ".join(f"{t:.1f}" for t in totals), flush=True)
    slowest = sorted(((ms, view) for (view, _), ms in runs.items()), reverse=True)[:5]
    print("slowest view runs (s): " + ", ".join(f"{view.removesuffix('_mv')} {ms / 1000:.1f}" for ms, view in slowest))
    p50 = statistics.median(lags) if lags else float("nan")
    worst = max(lags, default=float("nan"))
    print(f"RESULT mode=sustained rate={args.rate:.0f} achieved_rate={sent['sent'] / sent['seconds']:.0f} "
          f"stored_rate={final_stored / sent_s:.0f} lag_p50_s={p50:.0f} lag_max_s={worst:.0f} "
          f"caught_up={int(final_counted >= final_stored)} refreshes={len(totals)} "
          f"refresh_first_s={totals[0] if totals else float('nan'):.1f} "
          f"refresh_last_s={totals[-1] if totals else float('nan'):.1f} "
          f"refresh_max_s={max(totals, default=float('nan')):.1f} "
          f"cpu_cores={(cpu1 - cpu0) / sent_s:.2f} peak_mb={peak:.0f} {_load_text()}", flush=True)


def _lags(arrivals: list[tuple[float, int]], reflected: list[tuple[float, int]]) -> list[float]:
    """Per row (sampled every 1,000 rows): first time it counts in the statistics − first time it was
    stored; rows never counted get the lag they reached by the last poll."""
    out = []
    end = reflected[-1][0]
    a = r = 0
    for row in range(1, arrivals[-1][1] + 1, 1000):
        while arrivals[a][1] < row:
            a += 1
        while r < len(reflected) and reflected[r][1] < row:
            r += 1
        out.append((reflected[r][0] if r < len(reflected) else end) - arrivals[a][0])
    return out


def _epoch(when: str) -> float:
    """Seconds since the epoch of a UTC DateTime as the engine prints it."""
    from datetime import datetime, timezone

    return datetime.fromisoformat(when).replace(tzinfo=timezone.utc).timestamp()


def _cycles(runs: dict[tuple[str, str], int], interval: int) -> dict[int, list[tuple[str, int]]]:
    """View runs grouped by the refresh slot (multiple of `interval`) their run started in."""
    cycles: dict[int, list[tuple[str, int]]] = {}
    for (view, when), ms in runs.items():
        done = _epoch(when)
        slot = int((done - ms / 1000) // interval)
        cycles.setdefault(slot, []).append((view, ms))
    return cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retained", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="retained prediction rows, one run each (a multiple of 1,000)")
    parser.add_argument("--new-rows", type=int, default=100_000, help="new rows before each timed refresh")
    parser.add_argument("--insert-sample", type=int, default=1_000_000,
                        help="rows over which the insert-time views' cost is measured")
    parser.add_argument("--sustained", action="store_true", help="the sustained run instead of the retained sizes")
    parser.add_argument("--rate", type=float, default=5000, help="sustained: predictions per second")
    parser.add_argument("--minutes", type=float, default=10, help="sustained: minutes of sending")
    parser.add_argument("--batch", type=int, default=500, help="sustained: rows per batch call")
    parser.add_argument("--refresh-seconds", type=int, default=60, help="sustained: HERON_REFRESH_SECONDS")
    parser.add_argument("--preload", type=int, default=0, help="sustained: retained rows loaded before")
    parser.add_argument("--drain", type=float, help="sustained: seconds to wait for the statistics after sending "
                                                    "(default: 2 refresh intervals + 30)")
    parser.add_argument("--workdir", help="where the stores go (default: a temporary directory)")
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step[0], args.step[1:])), flush=True)
        return
    workdir = tempfile.mkdtemp(prefix="heron-analytics-", dir=args.workdir)
    try:
        if args.sustained:
            sustained(args, workdir)
        else:
            scale(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
