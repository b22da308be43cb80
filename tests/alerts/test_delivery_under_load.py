"""A collector whose alert channels fail keeps ingesting at its pace: the channel that answers 500
and the one that hangs are retried with backoff on their own threads, then recorded as failed."""

from __future__ import annotations

import time

from heron_collector.collector import Collector

from ..collector._otlp import logs_request, post, prediction
from ..collector.conftest import local_settings
from ._receiver import Answer, Receiver


def _pace(address: str, model: str, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        status, _, _ = post(address, "/v1/logs", logs_request(prediction(f"{model}-{i}", model=model))
                            .SerializeToString())
        assert status == 200
    return time.perf_counter() - start


def test_failing_channels_are_retried_while_ingestion_keeps_its_pace(tmp_path):
    with Receiver(default=Answer(status=500)) as failing, Receiver(default=Answer(delay=30)) as hung:
        rules = tmp_path / "rules.toml"
        rules.write_text(
            f'[channels.five-hundred]\ntype = "webhook"\nurl = "{failing.url}/hook"\nretries = 3\nbackoff = 0.3\n'
            'secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="\n\n'
            f'[channels.hung]\ntype = "webhook"\nurl = "{hung.url}/hook"\ntimeout = 1\nretries = 2\nbackoff = 0.3\n'
            'secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="\n\n'
            '[[rules]]\nname = "no_predictions"\nsignal = "no_predictions"\nseverity = "critical"\n'
            'channels = ["five-hundred", "hung"]\n')
        with Collector(local_settings(tmp_path, alert_rules=str(rules), refresh_seconds=1)) as collector:
            old = prediction("quiet-1", model="quiet", time_unix_nano=time.time_ns() - 4 * 3600 * 10**9)
            assert post(collector.http_address, "/v1/logs", logs_request(old).SerializeToString())[0] == 200
            assert failing.wait_for(1, timeout=60), "the quiet model's alert must reach the channels"
            during = _pace(collector.http_address, "busy", 150)  # while both channels are being retried
            client = collector.store.client
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                outcomes = dict(client.query("SELECT channel, argMax((outcome, attempts), at) FROM "
                                             "heron.ml_alert_notifications WHERE channel != '' GROUP BY channel")
                                .result_rows)
                if all(o[0] != "queued" for o in outcomes.values()) and len(outcomes) == 2:
                    break
                time.sleep(0.2)
            after = _pace(collector.http_address, "busy-after", 150)  # the channels are done
        assert len(failing.requests) >= 3, "500 is retried"
        assert len(hung.requests) >= 2, "a timeout is retried"
    assert {channel: outcome for channel, (outcome, _) in outcomes.items()} == \
        {"five-hundred": "failed", "hung": "failed"}, outcomes
    assert outcomes["five-hundred"][1] == 4 and outcomes["hung"][1] == 3, outcomes
    assert during < 2 * after + 0.5, f"ingestion slowed from {after:.2f} s to {during:.2f} s per 150 requests"
