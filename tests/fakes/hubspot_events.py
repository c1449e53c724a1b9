"""The fake HubSpot's endpoints for the relay: contact properties (definitions and values) and
custom behavioral events (definitions and occurrences). Checks written by hand from HubSpot's
public reference, as for the rest of this fake (its specs are not licensed for reuse).

- ``GET``/``POST /crm/v3/properties/contacts``: the contact property definitions (``email``,
  ``firstname``, ``lastname``, ``phone`` exist from the start); a name is lowercase letters,
  digits and ``_``; a second property of one name is 409.
- ``POST /crm/v3/objects/contacts/batch/upsert`` (``idProperty: email``) and
  ``…/batch/update`` (by contact id): at most 100 inputs; a property that is not defined is
  refused (400 ``PROPERTY_DOESNT_EXIST``), as HubSpot does, and nothing of the batch is written.
- ``GET``/``POST /events/v3/event-definitions`` and ``GET …/{name}``: a definition gets its
  ``fullyQualifiedName`` ``pe{portal_id}_{name}``; ``POST …/{name}/property`` adds a property.
- ``POST /events/v3/send``: 204. The ``eventName`` must be a defined fully qualified name, the
  properties defined on it, and one of ``email``/``utk``/``objectId`` given. A ``uuid`` already
  accepted for the event type within a year is rejected: "the first will be accepted and all
  others will be rejected" (HubSpot's reference of the ``uuid`` field). How the rejection
  shows is not documented (the endpoint documents a 204 and validation errors, and processes
  occurrences after answering): here the repeat is answered 204 and dropped.
- ``behavioral_events=False``: an account without Marketing Hub Enterprise. Every
  ``/events/v3/`` call is answered 403 with category ``MISSING_SCOPES``; the exact answer of
  such an account is not documented where we could check (an assumption of this fake).

State: ``contacts`` (id -> ``{"email", "properties"}``), ``properties`` (name -> definition),
``definitions`` (name -> definition) and ``occurrences`` (the accepted events, in order).
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from .base import Recorded, Refused, Reply
from .ratelimit_events import RateLimits, limited

BATCH_MAX = 100
NAME = re.compile(r"[a-z][a-z0-9_]*")
PROPERTY_TYPES = ("string", "number", "bool", "enumeration", "datetime", "date")
EVENT_PROPERTY_TYPES = ("string", "number", "bool", "enumeration", "datetime")
FIELD_TYPES = ("text", "textarea", "number", "booleancheckbox", "select", "radio", "checkbox", "date", "file",
               "calculation_equation", "phonenumber", "html")
BUILT_IN = ("email", "firstname", "lastname", "phone")


class HubSpotEvents:
    """Mixed into HubSpotFake (which brings lock, clock, error, invalid, _json, _page, next_id)."""

    contacts: dict[str, dict]
    properties: dict[str, dict]
    definitions: dict[str, dict]
    occurrences: list[dict]

    def _init_events(self, portal_id: int, behavioral_events: bool) -> None:
        self.portal_id = portal_id
        self.behavioral_events = behavioral_events
        self.contacts = {}
        self.properties = {n: {"name": n, "label": n.title(), "type": "string", "fieldType": "text",
                               "groupName": "contactinformation", "hubspotDefined": True} for n in BUILT_IN}
        self.definitions = {}
        self.occurrences = []
        self.received: Counter = Counter()  # uuid -> accepted sends carrying it, before the dedup
        # 190 requests per 10 s (Professional/Enterprise), over every endpoint here; enforced when rate.enforce
        self.rate = RateLimits({"api": [(190, 10)]})

    def event_routes(self) -> list[tuple[str, str, Callable[..., Reply]]]:
        routes = [("GET", r"/crm/v3/properties/contacts", self.list_properties),
                ("POST", r"/crm/v3/properties/contacts", self.create_property),
                ("POST", r"/crm/v3/objects/contacts/batch/upsert", self.upsert_contacts),
                ("POST", r"/crm/v3/objects/contacts/batch/update", self.update_contacts),
                ("GET", r"/events/v3/event-definitions", self.list_definitions),
                ("POST", r"/events/v3/event-definitions", self.create_definition),
                ("GET", r"/events/v3/event-definitions/([^/]+)", self.get_definition),
                ("POST", r"/events/v3/event-definitions/([^/]+)/property", self.add_event_property),
                ("POST", r"/events/v3/send", self.send_event)]
        return [(m, path, limited(self, "api", h)) for m, path, h in routes]

    # ------------------------------------------------------------ test helpers
    def contact(self, email: str) -> dict | None:
        """A contact's properties by email, or None."""
        with self.lock:  # type: ignore[attr-defined]
            found = next((c for c in self.contacts.values() if c["email"] == email), None)
            return None if found is None else copy.deepcopy(found["properties"])

    def add_property(self, name: str, type_: str = "string") -> None:
        """A contact property that already exists in the account."""
        with self.lock:  # type: ignore[attr-defined]
            self.properties[name] = {"name": name, "label": name, "type": type_, "fieldType": "text",
                                     "groupName": "contactinformation"}

    def add_definition(self, name: str, properties: dict[str, str]) -> str:
        """An event definition that already exists (property name -> type); its fully qualified name."""
        with self.lock:  # type: ignore[attr-defined]
            fqn = f"pe{self.portal_id}_{name}"
            self.definitions[name] = {"id": str(self.next_id("definition", 1001)), "name": name, "label": name,  # type: ignore
                                      "fullyQualifiedName": fqn, "primaryObject": "CONTACT", "archived": False,
                                      "properties": [{"name": k, "label": k, "type": t} for k, t in properties.items()]}
            return fqn

    def _no_events(self, req: Recorded) -> None:
        if not self.behavioral_events and req.path.startswith("/events/v3/"):
            raise Refused(self.error(403, "This account does not have access to custom behavioral events "  # type: ignore
                                          "(Marketing Hub Enterprise).", code="MISSING_SCOPES"))

    # ------------------------------------------------------------ contact properties
    def list_properties(self, req: Recorded) -> Reply:
        return Reply(200, {"results": copy.deepcopy(list(self.properties.values()))})

    def create_property(self, req: Recorded) -> Reply:
        body = self._json(req)  # type: ignore[attr-defined]
        errors = _required(body, ("name", "label", "type", "fieldType", "groupName"))
        if not errors:
            if not isinstance(body["name"], str) or not NAME.fullmatch(body["name"]):
                errors.append(_err("name must be lowercase letters, digits and _", "name", "INVALID_PROPERTY_NAME"))
            if body["type"] not in PROPERTY_TYPES:
                errors.append(_err(f"type must be one of {', '.join(PROPERTY_TYPES)}", "type", "INVALID_ENUM"))
            if body["fieldType"] not in FIELD_TYPES:
                errors.append(_err(f"fieldType must be one of {', '.join(FIELD_TYPES)}", "fieldType",
                                   "INVALID_ENUM"))
        if errors:
            raise self.invalid(errors)  # type: ignore[attr-defined]
        if body["name"] in self.properties:
            raise Refused(self.error(409, f"A property named '{body['name']}' already exists.",  # type: ignore
                                     code="CONFLICT"))
        prop = {k: body[k] for k in ("name", "label", "type", "fieldType", "groupName")}
        prop["description"] = body.get("description", "")
        self.properties[prop["name"]] = prop
        return Reply(201, copy.deepcopy(prop))

    # ------------------------------------------------------------ contacts
    def upsert_contacts(self, req: Recorded) -> Reply:
        inputs = self._inputs(req)
        for i, item in enumerate(inputs):
            if item.get("idProperty") != "email" or not isinstance(item.get("id"), str) or "@" not in item["id"]:
                raise self.invalid([_err("idProperty must be email and id an email address",  # type: ignore
                                         f"inputs[{i}]", "INVALID_ID")])
        results = []
        for item in inputs:
            cid = next((k for k, c in self.contacts.items() if c["email"] == item["id"].lower()), None)
            if cid is None:
                cid = str(self.next_id("contact", 101))  # type: ignore[attr-defined]
                self.contacts[cid] = {"email": item["id"].lower(), "properties": {"email": item["id"].lower()}}
            results.append(self._write(cid, item.get("properties") or {}))
        return Reply(200, self._batch(results))

    def update_contacts(self, req: Recorded) -> Reply:
        inputs = self._inputs(req)
        missing = [i for i, item in enumerate(inputs) if str(item.get("id")) not in self.contacts]
        if missing:
            raise self.invalid([_err(f"no contact with id {inputs[i].get('id')}", f"inputs[{i}].id",  # type: ignore
                                     "OBJECT_NOT_FOUND") for i in missing])
        return Reply(200, self._batch([self._write(str(item["id"]), item.get("properties") or {})
                                       for item in inputs]))

    def _inputs(self, req: Recorded) -> list[dict]:
        body = self._json(req)  # type: ignore[attr-defined]
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            raise self.invalid([_err("inputs is required", "inputs", "REQUIRED_FIELD")])  # type: ignore
        if len(inputs) > BATCH_MAX:
            raise self.invalid([_err(f"at most {BATCH_MAX} inputs", "inputs", "TOO_MANY")])  # type: ignore
        errors = []
        for i, item in enumerate(inputs):
            props = item.get("properties") if isinstance(item, dict) else None
            if not isinstance(props, dict):
                errors.append(_err("properties must be an object", f"inputs[{i}].properties", "INVALID_TYPE"))
                continue
            for name, value in props.items():
                if name not in self.properties:
                    errors.append(_err(f'Property "{name}" does not exist', f"inputs[{i}].properties.{name}",
                                       "PROPERTY_DOESNT_EXIST"))
                elif value is not None and not isinstance(value, (str, int, float, bool)):
                    errors.append(_err(f'Property "{name}" must be a string, number or boolean',
                                       f"inputs[{i}].properties.{name}", "INVALID_TYPE"))
        if errors:
            raise self.invalid(errors, "Property values were not valid")  # type: ignore[attr-defined]
        return inputs

    def _write(self, cid: str, props: dict) -> dict:
        contact = self.contacts[cid]
        for k, v in props.items():
            contact["properties"][k] = "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        now = self.clock.iso()  # type: ignore[attr-defined]
        return {"id": cid, "properties": copy.deepcopy(contact["properties"]), "createdAt": now, "updatedAt": now,
                "archived": False}

    def _batch(self, results: list[dict]) -> dict:
        now = self.clock.iso()  # type: ignore[attr-defined]
        return {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}

    # ------------------------------------------------------------ event definitions
    def list_definitions(self, req: Recorded) -> Reply:
        self._no_events(req)
        return Reply(200, self._page(req, list(self.definitions.values())))  # type: ignore[attr-defined]

    def get_definition(self, req: Recorded, name: str) -> Reply:
        self._no_events(req)
        found = self.definitions.get(name) or next(
            (d for d in self.definitions.values() if d["fullyQualifiedName"] == name), None)
        if found is None:
            return self.error(404, f"No event definition named {name}")  # type: ignore[attr-defined]
        return Reply(200, copy.deepcopy(found))

    def create_definition(self, req: Recorded) -> Reply:
        self._no_events(req)
        body = self._json(req)  # type: ignore[attr-defined]
        errors = _required(body, ("label",))
        name = body.get("name") or re.sub(r"[^a-z0-9_]+", "_", str(body.get("label", "")).lower()).strip("_")
        if not NAME.fullmatch(name or ""):
            errors.append(_err("name must be lowercase letters, digits and _", "name", "INVALID_NAME"))
        props = body.get("propertyDefinitions") or []
        for i, p in enumerate(props if isinstance(props, list) else []):
            if not isinstance(p, dict) or not NAME.fullmatch(str(p.get("name", ""))):
                errors.append(_err("a property name is lowercase letters, digits and _",
                                   f"propertyDefinitions[{i}].name", "INVALID_NAME"))
            elif p.get("type") not in EVENT_PROPERTY_TYPES:
                errors.append(_err(f"type must be one of {', '.join(EVENT_PROPERTY_TYPES)}",
                                   f"propertyDefinitions[{i}].type", "INVALID_ENUM"))
        if errors:
            raise self.invalid(errors)  # type: ignore[attr-defined]
        if name in self.definitions:
            raise Refused(self.error(409, f"An event named {name} already exists.", code="CONFLICT"))  # type: ignore
        now = self.clock.iso()  # type: ignore[attr-defined]
        definition = {"id": str(self.next_id("definition", 1001)), "name": name, "label": body["label"],  # type: ignore
                      "description": body.get("description", ""), "primaryObject": body.get("primaryObject", "CONTACT"),
                      "fullyQualifiedName": f"pe{self.portal_id}_{name}", "archived": False, "createdAt": now,
                      "properties": [{"name": p["name"], "label": p.get("label", p["name"]), "type": p["type"]}
                                     for p in props]}
        self.definitions[name] = definition
        return Reply(201, copy.deepcopy(definition))

    def add_event_property(self, req: Recorded, name: str) -> Reply:
        self._no_events(req)
        body = self._json(req)  # type: ignore[attr-defined]
        definition = self.definitions.get(name)
        if definition is None:
            return self.error(404, f"No event definition named {name}")  # type: ignore[attr-defined]
        errors = _required(body, ("name", "label", "type"))
        if not errors and not NAME.fullmatch(str(body["name"])):
            errors.append(_err("a property name is lowercase letters, digits and _", "name", "INVALID_NAME"))
        if not errors and body["type"] not in EVENT_PROPERTY_TYPES:
            errors.append(_err(f"type must be one of {', '.join(EVENT_PROPERTY_TYPES)}", "type", "INVALID_ENUM"))
        if errors:
            raise self.invalid(errors)  # type: ignore[attr-defined]
        if any(p["name"] == body["name"] for p in definition["properties"]):
            raise Refused(self.error(409, f"{name} already has a property {body['name']}.", code="CONFLICT"))  # type: ignore
        prop = {"name": body["name"], "label": body["label"], "type": body["type"]}
        definition["properties"].append(prop)
        return Reply(201, copy.deepcopy(prop))

    # ------------------------------------------------------------ occurrences
    def send_event(self, req: Recorded) -> Reply:
        self._no_events(req)
        body = self._json(req)  # type: ignore[attr-defined]
        errors = _required(body, ("eventName",))
        if not any(body.get(k) for k in ("email", "utk", "objectId")):
            errors.append(_err("one of email, utk or objectId is required", "email", "REQUIRED_FIELD"))
        definition = next((d for d in self.definitions.values() if d["fullyQualifiedName"] == body.get("eventName")),
                          None)
        if body.get("eventName") and definition is None:
            errors.append(_err(f"No event definition with the name {body['eventName']}", "eventName",
                               "EVENT_NOT_FOUND"))
        props = body.get("properties") or {}
        if not isinstance(props, dict):
            errors.append(_err("properties must be an object", "properties", "INVALID_TYPE"))
        elif definition is not None:
            known = {p["name"] for p in definition["properties"]}
            errors += [_err(f"Property {k} is not defined on {definition['name']}", f"properties.{k}",
                            "PROPERTY_DOESNT_EXIST") for k in props if k not in known]
        if errors:
            raise self.invalid(errors)  # type: ignore[attr-defined]
        uid = body.get("uuid")
        if uid:
            self.received[uid] += 1
        if uid and any(o["eventName"] == body["eventName"] and o["uuid"] == uid for o in self.occurrences):
            return Reply(204, None)  # the first of a uuid is kept; this one is dropped
        self.occurrences.append({"eventName": body["eventName"], "uuid": uid, "email": body.get("email"),
                                 "properties": copy.deepcopy(props), "occurredAt": body.get("occurredAt")})
        return Reply(204, None)


def _err(message: str, where: str, code: str) -> dict[str, Any]:
    return {"message": message, "in": where, "code": code}


def _required(body: Any, names: tuple[str, ...]) -> list[dict]:
    if not isinstance(body, dict):
        return [_err("the body must be an object", "body", "INVALID_TYPE")]
    return [_err(f"{n} is required", n, "REQUIRED_FIELD") for n in names if body.get(n) in (None, "")]
