"""Ingest throughput: OTLP → collector → ClickHouse (parse views included), against a baseline.

Starts `heron collector` on loopback with a fresh embedded store (or uses --endpoint), waits for
the refresh that opening a store starts (it would share the cores with the timed phases), sends
pre-encoded OTLP/HTTP protobuf requests, and times until every prediction is visible in
ml_predictions:
  - single: 1-row heron.prediction records (500 per request, like the SDK's batch processor);
  - batch:  1,000-row columnar records (10 per request);
  - concurrent: 200 senders, each with its own keep-alive connection, post 1-row records (10 per
    request). First closed-loop (each sender waits for its answer before the next request, as an
    exporter with one export in flight does): the rate the collector sustains so. Then open-loop
    at 70 % of that rate, each request due at a fixed time: its acknowledgement latency, from when
    it was due to its 200, so a collector falling behind shows in the latency. Sender threads
    share this process's GIL: the figures include client-side scheduling (an upper bound on the
    collector's part).
The baseline, measured in the same run: clickhouse-connect inserting the same predictions
straight into a fresh ml_predictions table (no OTLP, no JSON, no parse view) in this process.

    python benchmarks/ingest.py [--single 20000] [--batch-records 100] [--features 20]

Last line: RESULT ingest_rows_per_s=… batch_rows_per_s=… direct_rows_per_s=… ratio=…
ack_p50_ms=… ack_p99_ms=… concurrent_rows_per_s=… peak_rss_mb=…
(ratio = batch_rows_per_s / direct_rows_per_s; concurrent_rows_per_s: the closed-loop rate of the
200 senders; ack_*: the open-loop latency at 70 % of it; peak_rss_mb: the collector's peak
resident memory over the run, VmHWM).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timezone

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

CATEGORIES = ("DE", "FR", "US", "GB", "JP")


def kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def rows(n: int, features: int, rng: random.Random) -> list[dict]:
    return [{
        "id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "numeric": {f"f{j}": rng.gauss(0, 1) for j in range(features)},
        "categorical": {f"c{j}": rng.choice(CATEGORIES) for j in range(5)},
        "prediction": rng.randint(0, 1),
        "score": rng.random(),
    } for _ in range(n)]


def columnar(chunk: list[dict]) -> dict:
    return {
        "id": [r["id"] for r in chunk],
        "numeric": {k: [r["numeric"][k] for r in chunk] for k in chunk[0]["numeric"]},
        "categorical": {k: [r["categorical"][k] for r in chunk] for k in chunk[0]["categorical"]},
        "prediction": [r["prediction"] for r in chunk],
        "score": [r["score"] for r in chunk],
    }


def request(bodies: list[tuple[str, str, int]]) -> bytes:
    """One ExportLogsServiceRequest holding (body, layout, rows) records."""
    message = logs_service_pb2.ExportLogsServiceRequest()
    scope = message.resource_logs.add(resource={"attributes": [kv("service.name", "bench")]}).scope_logs.add()
    now = time.time_ns()
    for body, layout, n in bodies:
        scope.log_records.add(
            time_unix_nano=now, event_name="heron.prediction", severity_number=9,
            body=common_pb2.AnyValue(string_value=body),
            attributes=[kv("ml.model.name", "bench"), kv("ml.model.version", "1"), kv("heron.schema.version", "1"),
                        kv("heron.layout", layout), kv("heron.rows", str(n))])
    return message.SerializeToString()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_sql(admin: str, sql: str, parameters: dict | None = None, timeout: float = 60) -> list:
    """Rows of `sql` through a running collector's admin endpoint."""
    query = {"sql": sql, "parameters": parameters or {}}
    post = urllib.request.Request(admin + "/admin/sql", data=json.dumps(query).encode(),
                                  headers={"Content-Type": "application/json",
                                           "Authorization": f"Bearer {os.environ.get('HERON_COLLECTOR_TOKEN', '')}"})
    with urllib.request.urlopen(post, timeout=timeout) as reply:
        return json.loads(reply.read())["rows"]


def admin_count(admin: str, model: str = "bench") -> int:
    return int(admin_sql(admin, "SELECT count() FROM heron.ml_predictions WHERE model_name = {m:String}",
                         {"m": model})[0][0])


def wait_startup_refresh(admin: str, timeout: float = 3600) -> float:
    """Until no view is running and each has run once: the refresh that opening a store starts,
    which would otherwise share the cores with what is timed next. Its seconds."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        busy, never = admin_sql(admin, "SELECT countIf(status NOT IN ('Scheduled', 'Disabled')), "
                                       "countIf(last_success_time IS NULL AND exception = '') "
                                       "FROM system.view_refreshes WHERE database = 'heron'")[0]
        if not int(busy) and not int(never):
            return time.perf_counter() - t0
        time.sleep(0.5)
    raise SystemExit(f"the startup refresh did not end in {timeout:.0f} s")


def post_until_acknowledged(conn: http.client.HTTPConnection, payload: bytes) -> str:
    """POST one OTLP request until it is answered 200, waiting out 503s for their Retry-After as an
    exporter does; '' once acknowledged, else the status that ended it."""
    while True:
        conn.request("POST", "/v1/logs", body=payload, headers={"Content-Type": "application/x-protobuf"})
        reply = conn.getresponse()
        reply.read()
        if reply.status == 200:
            return ""
        if reply.status != 503:
            return f"collector answered {reply.status}"
        time.sleep(float(reply.getheader("Retry-After", "1")))


def send_and_wait(endpoint: str, admin: str, payloads: list[bytes], expected_total: int) -> float:
    """Seconds from the first request until ml_predictions holds `expected_total` rows."""
    host, port = endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    start = time.perf_counter()
    for payload in payloads:
        failure = post_until_acknowledged(conn, payload)
        if failure:
            raise SystemExit(failure)
    while admin_count(admin) < expected_total:
        time.sleep(0.05)
    return time.perf_counter() - start


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MiB; 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def concurrent_senders(endpoint: str, payloads: list[bytes], senders: int,
                       requests_per_s: float | None) -> list[float]:
    """Acknowledgement times (ms) of `payloads` posted by `senders` threads. Open-loop with
    `requests_per_s`: request i is due at start + i / requests_per_s, and its time counts from
    when it was due, so a collector that falls behind shows in the latency rather than slowing
    the senders down. Closed-loop without: each sender sends its next request once answered."""
    host, port = endpoint.removeprefix("http://").split(":")
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.5
    failures: list[str] = []

    def sender(k: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        mine = []
        for i in range(k, len(payloads), senders):
            if requests_per_s:
                due = start + i / requests_per_s
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            else:
                due = time.perf_counter()
            failure = post_until_acknowledged(conn, payloads[i])
            if failure:
                failures.append(failure)
                return
            mine.append((time.perf_counter() - due) * 1000)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=sender, args=(k,), daemon=True) for k in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(failures[0])
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def direct_insert(data: list[dict]) -> float:
    """Seconds for clickhouse-connect to insert the same predictions straight into ml_predictions."""
    import clickhouse_connect

    from heron_collector.migrations import Layout, migrate

    with tempfile.TemporaryDirectory() as tmp:
        client = clickhouse_connect.get_client(dsn=f"chdb://{tmp}/chdb")
        migrate(client, Layout())
        now = datetime.now(timezone.utc)
        columns = ["model_name", "model_version", "timestamp", "prediction_id", "numeric", "categorical",
                   "prediction", "prediction_value", "score", "batch_rows"]
        table = [["bench", "1", now, r["id"], r["numeric"], r["categorical"], str(r["prediction"]),
                  float(r["prediction"]), r["score"], 1000] for r in data]
        start = time.perf_counter()
        for i in range(0, len(table), 20_000):  # the collector's default batch size
            client.insert("heron.ml_predictions", table[i:i + 20_000], column_names=columns)
        elapsed = time.perf_counter() - start
        assert int(client.command("SELECT count() FROM heron.ml_predictions")) == len(table)
        client.close()
    return elapsed


def start_collector(data_dir: str) -> tuple[subprocess.Popen, str, str]:
    """A collector on free loopback ports; returns it, its OTLP/HTTP and its admin base URLs."""
    http_port, admin_port = free_port(), free_port()
    env = {**os.environ, "HERON_OTLP_HTTP": f"127.0.0.1:{http_port}", "HERON_OTLP_GRPC": f"127.0.0.1:{free_port()}",
           "HERON_ADMIN": f"127.0.0.1:{admin_port}", "HERON_DATA_DIR": data_dir}
    process = subprocess.Popen([sys.executable, "-m", "heron_collector", "collector"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{http_port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(endpoint + "/readyz", timeout=1):
                return process, endpoint, f"http://127.0.0.1:{admin_port}"
        except OSError:
            if process.poll() is not None:
                raise SystemExit("the collector exited at start") from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the collector did not become healthy")


def workloads(single: int, batch_records: int, features: int, rng: random.Random) -> tuple[list, list, list, list]:
    """(single rows, their requests: 1-row records, 500 per request; batch rows, their requests:
    1,000-row columnar records, 10 per request), the two workloads every ingest benchmark sends."""
    single_rows = rows(single, features, rng)
    single_payloads = [request([(json.dumps(r), "row", 1) for r in single_rows[i:i + 500]])
                       for i in range(0, len(single_rows), 500)]
    batch_rows = rows(batch_records * 1000, features, rng)
    bodies = [json.dumps(columnar(batch_rows[i:i + 1000])) for i in range(0, len(batch_rows), 1000)]
    batch_payloads = [request([(b, "columnar", 1000) for b in bodies[i:i + 10]]) for i in range(0, len(bodies), 10)]
    return single_rows, single_payloads, batch_rows, batch_payloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=20_000, help="1-row records to send")
    parser.add_argument("--batch-records", type=int, default=100, help="1,000-row records to send")
    parser.add_argument("--features", type=int, default=20, help="numeric features per row (plus 5 categorical)")
    parser.add_argument("--senders", type=int, default=200, help="concurrent senders of the latency phase")
    parser.add_argument("--concurrent", type=int, default=40_000, help="1-row records the latency phase sends")
    parser.add_argument("--endpoint", help="an already running collector's OTLP/HTTP base URL")
    parser.add_argument("--admin", default="http://127.0.0.1:4319", help="with --endpoint: its admin base URL")
    args = parser.parse_args()
    rng = random.Random(7)

    single_rows, single_payloads, batch_rows, batch_payloads = workloads(args.single, args.batch_records,
                                                                        args.features, rng)
    print(f"{len(single_rows)} single-row records in {len(single_payloads)} requests; "
          f"{len(batch_rows) // 1000} × 1,000-row records in {len(batch_payloads)} requests; "
          f"{args.features} numeric + 5 categorical features", flush=True)
    concurrent_rows = rows(args.concurrent, args.features, rng)
    concurrent_payloads = [request([(json.dumps(r), "row", 1) for r in concurrent_rows[i:i + 10]])
                           for i in range(0, len(concurrent_rows), 10)]

    with tempfile.TemporaryDirectory() as data_dir:
        process = None
        endpoint, admin = args.endpoint, args.admin
        if not endpoint:
            process, endpoint, admin = start_collector(data_dir)
            wait_startup_refresh(admin)
        try:
            base = admin_count(admin)
            single_s = send_and_wait(endpoint, admin, single_payloads, base + len(single_rows))
            print(f"single-row records: {len(single_rows) / single_s:,.0f} predictions/s ({single_s:.2f} s)",
                  flush=True)
            batch_s = send_and_wait(endpoint, admin, batch_payloads, base + len(single_rows) + len(batch_rows))
            print(f"1,000-row records:  {len(batch_rows) / batch_s:,.0f} predictions/s ({batch_s:.2f} s)", flush=True)
            half = len(concurrent_payloads) // 2
            began = time.perf_counter()
            closed = concurrent_senders(endpoint, concurrent_payloads[:half], args.senders, None)
            concurrent_rate = half * 10 / (time.perf_counter() - began)
            print(f"{args.senders} senders, closed-loop: {concurrent_rate:,.0f} records/s, ack p50 "
                  f"{percentile(closed, 0.50):.1f} ms, p99 {percentile(closed, 0.99):.1f} ms", flush=True)
            offered = 0.7 * concurrent_rate
            latencies = concurrent_senders(endpoint, concurrent_payloads[half:], args.senders, offered / 10)
            ack_p50, ack_p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
            print(f"{args.senders} senders, open-loop at {offered:,.0f} records/s: ack p50 {ack_p50:.1f} ms, "
                  f"p99 {ack_p99:.1f} ms", flush=True)
            peak = peak_rss_mb(process.pid) if process else 0.0
        finally:
            if process:
                process.terminate()
                process.wait(timeout=60)

    direct_s = direct_insert(batch_rows)
    print(f"direct insert:      {len(batch_rows) / direct_s:,.0f} predictions/s ({direct_s:.2f} s)")
    single_rate = len(single_rows) / single_s
    batch_rate, direct_rate = len(batch_rows) / batch_s, len(batch_rows) / direct_s
    print(f"RESULT ingest_rows_per_s={single_rate:.0f} batch_rows_per_s={batch_rate:.0f} "
          f"direct_rows_per_s={direct_rate:.0f} ratio={batch_rate / direct_rate:.2f} ack_p50_ms={ack_p50:.1f} "
          f"ack_p99_ms={ack_p99:.1f} concurrent_rows_per_s={concurrent_rate:.0f} peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
