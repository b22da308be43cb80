"""Delivering notifications without holding anyone up: one bounded queue and worker per channel.

`submit` appends to the channel's own queue and returns: it never blocks on the network and
never raises. A channel whose receiver is dead or slow backs up only its own queue, and when that
is full the newest notification for it is dropped and reported, as the OpenTelemetry batch
processors do. Every notification gets exactly one outcome through `on_outcome`: delivered,
failed (after its retries), dropped (queue full, unknown channel, closed) or skipped (the channel
does not take it, e.g. Airflow for a warning). Outcomes of sends arrive on the channel's worker
thread; drops and skips on the caller's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from .delivery import Channel, Delivery
from .notification import Notification

__all__ = ["Dispatcher", "OutcomeCallback"]

log = logging.getLogger("heron.alerts")

OutcomeCallback = Callable[[Notification, Delivery], None]
OUTCOMES = ("delivered", "failed", "dropped", "skipped")


class _Lane:
    """One channel's queue and worker."""

    def __init__(self, channel: Channel, size: int, report: Callable[[Notification, Delivery], None],
                 stop: threading.Event) -> None:
        self.channel = channel
        self.size = size
        self.items: deque[Notification] = deque()
        self.cond = threading.Condition()
        self.busy = False
        self.closing = False
        self.report = report
        self.stop = stop
        self.thread = threading.Thread(target=self._run, name=f"heron-alerts-{channel.name}", daemon=True)
        self.thread.start()

    def put(self, n: Notification) -> bool:
        with self.cond:
            if len(self.items) >= self.size:
                return False
            self.items.append(n)
            self.cond.notify_all()
            return True

    def idle(self) -> bool:
        return not self.items and not self.busy

    def wait_idle(self, deadline: float) -> bool:
        with self.cond:
            while not self.idle():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.items and not self.closing:
                    self.cond.wait()
                if not self.items:
                    return
                n = self.items.popleft()
                self.busy = True
            try:
                if self.stop.is_set():
                    delivery = Delivery(self.channel.name, "dropped", error="dispatcher closed before delivery")
                else:
                    delivery = self.channel.send(n, cancel=self.stop)
                self.report(n, delivery)
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()


class Dispatcher:
    """Sends notifications to named channels in the background, each channel on its own."""

    def __init__(self, channels: dict[str, Channel], on_outcome: OutcomeCallback | None = None,
                 queue_size: int = 1000) -> None:
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be a whole number ≥ 1, got {queue_size!r}")
        self._on_outcome = on_outcome
        self._stop = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {name: dict.fromkeys(OUTCOMES, 0) for name in channels}
        self._failing: set[str] = set()
        self._callback_failed = False
        self._lanes = {name: _Lane(channel, queue_size, self._report, self._stop) for name, channel in channels.items()}

    def submit(self, channel_name: str, n: Notification) -> None:
        """Queue `n` for the channel and return at once. Never blocks, never raises."""
        try:
            lane = self._lanes.get(channel_name)
            if lane is None:
                self._report(n, Delivery(channel_name, "dropped", error=f"no channel named {channel_name!r}"))
            elif self._closed:
                self._report(n, Delivery(channel_name, "dropped", error="dispatcher closed"))
            elif not lane.channel.wants(n):
                self._report(n, Delivery(channel_name, "skipped",
                                         error=f"{lane.channel.type} channel does not take this notification"))
            elif not lane.put(n):
                self._report(n, Delivery(channel_name, "dropped", error=f"queue full ({lane.size} waiting)"))
        except Exception:  # never into the caller (the evaluator)
            log.exception("heron alerts: submit to %r failed", channel_name)

    def flush(self, timeout: float) -> bool:
        """Wait until every queue is empty and nothing is being sent; False on timeout."""
        deadline = time.monotonic() + max(0.0, timeout)
        return all(lane.wait_idle(deadline) for lane in self._lanes.values())

    def close(self, timeout: float) -> None:
        """Refuse new notifications, deliver what is queued for up to `timeout` seconds, then stop
        retrying; whatever is still queued is reported dropped. Bounded by `timeout` (plus at most
        one request's timeout for a send under way)."""
        self._closed = True
        deadline = time.monotonic() + max(0.0, timeout)
        self.flush(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        for lane in self._lanes.values():
            lane.close()
        for lane in self._lanes.values():
            lane.thread.join(max(0.0, deadline - time.monotonic()) + 0.05)

    def stats(self) -> dict[str, dict[str, int]]:
        """Outcomes so far, by channel, plus the notifications waiting in each queue."""
        with self._lock:
            out = {name: dict(counts) for name, counts in self._counts.items()}
        for name, lane in self._lanes.items():
            out[name]["queued"] = len(lane.items)
        return out

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close(timeout=10.0)

    def _report(self, n: Notification, delivery: Delivery) -> None:
        with self._lock:
            counts = self._counts.setdefault(delivery.channel, dict.fromkeys(OUTCOMES, 0))
            counts[delivery.outcome] = counts.get(delivery.outcome, 0) + 1
            first_failure = delivery.outcome in ("failed", "dropped") and delivery.channel not in self._failing
            if delivery.outcome in ("failed", "dropped"):
                self._failing.add(delivery.channel)
            elif delivery.outcome == "delivered":
                self._failing.discard(delivery.channel)
        if first_failure:  # once per channel until it delivers again
            log.warning("heron alerts: channel %r: %s %s after %d attempt(s): %s", delivery.channel, n.group_key,
                        delivery.outcome, delivery.attempts, delivery.error)
        if self._on_outcome is None:
            return
        try:
            self._on_outcome(n, delivery)
        except Exception:
            if not self._callback_failed:
                self._callback_failed = True
                log.exception("heron alerts: on_outcome raised (logged once)")
