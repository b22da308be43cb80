"""Replay (`heron refresh --from --to`): the scheduled analytics computed as of past times.

A stream timestamped a month ago is outside every look-back, so the scheduled refresh computes
nothing for it; a replay over that month yields its windows — drift equal to scipy on the same
rows, performance equal to scikit-learn — without rewriting a timestamp.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from heron_collector import analytics

from ._data import SCORED_COLUMNS, day_start, insert_reference
from .test_performance import configure, insert_labels, register

DB = "heron"
DAY = 86400


def _month_old_stream(store) -> tuple[dict, dict]:
    """Three days of a binary classifier 30–28 days ago; the last day's feature drifts."""
    rng = np.random.default_rng(11)
    configure(store, "m", window=DAY, lookback=3 * DAY)
    register(store, "m", "v1", "binary_classification", positive_class="yes")
    insert_reference(store, "m", "v1", {"x": rng.normal(0, 1, 2_000).tolist()})
    rows, labels, xs, truth = [], [], {}, {}
    for days_ago in (30, 29, 28):
        start = day_start(days_ago)
        shift = 1.5 if days_ago == 28 else 0.0
        xs[days_ago] = rng.normal(shift, 1, 300)
        truth[days_ago] = ([], [])
        for i, x in enumerate(xs[days_ago]):
            ts = start + dt.timedelta(seconds=int(i * DAY / 300))
            pid = f"{days_ago}-{i}"
            predicted = "yes" if x > 0 else "no"
            rows.append(["m", "v1", ts, pid, predicted, None, 0.5, {"x": float(x)}])
            label = "yes" if x + rng.normal(0, 1) > 0 else "no"
            labels.append((pid, label, None, ts + dt.timedelta(hours=1)))
            truth[days_ago][0].append(label == "yes")
            truth[days_ago][1].append(predicted == "yes")
    store.insert(f"{DB}.ml_predictions", rows, column_names=[*SCORED_COLUMNS[:-1], "numeric"])
    insert_labels(store, "m", labels)
    return xs, truth


def _drift(store) -> dict:
    rows = store.query(f"SELECT window_start, statistic FROM {DB}.ml_drift FINAL WHERE model_name = 'm' "
                       "AND feature = 'x' AND method = 'ks'").result_rows
    return {ws.replace(tzinfo=dt.timezone.utc): d for ws, d in rows}


def test_a_stream_from_30_days_ago_yields_its_windows_drift_and_performance(store):
    xs, truth = _month_old_stream(store)
    analytics.refresh(store, DB, wait=True)
    assert _drift(store) == {}, "a month ago is outside every look-back: the scheduled refresh skips it"

    result = analytics.replay(store, DB, day_start(31), day_start(27))
    assert len(result["as_of"]) == 4 and "ml_drift_mv" in result["views"]

    drift = _drift(store)
    reference = store.query(f"SELECT numeric['x'] FROM {DB}.ml_reference WHERE model_name = 'm'").result_columns[0]
    for days_ago in (30, 29, 28):
        expected = stats.ks_2samp(xs[days_ago], reference).statistic
        assert drift[day_start(days_ago)] == pytest.approx(expected, abs=1e-12), days_ago
    flagged = dict(store.query(f"SELECT window_start, drifted FROM {DB}.ml_drift FINAL WHERE model_name = 'm' "
                               "AND feature = 'x' AND method = 'ks'").result_rows)
    assert [flagged[day_start(d).replace(tzinfo=None)] for d in (30, 29, 28)] == [0, 0, 1]

    accuracy = {ws.replace(tzinfo=dt.timezone.utc): v for ws, v in store.query(
        f"SELECT window_start, value FROM {DB}.ml_performance FINAL WHERE model_name = 'm' AND metric = 'accuracy' "
        "AND segment_key = ''").result_rows}
    for days_ago in (30, 29, 28):
        y, yhat = truth[days_ago]
        assert accuracy[day_start(days_ago)] == pytest.approx(skm.accuracy_score(y, yhat), abs=1e-12)
    quality = store.query(f"SELECT count() FROM {DB}.ml_data_quality FINAL WHERE model_name = 'm' "
                          f"AND window_start < now() - INTERVAL 20 DAY").result_rows[0][0]
    assert quality >= 3

    analytics.refresh(store, DB, wait=True)  # the scheduled refresh keeps what the replay computed
    assert _drift(store).keys() == drift.keys()


def test_a_replay_refuses_a_step_that_would_skip_windows_and_an_empty_range(store):
    configure(store, "m", window=DAY, lookback=DAY)
    register(store, "m", "v1", "binary_classification")
    with pytest.raises(ValueError, match="smallest look-back"):
        analytics.replay(store, DB, day_start(10), day_start(1), step_seconds=2 * DAY)
    with pytest.raises(ValueError, match="must be after"):
        analytics.replay(store, DB, day_start(1), day_start(2))


def test_the_cli_replays_a_range(tmp_path):
    made = subprocess.run([sys.executable, "-m", "heron_collector", "migrate", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    done = subprocess.run([sys.executable, "-m", "heron_collector", "refresh", "--data-dir", str(tmp_path),
                           "--from", "2026-01-01", "--to", "2026-01-03"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "replayed" in done.stdout and "2026-01-03" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "heron_collector", "refresh", "--data-dir", str(tmp_path),
                          "--from", "yesterday"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--from" in bad.stderr and "--to" in bad.stderr
