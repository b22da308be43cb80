"""The demo's loopback receiver keeps what the real webhook channel signs with its secret and
refuses the rest: another secret, a stale timestamp, a body changed after signing."""

from __future__ import annotations

import datetime as dt
import time
import urllib.error
import urllib.request

from heron_collector.alerts.channels import channels_from_config
from heron_collector.alerts.notification import Alert, group_alerts
from heron_collector.webhook_sink import WebhookSink, new_secret, verified


def notification(status: str = "firing"):
    now = dt.datetime.now(dt.timezone.utc)
    alert = Alert(fingerprint="ab12", rule="sla_error_rate", severity="critical", status=status, model="m",
                  version="1", subject="", metric="error_rate", value=0.25, threshold=0.01, summary="errors",
                  labels={}, starts_at=now, ends_at=now if status == "resolved" else None)
    return group_alerts([alert])[0]


def test_signed_notifications_are_kept_and_others_refused():
    secret = new_secret()
    with WebhookSink(secret) as sink:
        def channel(key: str):
            return channels_from_config({"sink": {"type": "webhook", "url": sink.url, "secret": key,
                                                  "retries": 0}})["sink"]

        assert channel(secret).send(notification("firing")).outcome == "delivered"
        assert channel(secret).send(notification("resolved")).outcome == "delivered"
        refused = channel(new_secret()).send(notification())
        assert (refused.outcome, refused.status) == ("failed", 401)
        unsigned = urllib.request.Request(sink.url, data=b'{"status": "firing"}', method="POST")
        try:
            urllib.request.urlopen(unsigned, timeout=5)
            raise AssertionError("an unsigned request was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        assert sink.counts() == {"notifications": 2, "firing": 1, "resolved": 1, "alerts_resolved": 1, "refused": 2}
        assert sink.received[0]["alerts"][0]["fingerprint"] == "ab12"


def test_a_stale_or_altered_message_does_not_verify():
    secret = new_secret()
    webhook = channels_from_config({"s": {"type": "webhook", "url": "http://127.0.0.1:9/", "secret": secret}})["s"]
    body, headers = webhook.payload(notification())
    signed = {k.lower(): v for k, v in headers.items()}
    assert verified(secret, signed, body)
    assert not verified(secret, signed, body + b" ")
    assert not verified(secret, signed, body, now=time.time() + 301)
    assert not verified(new_secret(), signed, body)
    assert not verified(secret, {**signed, "webhook-signature": "v1,AAAA"}, body)
