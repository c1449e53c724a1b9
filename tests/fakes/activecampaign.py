"""A fake ActiveCampaign API v3 (``https://ACCOUNT.api-us1.com/api/3``): messages, custom
fields, tags and event names; for the relay, contacts, field values, the tracking switch and
``trackcmp.net/event`` (activecampaign_events.py).

Requests are validated against ``specs/activecampaign.json`` (ActiveCampaign's published
OpenAPI, cut to these operations) with openapi-core. Lists answer
``{"<items>": [...], "meta": {"total": "N"}}`` and page with ``limit``/``offset``: a page
holds at most ``page_size`` items whatever ``limit`` asks (ActiveCampaign caps it too, at
100), so advance ``offset`` by the number of items received.

Statuses as ActiveCampaign documents them: a missing or wrong ``Api-Token`` is 403, a
request the spec refuses is 422 (set ``AUTH_STATUS``/``INVALID_STATUS`` to change them).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from .activecampaign_events import TRACK_PATH, ActiveCampaignEvents
from .base import FakeServer, Recorded, Reply, SpecValidator, first

FIELD_TYPES = ("dropdown", "hidden", "checkbox", "date", "text", "datetime", "textarea", "NULL", "listbox", "radio",
               "number")


class ActiveCampaignFake(ActiveCampaignEvents, FakeServer):
    """Fake ActiveCampaign account; ``key`` is the ``Api-Token`` it accepts. ``fake.url`` is the
    account URL (what ``ACTIVECAMPAIGN_API_URL`` holds); the API is under ``/api/3``.

    State: ``messages``, ``fields``, ``tags`` (id -> object as the API returns it) and
    ``events`` (a list of ``{"name": ...}``, duplicates kept so tests can see them).
    """

    vendor = "activecampaign"
    NAMED = {"messages": "name", "fields": "perstag", "tags": "tag", "events": "name"}
    AUTH_STATUS = 403
    INVALID_STATUS = 422
    PREFIX = "/api/3"

    def __init__(self, key: str, *, account_id: str = "1000001", event_key: str = "evkey0123456789abcdef",
                 tracking: bool = False, **options: Any):
        super().__init__(key, **options)
        self.spec = SpecValidator("activecampaign.json", "https://yourAccountName.api-us1.com")
        self.messages: dict[str, dict] = {}
        self.fields: dict[str, dict] = {}
        self.tags: dict[str, dict] = {}
        self.events: list[dict] = []
        # the tracking switch, contacts, field values and tracked events (activecampaign_events.py)
        self._init_events(account_id, event_key, tracking)

    # ------------------------------------------------------------ test helpers
    def _state(self) -> dict[str, Any]:
        return {"messages": self.messages, "fields": self.fields, "tags": self.tags, "events": self.events}

    def add_event(self, name: str) -> None:
        """An event name that already exists in the account."""
        with self.lock:
            self.events.append({"name": name})

    def add_message(self, name: str, html: str = "<p>old</p>") -> str:
        """A campaign message that already exists (made later than any before it); its id."""
        with self.lock:
            mid = str(self.next_id("message"))
            now = self.clock.iso()
            self.messages[mid] = {"id": mid, "name": name, "cdate": now, "mdate": now, "subject": "", "html": html,
                                  "text": "", "fromname": "", "fromemail": "", "reply2": "", "preheader_text": ""}
            return mid

    def ui_edit_message(self, name: str, edit: Callable[[str], str], **fields: str) -> None:
        """A person edits a campaign message in ActiveCampaign's designer and saves it. How the designer
        rewrites HTML is not documented; this models a harsh one that drops every HTML comment (Outlook's
        conditional ones too), so that push's fallback place for its fingerprint is what is tested."""
        with self.lock:
            (m,) = [m for m in self.messages.values() if m["name"] == name]
            m["html"] = re.sub(r"<!--.*?-->", "", edit(m["html"]), flags=re.DOTALL)
            m.update(fields)
            m["mdate"] = self.clock.iso()

    def add_field(self, perstag: str, title: str | None = None, field_type: str = "text") -> str:
        """A custom field that already exists; its id."""
        with self.lock:
            return self._new_field({"title": title or perstag.title(), "type": field_type, "perstag": perstag})["id"]

    def add_tag(self, tag: str, tag_type: str = "contact") -> str:
        """A tag that already exists; its id."""
        with self.lock:
            return self._new_tag({"tag": tag, "tagType": tag_type})["id"]

    # ------------------------------------------------------------ errors
    def error(self, status: int, detail: str, *, pointer: str | None = None, code: str | None = None) -> Reply:
        if status in (400, 422):
            err: dict[str, Any] = {"title": detail, "detail": "", "code": code or "invalid"}
            if pointer is not None:
                err["source"] = {"pointer": pointer}
            return Reply(status, {"errors": [err]})
        return Reply(status, {"message": detail})

    def fault_reply(self, kind: str, seconds: float) -> Reply:
        if kind == "429":
            return Reply(429, {"message": "Too Many Requests"}, headers={"Retry-After": f"{seconds:g}"})
        return Reply(500, {"message": "An unexpected error occurred."})

    # ------------------------------------------------------------ request flow
    def authorize(self, req: Recorded) -> Reply | None:
        if req.path == TRACK_PATH:
            return None  # trackcmp.net: actid and key travel in the form
        token = req.header("Api-Token")
        if token is None or token.strip() != self.key:
            return self.error(self.AUTH_STATUS, "You are not authorized to access this resource")
        return None

    def dispatch(self, req: Recorded) -> Reply:
        if req.path == TRACK_PATH:
            return self.track_event(req) if req.method == "POST" else Reply(405, {})
        problems = self.spec.problems(req)
        if problems:
            p = problems[0]
            if p.kind == "path":
                return self.error(404, f"{req.path} is not an endpoint of this API (as the vendored spec has it)")
            if p.kind == "method":
                return self.error(405, f"{req.method} is not allowed on {req.path}")
            return self.error(self.INVALID_STATUS, p.detail, pointer=p.pointer or p.parameter)
        routes: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", "/messages", self.list_messages),
            ("POST", "/messages", self.create_message),
            ("GET", "/messages/([^/]+)", self.get_message),
            ("PUT", "/messages/([^/]+)", self.update_message),
            ("DELETE", "/messages/([^/]+)", self.delete_message),
            ("GET", "/fields", self.list_fields),
            ("POST", "/fields", self.create_field),
            ("GET", "/tags", self.list_tags),
            ("POST", "/tags", self.create_tag),
            ("GET", "/eventTrackingEvents", self.list_events),
            ("POST", "/eventTrackingEvents", self.create_event),
            *self.event_routes(),
        ]
        path = req.path[len(self.PREFIX):]
        for method, pattern, fn in routes:
            m = re.fullmatch(pattern, path)
            if m and method == req.method:
                return fn(req, *m.groups())
        return self.error(405, f"{req.method} is not allowed on {req.path}")

    def check_response(self, req: Recorded, reply: Reply) -> list[str]:
        if reply.status >= 300:
            # error bodies are informal in this spec (POST /fields' 422 is a oneOf of three identical
            # schemas, which nothing can match exactly once)
            return []
        return self.spec.response_problems(req, reply)

    def _link(self, *parts: str) -> str:
        return f"{self.url}{self.PREFIX}/" + "/".join(parts)

    def _list(self, req: Recorded, key: str, items: list[dict], total_as_int: bool = False,
              extra: dict | None = None) -> Reply:
        def number(name: str) -> int | None:
            v = first(req.query, name)
            return int(v) if v is not None and re.fullmatch(r"\d+", v) else None

        offset = number("offset") or 0
        chunk, _ = self.page(items, offset, number("limit"))
        total: int | str = len(items) if total_as_int else str(len(items))
        return Reply(200, {**(extra or {}), key: copy.deepcopy(chunk), "meta": {"total": total}})

    # ------------------------------------------------------------ messages
    def list_messages(self, req: Recorded) -> Reply:
        return self._list(req, "messages", list(self.messages.values()))

    def get_message(self, req: Recorded, mid: str) -> Reply:
        if mid not in self.messages:
            return self.error(404, f"No Result found for Message with id {mid}")
        return Reply(200, {"message": copy.deepcopy(self.messages[mid])})

    def create_message(self, req: Recorded) -> Reply:
        body = req.json["message"]
        mid = str(self.next_id("message"))
        now = self.clock.iso()
        msg = {"userid": "1", "ed_instanceid": "0", "ed_version": "1", "cdate": now, "mdate": now, "name": "",
               "fromname": "", "fromemail": "", "reply2": "", "priority": "3", "charset": "utf-8",
               "encoding": "quoted-printable", "format": "mime", "subject": "", "preheader_text": "", "text": "",
               "html": "", "htmlfetch": "now", "textfetch": "now", "hidden": "0", "preview_mime": "",
               "preview_data": "", "links": {"user": self._link("messages", mid, "user")}, "id": mid, "user": "1"}
        self._apply_message(msg, body)
        self.messages[mid] = msg
        return Reply(201, {"message": copy.deepcopy(msg)})

    def update_message(self, req: Recorded, mid: str) -> Reply:
        if mid not in self.messages:
            return self.error(404, f"No Result found for Message with id {mid}")
        msg = self.messages[mid]
        self._apply_message(msg, req.json.get("message") or {})
        msg["mdate"] = self.clock.iso()
        return Reply(200, {"message": copy.deepcopy(msg)})

    def delete_message(self, req: Recorded, mid: str) -> Reply:
        if mid not in self.messages:
            return self.error(404, f"No Result found for Message with id {mid}")
        del self.messages[mid]
        return Reply(200, {})

    @staticmethod
    def _apply_message(msg: dict, body: dict) -> None:
        """Copy the fields the API stores; the spec's ``email`` is the sender, stored as ``fromemail``."""
        if body.get("email") and not body.get("fromemail"):
            msg["fromemail"] = body["email"]
        for k in ("name", "fromname", "fromemail", "reply2", "subject", "preheader_text", "text", "html"):
            if k in body and body[k] is not None:
                msg[k] = str(body[k])

    # ------------------------------------------------------------ fields
    def list_fields(self, req: Recorded) -> Reply:
        items = list(self.fields.values())
        perstag = first(req.query, "filters[perstag]")
        if perstag is not None:
            items = [f for f in items if f["perstag"].upper() == perstag.strip("%").upper()]
        return self._list(req, "fields", items, extra={"fieldOptions": [], "fieldRels": []})

    def create_field(self, req: Recorded) -> Reply:
        body = req.json["field"]
        if body["type"] not in FIELD_TYPES:
            return self.error(self.INVALID_STATUS, f"Field type {body['type']!r} is not one of {', '.join(FIELD_TYPES)}",
                              pointer="/field/type", code="field_invalid")
        if not body["title"].strip():
            return self.error(self.INVALID_STATUS, "Field title is required", pointer="/field/title",
                              code="field_missing")
        field = self._new_field(body)
        return Reply(201, {"field": copy.deepcopy(field)})

    def _new_field(self, body: dict) -> dict:
        fid = str(self.next_id("field"))
        now = self.clock.iso()
        perstag = body.get("perstag") or re.sub(r"[^A-Z0-9]+", "_", body["title"].upper()).strip("_")
        flag = {True: "1", False: "0", None: "0"}
        field = {"title": body["title"], "descript": body.get("descript"), "type": body["type"], "isrequired": "0",
                 "perstag": perstag, "defval": body.get("defval"), "show_in_list": flag[body.get("show_in_list")],
                 "rows": str(body.get("rows") or 0), "cols": str(body.get("cols") or 0),
                 "visible": flag[body.get("visible", True)], "service": body.get("service") or "",
                 "ordernum": str(body.get("ordernum") or len(self.fields) + 1), "cdate": now, "udate": now,
                 "options": [], "relations": [],
                 "links": {"options": self._link("fields", fid, "options"),
                           "relations": self._link("fields", fid, "relations")}, "id": fid}
        self.fields[fid] = field
        return field

    # ------------------------------------------------------------ tags
    def list_tags(self, req: Recorded) -> Reply:
        items = list(self.tags.values())
        search = first(req.query, "search")
        if search is not None:
            items = [t for t in items if search.lower() in t["tag"].lower()]
        for name, values in req.query.items():
            m = re.fullmatch(r"filters\[search\]\[(\w+)\]", name)
            if m:
                items = [t for t in items if _tag_match(m.group(1), t["tag"], values[0])]
        order = first(req.query, "orders[search]")
        if order in ("asc", "desc"):
            items.sort(key=lambda t: t["tag"].lower(), reverse=order == "desc")
        elif order == "weight" and search is not None:
            s = search.lower()
            items.sort(key=lambda t: (t["tag"].lower() != s, not t["tag"].lower().startswith(s)))
        return self._list(req, "tags", items)

    def create_tag(self, req: Recorded) -> Reply:
        body = req.json.get("tag") or {}
        if not str(body.get("tag") or "").strip():
            return self.error(self.INVALID_STATUS, "Tag name is required", pointer="/tag/tag", code="field_missing")
        if body.get("tagType", "contact") not in ("contact", "template"):
            return self.error(self.INVALID_STATUS, "tagType must be contact or template", pointer="/tag/tagType",
                              code="field_invalid")
        return Reply(201, {"tag": copy.deepcopy(self._new_tag(body))})

    def _new_tag(self, body: dict) -> dict:
        tid = str(self.next_id("tag"))
        tag = {"tagType": body.get("tagType") or "contact", "tag": body["tag"], "description": body.get("description")
               or "", "cdate": self.clock.iso(), "links": {"contactGoalTags": self._link("tags", tid, "contactGoalTags")},
               "id": tid}
        self.tags[tid] = tag
        return tag

    # ------------------------------------------------------------ event names
    def list_events(self, req: Recorded) -> Reply:
        # the spec's example gives this total as a number, unlike the other lists
        return self._list(req, "eventTrackingEvents", self.events, total_as_int=True)

    def create_event(self, req: Recorded) -> Reply:
        name = req.json["eventTrackingEvent"]["name"]
        if not name.strip():
            return self.error(self.INVALID_STATUS, "Event name is required", pointer="/eventTrackingEvent/name",
                              code="field_missing")
        self.events.append({"name": name})
        return Reply(201, {"eventTrackingEvent": {"name": name}})


def _tag_match(op: str, tag: str, value: str) -> bool:
    t, v = tag.lower(), value.lower()
    tests = {"eq": t == v, "neq": t != v, "lt": t < v, "lte": t <= v, "gt": t > v, "gte": t >= v,
             "contains": v in t, "starts_with": t.startswith(v)}
    return tests.get(op, True)
