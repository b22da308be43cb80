"""What goes into the report: names from the store are data, never markup; its size follows the
windows and features, not the predictions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from heron_collector import analytics, config, report

from ..analytics._data import hour_start, insert_predictions, insert_reference
from ..conftest import open_demo_store
from .conftest import open_report

EVIL = "</script><img src=x onerror=alert(1)>\"'\n<!--"
VIEWS = ["ml_reference_bins_mv", "ml_drift_mv"]  # binned KS: the exact one is not what these tests are about
MODEL, VERSION, FEATURE, CATEGORY = f"m{EVIL}", f"v{EVIL}", f"f{EVIL}", f"c{EVIL}"


@pytest.fixture(scope="module")
def store(demo_data_dir, tmp_path_factory):
    """A copy of the demo's store: migrated already, and another model beside the ones added here."""
    client = open_demo_store(demo_data_dir, tmp_path_factory.mktemp("content"))
    try:
        yield client
    finally:
        client.close()


def test_hostile_names_render_as_text(store, chromium, tmp_path):
    """A model, version, feature, category and owner that try to close the script block or add an
    element render as text, in the file and in the browser, and the charts still draw."""
    rng = np.random.default_rng(5)
    insert_reference(store, MODEL, VERSION, {FEATURE: rng.normal(0, 1, 2_000).tolist()},
                     {"kind": [CATEGORY if i % 2 else "plain" for i in range(2_000)]})
    for hours_ago in (3, 2, 1):
        shift = 1.5 if hours_ago == 1 else 0.0
        insert_predictions(store, MODEL, VERSION, hour_start(hours_ago),
                           {FEATURE: (rng.normal(0, 1, 600) + shift).tolist()},
                           {"kind": [CATEGORY if i % 3 else "plain" for i in range(600)]},
                           id_prefix=f"{hours_ago}-", spacing_s=5)
    store.command("INSERT INTO heron.ml_models (model_name, model_version, owner, training_data_version, git_sha, "
                  "registered_at) VALUES ({m:String}, {v:String}, {e:String}, {e:String}, {e:String}, now64(6))",
                  parameters={"m": MODEL, "v": VERSION, "e": EVIL})
    analytics.refresh(store, "heron", wait=True, views=VIEWS)
    path = tmp_path / "report.html"
    stats = report.write(store, MODEL, None, dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=6), str(path))
    assert stats["version"] == VERSION and stats["windows"] >= 3

    text = path.read_text()
    assert "<img" not in text  # only as &lt;img (HTML) or \u003cimg (the JSON data block)
    assert text.count("</script>") == 3 and text.count("<!--") == 0  # the data block and the two scripts

    result, dom, console = open_report(chromium, path, tmp_path)
    assert result["errors"] == [] and console == [], (result["errors"], console)
    assert "<img" not in dom  # no element was made from a name
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in dom  # the name, as text
    assert result["charts"]["drift_heatmap"] >= 6 and result["charts"]["distribution_1"] > 0, result["charts"]


def test_a_million_predictions_make_a_report_under_2_mb(store, tmp_path):
    """1M predictions over 7 days of hourly windows (168), 3 numeric and 1 categorical features:
    the file holds window rows and bins, so it stays far below 2 MB."""
    days = 7
    numeric = ", ".join(f"'x{i}', toNullable(randNormal({0.5 if i == 0 else 0}, 1, number + {i}))" for i in range(3))
    categorical = "'c0', toNullable(['a', 'b', 'c'][number % 3 + 1])"
    store.command(
        "INSERT INTO heron.ml_reference (model_name, model_version, reference_id, row_index, numeric, categorical, "
        f"timestamp) SELECT 'big', '1', 'r', number, map({numeric.replace('0.5', '0')}), map({categorical}), now() "
        "FROM numbers(5000)")
    start = int(dt.datetime.now(dt.timezone.utc).timestamp()) // 3600 * 3600 - days * 86400
    store.command(
        "INSERT INTO heron.ml_predictions (model_name, model_version, timestamp, prediction_id, numeric, categorical) "
        f"SELECT 'big', '1', toDateTime64({start} + number * {days * 86400} / 1000000, 6, 'UTC'), toString(number), "
        f"map({numeric}), map({categorical}) FROM numbers(1000000)")
    config.set_values(store, "heron", "big", {"lookback_seconds": str((days + 1) * 86400)})
    analytics.refresh(store, "heron", wait=True, views=VIEWS)
    stats = report.write(store, "big", None, f"{days + 1}d", str(tmp_path / "big.html"))
    print(f"RESULT report_bytes={stats['bytes']} predictions={stats['predictions']} windows={stats['windows']}")
    assert stats["predictions"] == 1_000_000 and stats["windows"] == days * 24
    assert stats["bytes"] < 2_000_000
