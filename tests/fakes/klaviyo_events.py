"""The fake Klaviyo's event endpoints (what ``mailwright relay`` delivers to): Create Event and
bulk create jobs, with Klaviyo's own dedup rules.

- ``POST /api/events`` answers 202 with no body. A profile is found by any identifier it
  carries (email, external_id, anonymous_id) or made; a metric is made by its first event,
  as in Klaviyo. A ``unique_id`` repeated for the same profile and metric keeps the first
  event only (the repeat is answered 202 too and dropped); without one, the time to the
  second is the key.
- ``POST /api/event-bulk-create-jobs`` answers 202 (the job runs later in Klaviyo; here at
  once). More than 1,000 events is refused (400). A ``unique_id`` repeated inside one job
  fails the whole job: nothing of it is recorded and ``bulk_jobs[-1]["status"]`` is
  ``"failed"`` (the client cannot see it, which is why it must never send one).

State: ``events`` (a list of ``{"metric", "profile", "unique_id", "properties", "time"}`` as
recorded, duplicates dropped), ``received`` (unique_id -> how many accepted requests carried it,
before the dedup: what a vendor without one would have recorded), ``profiles`` (id -> attributes)
and ``bulk_jobs``. ``rate`` holds the documented limits (350/s and 3,500/min for events, 10/s and
150/min for bulk jobs), enforced with 429s when ``rate.enforce`` is set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from .base import Recorded, Reply
from .ratelimit_events import RateLimits, limited

BULK_MAX = 1000
PAYLOAD_MAX = 5 * 1024 * 1024  # bytes of one bulk job ("The maximum allowed payload size is 5MB.")
STRING_MAX = 100 * 1024  # characters of one string in a bulk job ("A single string cannot exceed 100KB.")
IDENTIFIERS = ("email", "external_id", "anonymous_id", "phone_number")


class KlaviyoEvents:
    """Mixed into KlaviyoFake (which brings lock, clock, metrics, _id, refuse)."""

    events: list[dict]
    profiles: dict[str, dict]
    bulk_jobs: list[dict]

    def _init_events(self) -> None:
        self.events = []
        self.profiles = {}
        self.bulk_jobs = []
        self.received: Counter = Counter()
        self._seen: set[tuple[str, str, str]] = set()  # (profile, metric, key) of the kept events
        self._by_identifier: dict[tuple[str, str], list[str]] = {}  # every profile that was ever given it
        self.rate = RateLimits({"events": [(350, 1), (3500, 60)], "events-bulk": [(10, 1), (150, 60)]})

    def event_routes(self) -> list[tuple[str, str, Callable[..., Reply]]]:
        return [("POST", r"/api/events", limited(self, "events", self.create_event)),
                ("POST", r"/api/event-bulk-create-jobs", limited(self, "events-bulk", self.bulk_create_events))]

    # ------------------------------------------------------------ test helpers
    def events_of(self, metric: str) -> list[dict]:
        """The recorded events of one metric, oldest first."""
        with self.lock:  # type: ignore[attr-defined]
            return [dict(e) for e in self.events if e["metric"] == metric]

    # ------------------------------------------------------------ endpoints
    def create_event(self, req: Recorded) -> Reply:
        attrs = req.json["data"]["attributes"]
        profile = self._profile(attrs["profile"]["data"], "/data/attributes/profile/data/attributes")
        self._record(profile, attrs, attrs["metric"]["data"]["attributes"]["name"])
        return Reply(202, None, content_type="application/vnd.api+json")

    def bulk_create_events(self, req: Recorded) -> Reply:
        if len(req.body) > PAYLOAD_MAX:
            raise self.refuse(413, f"The payload is {len(req.body)} bytes; at most 5MB is allowed.")  # type: ignore
        if any(len(s) > STRING_MAX for s in _strings(req.json)):
            raise self.refuse(400, "A single string cannot exceed 100KB.")  # type: ignore[attr-defined]
        entries = req.json["data"]["attributes"]["events-bulk-create"]["data"]
        total = sum(len(e["attributes"]["events"]["data"]) for e in entries)
        if total > BULK_MAX:
            raise self.refuse(400, f"A job holds at most {BULK_MAX} events ({total} were sent).",  # type: ignore
                              pointer="/data/attributes/events-bulk-create/data")
        ids = [ev["attributes"].get("unique_id") for e in entries for ev in e["attributes"]["events"]["data"]]
        ids = [i for i in ids if i is not None]
        job = {"id": self._id(), "events": total}  # type: ignore[attr-defined]
        self.bulk_jobs.append(job)
        if len(ids) != len(set(ids)):
            job["status"] = "failed"  # Klaviyo: a repeated unique_id in one job fails the whole job
            return Reply(202, None, content_type="application/vnd.api+json")
        for i, e in enumerate(entries):
            profile = self._profile(e["attributes"]["profile"]["data"],
                                    f"/data/attributes/events-bulk-create/data/{i}/attributes/profile/data/attributes")
            for ev in e["attributes"]["events"]["data"]:
                a = ev["attributes"]
                self._record(profile, a, a["metric"]["data"]["attributes"]["name"])
        job["status"] = "complete"
        return Reply(202, None, content_type="application/vnd.api+json")

    # ------------------------------------------------------------ internals
    def _profile(self, data: dict, pointer: str) -> str:
        attrs = data.get("attributes") or {}
        keys = {k: attrs[k] for k in IDENTIFIERS if attrs.get(k)}
        if data.get("id"):
            if data["id"] not in self.profiles:
                raise self.refuse(404, f"Profile {data['id']} does not exist.")  # type: ignore[attr-defined]
            return data["id"]
        if not keys:
            raise self.refuse(400, "A profile identifier is required: one of email, phone_number, external_id or "  # type: ignore[attr-defined]
                                   "anonymous_id.", pointer=pointer)
        # the first profile (in creation order) holding any of the identifiers, as a scan would find it
        held = {h for kv in keys.items() for h in self._by_identifier.get(kv, ())}
        held = [h for h in held if any(self.profiles[h].get(k) == v for k, v in keys.items())]
        order = {h: i for i, h in enumerate(self.profiles)} if len(held) > 1 else {}
        pid = min(held, key=lambda h: order.get(h, 0)) if held else None
        if pid is not None:
            p = self.profiles[pid]
            p.update({k: v for k, v in attrs.items() if v is not None and k != "properties"})
            p.setdefault("properties", {}).update(attrs.get("properties") or {})
        else:
            pid = self._id()  # type: ignore[attr-defined]
            self.profiles[pid] = {**{k: v for k, v in attrs.items() if v is not None and k != "properties"},
                                  "properties": dict(attrs.get("properties") or {})}
        for kv in keys.items():  # identifiers change only here: the index holds every profile a scan could find
            if pid not in (given := self._by_identifier.setdefault(kv, [])):
                given.append(pid)
        return pid

    def _record(self, profile: str, attrs: dict[str, Any], metric: str) -> None:
        if not any(m["name"] == metric for m in self.metrics.values()):  # type: ignore[attr-defined]
            self.add_metric(metric)  # type: ignore[attr-defined]
        when = attrs.get("time") or self.clock.iso()  # type: ignore[attr-defined]
        key = attrs.get("unique_id") or when[:19]
        if attrs.get("unique_id"):
            self.received[attrs["unique_id"]] += 1
        if (profile, metric, key) in self._seen:
            return  # Klaviyo keeps the first event of a unique_id per profile and metric
        self._seen.add((profile, metric, key))
        self.events.append({"metric": metric, "profile": profile, "unique_id": attrs.get("unique_id"), "key": key,
                            "properties": dict(attrs.get("properties") or {}), "time": when,
                            "value": attrs.get("value")})


def _strings(node: Any) -> list[str]:
    """Every string of a JSON document, keys included."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (k, *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []
