"""What every relay store offers (SQLite, Redis), and the bookkeeping they share."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from .ingest import Message
from .model import Dead, Delivered, OutboxItem, Outcome, Retry
from .process import Processor

MAX_ATTEMPTS = 25  # a delivery that keeps asking for a retry is parked as a dead letter after this many


@dataclass
class Settled:
    """What recording one batch's outcomes did (for the metrics)."""

    delivered: list[float] = field(default_factory=list)  # end-to-end seconds, per delivered item
    retries: list[str] = field(default_factory=list)  # reasons
    dead: list[str] = field(default_factory=list)


class Store(Protocol):
    wake: threading.Event  # set when new work is committed

    async def append(self, msgs: list[Message]) -> int: ...  # durable on return; how many were new
    def process(self, processor: Processor, limit: int) -> int: ...
    def fire_timers(self, processor: Processor, now: float, limit: int) -> int: ...
    def claim(self, esp: str, now: float, limit: int) -> list[OutboxItem]: ...
    # before the request goes: an item a crash leaves without an outcome is offered again as tried once
    # (attempts >= 1), so a delivery without an idempotency key looks before it sends it again
    def tried(self, esp: str, items: list[OutboxItem]) -> None: ...
    def settle(self, esp: str, items: list[OutboxItem], outcomes: list[Outcome], now: float) -> Settled: ...
    def resume(self, esp: str, now: float) -> int: ...  # items waiting out an outage's backoff: due now
    def release(self, esp: str, items: list[OutboxItem]) -> None: ...  # claimed, left as they were
    def status(self, now: float) -> dict[str, Any]: ...
    def retry_dead(self, esps: list[str] | None, dry_run: bool) -> dict[str, int]: ...
    def close(self) -> None: ...


def complete(items: list[OutboxItem], outcomes: list[Any]) -> dict[str, Outcome]:
    """One outcome per item: a missing or foreign outcome becomes a retry; too many retries, a dead letter."""
    by_id: dict[str, Outcome] = {}
    known = {i.id for i in items}
    for o in outcomes:
        if isinstance(o, Delivered | Retry | Dead) and o.item_id in known:
            by_id.setdefault(o.item_id, o)
    for i in items:
        o = by_id.get(i.id)
        if o is None:
            by_id[i.id] = Retry(i.id, 5.0, "the delivery gave no outcome for this item")
        elif isinstance(o, Retry) and i.attempts + 1 >= MAX_ATTEMPTS:
            by_id[i.id] = Dead(i.id, f"gave up after {MAX_ATTEMPTS} attempts; last: {o.reason}")
    return by_id


class Future:
    """An asyncio future completed from a store's writer thread."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.fut: asyncio.Future = self.loop.create_future()

    def done(self, value: Any = None, error: BaseException | None = None) -> None:
        def finish() -> None:
            if not self.fut.done():
                if error is not None:
                    self.fut.set_exception(error)
                else:
                    self.fut.set_result(value)
        try:
            self.loop.call_soon_threadsafe(finish)
        except RuntimeError:  # the loop is gone (shutting down): nobody waits any more
            pass
