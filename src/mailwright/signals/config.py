"""``[signals]``, ``[scoring]`` and ``[triggers]`` of mailwright.toml, parsed with every mistake located.

Every error of the three tables is collected and raised in one pass
(``mailwright.toml:LINE:COL: error:``); unknown functions and near-miss event
names get a did-you-mean.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import MailwrightError, MailwrightErrors, Pos
from ..expr import Expr, Scope, parse_condition, uses
from ..inputs import value_kind

FUNCTIONS = ("count", "sum", "last", "first", "days_since", "distinct")
SESSION = ("session.duration", "session.page_views")
RESERVED = ("intent_score", "intent_tier")  # what [scoring] attaches to every event
SCORING_KEYS = ("half_life", "max", "points", "caps", "tiers")
TRIGGER_KEYS = ("after", "unless", "idle", "where")
SESSION_IDLE = 1800  # a session ends after 30 minutes without events

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EVENT = re.compile(r"[A-Za-z_][\w.-]*")
_CALL = re.compile(r"\s*([A-Za-z_][\w.]*)\s*(?:\((.*)\))?\s*", re.S)
_WHERE = re.compile(r"\s*(\S+?)\s+where\s+(.+)", re.S)


@dataclass(frozen=True)
class Derived:
    """One ``[signals]`` entry: ``name = "count(product_viewed, 24h, same=product_id)"``."""

    name: str
    kind: str  # count, sum, last, first, days_since, distinct, session.duration, session.page_views
    event: str | None
    prop: str | None
    window_seconds: int | None
    same: str | None
    value_type: str  # "number", "string" or "any"
    source: str
    pos: Pos


@dataclass(frozen=True)
class PointRule:
    """One ``[scoring.points]`` entry: an activity (event, optional condition) and its points."""

    key: str  # as written: the activity's name, which [scoring.caps] uses
    event: str
    where: Expr | None
    points: float
    pos: Pos


@dataclass
class Scoring:
    half_life: int | None  # seconds; None: no decay
    max: float
    rules: list[PointRule]
    caps: dict[str, float]  # activity (a points key, or an event name covering its rules) -> points per UTC day
    tiers: list[tuple[str, float]]  # highest threshold first; below the last: "low"
    pos: Pos

    def tier(self, score: float) -> str:
        for name, lowest in self.tiers:
            if score >= lowest:
                return name
        return "low"


@dataclass(frozen=True)
class DerivedTrigger:
    """One ``[triggers]`` entry: an event mailwright emits itself after ``idle`` with no ``unless`` event."""

    name: str
    after: str | None
    unless: tuple[str, ...]
    idle: int  # seconds
    where: Expr | None
    where_source: str
    pos: Pos


@dataclass
class Signals:
    derived: dict[str, Derived] = field(default_factory=dict)
    scoring: Scoring | None = None
    triggers: dict[str, DerivedTrigger] = field(default_factory=dict)

    def events_read(self) -> set[str]:
        """Every event name the definitions read (not the derived triggers they emit)."""
        out = {d.event for d in self.derived.values() if d.event}
        if self.scoring:
            out |= {r.event for r in self.scoring.rules}
        for t in self.triggers.values():
            out |= set(t.unless) | ({t.after} if t.after else set())
        if any(d.kind == "session.page_views" for d in self.derived.values()):
            out.add("page_visit")
        return out

    def properties(self) -> set[str]:
        """The names these definitions add to every event (``event.NAME``)."""
        return set(self.derived) | (set(RESERVED) if self.scoring else set())




def _number(v: Any) -> bool:
    """A TOML number a score can use: not a bool, and not TOML's nan or inf."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class _Reader:
    def __init__(self, project: Any):
        self.project = project
        self.errors: list[MailwrightError] = []
        self.lines: list[str] | None = None
        from ..flows import EVENTS

        esp_events = [e for table in project.config.get("esp", {}).values() if isinstance(table, dict)
                      for e in (table.get("events") or {}) if isinstance(table.get("events"), dict)]
        self.known_events = sorted({*EVENTS, *esp_events})

    def error(self, pos: Pos, msg: str) -> None:
        self.errors.append(MailwrightError(pos, msg))

    def at(self, table: str, key: str) -> Pos:
        return self.project.pos_of_key(table, key)

    def inside(self, pos: Pos, needle: str, offset: int = 0) -> Pos:
        """The place of ``needle`` on ``pos``'s line at or after ``pos`` (``pos`` itself when not found)."""
        if self.lines is None:
            try:
                self.lines = self.project.config_path.read_text(encoding="utf-8-sig").splitlines()
            except (OSError, UnicodeDecodeError):
                self.lines = []
        if not 0 < pos.line <= len(self.lines) or not needle:
            return pos
        i = self.lines[pos.line - 1].find(needle, pos.col - 1)
        return Pos(pos.path, pos.line, i + 1 + offset) if i >= 0 else pos

    def event(self, name: str, pos: Pos, what: str = "event") -> bool:
        """A plausible event name; a near miss of a known event is a typo."""
        if not _EVENT.fullmatch(name):
            from ..flows import EVENTS

            self.error(pos, f"'{name}' is not an {what} name (such as {', '.join(EVENTS[:3])}, …)")
            return False
        if name in self.known_events:
            return True
        close = difflib.get_close_matches(name, self.known_events, n=1, cutoff=0.8)
        if close:
            self.error(pos, f"unknown {what} '{name}': did you mean '{close[0]}'?")
            return False
        return True  # a custom event of the site

    def duration(self, text: Any, pos: Pos) -> int | None:
        from ..flows import Y, duration

        try:
            return duration(Y(text, pos)).seconds
        except MailwrightError as e:
            self.errors.append(e)
            return None

    def condition(self, src: str, pos: Pos, session: bool = False) -> Expr | None:
        scope = Scope(self.project.segments, ("session",) if session else ())
        try:
            e = parse_condition(src, pos, scope)
        except MailwrightError as e:
            self.errors.append(e)
            return None
        for v in uses(e):
            if v.root in ("trigger", "esp"):
                self.error(pos, f"'{v.portable}' cannot be used here (it is known only when an email is sent)")
                return None
            if v.root == "session" and (len(v.path) != 1 or f"session.{v.path[0]}" not in SESSION):
                self.error(pos, f"unknown name '{v.portable}' (session.duration, session.page_views)")
                return None
        return e


def _signal(r: _Reader, name: str, src: Any) -> Derived | None:
    pos = r.at("signals", name)
    if not _NAME.fullmatch(name):
        r.error(pos, f"'{name}' is not a property name (letters, digits, '_')")
        return None
    if name in RESERVED:
        r.error(pos, f"'{name}' is set by [scoring]; name this property differently")
        return None
    if not isinstance(src, str):
        r.error(pos, f"{name} in [signals] is a string such as \"count(product_viewed, 24h)\", not {value_kind(src)}")
        return None
    inner = Pos(pos.path, pos.line, pos.col + 1) if pos.line else pos  # inside the quotes
    m = _CALL.fullmatch(src)
    if not m:
        r.error(inner, f"'{src}' is not a signal: write a function such as count(product_viewed, 24h), "
                       "last(cart_updated.cart_value) or session.duration")
        return None
    fn, args_text = m.group(1), m.group(2)
    if args_text is None:
        if fn in SESSION:
            return Derived(name, fn, None, None, None, None, "number", src, pos)
        close = difflib.get_close_matches(fn, [*SESSION, *FUNCTIONS], n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        r.error(inner, f"unknown signal '{fn}': {hint}(functions: {', '.join(FUNCTIONS)}; "
                       f"{', '.join(SESSION)})")
        return None
    if fn not in FUNCTIONS:
        close = difflib.get_close_matches(fn, [*FUNCTIONS, *SESSION], n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        r.error(r.inside(inner, fn), f"unknown function '{fn}': {hint}(functions: {', '.join(FUNCTIONS)}; "
                                     f"{', '.join(SESSION)})")
        return None
    args = [a.strip() for a in args_text.split(",")] if args_text.strip() else []
    positional = [a for a in args if "=" not in a]
    named = dict(a.split("=", 1) for a in args if "=" in a)
    named = {k.strip(): v.strip() for k, v in named.items()}
    usage = {"count": "count(EVENT, WINDOW, same=PROP)", "sum": "sum(EVENT.PROP, WINDOW)",
             "distinct": "distinct(EVENT.PROP, WINDOW)", "last": "last(EVENT.PROP)",
             "first": "first(EVENT.PROP)", "days_since": "days_since(EVENT)"}[fn]
    windowed = fn in ("count", "sum", "distinct")
    allowed_named = {"same"} if fn == "count" else set()
    bad = [k for k in named if k not in allowed_named]
    if bad or not positional or len(positional) > (2 if windowed else 1) or positional != args[:len(positional)]:
        what = f"'{bad[0]}=' is not an argument of {fn}" if bad else f"{fn} takes {usage}"
        r.error(inner, f"{what} (in '{src}')")
        return None
    target = positional[0]
    event, prop = target, None
    if fn in ("sum", "distinct", "last", "first"):
        event, dot, prop = target.partition(".")
        if not dot or not prop or not _NAME.fullmatch(prop):
            r.error(r.inside(inner, target), f"{fn} reads a property of an event: {usage}, as "
                                             f"{fn}(cart_updated.cart_value{', 24h' if windowed else ''})")
            return None
    if not r.event(event, r.inside(inner, event)):
        return None
    window = None
    if len(positional) == 2:
        window = r.duration(positional[1], r.inside(inner, positional[1]))
        if window is None:
            return None
    same = named.get("same")
    if same is not None and not _NAME.fullmatch(same):
        r.error(r.inside(inner, same), f"same= names a property of {event}, as same=product_id")
        return None
    value_type = "any" if fn in ("last", "first") else "number"
    return Derived(name, fn, event, prop, window, same, value_type, src, pos)


def _scoring(r: _Reader, table: Any, trigger_names: set[str]) -> Scoring | None:
    pos = r.at("", "scoring")
    if not isinstance(table, dict):
        r.error(pos, f"[scoring] is a table, not {value_kind(table)}")
        return None
    for k in table:
        if k not in SCORING_KEYS:
            close = difflib.get_close_matches(k, SCORING_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            r.error(r.project.places.get(("scoring", k), (pos,))[0], f"unknown key '{k}' in [scoring]: {hint}"
                                                                     f"(keys: {', '.join(SCORING_KEYS)})")
    half_life = None
    if "half_life" in table:
        half_life = r.duration(table["half_life"], r.at("scoring", "half_life"))
    top = table.get("max", 100)
    if not _number(top) or top <= 0:
        r.error(r.at("scoring", "max"), f"max is a number above 0 (the highest score), not {top!r}")
        top = 100
    rules: list[PointRule] = []
    points = table.get("points", {})
    if not isinstance(points, dict):
        r.error(r.at("scoring", "points"), f"[scoring.points] is a table, not {value_kind(points)}")
        points = {}
    if not points:
        r.error(r.at("scoring", "points") if "points" in table else pos,
                "[scoring] gives no points: add [scoring.points] with lines such as product_viewed = 10")
    for key, value in points.items():
        kpos = r.at("scoring.points", key)
        key_pos = r.project.places.get(("scoring", "points", key), (kpos,))[0]
        if not _number(value):
            shown = repr(value) if isinstance(value, float) else value_kind(value)  # nan, inf: TOML's
            r.error(kpos, f"the points of '{key}' are a number, not {shown}")
            continue
        m = _WHERE.fullmatch(key)
        event, cond = (m.group(1), m.group(2)) if m else (key.strip(), None)
        if not r.event(event, key_pos):
            continue
        if event in trigger_names:
            r.error(key_pos, f"'{event}' is a derived trigger: points go to events the site sends")
            continue
        where = None
        if cond is not None:
            where = r.condition(cond, r.inside(key_pos, cond))
            if where is None:
                continue
        rules.append(PointRule(key, event, where, float(value), kpos))
    caps: dict[str, float] = {}
    raw_caps = table.get("caps", {})
    if not isinstance(raw_caps, dict):
        r.error(r.at("scoring", "caps"), f"[scoring.caps] is a table, not {value_kind(raw_caps)}")
        raw_caps = {}
    activities = [*points, *sorted({ru.event for ru in rules})]
    for key, value in raw_caps.items():
        kpos = r.at("scoring.caps", key)
        if key not in activities:
            close = difflib.get_close_matches(key, activities, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            r.error(r.project.places.get(("scoring", "caps", key), (kpos,))[0],
                    f"cap for '{key}', which [scoring.points] does not score: {hint}"
                    f"(activities: {', '.join(activities) or 'none'})")
        elif not _number(value) or value <= 0:
            r.error(kpos, f"the cap of '{key}' is a number of points above 0, not {value!r}")
        else:
            caps[key] = float(value)
    tiers: list[tuple[str, float]] = []
    raw_tiers = table.get("tiers", {})
    if not isinstance(raw_tiers, dict):
        r.error(r.at("scoring", "tiers"), f"[scoring.tiers] is a table, not {value_kind(raw_tiers)}")
        raw_tiers = {}
    for key, value in raw_tiers.items():
        kpos = r.at("scoring.tiers", key)
        if not _NAME.fullmatch(key):
            r.error(kpos, f"'{key}' is not a tier name (letters, digits, '_')")
        elif not _number(value) or not 0 <= value <= top:
            r.error(kpos, f"the lowest score of tier '{key}' is a number from 0 to {top:g}, not {value!r}")
        else:
            tiers.append((key, float(value)))
    tiers.sort(key=lambda t: -t[1])
    for (a, va), (b, vb) in zip(tiers, tiers[1:]):
        if va == vb:
            r.error(r.at("scoring.tiers", b), f"tiers '{a}' and '{b}' start at the same score {va:g}")
    return Scoring(half_life, float(top), rules, caps, tiers, pos)


def _trigger(r: _Reader, name: str, spec: Any) -> DerivedTrigger | None:
    pos = r.at("triggers", name)
    example = 'cart_abandoned = { after = "cart_updated", unless = ["placed_order"], idle = "30m" }'
    if not _EVENT.fullmatch(name):
        r.error(pos, f"'{name}' is not an event name")
        return None
    if not isinstance(spec, dict):
        r.error(pos, f"a derived trigger is a table, as {example}; this is {value_kind(spec)}")
        return None
    ok = True
    for k in spec:
        if k not in TRIGGER_KEYS:
            close = difflib.get_close_matches(k, TRIGGER_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            r.error(r.inside(pos, k), f"unknown key '{k}' in trigger {name}: {hint}(keys: {', '.join(TRIGGER_KEYS)})")
            ok = False
    after = spec.get("after")
    if after is not None:
        if not isinstance(after, str):
            r.error(r.inside(pos, "after"), f"after is one event name, not {value_kind(after)}")
            ok = False
        elif not r.event(after, r.inside(pos, f'"{after}"', 1)):
            ok = False
        elif after == name:
            r.error(r.inside(pos, "after"), f"trigger {name} cannot come after itself")
            ok = False
    unless = spec.get("unless", [])
    if isinstance(unless, str):
        unless = [unless]
    if not isinstance(unless, list) or not all(isinstance(u, str) for u in unless):
        r.error(r.inside(pos, "unless"), "unless is a list of event names, as unless = [\"placed_order\"]")
        unless, ok = [], False
    for u in unless:
        if not r.event(u, r.inside(pos, f'"{u}"', 1)):
            ok = False
    idle = None
    if "idle" not in spec:
        r.error(pos, f"trigger {name} needs idle: how long without events before it fires, as idle = \"30m\"")
        ok = False
    else:
        idle = r.duration(spec["idle"], r.inside(pos, "idle"))
    where, where_src = None, ""
    if "where" in spec:
        w = spec["where"]
        wpos = r.inside(pos, "where")
        if not isinstance(w, str):
            r.error(wpos, f"where is a condition in quotes, as where = \"session.duration > 90\"; this is {value_kind(w)}")
            ok = False
        else:
            where_src = w
            where = r.condition(w, r.inside(wpos, f'"{w}"', 1), session=True)
            ok = ok and where is not None
    if not ok or idle is None:
        return None
    return DerivedTrigger(name, after, tuple(unless), idle, where, where_src, pos)


def load_signals(project: Any) -> Signals:
    """The project's ``[signals]``, ``[scoring]`` and ``[triggers]`` (all empty when absent).

    ``project`` is a :class:`mailwright.project.Project`. Raises every mistake of
    the three tables at once (:class:`MailwrightErrors` when there are several).
    """
    cfg = project.config
    out = Signals()
    if not any(k in cfg for k in ("signals", "scoring", "triggers")):
        return out  # nothing to read (nor mailwright.flows to import, whose event names the reader knows)
    r = _Reader(project)
    triggers = cfg.get("triggers", {})
    if not isinstance(triggers, dict):
        r.error(r.at("", "triggers"), f"[triggers] is a table, not {value_kind(triggers)}")
        triggers = {}
    r.known_events = sorted({*r.known_events, *triggers})
    signals = cfg.get("signals", {})
    if not isinstance(signals, dict):
        r.error(r.at("", "signals"), f"[signals] is a table, not {value_kind(signals)}")
        signals = {}
    for name, src in signals.items():
        d = _signal(r, name, src)
        if d is not None:
            out.derived[name] = d
    if "scoring" in cfg:
        out.scoring = _scoring(r, cfg["scoring"], set(triggers))
    for name, spec in triggers.items():
        t = _trigger(r, name, spec)
        if t is not None:
            out.triggers[name] = t
    if r.errors:
        if len(r.errors) == 1:
            raise r.errors[0]
        raise MailwrightErrors([e.diagnostic for e in r.errors])
    return out
