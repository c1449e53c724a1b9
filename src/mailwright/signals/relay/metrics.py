"""The relay's Prometheus metrics (one registry per relay, so tests can run several)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class _Queue(Collector):
    """Queue depth and the oldest pending age, read from the store at scrape time."""

    def __init__(self, status: Callable[[float], dict[str, Any]]):
        self.status = status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("mailwright_relay_store_up", "1 when the store answered this scrape, 0 when it "
                               "did not (an outage: the queue gauges are left out, the loops wait it out)")
        try:
            s = self.status(time.time())
        except Exception:  # noqa: BLE001 - /metrics must answer most of all while the store does not
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("mailwright_relay_queue_depth", "Items waiting (inbox: events not yet "
                                  "through the engine; per ESP: outbox items not yet delivered)", labels=["queue"])
        age = GaugeMetricFamily("mailwright_relay_oldest_pending_seconds", "Age of the oldest waiting item",
                                labels=["queue"])
        dead = GaugeMetricFamily("mailwright_relay_dead_letters", "Dead letters kept, per ESP", labels=["esp"])
        depth.add_metric(["inbox"], s["inbox"]["pending"])
        age.add_metric(["inbox"], s["inbox"]["oldest_pending_seconds"])
        for esp, e in s["esps"].items():
            depth.add_metric([esp], e["pending"])
            age.add_metric([esp], e["oldest_pending_seconds"])
            dead.add_metric([esp], e["dead"])
        yield from (depth, age, dead)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.ingested = Counter("mailwright_relay_events_ingested", "Events acknowledged (committed)",
                                registry=r)
        self.duplicates = Counter("mailwright_relay_events_duplicate", "Events dropped as a repeated messageId",
                                  registry=r)
        self.rejected = Counter("mailwright_relay_requests_rejected", "Requests refused", ["reason"], registry=r)
        self.ingest_latency = Histogram("mailwright_relay_ingest_seconds", "Request in to durable acknowledgement",
                                        buckets=LATENCY, registry=r)
        self.e2e_latency = Histogram("mailwright_relay_end_to_end_seconds",
                                     "Event received to delivered to the ESP", ["esp"], buckets=LATENCY, registry=r)
        self.sends = Counter("mailwright_relay_sends", "Items delivered", ["esp"], registry=r)
        self.retries = Counter("mailwright_relay_retries", "Deliveries to retry", ["esp"], registry=r)
        self.throttled = Counter("mailwright_relay_429", "Retries the ESP asked for with a 429", ["esp"], registry=r)
        self.dead = Counter("mailwright_relay_dead_letters_added", "Items parked as dead letters", ["esp"],
                            registry=r)

    def watch(self, status: Callable[[float], dict[str, Any]]) -> None:
        self.registry.register(_Queue(status))

    def render(self) -> bytes:
        return generate_latest(self.registry)
