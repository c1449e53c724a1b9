"""Pacing a delivery under an ESP's documented rate limits, as the ESP counts them.

The transport's token buckets allow a full bucket on top of the refill rate, so in the worst case a
window of ``per`` seconds sees up to twice the documented limit. A vendor that counts requests in a
window (Klaviyo: per second and per minute; HubSpot: per 10 seconds; ActiveCampaign: per second)
answers that with 429s. :class:`Window` never lets ``limit + 1`` requests arrive within ``per``
seconds, whatever the network delay, provided the requests it paces are sequential (each sent after the
previous one was answered: one delivery worker per ESP, sharing its windows between its transports).

Proof sketch: requests 1, 2, … are sequential, so when request n asks to go, request n-1 has been
answered: its arrival a_{n-1} is at most now. ``take`` keeps that bound c_i for each of the last
``limit`` requests and sends n only once n >= c_{n-limit} + per; then a_n >= s_n >= c_{n-limit} + per
>= a_{n-limit} + per, so no ``per`` seconds hold more than ``limit`` arrivals.
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
        self.limit = max(1, int(limit))
        self.per = per
        self.clock = clock
        self.bound: deque[float] = deque(maxlen=self.limit)  # latest possible arrival of the last requests
        self.lock = threading.Lock()

    def take(self, sleep: Callable[[float], None]) -> None:
        with self.lock:
            if self.bound:
                self.bound[-1] = self.clock()  # the previous request has been answered by now
            while len(self.bound) == self.bound.maxlen:
                wait = self.bound[0] + self.per - self.clock()
                if wait <= 0:
                    break
                sleep(wait)
            self.bound.append(self.clock())


def windows(limits: list[tuple[float, float]], scale: float = 1.0) -> list[Window]:
    """One window per documented (limit, per seconds); ``scale`` multiplies the limits (tests' fake time)."""
    return [Window(n * scale, per) for n, per in limits]


def pace(transport: Any, group: str, paced: list[Window]) -> None:
    """Make every attempt ``transport`` sends in ``group`` (retries included) wait for ``paced`` as well as
    for its own buckets (a Transport calls ``take(sleep)`` on each of ``buckets[group]`` before each attempt).
    Pacing a transport again with a window it already waits for adds nothing (a window counted twice would
    halve the rate)."""
    have = transport.buckets.get(group, [])
    transport.buckets[group] = [*have, *(w for w in paced if all(w is not h for h in have))]
