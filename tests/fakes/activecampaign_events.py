"""The fake ActiveCampaign's endpoints for the relay: the event tracking switch, contacts with
their custom field values, their tracking logs, and ``trackcmp.net/event``.

- ``GET``/``PUT /api/3/eventTracking``: the switch (off in a new account).
- ``POST /api/3/contact/sync``: a contact by email, made or updated (201 / 200), with
  ``fieldValues`` (``[{field: id, value}]``; a field id that does not exist is 422).
- ``GET /api/3/contacts/{id}/trackingLogs``: the events tracked for the contact (404 when there
  is no such contact). The shape of a log entry is not documented (the spec says "an array"):
  here ``{"contact", "type": "event", "name", "eventdata", "tstamp"}``.
- ``POST /event`` (what ``ACTIVECAMPAIGN_TRACK_URL`` points at: this fake serves it at its own
  address): a form post with ``actid``, ``key``, ``event`` (at most 32 characters), ``eventdata``
  and ``visit`` (``{"email": …}``), validated against the vendored trackcmp description (which
  gives the fields as a JSON object). Answers 200 ``{"success": 1, "message": "Event spawned"}``.
  No idempotency key: every post is a new event (``tracked`` keeps them all, duplicates too).
  A wrong ``actid``/``key``, tracking switched off, or an email that is no contact: 200 with
  ``success: 0`` and a message (an assumption: the answer of those cases is not documented).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from .base import Recorded, Reply, SpecValidator
from .ratelimit_events import RateLimits, limited

TRACK_PATH = "/event"
EVENT_NAME_MAX = 32


class ActiveCampaignEvents:
    """Mixed into ActiveCampaignFake (which brings lock, clock, fields, error, next_id, INVALID_STATUS)."""

    contacts: dict[str, dict]
    tracked: list[dict]

    def _init_events(self, account_id: str, event_key: str, tracking: bool) -> None:
        self.account_id = account_id
        self.event_key = event_key
        self.tracking_enabled = tracking
        self.contacts = {}
        self.tracked = []
        # 5 requests/s per account, counted over the API and trackcmp.net alike; enforced when rate.enforce
        self.rate = RateLimits({"api": [(5, 1)]})
        self.track_spec = SpecValidator("activecampaign-trackcmp.json", "https://trackcmp.net")

    def event_routes(self) -> list[tuple[str, str, Callable[..., Reply]]]:
        return [("GET", "/eventTracking", limited(self, "api", self.get_tracking)),
                ("PUT", "/eventTracking", limited(self, "api", self.put_tracking)),
                ("POST", "/contact/sync", limited(self, "api", self.sync_contact)),
                ("GET", r"/contacts/([^/]+)/trackingLogs", limited(self, "api", self.tracking_logs))]

    # ------------------------------------------------------------ test helpers
    def field_values(self, email: str) -> dict[str, str] | None:
        """A contact's custom field values by personalization tag (``CART_VALUE``), or None."""
        with self.lock:  # type: ignore[attr-defined]
            c = next((c for c in self.contacts.values() if c["email"] == email.lower()), None)
            if c is None:
                return None
            tags = {fid: f["perstag"] for fid, f in self.fields.items()}  # type: ignore[attr-defined]
            return {tags.get(fid, fid): v for fid, v in c["fieldValues"].items()}

    def tracked_events(self, name: str | None = None) -> list[dict]:
        with self.lock:  # type: ignore[attr-defined]
            return [copy.deepcopy(t) for t in self.tracked if name is None or t["name"] == name]

    # ------------------------------------------------------------ the switch
    def get_tracking(self, req: Recorded) -> Reply:
        return Reply(200, {"eventTracking": {"enabled": self.tracking_enabled}})

    def put_tracking(self, req: Recorded) -> Reply:
        self.tracking_enabled = bool(req.json["eventTracking"]["enabled"])
        return Reply(200, {"eventTracking": {"enabled": self.tracking_enabled}})

    # ------------------------------------------------------------ contacts
    def sync_contact(self, req: Recorded) -> Reply:
        body = req.json["contact"]
        email = str(body["email"]).strip().lower()
        if "@" not in email:
            return self.error(self.INVALID_STATUS, "Email address is not valid", pointer="/contact/email",  # type: ignore
                              code="email_invalid")
        values = body.get("fieldValues") or []
        for i, fv in enumerate(values):
            if not isinstance(fv, dict) or str(fv.get("field")) not in self.fields:  # type: ignore[attr-defined]
                return self.error(self.INVALID_STATUS, f"Field {fv.get('field') if isinstance(fv, dict) else fv!r} "  # type: ignore
                                  "does not exist", pointer=f"/contact/fieldValues/{i}/field", code="field_invalid")
        cid = next((k for k, c in self.contacts.items() if c["email"] == email), None)
        created = cid is None
        now = self.clock.iso()  # type: ignore[attr-defined]
        if cid is None:
            cid = str(self.next_id("contact"))  # type: ignore[attr-defined]
            self.contacts[cid] = {"email": email, "cdate": now, "fieldValues": {}, "firstName": "", "lastName": ""}
        contact = self.contacts[cid]
        for k in ("firstName", "lastName", "phone"):
            if body.get(k) is not None:
                contact[k] = str(body[k])
        out = []
        for fv in values:
            contact["fieldValues"][str(fv["field"])] = "" if fv.get("value") is None else str(fv["value"])
            out.append({"contact": cid, "field": str(fv["field"]), "value": contact["fieldValues"][str(fv["field"])],
                        "cdate": now, "udate": now, "id": str(self.next_id("fieldValue")), "owner": cid})
        shown = {"email": email, "cdate": contact["cdate"], "udate": now, "firstName": contact["firstName"],
                 "lastName": contact["lastName"], "id": cid}
        return Reply(201 if created else 200, {"fieldValues": out, "contact": shown})

    def tracking_logs(self, req: Recorded, cid: str) -> Reply:
        if cid not in self.contacts:
            return Reply(404, {"message": f"No Result found for Subscriber with id {cid}"})
        logs = [{"contact": cid, "type": "event", "name": t["name"], "eventdata": t["eventdata"], "tstamp": t["tstamp"]}
                for t in self.tracked if t["email"] == self.contacts[cid]["email"]]
        return Reply(200, {"trackingLogs": logs})

    # ------------------------------------------------------------ trackcmp.net/event
    def track_event(self, req: Recorded) -> Reply:
        if not self.rate.admit("api"):
            return self.fault_reply("429", 1.0)  # type: ignore[attr-defined]
        ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return Reply(400, {})
        form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        as_json = Recorded("POST", TRACK_PATH, {}, form, {"Content-Type": "application/json"},
                           json.dumps(form).encode())
        if self.track_spec.problems(as_json):
            return Reply(400, {})
        if len(form["event"]) > EVENT_NAME_MAX or not form["event"].strip():
            return Reply(400, {})
        if form["actid"] != self.account_id or form["key"] != self.event_key:
            return Reply(200, {"success": 0, "message": "Invalid actid or key"})
        if not self.tracking_enabled:
            return Reply(200, {"success": 0, "message": "Event tracking is not enabled for this account"})
        try:
            visit = json.loads(form["visit"])
            email = str(visit["email"]).strip().lower()
        except (ValueError, KeyError, TypeError):
            return Reply(400, {})
        if not any(c["email"] == email for c in self.contacts.values()):
            return Reply(200, {"success": 0, "message": "Contact not found"})
        self.tracked.append({"name": form["event"], "email": email, "eventdata": form.get("eventdata", ""),
                             "tstamp": self.clock.iso()})  # type: ignore[attr-defined]
        if not any(e["name"] == form["event"] for e in self.events):  # type: ignore[attr-defined]
            self.events.append({"name": form["event"]})  # type: ignore[attr-defined]
        return Reply(200, {"success": 1, "message": "Event spawned"})


def form_of(req: Recorded) -> dict[str, Any]:
    """The fields of a form post as the fake recorded it (for tests)."""
    return dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
