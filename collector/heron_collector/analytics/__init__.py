"""Scheduled analytics glue: force and inspect ClickHouse's refreshable views, and finish in
Python the few statistics SQL cannot (p-values, multiple-testing correction).

The analytics themselves are SQL in queries/views/, scheduled by ClickHouse. This package
never reads raw prediction rows: it reads aggregated rows (a few per feature and window) and
writes newer versions of them back into the Replacing tables.
"""

from __future__ import annotations

from heron_collector.analytics._finalize import finalize
from heron_collector.analytics._refresh import refresh, refreshable_views, view_status
from heron_collector.analytics._replay import replay
from heron_collector.analytics._stats import benjamini_hochberg, chi2_pvalue, holm, ks_pvalue

__all__ = [
    "benjamini_hochberg",
    "chi2_pvalue",
    "finalize",
    "holm",
    "ks_pvalue",
    "refresh",
    "refreshable_views",
    "replay",
    "view_status",
]
