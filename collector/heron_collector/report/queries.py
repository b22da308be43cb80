"""The report's SQL: window-level rows of the views for one model version and period, read-only.

Every statement is a single SELECT with bound parameters, so it runs the same on a client that
holds the store and through a collector's admin endpoint (`heron sql`'s path). Times come back
as Unix seconds and maps as plain objects, so both paths give the same JSON-safe values. Only the
distributions read ml_predictions, and only as per-bin counts of one window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from ..migrations import identifier

# The realised metric charted against its CBPE estimate: the first of these the model has.
PERFORMANCE_METRICS = ("accuracy", "roc_auc", "f1", "mae", "rmse", "r2")
WORST_FEATURES = 4  # distributions drawn against the reference
MAX_ALERTS = 500  # newest transitions kept in the report


class ReportError(ValueError):
    """The report cannot be built as asked (unknown model or version); the message says the fix."""


Rows = list[dict[str, Any]]


class Reader:
    """One read-only query at a time, as a list of row dicts, over a client or an access."""

    def __init__(self, source: Any, database: str) -> None:
        self.db = identifier(database, "database")
        if hasattr(source, "sql"):  # heron_collector.access.Direct / Remote
            self._run: Callable[[str, dict[str, Any]], tuple[list[str], list[list[Any]]]] = \
                lambda sql, params: _columns_rows(source.sql(sql, params))
        else:  # a clickhouse-connect client
            def run(sql: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
                result = source.query(sql, parameters=params)
                return list(result.column_names), [list(r) for r in result.result_rows]

            self._run = run

    def rows(self, sql: str, **params: Any) -> Rows:
        columns, rows = self._run(sql.replace("{db}", self.db), params)
        return [dict(zip(columns, row, strict=True)) for row in rows]


def _columns_rows(answer: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return answer["columns"], answer["rows"]


def resolve_version(r: Reader, model: str, version: str | None) -> tuple[str, list[str]]:
    """The version to report (the given one, else the one with the newest prediction or registration)
    and every version the model has; ReportError naming the known ones otherwise."""
    known = r.rows(
        "SELECT v, max(t) AS newest FROM ("
        " SELECT toString(model_version) AS v, toUnixTimestamp(max(timestamp)) AS t FROM {db}.ml_predictions"
        " WHERE model_name = {m:String} GROUP BY v"
        " UNION ALL SELECT toString(model_version), toUnixTimestamp(max(registered_at)) FROM {db}.ml_models"
        " WHERE model_name = {m:String} GROUP BY model_version"
        " UNION ALL SELECT toString(model_version), toUnixTimestamp(max(window_start)) FROM {db}.ml_sla"
        " WHERE model_name = {m:String} AND model_version != '*' GROUP BY model_version"
        ") GROUP BY v ORDER BY newest DESC, v", m=model)
    versions = [row["v"] for row in known]
    if not versions:
        models = [row["m"] for row in r.rows(
            "SELECT DISTINCT toString(model_name) AS m FROM (SELECT model_name FROM {db}.ml_models UNION ALL "
            "SELECT DISTINCT model_name FROM {db}.ml_predictions) ORDER BY m LIMIT 21")]
        listed = ", ".join(repr(m) for m in models[:20]) + (" …" if len(models) > 20 else "")
        raise ReportError(f"--model {model[:80]!r}: no such model in the store; "
                          + (f"the models are: {listed}" if models else "the store has no model yet"))
    if version is None:
        return versions[0], versions
    if version not in versions:
        raise ReportError(f"--version {version[:80]!r}: model {model[:80]!r} has no such version; "
                          f"its versions are: {', '.join(repr(v) for v in versions[:20])}")
    return version, versions


def model_info(r: Reader, model: str) -> Rows:
    """Every registered version's metadata and lineage (ml_models), newest first."""
    return r.rows(
        "SELECT toString(model_version) AS version, toString(task) AS task, positive_class, toString(framework) "
        "AS framework, owner, training_data_version, params, tags, libraries, git_sha, toString(service_name) "
        "AS service_name, toUnixTimestamp(registered_at) AS registered_at "
        "FROM {db}.ml_models FINAL WHERE model_name = {m:String} ORDER BY registered_at DESC", m=model)


def _scope(since: dt.datetime) -> int:
    return int(since.timestamp())


def drift(r: Reader, model: str, version: str, since: dt.datetime) -> Rows:
    """The verdict (primary method) of every feature and output per window (ml_drift).

    The one result that grows with windows × features: checked against its count, because a
    collector's admin endpoint cuts results at HERON_ADMIN_MAX_RESULT_ROWS without saying so."""
    where = ("FROM {db}.ml_drift FINAL WHERE model_name = {m:String} AND model_version = {v:String} "
             "AND is_primary = 1 AND window_start >= toDateTime({since:UInt32}, 'UTC')")
    params = {"m": model, "v": version, "since": _scope(since)}
    rows = r.rows(
        "SELECT toString(feature) AS feature, toString(role) AS role, toString(feature_type) AS type, "
        "toString(method) AS method, toUnixTimestamp(window_start) AS t, toUnixTimestamp(window_end) AS t_end, "
        f"statistic, threshold, drifted, p_value_adjusted AS p, n_current AS n {where} "
        "ORDER BY role = 'feature' DESC, role, feature, t", **params)
    [total] = r.rows(f"SELECT count() AS n {where}", **params)
    if len(rows) < int(total["n"]):
        raise ReportError(f"the store returned {len(rows):,} of {int(total['n']):,} drift rows (a collector's admin "
                          "endpoint cuts results at HERON_ADMIN_MAX_RESULT_ROWS); give a later --since, or raise "
                          "that limit on the collector")
    return rows


def drift_summary(r: Reader, model: str, version: str, since: dt.datetime) -> Rows:
    """Drifted features per window and the dataset verdict (ml_drift_summary)."""
    return r.rows(
        "SELECT toUnixTimestamp(window_start) AS t, n_features, n_drifted, drift_share, dataset_drift "
        "FROM {db}.ml_drift_summary WHERE model_name = {m:String} AND model_version = {v:String} "
        "AND window_start >= toDateTime({since:UInt32}, 'UTC') ORDER BY t", m=model, v=version, since=_scope(since))


def worst_features(drift_rows: Rows, limit: int = WORST_FEATURES) -> list[dict[str, Any]]:
    """The features furthest over their threshold, each with the window where it was worst."""
    worst: dict[str, dict[str, Any]] = {}
    for row in drift_rows:
        if row["role"] != "feature":
            continue
        score = _over(row)
        if row["feature"] not in worst or score > worst[row["feature"]]["score"]:
            worst[row["feature"]] = {**row, "score": score}
    return sorted(worst.values(), key=lambda w: (-w["score"], w["feature"]))[:limit]


def _over(row: dict[str, Any]) -> float:
    """How far past its threshold a verdict is (p-value methods: the smaller p, the further)."""
    if row["method"] in ("ks", "chi2"):
        p = row["p"]
        return 0.0 if p is None else (1.0 - p) + (1.0 if row["drifted"] else 0.0)
    threshold = row["threshold"] or 1.0
    return row["statistic"] / threshold


def distribution(r: Reader, model: str, version: str, feature: str, window: tuple[int, int]) -> dict[str, Any] | None:
    """A feature's reference bins (ml_reference_bins) beside its counts in the predictions of one
    window [start, end), binned on the same edges or categories. None when the reference lacks it."""
    ref = r.rows(
        "SELECT toString(feature_type) AS type, edges, counts, categories, min, max "
        "FROM {db}.ml_reference_bins FINAL WHERE model_name = {m:String} AND model_version = {v:String} "
        "AND feature = {f:String} AND role = 'feature' LIMIT 1", m=model, v=version, f=feature)
    if not ref:
        return None
    bins = ref[0]
    span = {"m": model, "v": version, "f": feature, "t0": window[0], "t1": window[1]}
    where = ("model_name = {m:String} AND model_version = {v:String} AND timestamp >= toDateTime({t0:UInt32}, 'UTC') "
             "AND timestamp < toDateTime({t1:UInt32}, 'UTC')")
    if bins["type"] == "numeric":
        counts = r.rows(
            "SELECT arrayCount(e -> e <= x, {edges:Array(Float64)}) AS bin, count() AS n FROM ("
            f" SELECT numeric[{{f:String}}] AS x FROM {{db}}.ml_predictions WHERE {where}"
            " AND mapContains(numeric, {f:String})) WHERE x IS NOT NULL AND isFinite(assumeNotNull(x)) "
            "GROUP BY bin ORDER BY bin", edges=list(bins["edges"]), **span)
        current = [0] * (len(bins["edges"]) + 1)
        for row in counts:
            current[int(row["bin"])] = int(row["n"])
        return {"feature": feature, "type": "numeric", "edges": list(bins["edges"]), "reference": list(bins["counts"]),
                "current": current, "min": bins["min"], "max": bins["max"], "t": window[0]}
    counts = r.rows(
        f"SELECT assumeNotNull(categorical[{{f:String}}]) AS c, count() AS n FROM {{db}}.ml_predictions "
        f"WHERE {where} AND mapContains(categorical, {{f:String}}) AND categorical[{{f:String}}] IS NOT NULL "
        "GROUP BY c ORDER BY n DESC LIMIT 50", **span)
    categories = list(bins["categories"])
    seen = {row["c"]: int(row["n"]) for row in counts}
    extra = [c for c in seen if c not in set(categories)]
    return {"feature": feature, "type": "categorical", "categories": categories + extra,
            "reference": list(bins["counts"]) + [0] * len(extra),
            "current": [seen.get(c, 0) for c in categories + extra], "t": window[0]}


def multivariate(r: Reader, model: str, version: str, since: dt.datetime) -> Rows:
    """PCA reconstruction error per window with its band (ml_drift_multivariate)."""
    return r.rows(
        "SELECT toUnixTimestamp(window_start) AS t, reconstruction_error AS error, lower_threshold AS lower, "
        "upper_threshold AS upper, drifted, n_current AS n FROM {db}.ml_drift_multivariate FINAL "
        "WHERE model_name = {m:String} AND model_version = {v:String} "
        "AND window_start >= toDateTime({since:UInt32}, 'UTC') ORDER BY t", m=model, v=version, since=_scope(since))


def performance(r: Reader, model: str, version: str, since: dt.datetime) -> dict[str, Any]:
    """The model's main metric per window, realised (ml_performance) beside estimated
    (ml_performance_estimated), with labelled counts and the baseline (ml_baselines) with each
    window's limits (ml_baseline_status)."""
    params = {"m": model, "v": version, "since": _scope(since)}
    scope = ("model_name = {m:String} AND model_version = {v:String} AND segment_key = '' "
             "AND window_start >= toDateTime({since:UInt32}, 'UTC')")
    have = {row["metric"] for row in r.rows(
        f"SELECT DISTINCT toString(metric) AS metric FROM (SELECT metric FROM {{db}}.ml_performance WHERE {scope} "
        f"UNION ALL SELECT metric FROM {{db}}.ml_performance_estimated WHERE {scope})", **params)}
    metric = next((m for m in PERFORMANCE_METRICS if m in have), None)
    if metric is None:
        return {"metric": None, "rows": [], "baseline": []}
    rows = r.rows(
        "SELECT toUnixTimestamp(window_start) AS t, "
        "r.value AS realised, e.value AS estimated, r.labelled AS labelled, "
        "greatest(r.predictions, e.predictions) AS predictions FROM "
        f"(SELECT * FROM {{db}}.ml_performance FINAL WHERE {scope} AND metric = {{metric:String}}) AS r "
        f"FULL JOIN (SELECT * FROM {{db}}.ml_performance_estimated FINAL WHERE {scope} AND metric = {{metric:String}})"
        " AS e USING (model_name, model_version, window_seconds, window_start, segment_key, segment_value) ORDER BY t",
        metric=metric, **params)
    baseline = r.rows(
        "SELECT toString(kind) AS kind, toString(source) AS source, mean, lower, upper, windows "
        "FROM {db}.ml_baselines FINAL WHERE model_name = {m:String} AND model_version = {v:String} "
        "AND kind IN ('performance', 'estimated') AND metric = {metric:String} AND subject = '' "
        "ORDER BY kind = 'performance' DESC", m=model, v=version, metric=metric)
    if baseline:  # each window's own limits: a reference band is scaled to the window's rows
        limits = {row["t"]: row for row in r.rows(
            "SELECT toUnixTimestamp(window_start) AS t, lower, upper FROM {db}.ml_baseline_status "
            "WHERE model_name = {m:String} AND model_version = {v:String} AND kind = {kind:String} "
            "AND metric = {metric:String} AND subject = '' AND window_start >= toDateTime({since:UInt32}, 'UTC')",
            kind=baseline[0]["kind"], metric=metric, **params)}
        for row in rows:  # a window without labels: the stored band
            limit = limits.get(row["t"], baseline[0])
            row["lower"], row["upper"] = limit["lower"], limit["upper"]
    return {"metric": metric, "rows": rows, "baseline": baseline}


def sla(r: Reader, model: str, version: str, since: dt.datetime) -> Rows:
    """Latency percentiles, error rate and status per window of the version's spans (ml_sla)."""
    return r.rows(
        "SELECT toUnixTimestamp(window_start) AS t, calls, errors, error_rate, latency_p50_ms AS p50, "
        "latency_p95_ms AS p95, latency_p99_ms AS p99, slo_p99_ms, slo_error_rate, toString(status) AS status "
        "FROM {db}.ml_sla FINAL WHERE model_name = {m:String} AND model_version = {v:String} "
        "AND window_start >= toDateTime({since:UInt32}, 'UTC') ORDER BY t", m=model, v=version, since=_scope(since))


def data_quality(r: Reader, model: str, version: str, since: dt.datetime) -> Rows:
    """Per feature over the period (ml_data_quality): rates weighted by the windows' rows, the
    windows not 'ok', the new categories seen."""
    return r.rows(
        "SELECT toString(feature) AS feature, any(toString(feature_type)) AS type, count() AS windows, "
        "sum(n_rows) AS rows, sum(missing_rate * n_rows) / greatest(sum(n_rows), 1) AS missing, "
        "sum(nan_rate * n_rows) / greatest(sum(n_rows), 1) AS nan, sum(inf_rate * n_rows) / greatest(sum(n_rows), 1) "
        "AS inf, sum(out_of_range_rate * n_rows) / greatest(sum(n_rows), 1) AS out_of_range, "
        "sum(new_category_rate * n_rows) / greatest(sum(n_rows), 1) AS new_category, "
        "arraySlice(groupUniqArrayArray(new_categories), 1, 10) AS new_categories, "
        "sum(type_mismatch) AS type_mismatch, "
        "countIf(status != 'ok') AS windows_not_ok, arraySort(groupUniqArrayIf(toString(status), status != 'ok')) "
        "AS statuses, sum(duplicate_ids) AS duplicate_ids, sum(implausible_timestamps) AS implausible_timestamps "
        "FROM {db}.ml_data_quality FINAL WHERE model_name = {m:String} AND model_version = {v:String} "
        "AND window_start >= toDateTime({since:UInt32}, 'UTC') GROUP BY feature ORDER BY feature = '*', feature",
        m=model, v=version, since=_scope(since))


def alerts(r: Reader, model: str, version: str, since: dt.datetime) -> Rows:
    """The newest alert transitions of the model in the period (ml_alerts), oldest first."""
    return r.rows(
        "SELECT * FROM (SELECT toString(rule) AS rule, subject, toString(severity) AS severity, "
        "toString(state) AS state, value, threshold, toUnixTimestamp(at) AS t, "
        "toUnixTimestamp(window_start) AS window, summary FROM {db}.ml_alerts "
        "WHERE model_name = {m:String} AND model_version IN ({v:String}, '*', '') "
        "AND at >= toDateTime64({since:UInt32}, 3, 'UTC') ORDER BY at DESC LIMIT {limit:UInt32}) ORDER BY t",
        m=model, v=version, since=_scope(since), limit=MAX_ALERTS)


def counts(r: Reader, model: str, version: str, since: dt.datetime) -> dict[str, Any]:
    """Predictions and labels behind the report (their count, never the rows)."""
    [row] = r.rows(
        "SELECT count() AS predictions, toUnixTimestamp(min(timestamp)) AS first, "
        "toUnixTimestamp(max(timestamp)) AS last FROM {db}.ml_predictions "
        "WHERE model_name = {m:String} AND model_version = {v:String} "
        "AND timestamp >= toDateTime64({since:UInt32}, 6, 'UTC')", m=model, v=version, since=_scope(since))
    return row
