"""Evidently's DataDriftPreset on two Parquet files; prints one JSON line: seconds, peak_mb, values.

Run by benchmarks/drift.py, in-process when evidently imports there, else in a separate
interpreter (`--evidently-python /path/to/python`, e.g. a venv with "evidently>=0.7,<0.8"
"pandas<3" pyarrow), so Evidently's pins never touch Heron's environment.

    python benchmarks/evidently_drift.py reference.parquet current.parquet f0,f1,… c0,c1,…
"""

from __future__ import annotations

import json
import sys
import time


def peak_reset() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run(reference, current, numeric: list[str], categorical: list[str]) -> dict:
    """Time DataDriftPreset on two DataFrames; the per-column drift values it reports."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    peak_reset()
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition))
    seconds = time.perf_counter() - start
    values: dict[str, dict] = {}
    for metric in snapshot.dict().get("metrics", []):
        name, value = str(metric.get("metric_name", "")), metric.get("value")
        if name.startswith("ValueDrift(") and isinstance(value, (int, float)):
            fields = dict(part.split("=", 1) for part in name[len("ValueDrift("):-1].split(",") if "=" in part)
            values[fields.get("column", "")] = {"value": float(value), "method": fields.get("method", "")}
    return {"seconds": seconds, "peak_mb": peak_mb(), "values": values}


def main() -> None:
    import pandas as pd

    reference_path, current_path, numeric, categorical = sys.argv[1:5]
    reference, current = pd.read_parquet(reference_path), pd.read_parquet(current_path)
    print(json.dumps(run(reference, current, numeric.split(","), categorical.split(","))))


if __name__ == "__main__":
    main()
