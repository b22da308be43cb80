"""Every output measured, or marked unmeasured — through the real SDK (tests/analytics/_sdk.py).

- log_reference(scores=...) (a score per row, or class probabilities) gives score drift, from the
  sample (exact KS, checked with scipy) and from a profile (binned, checked with numpy);
- the kind of the prediction follows the model's task: a binary classifier's 0/1 predictions are
  classes (chi-square / Jensen–Shannon), a regressor's are numbers (Wasserstein), whether the SDK
  knew the task when it built the profile or the model was registered afterwards;
- ml_drift_summary says NULL, not 0, for an output that had nothing to be compared with;
- a reference whose feature names the predictions never use is visible per window in
  ml_feature_coverage (no_overlap), not a silent absence of drift rows.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import stats

import heron
from heron._reference import numeric_profile
from heron_collector.analytics import refresh

from ._data import drift_rows, hour_start
from ._sdk import sdk  # noqa: F401  (fixture)

N_REF, N_CUR = 3_000, 1_500


def _probabilities(rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
    p1 = 1 / (1 + np.exp(-(rng.normal(shift, 1.5, n))))
    return np.c_[1 - p1, p1]


def _observe(model: str, start: dt.datetime, features: dict, result, score=None) -> None:
    with heron.observe(model=model, version="v1", timestamp=start + dt.timedelta(minutes=1)) as obs:
        obs.features(features)
        obs.prediction(result, score=score)


@pytest.fixture
def loaded(store, sdk):  # noqa: F811
    rng = np.random.default_rng(21)
    start = hour_start(2)
    x_ref, x_cur = rng.normal(0, 1, N_REF), rng.normal(0, 1, N_CUR)
    # a binary classifier registered first; class probabilities as its reference scores (the
    # score and the predicted classes are derived from them as on the prediction path)
    heron.register_model("binary", "v1", task="binary_classification")
    ref_proba = _probabilities(rng, N_REF, 0.0)
    heron.log_reference("binary", "v1", {"x": x_ref}, scores=ref_proba)
    cur_proba = _probabilities(rng, N_CUR, 1.5)  # the model now says "1" far more often
    _observe("binary", start, {"x": x_cur}, cur_proba)
    # the same model registered only after its profile was built (the SDK did not know the task)
    late_pred = (ref_proba[:, 1] > 0.5).astype(int)
    heron.log_reference("late", "v1", {"x": x_ref}, predictions=late_pred, scores=ref_proba[:, 1], sample_rows=0)
    heron.register_model("late", "v1", task="binary_classification")
    _observe("late", start, {"x": x_cur}, (cur_proba[:, 1] > 0.5).astype(int), score=cur_proba[:, 1])
    # a regressor: its predictions are numbers
    heron.register_model("regressor", "v1", task="regression")
    heron.log_reference("regressor", "v1", {"x": x_ref}, predictions=x_ref * 2.0, sample_rows=0)
    _observe("regressor", start, {"x": x_cur}, x_cur * 2.0 + 1.0)
    # no prediction or score in the reference: those outputs are not measured
    heron.log_reference("plain", "v1", {"x": x_ref})
    _observe("plain", start, {"x": x_cur}, (x_cur > 0).astype(int), score=cur_proba[:, 1])
    # a numpy reference without feature_names ("0", "1") against predictions named "a", "b"
    heron.log_reference("unnamed", "v1", np.c_[x_ref, x_ref])
    _observe("unnamed", start, {"a": x_cur, "b": x_cur}, (x_cur > 0).astype(int))
    sdk.ship(store)
    refresh(store, "heron")
    return store, start, ref_proba, cur_proba


def _primary(rows: dict, start, role: str) -> dict:
    [row] = [r for (w, _, _), r in rows.items() if w == start and r["role"] == role and r["is_primary"]]
    return row


def test_scores_and_predictions_are_measured_as_the_task_says(loaded):
    store, start, ref_proba, cur_proba = loaded
    rows = drift_rows(store, "binary")
    score = rows[(start, "score", "ks")]
    exact = stats.ks_2samp(ref_proba[:, 1], cur_proba[:, 1], method="asymp")
    assert score["reference_source"] == "sample" and score["exact"] == 1  # the sample is the whole reference
    assert score["statistic"] == pytest.approx(exact.statistic, abs=1e-9)
    assert score["p_value"] == pytest.approx(exact.pvalue, rel=1e-6) and score["drifted"] == 1
    prediction = _primary(rows, start, "prediction")
    assert prediction["feature_type"] == "categorical" and prediction["method"] in ("chi2", "jensen_shannon")
    assert prediction["drifted"] == 1
    assert (start, "prediction", "wasserstein") not in rows  # classes, not Wasserstein on 0/1

    late = drift_rows(store, "late")
    assert _primary(late, start, "prediction")["feature_type"] == "categorical"
    assert late[(start, "prediction", "chi2")]["reference_source"] == "profile"
    score = late[(start, "score", "ks")]
    edges = np.asarray(numeric_profile(ref_proba[:, 1], 20)["edges"])
    k = len(edges) + 1
    p = np.bincount(np.searchsorted(edges, ref_proba[:, 1], side="right"), minlength=k) / N_REF
    q = np.bincount(np.searchsorted(edges, cur_proba[:, 1], side="right"), minlength=k) / N_CUR
    assert score["reference_source"] == "profile" and score["exact"] == 0
    assert score["statistic"] == pytest.approx(np.max(np.abs(np.cumsum(p) - np.cumsum(q))[:-1]), abs=1e-9)

    regressor = _primary(drift_rows(store, "regressor"), start, "prediction")
    assert regressor["feature_type"] == "numeric" and regressor["method"] == "wasserstein"


def test_the_summary_says_null_for_what_was_not_measured(loaded):
    store = loaded[0]
    summary = {r[0]: r[1:] for r in store.query(
        "SELECT model_name, prediction_drift, score_drift, label_drift, n_features, drift_share "
        "FROM heron.ml_drift_summary").result_rows}
    assert summary["binary"][:3] == (1, 1, None)  # no labels: label drift not measured
    assert summary["plain"][:3] == (None, None, None) and summary["plain"][3] == 1
    assert "unnamed" not in summary  # nothing could be compared: no drift row at all …
    coverage = {r[0]: r[1:] for r in store.query(
        "SELECT model_name, n_features, n_referenced, unreferenced_features, no_overlap "
        "FROM heron.ml_feature_coverage").result_rows}
    assert coverage["unnamed"] == (2, 0, ["a", "b"], 1)  # … and the coverage view says why
    assert coverage["plain"] == (1, 1, [], 0)
