"""The signals engine: one profile's state and one event in, the new state, the enriched event and the
derived triggers due out (spec signals.md §2). Pure Python, no I/O, deterministic.

The state is plain JSON data (dicts, lists, numbers, strings), so the relay can store it and a
restart loses nothing, open trigger episodes (timers) included. ``step`` and ``advance`` update the
state they are given in place and return it; copy it first (``json`` round trip) to keep the old one.

An event is ``{"event": NAME, "time": EPOCH_SECONDS, "properties": {...}}``; an identify is
``{"event": None, "time": ..., "traits": {...}}``. :func:`from_segment` turns Segment's
track / page / identify JSON into that shape; :func:`link` joins the profiles an event's identities
name (anonymousId, userId, email) and :func:`merge` joins their states.

Details every runner agrees on (spec §2): a derived property computed at an event includes that
event; windows include their start; a session ends once 30 minutes pass without an event, so an event
exactly 30 minutes after the last one opens a new session; timers due at an event's time fire before
that event is applied (an ``unless`` event must come strictly before the trigger is due); caps count
per UTC day; ``identify`` links identities and sets traits but is not activity.
"""

from __future__ import annotations

import heapq
import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

from ..expr import evaluate
from .config import SESSION_IDLE, Derived, DerivedTrigger, Signals
from .timefmt import parse_time

DAY = 86400
DEDUP_SECONDS = 7 * DAY  # a messageId seen again within this is the same message (signals.md §3)


# ---------------------------------------------------------------- events in

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Epoch bounds of years 1000 and 9000: iso() can show every time a replay reaches from there, waits included.
_EARLIEST, _LATEST = -30_610_224_000.0, 221_845_392_000.0


class NotJSON(ValueError):
    """What Python's json reads but no other JSON reader does: NaN and Infinity, a number past a double's
    range, a lone UTF-16 surrogate escape. None of it can be stored, summed, printed or sent to an ESP."""


def _no_constant(name: str) -> Any:
    raise NotJSON(f"{name} is not a JSON number")


def _out_of_range(text: str) -> NotJSON:
    return NotJSON(f"the number {text[:40]}{'…' if len(text) > 40 else ''} is out of range")


def _finite(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise _out_of_range(text)
    return x


def _whole(text: str) -> int:
    n = int(text)
    if len(text) > 300 and abs(n) > sys.float_info.max:
        raise _out_of_range(text)
    return n


def strict_json(text: str) -> Any:
    """``text`` as standard JSON, for replay and the relay alike: :class:`NotJSON` for what only Python
    reads; ``json.JSONDecodeError`` (or ValueError, RecursionError) for what is not JSON at all."""
    value = json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_whole)
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise NotJSON("a lone UTF-16 surrogate escape (\\ud800-\\udfff without its pair) is not text") from None
    return value


def load_line(raw: bytes | str) -> tuple[Any, str | None, int]:
    """One line of a JSONL recording as JSON: (value, None, 0), or (None, why not, its column).

    Standard JSON only: no NaN or Infinity, no number too large for a float, no unpaired
    surrogate escape (none of these can be sent on or printed). A UTF-8 BOM is ignored.
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            return None, "not UTF-8", e.start + 1
    off = 1 if raw.startswith("\ufeff") else 0
    try:
        msg = strict_json(raw[off:])
    except NotJSON as e:
        return None, str(e), 1
    except json.JSONDecodeError as e:
        return None, e.msg, e.colno + off
    except (ValueError, RecursionError):  # an integer of over 4,300 digits; nesting too deep
        return None, "too large or too deeply nested", 1
    return msg, None, 0


def from_segment(msg: Any) -> tuple[dict | None, str | None]:
    """A Segment track / page / identify message as an engine event, or (None, why not)."""
    if not isinstance(msg, dict):
        return None, "not a JSON object"
    kind = msg.get("type") or ("track" if "event" in msg else None)
    if kind not in ("track", "page", "identify"):
        return None, f"type '{kind}' is not track, page or identify" if kind else "no type and no event name"
    if kind == "track" and (not isinstance(msg.get("event"), str) or not msg["event"].strip()):
        return None, "no event name"
    ctx = msg.get("context") if isinstance(msg.get("context"), dict) else {}
    traits = {**(ctx.get("traits") if isinstance(ctx.get("traits"), dict) else {}),
              **(msg.get("traits") if isinstance(msg.get("traits"), dict) else {})}
    props = dict(msg["properties"]) if isinstance(msg.get("properties"), dict) else {}
    ids = {}
    for key, field_ in (("user", "userId"), ("anon", "anonymousId")):
        v = msg.get(field_)
        if isinstance(v, str | int) and not isinstance(v, bool) and str(v).strip():
            ids[key] = str(v)
    email = traits.get("email") if isinstance(traits.get("email"), str) else props.get("email")
    if isinstance(email, str) and "@" in email:
        ids["email"] = email.strip().lower()
    if "user" not in ids and "anon" not in ids:
        return None, "no identity (userId or anonymousId)"
    stamp = msg.get("timestamp") or msg.get("originalTimestamp") or msg.get("sentAt")
    t = parse_time(stamp) if isinstance(stamp, str) else None
    if t is None:
        return None, "no timestamp" if stamp is None else f"timestamp '{str(stamp)[:40]}' is not ISO 8601"
    if not _EARLIEST <= t <= _LATEST:
        return None, f"timestamp '{stamp}' is before the year 1000 or after 9000"
    ev: dict[str, Any] = {"time": t, "ids": ids}
    if isinstance(msg.get("messageId"), str):
        ev["id"] = msg["messageId"]
    if kind == "identify":
        ev.update(event=None, traits=traits)
        return ev, None
    if kind == "page":
        page = ctx.get("page") if isinstance(ctx.get("page"), dict) else {}
        for k in ("url", "path", "referrer"):
            if k not in props and k in page:
                props[k] = page[k]
        if isinstance(msg.get("name"), str) and "name" not in props:
            props["name"] = msg["name"]
    ev.update(event="page_visit" if kind == "page" else msg["event"].strip(), properties=props)
    if traits:
        ev["traits"] = traits
    return ev, None


# ---------------------------------------------------------------- identities

def link(index: dict[str, str], ids: dict[str, str]) -> tuple[str, list[str]]:
    """The profile key of an event's identities, and the other profile keys they join to it.

    ``index`` maps ``"anon:X"``, ``"user:Y"``, ``"email:Z"`` to profile keys (updated in place).
    A profile's key is ``user:ID`` once a userId is known, else its first anonymousId (or email);
    the caller merges the states of the returned keys into the first one's (:func:`merge`).
    """
    aliases = [f"{k}:{ids[k]}" for k in ("user", "anon", "email") if k in ids]
    found = []
    for a in aliases:
        key = index.get(a)
        if key is not None and key not in found:
            found.append(key)
    user = f"user:{ids['user']}" if "user" in ids else None
    if user and index.get(user) is None and not any(k.startswith("user:") for k in found):
        target = user  # the first userId of these identities names the profile from now on
    else:
        users = [k for k in found if k.startswith("user:")]
        target = users[0] if users else (found[0] if found else aliases[0])
    others = [k for k in found if k != target]
    if others:
        for a, k in list(index.items()):
            if k in others:
                index[a] = target
    for a in aliases:
        if a not in index or index[a] != target:
            index[a] = target
    return target, others


# ---------------------------------------------------------------- the engine

@dataclass
class Fired:
    """A derived trigger: the event mailwright emits."""

    event: str
    time: float
    properties: dict[str, Any]

    def to_event(self) -> dict[str, Any]:
        return {"event": self.event, "time": self.time, "properties": self.properties}


def _key(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def _num(x: float) -> int | float:
    if not math.isfinite(x):  # a sum past the largest float: the largest, as JSON has no infinity
        return math.copysign(1.7976931348623157e308, x) if math.isinf(x) else 0
    x = round(x, 3)
    return int(x) if x == int(x) else x


class Engine:
    """The definitions of one project, ready to run over any number of profiles."""

    def __init__(self, signals: Signals):
        self.signals = signals
        self.derived = list(signals.derived.values())
        self.by_event: dict[str, list[Derived]] = {}
        for d in self.derived:
            if d.event:
                self.by_event.setdefault(d.event, []).append(d)
        sc = signals.scoring
        self.rules: dict[str, list] = {}
        if sc:
            for r in sc.rules:
                self.rules.setdefault(r.event, []).append(r)
        self.triggers = sorted(signals.triggers.values(), key=lambda t: t.name)
        self.unless: dict[str, list[DerivedTrigger]] = {}
        self.after: dict[str, list[DerivedTrigger]] = {}
        for t in self.triggers:
            for u in t.unless:
                self.unless.setdefault(u, []).append(t)
            if t.after:
                self.after.setdefault(t.after, []).append(t)
        self.session_triggers = [t for t in self.triggers if t.after is None]
        self.min_idle = min((t.idle for t in self.triggers), default=math.inf)

    # -------------------------------------------------------- state

    @staticmethod
    def new_state() -> dict[str, Any]:
        return {"last": None, "sess": None, "score": None, "caps": {}, "d": {}, "traits": {}, "ep": {},
                "done": {}}

    def next_due(self, state: dict) -> float | None:
        """When the earliest open trigger episode comes due (None: no timer running)."""
        due = [state["last"] + t.idle for t in self._open(state)]
        return min(due) if due else None

    def _open(self, state: dict) -> list[DerivedTrigger]:
        out = [t for t in self.triggers if t.after and t.name in state["ep"]]
        sess = state["sess"]
        if sess is not None:
            out += [t for t in self.session_triggers if state["done"].get(t.name) != sess[0]]
        return out

    # -------------------------------------------------------- one event

    def step(self, state: dict, event: dict) -> tuple[dict, dict | None, list[Fired]]:
        """Apply one event: (state, the event enriched with derived properties and score, triggers due
        before it). An identify enriches nothing (None)."""
        t = float(event["time"])
        fired = self.advance(state, t)
        if event.get("traits"):
            state["traits"].update(event["traits"])
        name = event.get("event")
        if name is None:
            return state, None, fired
        props = event.get("properties") or {}
        sess = state["sess"]
        if sess is None or t - sess[1] >= SESSION_IDLE:
            sess = state["sess"] = [t, t, 0]
        sess[1] = max(sess[1], t)
        if name == "page_visit":
            sess[2] += 1
        state["last"] = t if state["last"] is None else max(state["last"], t)
        for d in self.by_event.get(name, ()):
            self._feed(state["d"], d, t, props)
        out = dict(props)
        out.update(self._values(state, t, props))
        if self.signals.scoring is not None:
            score = self._score(state, t, name, out)
            out["intent_score"], out["intent_tier"] = score, self.signals.scoring.tier(score)
        for trig in self.unless.get(name, ()):
            if trig.after:
                state["ep"].pop(trig.name, None)
            elif sess is not None:
                state["done"][trig.name] = sess[0]
        for trig in self.after.get(name, ()):
            state["ep"][trig.name] = {"props": props, "since": t}
        return state, {"event": name, "time": t, "properties": out}, fired

    def advance(self, state: dict, now: float) -> list[Fired]:
        """Fire every trigger due at or before ``now`` (each once per episode), in time order."""
        fired: list[Fired] = []
        if state["last"] is None or state["last"] + self.min_idle > now:  # the common case: nothing due
            return fired
        for trig in sorted(self._open(state), key=lambda tr: (tr.idle, tr.name)):
            due = state["last"] + trig.idle
            if due > now:
                continue
            if trig.after:
                episode = state["ep"].pop(trig.name)
                base = episode["props"]
            else:
                state["done"][trig.name] = state["sess"][0]
                base = {}
            props = {**base, **self._values(state, due, None)}
            if self.signals.scoring is not None:
                score = self.score_at(state, due)
                props["intent_score"], props["intent_tier"] = score, self.signals.scoring.tier(score)
            if trig.where is not None and not evaluate(trig.where, self._data(state, props)):
                continue
            fired.append(Fired(trig.name, due, props))
        return fired

    def _data(self, state: dict, props: dict) -> dict:
        sess = state["sess"]
        session = {"duration": _num(sess[1] - sess[0]), "page_views": sess[2]} if sess else {}
        return {"event": props, "profile": state["traits"], "session": session}

    # -------------------------------------------------------- derived properties

    def _feed(self, data: dict, d: Derived, t: float, props: dict) -> None:
        k = d.kind
        if k == "count":
            if d.same is None:
                if d.window_seconds is None:
                    data[d.name] = data.get(d.name, 0) + 1
                else:
                    data.setdefault(d.name, []).append(t)
                return
            if d.same not in props:
                return
            v = _key(props[d.same])
            slot = data.setdefault(d.name, {"by": {}, "ref": v})
            slot["ref"] = v
            if d.window_seconds is None:
                slot["by"][v] = slot["by"].get(v, 0) + 1
            else:
                slot["by"].setdefault(v, []).append(t)
        elif k == "days_since":
            data[d.name] = t
        elif d.prop in props:
            v = props[d.prop]
            if k == "last":
                data[d.name] = [t, v]
            elif k == "first":
                data.setdefault(d.name, [t, v])
            elif k == "sum":
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                    if d.window_seconds is None:
                        data[d.name] = data.get(d.name, 0) + v
                    else:
                        data.setdefault(d.name, []).append([t, v])
            elif k == "distinct":
                data.setdefault(d.name, {})[_key(v)] = t

    def _values(self, state: dict, t: float, props: dict | None) -> dict[str, Any]:
        """Every derived property at time ``t`` (``props``: the event being applied, if any)."""
        data, out = state["d"], {}
        for d in self.derived:
            k = d.kind
            if k == "session.duration":
                if state["sess"]:
                    out[d.name] = _num(state["sess"][1] - state["sess"][0])
                continue
            if k == "session.page_views":
                if state["sess"]:
                    out[d.name] = state["sess"][2]
                continue
            x = data.get(d.name)
            start = t - d.window_seconds if d.window_seconds is not None else None
            if k == "count":
                if d.same is None:
                    if start is None:
                        out[d.name] = x or 0
                    else:
                        out[d.name] = len(_prune(x, start)) if x else 0
                    continue
                ref = None
                if props is not None and d.same in props:  # this event's product (say), else the last one counted
                    ref = _key(props[d.same])
                elif x:
                    ref = x["ref"]
                if x is None or ref is None:
                    out[d.name] = 0
                elif start is None:
                    out[d.name] = x["by"].get(ref, 0)
                else:
                    by = x["by"]
                    if len(by) > 64:  # now and then, drop what has left every window (bounded memory)
                        for v in list(by):
                            if not _prune(by[v], start):
                                del by[v]
                    times = by.get(ref)
                    out[d.name] = len(_prune(times, start)) if times else 0
            elif k == "sum":
                if start is None:
                    out[d.name] = _num(x or 0)
                else:
                    if x:
                        while x and x[0][0] < start:
                            x.pop(0)
                    out[d.name] = _num(sum(v for _, v in x)) if x else 0
            elif k == "distinct":
                if x and start is not None:
                    for v in [v for v, seen in x.items() if seen < start]:
                        del x[v]
                out[d.name] = len(x) if x else 0
            elif k in ("last", "first"):
                if x is not None:
                    out[d.name] = x[1]
            elif k == "days_since":
                if x is not None:
                    out[d.name] = int((t - x) // DAY)
        return out

    # -------------------------------------------------------- score

    def score_at(self, state: dict, t: float) -> float:
        """The score at ``t``: decayed since its last change, rounded to 2 decimals."""
        s = state["score"]
        if s is None:
            return 0
        return _num2(self._decay(s[0], t - s[1]))

    def _decay(self, score: float, dt: float) -> float:
        hl = self.signals.scoring.half_life
        return score * 2 ** (-dt / hl) if hl and dt > 0 else score

    def _score(self, state: dict, t: float, name: str, props: dict) -> float:
        sc = self.signals.scoring
        points = 0.0
        for rule in self.rules.get(name, ()):
            if rule.where is not None and not evaluate(rule.where, {"event": props, "profile": state["traits"]}):
                continue
            p = rule.points
            keys = [k for k in dict.fromkeys((rule.key, rule.event)) if k in sc.caps]
            day = int(t // DAY)
            if p > 0:
                for k in keys:
                    used = state["caps"].get(k)
                    spent = used[1] if used and used[0] == day else 0.0
                    p = min(p, max(0.0, sc.caps[k] - spent))
                for k in keys:
                    used = state["caps"].get(k)
                    spent = used[1] if used and used[0] == day else 0.0
                    state["caps"][k] = [day, spent + p]
            points += p
        if points:
            s = state["score"]
            base = self._decay(s[0], t - s[1]) if s else 0.0
            state["score"] = [min(sc.max, max(0.0, base + points)), t]
        return self.score_at(state, t)

    # -------------------------------------------------------- identity

    def merge(self, into: dict, other: dict) -> dict:
        """Join ``other``'s history into ``into`` (two profiles an identity links): both count."""
        a, b = into, other
        out = self.new_state()
        out["traits"] = {**b["traits"], **a["traits"]}
        lasts = [x for x in (a["last"], b["last"]) if x is not None]
        out["last"] = max(lasts) if lasts else None
        sa, sb = a["sess"], b["sess"]
        if sa and sb:
            first, second = sorted([sa, sb])
            if second[0] - first[1] < SESSION_IDLE:  # the two sessions overlap: one visit
                out["sess"] = [first[0], max(first[1], second[1]), first[2] + second[2]]
            else:
                out["sess"] = list(second)
        else:
            out["sess"] = list(sa or sb) if (sa or sb) else None
        sess = out["sess"]
        for st in (a, b):
            for name, start in st["done"].items():
                if st["sess"] and start == st["sess"][0] and sess:
                    out["done"][name] = sess[0]
        sc = self.signals.scoring
        if sc is not None and (a["score"] or b["score"]):
            t = max(s[1] for s in (a["score"], b["score"]) if s)
            total = sum(self._decay(s[0], t - s[1]) for s in (a["score"], b["score"]) if s)
            out["score"] = [min(sc.max, total), t]
        for k in sorted({*a["caps"], *b["caps"]}):
            ca, cb = a["caps"].get(k), b["caps"].get(k)
            if ca and cb and ca[0] == cb[0]:
                excess = ca[1] + cb[1] - sc.caps[k]
                if excess > 0 and out["score"]:  # the day's cap holds across the joined history
                    out["score"][0] = max(0.0, out["score"][0] - excess)
                out["caps"][k] = [ca[0], min(sc.caps[k], ca[1] + cb[1])]
            else:
                out["caps"][k] = list(max((c for c in (ca, cb) if c), key=lambda c: c[0]))
        out["ep"] = {**b["ep"], **a["ep"]}
        for name in a["ep"].keys() & b["ep"].keys():
            out["ep"][name] = max(a["ep"][name], b["ep"][name], key=lambda e: e["since"])
        for d in self.derived:
            xa, xb = a["d"].get(d.name), b["d"].get(d.name)
            if xa is None or xb is None:
                if xa is not None or xb is not None:
                    out["d"][d.name] = xa if xa is not None else xb
                continue
            out["d"][d.name] = _merge_data(d, xa, xb)
        return out


def _merge_data(d: Derived, xa: Any, xb: Any) -> Any:
    k = d.kind
    if k == "count":
        if d.same is None:
            return xa + xb if d.window_seconds is None else list(heapq.merge(xa, xb))
        by = dict(xb["by"])
        for v, c in xa["by"].items():
            if v in by:
                by[v] = by[v] + c if d.window_seconds is None else list(heapq.merge(by[v], c))
            else:
                by[v] = c
        return {"by": by, "ref": xa["ref"]}
    if k == "sum":
        return xa + xb if d.window_seconds is None else list(heapq.merge(xa, xb, key=lambda p: p[0]))
    if k == "distinct":
        return {v: max(xa.get(v, -math.inf), xb.get(v, -math.inf)) for v in {*xa, *xb}}
    if k == "last":
        return xa if xa[0] >= xb[0] else xb
    if k == "first":
        return xa if xa[0] <= xb[0] else xb
    if k == "days_since":
        return max(xa, xb)
    raise AssertionError(k)


def _prune(ts: list, start: float) -> list:
    """Drop the times before ``start`` (the window's start is inside it)."""
    i = 0
    while i < len(ts) and ts[i] < start:
        i += 1
    if i:
        del ts[:i]
    return ts


def _num2(x: float) -> int | float:
    x = round(x, 2)
    return int(x) if x == int(x) else x
