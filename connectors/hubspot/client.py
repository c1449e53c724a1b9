"""HubSpot push: coded email templates (CMS source code API, validated first), one
marketing email per template pointing at it, and Automation v4 flows (created, or
updated with the current ``revisionId``)."""

from __future__ import annotations

import copy
from typing import Any

from mailwright.push import CREATE, UNCHANGED, UPDATE, Change, PushClient, duplicates
from mailwright.transport import EMPTY, BadAnswer, Limit, Transport, base_url, credential

from .flows import EMAIL

ENVIRONMENT = "published"
# private apps: 100 requests per 10 seconds (HubSpot's documented default)
LIMITS = {"api": Limit(100, 10, burst=100)}
# what PUT /automation/v4/flows/{id} takes (flowType, objectTypeId and dataSources are create-only)
PUT_FIELDS = ("name", "description", "isEnabled", "canEnrollFromSalesforce", "startActionId",
              "nextAvailableActionId", "actions", "enrollmentCriteria", "timeWindows", "blockedDates",
              "customProperties", "suppressionListIds", "goalFilterBranch", "type")
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
        """Every page, oldest first (the copy push keeps when a name exists twice)."""
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
            path = f"mailwright/{self.ctx.project.name}/{out.stem}.html"
            name = self.ctx.name(out.stem)
            email = emails.get(name)
            if email:
                self.email_ids[name] = str(email["id"])
            if not self.ctx.wants("templates"):
                continue
            have = self._req("GET", f"/cms/v3/source-code/{ENVIRONMENT}/content/{path}", ok=(404,), shape=str)
            if have != out.html:
                changes.append(Change("template", path, CREATE if have is None else UPDATE,
                                      "coded email template" if have is None else "HTML changed",
                                      apply=self._upload(path, out.html)))
            else:
                changes.append(Change("template", path, UNCHANGED))
            # AUTOMATED_DRAFT: an email a workflow can send (a batch email cannot be used in a flow)
            fields = {"name": name, "subject": out.subject, "content": {"templatePath": path},
                      "state": "AUTOMATED_DRAFT"}
            if email is None:
                changes.append(Change("email", name, CREATE, "marketing email", needs=[path] if have != out.html else [],
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
        return changes + self.duplicates()

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
            if not pending and _same(self._resolve(want), full):
                changes.append(Change("flow", name, UNCHANGED))
            else:
                changes.append(Change("flow", name, UPDATE, "definition changed", needs=needs,
                                      apply=self._update_flow(remote["id"], want),
                                      recover=self._same_now(remote["id"], want)))
        return changes

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
        return lambda: self._req("POST", "/automation/v4/flows", json=self._resolve(want), creates=True,
                                 shape={"id": ID})

    def _find_flow(self, name: str):
        return lambda: any(r.get("name") == name for r in self._paged("/automation/v4/flows"))

    def _update_flow(self, fid: str, want: dict):
        def apply() -> None:
            current = self._req("GET", f"/automation/v4/flows/{fid}", shape={"revisionId": str})
            body = {k: v for k, v in self._resolve(want).items() if k in PUT_FIELDS}
            body["revisionId"] = current["revisionId"]
            # a PUT with a stale revision is refused, so a lost answer is checked, not repeated
            self._req("PUT", f"/automation/v4/flows/{fid}", json=body, creates=True)
        return apply

    def _same_now(self, fid: str, want: dict):
        return lambda: _same(self._resolve(want), self._req("GET", f"/automation/v4/flows/{fid}"))


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
    return all(have.get(k) == v for k, v in want.items() if k in PUT_FIELDS)
