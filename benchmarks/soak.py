"""Soak: a bounded load through a real collector process, SIGKILLed and restarted in the middle.

Two senders post 1,000-row columnar records (5 per request) over OTLP/HTTP protobuf and, as an
exporter does, send a request again until it is answered 200 (so requests cut by the kill are
retried against the restarted collector). When half the predictions are acknowledged the
collector is killed with SIGKILL and started again on the same data directory. At the end every
acknowledged prediction id must be in ml_predictions exactly once.

    python benchmarks/soak.py [--predictions 2000000] [--features 10]

Last line: RESULT sent=… acknowledged=… stored=… lost=… duplicated=… peak_rss_mb=… rows_per_s=…
(peak_rss_mb: the collector's peak resident memory over both runs; rows_per_s: acknowledged
predictions per second of wall time, the restart included).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from ingest import free_port, peak_rss_mb, request


def start(data_dir: str, http_port: int, admin_port: int) -> subprocess.Popen:
    env = {**os.environ, "HERON_OTLP_HTTP": f"127.0.0.1:{http_port}", "HERON_OTLP_GRPC": f"127.0.0.1:{free_port()}",
           "HERON_ADMIN": f"127.0.0.1:{admin_port}", "HERON_DATA_DIR": data_dir}
    process = subprocess.Popen([sys.executable, "-m", "heron_collector", "collector"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=1):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit("the collector exited at start") from None
            time.sleep(0.1)
    raise SystemExit("the collector did not become ready")


def sql(port: int, query: str) -> list:
    post = urllib.request.Request(f"http://127.0.0.1:{port}/admin/sql", data=json.dumps({"sql": query}).encode(),
                                  headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(post, timeout=300) as reply:
        return json.loads(reply.read())["rows"]


def payloads(total: int, features: int, rng: random.Random) -> list[tuple[list[str], bytes]]:
    out, n = [], 0
    while n < total:
        records, ids = [], []
        for _ in range(5):
            chunk = [f"s{n + i:08d}" for i in range(min(1000, total - n))]
            n += len(chunk)
            ids += chunk
            body = {"id": chunk, "numeric": {f"f{j}": [rng.gauss(0, 1) for _ in chunk] for j in range(features)},
                    "prediction": [rng.randint(0, 1) for _ in chunk]}
            records.append((json.dumps(body), "columnar", len(chunk)))
            if n >= total:
                break
        out.append((ids, request(records)))
    return out


class Senders:
    def __init__(self, port: int, work: list[tuple[list[str], bytes]], threads: int = 2) -> None:
        self.port, self.work, self.lock = port, list(reversed(work)), threading.Lock()
        self.sent = self.acknowledged = self.attempts_failed = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        conn = None
        while True:
            with self.lock:
                if not self.work:
                    return
                ids, body = self.work.pop()
                self.sent += len(ids)
            while True:  # as an exporter: send again until answered 200
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                    conn.request("POST", "/v1/logs", body=body, headers={"Content-Type": "application/x-protobuf"})
                    reply = conn.getresponse()
                    reply.read()
                    if reply.status == 200:
                        break
                    delay = float(reply.getheader("Retry-After", "1"))
                except OSError:
                    conn, delay = None, 0.5
                with self.lock:
                    self.attempts_failed += 1
                time.sleep(delay)
            with self.lock:
                self.acknowledged += len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=10)
    args = parser.parse_args()
    work = payloads(args.predictions, args.features, random.Random(11))
    print(f"{args.predictions:,} predictions in {len(work)} requests", flush=True)
    with tempfile.TemporaryDirectory() as data_dir:
        port, admin_port = free_port(), free_port()
        process = start(data_dir, port, admin_port)
        senders = Senders(port, work)
        started = time.perf_counter()
        for thread in senders.threads:
            thread.start()
        while senders.acknowledged < args.predictions // 2:
            time.sleep(0.05)
        peak = peak_rss_mb(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait()
        print(f"killed at {senders.acknowledged:,} acknowledged ({time.perf_counter() - started:.1f} s)", flush=True)
        process = start(data_dir, port, admin_port)
        for thread in senders.threads:
            thread.join()
        while True:
            stored, distinct = sql(admin_port, "SELECT count(), uniqExact(prediction_id) FROM heron.ml_predictions")[0]
            if int(distinct) >= senders.acknowledged or time.perf_counter() - started > 3600:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        peak = max(peak, peak_rss_mb(process.pid))
        process.terminate()
        code = process.wait(timeout=120)
    lost = senders.acknowledged - int(distinct)
    duplicated = int(stored) - int(distinct)
    print(f"collector exit code after SIGTERM: {code}; retried requests: {senders.attempts_failed}")
    print(f"RESULT sent={senders.sent} acknowledged={senders.acknowledged} stored={stored} lost={lost} "
          f"duplicated={duplicated} peak_rss_mb={peak:.0f} rows_per_s={senders.acknowledged / elapsed:.0f}")
    if lost or duplicated or code:
        sys.exit(1)


if __name__ == "__main__":
    main()
