"""Klaviyo delivery for ``mailwright relay``: each item as a Create Event (``POST /api/events``),
or, for a backlog, as bulk create jobs (``POST /api/event-bulk-create-jobs``, at most 1,000
events a job).

The item's id is the event's ``unique_id``: Klaviyo keeps the first event of a ``unique_id``
per profile and metric, so a repeat (a retry after a lost answer) is harmless. A repeated
``unique_id`` inside one bulk job would fail the whole job, so a job never holds one. The
metric is the event's name in ``[esp.klaviyo.events]`` (or Klaviyo's own metric for the
portable events that have one, as the flow translation names them); the profile is found by
email, ``external_id`` (the userId) and ``anonymous_id``. ``[esp.klaviyo.properties]`` renames
what the templates read under another name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mailwright.signals.relay.delivery import failure, mapped
from mailwright.signals.relay.model import Delivered, DeliveryContext, OutboxItem, Outcome
from mailwright.signals.relay.pacing import pace, windows
from mailwright.transport import EMPTY, RemoteError, Transport, base_url, credential

from .client import JSONAPI, REVISION
from .dialect import STANDARD
from .flows import DEFAULT_METRICS

# x-klaviyo-ratelimit of each operation (OpenAPI revision 2026-07-15): burst per second, steady per minute,
# each counted by Klaviyo in its own window (paced exactly by relay.pacing, not by token buckets)
LIMITS = {"events": [(350, 1), (3500, 60)], "events-bulk": [(10, 1), (150, 60)]}
BULK_MAX = 1000  # events per job (Klaviyo's limit)
PAYLOAD_MAX = 5 * 1024 * 1024  # bytes per job (Klaviyo's limit: "The maximum allowed payload size is 5MB.")
RETRIES = 2  # in-line retries of one request (Retry-After honoured) before the item is offered again later


class KlaviyoEvents:
    label = "Klaviyo"
    bulk_from = 20  # a batch of at least this many items goes as bulk jobs (one request per 1,000 events)
    batch_max = BULK_MAX  # the core offers a backlog 1,000 at a time: one full job per request

    def __init__(self, ctx: DeliveryContext):
        self.ctx = ctx
        self.transport = ctx.transport or self._connect()
        scale = float(ctx.transport_options.get("rate_scale", 1.0))
        for group, limits in LIMITS.items():
            pace(self.transport, group, windows(limits, scale))

    def _connect(self) -> Transport:
        env = self.ctx.env
        secret = credential(env, "KLAVIYO_API_KEY", self.label)
        base = base_url(env, "KLAVIYO_BASE_URL", "https://a.klaviyo.com", "https://a.klaviyo.com")
        headers = {"Authorization": f"Klaviyo-API-Key {secret.reveal()}", "revision": REVISION, "Accept": JSONAPI}
        return Transport(base, headers, secret, label=self.label, log=self.ctx.log,
                         base_var="KLAVIYO_BASE_URL", **{"retries": RETRIES, **self.ctx.transport_options})

    # ------------------------------------------------------------ delivery
    def deliver(self, items: list[OutboxItem]) -> list[Outcome]:
        if len(items) >= self.bulk_from:
            return self._bulk(items)
        return [self._one(item) for item in items]

    def _one(self, item: OutboxItem) -> Outcome:
        body = {"data": {"type": "event", "attributes": {
            **self._event(item), "profile": {"data": {"type": "profile", "attributes": self._profile(item)}}}}}
        try:
            self._post("/api/events", body, "events")
        except RemoteError as e:
            return failure(item, e)
        return Delivered(item.id)

    def _bulk(self, items: list[OutboxItem]) -> list[Outcome]:
        # an id twice in one call (the core re-offering an item) goes once; the copies share its outcome
        first: dict[str, OutboxItem] = {}
        for item in items:
            first.setdefault(item.id, item)
        unique = list(first.values())
        outcomes: dict[str, Outcome] = {}
        for chunk, job in self._jobs(unique):
            try:
                self._send("/api/event-bulk-create-jobs", job, "events-bulk")
                outcomes.update({i.id: Delivered(i.id) for i in chunk})
            except RemoteError as e:
                if e.status is not None and 400 <= e.status < 500 and e.status not in (401, 403, 408, 429):
                    # the job was refused as a whole: one by one, so that only what is wrong is dead
                    outcomes.update({i.id: self._one(i) for i in chunk})
                else:
                    outcomes.update({i.id: failure(i, e) for i in chunk})
        return [outcomes[item.id] for item in items]

    def _jobs(self, items: list[OutboxItem]) -> Iterator[tuple[list[OutboxItem], str]]:
        """The items in order as bulk jobs' bodies of at most BULK_MAX events and PAYLOAD_MAX bytes (a chunk
        too large is halved until it fits; one event too large goes alone, to be refused and sent by itself)."""
        pending = [items[start:start + BULK_MAX] for start in range(0, len(items), BULK_MAX)]
        while pending:
            chunk = pending.pop(0)
            body = json.dumps(self._job(chunk))  # ASCII (ensure_ascii): its length is its size in bytes
            if len(body) > PAYLOAD_MAX and len(chunk) > 1:
                pending[:0] = [chunk[:len(chunk) // 2], chunk[len(chunk) // 2:]]
                continue
            yield chunk, body

    def _job(self, items: list[OutboxItem]) -> dict:
        profiles: dict[str, tuple[dict, list[dict]]] = {}
        for item in items:  # one entry per profile, its events in order
            attrs = self._profile(item)
            profiles.setdefault(item.profile, (attrs, []))[1].append(
                {"type": "event", "attributes": self._event(item)})
        entries = [{"type": "event-bulk-create",
                    "attributes": {"profile": {"data": {"type": "profile", "attributes": attrs}},
                                   "events": {"data": events}}}
                   for attrs, events in profiles.values()]
        return {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": entries}}}}

    def _post(self, path: str, body: dict, limit: str) -> None:
        self._send(path, json.dumps(body), limit)

    def _send(self, path: str, data: str, limit: str) -> None:
        # no `creates`: a repeat after a lost answer is what unique_id makes harmless
        self.transport.request("POST", path, data=data, headers={"Content-Type": JSONAPI}, limit=limit, shape=EMPTY)

    def sync(self, plan: Any) -> list:
        """``mailwright relay sync``: nothing to set up in Klaviyo (a metric appears with its first event,
        and an event's properties need no definition)."""
        return []

    # ------------------------------------------------------------ shapes
    def metric(self, event: str) -> str:
        """The Klaviyo metric of a portable event (as the flow translation names it)."""
        return (self.ctx.config.get("events") or {}).get(event) or DEFAULT_METRICS.get(event) or event

    def _event(self, item: OutboxItem) -> dict[str, Any]:
        mapping = {k: v for k, v in (self.ctx.config.get("properties") or {}).items() if k.startswith("event.")}
        renamed = mapped(item, mapping)
        return {"properties": {**item.properties, **renamed}, "time": item.time, "unique_id": item.id,
                "metric": {"data": {"type": "metric", "attributes": {"name": self.metric(item.event)}}}}

    def _profile(self, item: OutboxItem) -> dict[str, Any]:
        ident = item.identity
        attrs: dict[str, Any] = {}
        if ident.email:
            attrs["email"] = ident.email
        if ident.user_id:
            attrs["external_id"] = ident.user_id
        if ident.anonymous_id:
            attrs["anonymous_id"] = ident.anonymous_id
        traits = dict(item.profile_properties)
        for portable, name in STANDARD.items():
            if portable != "email" and isinstance(traits.get(portable), str):
                attrs[name] = traits.pop(portable)
        traits.pop("email", None)
        mapping = {k: v for k, v in (self.ctx.config.get("properties") or {}).items() if k.startswith("profile.")}
        renamed = mapped(item, mapping)
        props = {**{k: v for k, v in traits.items() if f"profile.{k}" not in mapping}, **renamed}
        if props:
            attrs["properties"] = props
        return attrs

