"""Drift against an SDK-built reference *profile* (bins, counts, min/max/mean/std; no values).

The profile is made by the SDK's own builder (heron._reference.numeric_profile /
categorical_profile, log_reference's default bins) from 20,000 training rows shaped like
`make demo`'s: a heavy-tailed feature (lognormal income, rounded to 100), integer-valued features
with many ties at the quantile edges (ages, credit scores, Poisson counts), a continuous one and a
categorical one. Production windows of 2,400 rows (the demo's size; above small_sample, so the
verdict is the effect size: normed Wasserstein / Jensen–Shannon).

Checked: (1) same-distribution windows raise no false alarm, over several seeds; (2) a shifted
window (income × 0.7, credit score mean 660 → 610, channel mix) is flagged on exactly the
shifted features; (3) Heron's profile Wasserstein stays within the documented bound of scipy's
exact wasserstein_distance (docs/statistics.md: W_exact − B − B2 ≤ W ≤ W_exact + B, both from the
bins), and its measured error is reported.
"""

from __future__ import annotations

import datetime as dt
import inspect

import numpy as np
from scipy import stats

from heron._reference import categorical_profile, log_reference, numeric_profile

from ._data import DRIFT_VIEWS, drift_rows, hour_start, insert_predictions, refresh_views

SEEDS, N_REF, N_CUR, UNDRIFTED = 6, 20_000, 2_400, 3
BINS = inspect.signature(log_reference).parameters["bins"].default  # the SDK's default
NUMERIC = ["income", "age", "credit_score", "late_payments", "debt_ratio"]
SHIFTED = {"income", "credit_score", "channel"}


def _data(rng: np.random.Generator, n: int, drift: bool = False) -> tuple[dict, dict]:
    numeric = {
        "income": (rng.lognormal(np.log(42_000), 0.45, n) * (0.7 if drift else 1.0)).round(-2),
        "age": np.clip(rng.normal(41, 12, n), 18, 90).round(),
        "credit_score": np.clip(rng.normal(610 if drift else 660, 70, n), 300, 850).round(),
        "late_payments": rng.poisson(0.8, n).astype(float),
        "debt_ratio": rng.beta(2, 5, n),
    }
    categorical = {"channel": rng.choice(["web", "branch", "partner"], n,
                                         p=[.3, .2, .5] if drift else [.55, .35, .1]).tolist()}
    return numeric, categorical


def _insert_profile(client, model: str, numeric: dict, categorical: dict) -> None:
    rows = []
    stamp = dt.datetime(2026, 1, 1)
    for name, values in numeric.items():
        prof = numeric_profile(values, BINS)
        rows.append([model, "v1", "prof", name, "numeric", prof["count"], prof["missing"], prof["nan"],
                     prof["edges"], prof["counts"], {}, prof["min"], prof["max"], prof["mean"], prof["std"],
                     stamp])
    for name, values in categorical.items():
        prof = categorical_profile(values, 100)
        rows.append([model, "v1", "prof", name, "categorical", prof["count"], prof["missing"], 0, [], [],
                     prof["frequencies"], None, None, None, None, stamp])
    client.insert("heron.ml_reference_profile", rows, column_names=[
        "model_name", "model_version", "reference_id", "feature", "kind", "count", "missing", "non_finite",
        "edges", "counts", "categories", "min", "max", "mean", "std", "timestamp"])


def _bounds(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """(B, B2) of docs/statistics.md, normalised by the reference std, from the profile's bins."""
    prof = numeric_profile(ref, BINS)
    edges, p = np.asarray(prof["edges"]), np.asarray(prof["counts"]) / len(ref)
    q = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(p)) / len(cur)
    lower = np.r_[min(ref.min(), cur.min()), edges]
    upper = np.r_[edges, max(ref.max(), cur.max())]
    width = upper - lower
    d = np.r_[0.0, np.cumsum(p - q)[:-1], 0.0]  # F_ref − F_cur at each bin's lower / upper end
    sign_change = d[:-1] * d[1:] < 0
    b2 = float(np.sum(sign_change * width * np.maximum(np.abs(d[:-1]), np.abs(d[1:]))))
    sigma = max(ref.std(), 1e-3)
    return float(np.sum(p * width)) / sigma, b2 / sigma


def test_profile_drift_no_false_alarm_and_detection(store, capsys):
    starts = [hour_start(UNDRIFTED + 2 - w) for w in range(UNDRIFTED + 1)]
    data = {}
    for seed in range(SEEDS):
        rng = np.random.default_rng(100 + seed)
        model = f"profile{seed}"
        ref_num, ref_cat = _data(rng, N_REF)
        _insert_profile(store, model, ref_num, ref_cat)
        windows = []
        for w, start in enumerate(starts):
            cur_num, cur_cat = _data(rng, N_CUR, drift=w == UNDRIFTED)
            insert_predictions(store, model, "v1", start, cur_num, cur_cat, id_prefix=f"{w}-", spacing_s=1.0)
            windows.append(cur_num)
        data[model] = (ref_num, windows)
    refresh_views(store, *DRIFT_VIEWS)

    false_alarms, undrifted, detected, drifted, worst, excess, null_max = 0, 0, 0, 0, 0.0, 0.0, 0.0
    for model, (ref_num, windows) in data.items():
        rows = drift_rows(store, model)
        primary = {(w.replace(tzinfo=None), f): r for (w, f, _), r in rows.items() if r["is_primary"]}
        for w, start in enumerate(starts):
            for feature in [*NUMERIC, "channel"]:
                row = primary[(start, feature)]
                assert row["reference_source"] == "profile" and row["n_current"] == N_CUR
                assert row["method"] == ("wasserstein" if feature in NUMERIC else "jensen_shannon")
                if w == UNDRIFTED and feature in SHIFTED:
                    drifted += 1
                    detected += row["drifted"]
                else:
                    undrifted += 1
                    false_alarms += row["drifted"]
                    null_max = max(null_max, row["statistic"])
            for feature in NUMERIC:  # the documented bound against scipy's exact value
                ref, cur = ref_num[feature], windows[w][feature]
                exact = stats.wasserstein_distance(ref, cur) / max(ref.std(), 1e-3)
                ours = rows[(start, feature, "wasserstein")]["statistic"]
                b, b2 = _bounds(ref, cur)
                assert exact - b - b2 - 1e-9 <= ours <= exact + b + 1e-9, (model, w, feature, ours, exact, b)
                worst = max(worst, abs(ours - exact))
                excess = max(excess, abs(ours - exact) - 0.1 * exact)
    with capsys.disabled():
        print(f"\nPROFILE bins={BINS} seeds={SEEDS} false_alarms={false_alarms}/{undrifted} "
              f"detected={detected}/{drifted} max_undrifted_statistic={null_max:.4f} "
              f"max|W_heron − W_exact|={worst:.4f} "
              f"max(|W_heron − W_exact| − 0.1·W_exact)={excess:.4f}")
    assert false_alarms == 0
    assert detected == drifted
    assert excess <= 0.02  # measured on this data; the guaranteed bound is the one asserted above


def test_prediction_and_label_summaries_of_an_uploaded_profile_are_compared(store):
    """The profile travels as a heron.reference record through the parse view, as the SDK sends it;
    its prediction and label summaries must meet the windows' predictions and labels."""
    import json

    from heron_collector.ingest.rows import LOG_COLUMNS

    rng = np.random.default_rng(5)
    ref_num, ref_cat = _data(rng, N_REF)
    ref_pred = rng.choice(["0", "1"], N_REF, p=[.8, .2]).tolist()
    body = {"numeric": {"income": numeric_profile(ref_num["income"], BINS)},
            "categorical": {"channel": categorical_profile(ref_cat["channel"], 100)},
            "prediction": {"kind": "categorical", **categorical_profile(ref_pred, 100)},
            "label": {"kind": "categorical", **categorical_profile(ref_pred, 100)}}
    attrs = {"ml.model.name": "wired", "ml.model.version": "v1", "heron.schema.version": "1",
             "heron.reference.kind": "profile", "heron.reference.id": "r1"}
    store.insert("heron.otel_logs", [[1_700_000_000_000_000_000, "", "", 0, "INFO", 9, "svc", json.dumps(body), "",
                                      {}, "", "heron", "0.1.0", {}, attrs, "heron.reference"]],
                 column_names=list(LOG_COLUMNS))
    start = hour_start(1)
    cur_num, cur_cat = _data(rng, N_CUR)
    shifted = rng.choice(["0", "1"], N_CUR, p=[.4, .6]).tolist()  # the model now says "1" far more often
    insert_predictions(store, "wired", "v1", start, {"income": cur_num["income"]}, cur_cat,
                       prediction=shifted, id_prefix="w", spacing_s=1.0)
    store.insert("heron.ml_ground_truth", [["wired", f"w{i}", shifted[i], start] for i in range(N_CUR)],
                 column_names=["model_name", "prediction_id", "label", "timestamp"])
    refresh_views(store, *DRIFT_VIEWS)

    rows = drift_rows(store, "wired")
    by_role = {r["role"]: r for r in rows.values() if r["is_primary"] and r["role"] in ("prediction", "label")}
    assert set(by_role) == {"prediction", "label"}
    for role, row in by_role.items():
        assert row["reference_source"] == "profile", role
        assert row["n_reference"] == N_REF and row["n_current"] == N_CUR, role
        assert row["drifted"] == 1, role
