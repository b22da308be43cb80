"""Point masses through the real SDK: zero-inflated, constant, bimodal and integer features.

heron.log_reference and heron.observe emit the records, the collector's own conversion and the
parse views store them (tests/analytics/_sdk.py), the scheduled views compute drift. Two forms of
the same data: a profile of 20,000 rows (sample_rows=0), and a 3,000-row reference whose sample
is the whole reference, which `reference = auto` must now prefer over its profile (exact KS).

Every statistic is compared on the raw data: KS with scipy.stats.ks_2samp (exact D for a sample;
for a profile the binned D, equal to it where every value is a point mass), Wasserstein with
scipy.stats.wasserstein_distance (normed by the reference σ), PSI and Jensen–Shannon with numpy on
the same bins (the SDK's edges for a profile, the views' rule for a sample). The case that used to
be invisible — 97 % zeros in the reference, half the window ≈ 450 — must be flagged by all four.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

import heron
from heron._reference import numeric_profile

from ._data import DRIFT_VIEWS, drift_rows, hour_start, refresh_views, sample_edges
from ._sdk import sdk  # noqa: F401  (fixture)

N_PROFILE, N_SAMPLE, N_CUR = 20_000, 3_000, 2_400
DISCRETE = ("zero", "const", "integer")  # every reference value a point mass, or (zero) the one that matters


def _data(rng: np.random.Generator, n: int, drift: bool) -> dict[str, np.ndarray]:
    zeros = rng.random(n) < (0.5 if drift else 0.97)
    return {
        "zero": np.where(zeros, 0.0, rng.normal(450, 20, n) if drift else rng.lognormal(3, 1, n)),
        "const": np.where(rng.random(n) < 0.2, 4.0, 3.0) if drift else np.full(n, 3.0),
        "bimodal": np.where(rng.random(n) < (0.8 if drift else 0.5), rng.normal(0, 1, n), rng.normal(10, 1, n)),
        "integer": rng.poisson(2.6 if drift else 2.0, n).astype(float),
    }


def _predict(model: str, start: dt.datetime, features: dict[str, np.ndarray]) -> None:
    with heron.observe(model=model, version="v1", timestamp=start + dt.timedelta(minutes=1)) as obs:
        obs.features(features)
        obs.prediction(np.zeros(N_CUR, dtype=int))


def _on_bins(edges: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> dict[str, float]:
    k = len(edges) + 1
    p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=k) / len(ref)
    q = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=k) / len(cur)
    pe, qe = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    return {"psi": float(np.sum((qe - pe) * np.log(qe / pe))), "jensen_shannon": float(jensenshannon(p, q)),
            "ks": float(np.max(np.abs(np.cumsum(p) - np.cumsum(q))[:-1]))}


@pytest.fixture
def loaded(store, sdk):  # noqa: F811
    rng = np.random.default_rng(12)
    undrifted, drifted = hour_start(4), hour_start(2)
    data = {}
    for model, n, sample_rows in (("profiled", N_PROFILE, 0), ("sampled", N_SAMPLE, None)):
        ref = _data(rng, n, drift=False)
        heron.log_reference(model, "v1", ref, sample_rows=sample_rows)
        windows = {undrifted: _data(rng, N_CUR, drift=False), drifted: _data(rng, N_CUR, drift=True)}
        for start, cur in windows.items():
            _predict(model, start, cur)
        data[model] = (ref, windows)
    sdk.ship(store)
    refresh_views(store, *DRIFT_VIEWS)
    return store, data, undrifted, drifted


def test_point_masses_are_measured_by_every_method_and_match_scipy(loaded):
    store, data, _, drifted = loaded
    for model, (ref, windows) in data.items():
        rows = drift_rows(store, model)
        for start, cur in windows.items():
            for feature, values in cur.items():
                r = ref[feature]
                got = {m: rows[(start, feature, m)] for m in ("ks", "psi", "jensen_shannon", "wasserstein")}
                assert {g["reference_source"] for g in got.values()} == {"profile" if model == "profiled" else "sample"}
                edges = (np.asarray(numeric_profile(r, 20)["edges"]) if model == "profiled"
                         else sample_edges(r, 20))
                assert np.array_equal(store.query(
                    "SELECT edges FROM heron.ml_reference_bins FINAL WHERE model_name = {m:String} "
                    "AND feature = {f:String}", parameters={"m": model, "f": feature}).result_rows[0][0], edges)
                on_bins = _on_bins(edges, r, values)
                for method in ("psi", "jensen_shannon"):
                    assert got[method]["statistic"] == pytest.approx(on_bins[method], abs=1e-9), (model, feature)
                exact_d = stats.ks_2samp(r, values, method="asymp")
                if model == "sampled":  # the whole reference is the sample: the exact KS runs
                    assert got["ks"]["exact"] == 1
                    assert got["ks"]["statistic"] == pytest.approx(exact_d.statistic, abs=1e-9), feature
                    assert got["ks"]["p_value"] == pytest.approx(exact_d.pvalue, rel=1e-6), feature
                else:
                    assert got["ks"]["statistic"] == pytest.approx(on_bins["ks"], abs=1e-9), feature
                    assert got["ks"]["statistic"] <= exact_d.statistic + 1e-12
                    if feature in ("const", "integer"):  # every value its own bin: the binned D is exact
                        assert got["ks"]["statistic"] == pytest.approx(exact_d.statistic, abs=1e-9), feature
                w_exact = stats.wasserstein_distance(r, values) / max(r.std(), 1e-3)
                w = got["wasserstein"]["statistic"]
                if feature in ("const", "integer"):  # point bins: no in-bin shape to assume
                    assert w == pytest.approx(w_exact, rel=1e-6, abs=1e-9), (model, feature)
                else:
                    assert abs(w - w_exact) <= 0.02 + 0.1 * w_exact, (model, feature, w, w_exact)
                primary = next(g for g in got.values() if g["is_primary"])
                assert primary["method"] == "wasserstein"  # both samples above small_sample
                assert primary["drifted"] == (start == drifted), (model, feature, start, primary["statistic"])

        # the case that used to be invisible (one edge [0.0]: every statistic exactly 0)
        zero = {m: rows[(drifted, "zero", m)] for m in ("ks", "psi", "jensen_shannon", "wasserstein")}
        assert zero["psi"]["statistic"] >= 0.2 and zero["jensen_shannon"]["statistic"] >= 0.1
        assert zero["wasserstein"]["statistic"] >= 0.1 and zero["ks"]["statistic"] >= 0.4
        assert zero["ks"]["p_value"] < 1e-6


def test_a_profile_gives_a_point_mass_its_own_bin():
    rng = np.random.default_rng(1)
    zero_inflated = np.where(rng.random(10_000) < 0.97, 0.0, rng.lognormal(3, 1, 10_000))
    prof = numeric_profile(zero_inflated, 20)
    assert prof["edges"][:2] == [0.0, np.nextafter(0.0, 1.0)]  # [0, 0⁺) holds the zeros alone
    assert prof["counts"][1] == int((zero_inflated == 0).sum())
    assert numeric_profile(np.full(50, 3.0), 20)["edges"] == [3.0, np.nextafter(3.0, 4.0)]
    codes = numeric_profile(rng.integers(0, 4, 1_000).astype(float), 20)
    assert codes["edges"][::2] == [0.0, 1.0, 2.0, 3.0] and sum(codes["counts"][1::2]) == 1_000
    continuous = numeric_profile(rng.normal(0, 1, 10_000), 20)
    assert len(continuous["edges"]) == 19  # no point mass: the quantile bins as before
