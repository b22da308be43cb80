"""Where an ingested row's time goes: each stage of the collector's path, timed alone, in one process.

Builds the same requests as benchmarks/ingest.py (1-row records, 500 per request; 1,000-row
columnar records, 10 per request) and runs them through the collector's own functions, stage by
stage, against a fresh embedded store:
  decode      protobuf bytes → ExportLogsServiceRequest
  rows        validation + otel_logs rows (ingest/rows.py, limits.py, values.py)
  frame       the spool frame (orjson + CRC32, ingest/spool.py)
  fsync       writing the frames and one fsync per request (the default policy's worst case)
  insert/null the client's side of an insert: clickhouse-connect encoding into a Null table
  insert/raw  an insert into a copy of otel_logs with no materialized view
  insert/mv   the real insert into otel_logs, parse views (queries/parse/) included
Prints microseconds per prediction row for each stage.

    python benchmarks/ingest_stages.py [--single 20000] [--batch-records 100] [--features 20]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from ingest import workloads


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:

    from heron_collector.ingest.limits import Limits
    from heron_collector.ingest.signals import SIGNALS
    from heron_collector.ingest.spool import Spool
    from heron_collector.migrations import Layout, migrate
    from heron_collector.settings import StoreURL
    from heron_collector.store import Store

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=20_000)
    parser.add_argument("--batch-records", type=int, default=100)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--segment-rows", type=int, default=20_000, help="otel_logs rows per insert (HERON_BATCH_ROWS)")
    args = parser.parse_args()
    rng = random.Random(7)
    _, single_payloads, _, batch_payloads = workloads(args.single, args.batch_records, args.features, rng)

    signal = SIGNALS["logs"]
    limits = Limits()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(StoreURL(f"chdb://{tmp}/chdb", True, "heron", f"{tmp}/chdb"), {})
        migrate(store.client, Layout())
        db = store.database
        store.client.command(f"CREATE TABLE {db}.otel_logs_raw AS {db}.otel_logs")
        store.client.command(f"CREATE TABLE {db}.otel_logs_null AS {db}.otel_logs ENGINE = Null")
        spool = Spool(os.path.join(tmp, "spool"), 1 << 34, fsync=False)
        print(f"{'workload':<10}{'stage':<13}{'µs/row':>9}{'s':>8}")
        for name, payloads, per_record in (("single", single_payloads, 1), ("batch", batch_payloads, 1000)):
            t: dict[str, float] = {}
            converted = []
            for payload in payloads:
                s, message = timed(lambda p: signal.request.FromString(p), payload)
                t["decode"] = t.get("decode", 0) + s
                s, out = timed(signal.rows, message, limits, time.time_ns())
                t["rows"] = t.get("rows", 0) + s
                assert not out.rejected, out.error_message
                converted.append(out.rows)
            frames = []
            for payload, table_rows in zip(payloads, converted, strict=True):
                digest = hashlib.blake2b(payload, digest_size=16).digest()
                s, frame = timed(Spool._frame, digest, table_rows)
                t["frame"] = t.get("frame", 0) + s
                frames.append(frame)
            fd = os.open(os.path.join(tmp, "frames"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            start = time.perf_counter()
            for frame in frames:
                os.write(fd, frame)
                os.fsync(fd)
            t["fsync"] = time.perf_counter() - start
            os.close(fd)
            all_rows = [r for rs in converted for r in rs]
            budget = 16 << 20  # HERON_BATCH_BYTES: a segment seals at 20,000 rows or 16 MiB
            per_insert = max(1, min(args.segment_rows, budget // max(1, sum(len(f) for f in frames) // len(all_rows))))
            chunks = [all_rows[i:i + per_insert] for i in range(0, len(all_rows), per_insert)]
            for stage, table in (("insert/null", "otel_logs_null"), ("insert/raw", "otel_logs_raw"),
                                 ("insert/mv", "otel_logs")):
                start = time.perf_counter()
                for i, chunk in enumerate(chunks):
                    store.insert(table, chunk, signal.columns, f"{name}-{stage}-{i}")
                t[stage] = time.perf_counter() - start
            n = len(all_rows) * per_record
            for stage, seconds in t.items():
                print(f"{name:<10}{stage:<13}{seconds / n * 1e6:>9.2f}{seconds:>8.2f}")
            print(f"{name:<10}{'(inserts)':<13}{len(chunks):>9}  of {per_insert} records each")
        spool.close()
        store.close()


if __name__ == "__main__":
    main()
