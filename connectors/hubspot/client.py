"""HubSpot push: coded email templates (CMS source code API, validated first), one
marketing email per template pointing at it, and Automation v4 flows (created, or
updated with the current ``revisionId``)."""

from __future__ import annotations

import copy
from typing import Any

from mailwright.push import CREATE, UNCHANGED, UPDATE, Change, PushClient, duplicates
from mailwright.push.drift import DRIFTED, UNMANAGED, classify, fingerprint, json_diff, orphans, written
from mailwright.transport import EMPTY, BadAnswer, Limit, Transport, base_url, credential

from .flows import EMAIL

ENVIRONMENT = "published"
# private apps: 100 requests per 10 seconds (HubSpot's documented default)
LIMITS = {"api": Limit(100, 10, burst=100)}
# what PUT /automation/v4/flows/{id} takes (flowType, objectTypeId and dataSources are create-only)
PUT_FIELDS = ("name", "description", "isEnabled", "canEnrollFromSalesforce", "startActionId",
              "nextAvailableActionId", "actions", "enrollmentCriteria", "timeWindows", "blockedDates",
              "customProperties", "suppressionListIds", "goalFilterBranch", "type")
# what a flow's fingerprint covers: what push sends, but its description (which carries it) and whether it is on
# (switching a workflow on is the step left to a person)
FINGERPRINTED = tuple(k for k in PUT_FIELDS if k not in ("description", "isEnabled"))
MARK = " mailwright: sha256="
# what push reads of HubSpot's answers (checked before use)
ID = (str, int)
PAGE = {"results": [{"id": ID, "name?": (str, type(None))}],
        "paging?": {"next?": {"after?": (str, int, type(None))}}}


class HubSpotPush(PushClient):
    label = "HubSpot"
    credential_var = "HUBSPOT_ACCESS_TOKEN"

    def connect(self) -> Transport:
        env = self.ctx.env
        secret = credential(env, self.credential_var, self.label)
        base = base_url(env, "HUBSPOT_BASE_URL", "https://api.hubapi.com", "https://api.hubapi.com")
        return Transport(base, {"Authorization": f"Bearer {secret.reveal()}", "Accept": "application/json"},
                         secret, label=self.label, limits=LIMITS, log=self.ctx.log, base_var="HUBSPOT_BASE_URL",
                         **self.ctx.transport_options)

    def _req(self, method: str, path: str, **kw: Any) -> Any:
        return self.transport.request(method, path, limit="api", **kw)

    def _paged(self, path: str) -> list[dict]:
        """Every page, oldest first (the copy push keeps when a name exists twice); once per plan."""
        return self.listing(path, lambda: self._pages(path))

    def _pages(self, path: str) -> list[dict]:
        out, after, seen = [], None, set()
        while True:
            page = self._req("GET", path, params={"limit": 100, **({"after": after} if after else {})}, shape=PAGE)
            out += page["results"]
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return sorted(out, key=_age)
            if after in seen:
                raise BadAnswer(f"{self.label}: the ESP answered {path} with a page cursor it already gave")
            seen.add(after)

    def duplicates(self) -> list[Change]:
        out = []
        flows = []
        if self.ctx.wants("flows"):
            found = [(f.get("name"), f["id"], _age(f)) for f in self._paged("/automation/v4/flows")]
            flows = [n for n, _, _ in found if isinstance(n, str)]
            out += duplicates(self.ctx, "flow", found, self._delete("/automation/v4/flows"))
        if self.ctx.wants("templates"):
            found = [(e.get("name"), e["id"], _age(e)) for e in self._paged("/marketing/v3/emails")]
            # a flow may still point at an extra copy: flows are brought in line (to the kept one) first
            needs = [n for n in flows if n.startswith(self.ctx.name(""))]
            out += duplicates(self.ctx, "email", found, self._delete("/marketing/v3/emails"), needs=needs)
        return out

    def _delete(self, path: str):
        return lambda oid: self._req("DELETE", f"{path}/{oid}", ok=(404,), shape=EMPTY)

    # ------------------------------------------------------------ plan
    def plan(self) -> list[Change]:
        self.email_ids: dict[str, str] = {}
        changes: list[Change] = []
        emails: dict[Any, dict] = {}
        for e in self._paged("/marketing/v3/emails"):
            emails.setdefault(e.get("name"), e)
        for out in self.ctx.result.outputs:
            path = f"{self._folder()}/{out.stem}.html"
            name = self.ctx.name(out.stem)
            email = emails.get(name)
            if email:
                self.email_ids[name] = str(email["id"])
            if not self.ctx.wants("templates"):
                continue
            have = self._req("GET", f"/cms/v3/source-code/{ENVIRONMENT}/content/{path}", ok=(404,), shape=str)
            want = {"html": out.html}
            st = classify(self.label, out.stem, want, None if have is None else {"html": have},
                          self.ctx.forced(name) or self.ctx.forced(path), self.ctx.adopt)
            changes.append(Change("template", path, st.action,
                                  "coded email template" if st.action == CREATE else st.detail,
                                  diff=st.diff, drift=st.drift,
                                  apply=self._upload(path, written(want)["html"])
                                  if st.action in (CREATE, UPDATE) else None))
            if st.action in (DRIFTED, UNMANAGED):
                have = written(want)["html"]  # its email still points at it: not a reason to wait for it
            # AUTOMATED_DRAFT: an email a workflow can send (a batch email cannot be used in a flow)
            fields = {"name": name, "subject": out.subject, "content": {"templatePath": path},
                      "state": "AUTOMATED_DRAFT"}
            if email is None:
                changes.append(Change("email", name, CREATE, "marketing email",
                                      needs=[path] if st.action in (CREATE, UPDATE) else [],
                                      apply=self._create_email(name, fields), recover=self._recover_email(name)))
            elif email.get("subject") != out.subject or (email.get("content") or {}).get("templatePath") != path:
                patch = {"subject": out.subject, "content": {"templatePath": path}}
                changes.append(Change("email", name, UPDATE, "subject or template changed",
                                      apply=lambda eid=email["id"], f=patch: self._req(
                                          "PATCH", f"/marketing/v3/emails/{eid}", json=f)))
            else:
                changes.append(Change("email", name, UNCHANGED))
        if self.ctx.wants("flows") and self.ctx.result.flows:
            changes += self._flows()
        return changes + self.orphans() + self.duplicates()

    def _folder(self) -> str:
        return f"mailwright/{self.ctx.project.name}"

    def orphans(self) -> list[Change]:
        """Flows, emails and template files of the project's names that the project no longer has; with
        --prune, flows go first (a flow may send an email), then emails, then the files they used."""
        ctx, prefix = self.ctx, self.ctx.name("")
        out: list[Change] = []
        flows: list[Change] = []
        if ctx.wants("flows"):
            mine = {f.definition["name"] for f in ctx.result.flows}
            listed = self._paged("/automation/v4/flows")
            on = {str(f["id"]) for f in listed if f.get("isEnabled") is True}
            flows = orphans(prefix, "flow", [(f.get("name"), f["id"]) for f in listed], mine.__contains__, ctx.prune,
                            self._delete("/automation/v4/flows"), live=on.__contains__, switch_off=self._switch_off)
        out += flows
        if ctx.wants("templates"):
            stems = {o.stem for o in ctx.result.outputs}
            found = [(e.get("name"), e["id"]) for e in self._paged("/marketing/v3/emails")]
            emails = orphans(prefix, "email", found, lambda n: n[len(prefix):] in stems, ctx.prune,
                             self._delete("/marketing/v3/emails"), needs=[c.name for c in flows])
            out += emails
            meta = self._req("GET", f"/cms/v3/source-code/{ENVIRONMENT}/metadata/{self._folder()}", ok=(404,),
                             shape={"children?": [str]})
            files = [(f"{self._folder()}/{c}", c) for c in (meta or {}).get("children") or [] if c.endswith(".html")]
            out += orphans(self._folder() + "/", "template", files,
                           lambda p: p[len(self._folder()) + 1:-len(".html")] in stems, ctx.prune,
                           lambda c: self._req("DELETE", f"/cms/v3/source-code/{ENVIRONMENT}/content/{self._folder()}/{c}",
                                               ok=(404,), shape=EMPTY),
                           needs=[c.name for c in emails])
        return out

    def _switch_off(self, fid: str) -> None:
        current = self._req("GET", f"/automation/v4/flows/{fid}", shape={"revisionId": str})
        body = {k: v for k, v in current.items() if k in PUT_FIELDS}
        body.update(isEnabled=False, revisionId=current["revisionId"])
        self._req("PUT", f"/automation/v4/flows/{fid}", json=body)

    def _upload(self, path: str, html: str):
        def apply() -> None:
            # validate first: HubSpot says what is wrong before anything is replaced
            self._req("POST", f"/cms/v3/source-code/{ENVIRONMENT}/validate/{path}", shape=EMPTY,
                      files={"file": (path.rsplit("/", 1)[-1], html.encode(), "text/html")})
            self._req("PUT", f"/cms/v3/source-code/{ENVIRONMENT}/content/{path}",
                      files={"file": (path.rsplit("/", 1)[-1], html.encode(), "text/html")})
        return apply

    def _create_email(self, name: str, fields: dict):
        def apply() -> None:
            r = self._req("POST", "/marketing/v3/emails", json=fields, creates=True, shape={"id": ID})
            self.email_ids[name] = str(r["id"])
        return apply

    def _recover_email(self, name: str):
        def recover() -> bool:
            for e in self._paged("/marketing/v3/emails"):
                if e.get("name") == name:
                    self.email_ids[name] = str(e["id"])
                    return True
            return False
        return recover

    # ------------------------------------------------------------ flows
    def _flows(self) -> list[Change]:
        self.overwritten: dict[str, str] = {}  # flow name -> what --force overwrites
        listed = self._paged("/automation/v4/flows")
        changes = []
        for f in self.ctx.result.flows:
            want = f.definition
            name = want["name"]
            emails = sorted({_strip(v) for v in _refs(want)})
            needs = [self.ctx.name(e) for e in emails]
            remote = next((r for r in listed if r.get("name") == name), None)
            absent = [n for n in needs if n not in self.email_ids and not self.ctx.wants("templates")]
            if absent:
                changes.append(Change("flow", name, UPDATE if remote else CREATE, "", status="failed",
                                      error=f"its email {absent[0]} is not in HubSpot: push the templates first"))
                continue
            if remote is None:
                changes.append(Change("flow", name, CREATE, "contact workflow (off)",
                                      apply=self._create_flow(name, want), recover=self._find_flow(name),
                                      needs=needs))
                continue
            full = self._req("GET", f"/automation/v4/flows/{remote['id']}")
            pending = any(self.ctx.name(e) not in self.email_ids for e in emails)
            kept = self._drift(name, want, full, pending)
            if kept is not None:
                changes.append(kept)
                continue
            if not pending and _same(self._stamped(want), full):
                changes.append(Change("flow", name, UNCHANGED))
            else:
                forced = name in self.overwritten
                changes.append(Change("flow", name, UPDATE, f"overwrites what was edited in {self.label} (--force)"
                                      if forced else "definition changed", needs=needs,
                                      diff=self.overwritten.get(name, ""),
                                      apply=self._update_flow(remote["id"], want),
                                      recover=self._same_now(remote["id"], want)))
        return changes

    def _drift(self, name: str, want: dict, full: dict, pending: bool) -> Change | None:
        """A change that keeps the flow as it is (edited in HubSpot, or no fingerprint), or None."""
        description = full.get("description") if isinstance(full.get("description"), str) else ""
        digest = description.rsplit(MARK, 1)[1] if MARK in description else None
        if digest is None and not self.ctx.adopt:
            return Change("flow", name, UNMANAGED, "no fingerprint (made by hand or by an older push): "
                                                   "push --adopt takes it over")
        if digest is None or fingerprint({k: full.get(k) for k in FINGERPRINTED if k in want}) == digest:
            return None
        diff = ""
        if not pending:  # the steps that differ from the project's, by actionId
            resolved = self._resolve(want)
            ours = {str(a.get("actionId")): a for a in resolved.get("actions", [])}
            theirs = {str(a.get("actionId")): a for a in full.get("actions") or [] if isinstance(a, dict)}
            keys = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
            rest = [k for k in FINGERPRINTED if k != "actions" and k in resolved and resolved[k] != full.get(k)]
            diff = json_diff({**{f"action {k}": ours.get(k) for k in keys}, **{k: resolved[k] for k in rest}},
                             {**{f"action {k}": theirs.get(k) for k in keys}, **{k: full.get(k) for k in rest}},
                             f"{self.label} (edited)")
        if self.ctx.forced(name):
            self.overwritten[name] = diff
            return None
        return Change("flow", name, DRIFTED, f"edited in {self.label} since the last push: kept; push --force "
                                             "overwrites it", diff=diff)

    def _stamped(self, want: dict) -> dict:
        """The flow as push sends it: resolved, its description carrying the fingerprint."""
        out = self._resolve(want)
        digest = fingerprint({k: out[k] for k in FINGERPRINTED if k in out})
        out["description"] = (out.get("description") or "") + MARK + digest
        return out

    def _resolve(self, want: dict) -> dict:
        def fill(o: Any) -> Any:
            if isinstance(o, dict):
                return {k: fill(v) for k, v in o.items()}
            if isinstance(o, list):
                return [fill(v) for v in o]
            if isinstance(o, str) and o.startswith(EMAIL):
                return self.email_ids[self.ctx.name(o[len(EMAIL):])]
            return o
        return fill(copy.deepcopy(want))

    def _create_flow(self, name: str, want: dict):
        return lambda: self._req("POST", "/automation/v4/flows", json=self._stamped(want), creates=True,
                                 shape={"id": ID})

    def _find_flow(self, name: str):
        return lambda: any(r.get("name") == name for r in self._paged("/automation/v4/flows"))

    def _update_flow(self, fid: str, want: dict):
        def apply() -> None:
            current = self._req("GET", f"/automation/v4/flows/{fid}", shape={"revisionId": str})
            body = {k: v for k, v in self._stamped(want).items() if k in PUT_FIELDS}
            body["revisionId"] = current["revisionId"]
            if isinstance(current.get("isEnabled"), bool):
                body["isEnabled"] = current["isEnabled"]  # switched on by a person: it stays on
            # a PUT with a stale revision is refused, so a lost answer is checked, not repeated
            self._req("PUT", f"/automation/v4/flows/{fid}", json=body, creates=True)
        return apply

    def _same_now(self, fid: str, want: dict):
        return lambda: _same(self._stamped(want), self._req("GET", f"/automation/v4/flows/{fid}"))


def _age(o: dict) -> tuple[str, tuple[int, str]]:
    created, oid = o.get("createdAt"), str(o.get("id"))
    return (created if isinstance(created, str) else "", (int(oid), "") if oid.isdigit() else (0, oid))


def _refs(o: Any) -> list[str]:
    if isinstance(o, dict):
        return [r for v in o.values() for r in _refs(v)]
    if isinstance(o, list):
        return [r for v in o for r in _refs(v)]
    return [o] if isinstance(o, str) and o.startswith(EMAIL) else []


def _strip(ref: str) -> str:
    return ref[len(EMAIL):]


def _same(want: dict, have: dict) -> bool:
    """Equal on every field we send (HubSpot adds ids, dates and revisions of its own)."""
    return all(have.get(k) == v for k, v in want.items() if k in PUT_FIELDS and k != "isEnabled")
