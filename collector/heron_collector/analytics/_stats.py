"""The distribution functions ClickHouse lacks, applied to aggregated statistics.

Each takes what the SQL views store (a statistic and its sample sizes or degrees of freedom),
never raw values, and matches scipy's own two-sample tests on the same data:

- `ks_pvalue(d, n, m)` is `scipy.stats.ks_2samp(x, y, method="asymp").pvalue`: the exact
  one-sample Kolmogorov distribution `kstwo` at the effective size round(n·m/(n+m)). scipy's
  `method="exact"` needs the samples' lattice (n, m and ties), and is only used by scipy's
  default below 10,000 rows; asymp is within 1e-3 of it at the sizes where a p-value is Heron's
  default (docs/statistics.md).
- `chi2_pvalue(stat, df)` is `scipy.stats.chi2_contingency(table, correction=False).pvalue` for a
  2×k table (reference vs current counts), df = k − 1 over categories seen in either sample.
- `holm(p)` adjusts p-values across the features of one window (Heron's default: it bounds the
  chance of any false alarm in a window, family-wise, by alpha); `benjamini_hochberg(p)` is kept
  for users who prefer false-discovery-rate control.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Two-sided two-sample KS p-value, Smirnov's asymptotic form as scipy computes it."""
    if n <= 0 or m <= 0:
        return float("nan")
    big, small = max(float(n), float(m)), min(float(n), float(m))
    en = big * small / (big + small)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))


def chi2_pvalue(statistic: float, df: int) -> float:
    """Upper tail of the chi-square distribution; df 0 (one category) means no evidence: 1."""
    if df <= 0:
        return 1.0
    return float(stats.chi2.sf(statistic, df))


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (step-up, monotone, capped at 1); NaN stays NaN.

    Same numbers as `scipy.stats.false_discovery_control(p, method="bh")` on the non-NaN part.
    """
    def step_up(ordered: np.ndarray) -> np.ndarray:
        ranked = ordered * len(ordered) / np.arange(1, len(ordered) + 1)
        return np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)

    return _adjust(pvalues, step_up)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values: p_(i) → max over j <= i of min(1, (m − j + 1)·p_(j)).

    Controls the family-wise error rate across the m tests of one window at any dependence.
    NaN stays NaN and does not count in m.
    """
    def step_down(ordered: np.ndarray) -> np.ndarray:
        m = len(ordered)
        return np.maximum.accumulate(np.minimum(1.0, ordered * (m - np.arange(m))))

    return _adjust(pvalues, step_down)


def _adjust(pvalues: Sequence[float], adjust: Callable[[np.ndarray], np.ndarray]) -> list[float]:
    """Apply `adjust` (ascending p-values → their adjusted values) to the non-NaN p-values, in place."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        q = p[ok]
        order = np.argsort(q)
        adjusted = np.empty_like(q)
        adjusted[order] = adjust(q[order])
        out[ok] = adjusted
    return out.tolist()
