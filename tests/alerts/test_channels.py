"""Delivery channels against a real loopback HTTP receiver: the exact body each receiver's own
contract asks for, one request per group (one per alert for PagerDuty), retries with backoff on
5xx, Retry-After on 429, no retry on other 4xx, and a dead receiver that holds up neither the
caller nor another channel. Configuration errors name the channel, the key and the fix."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import threading
import time

import pytest

from heron_collector.alerts import channels as channels_module
from heron_collector.alerts import delivery as delivery_module
from heron_collector.alerts import dispatch as dispatch_module
from heron_collector.alerts import notification as notification_module
from heron_collector.alerts.channels import PAGERDUTY_URL, ChannelError, channels_from_config
from heron_collector.alerts.dispatch import Dispatcher
from heron_collector.alerts.notification import Alert, Notification, group_alerts

from ._receiver import Answer, Receiver

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
T1 = dt.datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
ROUTING_KEY = "R0123456789abcdef0123456789ABCDE"
SECRET_BYTES = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
FAST = {"backoff": 0.01, "retries": 2, "timeout": 2}


def alert(fingerprint="a1b2c3", rule="accuracy-band", status="firing", subject="", metric="accuracy",
          value=0.749, threshold=0.86, summary="accuracy 0.749 below its baseline band [0.86, 0.93]",
          severity="critical", url="https://heron.example/models/churn", **kw) -> Alert:
    return Alert(fingerprint=fingerprint, rule=rule, severity=severity, status=status, model="churn", version="v3",
                 subject=subject, metric=metric, value=value, threshold=threshold, summary=summary,
                 labels={"team": "ml"}, starts_at=T0, ends_at=T1 if status == "resolved" else None, url=url, **kw)


def drift_group() -> Notification:
    (n,) = group_alerts([
        alert(),
        alert("d4e5f6", rule="feature-drift", subject="age", metric="psi", value=0.31, threshold=0.2,
              summary="psi 0.31 on age above 0.2", url="", window_start=T0),
        alert("0789ab", rule="feature-drift", subject="income", metric="psi", value=0.05, threshold=0.2,
              summary="psi 0.05 on income back under 0.2", status="resolved", url=""),
    ])
    return n


def one(kind: str, url: str, **extra):
    return channels_from_config({"c": {"type": kind, "url": url, **FAST, **extra}})["c"]


# -- the exact payloads ---------------------------------------------------------------------------


def test_slack_one_message_per_group_with_text_fallback_and_blocks():
    n = drift_group()
    with Receiver() as rx:
        delivery = one("slack", rx.url + "/services/T0/B0/secret").send(n)
    assert (delivery.outcome, delivery.status, delivery.attempts) == ("delivered", 200, 1)
    assert len(rx.requests) == 1, "one notification, one message, whatever the number of alerts"
    req = rx.requests[0]
    assert req.path == "/services/T0/B0/secret" and req.headers["content-type"] == "application/json"
    title = "[FIRING] churn · critical · 2 firing, 1 resolved"
    assert req.json() == {
        "text": "\n".join([
            title,
            "- accuracy-band: accuracy 0.749 below its baseline band [0.86, 0.93]",
            "- feature-drift age: psi 0.31 on age above 0.2",
            "- feature-drift income (resolved): psi 0.05 on income back under 0.2",
        ]),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join([
                "• *accuracy-band*: accuracy 0.749 below its baseline band [0.86, 0.93] "
                "(value 0.749, threshold 0.86) <https://heron.example/models/churn|details>",
                "• *feature-drift* `age`: psi 0.31 on age above 0.2 (value 0.31, threshold 0.2)",
                "• *feature-drift* `income` _(resolved)_: psi 0.05 on income back under 0.2 "
                "(value 0.05, threshold 0.2)",
            ])}},
        ],
    }


def test_slack_stays_within_its_block_limits_and_says_how_many_it_left_out():
    alerts = [alert(f"{i:06x}", rule="feature-drift", subject=f"feature_{i:03d}", metric="psi", value=0.5,
                    threshold=0.2, summary=f"psi 0.5 on feature_{i:03d} above 0.2 <&> " + "x" * 40, url="")
              for i in range(200)]
    (n,) = group_alerts(alerts)
    message = channels_from_config({"s": {"type": "slack", "url": "https://hooks.slack.com/x"}})["s"].message(n)
    header, section = message["blocks"]
    assert len(header["text"]["text"]) <= 150
    text = section["text"]["text"]
    assert len(text) <= 3000 and len(message["text"]) <= 3000
    listed = text.count("\n• ") + 1
    assert 10 < listed < 200
    assert text.endswith(f"\n… and {200 - listed} more")
    assert "&lt;&amp;&gt;" in text and "<&>" not in text, "Slack's control characters are escaped"


def test_pagerduty_one_event_per_alert_deduplicated_on_the_fingerprint():
    n = drift_group()
    with Receiver(default=Answer(202, body=b'{"status":"success"}')) as rx:
        delivery = one("pagerduty", rx.url + "/v2/enqueue", routing_key=ROUTING_KEY).send(n)
    assert (delivery.outcome, delivery.status, delivery.attempts) == ("delivered", 202, 3)
    events = [r.json() for r in rx.requests]
    assert [r.path for r in rx.requests] == ["/v2/enqueue"] * 3
    assert events[0] == {
        "routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": "a1b2c3",
        "payload": {
            "summary": "accuracy 0.749 below its baseline band [0.86, 0.93]", "source": "heron/churn/v3",
            "severity": "critical", "timestamp": "2026-12-01T09:00:00Z", "component": "churn", "group": "churn",
            "class": "accuracy",
            "custom_details": {"rule": "accuracy-band", "metric": "accuracy", "subject": "", "value": 0.749,
                               "threshold": 0.86, "model": "churn", "version": "v3", "window_start": None,
                               "labels": {"team": "ml"}},
        },
        "client": "Heron",
        "links": [{"href": "https://heron.example/models/churn", "text": "Details in Heron"}],
    }
    assert events[1]["dedup_key"] == "d4e5f6" and events[1]["payload"]["custom_details"]["subject"] == "age"
    assert events[1]["payload"]["component"] == "age" and "links" not in events[1]
    assert events[2] == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "0789ab"}


def test_pagerduty_warning_severity_long_summary_and_default_url():
    channel = channels_from_config({"pd": {"type": "pagerduty", "routing_key": ROUTING_KEY}})["pd"]
    assert channel.url == PAGERDUTY_URL == "https://events.pagerduty.com/v2/enqueue"
    event = channel.event(alert(severity="warning", summary="s" * 5000))
    assert event["payload"]["severity"] == "warning"
    assert len(event["payload"]["summary"]) == 1024


def test_webhook_sends_alertmanagers_body_signed_per_standard_webhooks():
    n = drift_group()
    with Receiver(script=[Answer(500)]) as rx:
        delivery = one("webhook", rx.url + "/hook", secret=SECRET, external_url="https://heron.example").send(n)
    assert (delivery.outcome, delivery.attempts) == ("delivered", 2)
    first, second = rx.requests
    assert first.body == second.body and first.headers["webhook-id"] == second.headers["webhook-id"], \
        "a retry is the same message: same id, same body"
    for req in rx.requests:  # an independent verification, as a receiver does it
        msg_id, ts = req.headers["webhook-id"], req.headers["webhook-timestamp"]
        assert abs(int(ts) - time.time()) < 60
        expected = base64.b64encode(hmac.new(SECRET_BYTES, f"{msg_id}.{ts}.".encode() + req.body,
                                             hashlib.sha256).digest()).decode()
        versions = dict(s.split(",", 1) for s in req.headers["webhook-signature"].split(" "))
        assert hmac.compare_digest(versions["v1"], expected)
    labels = {"team": "ml", "alertname": "accuracy-band", "severity": "critical", "model": "churn", "version": "v3",
              "metric": "accuracy"}
    body = second.json()
    assert body == {
        "version": "4", "groupKey": "churn/critical", "truncatedAlerts": 0, "status": "firing", "receiver": "c",
        "groupLabels": {"model": "churn", "severity": "critical"},
        "commonLabels": {"team": "ml", "severity": "critical", "model": "churn", "version": "v3"},
        "commonAnnotations": {},
        "externalURL": "https://heron.example",
        "alerts": [
            {"status": "firing", "labels": labels,
             "annotations": {"summary": "accuracy 0.749 below its baseline band [0.86, 0.93]", "value": "0.749",
                             "threshold": "0.86", "url": "https://heron.example/models/churn"},
             "startsAt": "2026-12-01T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "https://heron.example/models/churn", "fingerprint": "a1b2c3"},
            {"status": "firing",
             "labels": {**labels, "alertname": "feature-drift", "metric": "psi", "subject": "age"},
             "annotations": {"summary": "psi 0.31 on age above 0.2", "value": "0.31", "threshold": "0.2",
                             "window_start": "2026-12-01T09:00:00Z"},
             "startsAt": "2026-12-01T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
             "fingerprint": "d4e5f6"},
            {"status": "resolved",
             "labels": {**labels, "alertname": "feature-drift", "metric": "psi", "subject": "income"},
             "annotations": {"summary": "psi 0.05 on income back under 0.2", "value": "0.05", "threshold": "0.2"},
             "startsAt": "2026-12-01T09:00:00Z", "endsAt": "2026-12-01T10:30:00Z", "generatorURL": "",
             "fingerprint": "0789ab"},
        ],
    }


def test_alertmanager_gets_the_alert_list_its_v2_api_expects():
    n = drift_group()
    with Receiver() as rx:
        delivery = one("alertmanager", rx.url + "/").send(n)
    assert delivery.outcome == "delivered"
    (req,) = rx.requests
    assert req.path == "/api/v2/alerts"
    posted = req.json()
    assert [a["labels"]["alertname"] for a in posted] == ["accuracy-band", "feature-drift", "feature-drift"]
    assert posted[0] == {
        "labels": {"team": "ml", "alertname": "accuracy-band", "severity": "critical", "model": "churn",
                   "version": "v3", "metric": "accuracy"},
        "annotations": {"summary": "accuracy 0.749 below its baseline band [0.86, 0.93]", "value": "0.749",
                        "threshold": "0.86", "url": "https://heron.example/models/churn"},
        "startsAt": "2026-12-01T09:00:00Z",
        "generatorURL": "https://heron.example/models/churn",
    }
    assert "endsAt" not in posted[1] and posted[1]["labels"]["subject"] == "age"
    assert posted[2]["endsAt"] == "2026-12-01T10:30:00Z", "a resolved alert carries its end"


def test_airflow_triggers_a_dag_run_for_critical_firing_only_and_once_per_incident():
    n = drift_group()
    (warning,) = group_alerts([alert(severity="warning")])
    (resolved,) = group_alerts([alert(status="resolved")])
    with Receiver(script=[Answer(200, body=b"{}"), Answer(409, body=b'{"title":"DAGRun already exists"}')]) as rx:
        channel = one("airflow", rx.url, dag_id="retrain churn", username="heron", password="s3cret")
        assert channel.send(warning).outcome == "skipped"
        assert channel.send(resolved).outcome == "skipped"
        assert rx.requests == []
        first, again = channel.send(n), channel.send(n)
    assert first.outcome == "delivered" and (again.outcome, again.status) == ("delivered", 409), \
        "the same incident again: its run exists, nothing new is started"
    req = rx.requests[0]
    assert req.path == "/api/v1/dags/retrain%20churn/dagRuns"
    assert req.headers["authorization"] == "Basic " + base64.b64encode(b"heron:s3cret").decode()
    body = req.json()
    assert body["dag_run_id"] == rx.requests[1].json()["dag_run_id"]
    assert body["dag_run_id"].startswith("heron__churn__")
    assert body["conf"]["group_key"] == "churn/critical" and body["conf"]["status"] == "firing"
    assert [a["fingerprint"] for a in body["conf"]["alerts"]] == ["a1b2c3", "d4e5f6"], "the firing alerts"
    assert body["conf"]["alerts"][1] | {} == {
        "fingerprint": "d4e5f6", "rule": "feature-drift", "status": "firing", "version": "v3", "subject": "age",
        "metric": "psi", "value": 0.31, "threshold": 0.2, "summary": "psi 0.31 on age above 0.2",
        "labels": {"team": "ml"}, "starts_at": "2026-12-01T09:00:00Z", "window_start": "2026-12-01T09:00:00Z",
        "url": ""}


def test_airflow_bearer_token():
    with Receiver() as rx:
        one("airflow", rx.url, dag_id="retrain", token="tok").send(drift_group())
    assert rx.requests[0].headers["authorization"] == "Bearer tok"


def test_not_finite_numbers_are_null_in_json():
    (n,) = group_alerts([alert(value=float("nan"), threshold=float("inf"))])
    channels = channels_from_config({"pd": {"type": "pagerduty", "routing_key": ROUTING_KEY},
                                     "af": {"type": "airflow", "url": "http://af:8080", "dag_id": "d"}})
    details = json.loads(channels["pd"].payload(n)[0])[0]["payload"]["custom_details"]
    assert details["value"] is None and details["threshold"] is None
    assert json.loads(channels["af"].payload(n)[0])["conf"]["alerts"][0]["value"] is None


# -- retries ------------------------------------------------------------------------------------


class Waits(threading.Event):
    """A cancel event that records every wait the sender asks of it: the backoff schedule itself,
    which a loaded machine cannot change (it can only make the real gaps longer)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[float] = []

    def wait(self, timeout=None) -> bool:
        self.asked.append(timeout)
        return super().wait(timeout)


def test_500_then_200_is_retried_with_backoff_and_delivered():
    waits = Waits()
    with Receiver(script=[Answer(500), Answer(503)]) as rx:
        delivery = one("slack", rx.url, backoff=0.2, retries=3).send(drift_group(), cancel=waits)
    assert (delivery.outcome, delivery.status, delivery.attempts) == ("delivered", 200, 3)
    first, second = waits.asked
    assert 0.1 <= first <= 0.2 and 0.2 <= second <= 0.4, f"exponential backoff with equal jitter, got {waits.asked}"
    gaps = [b.at - a.at for a, b in zip(rx.requests, rx.requests[1:], strict=False)]
    assert gaps[0] >= first - 0.01 and gaps[1] >= second - 0.01, f"sent before its backoff ended: {gaps}"


def test_other_4xx_is_not_retried():
    with Receiver(default=Answer(400, body=b"invalid_payload")) as rx:
        delivery = one("slack", rx.url).send(drift_group())
    assert (delivery.outcome, delivery.status, delivery.attempts) == ("failed", 400, 1)
    assert delivery.error == "HTTP 400: invalid_payload" and len(rx.requests) == 1


def test_429_retry_after_is_honoured():
    waits = Waits()
    with Receiver(script=[Answer(429, headers={"Retry-After": "1"})]) as rx:
        delivery = one("slack", rx.url, backoff=0.01).send(drift_group(), cancel=waits)
    assert (delivery.outcome, delivery.attempts) == ("delivered", 2)
    assert waits.asked == [1.0], f"Retry-After: 1 replaces the 0.01 s backoff, waited {waits.asked}"
    wait = rx.requests[1].at - rx.requests[0].at
    assert wait >= 0.95, f"sent again {wait:.2f} s after Retry-After: 1"


def test_retries_run_out_and_the_error_keeps_the_secret_url_out():
    with Receiver(default=Answer(502)) as rx:
        delivery = one("slack", rx.url + "/services/T0/B0/topsecret", retries=2).send(drift_group())
    assert (delivery.outcome, delivery.status, delivery.attempts) == ("failed", 502, 3)
    with Receiver() as rx:
        dead = rx.url  # closed below: connection refused
    delivery = one("slack", dead + "/services/T0/B0/topsecret", retries=1).send(drift_group())
    assert delivery.outcome == "failed" and delivery.status is None and delivery.attempts == 2
    assert delivery.error.startswith("connection failed") and "topsecret" not in delivery.error


def test_pagerduty_stops_after_a_dead_receiver_instead_of_waiting_on_it_per_alert():
    with Receiver(default=Answer(503)) as rx:
        delivery = one("pagerduty", rx.url, routing_key=ROUTING_KEY, retries=1).send(drift_group())
    assert delivery.outcome == "failed" and delivery.attempts == 2 and len(rx.requests) == 2
    assert delivery.error.startswith("3 of 3 failed: HTTP 503")


# -- isolation ----------------------------------------------------------------------------------


class Outcomes:
    def __init__(self) -> None:
        self.items: list[tuple[float, Notification, object]] = []
        self.cond = threading.Condition()

    def __call__(self, n, delivery) -> None:
        with self.cond:
            self.items.append((time.monotonic(), n, delivery))
            self.cond.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> list:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.items) >= count, timeout), self.items
            return list(self.items)


def test_a_hung_receiver_fails_after_its_retries_while_a_healthy_channel_delivers_at_once():
    """Causal: the healthy channel's delivery is reported while the hung one's first request is
    still held open (it times out after 2 s, twice); submit returns before either is sent."""
    outcomes = Outcomes()
    with Receiver(default=Answer(delay=30)) as hung, Receiver() as healthy:
        channels = channels_from_config({
            "dead": {"type": "webhook", "url": hung.url, "timeout": 2, "retries": 1, "backoff": 0.05},
            "live": {"type": "slack", "url": healthy.url, "timeout": 2},
        })
        dispatcher = Dispatcher(channels, on_outcome=outcomes)
        n = drift_group()
        start = time.monotonic()
        dispatcher.submit("dead", n)
        assert not outcomes.items, "submit waited for the delivery"
        assert hung.wait_for(1, timeout=30), "the hung channel's request was sent"
        dispatcher.submit("live", n)
        (_, _, live), = outcomes.wait(1, timeout=30)
        assert live.channel == "live" and live.outcome == "delivered", "the healthy channel waited on the hung one"
        items = outcomes.wait(2, timeout=30)
        dispatcher.close(timeout=1)
    dead_at, dead = items[1][0] - start, items[1][2]
    assert (dead.channel, dead.outcome, dead.attempts, dead.status) == ("dead", "failed", 2, None)
    assert dead.error == "timed out after 2 s" and dead_at >= 4.0
    assert len(hung.requests) == 2 and len(healthy.requests) == 1


def test_a_full_queue_drops_and_reports_without_blocking():
    outcomes = Outcomes()
    with Receiver(default=Answer(delay=10)) as hung:
        channels = channels_from_config({"slow": {"type": "slack", "url": hung.url, "timeout": 5, "retries": 0}})
        dispatcher = Dispatcher(channels, on_outcome=outcomes, queue_size=1)
        n = drift_group()
        dispatcher.submit("slow", n)
        assert hung.wait_for(1), "the first is being sent"
        dispatcher.submit("slow", n)  # waits in the queue
        dispatcher.submit("slow", n)  # no room: reported dropped before it returns, the receiver still holding
        assert not hung.release.is_set() and len(hung.requests) == 1
        (_, _, dropped), = outcomes.items
        assert (dropped.outcome, dropped.error) == ("dropped", "queue full (1 waiting)")
        assert dispatcher.stats()["slow"]["queued"] == 1
        assert not dispatcher.flush(timeout=0.1)
        hung.release.set()
        assert dispatcher.flush(timeout=5)
        dispatcher.close(timeout=1)
    assert [d.outcome for _, _, d in outcomes.items] == ["dropped", "delivered", "delivered"]


def test_close_is_bounded_and_reports_what_it_could_not_send():
    outcomes = Outcomes()
    with Receiver(default=Answer(503, body=b"busy")) as rx:
        channels = channels_from_config({"flaky": {"type": "slack", "url": rx.url, "retries": 50, "backoff": 40}})
        dispatcher = Dispatcher(channels, on_outcome=outcomes)
        for _ in range(3):
            dispatcher.submit("flaky", drift_group())
        assert rx.wait_for(1)
        dispatcher.close(timeout=0.3)  # the first is in a backoff of 20-40 s
        dispatcher.submit("flaky", drift_group())
        assert len(rx.requests) == 1, "close waited out a backoff"
    items = outcomes.wait(4, timeout=2)
    assert sorted((d.outcome, d.error) for _, _, d in items) == [
        ("dropped", "dispatcher closed"),
        ("dropped", "dispatcher closed before delivery"),
        ("dropped", "dispatcher closed before delivery"),
        ("failed", "HTTP 503: busy (gave up: closing)"),
    ]


def test_unknown_channel_skip_and_a_raising_callback_never_reach_the_caller():
    seen = []

    def callback(n, delivery):
        seen.append(delivery)
        raise RuntimeError("callback bug")

    dispatcher = Dispatcher(channels_from_config({"af": {"type": "airflow", "url": "http://127.0.0.1:9",
                                                         "dag_id": "d"}}), on_outcome=callback)
    (warning,) = group_alerts([alert(severity="warning")])
    dispatcher.submit("nope", warning)
    dispatcher.submit("af", warning)
    dispatcher.close(timeout=1)
    assert [(d.channel, d.outcome) for d in seen] == [("nope", "dropped"), ("af", "skipped")]
    assert dispatcher.stats()["af"]["skipped"] == 1


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "words"), [
    ({"type": "sms", "url": "http://x"}, ["'c'", "type", "slack"]),
    ({"type": "slack"}, ["'c'", "url is required"]),
    ({"type": "slack", "url": "hooks.slack.com/x"}, ["'c'", "url", "http"]),
    ({"type": "slack", "url": "http://x", "timeout": 0}, ["'c'", "timeout", "seconds"]),
    ({"type": "slack", "url": "http://x", "timeout": "5"}, ["'c'", "timeout", "str"]),
    ({"type": "slack", "url": "http://x", "retries": -1}, ["'c'", "retries", "whole number"]),
    ({"type": "slack", "url": "http://x", "retries": True}, ["'c'", "retries", "bool"]),
    ({"type": "slack", "url": "http://x", "headers": {"X": 1}}, ["'c'", "headers"]),
    ({"type": "slack", "url": "http://x", "routing_key": ROUTING_KEY}, ["'c'", "unknown key 'routing_key'"]),
    ({"type": "pagerduty"}, ["'c'", "routing_key is required"]),
    ({"type": "pagerduty", "routing_key": "short"}, ["'c'", "routing_key", "32-character"]),
    ({"type": "webhook", "url": "http://x", "secret": "plain"}, ["'c'", "secret", "whsec_"]),
    ({"type": "webhook", "url": "http://x", "secret": "whsec_***"}, ["'c'", "secret", "base64"]),
    ({"type": "airflow", "url": "http://x"}, ["'c'", "dag_id is required"]),
    ({"type": "airflow", "url": "http://x", "dag_id": "d", "token": "t", "username": "u"}, ["'c'", "token"]),
    ({"type": "airflow", "url": "http://x", "dag_id": "d", "password": "p"}, ["'c'", "username"]),
])
def test_invalid_configs_name_the_channel_and_the_key(config, words):
    with pytest.raises(ChannelError) as err:
        channels_from_config({"c": config})
    assert isinstance(err.value, ValueError)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_secrets_come_from_the_environment_and_stay_out_of_reprs_and_errors(monkeypatch):
    monkeypatch.setenv("HERON_TEST_PD_KEY", ROUTING_KEY)
    monkeypatch.setenv("HERON_TEST_HOOK", "https://hooks.slack.com/services/T0/B0/topsecret")
    monkeypatch.setenv("HERON_TEST_TOKEN", "abc")
    channels = channels_from_config({
        "pd": {"type": "pagerduty", "routing_key": "${HERON_TEST_PD_KEY}"},
        "s": {"type": "slack", "url": "${HERON_TEST_HOOK}", "headers": {"Authorization": "Bearer ${HERON_TEST_TOKEN}"}},
    })
    assert channels["pd"].routing_key == ROUTING_KEY
    assert channels["s"].url.endswith("/topsecret") and channels["s"].headers == {"Authorization": "Bearer abc"}
    assert ROUTING_KEY not in repr(channels) and "topsecret" not in repr(channels) and "abc" not in repr(channels)
    monkeypatch.delenv("HERON_TEST_PD_KEY")
    with pytest.raises(ChannelError, match=r"'pd': routing_key refers to \$\{HERON_TEST_PD_KEY\}, which is not set"):
        channels_from_config({"pd": {"type": "pagerduty", "routing_key": "${HERON_TEST_PD_KEY}"}})
    explicit = channels_from_config({"pd": {"type": "pagerduty", "routing_key": "${K}"}}, environ={"K": ROUTING_KEY})
    assert explicit["pd"].routing_key == ROUTING_KEY


def test_alerts_refuse_what_a_channel_could_not_render():
    with pytest.raises(ValueError, match="severity"):
        alert(severity="page")
    with pytest.raises(ValueError, match="timezone-aware"):
        Alert("ab", "r", "critical", "firing", "m", "v", "", "x", 1.0, 1.0, "s", {}, dt.datetime(2026, 1, 1), None)
    with pytest.raises(ValueError, match="hex"):
        alert(fingerprint="not hex")


def test_grouping_one_notification_per_model_and_severity():
    groups = group_alerts([alert("01"), alert("02", severity="warning"), alert("03", status="resolved"),
                           alert("04", severity="warning", status="resolved")])
    assert [(g.group_key, g.status, len(g.alerts)) for g in groups] == [
        ("churn/critical", "firing", 2), ("churn/warning", "firing", 2)]
    (resolved,) = group_alerts([alert("05", status="resolved")])
    assert resolved.status == "resolved"


def test_public_names():
    assert notification_module.__all__ == ["SEVERITIES", "STATUSES", "Alert", "Notification", "group_alerts"]
    assert sorted(channels_module.__all__) == sorted([
        "CHANNEL_TYPES", "PAGERDUTY_URL", "AirflowChannel", "AlertmanagerChannel", "Channel", "ChannelError",
        "Delivery",
        "PagerDutyChannel", "Request", "SlackChannel", "WebhookChannel", "channels_from_config"])
    assert dispatch_module.__all__ == ["Dispatcher", "OutcomeCallback"]
    assert delivery_module.__all__ == ["Channel", "ChannelError", "Delivery", "Request"]
    assert all(getattr(channels_module, name) is getattr(delivery_module, name) for name in delivery_module.__all__)
    assert sorted(channels_module.CHANNEL_TYPES) == ["airflow", "alertmanager", "pagerduty", "slack", "webhook"]


def test_retry_after_as_an_http_date_and_redirects_not_followed():
    soon = email.utils.format_datetime(dt.datetime.now(UTC) + dt.timedelta(seconds=30), usegmt=True)
    assert 28 <= delivery_module._retry_after(soon) <= 30
    assert delivery_module._retry_after("soon") is None
    with Receiver(default=Answer(302, headers={"Location": "http://127.0.0.1:9/elsewhere"})) as rx:
        delivery = one("webhook", rx.url, secret=SECRET).send(drift_group())
    assert (delivery.outcome, delivery.status, delivery.attempts) == ("failed", 302, 1)
    assert [r.path for r in rx.requests] == ["/"]
