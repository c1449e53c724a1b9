"""Klaviyo push: CODE templates, metrics looked up by name, flows from the compiled definition.

Klaviyo cannot replace a flow's definition. A flow's remote name carries a hash of
its shape (``shop: Cart abandonment [3f9a1c]``): when only what flow actions can
change has changed (an email's template, subject, preview text), push updates those
actions; when the shape changed, it creates the new flow as a draft and names the
old one to retire. A flow goes live only with ``--live``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from mailwright.push import CREATE, MANUAL, UNCHANGED, UPDATE, Change, PushClient, duplicates
from mailwright.push.drift import DRIFTED, classify, fingerprint, json_diff, orphans, written
from mailwright.transport import EMPTY, BadAnswer, Limit, Transport, base_url, credential

from .flows import METRIC, TEMPLATE

REVISION = "2026-07-15"
JSONAPI = "application/vnd.api+json"
# documented per endpoint (x-klaviyo-ratelimit in the OpenAPI): a burst per second and a steady rate per minute
def _limits(burst: int, steady: int) -> tuple[Limit, Limit]:
    return Limit(burst, 1, burst=burst), Limit(steady, 60, burst=steady)


LIMITS = {
    "templates": _limits(75, 750),
    "metrics": _limits(10, 150),
    "flows": _limits(3, 60),
    "flows-create": _limits(1, 15),
    "flow-actions": _limits(3, 60),
}
MESSAGE_FIELDS = ("template_id", "subject_line", "preview_text", "name")
# what push reads of Klaviyo's answers (checked before use)
NAMED = {"id": str, "attributes": {"name": str}}
PAGE = {"data": [NAMED], "links?": {"next?": (str, type(None))}}
CREATED = {"data": {"id": str}}
FLOW = {"data": {"id": str, "attributes": {"name": str, "status?": (str, type(None)),
                                           "definition?": (dict, type(None))}}}


class KlaviyoPush(PushClient):
    label = "Klaviyo"
    credential_var = "KLAVIYO_API_KEY"

    def connect(self) -> Transport:
        env = self.ctx.env
        secret = credential(env, self.credential_var, self.label)
        base = base_url(env, "KLAVIYO_BASE_URL", "https://a.klaviyo.com", "https://a.klaviyo.com")
        headers = {"Authorization": f"Klaviyo-API-Key {secret.reveal()}", "revision": REVISION, "Accept": JSONAPI}
        return Transport(base, headers, secret, label=self.label, limits=LIMITS, log=self.ctx.log,
                         base_var="KLAVIYO_BASE_URL", **self.ctx.transport_options)

    # ------------------------------------------------------------ API helpers
    def _send(self, method: str, path: str, body: dict, limit: str, creates: bool = False, shape: Any = dict) -> Any:
        return self.transport.request(method, path, data=json.dumps(body), headers={"Content-Type": JSONAPI},
                                      limit=limit, creates=creates, shape=shape)

    def _all(self, path: str, params: dict, limit: str) -> list[dict]:
        """Every page, oldest first (the copy push keeps when a name exists twice); once per plan."""
        return self.listing((path, tuple(sorted(params.items()))), lambda: self._pages(path, params, limit))

    def _pages(self, path: str, params: dict, limit: str) -> list[dict]:
        out, url, p, seen = [], path, dict(params), set()
        while url:
            if url in seen:
                raise BadAnswer(f"{self.label}: the ESP answered {path} with a next page it already gave")
            seen.add(url)
            page = self.transport.request("GET", url, params=p, limit=limit, shape=PAGE)
            out += page["data"]
            url, p = (page.get("links") or {}).get("next"), None
        return sorted(out, key=_age)

    def _template_by_name(self, name: str) -> dict | None:
        if self.planning:  # planning: the whole list is read once anyway (orphans, duplicates)
            found = [t for t in self._all("/api/templates", {}, "templates") if t["attributes"]["name"] == name]
        else:
            found = self._all("/api/templates", {"filter": f'equals(name,"{_q(name)}")'}, "templates")
        return found[0] if found else None

    def _delete(self, kind: str, limit: str):
        return lambda oid: self.transport.request("DELETE", f"/api/{kind}/{oid}", limit=limit, ok=(404,),
                                                  shape=EMPTY)

    def duplicates(self) -> list[Change]:
        out = []
        if self.ctx.wants("templates"):
            found = [(t["attributes"]["name"], t["id"], _age(t)) for t in self._all("/api/templates", {}, "templates")]
            out += duplicates(self.ctx, "template", found, self._delete("templates", "templates"))
        if self.ctx.wants("flows"):
            found = [(f["attributes"]["name"], f["id"], _age(f)) for f in self._all("/api/flows", {}, "flows")]
            out += duplicates(self.ctx, "flow", found, self._delete("flows", "flows"))
        return out

    # ------------------------------------------------------------ plan
    def plan(self) -> list[Change]:
        self.ids: dict[str, str] = {}  # template name -> id, filled as templates are found or created
        changes = self._templates()
        if self.ctx.wants("flows") and self.ctx.result.flows:
            updated = {c.name for c in changes if c.kind == "template" and c.action == UPDATE}
            changes += self._flows(updated)
        return changes + self.orphans() + self.duplicates()

    def orphans(self) -> list[Change]:
        """Templates and flows under the project's prefix that the project no longer has."""
        out: list[Change] = []
        prefix, ctx = self.ctx.name(""), self.ctx
        if ctx.wants("templates"):
            mine = {ctx.name(o.stem) for o in ctx.result.outputs}
            found = [(t["attributes"]["name"], t["id"]) for t in self._all("/api/templates", {}, "templates")]
            out += orphans(prefix, "template", found, mine.__contains__, ctx.prune, self._delete("templates", "templates"))
        if ctx.wants("flows"):
            bases = {f.definition["data"]["attributes"]["name"] for f in ctx.result.flows}
            flows = self._all("/api/flows", {}, "flows")
            live = {f["id"] for f in flows if (f["attributes"].get("status") or "") == "live"}
            found = [(f["attributes"]["name"], f["id"]) for f in flows]
            out += orphans(prefix, "flow", found, lambda n: n.rsplit(" [", 1)[0] in bases, ctx.prune,
                           self._delete("flows", "flows"), live=live.__contains__,
                           switch_off=lambda fid: self._status(fid, "draft"))
        return out

    def _templates(self) -> list[Change]:
        changes = []
        for out in self.ctx.result.outputs:
            name = self.ctx.name(out.stem)
            remote = self._template_by_name(name)
            if remote:
                self.ids[name] = remote["id"]
            if not self.ctx.wants("templates"):
                continue
            want = {"html": out.html, "text": out.text}
            w = written(want)
            attrs = {"name": name, "editor_type": "CODE", "html": w["html"], "text": w["text"]}
            if remote is None:
                changes.append(Change("template", name, CREATE, "CODE template",
                                      apply=self._create_template(name, attrs),
                                      recover=self._recover_template(name)))
                continue
            ra = remote["attributes"]
            have = {"html": ra.get("html") or "", "text": ra.get("text") or ""}
            st = classify(self.label, out.stem, want, have, self.ctx.forced(name), self.ctx.adopt)
            changes.append(Change("template", name, st.action, st.detail, diff=st.diff, drift=st.drift,
                                  apply=self._update_template(remote["id"], attrs) if st.action == UPDATE else None))
        return changes

    def _create_template(self, name: str, attrs: dict):
        def apply() -> None:
            r = self._send("POST", "/api/templates", {"data": {"type": "template", "attributes": attrs}},
                           "templates", creates=True, shape=CREATED)
            self.ids[name] = r["data"]["id"]
        return apply

    def _recover_template(self, name: str):
        def recover() -> bool:
            remote = self._template_by_name(name)
            if remote:
                self.ids[name] = remote["id"]
            return remote is not None
        return recover

    def _update_template(self, tid: str, attrs: dict):
        body = {"data": {"type": "template", "id": tid,
                         "attributes": {k: v for k, v in attrs.items() if k != "editor_type"}}}
        return lambda: self._send("PATCH", f"/api/templates/{tid}", body, "templates")

    # ------------------------------------------------------------ flows
    def _flows(self, updated_templates: set[str]) -> list[Change]:
        metrics = {m["attributes"]["name"]: m["id"] for m in self._all("/api/metrics", {}, "metrics")}
        remote_flows = self._all("/api/flows", {}, "flows")
        changes: list[Change] = []
        missing_metrics: set[str] = set()
        for f in self.ctx.result.flows:
            attrs = f.definition["data"]["attributes"]
            definition = stamp_messages(attrs["definition"])
            needed = sorted(_refs(definition, METRIC))
            for m in needed:
                if m not in metrics and m not in missing_metrics:
                    missing_metrics.add(m)
                    changes.append(Change("metric", m, MANUAL,
                                          "not in Klaviyo yet: a metric appears when its first event is tracked",
                                          status="failed", error="metric missing"))
            shape = shape_hash(definition)
            base = attrs["name"]
            name = f"{base} [{shape}]"
            old = [r for r in remote_flows if r["attributes"]["name"].startswith(base + " [")
                   and r["attributes"]["name"] != name and not r["attributes"].get("archived")]
            mine = [r for r in remote_flows if r["attributes"]["name"] == name]
            needs = [m for m in needed if m in missing_metrics]
            needs += [self.ctx.name(t) for t in sorted(_refs(definition, TEMPLATE))]
            absent = [self.ctx.name(t) for t in sorted(_refs(definition, TEMPLATE))
                      if self.ctx.name(t) not in self.ids and not self.ctx.wants("templates")]
            if absent:
                changes.append(Change("flow", name, CREATE if not mine else UPDATE, "", status="failed",
                                      error=f"its template {absent[0]} is not in Klaviyo: push the templates first"))
                continue
            if mine:
                changes += self._flow_update(mine[0], definition, metrics, needs, updated_templates)
            else:
                changes.append(Change("flow", name, CREATE, "as a draft" + (", then live" if self.ctx.live else ""),
                                      apply=self._create_flow(name, definition, metrics),
                                      recover=self._recover_flow(name), needs=needs))
            for r in old:
                changes.append(Change("flow", r["attributes"]["name"], MANUAL,
                                      f"retire this old version (id {r['id']}): {name} replaces it"))
        return changes

    def _resolve(self, definition: dict, metrics: dict[str, str]) -> dict:
        d = copy.deepcopy(definition)

        def fill(o: Any) -> Any:
            if isinstance(o, dict):
                return {k: fill(v) for k, v in o.items()}
            if isinstance(o, list):
                return [fill(v) for v in o]
            if isinstance(o, str) and o.startswith(METRIC):
                return metrics[o[len(METRIC):]]
            if isinstance(o, str) and o.startswith(TEMPLATE):
                return self.ids[self.ctx.name(o[len(TEMPLATE):])]
            return o
        return fill(d)

    def _create_flow(self, name: str, definition: dict, metrics: dict[str, str]):
        def apply() -> None:
            body = {"data": {"type": "flow", "attributes": {"name": name,
                                                             "definition": self._resolve(definition, metrics)}}}
            r = self._send("POST", "/api/flows", body, "flows-create", creates=True, shape=CREATED)
            if self.ctx.live:
                self._live(r["data"]["id"])
        return apply

    def _live(self, fid: str) -> None:
        self._status(fid, "live")

    def _status(self, fid: str, status: str) -> None:
        self._send("PATCH", f"/api/flows/{fid}", {"data": {"type": "flow", "id": fid,
                                                          "attributes": {"status": status}}}, "flows")

    def _recover_flow(self, name: str):
        def recover() -> bool:
            found = [r for r in self._all("/api/flows", {}, "flows") if r["attributes"]["name"] == name]
            if found and self.ctx.live:
                self._live(found[0]["id"])
            return bool(found)
        return recover

    def _flow_update(self, remote: dict, definition: dict, metrics: dict[str, str], needs: list[str],
                     updated_templates: set[str]) -> list[Change]:
        name = remote["attributes"]["name"]
        full = self.transport.request("GET", f"/api/flows/{remote['id']}",
                                      params={"additional-fields[flow]": "definition"}, limit="flows", shape=FLOW)
        have = full["data"]["attributes"].get("definition") or {}
        if not isinstance(have.get("actions", []), list) or not all(isinstance(a, dict) for a in have.get("actions", [])):
            raise BadAnswer(f"{self.label}: the ESP answered the definition of {name} with actions that are not a "
                            "list of objects")
        pairs = _pair_actions(definition, have)
        changes: list[Change] = []
        edited = self._edited_steps(definition, have, pairs, metrics)
        diff = ""
        if edited is not None:
            ours, theirs, structural = edited
            diff = json_diff(ours, theirs, f"{self.label} (edited)")
            if structural or not self.ctx.forced(name):
                why = ("steps were added or removed, which push cannot undo in place: delete the flow in Klaviyo, "
                       "then push" if structural else "push --force overwrites the steps' settings")
                return [Change("flow", name, DRIFTED, f"steps edited in {self.label} since the last push: kept; {why}",
                               diff=diff)]
        pending_templates = any(self.ctx.name(t) not in self.ids for t in _refs(definition, TEMPLATE))
        updates = []
        for ours, theirs in pairs:
            if ours["type"] != "send-email":
                if edited is not None and self._step_edit(ours, theirs, metrics):
                    updates.append((ours, theirs))  # --force: its settings back as the project has them
                continue
            want = (ours.get("data") or {}).get("message") or {}
            got = (theirs.get("data") or {}).get("message") or {}
            tref = want.get("template_id", "")
            tname = self.ctx.name(tref[len(TEMPLATE):])
            # a flow email keeps its own copy of the template: point it at the template again when it changed
            differs = pending_templates or tname in updated_templates or any(
                (self.ids.get(tname) if k == "template_id" else want.get(k)) != got.get(k) for k in MESSAGE_FIELDS)
            if differs:
                updates.append((ours, theirs))
        if updates:
            detail = f"{len(updates)} email action(s): template, subject or preview text"
            if edited is not None:
                detail = f"{len(updates)} action(s): overwrites the steps edited in {self.label} (--force)"
            changes.append(Change("flow", name, UPDATE, detail, diff=diff,
                                  apply=self._update_actions(updates, metrics), needs=needs))
        if self.ctx.live and full["data"]["attributes"].get("status") != "live":
            changes.append(Change("flow", name + " (status)", UPDATE, "switch it live (--live)",
                                  apply=lambda: self._live(remote["id"]), needs=[name] if updates else []))
        if not changes:
            changes.append(Change("flow", name, UNCHANGED))
        return changes

    def _step_edit(self, ours: dict, theirs: dict, metrics: dict[str, str]) -> dict | None:
        """Our settings of a step that is not an email, where the remote one differs from them."""
        try:
            want = self._resolve(ours.get("data") or {}, metrics)
        except KeyError:  # a metric missing: reported as such
            return None
        got = theirs.get("data") or {}
        if ours.get("type") == theirs.get("type") and all(got.get(k) == v for k, v in want.items()):
            return None
        return want

    def _edited_steps(self, definition: dict, have: dict, pairs: list[tuple[dict, dict]],
                      metrics: dict[str, str]) -> tuple[list, list, bool] | None:
        """The steps edited in Klaviyo (ours, theirs, whether steps were added or removed), or None.

        The flow's name carries the hash of the shape push created (shape_hash), so a step whose settings
        differ from the project's, or a step more or less, was changed in Klaviyo since."""
        n_ours, n_theirs = len(definition.get("actions", [])), len(have.get("actions", []))
        structural = len(pairs) != n_ours or n_theirs != n_ours
        ours, theirs = [], []
        for a, b in pairs:
            if a["type"] == "send-email":
                got = (b.get("data") or {}).get("message") or {}
                if message_edited(got):
                    want = (a.get("data") or {}).get("message") or {}
                    ours.append({"step": a["temporary_id"], **{k: want.get(k) for k in EDITABLE}})
                    theirs.append({"step": a["temporary_id"], **{k: got.get(k) for k in EDITABLE}})
                continue
            want = self._step_edit(a, b, metrics)
            if want is not None:
                got = b.get("data") or {}
                ours.append({"step": a["temporary_id"], "type": a["type"], "data": want})
                theirs.append({"step": a["temporary_id"], "type": b.get("type"),
                               "data": {k: got.get(k) for k in want}})
        if structural:
            ours.append({"steps": n_ours})
            theirs.append({"steps": n_theirs})
        return (ours, theirs, structural) if ours else None

    def _update_actions(self, pairs: list[tuple[dict, dict]], metrics: dict[str, str]):
        def apply() -> None:
            for ours, theirs in pairs:
                action = self._resolve(ours, metrics)
                action.pop("temporary_id", None)
                action.pop("links", None)
                action["id"] = theirs["id"]
                body = {"data": {"type": "flow-action", "id": theirs["id"], "attributes": {"definition": action}}}
                self._send("PATCH", f"/api/flow-actions/{theirs['id']}", body, "flow-actions")
        return apply


def _age(o: dict) -> tuple[str, str]:
    created = (o.get("attributes") or {}).get("created")
    return (created if isinstance(created, str) else "", str(o.get("id")))


def _q(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _refs(o: Any, prefix: str) -> set[str]:
    if isinstance(o, dict):
        return set().union(*(_refs(v, prefix) for v in o.values())) if o else set()
    if isinstance(o, list):
        return set().union(*(_refs(v, prefix) for v in o)) if o else set()
    if isinstance(o, str) and o.startswith(prefix):
        return {o[len(prefix):]}
    return set()


def shape_hash(definition: dict) -> str:
    """What Klaviyo cannot change in place: everything but the emails' template, subject, preview and name."""
    d = copy.deepcopy(definition)
    for a in d.get("actions", []):
        msg = (a.get("data") or {}).get("message")
        if isinstance(msg, dict):
            for k in MESSAGE_FIELDS:
                msg.pop(k, None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:6]


EDITABLE = ("subject_line", "preview_text")  # what a flow email's fingerprint covers
_MARK = re.compile(r" \[mw:([0-9a-f]{8})\]$")


def _digest(message: dict) -> str:
    return fingerprint({k: message.get(k) for k in EDITABLE})[:8]


def stamp_messages(definition: dict) -> dict:
    """The definition with each email's name ending in the fingerprint of its subject and preview text
    (``… [mw:1a2b3c4d]``): Klaviyo's editor changes those, and a name is what its API gives back as sent."""
    d = copy.deepcopy(definition)
    for a in d.get("actions", []):
        msg = (a.get("data") or {}).get("message") if a.get("type") == "send-email" else None
        if isinstance(msg, dict) and isinstance(msg.get("name"), str):
            msg["name"] = _MARK.sub("", msg["name"]) + f" [mw:{_digest(msg)}]"
    return d


def message_edited(message: dict) -> bool:
    """A flow email whose subject or preview text no longer matches the fingerprint in its name (one
    without a fingerprint, from an older push, is not: push gives it one)."""
    m = _MARK.search(message.get("name") or "") if isinstance(message.get("name"), str) else None
    return m is not None and m.group(1) != _digest(message)


def _pair_actions(ours: dict, theirs: dict) -> list[tuple[dict, dict]]:
    """Match our actions to the remote ones by walking both graphs from the entry, link by link."""
    mine = {a["temporary_id"]: a for a in ours.get("actions", [])}
    remote = {a.get("id"): a for a in theirs.get("actions", [])}
    pairs, seen = [], set()

    def walk(a_id: str | None, b_id: str | None) -> None:
        if a_id is None or b_id is None or a_id in seen or a_id not in mine or b_id not in remote:
            return
        seen.add(a_id)
        a, b = mine[a_id], remote[b_id]
        pairs.append((a, b))
        la, lb = a.get("links") or {}, b.get("links") or {}
        for key in ("next", "next_if_true", "next_if_false"):
            walk(la.get(key), lb.get(key))

    walk(ours.get("entry_action_id"), theirs.get("entry_action_id"))
    return pairs
