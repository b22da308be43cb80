"""A collector whose alert channels fail keeps ingesting: the channel that answers 500 and the one
that hangs are retried with backoff on their own threads, then recorded as failed, and no
prediction waits for them."""

from __future__ import annotations

import time

from heron_collector.collector import Collector

from ..collector._otlp import logs_request, post, prediction
from ..collector.conftest import local_settings
from ._receiver import Answer, Receiver


def _send(address: str, model: str, n: int) -> int:
    """Predictions of `model`, one request each; how many were acknowledged."""
    acknowledged = 0
    for i in range(n):
        status, _, _ = post(address, "/v1/logs", logs_request(prediction(f"{model}-{i}", model=model))
                            .SerializeToString())
        acknowledged += status == 200
    return acknowledged


def test_failing_channels_are_retried_while_ingestion_keeps_its_pace(tmp_path):
    """Causal, not timed: the hung channel holds its delivery open until the test lets it go, and
    every prediction sent meanwhile is acknowledged, so ingestion never waits for a channel."""
    with Receiver(default=Answer(status=500)) as failing, Receiver(default=Answer(status=500, delay=600)) as hung:
        rules = tmp_path / "rules.toml"
        rules.write_text(
            f'[channels.five-hundred]\ntype = "webhook"\nurl = "{failing.url}/hook"\nretries = 3\nbackoff = 0.3\n'
            'secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="\n\n'
            f'[channels.hung]\ntype = "webhook"\nurl = "{hung.url}/hook"\ntimeout = 600\nretries = 2\nbackoff = 0.3\n'
            'secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="\n\n'
            '[[rules]]\nname = "no_predictions"\nsignal = "no_predictions"\nseverity = "critical"\n'
            'channels = ["five-hundred", "hung"]\ngroup_wait = "1s"\n')  # not the default 30 s wait
        with Collector(local_settings(tmp_path, alert_rules=str(rules), refresh_seconds=1)) as collector:
            old = prediction("quiet-1", model="quiet", time_unix_nano=time.time_ns() - 4 * 3600 * 10**9)
            assert post(collector.http_address, "/v1/logs", logs_request(old).SerializeToString())[0] == 200
            assert hung.wait_for(1, timeout=300), "the quiet model's alert must reach the hung channel"
            assert _send(collector.http_address, "busy", 150) == 150
            assert len(hung.requests) == 1 and not hung.release.is_set(), "the hung delivery is still open"
            hung.release.set()  # the hung request answers 500 now, and so do its retries at once
            client = collector.store.client
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                outcomes = dict(client.query("SELECT channel, argMax((outcome, attempts), at) FROM "
                                             "heron.ml_alert_notifications WHERE channel != '' GROUP BY channel")
                                .result_rows)
                if all(o[0] != "queued" for o in outcomes.values()) and len(outcomes) == 2:
                    break
                time.sleep(0.2)
            assert _send(collector.http_address, "busy-after", 150) == 150
            deadline, stored = time.monotonic() + 300, 0
            while stored < 300 and time.monotonic() < deadline:
                stored = client.query("SELECT count() FROM heron.ml_predictions "
                                      "WHERE model_name IN ('busy', 'busy-after')").result_rows[0][0]
                time.sleep(0.2)
        assert len(failing.requests) >= 4, "500 is retried"
        assert len(hung.requests) >= 3, "a hung delivery is retried"
    assert {channel: outcome for channel, (outcome, _) in outcomes.items()} == \
        {"five-hundred": "failed", "hung": "failed"}, outcomes
    assert outcomes["five-hundred"][1] == 4 and outcomes["hung"][1] == 3, outcomes
    assert stored == 300
