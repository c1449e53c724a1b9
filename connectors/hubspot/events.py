"""HubSpot delivery for ``mailwright relay``: first the contact properties that
``[esp.hubspot.properties]`` maps (``"event.cart_value" = "last_cart_value"``: the item's
``cart_value`` goes to the contact's ``last_cart_value``), by email, with the CRM's batch upsert;
then the custom behavioral event (``POST /events/v3/send``) named in ``[esp.hubspot.events]``,
with the properties its definition holds (``mailwright relay sync`` creates both from the
tracking plan) and a ``uuid`` derived from the item's id: HubSpot accepts the first occurrence of
a ``uuid`` per event type within a year and rejects the others, so a repeat is harmless.

Custom behavioral events need Marketing Hub Enterprise. An account that refuses them (403 on
the events API while the same token writes contacts) is said once (``ctx.warn``) and from then
on gets the contact properties only; a workflow can enrol on those instead (docs/relay.md).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from mailwright.push import CREATE, MANUAL, UNCHANGED, UPDATE, Change
from mailwright.signals.relay.delivery import carried, failure, mapped, scalar
from mailwright.signals.relay.model import Dead, Delivered, DeliveryContext, OutboxItem, Outcome
from mailwright.signals.relay.pacing import pace, windows
from mailwright.transport import EMPTY, AuthError, RemoteError, Transport, base_url, credential

from .dialect import STANDARD

BATCH_MAX = 100  # inputs per CRM batch request
API_LIMITS = [(190, 10)]  # requests per 10 s, Professional/Enterprise (behavioral events need Enterprise)
RETRIES = 2
UUIDS = uuid.UUID("5a1d3c2e-7b4f-4e0a-9c8d-6f2b1e3a4c5d")  # the namespace of the uuids made from item ids
NO_EVENTS = ("HubSpot refused custom behavioral events (403): they need Marketing Hub Enterprise (and a token "
             "allowed to send them); the relay writes the mapped contact properties only from now on (a workflow "
             "can enrol on a property change instead: see docs/relay.md)")


def hubspot_name(name: str) -> str:
    """A name HubSpot accepts for a property (lowercase letters, digits and ``_``, not starting with a digit)."""
    out = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "property"
    return out if out[0].isalpha() else f"p_{out}"


def definition_name(event_name: str) -> str:
    """The definition's own name in a fully qualified event name (``pe1234567_cart_abandoned`` -> ``cart_abandoned``)."""
    m = re.fullmatch(r"pe\d+_(.+)", event_name)
    return m.group(1) if m else event_name


def event_uuid(item_id: str) -> str:
    return str(uuid.uuid5(UUIDS, item_id))


# ---------------------------------------------------------------- relay sync
EVENT_TYPES = {"number": "number", "boolean": "bool", "string": "string"}
BUILT_IN = {"email", *STANDARD.values()}


class HubSpotSetup:
    """What ``mailwright relay sync`` plans for HubSpot: the mapped contact properties, and one event
    definition per event of the tracking plan mapped in ``[esp.hubspot.events]`` (with the properties
    the relay sends), created or given their missing properties. Mixed into HubSpotEvents."""

    ctx: DeliveryContext
    label: str

    def sync(self, plan: Any) -> list[Change]:
        return self._contact_properties(plan) + self._event_definitions(plan)

    def _contact_properties(self, plan: Any) -> list[Change]:
        wanted: dict[str, str] = {}
        kinds = {name: kind for event in plan.events for name, kind in carried(plan, event).items()}
        for key, target in sorted((self.ctx.config.get("properties") or {}).items()):
            if target not in BUILT_IN:
                root, _, name = key.partition(".")
                wanted.setdefault(target, kinds.get(name, "string") if root == "event" else "string")
        if not wanted:
            return []
        have = self._property_names()
        out = []
        for name, kind in wanted.items():
            if name in have:
                out.append(Change("property", name, UNCHANGED))
                continue
            number = kind == "number"
            body = {"name": name, "label": name.replace("_", " ").capitalize(), "groupName": "contactinformation",
                    "type": "number" if number else "string", "fieldType": "number" if number else "text",
                    "description": f"Written by the mailwright relay of {self.ctx.project.name}"}
            out.append(Change("property", name, CREATE, f"contact property ({body['type']})",
                              apply=lambda b=body: self._req("POST", "/crm/v3/properties/contacts", json=b,
                                                             creates=True, shape={"name": str}),
                              recover=lambda n=name: n in self._property_names()))
        return out

    def _property_names(self) -> set[str]:
        found = self._req("GET", "/crm/v3/properties/contacts", shape={"results": [{"name": str}]})
        return {p["name"] for p in found["results"]}

    def _event_definitions(self, plan: Any) -> list[Change]:
        mapping = self.ctx.config.get("events") or {}
        out: list[Change] = []
        wanted: dict[str, tuple[str, dict[str, str]]] = {}
        for event in sorted(plan.events):
            if event not in mapping:
                out.append(Change("event", event, MANUAL, "no [esp.hubspot.events] mapping: the relay writes its "
                                                          "contact properties only"))
                continue
            props = {hubspot_name(k): EVENT_TYPES[v] for k, v in carried(plan, event).items()}
            wanted[definition_name(mapping[event])] = (event, props)
        if not wanted:
            return out
        try:
            have = self._definitions_all()
        except AuthError as e:
            if e.status != 403:
                raise
            return out + [Change("event", name, MANUAL, "HubSpot refused custom behavioral events (403): they "
                                                        "need Marketing Hub Enterprise; the relay writes the "
                                                        "contact properties only") for name in wanted]
        for name, (event, props) in wanted.items():
            current = have.get(name)
            if current is None:
                body = {"name": name, "label": event.replace("_", " ").capitalize(), "primaryObject": "CONTACT",
                        "description": f"Sent by the mailwright relay of {self.ctx.project.name}",
                        "propertyDefinitions": [{"name": k, "label": k.replace("_", " ").capitalize(), "type": t}
                                                for k, t in props.items()]}
                out.append(Change("event", name, CREATE, f"event definition, {len(props)} properties",
                                  apply=lambda b=body: self._req("POST", "/events/v3/event-definitions", json=b,
                                                                 creates=True, shape={"name": str}),
                                  recover=lambda n=name: n in self._definitions_all()))
                continue
            missing = {k: t for k, t in props.items() if k not in current}
            if not missing:
                out.append(Change("event", name, UNCHANGED))
                continue
            out.append(Change("event", name, UPDATE, "add properties " + ", ".join(missing),
                              apply=self._add_properties(name, missing)))
        return out

    def _definitions_all(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        after = None
        while True:
            page = self._req("GET", "/events/v3/event-definitions",
                             params={"limit": 100, **({"after": after} if after else {})},
                             shape={"results": [{"name": str, "properties?": [{"name": str}]}],
                                    "paging?": {"next?": {"after?": (str, int, type(None))}}})
            for d in page["results"]:
                out[d["name"]] = {p["name"] for p in d.get("properties") or []}
            nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not nxt or nxt == after:
                return out
            after = nxt

    def _add_properties(self, name: str, props: dict[str, str]):
        def apply() -> None:
            have = self._definitions_all().get(name, set())  # a property added by a lost answer is not added twice
            for k, t in props.items():
                if k not in have:
                    self._req("POST", f"/events/v3/event-definitions/{name}/property",
                              json={"name": k, "label": k.replace("_", " ").capitalize(), "type": t},
                              creates=True, shape={"name": str})
        return apply


class HubSpotEvents(HubSpotSetup):
    label = "HubSpot"

    def __init__(self, ctx: DeliveryContext):
        self.ctx = ctx
        self.transport = ctx.transport or self._connect()
        pace(self.transport, "api", windows(API_LIMITS, float(ctx.transport_options.get("rate_scale", 1.0))))
        self.events_refused = False
        self._definitions: dict[str, set[str] | None] = {}  # definition name -> its properties (None: absent)
        self._unmapped: set[str] = set()

    def _connect(self) -> Transport:
        env = self.ctx.env
        secret = credential(env, "HUBSPOT_ACCESS_TOKEN", self.label)
        base = base_url(env, "HUBSPOT_BASE_URL", "https://api.hubapi.com", "https://api.hubapi.com")
        return Transport(base, {"Authorization": f"Bearer {secret.reveal()}", "Accept": "application/json"},
                         secret, label=self.label, log=self.ctx.log, base_var="HUBSPOT_BASE_URL",
                         **{"retries": RETRIES, **self.ctx.transport_options})

    def _req(self, method: str, path: str, **kw: Any) -> Any:
        return self.transport.request(method, path, limit="api", **kw)

    # ------------------------------------------------------------ delivery
    def deliver(self, items: list[OutboxItem]) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        ready = []
        for item in items:
            if not item.identity.email:
                outcomes[item.id] = Dead(item.id, f"HubSpot finds contacts by email, and none is known for the "
                                                  f"profile {item.profile}")
            else:
                ready.append(item)
        for start in range(0, len(ready), BATCH_MAX):
            outcomes.update(self._properties(ready[start:start + BATCH_MAX]))
        for item in ready:
            if item.id not in outcomes:
                outcomes[item.id] = self._event(item)
        return [outcomes[item.id] for item in items]

    def contact_properties(self, item: OutboxItem) -> dict[str, Any]:
        """The contact properties an item sets: its mapped values (``[esp.hubspot.properties]``) and
        the standard ones its traits carry."""
        props = {name: scalar(v) for name, v in mapped(item, self.ctx.config.get("properties") or {}).items()}
        for portable, name in STANDARD.items():
            value = item.profile_properties.get(portable)
            if portable != "email" and isinstance(value, str) and name not in props:
                props[name] = value
        return props

    def _properties(self, items: list[OutboxItem]) -> dict[str, Outcome]:
        """Write the contact properties of a batch; the items whose write failed, with their outcome."""
        writes = [(item, self.contact_properties(item)) for item in items]
        inputs = [{"idProperty": "email", "id": item.identity.email, "properties": props} for item, props in writes]
        try:
            self._req("POST", "/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs},
                      shape={"results": list})
            return {}
        except RemoteError as e:
            if len(items) > 1 and _final(e):
                # one bad input refuses the whole batch: each alone, so that only what is wrong is dead
                out: dict[str, Outcome] = {}
                for item in items:
                    out.update(self._properties([item]))
                return out
            return {item.id: failure(item, e) for item in items}

    def _event(self, item: OutboxItem) -> Outcome:
        name = (self.ctx.config.get("events") or {}).get(item.event)
        if self.events_refused:
            return Delivered(item.id)
        if not name:
            if item.event not in self._unmapped:
                self._unmapped.add(item.event)
                self.ctx.warn(f"HubSpot: the event '{item.event}' has no [esp.hubspot.events] mapping: the relay "
                              "writes its contact properties only")
            return Delivered(item.id)
        try:
            known = self._definition(definition_name(name))
            if known is None:
                return Dead(item.id, f"HubSpot has no event definition {definition_name(name)} (for {name}): run "
                                     "`mailwright relay sync`, then `mailwright relay retry`")
            props = {hubspot_name(k): scalar(v) for k, v in item.properties.items()}
            body = {"eventName": name, "email": item.identity.email, "uuid": event_uuid(item.id),
                    "occurredAt": item.time, "properties": {k: v for k, v in props.items() if k in known}}
            self._req("POST", "/events/v3/send", json=body, shape=EMPTY)
        except AuthError as e:
            if e.status == 403:
                self._refused()
                return Delivered(item.id)
            return failure(item, e)
        except RemoteError as e:
            return failure(item, e)
        return Delivered(item.id)

    def _refused(self) -> None:
        if not self.events_refused:
            self.events_refused = True
            self.ctx.warn(NO_EVENTS)

    def _definition(self, name: str) -> set[str] | None:
        """The property names of an event definition (read once per relay run), None when it does not exist."""
        if name not in self._definitions:
            found = self._req("GET", f"/events/v3/event-definitions/{name}", ok=(404,),
                              shape={"properties?": [{"name": str}]})
            self._definitions[name] = None if found is None else {p["name"] for p in found.get("properties") or []}
        known = self._definitions[name]
        if known is None:
            del self._definitions[name]  # looked up again next time: `relay sync` may have run meanwhile
        return known


def _final(e: RemoteError) -> bool:
    """A refusal no repeat can change (a validation error), as opposed to a throttle or an outage."""
    return e.status is not None and 400 <= e.status < 500 and e.status not in (401, 403, 408, 429)
