"""ActiveCampaign delivery for ``mailwright relay``: first the contact, by email, with the field
values ``[esp.activecampaign.fields]`` maps (``POST /api/3/contact/sync``), then the tracked event
(a form post to ``trackcmp.net/event`` with ``actid``/``key`` from ``ACTIVECAMPAIGN_ACCOUNT_ID`` and
``ACTIVECAMPAIGN_EVENT_KEY``; ``ACTIVECAMPAIGN_TRACK_URL`` changes the address).

Event tracking has no idempotency key: the relay's own record of what it delivered is the only
guard against sending an event twice. To narrow the one gap left (a post whose answer is lost),
every event carries the item's id in its ``eventdata``, a post is never repeated blindly, and
before any second attempt the contact's tracking logs (``GET /api/3/contacts/{id}/trackingLogs``)
are searched for that id: found, the item is delivered. A post that lands after that search (a
timeout whose request is still running) can still make a duplicate; nothing in the API prevents it.
"""

from __future__ import annotations

import json
from typing import Any

from mailwright.errors import Diagnostic, MailwrightError, MailwrightErrors, Pos
from mailwright.push import CREATE, UNCHANGED, UPDATE, Change
from mailwright.signals.relay.delivery import backoff, failure, mapped, scalar
from mailwright.signals.relay.model import Dead, Delivered, DeliveryContext, OutboxItem, Outcome, Retry
from mailwright.signals.relay.pacing import pace, windows
from mailwright.transport import LostResponse, RemoteError, Transport, base_url, credential

from .dialect import STANDARD

TRACK_URL = "https://trackcmp.net"
# trackcmp.net documents no limit of its own: paced like the API (5 requests per second per account)
# 5 requests/s per account; trackcmp.net is counted with the API (not documented either way: the safe side)
ACCOUNT_LIMITS = [(5, 1)]
EVENT_NAME_MAX = 32  # characters (trackcmp's documentation)
RETRIES = 2
CONTACT_FIELDS = {"FIRSTNAME": "firstName", "LASTNAME": "lastName", "PHONE": "phone"}


# ---------------------------------------------------------------- relay sync
class ActiveCampaignSetup:
    """What ``mailwright relay sync`` plans for ActiveCampaign: event tracking switched on, and the event
    name of every event of the tracking plan (as ``[esp.activecampaign.events]`` names it). The custom
    fields are push's (it creates those the project maps). Mixed into ActiveCampaignEvents."""

    ctx: DeliveryContext

    def sync(self, plan: Any) -> list[Change]:
        names, problems = {}, []
        for event in sorted(plan.events):
            name = self.event_name(event)  # type: ignore[attr-defined]
            if len(name) > EVENT_NAME_MAX:
                mapped_here = event in (self.ctx.config.get("events") or {})
                pos = (self.ctx.project.pos_of_key("esp.activecampaign.events", event) if mapped_here
                       else Pos(str(self.ctx.project.config_path), 0, 0))
                problems.append(Diagnostic(pos, f"the ActiveCampaign event name '{name}' is longer than "
                                                f"{EVENT_NAME_MAX} characters: map {event} to a shorter one in "
                                                "[esp.activecampaign.events]"))
            names[name] = event
        if problems:
            raise MailwrightErrors(problems)
        out = []
        state = self._req("GET", "/eventTracking", shape={"eventTracking": {"enabled": (bool, int, str)}})  # type: ignore
        on = str(state["eventTracking"]["enabled"]).lower() in ("true", "1")
        needs = []
        if not on:
            needs = ["event tracking"]
            out.append(Change("setting", "event tracking", UPDATE, "switch on (trackcmp.net/event needs it)",
                              apply=lambda: self._req("PUT", "/eventTracking",  # type: ignore[attr-defined]
                                                      json={"eventTracking": {"enabled": True}})))
        else:
            out.append(Change("setting", "event tracking", UNCHANGED))
        have = {e.get("name") for e in self._event_names()}
        for name in names:
            if name in have:
                out.append(Change("event", name, UNCHANGED))
            else:
                out.append(Change("event", name, CREATE, "event name", needs=list(needs),
                                  apply=lambda n=name: self._req(  # type: ignore[attr-defined]
                                      "POST", "/eventTrackingEvents", json={"eventTrackingEvent": {"name": n}},
                                      creates=True),
                                  recover=lambda n=name: n in {e.get("name") for e in self._event_names()}))
        return out

    def _event_names(self) -> list[dict]:
        out, offset = [], 0
        while True:
            page = self._req("GET", "/eventTrackingEvents", params={"limit": 100, "offset": offset},  # type: ignore
                             shape={"eventTrackingEvents": [dict], "meta?": {"total?": (str, int)}})
            out += page["eventTrackingEvents"]
            total = str((page.get("meta") or {}).get("total", len(out)))
            if not page["eventTrackingEvents"] or not total.isdigit() or len(out) >= int(total):
                return out
            offset = len(out)


class ActiveCampaignEvents(ActiveCampaignSetup):
    label = "ActiveCampaign"

    def __init__(self, ctx: DeliveryContext):
        self.ctx = ctx
        env = ctx.env
        problems: list[Diagnostic] = []  # every missing setting at once

        def check(fn: Any, *args: Any) -> Any:
            try:
                return fn(*args)
            except MailwrightError as e:
                problems.extend(e.diagnostics)
                return None

        self.transport = ctx.transport or check(self._connect)
        self.key = check(credential, env, "ACTIVECAMPAIGN_EVENT_KEY", "ActiveCampaign event tracking")
        self.account = env.get("ACTIVECAMPAIGN_ACCOUNT_ID", "").strip()
        if not self.account.isdigit():
            problems.append(Diagnostic(Pos("ACTIVECAMPAIGN_ACCOUNT_ID", 0, 0), "set ACTIVECAMPAIGN_ACCOUNT_ID to the "
                                       "account's actid (a number: Website, Site Tracking, Event Tracking API)"))
        track = check(base_url, env, "ACTIVECAMPAIGN_TRACK_URL", TRACK_URL, TRACK_URL)
        if problems:
            raise MailwrightErrors(problems)
        self.track = Transport(track, {"Accept": "application/json"}, self.key, label=self.label,
                               log=ctx.log, base_var="ACTIVECAMPAIGN_TRACK_URL",
                               **{"retries": RETRIES, **ctx.transport_options})
        self._fields: dict[str, str] | None = None  # personalization tag -> field id
        account = windows(ACCOUNT_LIMITS, float(ctx.transport_options.get("rate_scale", 1.0)))
        pace(self.transport, "api", account)  # one window for both: the worker's requests are sequential
        pace(self.track, "track", account)

    def _connect(self) -> Transport:
        env = self.ctx.env
        secret = credential(env, "ACTIVECAMPAIGN_API_TOKEN", self.label)
        base = base_url(env, "ACTIVECAMPAIGN_API_URL", None, "https://ACCOUNT.api-us1.com")
        return Transport(base + "/api/3", {"Api-Token": secret.reveal(), "Accept": "application/json"},
                         secret, label=self.label, log=self.ctx.log, base_var="ACTIVECAMPAIGN_API_URL",
                         **{"retries": RETRIES, **self.ctx.transport_options})

    def _req(self, method: str, path: str, **kw: Any) -> Any:
        return self.transport.request(method, path, limit="api", **kw)

    # ------------------------------------------------------------ delivery
    def deliver(self, items: list[OutboxItem]) -> list[Outcome]:
        return [self._one(item) for item in items]

    def event_name(self, event: str) -> str:
        return (self.ctx.config.get("events") or {}).get(event) or event

    def _one(self, item: OutboxItem) -> Outcome:
        email = item.identity.email
        if not email:
            return Dead(item.id, f"ActiveCampaign finds contacts by email, and none is known for the profile "
                                 f"{item.profile}")
        name = self.event_name(item.event)
        if len(name) > EVENT_NAME_MAX:
            return Dead(item.id, f"the ActiveCampaign event name '{name}' is longer than {EVENT_NAME_MAX} characters: "
                                 f"map {item.event} to a shorter one in [esp.activecampaign.events]")
        try:
            contact = self._contact(item, email)
            if isinstance(contact, Dead):
                return contact
            if item.attempts > 0 and self._tracked(contact, item.id):
                return Delivered(item.id)
            return self._track(item, name, email, contact)
        except RemoteError as e:
            return failure(item, e)

    def field_values(self, item: OutboxItem) -> dict[str, Any]:
        """Personalization tag -> value, for the mapped fields the item holds."""
        return {tag.upper(): scalar(v) for tag, v in
                mapped(item, self.ctx.config.get("fields") or {}, strip="%").items()}

    def _contact(self, item: OutboxItem, email: str) -> str | Dead:
        values = self.field_values(item)
        contact: dict[str, Any] = {"email": email}
        for portable, tag in STANDARD.items():
            trait = item.profile_properties.get(portable)
            if tag in CONTACT_FIELDS and isinstance(trait, str):
                contact[CONTACT_FIELDS[tag]] = trait
        for tag in [t for t in values if t in set(STANDARD.values())]:
            value = values.pop(tag)
            if tag in CONTACT_FIELDS and value is not None:
                contact[CONTACT_FIELDS[tag]] = str(value)
        ids = self._field_ids(refresh=any(t not in (self._fields or {}) for t in values))
        missing = sorted(t for t in values if t not in ids)
        if missing:
            return Dead(item.id, f"ActiveCampaign has no custom field {', '.join(missing)}: `mailwright push` "
                                 "creates the fields the project maps; then `mailwright relay retry`")
        contact["fieldValues"] = [{"field": ids[t], "value": "" if v is None else str(v)} for t, v in values.items()]
        found = self._req("POST", "/contact/sync", json={"contact": contact},
                          shape={"contact": {"id": (str, int)}})
        return str(found["contact"]["id"])

    def _field_ids(self, refresh: bool = False) -> dict[str, str]:
        if self._fields is None or refresh:
            out, offset = {}, 0
            while True:
                page = self._req("GET", "/fields", params={"limit": 100, "offset": offset},
                                 shape={"fields": [{"id": (str, int), "perstag?": (str, type(None))}],
                                        "meta?": {"total?": (str, int)}})
                for f in page["fields"]:
                    out[str(f.get("perstag") or "").upper()] = str(f["id"])
                offset += len(page["fields"])
                total = str((page.get("meta") or {}).get("total", offset))
                if not page["fields"] or not total.isdigit() or offset >= int(total):
                    break
            self._fields = out
        return self._fields

    def _track(self, item: OutboxItem, name: str, email: str, contact: str) -> Outcome:
        data = {"id": item.id, **{k: scalar(v) for k, v in item.properties.items()}}
        form = {"actid": self.account, "key": self.key.reveal(), "event": name,
                "eventdata": json.dumps(data, separators=(",", ":"), sort_keys=True),
                "visit": json.dumps({"email": email})}
        try:
            # creates: a lost answer is never sent again blindly (nothing would drop the copy)
            answer = self.track.request("POST", "/event", data=form, limit="track", creates=True,
                                        shape={"success?": (int, str), "message?": (str, type(None))})
        except LostResponse as lost:
            if self._tracked(contact, item.id):
                return Delivered(item.id)
            return Retry(item.id, backoff(item.attempts), f"{lost.status or 'no answer'}: {lost}; the tracking "
                                                          "logs are searched for it before it is sent again")
        if str(answer.get("success")) != "1":
            message = self.track.redact(str(answer.get("message") or "no reason given"))
            return Dead(item.id, f"ActiveCampaign did not track the event {name}: {message}")
        return Delivered(item.id)

    def _tracked(self, contact: str, item_id: str) -> bool:
        """Whether the contact's tracking logs hold an event carrying this item's id (the shape of a log
        entry is not documented: the id is looked for anywhere in it)."""
        logs = self._req("GET", f"/contacts/{contact}/trackingLogs", ok=(404,), shape={"trackingLogs": list})
        needle = json.dumps(item_id)[1:-1]
        return any(needle in json.dumps(entry) or item_id in json.dumps(entry) for entry in (logs or {}).get(
            "trackingLogs", []))
