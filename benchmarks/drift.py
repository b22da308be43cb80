"""Drift views end to end at 1M and 10M predictions, against Evidently in the same run.

Data: 20 numeric + 5 categorical features, a 100k-row reference sample, generated in SQL by
the embedded engine (INSERT … SELECT FROM numbers()); features f1 (scale) and c0 (category mix)
drift. The benchmark model's window is set wider than the data, so each run is one window and the
numbers are comparable with Evidently's whole-dataset report.

Every step that opens the store runs in its own process (`--step load|refresh|export PATH`,
started by this script with the same interpreter), one after the other on the same chDB path:
loading the data never counts towards the refresh's memory, and the refresh process starts cold
(it opens the store, as the collector does after a restart).
  heron_s   wall time of refresh(client, "heron", wait=True, views=[reference bins, exact KS,
            drift]) in the refresh process, finalize (p-values) included — refresh to results —
            as the scheduler runs it: the reference did not change since the last refresh, so
            its bins are reused (queries/views/10_reference_bins.sql).
  heron_cold_s  the same refresh right after ml_reference_bins was emptied: the reference is
            binned too (what the first refresh after a new reference upload costs, and what
            Evidently does every run: the like-for-like figure).
  peak_mb   peak resident set (VmHWM, /proc/self/status) of the refresh process during that
            refresh() call: VmHWM is reset to the current resident set just before it
            (/proc/self/clear_refs), so it counts everything resident in the process — Python,
            the embedded engine with the open store and its caches — plus what the refresh and
            finalize allocate, over both refreshes. The target is peak_mb <= 2048 at 10M rows.
Opening a store makes every refreshable view due at once (startup refresh); the refresh process
first stops them all, lets the three drift views run once and end (untimed; its time and the
process peak up to then are printed), then resets the peak, empties ml_reference_bins and runs
refresh() twice: cold, then steady. Per-view engine times of the steady run are printed.

Evidently's DataDriftPreset runs at 1M rows on the same data, exported to Parquet by the engine:
in-process when evidently imports here, else with `--evidently-python PYTHON` in that
interpreter (benchmarks/evidently_drift.py; e.g. python3 -m venv /tmp/evvenv &&
/tmp/evvenv/bin/pip install "evidently>=0.7,<0.8" "pandas<3" pyarrow); otherwise evidently_s=NA.
max_abs_diff compares the statistics both compute: normed Wasserstein (numeric) and
Jensen–Shannon distance (categorical).

    python benchmarks/drift.py [--rows 1000000 10000000] [--no-evidently] [--evidently-python PY]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

NUMERIC = [f"f{i}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
N_REFERENCE = 100_000
DRIFT_VIEWS = ["ml_reference_bins_mv", "ml_drift_ks_exact_mv", "ml_drift_mv"]


def _peak_reset() -> None:
    """Start a new peak: VmHWM := the current resident set (Linux /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _maps(drift: bool) -> str:
    """SQL for the numeric and categorical maps of one generated row (per-feature formulas)."""
    num = []
    for i, name in enumerate(NUMERIC):
        shift = 0.3 if drift and name == "f0" else 0.0
        scale = 1.3 if drift and name == "f1" else 1.0
        base = (f"randNormal({shift}, {scale * scale}, number + {i})" if i % 3  # mean, variance
                else f"randExponential(1.0, number + {i})")
        num.append(f"'{name}', toNullable({base} * {1 + i})")
    cat = []
    for i, name in enumerate(CATEGORICAL):
        k = 4 + 3 * i
        if drift and name == "c0":
            expr = f"concat('v', toString(least(toUInt32(randExponential(0.7, number + {100 + i})), {k - 1})))"
        else:
            expr = f"concat('v', toString(least(toUInt32(randExponential(1.0, number + {100 + i})), {k - 1})))"
        cat.append(f"'{name}', toNullable({expr})")
    return (f"CAST(map({', '.join(num)}), 'Map(LowCardinality(String), Nullable(Float64))'), "
            f"CAST(map({', '.join(cat)}), 'Map(LowCardinality(String), Nullable(String))')")


def load(client, rows: int) -> None:
    client.command("TRUNCATE TABLE heron.ml_predictions")
    client.command("TRUNCATE TABLE heron.ml_reference")
    client.command("INSERT INTO heron.ml_monitor_config (model_name, window_seconds, lookback_seconds) "
                   "VALUES ('bench', 1000000000, 86400)")
    client.command(
        "INSERT INTO heron.ml_reference (model_name, model_version, reference_id, row_index, numeric, "
        f"categorical, timestamp) SELECT 'bench', 'v1', 'ref', number, {_maps(False)}, now64(6) "
        f"FROM numbers({N_REFERENCE})")
    client.command(
        "INSERT INTO heron.ml_predictions (model_name, model_version, timestamp, prediction_id, numeric, "
        f"categorical) SELECT 'bench', 'v1', now64(6) - toIntervalMicrosecond(number * 3600 * 1000000 / {rows}),"
        f" toString(number), {_maps(True)} FROM numbers({rows}) SETTINGS max_insert_threads = 2")


def heron_statistics(client) -> dict[str, float]:
    rows = client.query("SELECT feature, method, statistic FROM heron.ml_drift FINAL "
                        "WHERE model_name = 'bench' AND role = 'feature'").result_rows
    return {f"{f}/{m}": s for f, m, s in rows}


def export(client, workdir: str) -> tuple[str, str]:
    """The reference and current data as Parquet files (one column per feature), written by the engine."""
    cols = ", ".join([f"numeric['{f}'] AS {f}" for f in NUMERIC] + [f"categorical['{c}'] AS {c}"
                                                                      for c in CATEGORICAL])
    paths = []
    for table in ("ml_reference", "ml_predictions"):
        path = os.path.join(workdir, f"{table}.parquet")
        client.command(f"INSERT INTO FUNCTION file('{path}', Parquet) SELECT {cols} FROM heron.{table} "
                       "WHERE model_name = 'bench' SETTINGS engine_file_truncate_on_insert = 1")
        paths.append(path)
    return paths[0], paths[1]


def run_evidently(reference: str, current: str, python: str | None) -> dict | None:
    """Evidently on the exported data: in-process if importable, else in `python`; None if neither."""
    here = os.path.dirname(os.path.abspath(__file__))
    if python is None:
        try:
            import evidently  # noqa: F401
            import pandas as pd
        except ImportError:
            return None
        sys.path.insert(0, here)
        import evidently_drift

        return evidently_drift.run(pd.read_parquet(reference), pd.read_parquet(current), NUMERIC, CATEGORICAL)
    out = subprocess.run([python, os.path.join(here, "evidently_drift.py"), reference, current,
                          ",".join(NUMERIC), ",".join(CATEGORICAL)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def step(name: str, path: str, *extra: str) -> dict:
    """Run one step in a fresh process of this script; its last stdout line is a JSON result."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--step", name, path, *extra],
                         check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def settle(client, timeout: float = 900.0) -> float:
    """Let the store's startup refreshes end; returns how long that took.

    Opening an embedded store starts every refreshable view at once (a non-replicated view does
    not persist its last refresh, so each is due). All are stopped (their runs cancelled), then
    the drift views alone are started again, which runs each once, dependencies first; that run
    is awaited, so refresh() below runs on a quiet engine, as the scheduler's next run would.
    """
    t0 = time.perf_counter()
    client.command("SYSTEM STOP VIEWS")

    def pending(where: str) -> int:
        return client.query("SELECT count() FROM system.view_refreshes WHERE database = 'heron' "
                            f"AND ({where})").result_rows[0][0]

    while pending("status NOT IN ('Scheduled', 'Disabled')") and time.perf_counter() - t0 < timeout:
        time.sleep(0.1)
    for view in DRIFT_VIEWS:
        client.command(f"SYSTEM START VIEW heron.{view}")
    names = ", ".join(f"'{view}'" for view in DRIFT_VIEWS)
    while (pending(f"view IN ({names}) AND (status != 'Scheduled' OR last_success_time IS NULL)")
           and time.perf_counter() - t0 < timeout):
        time.sleep(0.1)
    return time.perf_counter() - t0


def run_step(name: str, path: str, extra: list[str]) -> dict:
    """The body of a step process: open the store at `path`, do `name`, close it."""
    import clickhouse_connect

    t0 = time.perf_counter()
    client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
    open_s, open_mb = time.perf_counter() - t0, _peak_mb()
    try:
        if name == "load":
            from heron_collector.migrations import Layout, migrate

            migrate(client, Layout(database="heron", refresh_seconds=86400))
            t0 = time.perf_counter()
            load(client, int(extra[0]))
            return {"seconds": time.perf_counter() - t0}
        if name == "refresh":
            from heron_collector.analytics import refresh

            warmup_s = settle(client)
            warmup_mb = _peak_mb()
            _peak_reset()
            client.command("TRUNCATE TABLE heron.ml_reference_bins")
            t0 = time.perf_counter()
            refresh(client, "heron", wait=True, views=DRIFT_VIEWS)
            cold_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            refresh(client, "heron", wait=True, views=DRIFT_VIEWS)
            seconds, peak = time.perf_counter() - t0, _peak_mb()
            views = dict(client.query("SELECT view, last_success_duration_ms FROM system.view_refreshes "
                                      "WHERE database = 'heron'").result_rows)
            return {"seconds": seconds, "cold_s": cold_s, "peak_mb": peak, "open_s": open_s, "open_mb": open_mb,
                    "views_ms": {view: views.get(view) for view in DRIFT_VIEWS},
                    "warmup_s": warmup_s, "warmup_mb": warmup_mb,
                    "statistics": heron_statistics(client)}
        if name == "export":
            reference, current = export(client, extra[0])
            return {"reference": reference, "current": current}
        raise ValueError(f"unknown step {name}")
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--evidently-python", help="run Evidently in this interpreter (a separate venv)")
    parser.add_argument("--step", nargs="+", metavar=("STEP", "PATH"),
                        help="internal: run one step (load PATH ROWS | refresh PATH | export PATH DIR) "
                             "in this process and print its JSON result")
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step[0], args.step[1], args.step[2:])), flush=True)
        return

    workdir = tempfile.mkdtemp(prefix="heron-bench-")
    path = os.path.join(workdir, "chdb")
    lines = []
    try:
        for rows in args.rows:
            loaded = step("load", path, str(rows))
            print(f"loaded {rows:,} predictions × {len(NUMERIC)}+{len(CATEGORICAL)} features, "
                  f"{N_REFERENCE:,} reference rows in {loaded['seconds']:.1f} s", flush=True)
            ran = step("refresh", path)
            heron_s, heron_mb, cold_s = ran["seconds"], ran["peak_mb"], ran["cold_s"]
            print(f"heron drift views (fresh process): {heron_s:.2f} s scheduled refresh "
                  f"({', '.join(f'{v} {ms} ms' for v, ms in ran['views_ms'].items())}), {cold_s:.2f} s "
                  f"with the reference binned, peak RSS {heron_mb:.0f} MB "
                  f"(store opened in {ran['open_s']:.2f} s at {ran['open_mb']:.0f} MB; "
                  f"startup refreshes settled in {ran['warmup_s']:.1f} s, process peak until then "
                  f"{ran['warmup_mb']:.0f} MB)", flush=True)
            if rows == 1_000_000:
                ours = ran["statistics"]
                ev = None
                if not args.no_evidently:
                    exported = step("export", path, workdir)
                    ev = run_evidently(exported["reference"], exported["current"], args.evidently_python)
                if ev is None:
                    lines.append(f"RESULT rows={rows} heron_s={heron_s:.3f} evidently_s=NA speedup=NA "
                                 f"max_abs_diff=NA peak_mb={heron_mb:.0f} heron_cold_s={cold_s:.3f}")
                else:
                    ev_s, ev_mb = ev["seconds"], ev["peak_mb"]
                    diffs = []
                    for column, found in ev["values"].items():
                        method = "wasserstein" if column in NUMERIC else "jensen_shannon"
                        if f"{column}/{method}" in ours:
                            diffs.append(abs(ours[f"{column}/{method}"] - found["value"]))
                    max_diff = max(diffs) if diffs else float("nan")
                    print(f"evidently DataDriftPreset: {ev_s:.2f} s, peak RSS {ev_mb:.0f} MB; "
                          f"{len(diffs)} statistics compared", flush=True)
                    lines.append(f"RESULT rows={rows} heron_s={heron_s:.3f} evidently_s={ev_s:.3f} "
                                 f"speedup={ev_s / heron_s:.1f} max_abs_diff={max_diff:.4g} "
                                 f"peak_mb={heron_mb:.0f} evidently_peak_mb={ev_mb:.0f} "
                                 f"heron_cold_s={cold_s:.3f} speedup_cold={ev_s / cold_s:.1f}")
            else:
                lines.append(f"RESULT rows={rows} heron_s={heron_s:.3f} peak_mb={heron_mb:.0f} "
                             f"heron_cold_s={cold_s:.3f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    # the 1M line last: it is the machine-readable comparison
    lines.sort(key=lambda line: "evidently_s" in line)
    for line in lines:
        print(line)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
