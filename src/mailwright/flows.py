"""Flows: behavioral journeys as YAML (flows.md), loaded with every position kept.

A flow file becomes a :class:`Flow`; each connector translates it into its ESP's
own definition (``Connector.flows``). Every fault is ``PATH:LINE:COL: error:`` in
the YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MailwrightError, Pos
from .expr import Expr, Scope, parse_condition, uses
from .inputs import compose_yaml, construct_scalar, user_files

# Portable events every example and every ESP mapping knows (flows.md).
EVENTS = ("page_visit", "product_viewed", "cart_updated", "cart_abandoned", "checkout_started",
          "placed_order", "content_downloaded", "session_exit", "email_opened", "email_clicked")
_DURATION = re.compile(r"(\d+)\s*(s|m|h|d|w)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
MAX_DURATION = 365 * 86400


# ---------------------------------------------------------------- YAML with positions

@dataclass
class Y:
    """A YAML value and where it stands."""

    value: Any  # dict[str, Y] | list[Y] | scalar
    pos: Pos
    key_pos: Pos | None = None

    def get(self, key: str) -> Y | None:
        return self.value.get(key) if isinstance(self.value, dict) else None


def load_yaml(path: Path, text: str | None = None) -> Y:
    """A YAML file with every value's position (aliases budgeted, depth bounded: see inputs.py)."""
    node = compose_yaml(path, text)
    if node is None:
        raise MailwrightError(Pos(str(path)), "the file is empty")
    return _convert(node, str(path))


def _pos(path: str, node) -> Pos:
    return Pos(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _convert(node, path: str) -> Y:
    import yaml  # read at a flow's first load: importing mailwright.flows does not cost PyYAML's import

    if isinstance(node, yaml.MappingNode):
        out: dict[str, Y] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
                raise MailwrightError(_pos(path, k), "a key is a plain name, as 'name:' or 'steps:'")
            key = k.value  # as written: 'on:' stays 'on', not YAML 1.1's True
            if key in out:
                raise MailwrightError(_pos(path, k), f"'{key}' is given twice").with_note(
                    out[key].key_pos or out[key].pos, "first given here")
            y = _convert(v, path)
            y.key_pos = _pos(path, k)
            out[key] = y
        return Y(out, _pos(path, node))
    if isinstance(node, yaml.SequenceNode):
        return Y([_convert(v, path) for v in node.value], _pos(path, node))
    value = construct_scalar(node, path)
    pos = _pos(path, node)
    if node.style in ('"', "'"):  # point inside the quotes, where the expression starts
        pos = Pos(pos.path, pos.line, pos.col + 1)
    return Y(value, pos)


def text_value(y: Y, what: str, example: str) -> str:
    """A value that must be one line of text (never a list's or a number's Python repr)."""
    if not isinstance(y.value, str):
        kind = {dict: "a mapping", list: "a list", bool: "true/false", type(None): "empty"}.get(
            type(y.value), "a number" if isinstance(y.value, int | float) else "not text")
        raise MailwrightError(y.pos, f"{what} is text, as {example}; this is {kind}")
    if not y.value.strip():
        raise MailwrightError(y.pos, f"{what} is empty; write it as {example}")
    if "\n" in y.value or "\r" in y.value:
        raise MailwrightError(y.pos, f"{what} is one line of text")
    return y.value


# ---------------------------------------------------------------- the flow IR

@dataclass(frozen=True)
class Duration:
    seconds: int
    text: str
    pos: Pos


@dataclass
class Wait:
    duration: Duration
    until: str | None
    pos: Pos


@dataclass
class Send:
    template: str
    pos: Pos


@dataclass
class Branch:
    when: Expr
    source: str
    then: list
    else_: list
    pos: Pos
    reads: frozenset[str]  # roots the condition reads: 'event', 'profile'

    @property
    def construct(self) -> str:
        """Its row in the flow capability tables."""
        if self.reads == {"event"}:
            return "branch on event"
        if self.reads == {"profile"}:
            return "branch on profile"
        return "branch on event and profile"


@dataclass
class Arm:
    name: str
    percent: int
    steps: list
    pos: Pos


@dataclass
class Split:
    arms: list[Arm]
    pos: Pos


Step = Wait | Send | Branch | Split


@dataclass
class Limits:
    max_emails: int | None
    per: Duration | None
    quiet_hours: tuple[str, str] | None
    pos: Pos


@dataclass
class Flow:
    id: str  # the file's name
    name: str
    path: str
    pos: Pos
    event: str
    event_pos: Pos
    where: Expr | None = None
    where_source: str = ""
    where_pos: Pos | None = None
    audience: Expr | None = None
    audience_source: str = ""
    audience_pos: Pos | None = None
    exit_on: list[tuple[str, Pos]] = field(default_factory=list)
    reentry: Duration | None = None
    limits: Limits | None = None
    steps: list = field(default_factory=list)
    name_pos: Pos | None = None

    def sends(self) -> list[Send]:
        return [s for s in walk(self.steps) if isinstance(s, Send)]


def walk(steps: list):
    for s in steps:
        yield s
        if isinstance(s, Branch):
            yield from walk(s.then)
            yield from walk(s.else_)
        elif isinstance(s, Split):
            for a in s.arms:
                yield from walk(a.steps)


# ---------------------------------------------------------------- loading

TOP_KEYS = {"name", "trigger", "audience", "exit_on", "reentry", "limits", "steps"}
STEP_KINDS = ("wait", "send", "branch", "split")


def load_flow(path: Path, templates: set[str], segments: dict) -> Flow:
    y = load_yaml(path)
    if not isinstance(y.value, dict):
        raise MailwrightError(y.pos, "a flow is a mapping: name, trigger, steps, …")
    for k, v in y.value.items():
        if k not in TOP_KEYS:
            raise MailwrightError(v.key_pos or v.pos, f"unknown key '{k}' (keys: {', '.join(sorted(TOP_KEYS))})")
    scope = Scope(segments)
    name = y.get("name")
    trig = y.get("trigger")
    if trig is None:
        raise MailwrightError(y.pos, "a flow needs a trigger: {event: …}")
    if not isinstance(trig.value, dict) or not isinstance((trig.get("event") or Y(None, trig.pos)).value, str):
        raise MailwrightError(trig.pos, "trigger needs event: NAME (a portable event such as cart_abandoned)")
    for k, v in trig.value.items():
        if k not in ("event", "where"):
            raise MailwrightError(v.key_pos or v.pos, f"unknown key '{k}' in trigger (keys: event, where)")
    ev = trig.get("event")
    _check_event_name(ev)
    title = text_value(name, "name", "name: Abandoned cart") if name is not None else path.stem
    flow = Flow(path.stem, title, str(path), y.pos, ev.value, ev.pos)
    flow.name_pos = name.pos if name is not None else y.pos
    if (w := trig.get("where")) is not None:
        flow.where, flow.where_source, flow.where_pos = _condition(w, scope, only="event"), str(w.value), w.pos
    if (a := y.get("audience")) is not None:
        flow.audience, flow.audience_source, flow.audience_pos = _condition(a, scope, only="profile"), str(a.value), a.pos
    if (x := y.get("exit_on")) is not None:
        items = x.value if isinstance(x.value, list) else [x]
        for it in items:
            _check_event_name(it)
            flow.exit_on.append((it.value, it.pos))
    if (r := y.get("reentry")) is not None:
        flow.reentry = duration(r)
    if (lim := y.get("limits")) is not None:
        flow.limits = _limits(lim)
    steps = y.get("steps")
    if steps is None:
        raise MailwrightError(y.pos, "a flow needs steps: a list of wait / send / branch / split")
    flow.steps = _steps(steps, templates, scope)
    if not flow.sends():
        raise MailwrightError(steps.pos, "the flow sends nothing: add a step such as '- send: TEMPLATE'")
    return flow


def _check_event_name(y: Y) -> None:
    if not isinstance(y.value, str) or not re.fullmatch(r"[A-Za-z_][\w.-]*", y.value):
        raise MailwrightError(y.pos, f"'{y.value}' is not an event name (such as {', '.join(EVENTS[:3])}, …)")


def duration(y: Y) -> Duration:
    if not isinstance(y.value, str):
        raise MailwrightError(y.pos, "a duration is a whole number and a unit, as 45s, 30m, 4h, 2d or 1w")
    text = y.value.strip()
    m = _DURATION.fullmatch(text)
    if not m or int(m.group(1)) == 0:
        raise MailwrightError(y.pos, f"malformed duration '{text}': write a whole number and a unit, as 45s, 30m, 4h, 2d or 1w")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds > MAX_DURATION:
        raise MailwrightError(y.pos, f"duration '{text}' is longer than a year (at most 365d or 52w)")
    return Duration(seconds, text, y.pos)


def _limits(y: Y) -> Limits:
    if not isinstance(y.value, dict):
        raise MailwrightError(y.pos, "limits is a mapping: max_emails, per, quiet_hours")
    for k, v in y.value.items():
        if k not in ("max_emails", "per", "quiet_hours"):
            raise MailwrightError(v.key_pos or v.pos, f"unknown key '{k}' in limits (keys: max_emails, per, quiet_hours)")
    me, per, qh = y.get("max_emails"), y.get("per"), y.get("quiet_hours")
    if me is not None and (not isinstance(me.value, int) or isinstance(me.value, bool) or me.value < 1):
        raise MailwrightError(me.pos, "max_emails is a whole number of at least 1")
    if (me is None) != (per is None):
        raise MailwrightError(y.pos, "max_emails and per go together: at most N emails per window")
    quiet = None
    if qh is not None:
        m = re.fullmatch(rf"\s*({_TIME.pattern})\s*-\s*({_TIME.pattern})\s*", str(qh.value))
        if not m:
            raise MailwrightError(qh.pos, f"quiet_hours is a window such as \"21:00-08:00\", not '{qh.value}'")
        quiet = (m.group(1), m.group(4))
    return Limits(me.value if me else None, duration(per) if per else None, quiet, y.pos)


def _condition(y: Y, scope: Scope, only: str | None = None) -> Expr:
    if not isinstance(y.value, str):
        raise MailwrightError(y.pos, "a condition is an expression in quotes, as \"event.cart_value > 0\"")
    e = parse_condition(y.value, y.pos, scope)
    for v in uses(e):
        if v.root in ("trigger", "esp") or v.loop:
            raise MailwrightError(y.pos, f"'{v.portable}' cannot be used in a flow condition")
        if only and v.root != only:
            where = "the trigger's where filters the event" if only == "event" else "audience filters the profile"
            raise MailwrightError(y.pos, f"'{v.portable}': {where}; use only {only}.* names here")
    return e


def _steps(y: Y, templates: set[str], scope: Scope) -> list:
    if not isinstance(y.value, list):
        raise MailwrightError(y.pos, "steps is a list: '- wait: 30m', '- send: TEMPLATE', …")
    out = []
    for item in y.value:
        if not isinstance(item.value, dict) or len(item.value) != 1:
            raise MailwrightError(item.pos, f"a step is one of {', '.join(STEP_KINDS)}, as '- wait: 30m'")
        (kind, body), = item.value.items()
        kpos = body.key_pos or item.pos
        if kind == "wait":
            out.append(_wait(body, kpos))
        elif kind == "send":
            if not isinstance(body.value, str) or body.value not in templates:
                known = ", ".join(sorted(templates)) or "none"
                raise MailwrightError(body.pos, f"unknown template '{body.value}' (templates: {known})")
            out.append(Send(body.value, body.pos))
        elif kind == "branch":
            out.append(_branch(body, kpos, templates, scope))
        elif kind == "split":
            out.append(_split(body, kpos, templates, scope))
        else:
            raise MailwrightError(kpos, f"unknown step '{kind}' (steps: {', '.join(STEP_KINDS)})")
    return out


def _wait(y: Y, pos: Pos) -> Wait:
    if isinstance(y.value, dict):
        for k, v in y.value.items():
            if k not in ("duration", "until"):
                raise MailwrightError(v.key_pos or v.pos, f"unknown key '{k}' in wait (keys: duration, until)")
        d = y.get("duration")
        if d is None:
            raise MailwrightError(y.pos, "wait needs duration: as {duration: 1d, until: \"09:00\"}")
        until = y.get("until")
        if until is not None and not _TIME.fullmatch(str(until.value)):
            raise MailwrightError(until.pos, f"until is a time of day such as \"09:00\", not '{until.value}'")
        return Wait(duration(d), str(until.value) if until else None, pos)
    return Wait(duration(y), None, pos)


def _branch(y: Y, pos: Pos, templates: set[str], scope: Scope) -> Branch:
    if not isinstance(y.value, dict):
        raise MailwrightError(y.pos, "branch is a mapping: when, then, else")
    for k, v in y.value.items():
        if k not in ("when", "then", "else"):
            raise MailwrightError(v.key_pos or v.pos, f"unknown key '{k}' in branch (keys: when, then, else)")
    when = y.get("when")
    if when is None:
        raise MailwrightError(pos, "a branch needs when: \"CONDITION\"")
    cond = _condition(when, scope)
    then = y.get("then")
    if then is None:
        raise MailwrightError(pos, "a branch needs then: [steps]")
    els = y.get("else")
    reads = frozenset(v.root for v in uses(cond))
    return Branch(cond, str(when.value), _steps(then, templates, scope),
                  _steps(els, templates, scope) if els is not None else [], when.pos, reads)


def _split(y: Y, pos: Pos, templates: set[str], scope: Scope) -> Split:
    if not isinstance(y.value, dict) or len(y.value) < 2:
        raise MailwrightError(y.pos, "a split has two or more arms: {a: {percent: 50, steps: […]}, b: …}")
    arms = []
    for name, arm in y.value.items():
        if not isinstance(arm.value, dict) or "percent" not in arm.value or "steps" not in arm.value:
            raise MailwrightError(arm.pos, f"split arm '{name}' needs percent and steps")
        pct = arm.get("percent")
        if not isinstance(pct.value, int) or isinstance(pct.value, bool) or not 0 < pct.value < 100:
            raise MailwrightError(pct.pos, "percent is a whole number between 1 and 99")
        arms.append(Arm(name, pct.value, _steps(arm.get("steps"), templates, scope), arm.key_pos or arm.pos))
    total = sum(a.percent for a in arms)
    if total != 100:
        raise MailwrightError(pos, f"split percentages add up to {total}, not 100")
    return Split(arms, pos)


def load_flows(root: Path, templates: set[str], segments: dict) -> tuple[list[Flow], list[MailwrightError]]:
    flows, errors = [], []
    by_name: dict[str, Flow] = {}
    for f in user_files(root / "flows", "*.y*ml", errors):
        try:
            flow = load_flow(f, templates, segments)
        except MailwrightError as e:
            errors.append(e)
            continue
        first = by_name.get(flow.name.casefold())
        if first is not None:  # an ESP finds flows by name: two of one name never converge
            errors.append(MailwrightError(flow.name_pos or flow.pos, f"another flow is named '{flow.name}'; "
                                          "flow names must differ").with_note(first.name_pos or first.pos,
                                                                              "the first is here"))
            continue
        by_name[flow.name.casefold()] = flow
        flows.append(flow)
    return flows, errors
