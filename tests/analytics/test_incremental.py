"""Incremental refresh: a scheduled refresh recomputes only the windows due (ml_windows_due), and
after any stream of changes its tables hold what a refresh of the whole look-back computes now.

The oracle is the same SQL over every window (`<name>_compute(as_of = now(), since_view = '')`,
what a replay runs). Twenty seeded streams, one model each, share one store and its refreshes:
out-of-order and late predictions, a batch stored twice, late and corrected labels, implausible
timestamps, a reference (and its PCA fit) replaced mid-stream, a window-size change, a setting of '*' changed.
The mutation tests remove one source of due windows at a time and show the comparison fails.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time

import pytest

from heron_collector.migrations import Layout, queries_dir, render, statements

from ._data import PREDICTION_COLUMNS, REFERENCE_COLUMNS, hour_start, refresh_views

DB = "heron"
UTC = dt.timezone.utc
STREAMS = 20
ROUNDS = 5
VIEWS = ["ml_reference_bins_mv", "ml_drift_ks_exact_mv", "ml_drift_mv", "ml_drift_multivariate_mv",
         "ml_data_quality_mv", "ml_performance_mv", "ml_performance_estimated_mv"]
# table: (key columns, compared columns); p-values, Holm and the p-value verdicts are finalize's
TABLES = {
    "ml_drift_ks_exact": (["model_name", "model_version", "window_start", "feature", "role"],
                          ["d", "n_current", "n_reference"]),
    "ml_drift": (["model_name", "model_version", "window_start", "feature", "role", "method"],
                 ["window_end", "feature_type", "statistic", "df", "threshold", "is_primary", "exact",
                  "n_current", "n_reference", "reference_source"]),
    "ml_drift_multivariate": (["model_name", "model_version", "window_start"], None),
    "ml_data_quality": (["model_name", "model_version", "window_start", "feature"], None),
    "ml_performance": (["model_name", "model_version", "window_seconds", "window_start", "segment_key",
                        "segment_value", "metric"], None),
    "ml_performance_estimated": (["model_name", "model_version", "window_seconds", "window_start",
                                  "segment_key", "segment_value", "metric"], None),
}
SKIP = {"computed_at", "p_value", "p_value_adjusted", "drifted"}


class Stream:
    """One model's seeded stream of changes, applied a round at a time."""

    def __init__(self, seed: int, labels: bool = True) -> None:
        self.rng = random.Random(seed)
        self.labels = labels
        self.model = f"inc{seed:02d}"
        self.ids: list[str] = []
        self.next_id = 0
        self.reference = 0
        self.shift = self.rng.uniform(0, 2)

    def start(self, client) -> None:
        client.insert(f"{DB}.ml_models", [[self.model, "v1", "binary_classification", "1", dt.datetime.now(UTC)]],
                      column_names=["model_name", "model_version", "task", "positive_class", "registered_at"])
        self.upload_reference(client)

    def upload_reference(self, client) -> None:
        rng, self.reference = self.rng, self.reference + 1
        n = rng.choice([60, 300, 1200])
        rows = []
        for i in range(n):
            score = rng.random()
            rows.append([self.model, "v1", f"ref{self.reference}", i,
                         {"a": rng.gauss(0, 1), "b": float(rng.randint(0, 5))},
                         {"c": rng.choice("xyz")}, "1" if score > 0.5 else "0", None, score,
                         "1" if rng.random() < score else "0", dt.datetime(2026, 1, 1)])
        client.insert(f"{DB}.ml_reference", rows, column_names=REFERENCE_COLUMNS)
        # a PCA fit of this reference over a and b (one component), as the SDK uploads it
        columns = [[r[4][f] for r in rows] for f in ("a", "b")]
        mean = [sum(c) / n for c in columns]
        std = [math.sqrt(sum((x - m) ** 2 for x in c) / (n - 1)) or 1.0 for c, m in zip(columns, mean, strict=True)]
        client.insert(f"{DB}.ml_reference_pca",
                      [[self.model, "v1", f"ref{self.reference}", ["a", "b"], mean, std, [[math.sqrt(0.5)] * 2],
                        [0.6], 0.5, n, 20, n // 20, rng.uniform(0.5, 1.0), rng.uniform(0.05, 0.2),
                        dt.datetime(2026, 1, 1)]],
                      column_names=PCA_COLUMNS)

    def predictions(self, hours_ago: int, n: int) -> list[list]:
        rng, rows = self.rng, []
        start = hour_start(hours_ago)
        for _ in range(n):
            score = rng.random()
            self.next_id += 1
            pid = f"{self.model}-{self.next_id}"
            self.ids.append(pid)
            a = rng.gauss(self.shift, 1) if rng.random() > 0.05 else rng.choice([None, math.nan, math.inf])
            when = start + dt.timedelta(seconds=rng.uniform(0, 3599))
            if rng.random() < 0.02:  # implausible: counted in the window it arrived in
                when = rng.choice([dt.datetime(1970, 1, 1, 0, 0, 5), dt.datetime(2200, 1, 1)])
            rows.append([self.model, "v1", when, pid, {"a": a, "b": float(rng.randint(0, 7))},
                         {"c": rng.choice("xyzw") if rng.random() > 0.05 else None},
                         "1" if score > 0.5 else "0", None, score])
        return rows

    def round(self, client, number: int, batch: dict[str, list]) -> None:
        """Add this round's rows to `batch` (table: rows; one insert per table and round for all
        streams); settings and references are written at once."""
        rng = self.rng
        # predictions, out of order: the current hour and older ones, up to two days late
        for _ in range(rng.randint(1, 3)):
            rows = self.predictions(rng.choice([0, rng.randint(0, 47)]), rng.randint(10, 60))
            batch["ml_predictions"] += rows
            if rng.random() < 0.15:  # the same rows stored twice
                batch["ml_predictions"] += rows
        # labels for earlier predictions (late), some corrected later
        if self.labels and self.ids and rng.random() < 0.8:
            labelled = rng.sample(self.ids, min(len(self.ids), rng.randint(5, 40)))
            batch["ml_ground_truth"] += [[self.model, pid, rng.choice("01"), None, dt.datetime.now(UTC)]
                                         for pid in labelled]
        if number == 2 and rng.random() < 0.5:
            self.upload_reference(client)
        if number == 3 and rng.random() < 0.4:
            client.command(f"INSERT INTO {DB}.ml_monitor_config (model_name, window_seconds) "
                           f"VALUES ('{self.model}', {rng.choice([1800, 7200])})")


PCA_COLUMNS = ["model_name", "model_version", "reference_id", "features", "mean", "std", "components",
               "explained_variance_ratio", "variance_share", "rows", "chunk_size", "chunks", "error_mean",
               "error_std", "timestamp"]
COLUMNS = {"ml_predictions": PREDICTION_COLUMNS,
           "ml_ground_truth": ["model_name", "prediction_id", "label", "label_value", "timestamp"]}


def _rows(client, table: str, source: str, models: list[str]) -> dict[tuple, dict]:
    keys, compared = TABLES[table]
    result = client.query(f"SELECT * FROM {source} WHERE model_name IN {{models:Array(String)}}",
                          parameters={"models": models})
    names = list(result.column_names)
    compared = compared or [c for c in names if c not in keys and c not in SKIP]
    return {tuple(r[names.index(k)] for k in keys): {c: r[names.index(c)] for c in compared}
            for r in result.result_rows}


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def differences(client, models: list[str], tables: list[str]) -> list[str]:
    """What the tables hold that a refresh of the whole look-back, now, would not write (or not so)."""
    found = []
    for table in tables:
        oracle = _rows(client, table, f"{DB}.{table}_compute(as_of = now(), since_view = '')", models)
        stored = _rows(client, table, f"{DB}.{table} FINAL", models)
        assert oracle, f"{table}: the oracle computed nothing; the streams do not reach it"
        for key, expected in oracle.items():
            got = stored.get(key)
            if got is None:
                found.append(f"{table} {key}: missing")
            elif not all(_same(got[c], v) for c, v in expected.items()):
                found.append(f"{table} {key}: {[(c, got[c], v) for c, v in expected.items() if not _same(got[c], v)]}")
    return found


def _next_second() -> None:
    """ml_refresh_since has whole seconds: a refresh started in a later second than every write
    before it takes, next time, only what came after (not those writes again)."""
    time.sleep(1 - time.time() % 1 + 0.01)


def run_streams(client, seeds: range, rounds: int = ROUNDS, views: list[str] = VIEWS,
                tables: list[str] | None = None, labels: bool = True, settle: bool = False) -> list[str]:
    """Apply the streams round by round, refreshing `views` after each; then compare `tables`.

    `settle`: refresh twice after the streams' registration and first reference, the second time
    in a later second than the reference bins the first wrote, so that no round's windows are due
    because of them (a mutation test then sees only the source it removed)."""
    streams = [Stream(seed, labels) for seed in seeds]
    for stream in streams:
        stream.start(client)
    if settle:
        for _ in range(2):
            _next_second()
            refresh_views(client, *views)
    for number in range(rounds):
        batch: dict[str, list] = {table: [] for table in COLUMNS}
        for stream in streams:
            stream.round(client, number, batch)
        for table, rows in batch.items():
            if rows:
                client.insert(f"{DB}.{table}", rows, column_names=COLUMNS[table])
        if number == 4:  # a setting of every model changes: every version is rebuilt
            client.command(f"INSERT INTO {DB}.ml_monitor_config (model_name, small_sample) VALUES ('*', 150)")
        _next_second()
        refresh_views(client, *views)
    return differences(client, [s.model for s in streams], tables or list(TABLES))


def test_incremental_refreshes_equal_the_whole_look_back_over_seeded_streams(shared_store):
    """20 seeded streams, refreshed after every round: every stored window equals the oracle's."""
    found = run_streams(shared_store, range(STREAMS))
    assert not found, f"{len(found)} windows differ from a full refresh, first: {found[:5]}"


def _due_view_without(part: str) -> str:
    """ml_windows_due with one of its sources of due windows removed (a mutation)."""
    text = (queries_dir() / "views" / "02_windows_due.sql").read_text()
    cuts = {"predictions": ("WHERE inserted_at >= since AND since_s > 0", "WHERE 0"),
            "labels": ("WHERE since_s > 0 AND timestamp >=", "WHERE 0 AND timestamp >="),
            "rebuilt": ("FROM rebuilt)", "FROM rebuilt WHERE 0)"),
            "pca fit": ("FROM {{db}}.ml_reference_pca WHERE inserted_at >= since",
                        "FROM {{db}}.ml_reference_pca WHERE 0")}
    old, new = cuts[part]
    assert text.count(old) == 1, part
    sql = render(text.replace(old, new), Layout(database=DB, refresh_margin_seconds=0))
    return next(s for s in statements(sql) if "ml_windows_due" in s.split("AS", 1)[0])


MUTATIONS = {  # part: (rounds, views, tables, labels) enough to show it; labels make their
    # windows due too, so the predictions case has none
    "predictions": (2, ["ml_data_quality_mv"], ["ml_data_quality"], False),
    "labels": (2, ["ml_performance_mv"], ["ml_performance"], True),
    "rebuilt": (3, ["ml_reference_bins_mv", "ml_drift_ks_exact_mv", "ml_drift_mv"], ["ml_drift"], True),
    "pca fit": (3, ["ml_drift_multivariate_mv"], ["ml_drift_multivariate"], False),
}


@pytest.mark.parametrize("part", sorted(MUTATIONS))
def test_each_source_of_due_windows_is_needed(shared_store, part):
    """Without one source of due windows, some stored window differs from the oracle."""
    shared_store.command(_due_view_without(part))
    rounds, views, tables, labels = MUTATIONS[part]
    settle = part not in ("rebuilt", "pca fit")  # those removed the rebuilds that settling waits out
    found = run_streams(shared_store, range(100, 106), rounds, views, tables, labels, settle=settle)
    assert found, f"with the {part} source removed, every window still equals the oracle"
