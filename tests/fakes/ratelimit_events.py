"""The vendors' documented rate limits as the fake ESPs' event endpoints count them.

Each limit group (Klaviyo: ``events`` and ``events-bulk``; HubSpot and ActiveCampaign: ``api``) has
windows of (limit, seconds). A request is counted at its arrival; one that would make a window hold more
than its limit is answered 429 and counted in ``over`` (it does not take a place in the window). Off
unless ``enforce`` is set, so the tests of other behaviour are not paced by it.

``seen``: every request of a group, answered or not (arrival times, for the achieved rate).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any


class RateLimits:
    def __init__(self, groups: dict[str, list[tuple[int, float]]]):
        self.groups = groups
        self.enforce = False
        self.windows: dict[str, list[deque[float]]] = {g: [deque() for _ in w] for g, w in groups.items()}
        self.over: Counter = Counter()
        self.seen: dict[str, list[float]] = {g: [] for g in groups}

    def admit(self, group: str) -> bool:
        """Count a request arriving now (the caller holds the fake's lock); False: over a limit."""
        now = time.monotonic()
        self.seen[group].append(now)
        if not self.enforce:
            return True
        for (limit, per), arrived in zip(self.groups[group], self.windows[group]):
            while arrived and arrived[0] <= now - per:
                arrived.popleft()
            if len(arrived) >= limit:
                self.over[group] += 1
                return False
        for arrived in self.windows[group]:
            arrived.append(now)
        return True

    def rate(self, group: str, start: float, end: float) -> float:
        """Requests per second of a group that arrived between two monotonic times."""
        n = sum(1 for t in self.seen[group] if start <= t <= end)
        return n / (end - start) if end > start else 0.0


def limited(fake: object, group: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` behind ``fake.rate``'s limits of ``group``: over them, the vendor's 429 (Retry-After: 1)."""
    def answer(req: Any, *args: Any) -> Any:
        if not fake.rate.admit(group):  # type: ignore[attr-defined]
            return fake.fault_reply("429", 1.0)  # type: ignore[attr-defined]
        return handler(req, *args)
    return answer
