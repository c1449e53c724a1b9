"""The relay's work loops: the engine over committed events and due timers, and one delivery worker per ESP.

Each loop is a thread; ``stop`` lets every loop finish what it holds (the batch through the engine, the
delivery call in flight and its outcomes) and returns. Everything not yet done stays in the store.

A store outage (Redis restarting, SQLite locked or failing I/O) is waited out: the call that met it is
made again with capped, jittered backoff, /healthz says 503 meanwhile, a log line marks its start and end.
Any other failure stops its loop for good (/healthz 503, ``loop_failed``): a bug is not retried forever.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .delivery import outage
from .logs import Log
from .metrics import Metrics
from .model import Delivered, Delivery, OutboxItem, Retry
from .process import Processor
from .store import Store

IDLE_WAIT = 0.05  # seconds a loop sleeps when there is nothing to do (new work wakes it sooner)
PRUNE_EVERY = 600.0
LINGER = 0.05  # seconds a delivery loop waits after a batch smaller than it could take
PROBE_EVERY = 5.0  # seconds between probes of an ESP that was down while everything waits out its backoff
OUTAGE_FIRST, OUTAGE_MAX = 0.1, 5.0  # a store call met by an outage is tried again after 0.1 s, doubling to 5 s

T = TypeVar("T")

# What a store outage is, from what the stores raise: the store is unreachable or cannot do I/O for now,
# and the same call can succeed once it is back. Redis: ConnectionError (a refused or dropped connection,
# and BusyLoadingError, a restarted server still loading its AOF), TimeoutError; a ResponseError (a wrong
# command, a script error) is not. SQLite: an OperationalError whose result code says busy, locked, I/O
# error or disk full; others (no such table, a syntax error) are bugs or a broken database, not outages.
_SQLITE_OUTAGES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL}


def store_outage(e: BaseException) -> bool:
    """Is ``e`` (or what it was raised while handling: a ROLLBACK failing after an I/O error) an outage?"""
    # redis is imported only by the Redis store (~0.1 s at start-up): if it is not loaded, nothing raised is its
    redis = sys.modules.get("redis")
    redis_outages = (redis.ConnectionError, redis.TimeoutError) if redis else ()
    seen: BaseException | None = e
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, redis_outages):
            return True
        code = getattr(seen, "sqlite_errorcode", None)
        if isinstance(seen, sqlite3.OperationalError) and code is not None and code & 0xFF in _SQLITE_OUTAGES:
            return True
        seen = seen.__context__
    return False


class _Stopping(Exception):
    """``stop`` was asked for while a store call waited out an outage: the loop ends, its work stays stored."""


class Relay:
    def __init__(self, store: Store, processor: Processor, deliveries: dict[str, Delivery], metrics: Metrics,
                 log: Log, batch: int = 100):
        self.store, self.processor, self.deliveries = store, processor, deliveries
        self.metrics, self.log, self.batch = metrics, log, batch
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._wake = {esp: threading.Event() for esp in deliveries}
        self._down: set[str] = set()  # ESPs whose last failures said they were down
        self.failed: BaseException | None = None
        self._outage: set[str] = set()  # the loops whose store calls fail with an outage now
        self._outage_since = 0.0
        self._outage_lock = threading.Lock()

    def start(self) -> None:
        self._stop.clear()
        self._outage.clear()  # one that a stop cut short is for the new loops to meet again
        self._threads = [threading.Thread(target=self._guard, args=(self._engine_loop,), name="relay-engine",
                                          daemon=True)]
        for esp in self.deliveries:
            self._threads.append(threading.Thread(target=self._guard, args=(self._deliver_loop, esp),
                                                  name=f"relay-{esp}", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.store.wake.set()
        for ev in self._wake.values():
            ev.set()
        for t in self._threads:
            t.join(timeout)

    @property
    def healthy(self) -> bool:
        return self.failed is None and not self._outage and all(t.is_alive() for t in self._threads)

    def _guard(self, loop: Any, *args: Any) -> None:
        try:
            loop(*args)
        except _Stopping:
            pass
        except BaseException as e:  # not an outage (a bug, a poison event): /healthz says so, logs say why
            self.failed = e
            self.log("loop_failed", "error", loop=threading.current_thread().name, error=type(e).__name__,
                     detail=str(e)[:300])

    # ------------------------------------------------------------ store outages

    def _s(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` on the store, made again while it fails with an outage (until ``stop``)."""
        delay = OUTAGE_FIRST
        while True:
            try:
                result = call(*args)
            except Exception as e:
                if not store_outage(e):
                    raise
                self._outage_began(e)
                # jittered (half to all of the delay): relays sharing a Redis do not all retry at once
                if self._stop.wait(random.uniform(delay / 2, delay)):
                    raise _Stopping() from None
                delay = min(OUTAGE_MAX, delay * 2)
                continue
            if self._outage:
                self._outage_ended()
            return result

    def _outage_began(self, e: BaseException) -> None:
        name = threading.current_thread().name
        with self._outage_lock:
            first = not self._outage
            if first:
                self._outage_since = time.time()
            self._outage.add(name)
        if first:
            self.log("store_outage", "error", loop=name, error=type(e).__name__, detail=str(e)[:300])

    def _outage_ended(self) -> None:
        name = threading.current_thread().name
        with self._outage_lock:
            over = name in self._outage and len(self._outage) == 1
            self._outage.discard(name)
        if over:  # the last loop that met it got through: the store is back for all
            self.log("store_back", seconds=round(time.time() - self._outage_since, 3))

    # ------------------------------------------------------------ the engine

    def _engine_loop(self) -> None:
        last_prune = 0.0
        while not self._stop.is_set():
            self.store.wake.clear()
            n = self._s(self.store.process, self.processor, self.batch * 2)
            now = time.time()
            if n == 0:  # timers run when the inbox is empty, so a burst is applied before wall-clock timers
                n = self._s(self.store.fire_timers, self.processor, now, self.batch * 2)
            if n:
                for ev in self._wake.values():
                    ev.set()
                continue
            if now - last_prune > PRUNE_EVERY and hasattr(self.store, "prune"):
                self._s(self.store.prune, now)
                last_prune = now
            self.store.wake.wait(IDLE_WAIT)

    # ------------------------------------------------------------ delivery

    def _deliver_loop(self, esp: str) -> None:
        delivery, wake = self.deliveries[esp], self._wake[esp]
        batch = int(getattr(delivery, "batch_max", self.batch))  # Klaviyo's bulk jobs take 1,000
        probed = 0.0
        while not self._stop.is_set():
            wake.clear()
            now = time.time()
            items = self._s(self.store.claim, esp, now, batch)
            if not items:
                if esp in self._down and now - probed >= PROBE_EVERY:
                    probed = now
                    self._probe(esp, delivery)
                wake.wait(IDLE_WAIT)
                continue
            self._deliver(esp, delivery, items)
            if len(items) < batch:
                # a trickle: let a few milliseconds of events gather, so that each request, outcome commit
                # and the CPU they take serve many events (the acknowledgements share that CPU)
                self._stop.wait(LINGER)

    def _probe(self, esp: str, delivery: Delivery) -> None:
        """Is the ESP back? The first waiting item is sent ahead of its backoff; delivered, it is settled
        (and the rest resumed); failed, it is left exactly as it was (a probe costs it no attempt)."""
        items = self._s(self.store.claim, esp, float("inf"), 1)
        if not items:
            self._down.discard(esp)
            return
        self._s(self.store.tried, esp, items)
        try:
            outcomes = list(delivery.deliver(items))
        except Exception as e:  # as in _deliver: the delivery's own failure is logged, never silent
            self.log("delivery_failed", "error", esp=esp, items=len(items), error=type(e).__name__)
            outcomes = []
        if any(isinstance(o, Delivered) for o in outcomes):
            self._deliver_outcomes(esp, items, outcomes)
        else:
            self._s(self.store.release, esp, items)

    def _deliver(self, esp: str, delivery: Delivery, items: list[OutboxItem]) -> None:
        self._s(self.store.tried, esp, items)
        try:
            outcomes = list(delivery.deliver(items))
        except Exception as e:  # the delivery's own failure: every item waits and is offered again
            self.log("delivery_failed", "error", esp=esp, items=len(items), error=type(e).__name__)
            outcomes = [Retry(i.id, 5.0, f"the delivery failed: {type(e).__name__}") for i in items]
        self._deliver_outcomes(esp, items, outcomes)

    def _deliver_outcomes(self, esp: str, items: list[OutboxItem], outcomes: list) -> None:
        # the outcomes are kept through an outage: what was delivered is recorded, never sent again
        settled = self._s(self.store.settle, esp, items, outcomes, time.time())
        if any(outage(r) for r in settled.retries):
            self._down.add(esp)
        elif settled.delivered and esp in self._down:
            # the ESP is back: what waits out an outage's backoff (up to 5 minutes) goes now, paced
            self._down.discard(esp)
            resumed = self._s(self.store.resume, esp, time.time())
            self.log("esp_back", esp=esp, resumed=resumed)
        m = self.metrics
        for seconds in settled.delivered:
            m.e2e_latency.labels(esp).observe(seconds)
        m.sends.labels(esp).inc(len(settled.delivered))
        m.retries.labels(esp).inc(len(settled.retries))
        m.throttled.labels(esp).inc(sum(1 for r in settled.retries if r.startswith("429")))
        m.dead.labels(esp).inc(len(settled.dead))
        for reason in settled.dead:
            self.log("dead_letter", "warning", esp=esp, reason=reason[:300])
