"""ActiveCampaign push: campaign messages (API v3), the custom fields, tags and event
names the project uses; then the automation recipes, printed as the manual steps that
remain (ActiveCampaign's API cannot create automations)."""

from __future__ import annotations

import json
from typing import Any

from mailwright.errors import MailwrightError
from mailwright.push import CREATE, UNCHANGED, UPDATE, Change, PushClient, duplicates
from mailwright.push.drift import classify, orphans, written
from mailwright.transport import EMPTY, BadAnswer, Limit, Transport, base_url, credential

from .dialect import STANDARD

LIMITS = {"api": Limit(5, 1, burst=5)}  # documented: 5 requests per second per account
SENDER = ("from_name", "from_email", "reply_to")


class ActiveCampaignPush(PushClient):
    label = "ActiveCampaign"
    credential_var = "ACTIVECAMPAIGN_API_TOKEN"

    def connect(self) -> Transport:
        env = self.ctx.env
        secret = credential(env, self.credential_var, self.label)
        base = base_url(env, "ACTIVECAMPAIGN_API_URL", None, "https://ACCOUNT.api-us1.com")
        return Transport(base + "/api/3", {"Api-Token": secret.reveal(), "Accept": "application/json"},
                         secret, label=self.label, limits=LIMITS, log=self.ctx.log, base_var="ACTIVECAMPAIGN_API_URL",
                         **self.ctx.transport_options)

    def _req(self, method: str, path: str, **kw: Any) -> Any:
        return self.transport.request(method, path, limit="api", **kw)

    def _all(self, path: str, key: str) -> list[dict]:
        """Every page, oldest first (the copy push keeps when a name exists twice); once per plan."""
        return self.listing((path, key), lambda: self._pages(path, key))

    def _pages(self, path: str, key: str) -> list[dict]:
        out, offset = [], 0
        while True:
            page = self._req("GET", path, params={"limit": 100, "offset": offset},
                             shape={key: [dict], "meta?": {"total?": (str, int)}})
            items = page[key]
            out += items
            total = str((page.get("meta") or {}).get("total", len(out)))
            if not total.isdigit():
                raise BadAnswer(f"{self.label}: the ESP answered GET {path} with a total that is not a number")
            if not items or len(out) >= int(total):
                return sorted(out, key=_age)
            offset = len(out)

    def duplicates(self) -> list[Change]:
        if not self.ctx.wants("templates"):
            return []
        found = [(m.get("name"), m.get("id"), _age(m)) for m in self._all("/messages", "messages")]
        remove = lambda mid: self._req("DELETE", f"/messages/{mid}", ok=(404,), shape=EMPTY)  # noqa: E731
        return duplicates(self.ctx, "message", found, remove)

    # ------------------------------------------------------------ plan
    def plan(self) -> list[Change]:
        changes: list[Change] = []
        if self.ctx.wants("templates"):
            changes += self._messages()
        changes += self._fields()
        if self.ctx.wants("flows"):
            changes += self._events()
        changes += self._tags()
        return changes + self.orphans() + self.duplicates()

    def _sender(self) -> dict[str, str]:
        cfg = self.ctx.config
        missing = [k for k in SENDER if not cfg.get(k)]
        if missing:
            raise MailwrightError(self.ctx.project.pos_of_key("esp.activecampaign", missing[0]),
                                  "ActiveCampaign messages need a sender: set "
                                  + ", ".join(missing) + " in [esp.activecampaign] of mailwright.toml")
        return {"fromname": cfg["from_name"], "fromemail": cfg["from_email"], "email": cfg["from_email"],
                "reply2": cfg["reply_to"]}

    def _messages(self) -> list[Change]:
        sender = self._sender()
        remote: dict[Any, dict] = {}
        for m in self._all("/messages", "messages"):
            remote.setdefault(m.get("name"), m)
        changes = []
        for out in self.ctx.result.outputs:
            name = self.ctx.name(out.stem)
            # the fingerprint covers what a person can edit in ActiveCampaign (``email`` repeats fromemail)
            parts = {"subject": out.subject, "preheader_text": out.preheader, "html": out.html, "text": out.text,
                     **{k: v for k, v in sender.items() if k != "email"}}
            want = {"name": name, **written(parts), "email": sender["email"]}
            have = remote.get(name)
            st = classify(self.label, out.stem, parts, None if have is None else
                          {k: str(have.get(k) or "") for k in parts}, self.ctx.forced(name), self.ctx.adopt)
            if st.action == CREATE:
                changes.append(Change("message", name, CREATE, "campaign message",
                                      apply=lambda w=want: self._req("POST", "/messages", json={"message": w},
                                                                     creates=True, shape={"message": {"id": (str, int)}}),
                                      recover=self._find("/messages", "messages", "name", name)))
            elif st.action == UPDATE:
                changes.append(Change("message", name, UPDATE, st.detail, diff=st.diff, drift=st.drift,
                                      apply=lambda i=have["id"], w=want: self._req("PUT", f"/messages/{i}",
                                                                                   json={"message": w})))
            else:
                changes.append(Change("message", name, st.action, st.detail, diff=st.diff, drift=st.drift))
        return changes

    def orphans(self) -> list[Change]:
        """Messages of the project's names that the project no longer has (fields, tags and event names are
        shared with the rest of the account: never removed)."""
        if not self.ctx.wants("templates"):
            return []
        mine = {self.ctx.name(o.stem) for o in self.ctx.result.outputs}
        found = [(m.get("name"), m.get("id")) for m in self._all("/messages", "messages")]
        remove = lambda mid: self._req("DELETE", f"/messages/{mid}", ok=(404,), shape=EMPTY)  # noqa: E731
        return orphans(self.ctx.name(""), "message", found, mine.__contains__, self.ctx.prune, remove)

    def _find(self, path: str, key: str, field: str, value: str):
        def recover() -> bool:
            return any(str(x.get(field, "")).lower() == value.lower() for x in self._all(path, key))
        return recover

    def _fields(self) -> list[Change]:
        wanted = sorted({v.strip("%").upper() for v in self.ctx.config.get("fields", {}).values()}
                        - set(STANDARD.values()))
        if not wanted:
            return []
        have = {str(f.get("perstag", "")).upper() for f in self._all("/fields", "fields")}
        changes = []
        for tag in wanted:
            if tag in have:
                changes.append(Change("field", tag, UNCHANGED))
                continue
            body = {"field": {"type": "text", "title": tag.replace("_", " ").title(), "perstag": tag,
                              "descript": f"Used by the mailwright project {self.ctx.project.name}"}}
            changes.append(Change("field", tag, CREATE, "text field",
                                  apply=lambda b=body: self._req("POST", "/fields", json=b, creates=True),
                                  recover=self._find("/fields", "fields", "perstag", tag)))
        return changes

    def _events(self) -> list[Change]:
        names: list[str] = []  # as the recipes name them (already mapped)
        for f in self.ctx.result.flows:
            recipe = json.loads(f.files[".json"])
            for ev in [recipe["trigger"]["event"]] + [g["event"] for g in recipe["goals"]]:
                if ev not in names:
                    names.append(ev)
        if not names:
            return []
        have = {e.get("name") for e in self._all("/eventTrackingEvents", "eventTrackingEvents")}
        changes = []
        for n in names:
            if n in have:
                changes.append(Change("event", n, UNCHANGED))
            else:
                changes.append(Change("event", n, CREATE, "event name",
                                      apply=lambda n=n: self._req("POST", "/eventTrackingEvents", creates=True,
                                                                  json={"eventTrackingEvent": {"name": n}}),
                                      recover=self._find("/eventTrackingEvents", "eventTrackingEvents", "name", n)))
        return changes

    def _tags(self) -> list[Change]:
        wanted = list(self.ctx.config.get("tags", []))
        if not wanted:
            return []
        have = {t.get("tag") for t in self._all("/tags", "tags")}
        changes = []
        for t in wanted:
            if t in have:
                changes.append(Change("tag", t, UNCHANGED))
            else:
                body = {"tag": {"tag": t, "tagType": "contact", "description": f"mailwright: {self.ctx.project.name}"}}
                changes.append(Change("tag", t, CREATE, "contact tag",
                                      apply=lambda b=body: self._req("POST", "/tags", json=b, creates=True),
                                      recover=self._find("/tags", "tags", "tag", t)))
        return changes

    def manual_steps(self) -> list[dict]:
        """Each flow's recipe: push prints it (``recipe`` is its text; ``mailwright compile`` also writes it
        to ``BUILD/activecampaign/flows/NAME.md``)."""
        out = []
        for f in self.ctx.result.flows:
            recipe = json.loads(f.files[".json"])
            out.append({"flow": f.name, "automation": recipe["automation"], "recipe": f.files[".md"],
                        "steps": recipe["steps"], "goals": recipe["goals"], "trigger": recipe["trigger"]})
        return out


def _age(o: dict) -> tuple[str, tuple[int, str]]:
    cdate, oid = o.get("cdate"), str(o.get("id"))
    return (cdate if isinstance(cdate, str) else "", (int(oid), "") if oid.isdigit() else (0, oid))
