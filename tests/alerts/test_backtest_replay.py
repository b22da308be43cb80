"""A month of history, replayed: the live run and `heron alerts backtest` list the same alerts;
`heron alerts` filters them, directly and through a running collector's admin endpoint; that
collector's alert loop notifies the alert still firing, once.

The history is 6 five-day windows, a month that ended days before the test started: a feature
goes 40 % missing for one window, drifts for two, and the last window brings unseen categories.
The live run is what a collector would have done: each window's views computed as of its end (a
one-step replay), then the rules evaluated at that time and stored in ml_alerts. (Five-day
windows: the month in six steps; replaying every view costs about a second a step.) Then every
computed table is emptied, and the back-test recomputes the month itself (replay over the range)
and evaluates every step: its transitions must be the live run's, to the fingerprint and the time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import urllib.error
import urllib.request

import clickhouse_connect
import numpy as np
import pytest

from heron_collector import config
from heron_collector.alerts import evaluate, manage, rules
from heron_collector.analytics import _refresh, _replay
from heron_collector.migrations import Layout, migrate

from ..analytics._data import insert_reference
from ..conftest import HERON_CLI, free_port, spawn_collector, wait_ready
from ._receiver import Receiver

DB = "heron"
DAY = 86400
WINDOW = 5 * DAY
WINDOWS = 6  # a month
MISSING, DRIFT, NEW = (6,), (4, 3), (1,)  # windows ago
COLUMNS = ["model_name", "model_version", "timestamp", "prediction_id", "numeric", "categorical", "prediction"]
MONTH = 30 * DAY


def window_start(ago: int) -> dt.datetime:
    """Start of the window `ago` windows before the one before the current one (windows align to
    the epoch): the history's newest window ended at least a window before now."""
    previous = int(dt.datetime.now(dt.timezone.utc).timestamp()) // WINDOW * WINDOW - WINDOW
    return dt.datetime.fromtimestamp(previous - ago * WINDOW, dt.timezone.utc)


def _window(rng: np.random.Generator, ago: int) -> list[list]:
    rows = []
    for i in range(120):
        a = float(rng.normal(2.0 if ago in DRIFT else 0.0, 1))
        numeric = {} if ago in MISSING and i % 5 < 2 else {"a": a}
        category = "w" if ago in NEW and i % 10 < 4 else ("u" if rng.random() < 0.5 else "v")
        ts = window_start(ago) + dt.timedelta(seconds=i * WINDOW // 120)
        rows.append(["m", "v1", ts, f"{ago}-{i}", numeric, {"c": category}, "yes"])
    return rows


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """The data dir of a store holding the month and the live run's alerts (closed: the CLI opens it);
    and the live run's transitions as (time, state, rule, model, fingerprint)."""
    data_dir = tmp_path_factory.mktemp("month")
    client = clickhouse_connect.get_client(dsn=f"chdb://{os.path.join(data_dir, 'chdb')}")
    try:
        migrate(client, Layout(database=DB, refresh_seconds=MONTH, empty_views=True))  # no schedule runs here
        rng = np.random.default_rng(4)
        insert_reference(client, "m", "v1", {"a": rng.normal(0, 1, 1_000).tolist()},
                         {"c": ["u" if rng.random() < 0.5 else "v" for _ in range(1_000)]})
        client.insert(f"{DB}.ml_predictions", [r for w in range(WINDOWS, 0, -1) for r in _window(rng, w)],
                      column_names=COLUMNS)
        # every model's ('*'): a replay's step is at most the smallest look-back of any model
        config.set_values(client, DB, "*", {"window_seconds": str(WINDOW), "lookback_seconds": str(WINDOW),
                                            "drift_share": "1"})
        defaults = rules.default_rules()
        for ago in range(WINDOWS - 1, -1, -1):  # the end of each window of the history
            as_of = window_start(ago)
            _replay.replay(client, DB, as_of - dt.timedelta(seconds=WINDOW), as_of, WINDOW)
            evaluate.evaluate(client, DB, defaults, now=as_of)
        live = {(at.replace(tzinfo=dt.timezone.utc), state, rule, model, fp) for at, state, rule, model, fp in
                client.query(f"SELECT at, state, rule, model_name, fingerprint FROM {DB}.ml_alerts").result_rows}
        for view in _refresh.refreshable_views(client, DB):  # the back-test recomputes the month itself
            client.command(f"TRUNCATE TABLE {DB}.{view.removesuffix('_mv')}")
    finally:
        client.close()
    return data_dir, live


def _cli(data_dir, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HERON_"))}
    return subprocess.run([*HERON_CLI, "alerts", *args, "--data-dir", str(data_dir)], capture_output=True,
                          text=True, timeout=300, env={**base, **(env or {})})


def _json(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_backtest_of_a_replayed_month_lists_the_alerts_the_live_run_fired(history):
    data_dir, live = history
    fired = {(rule, state) for _, state, rule, _, _ in live}
    assert {("missing_values", "firing"), ("missing_values", "resolved"), ("feature_drift", "pending"),
            ("feature_drift", "firing"), ("feature_drift", "resolved"), ("new_categories", "firing")} <= fired, fired
    start, end = window_start(WINDOWS - 1), window_start(0)
    rows = _json(_cli(data_dir, "backtest", "--from", start.isoformat(), "--to", end.isoformat(), "--step",
                      str(WINDOW), "--format", "json"))
    replayed = {(dt.datetime.fromisoformat(r["at"]), r["state"], r["rule"], r["model_name"], r["fingerprint"])
                for r in rows}
    assert replayed == live
    missing = next(r for r in rows if r["rule"] == "missing_values" and r["state"] == "firing")
    assert (missing["subject"], missing["threshold"]) == ("missing_rate:a", 0.25)
    assert missing["value"] == pytest.approx(0.4)


def test_heron_alerts_filters_directly_and_through_a_running_collector_which_notifies_what_fires_once(history):
    data_dir, live = history
    client = clickhouse_connect.get_client(dsn=f"chdb://{os.path.join(data_dir, 'chdb')}")
    try:
        def listed(**request: str) -> list[tuple]:
            answer = manage.run(client, DB, {"action": "recent", **request})
            return sorted((row[3], row[1], row[6]) for row in answer["rows"])  # rule, state, subject

        old = f"{(dt.datetime.now(dt.timezone.utc) - window_start(WINDOWS)).days + 1}d"
        assert listed() == [] and listed(since="3d") == [], "every transition is older than a window"
        assert len(listed(since=old)) == len(live)
        assert listed(since=old, rule="missing_values") == [
            ("missing_values", "firing", "missing_rate:a"), ("missing_values", "recovering", "missing_rate:a"),
            ("missing_values", "resolved", "missing_rate:a")]
        assert listed(since=old, model="other") == []
        assert listed(state="firing") == [("new_categories", "firing", "new_category_rate:c")], "however old"
        resolved = listed(state="resolved", since=old)
        assert {"missing_values", "feature_drift"} <= {rule for rule, _, _ in resolved}
        assert {state for _, state, _ in resolved} == {"resolved"} and len(resolved) == len(set(resolved))
        assert "missing_values" not in {rule for rule, _, _ in listed(state="resolved", since="10d")}, \
            "missing_values resolved 20 days ago or more, feature_drift within the last 10 days"
        assert "feature_drift" in {rule for rule, _, _ in listed(state="resolved", since="10d")}
        for bad, field in (({"since": "soon"}, "--since"), ({"state": "on"}, "--state"),
                           ({"since": "400d"}, "--since")):
            with pytest.raises(ValueError, match=field):
                manage.run(client, DB, {"action": "recent", **bad})
    finally:
        client.close()

    [firing] = _json(_cli(data_dir, "--state", "firing", "--rule", "new_categories", "--format", "json"))
    assert (firing["rule"], firing["subject"]) == ("new_categories", "new_category_rate:c")
    assert firing["value"] == pytest.approx(0.4) and firing["threshold"] == 0.25, "the numbers behind it"
    bad = _cli(data_dir, "--since", "soon")
    assert bad.returncode == 2 and "--since" in bad.stderr and "Traceback" not in bad.stderr

    # A collector over the store: the CLI goes through its admin endpoint. Its alert loop (which never
    # evaluates here: HERON_REFRESH_SECONDS is a month) finds new_categories firing and notifies its
    # channel once, after group_wait, and not again within group_interval.
    with Receiver() as hook:
        path = data_dir / "rules.toml"
        path.write_text(f'[notifications]\ngroup_wait = "1s"\n\n[channels.hook]\ntype = "webhook"\n'
                        f'url = "{hook.url}/alerts"\n\n[[rules]]\nname = "new_categories"\nsignal = "metric"\n'
                        'kind = "data_quality"\nmetric = "new_category_rate"\ncompare = "above"\nwarning = 0.05\n'
                        'critical = 0.25\nchannels = ["hook"]\n')
        http_port, admin_port = free_port(), free_port()
        collector = spawn_collector(data_dir, http_port, free_port(), admin_port, HERON_REFRESH_SECONDS=str(MONTH),
                                    HERON_ALERT_RULES=str(path))
        try:
            wait_ready(f"http://127.0.0.1:{http_port}", collector)
            assert hook.wait_for(1, timeout=30), "the collector's loop sends the firing group"
            [sent] = hook.requests[0].json()["alerts"]
            assert (hook.requests[0].json()["status"], sent["labels"]["alertname"]) == ("firing", "new_categories")
            _through(data_dir, admin_port, old)
            assert len(hook.requests) == 1, "nothing changed: nothing more within group_interval"
        finally:
            collector.terminate()
            collector.wait(timeout=60)


def _through(data_dir, admin_port: int, old: str) -> None:
    """`heron alerts` and POST /admin/alerts against a running collector."""
    table = _cli(data_dir, "--state", "firing")  # the store is the collector's: the CLI goes through it
    assert table.returncode == 0, table.stderr
    assert "new_categories" in table.stdout and "threshold" in table.stdout.splitlines()[0]
    request = urllib.request.Request(f"http://127.0.0.1:{admin_port}/admin/alerts", method="POST",
                                     data=json.dumps({"action": "recent", "rule": "missing_values",
                                                      "since": old}).encode())
    with urllib.request.urlopen(request, timeout=30) as reply:
        answer = json.load(reply)
    assert sorted(row[1] for row in answer["rows"]) == ["firing", "recovering", "resolved"]
    refused = urllib.request.Request(f"http://127.0.0.1:{admin_port}/admin/alerts", method="POST",
                                     data=json.dumps({"action": "recent", "state": "on"}).encode())
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(refused, timeout=30)
    assert exc.value.code == 400 and "--state" in json.load(exc.value)["error"]
