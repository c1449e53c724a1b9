"""One committed event through the signals engine, as ``mailwright replay`` does it: identity
stitching, merges, derived properties, score, derived triggers; out come the OutboxItems, one per ESP.

The stores keep the alias index and the profile states; :class:`View` is the small slice of them one
event touches (the profiles its identities name), so the same code runs over SQLite and Redis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..engine import Engine, Fired, link
from ..timefmt import iso
from .model import Identity, OutboxItem


@dataclass
class Record:
    """A profile as stored: the engine's state and every alias (``user:…``, ``anon:…``, ``email:…``)."""

    state: dict
    aliases: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"state": self.state, "aliases": self.aliases}


@dataclass
class View:
    """What applying one event read and changed (the store writes ``records``, ``dropped``, ``index``)."""

    index: dict[str, str]  # alias -> profile key, for every alias of every profile involved
    records: dict[str, Record]  # the profiles involved, by key
    dropped: list[str] = field(default_factory=list)  # keys merged into another profile


def aliases_of(ids: dict[str, str]) -> list[str]:
    return [f"{k}:{ids[k]}" for k in ("user", "anon", "email") if k in ids]


def trigger_id(key: str, f: Fired) -> str:
    """A derived trigger's stable id: the same episode firing again (after a crash) gets the same id."""
    return "trig-" + hashlib.sha256(f"{key}\0{f.event}\0{f.time!r}".encode()).hexdigest()[:32]


class Processor:
    def __init__(self, engine: Engine, esps: list[str]):
        self.engine = engine
        self.esps = list(esps)

    def apply(self, view: View, ev: dict, source_id: str) -> list[OutboxItem]:
        """Apply one engine event (``from_segment``'s shape) to the view; the items to deliver."""
        eng, t = self.engine, ev["time"]
        key, others = link(view.index, ev["ids"])
        out: list[OutboxItem] = []
        rec = view.records.get(key)
        if rec is None:
            rec = view.records[key] = Record(eng.new_state())
        for o in others:
            q = view.records.pop(o)
            view.dropped.append(o)
            out += self._items(o, q, eng.advance(q.state, t))
            out += self._items(key, rec, eng.advance(rec.state, t))
            rec.state = eng.merge(rec.state, q.state)
            rec.aliases = sorted({*rec.aliases, *q.aliases})
        rec.aliases = sorted({*rec.aliases, *aliases_of(ev["ids"])})
        rec.state, enriched, fired = eng.step(rec.state, ev)
        out += self._items(key, rec, fired)
        if enriched is not None:
            out += self._make(key, rec, source_id, enriched["event"], enriched["time"], enriched["properties"], ev)
        return out

    def advance(self, key: str, rec: Record, now: float) -> list[OutboxItem]:
        """The triggers of one profile due by ``now`` (its timer went off)."""
        return self._items(key, rec, self.engine.advance(rec.state, now))

    def _items(self, key: str, rec: Record, fired: list[Fired]) -> list[OutboxItem]:
        out = []
        for f in fired:
            out += self._make(key, rec, trigger_id(key, f), f.event, f.time, f.properties, None)
        return out

    def _make(self, key: str, rec: Record, source: str, name: str, t: float, props: dict,
              ev: dict | None) -> list[OutboxItem]:
        ident = identity(rec, ev)
        pid = profile_id(key, rec)
        traits = dict(rec.state.get("traits") or {})
        return [OutboxItem(id=f"{source}:{esp}", esp=esp, profile=pid, identity=ident, event=name, time=iso(t),
                           properties=dict(props), profile_properties=traits) for esp in self.esps]


def profile_id(key: str, rec: Record) -> str:
    """The profile's id as replay names it: its userId once known, else its anonymousId."""
    users = sorted(a for a in rec.aliases if a.startswith("user:"))
    anons = sorted(a for a in rec.aliases if a.startswith("anon:"))
    return (users or anons or [key])[0].split(":", 1)[1]


def identity(rec: Record, ev: dict | None) -> Identity:
    ids = (ev or {}).get("ids") or {}
    users = sorted(a.split(":", 1)[1] for a in rec.aliases if a.startswith("user:"))
    anons = sorted(a.split(":", 1)[1] for a in rec.aliases if a.startswith("anon:"))
    email = ids.get("email")
    traits = rec.state.get("traits") or {}
    if email is None and isinstance(traits.get("email"), str) and "@" in traits["email"]:
        email = traits["email"].strip().lower()
    return Identity(user_id=ids.get("user") or (users[0] if users else None),
                    anonymous_id=ids.get("anon") or (anons[0] if anons else None), email=email)


def order_keys(d: dict) -> list[str]:
    """What keeps a profile's items in order in the outbox (an item's JSON): its profile and every
    identity it carries, so an item stays behind earlier ones after the profile was renamed by a link
    (anonymous a1 becomes user u1) or merged."""
    ident = d["identity"]
    return [f"p:{d['profile']}", *(f"{n}:{v}" for n, v in zip(("user", "anon", "email"), ident) if v)]


def item_to_json(item: OutboxItem) -> dict[str, Any]:
    return {"id": item.id, "esp": item.esp, "profile": item.profile,
            "identity": [item.identity.user_id, item.identity.anonymous_id, item.identity.email],
            "event": item.event, "time": item.time, "properties": item.properties,
            "profile_properties": item.profile_properties}


def item_from_json(d: dict, attempts: int = 0) -> OutboxItem:
    return OutboxItem(id=d["id"], esp=d["esp"], profile=d["profile"], identity=Identity(*d["identity"]),
                      event=d["event"], time=d["time"], properties=d["properties"],
                      profile_properties=d["profile_properties"], attempts=attempts)
