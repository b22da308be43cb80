"""Write back what SQL cannot compute: p-values and their correction across features.

The drift view stores, per (model, version, window, feature, method), the test statistic with
its sample sizes (KS: D, n, m) or degrees of freedom (chi-square) and leaves `p_value` NULL.
`finalize` finds the windows with such rows, computes the p-values with scipy, adjusts them
with Holm across the window's tests (features apart from prediction/score/label), sets `drifted`, and
inserts the rows again with `computed_at` one microsecond later, so ReplacingMergeTree keeps
them over the SQL's version, and a newer refresh (later `computed_at`) still wins over them.
Only aggregated rows move; running it again with nothing new reads one small query.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

from heron_collector.analytics._stats import chi2_pvalue, holm, ks_pvalue
from heron_collector.migrations import identifier

# The p-value of each method whose test is 'p_value' in ml_drift_methods (00_config.sql).
P_VALUES = {
    "ks": lambda row: ks_pvalue(row["statistic"], row["n_current"], row["n_reference"]),
    "chi2": lambda row: chi2_pvalue(row["statistic"], row["df"]),
}
_P_VALUE_METHODS = "SELECT method FROM {db}.ml_drift_methods WHERE test = 'p_value'"
_PENDING = (
    "SELECT DISTINCT model_name, model_version, window_start FROM {db}.ml_drift FINAL "
    f"WHERE method IN ({_P_VALUE_METHODS}) AND p_value IS NULL"
)


def finalize(client: Any, database: str) -> int:
    """Fill p_value, p_value_adjusted and drifted for pending windows; returns rows written."""
    db = identifier(database, "database")
    exists = client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'ml_drift'",
        parameters={"db": db},
    )
    if not int(exists):
        return 0
    missing = {m for (m,) in client.query(_P_VALUE_METHODS.format(db=db)).result_rows} - set(P_VALUES)
    if missing:
        raise RuntimeError(f"ml_drift_methods names p-value methods finalize cannot compute: {sorted(missing)}")
    result = client.query(
        f"SELECT * FROM {db}.ml_drift FINAL WHERE method IN ({_P_VALUE_METHODS.format(db=db)}) "
        "AND (model_name, model_version, window_start) IN "
        f"(SELECT model_name, model_version, window_start FROM ({_PENDING.format(db=db)}))"
    )
    if not result.result_rows:
        return 0
    columns = list(result.column_names)
    rows = [dict(zip(columns, row, strict=True)) for row in result.result_rows]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        row["p_value"] = P_VALUES[row["method"]](row)
        groups[(row["model_name"], row["model_version"], row["window_start"],
                row["role"] == "feature")].append(row)
    for group in groups.values():
        adjusted = holm([r["p_value"] for r in group])
        for row, q in zip(group, adjusted, strict=True):
            row["p_value_adjusted"] = q
            row["drifted"] = int(q == q and q < row["threshold"])  # q == q: not NaN
            row["computed_at"] = row["computed_at"] + dt.timedelta(microseconds=1)
    if rows:
        # JSON rows, not client.insert: its DataFrame check imports pandas (0.4-0.8 s, ~100 MB),
        # which every `heron refresh --wait` would pay for a few hundred rows.
        block = "\n".join(json.dumps({c: _json_value(r[c]) for c in columns}) for r in rows)
        client.raw_insert(f"{db}.ml_drift", columns, insert_block=block, fmt="JSONEachRow")
    return len(rows)


def _json_value(value: Any) -> Any:
    """Datetimes as UTC text ClickHouse parses; NaN and ±inf stay json's NaN / Infinity."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    return value
