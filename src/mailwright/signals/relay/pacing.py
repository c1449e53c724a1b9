"""Pacing a delivery under an ESP's documented rate limits, as the ESP counts them.

The transport's token buckets allow a full bucket on top of the refill rate, so in the worst case a
window of ``per`` seconds sees up to twice the documented limit. A vendor that counts requests in a
window (Klaviyo: per second and per minute; HubSpot: per 10 seconds; ActiveCampaign: per second)
answers that with 429s. :class:`Window` never lets ``limit + 1`` requests arrive within ``per``
seconds, whatever the network delay, provided the requests it paces are sequential (each sent after the
previous one was answered: one delivery worker per ESP, sharing its windows between its transports).

Proof sketch: sends s_1 < s_2 < …, arrival a_i in [s_i, s_{i+1}] (sequential). Waiting until
s_{n} >= s_{n-limit+1} + per gives a_{i+limit} >= s_{i+limit} >= s_{i+1} + per >= a_i + per.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class Window:
    """At most ``limit`` arrivals in any ``per`` seconds; ``take`` waits as long as that needs."""

    def __init__(self, limit: float, per: float, clock: Callable[[], float] = time.monotonic):
        self.limit = max(2, int(limit))
        self.per = per
        self.clock = clock
        self.sent: deque[float] = deque(maxlen=self.limit - 1)
        self.lock = threading.Lock()

    def take(self, sleep: Callable[[float], None]) -> None:
        with self.lock:
            while len(self.sent) == self.sent.maxlen:
                wait = self.sent[0] + self.per - self.clock()
                if wait <= 0:
                    break
                sleep(wait)
            self.sent.append(self.clock())


def windows(limits: list[tuple[float, float]], scale: float = 1.0) -> list[Window]:
    """One window per documented (limit, per seconds); ``scale`` multiplies the limits (tests' fake time)."""
    return [Window(n * scale, per) for n, per in limits]


def pace(transport: Any, group: str, paced: list[Window]) -> None:
    """Make every attempt ``transport`` sends in ``group`` (retries included) wait for ``paced`` as well as
    for its own buckets (a Transport calls ``take(sleep)`` on each of ``buckets[group]`` before each attempt)."""
    transport.buckets[group] = [*transport.buckets.get(group, []), *paced]
