"""A fake Klaviyo API (revision 2026-07-15): templates, metrics, flows and flow actions; events
(Create Event and bulk create jobs: klaviyo_events.py).

Every request is validated against ``specs/klaviyo.json`` (Klaviyo's OpenAPI, cut to
these operations) with openapi-core. Answers are JSON:API documents; lists page with
``links.next`` (an absolute URL carrying ``page[cursor]``), at most ``page_size`` items a
page whatever ``page[size]`` asks. Paths are the spec's (``/api/templates``); a trailing
slash, as Klaviyo's SDKs send, is accepted too.

    with KlaviyoFake("pk_test") as fake:
        metric_id = fake.add_metric("Placed Order")
        ...  # point the client at fake.url
        assert fake.writes() == []
"""

from __future__ import annotations

import copy
import random
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .base import FakeServer, Recorded, Refused, Reply, SpecValidator, decode_cursor, encode_cursor, first
from .klaviyo_events import KlaviyoEvents

JSONAPI = "application/vnd.api+json"
REVISION = re.compile(r"\d{4}-\d{2}-\d{2}(\.pre)?")
CMP = ("equals", "greater-or-equal", "greater-than", "less-or-equal", "less-than")
# Allowed filter fields and operators, from each operation's ``filter`` parameter in the spec.
FILTERS: dict[str, dict[str, tuple[str, ...]]] = {
    "template": {"id": ("any", "equals"), "name": ("any", "contains", "equals"), "created": CMP, "updated": CMP},
    "metric": {"integration.name": ("equals",), "integration.category": ("equals",)},
    "flow": {"id": ("any",), "name": ("contains", "ends-with", "equals", "starts-with"), "status": ("equals",),
             "archived": ("equals",), "created": CMP, "updated": CMP, "trigger_type": ("equals",)},
    "flow-action": {"id": ("any",), "action_type": ("any", "equals"), "status": ("equals",),
                    "created": CMP, "updated": CMP},
}
TRIGGER_TYPES = {"metric": "Metric", "list": "Added to List", "segment": "Added to List",
                 "profile-property-date": "Date Based", "custom-object-date": "Date Based",
                 "price-drop": "Price Drop", "low-inventory": "Low Inventory"}
FLOW_STATUSES = ("draft", "manual", "live")
ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


class KlaviyoFake(KlaviyoEvents, FakeServer):
    """Fake ``https://a.klaviyo.com``; the key is what ``Authorization: Klaviyo-API-Key <key>`` must carry.

    State: ``templates``, ``metrics``, ``flows`` (id -> attributes; a flow's ``action_ids``
    list its actions in order) and ``actions`` (id -> ``{"flow_id", "definition", ...}``).
    ``flow_definition(id)`` gives a flow's definition as GET returns it.
    """

    vendor = "klaviyo"
    NAMED = {"templates": "name", "metrics": "name", "flows": "name"}

    def __init__(self, key: str, **options: Any):
        super().__init__(key, **options)
        self.spec = SpecValidator("klaviyo.json", "https://a.klaviyo.com", content_types={"application/json": JSONAPI})
        self.templates: dict[str, dict] = {}
        self.metrics: dict[str, dict] = {}
        self.flows: dict[str, dict] = {}
        self.actions: dict[str, dict] = {}
        self._rng = random.Random("klaviyo")
        self._init_events()  # events, profiles, bulk_jobs (klaviyo_events.py)

    # ------------------------------------------------------------ test helpers
    def add_metric(self, name: str, integration: str = "API", category: str = "API") -> str:
        """Create a metric (Klaviyo makes one when its first event arrives); its id."""
        with self.lock:
            mid = self._id()
            now = self.clock.iso()
            self.metrics[mid] = {"name": name, "created": now, "updated": now,
                                 "integration": {"object": "integration", "id": self._id(), "name": integration,
                                                 "category": category}}
            return mid

    def add_template(self, name: str, html: str, text: str | None = None) -> str:
        """Create a CODE template directly in the state; its id."""
        with self.lock:
            tid = self._id()
            now = self.clock.iso()
            self.templates[tid] = {"name": name, "editor_type": "CODE", "html": html, "text": text, "amp": None,
                                   "created": now, "updated": now}
            return tid

    def ui_edit_template(self, name: str, edit: Callable[[str], str], text: Callable[[str], str] | None = None) -> None:
        """A person edits a CODE template in Klaviyo's HTML editor and saves it. Klaviyo documents no
        rewriting of a CODE template's HTML, so it is stored as typed (comments included)."""
        with self.lock:
            (t,) = [t for t in self.templates.values() if t["name"] == name]
            t["html"] = edit(t["html"])
            if text is not None:
                t["text"] = text(t["text"] or "")
            t["updated"] = self.clock.iso()

    def ui_edit_flow_action(self, flow_name: str, action_type: str, data: dict, nth: int = 0) -> None:
        """A person changes a step's settings in the flow builder (the ``nth`` step of that type; ``data``
        is merged into the step's, object by object: ``{"message": {"subject_line": …}}`` changes a subject)."""
        with self.lock:
            (flow,) = [f for f in self.flows.values() if f["name"] == flow_name]
            steps = [self.actions[a] for a in flow["action_ids"] if self.actions[a]["definition"]["type"] == action_type]
            _deep_update(steps[nth]["definition"]["data"], copy.deepcopy(data))
            steps[nth]["updated"] = flow["updated"] = self.clock.iso()

    def flow_definition(self, flow_id: str) -> dict:
        """The flow's definition with real action ids, as ``additional-fields[flow]=definition`` returns it."""
        with self.lock:
            flow = self.flows[flow_id]
            return copy.deepcopy({**flow["definition"],
                                  "actions": [self.actions[a]["definition"] for a in flow["action_ids"]]})

    def _state(self) -> dict[str, Any]:
        return {"templates": self.templates, "metrics": self.metrics, "flows": self.flows, "actions": self.actions}

    # ------------------------------------------------------------ ids
    def _id(self) -> str:
        """A Klaviyo-looking six-character id, the same sequence in every run."""
        taken = self.templates.keys() | self.metrics.keys() | self.flows.keys() | self.profiles.keys()
        while True:
            out = "".join(self._rng.choice(ID_ALPHABET) for _ in range(6))
            if out not in taken:
                return out

    # ------------------------------------------------------------ errors
    def error(self, status: int, detail: str, *, pointer: str | None = None, code: str | None = None,
              parameter: str | None = None) -> Reply:
        titles = {400: "Invalid input.", 401: "Authentication credentials were not provided.",
                  404: "Not found.", 405: "Method not allowed.", 409: "Conflict.",
                  429: "Request was throttled.", 500: "A server error occurred."}
        codes = {400: "invalid", 401: "not_authenticated", 404: "not_found", 405: "method_not_allowed",
                 409: "conflict", 429: "throttled", 500: "error"}
        err: dict[str, Any] = {"id": str(uuid.UUID(int=self.next_id("error"))), "status": status,
                               "code": code or codes.get(status, "error"), "title": titles.get(status, "Error."),
                               "detail": detail}
        if pointer is not None:
            err["source"] = {"pointer": pointer}
        elif parameter is not None:
            err["source"] = {"parameter": parameter}
        return Reply(status, {"errors": [err]}, content_type=JSONAPI)

    def fault_reply(self, kind: str, seconds: float) -> Reply:
        if kind == "429":
            reply = self.error(429, f"Request was throttled. Expected available in {seconds:g} second"
                                    f"{'' if seconds == 1 else 's'}.", code="throttled")
            reply.headers["Retry-After"] = f"{seconds:g}"
            return reply
        return self.error(500, "Something went wrong.", code="error")

    def refuse(self, status: int, detail: str, **kw: Any) -> Refused:
        return Refused(self.error(status, detail, **kw))

    # ------------------------------------------------------------ request flow
    def authorize(self, req: Recorded) -> Reply | None:
        auth = req.header("Authorization") or ""
        scheme, _, key = auth.partition(" ")
        if not auth:
            return self.error(401, "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.",
                              pointer="/data/")
        if scheme != "Klaviyo-API-Key":
            return self.error(401, "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.",
                              pointer="/data/")
        if key.strip() != self.key:
            return self.error(401, "Incorrect authentication credentials.", code="authentication_failed",
                              pointer="/data/")
        return None

    @staticmethod
    def _path(req: Recorded) -> str:
        return req.path[:-1] if len(req.path) > 1 and req.path.endswith("/") else req.path

    def dispatch(self, req: Recorded) -> Reply:
        revision = req.header("revision")
        if revision is None:
            return self.error(400, "Missing revision header: send one such as revision: 2026-07-15.",
                              parameter="revision")
        if not REVISION.fullmatch(revision.strip()):
            return self.error(400, f"Invalid revision header: {revision!r}; use a date such as 2026-07-15.",
                              parameter="revision")
        path = self._path(req)
        problems = self.spec.problems(req, path)
        if problems:
            p = problems[0]
            if p.kind == "path":
                return self.error(404, f"{path} is not an endpoint of this API (as the vendored spec has it).")
            if p.kind == "method":
                return self.error(405, f"{req.method} is not allowed on {path}.")
            if p.pointer is not None:
                return self.error(400, p.detail, pointer=p.pointer)
            return self.error(400, p.detail, parameter=p.parameter)
        routes: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", r"/api/templates", self.list_templates),
            ("POST", r"/api/templates", self.create_template),
            ("GET", r"/api/templates/([^/]+)", self.get_template),
            ("PATCH", r"/api/templates/([^/]+)", self.update_template),
            ("DELETE", r"/api/templates/([^/]+)", self.delete_template),
            ("GET", r"/api/metrics", self.list_metrics),
            ("GET", r"/api/flows", self.list_flows),
            ("POST", r"/api/flows", self.create_flow),
            ("GET", r"/api/flows/([^/]+)", self.get_flow),
            ("PATCH", r"/api/flows/([^/]+)", self.update_flow),
            ("DELETE", r"/api/flows/([^/]+)", self.delete_flow),
            ("GET", r"/api/flows/([^/]+)/flow-actions", self.list_flow_actions),
            ("PATCH", r"/api/flow-actions/([^/]+)", self.update_flow_action),
            *self.event_routes(),
        ]
        for method, pattern, fn in routes:
            m = re.fullmatch(pattern, path)
            if m and method == req.method:
                return fn(req, *m.groups())
        return self.error(405, f"{req.method} is not allowed on {path}.")

    def check_response(self, req: Recorded, reply: Reply) -> list[str]:
        if any(k.startswith("fields[") for k in req.query):
            return []  # sparse fieldsets drop attributes the spec's response schemas call required
        return self.spec.response_problems(req, reply, self._path(req))

    # ------------------------------------------------------------ lists
    def _list(self, req: Recorded, kind: str, rows: list[tuple[str, dict]], render: Callable[[str, dict], dict],
              default_sort: str | None = None) -> Reply:
        flt = first(req.query, "filter")
        if flt:
            pred = self._filter(flt, kind)
            rows = [(i, o) for i, o in rows if pred(i, o)]
        sort = first(req.query, "sort") or default_sort
        if sort:
            key = sort.lstrip("-")
            rows.sort(key=lambda r: (str(r[0]) if key == "id" else str(r[1].get(key) or "")), reverse=sort[0] == "-")
        offset = 0
        cursor = first(req.query, "page[cursor]")
        if cursor:
            got = decode_cursor(cursor)
            if got is None:
                raise self.refuse(400, "Invalid page cursor.", parameter="page[cursor]")
            offset = got
        size = first(req.query, "page[size]")
        chunk, nxt = self.page(rows, offset, int(size) if size else None)
        links: dict[str, str] = {"self": self.link(req)}
        if nxt is not None:
            links["next"] = self.link(req, **{"page[cursor]": encode_cursor(nxt)})
        if offset > 0:
            prev = max(0, offset - self.page_size)
            links["prev"] = self.link(req, **{"page[cursor]": encode_cursor(prev) if prev else None})
        return Reply(200, {"data": [render(i, o) for i, o in chunk], "links": links}, content_type=JSONAPI)

    def _filter(self, text: str, kind: str) -> Callable[[str, dict], bool]:
        try:
            tree = _FilterParser(text).parse()
        except ValueError as e:
            raise self.refuse(400, f"Invalid filter provided: {e}", parameter="filter") from None
        allowed = FILTERS[kind]

        def check(node: tuple) -> None:
            op, args = node
            if op in ("and", "or", "not"):
                for a in args:
                    if not isinstance(a, tuple):
                        raise self.refuse(400, f"Invalid filter provided: {op}() takes filters", parameter="filter")
                    check(a)
                return
            fld = args[0] if args else None
            if not isinstance(fld, _Field) or len(args) != 2:
                raise self.refuse(400, f"Invalid filter provided: {op}() takes a field and a value",
                                  parameter="filter")
            if fld.name not in allowed:
                raise self.refuse(400, f"'{fld.name}' is not a valid field for the resource '{kind}'.",
                                  parameter="filter")
            if op not in allowed[fld.name]:
                raise self.refuse(400, f"'{op}' is not a valid operator for '{fld.name}' on the resource '{kind}'.",
                                  parameter="filter")
            if op == "any" and not isinstance(args[1], list):
                raise self.refuse(400, "Invalid filter provided: any() takes a list", parameter="filter")

        check(tree)
        getters = {"flow-action": _action_field}

        def evaluate(node: tuple, oid: str, obj: dict) -> bool:
            op, args = node
            if op == "and":
                return all(evaluate(a, oid, obj) for a in args)
            if op == "or":
                return any(evaluate(a, oid, obj) for a in args)
            if op == "not":
                return not evaluate(args[0], oid, obj)
            name, want = args[0].name, args[1]
            have = getters.get(kind, _field)(oid, obj, name)
            return _compare(op, have, want)

        return lambda oid, obj: evaluate(tree, oid, obj)

    @staticmethod
    def _fields(req: Recorded, kind: str, attrs: dict) -> dict:
        """Sparse fieldsets: ``fields[kind]=a,b`` keeps those attributes only."""
        wanted = first(req.query, f"fields[{kind}]")
        if not wanted:
            return attrs
        names = {w.split(".")[0] for w in wanted.split(",")}
        return {k: v for k, v in attrs.items() if k in names}

    @staticmethod
    def _additional(req: Recorded, kind: str) -> set[str]:
        return set(",".join(req.query.get(f"additional-fields[{kind}]", [])).split(",")) - {""}

    # ------------------------------------------------------------ templates
    def _template(self, req: Recorded, tid: str) -> dict:
        t = self.templates[tid]
        attrs = {k: t[k] for k in ("name", "editor_type", "html", "text", "amp", "created", "updated")}
        if "definition" in self._additional(req, "template") and t.get("definition") is not None:
            attrs["definition"] = t["definition"]
        return {"type": "template", "id": tid, "attributes": self._fields(req, "template", attrs),
                "links": {"self": f"{self.url}/api/templates/{tid}/"}}

    def list_templates(self, req: Recorded) -> Reply:
        return self._list(req, "template", list(self.templates.items()), lambda i, _: self._template(req, i))

    def get_template(self, req: Recorded, tid: str) -> Reply:
        if tid not in self.templates:
            return self.error(404, f"A template with id {tid} does not exist.")
        return Reply(200, {"data": self._template(req, tid), "links": {"self": self.link(req)}}, content_type=JSONAPI)

    def create_template(self, req: Recorded) -> Reply:
        data = req.json["data"]
        if data.get("type") != "template":
            return self.error(409, "The type of the resource must be 'template'.", pointer="/data/type")
        a = data["attributes"]
        editor = a["editor_type"]
        if editor not in ("CODE", "USER_DRAGGABLE", "SYSTEM_DRAGGABLE"):
            return self.error(400, f"'{editor}' is not a valid editor_type: CODE, USER_DRAGGABLE or SYSTEM_DRAGGABLE.",
                              pointer="/data/attributes/editor_type")
        if editor != "SYSTEM_DRAGGABLE" and not a.get("html"):
            return self.error(400, f"html is required for {editor} templates.", pointer="/data/attributes/html")
        if editor == "SYSTEM_DRAGGABLE" and (a.get("html") or a.get("amp")):
            return self.error(400, "html and amp are not allowed for SYSTEM_DRAGGABLE templates.",
                              pointer="/data/attributes/html")
        if editor == "SYSTEM_DRAGGABLE" and not a.get("definition"):
            return self.error(400, "definition is required for SYSTEM_DRAGGABLE templates.",
                              pointer="/data/attributes/definition")
        tid = self._id()
        now = self.clock.iso()
        self.templates[tid] = {"name": a["name"], "editor_type": editor, "html": a.get("html") or "",
                               "text": a.get("text"), "amp": a.get("amp"), "created": now, "updated": now,
                               "definition": a.get("definition") if editor == "SYSTEM_DRAGGABLE" else None}
        return Reply(201, {"data": self._template(req, tid), "links": {"self": f"{self.url}/api/templates/{tid}/"}},
                     content_type=JSONAPI)

    def update_template(self, req: Recorded, tid: str) -> Reply:
        data = req.json["data"]
        if tid not in self.templates:
            return self.error(404, f"A template with id {tid} does not exist.")
        if data.get("type") != "template" or data.get("id") != tid:
            return self.error(409, "The type and id in the body must match the URL.", pointer="/data/id")
        t, a = self.templates[tid], data["attributes"]
        if t["editor_type"] != "SYSTEM_DRAGGABLE" and a.get("definition") is not None:
            return self.error(400, f"definition is not allowed for {t['editor_type']} templates.",
                              pointer="/data/attributes/definition")
        if t["editor_type"] == "SYSTEM_DRAGGABLE" and (a.get("html") or a.get("amp")):
            return self.error(400, "html and amp are not allowed for SYSTEM_DRAGGABLE templates.",
                              pointer="/data/attributes/html")
        for k in ("name", "html", "text", "amp", "definition"):
            if k in a and a[k] is not None:
                t[k] = a[k]
        t["updated"] = self.clock.iso()
        return Reply(200, {"data": self._template(req, tid), "links": {"self": self.link(req)}}, content_type=JSONAPI)

    def delete_template(self, req: Recorded, tid: str) -> Reply:
        if tid not in self.templates:
            return self.error(404, f"A template with id {tid} does not exist.")
        del self.templates[tid]
        return Reply(204, None, content_type=JSONAPI)

    # ------------------------------------------------------------ metrics
    def _metric(self, req: Recorded, mid: str) -> dict:
        return {"type": "metric", "id": mid, "attributes": self._fields(req, "metric", dict(self.metrics[mid])),
                "links": {"self": f"{self.url}/api/metrics/{mid}/"}}

    def list_metrics(self, req: Recorded) -> Reply:
        return self._list(req, "metric", list(self.metrics.items()), lambda i, _: self._metric(req, i))

    # ------------------------------------------------------------ flows
    def _flow(self, req: Recorded, fid: str, with_definition: bool = False) -> dict:
        f = self.flows[fid]
        attrs = {k: f[k] for k in ("name", "status", "archived", "created", "updated", "trigger_type")}
        if with_definition or "definition" in self._additional(req, "flow"):
            attrs["definition"] = self.flow_definition(fid)
        rel: dict[str, Any] = {}
        for name in ("flow-actions", "tags"):
            rel[name] = {"links": {"self": f"{self.url}/api/flows/{fid}/relationships/{name}/",
                                   "related": f"{self.url}/api/flows/{fid}/{name}/"}}
        includes = set(",".join(req.query.get("include", [])).split(","))
        if "flow-actions" in includes:
            rel["flow-actions"]["data"] = [{"type": "flow-action", "id": a} for a in f["action_ids"]]
        if "tags" in includes:
            rel["tags"]["data"] = []
        return {"type": "flow", "id": fid, "attributes": self._fields(req, "flow", attrs), "relationships": rel,
                "links": {"self": f"{self.url}/api/flows/{fid}/"}}

    def _included(self, req: Recorded, fids: list[str]) -> list[dict] | None:
        if "flow-actions" not in set(",".join(req.query.get("include", [])).split(",")):
            return None
        return [self._flow_action(req, a) for fid in fids for a in self.flows[fid]["action_ids"]]

    def list_flows(self, req: Recorded) -> Reply:
        reply = self._list(req, "flow", list(self.flows.items()), lambda i, _: self._flow(req, i))
        included = self._included(req, [d["id"] for d in reply.body["data"]])
        if included is not None:
            reply.body["included"] = included
        return reply

    def get_flow(self, req: Recorded, fid: str) -> Reply:
        if fid not in self.flows:
            return self.error(404, f"A flow with id {fid} does not exist.")
        body: dict[str, Any] = {"data": self._flow(req, fid), "links": {"self": self.link(req)}}
        included = self._included(req, [fid])
        if included is not None:
            body["included"] = included
        return Reply(200, body, content_type=JSONAPI)

    def create_flow(self, req: Recorded) -> Reply:
        data = req.json["data"]
        if data.get("type") != "flow":
            return self.error(409, "The type of the resource must be 'flow'.", pointer="/data/type")
        a = data["attributes"]
        definition = copy.deepcopy(a["definition"])
        base = "/data/attributes/definition"
        triggers = definition.get("triggers") or []
        if len(triggers) != 1:
            return self.error(400, "A flow takes exactly one trigger.", pointer=f"{base}/triggers")
        self._check_refs(definition, base)
        actions = definition.get("actions") or []
        temp: dict[str, str] = {}
        for i, act in enumerate(actions):
            if act.get("id") is not None:
                return self.error(400, "id is not allowed on create: use temporary_id.",
                                  pointer=f"{base}/actions/{i}/id")
            tmp = act.get("temporary_id")
            if not tmp:
                return self.error(400, "Every new action needs a temporary_id.",
                                  pointer=f"{base}/actions/{i}/temporary_id")
            if tmp in temp:
                return self.error(400, f"temporary_id {tmp!r} is used twice.",
                                  pointer=f"{base}/actions/{i}/temporary_id")
            temp[tmp] = ""
        for i, act in enumerate(actions):
            for target in _link_targets(act.get("links")):
                if target not in temp:
                    return self.error(400, f"The link to {target!r} names no action of this flow.",
                                      pointer=f"{base}/actions/{i}/links")
        entry = definition.get("entry_action_id")
        if entry not in temp:
            return self.error(400, f"entry_action_id {entry!r} names no action of this flow.",
                              pointer=f"{base}/entry_action_id")
        for tmp in temp:
            temp[tmp] = str(self.next_id("flow-action", 90000001))
        fid = self._id()
        now = self.clock.iso()
        ids = []
        for act in actions:
            real = temp[act.pop("temporary_id")]
            act = {"id": real, **act}
            act["links"] = _relink(act.get("links"), temp)
            _give_ids(act, self)
            self.actions[real] = {"flow_id": fid, "definition": act, "created": now, "updated": now}
            ids.append(real)
        definition.pop("actions", None)
        definition["entry_action_id"] = temp[entry]
        self.flows[fid] = {"name": a["name"], "status": "draft", "archived": False, "created": now, "updated": now,
                           "trigger_type": TRIGGER_TYPES.get(triggers[0].get("type"), "Unconfigured"),
                           "definition": definition, "action_ids": ids}
        # create_flow answers the new definition (with real ids) whatever additional-fields says
        return Reply(201, {"data": self._flow(req, fid, with_definition=True),
                           "links": {"self": f"{self.url}/api/flows/{fid}/"}}, content_type=JSONAPI)

    def update_flow(self, req: Recorded, fid: str) -> Reply:
        data = req.json["data"]
        if fid not in self.flows:
            return self.error(404, f"A flow with id {fid} does not exist.")
        if data.get("type") != "flow" or data.get("id") != fid:
            return self.error(409, "The type and id in the body must match the URL.", pointer="/data/id")
        status = data["attributes"]["status"]
        if status not in FLOW_STATUSES:
            return self.error(400, f"'{status}' is not a valid status: draft, manual or live.",
                              pointer="/data/attributes/status")
        f = self.flows[fid]
        f["status"], f["updated"] = status, self.clock.iso()
        body = {"data": self._flow(req, fid), "links": {"self": self.link(req)}}
        body["data"]["attributes"].pop("definition", None)
        return Reply(200, body, content_type=JSONAPI)

    def delete_flow(self, req: Recorded, fid: str) -> Reply:
        if fid not in self.flows:
            return self.error(404, f"A flow with id {fid} does not exist.")
        for aid in self.flows.pop(fid)["action_ids"]:
            self.actions.pop(aid, None)
        return Reply(204, None, content_type=JSONAPI)

    # ------------------------------------------------------------ flow actions
    def _flow_action(self, req: Recorded, aid: str) -> dict:
        a = self.actions[aid]
        attrs = {"created": a["created"], "updated": a["updated"], "definition": copy.deepcopy(a["definition"])}
        return {"type": "flow-action", "id": aid, "attributes": self._fields(req, "flow-action", attrs),
                "relationships": {"flow": {"data": {"type": "flow", "id": a["flow_id"]},
                                           "links": {"self": f"{self.url}/api/flow-actions/{aid}/relationships/flow/",
                                                     "related": f"{self.url}/api/flow-actions/{aid}/flow/"}}},
                "links": {"self": f"{self.url}/api/flow-actions/{aid}/"}}

    def list_flow_actions(self, req: Recorded, fid: str) -> Reply:
        if fid not in self.flows:
            return self.error(404, f"A flow with id {fid} does not exist.")
        rows = [(a, self.actions[a]) for a in self.flows[fid]["action_ids"]]
        return self._list(req, "flow-action", rows, lambda i, _: self._flow_action(req, i))

    def update_flow_action(self, req: Recorded, aid: str) -> Reply:
        data = req.json["data"]
        if aid not in self.actions:
            return self.error(404, f"A flow action with id {aid} does not exist.")
        if data.get("type") != "flow-action" or data.get("id") != aid:
            return self.error(409, "The type and id in the body must match the URL.", pointer="/data/id")
        stored = self.actions[aid]
        new = copy.deepcopy(data["attributes"]["definition"])
        base = "/data/attributes/definition"
        if new.get("type") != stored["definition"]["type"]:
            return self.error(400, f"An action's type cannot change ({stored['definition']['type']} to "
                                   f"{new.get('type')}).", pointer=f"{base}/type")
        if new.get("id") not in (None, aid):
            return self.error(400, "definition.id must be the id of this action.", pointer=f"{base}/id")
        if new.get("temporary_id") is not None:
            return self.error(400, "temporary_id is only for creating a flow.", pointer=f"{base}/temporary_id")
        new.pop("temporary_id", None)
        self._check_refs(new, base)
        siblings = set(self.flows[stored["flow_id"]]["action_ids"])
        if new.get("links") is None:
            new["links"] = copy.deepcopy(stored["definition"].get("links"))
        for target in _link_targets(new["links"]):
            if target not in siblings:
                return self.error(400, f"The link to {target!r} names no action of this flow.",
                                  pointer=f"{base}/links")
        old_msg = (stored["definition"].get("data") or {}).get("message")
        new_msg = (new.get("data") or {}).get("message")
        if isinstance(old_msg, dict) and isinstance(new_msg, dict):
            if new_msg.get("id") not in (None, old_msg.get("id")):
                return self.error(400, "data.message.id must be the id of this action's message.",
                                  pointer=f"{base}/data/message/id")
            new_msg["id"] = old_msg.get("id")
        new["id"] = aid
        _give_ids(new, self)
        stored["definition"] = new
        stored["updated"] = self.clock.iso()
        return Reply(200, {"data": self._flow_action(req, aid), "links": {"self": self.link(req)}},
                     content_type=JSONAPI)

    def _check_refs(self, definition: Any, base: str) -> None:
        """Metric and template ids must exist, as Klaviyo checks them."""
        for pointer, key, value in _walk_ids(definition):
            if key == "metric" and value not in self.metrics:
                raise self.refuse(400, f"Metric {value!r} does not exist.", pointer=base + pointer)
            if key == "template" and value not in self.templates:
                raise self.refuse(400, f"Template {value!r} does not exist.", pointer=base + pointer)


# ---------------------------------------------------------------- flow definition helpers
def _deep_update(into: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _deep_update(into[k], v)
        else:
            into[k] = v


def _walk_ids(node: Any, pointer: str = "") -> list[tuple[str, str, str]]:
    """(pointer, "metric"|"template", id) for every metric and template a definition names."""
    out = []
    if isinstance(node, dict):
        if node.get("type") == "metric" and isinstance(node.get("id"), str):
            out.append((pointer + "/id", "metric", node["id"]))
        for k, v in node.items():
            if k == "metric_id" and isinstance(v, str):
                out.append((f"{pointer}/{k}", "metric", v))
            elif k == "template_id" and isinstance(v, str):
                out.append((f"{pointer}/{k}", "template", v))
            else:
                out += _walk_ids(v, f"{pointer}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _walk_ids(v, f"{pointer}/{i}")
    return out


def _link_targets(links: Any) -> list[str]:
    if isinstance(links, dict):
        return [t for v in links.values() for t in _link_targets(v)]
    if isinstance(links, list):
        return [t for v in links for t in _link_targets(v)]
    return [links] if isinstance(links, str) else []


def _relink(links: Any, ids: dict[str, str]) -> Any:
    if isinstance(links, dict):
        return {k: _relink(v, ids) for k, v in links.items()}
    if isinstance(links, list):
        return [_relink(v, ids) for v in links]
    return ids.get(links, links) if isinstance(links, str) else links


def _give_ids(action: dict, fake: KlaviyoFake) -> None:
    """A send-email action's message gets an id; nested new objects lose their temporary_id."""
    msg = (action.get("data") or {}).get("message") if action.get("type") == "send-email" else None
    if isinstance(msg, dict) and not msg.get("id"):
        msg["id"] = fake._id()

    def strip(o: Any) -> None:
        if isinstance(o, dict):
            if "temporary_id" in o:
                tmp = o.pop("temporary_id")
                o.setdefault("id", str(fake.next_id("flow-action", 90000001)) if tmp is not None else None)
            for v in o.values():
                strip(v)
        elif isinstance(o, list):
            for v in o:
                strip(v)

    strip(action.get("data"))


def _field(oid: str, obj: dict, name: str) -> Any:
    if name == "id":
        return oid
    value: Any = obj
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _action_field(oid: str, obj: dict, name: str) -> Any:
    d = obj["definition"]
    if name == "action_type":
        return d.get("type")
    if name == "status":
        return (d.get("data") or {}).get("status")
    return _field(oid, obj, name)


def _compare(op: str, have: Any, want: Any) -> bool:
    if op == "any":
        return have in want
    if op == "equals":
        return have == want or (isinstance(want, datetime) and _as_time(have) == want)
    if op == "contains":
        return isinstance(have, str) and str(want) in have
    if op == "starts-with":
        return isinstance(have, str) and have.startswith(str(want))
    if op == "ends-with":
        return isinstance(have, str) and have.endswith(str(want))
    h, w = _as_time(have), want if isinstance(want, datetime) else _as_time(want)
    if h is None or w is None:
        return False
    return {"greater-than": h > w, "greater-or-equal": h >= w, "less-than": h < w, "less-or-equal": h <= w}[op]


def _as_time(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v
    try:
        t = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=datetime.now().astimezone().tzinfo)


class _Field:
    def __init__(self, name: str):
        self.name = name


class _FilterParser:
    """Klaviyo's filter syntax: ``op(field,value)`` joined by commas (and), ``and()``, ``or()``, ``not()``."""

    TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(?P<punct>[(),\[\]])|"""
                       r"""(?P<word>[^\s(),\[\]'"]+))""")

    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = self.TOKEN.match(text, pos)
            if not m or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise ValueError(f"unexpected {text[pos:pos + 10]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ValueError(f"expected {value or 'more'}")
        self.i += 1
        return tok

    def parse(self) -> tuple:
        exprs = [self.expr()]
        while self.peek() is not None:
            self.take(",")
            exprs.append(self.expr())
        return exprs[0] if len(exprs) == 1 else ("and", exprs)

    def expr(self) -> tuple:
        kind, op = self.take()
        if kind != "word":
            raise ValueError(f"expected an operator, found {op!r}")
        self.take("(")
        args: list[Any] = []
        if op in ("and", "or", "not"):
            args.append(self.expr())
            while self.peek() == ("punct", ","):
                self.take(",")
                args.append(self.expr())
        else:
            kind, name = self.take()
            if kind != "word":
                raise ValueError(f"expected a field name, found {name!r}")
            args.append(_Field(name))
            self.take(",")
            args.append(self.value())
        self.take(")")
        return (op, args)

    def value(self) -> Any:
        kind, tok = self.take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", tok[1:-1])
        if tok == "[":
            items = []
            while self.peek() != ("punct", "]"):
                items.append(self.value())
                if self.peek() == ("punct", ","):
                    self.take(",")
            self.take("]")
            return items
        if kind != "word":
            raise ValueError(f"unexpected {tok!r}")
        if tok in ("true", "false"):
            return tok == "true"
        if tok == "null":
            return None
        if re.fullmatch(r"-?\d+(\.\d+)?", tok):
            return float(tok) if "." in tok else int(tok)
        t = _as_time(tok)
        if t is None:
            raise ValueError(f"{tok!r} is not a value (quote strings)")
        return t
