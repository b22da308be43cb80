"""A loopback receiver for the signed webhook channel: it checks each Standard Webhooks signature
and keeps what arrived, so the demo (or a user trying a rule file) sees notifications land
without a service of their own.

Verification follows Standard Webhooks 1.0: the signed content is `<webhook-id>.<webhook-timestamp>.<body>`,
HMAC-SHA256 with the secret's base64 key; `webhook-signature` lists `v1,<base64>` signatures
separated by spaces (key rotation); a timestamp more than five minutes off is refused. A request
that fails any check is answered 401 and counted apart, never kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 1 << 20


def new_secret() -> str:
    """A fresh `whsec_<base64>` secret, as the webhook channel takes."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def verified(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> bool:
    """Whether `body` carries a valid, timely signature of `secret` (header names lower-case)."""
    msg_id, stamp, signatures = (headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    try:
        sent = int(stamp)
    except ValueError:
        return False
    if not msg_id or abs((time.time() if now is None else now) - sent) > TOLERANCE_SECONDS:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    return any(hmac.compare_digest(expected, s.partition(",")[2].encode())
               for s in signatures.split() if s.startswith("v1,"))


@dataclass
class WebhookSink:
    """`with WebhookSink(secret) as sink:` listens on a free loopback port; `sink.url` is where to
    send, `sink.received` the verified bodies (Alertmanager v4 documents) in arrival order."""

    secret: str
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_BODY_BYTES))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    document = json.loads(body) if length <= MAX_BODY_BYTES else None
                except ValueError:
                    document = None
                ok = isinstance(document, dict) and verified(sink.secret, headers, body)
                with sink._lock:
                    if ok:
                        sink.received.append(document)
                    else:
                        sink.refused += 1
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="heron-webhook-sink", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/heron"

    def counts(self) -> dict[str, int]:
        """Verified notifications, by their status (firing: at least one alert of the group fires);
        the alerts they reported resolved; the refused requests."""
        with self._lock:
            documents, refused = list(self.received), self.refused
        alerts = [a for d in documents for a in d.get("alerts") or [] if isinstance(a, dict)]
        return {"notifications": len(documents),
                "firing": sum(d.get("status") == "firing" for d in documents),
                "resolved": sum(d.get("status") == "resolved" for d in documents),
                "alerts_resolved": sum(a.get("status") == "resolved" for a in alerts),
                "refused": refused}

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
