"""Scenario: drift injected into known features from a known window, over 20 seeds.

Each seed is its own model in one store (one load, one refresh). Reference: 2,000 rows of
5 numeric + 2 categorical features; production: 6 hourly windows of 300 predictions; from
window 3 on, f0 shifts by 0.5 reference σ and c0's category shares move. The verdict is
Heron's default (at this size: KS / chi-square, Holm across the window's features, α 0.05).
Reported: false-alarm rate on undrifted feature-windows (target ≤ 2 %) and detection rate on
drifted ones (target ≥ 95 %). The figures are quoted in docs/statistics.md.
"""

from __future__ import annotations

import numpy as np

from heron_collector.analytics import refresh

from ._data import hour_start, insert_predictions, insert_reference

SEEDS, WINDOWS, N_REF, N_CUR, DRIFT_FROM = 20, 6, 2000, 300, 3
NUMERIC, CATEGORICAL = [f"f{i}" for i in range(5)], ["c0", "c1"]
DRIFTED = {"f0", "c0"}
SHARES = [0.5, 0.3, 0.2]


def _load(client) -> list:
    starts = [hour_start(WINDOWS + 1 - w) for w in range(WINDOWS)]
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        model = f"scenario{seed}"
        insert_reference(client, model, "v1", {f: rng.normal(0, 1, N_REF) for f in NUMERIC},
                         {c: rng.choice(list("abc"), N_REF, p=SHARES).tolist() for c in CATEGORICAL})
        for w, start in enumerate(starts):
            drift = w >= DRIFT_FROM
            numeric = {f: rng.normal(0.5 if drift and f in DRIFTED else 0.0, 1, N_CUR) for f in NUMERIC}
            categorical = {c: rng.choice(list("abc"), N_CUR, p=[0.3, 0.3, 0.4] if drift and c in DRIFTED
                                         else SHARES).tolist() for c in CATEGORICAL}
            insert_predictions(client, model, "v1", start, numeric, categorical, id_prefix=f"{w}-",
                               spacing_s=1.0)
    return starts


def test_scenario_false_alarms_and_detection(store, capsys):
    starts = _load(store)
    refresh(store, "heron")
    rows = store.query(
        "SELECT model_name, window_start, feature, drifted FROM heron.ml_drift FINAL "
        "WHERE is_primary AND role = 'feature' AND model_name LIKE 'scenario%'").result_rows
    index = {s: i for i, s in enumerate(starts)}
    flagged = {(m, index[w.replace(tzinfo=None)], f): d for m, w, f, d in rows}
    assert len(flagged) == SEEDS * WINDOWS * (len(NUMERIC) + len(CATEGORICAL))
    drifted = [d for (_, w, f), d in flagged.items() if f in DRIFTED and w >= DRIFT_FROM]
    undrifted = [d for (_, w, f), d in flagged.items() if not (f in DRIFTED and w >= DRIFT_FROM)]
    false_alarm, detection = sum(undrifted) / len(undrifted), sum(drifted) / len(drifted)
    with capsys.disabled():
        print(f"\nSCENARIO seeds={SEEDS} false_alarm_rate={false_alarm:.4f} ({sum(undrifted)}/"
              f"{len(undrifted)}) detection_rate={detection:.4f} ({sum(drifted)}/{len(drifted)})")
    assert false_alarm <= 0.02
    assert detection >= 0.95
    # dataset drift share: 2 of 7 features drifted from window 3 on, none before
    share = dict(store.query(
        "SELECT window_start, avg(drift_share) FROM heron.ml_drift_summary "
        "WHERE model_name LIKE 'scenario%' GROUP BY window_start").result_rows)
    assert share[starts[0]] < 0.05 and abs(share[starts[-1]] - 2 / 7) < 0.05
