"""The tracking plan (signals.md §1): per event, the JSON Schema of the ``event.*``
properties that the project's templates, flows, segments and signal definitions read.

Rules (docs/tracking-plan.md says them for users):

- A read is *required* when nothing catches its absence: an output with no
  ``default()``, or a loop, that no enclosing condition guarantees (an
  ``is defined`` test, or a comparison, which is false on a missing value); and a
  flow trigger's ``where`` (without the property the flow never starts). Reads in
  conditions are optional: a missing value makes the condition false and the
  recipient gets the other branch. Reads of the signal engine are optional.
- Types come from use: compared with a number → number, with a string → string;
  ``money``/``round`` → number; looped over → array (of objects with the fields
  read); printed → a scalar. Optional properties also accept null.
- Derived properties (``[signals]`` names, ``intent_score``/``intent_tier``) are
  marked ``x-mailwright-derived`` and never required from the site.
- A template sent on a derived trigger (``[triggers]``) can only read what that
  trigger carries: the derived properties, and the properties that the plan of its
  ``after`` event holds from that event's own readers. Anything else read with no
  fallback is the ``contract.property-not-carried`` warning at the template's line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import ir
from ..errors import Diagnostic, MailwrightError, MailwrightErrors, Pos
from ..expr import And, Cmp, Const, Defined, Expr, ListLit, Not, Or, Var, fold, uses

if TYPE_CHECKING:
    from ..flows import Flow
    from .config import Signals

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
RULE = "contract.property-not-carried"
SCALAR = frozenset({"string", "number", "boolean"})
TEXT_FILTERS = {"upper", "lower", "title", "capitalize", "truncate"}
NUMBER_FILTERS = {"money", "round"}
ITEMS = "[]"  # a path step into a list's items
PAGE_PROPERTIES = ("url", "path", "referrer", "title", "search", "name")  # a Segment page call's own


@dataclass(frozen=True)
class Read:
    """One place that reads ``event.<path>`` of one event."""

    path: tuple[str, ...]  # under event; ITEMS steps into a list's items
    types: frozenset[str] | None  # JSON types the use allows; None: any
    fallback: str | None  # None: required; else what catches a missing value
    pos: Pos  # the reading node (a template's line, the flow's YAML, mailwright.toml)
    who: str  # "template cart-reminder", "flow cart-abandonment", "[signals] cart_value", …
    template: str | None = None


@dataclass
class EventPlan:
    name: str
    reads: list[Read] = field(default_factory=list)
    emitted: bool = False  # a [triggers] event: mailwright emits it
    after: str | None = None


@dataclass
class Plan:
    events: dict[str, EventPlan]
    derived: dict[str, frozenset[str] | None]  # property -> JSON types
    root: str = ""  # the project folder (places in the schema are relative to it)
    warnings: list[Diagnostic] = field(default_factory=list)
    sent: dict[tuple[str, str], list[Read]] = field(default_factory=dict)  # (template, trigger) -> its reads

    def schemas(self) -> dict[str, dict]:
        return {name: self.schema(name) for name in sorted(self.events)}

    def schema(self, event: str) -> dict:
        ep = self.events[event]
        top = _Node()
        for r in ep.reads:
            top.add(r, self.root)
        sourced = {r.path[0] for r in ep.reads if r.who.startswith(("[signals]", "[scoring]"))}
        for name in top.fields:
            if name in self.derived and name not in sourced:
                node = top.fields[name]
                node.derived = True
                node.required = False
                node.types = _meet(node.types, self.derived[name])
        if event == "page_visit":
            for p in PAGE_PROPERTIES:
                top.fields.setdefault(p, _Node(types={"string"}, note="a Segment page call's own property"))
        out: dict[str, Any] = {"$schema": SCHEMA_DIALECT, "title": event}
        out["description"] = (f"Emitted by mailwright ([triggers] {event}): the derived properties"
                              + (f" and those of {ep.after}" if ep.after else "") + "."
                              if ep.emitted else f"The properties of '{event}' that the project reads.")
        out.update(top.object_schema(top=True))
        if ep.emitted:
            out["x-mailwright-emitted"] = True
            if ep.after:
                out["x-mailwright-after"] = ep.after
        return out

    def required(self, event: str) -> list[str]:
        return self.schema(event).get("required", [])


class _Node:
    def __init__(self, types: set[str] | None = None, note: str = ""):
        self.types: set[str] | None = set(types) if types is not None else None
        self.required = False
        self.derived = False
        self.fields: dict[str, _Node] = {}
        self.items: _Node | None = None
        self.places: list[str] = []
        self.note = note

    def add(self, r: Read, root: str) -> None:
        node = self
        # inside a list's items, a read requires the item's fields; the list itself is its loop's read
        start = max(i for i, step in enumerate(r.path) if step == ITEMS) + 1 if ITEMS in r.path else 0
        for i, step in enumerate(r.path):
            last = i == len(r.path) - 1
            if step == ITEMS:
                node.types = _meet(node.types, {"array"})
                node.items = node.items or _Node()
                node = node.items
            else:
                node.types = _meet(node.types, {"object"}) if node is not self else node.types
                node = node.fields.setdefault(step, _Node())
            if r.fallback is None and i >= start:
                node.required = True
            if last:
                node.types = _meet(node.types, r.types)
                place = f"{_rel(r.pos, root)} ({r.who})"
                if place not in node.places:
                    node.places.append(place)
            elif r.path[i + 1] == ITEMS:
                node.types = _meet(node.types, {"array"})
            else:
                node.types = _meet(node.types, {"object"})

    def object_schema(self, top: bool = False) -> dict:
        props = {k: self.fields[k].schema() for k in sorted(self.fields)}
        req = sorted(k for k, n in self.fields.items() if n.required)
        out: dict[str, Any] = {"type": "object", "properties": props}
        if req:
            out["required"] = req
        if top:
            out["additionalProperties"] = False  # the contract: what nothing reads is unplanned
        return out

    def schema(self) -> dict:
        out: dict[str, Any] = {}
        types = set(self.types) if self.types is not None else None
        if self.fields and (types is None or "object" in types):
            out.update(self.object_schema())
            types = {"object"} | ({"null"} if not self.required else set())
        if self.items is not None:
            out["items"] = self.items.schema()
        if types is not None:
            if not self.required:
                types.add("null")  # a null is a missing value (language.md), caught by a fallback
            ordered = sorted(types)
            out["type"] = ordered[0] if len(ordered) == 1 else ordered
        if self.required and (types is None or "string" in types):
            out["minLength"] = 1  # "" is a missing value too
        if self.derived:
            out["x-mailwright-derived"] = True
            out["description"] = "computed by mailwright ([signals] / [scoring]); the site does not send it"
        elif self.note:
            out["description"] = self.note
        if self.places:
            out["x-mailwright-read"] = self.places
        return out


def _meet(have: set[str] | frozenset[str] | None, want: set[str] | frozenset[str] | None) -> set[str] | None:
    """The types two uses allow together (both, when they disagree: the plan must not contradict itself)."""
    if want is None:
        return set(have) if have is not None else None
    if have is None:
        return set(want)
    return (set(have) & set(want)) or (set(have) | set(want))


def _rel(pos: Pos, root: str) -> str:
    """A place as the build shows it: relative to the project (a built-in component by its name), so that
    the plan does not depend on where the project or mailwright lies."""
    from ..project import builtin_dir

    path = pos.path
    for base, prefix in ((root, ""), (str(builtin_dir("components")), "(built-in) components/")):
        if base:
            try:
                rel = os.path.relpath(path, base)
            except ValueError:
                continue
            if not rel.startswith(".."):
                path = prefix + rel
                break
    return f"{path.replace(os.sep, '/')}:{pos.line}:{pos.col}"


# ---------------------------------------------------------------- reading the intermediate form

def _const_type(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    return "string"


def present_if(e: Expr | None, truth: bool) -> frozenset[Var]:
    """The names certainly present (not missing) when ``e`` evaluates to ``truth``."""
    if e is None:
        return frozenset()
    if isinstance(e, Defined):
        return _with_prefixes(e.var) if truth else frozenset()
    if isinstance(e, Cmp):  # a comparison with a missing value is false, whatever the operator
        return frozenset().union(*(_with_prefixes(v) for v in (e.left, e.right) if isinstance(v, Var))) \
            if truth else frozenset()
    if isinstance(e, And):
        a, b = present_if(e.left, truth), present_if(e.right, truth)
        return a | b if truth else a & b
    if isinstance(e, Or):
        a, b = present_if(e.left, truth), present_if(e.right, truth)
        return a & b if truth else a | b
    if isinstance(e, Not):
        return present_if(e.expr, not truth)
    return frozenset()


def _with_prefixes(v: Var) -> frozenset[Var]:
    return frozenset(Var(v.root, v.path[:k], v.loop) for k in range(1, len(v.path) + 1))


def _key(v: Var) -> Var:
    return Var(v.root, v.path, v.loop)


def condition_types(e: Expr) -> dict[Var, set[str]]:
    """What each name's comparisons say of its type."""
    out: dict[Var, set[str]] = {}

    def note(v: Any, types: set[str]) -> None:
        if isinstance(v, Var):
            k = _key(v)
            out[k] = _meet(out.get(k), types) or set(types)

    def go(x: Expr) -> None:
        if isinstance(x, And | Or):
            go(x.left)
            go(x.right)
        elif isinstance(x, Not):
            go(x.expr)
        elif isinstance(x, Cmp):
            left, right = x.left, x.right
            if x.op in ("in", "not in"):
                if isinstance(right, ListLit):
                    note(left, {_const_type(v) for v in right.values})
                elif isinstance(right, Const):
                    note(left, {"string"})
                elif isinstance(left, Const):
                    note(right, {"array", "string"} if isinstance(left.value, str) else {"array"})
                return
            if isinstance(right, Const):
                note(left, {_const_type(right.value)})
            if isinstance(left, Const):
                note(right, {_const_type(left.value)})

    go(e)
    return out


class _Collector:
    """The reads of one template compiled for one trigger."""

    def __init__(self, template: ir.Template, trigger: str):
        self.t, self.trigger = template, trigger
        self.reads: list[Read] = []

    def run(self) -> list[Read]:
        self.nodes(ir.template_nodes(self.t), frozenset(), {})
        return self.reads

    def path(self, v: Var, loops: dict[str, tuple[str, ...] | None]) -> tuple[str, ...] | None:
        if v.loop:
            base = loops.get(v.root)
            return None if base is None else base + v.path
        return v.path if v.root == "event" else None

    def add(self, v: Var, loops: dict, types: set[str] | frozenset[str] | None, fallback: str | None,
            pos: Pos) -> None:
        p = self.path(v, loops)
        if p:
            self.reads.append(Read(p, frozenset(types) if types is not None else None, fallback, pos,
                                   f"template {self.t.name}", self.t.name))

    def nodes(self, nodes: list, present: frozenset[Var], loops: dict) -> None:
        for n in nodes:
            if isinstance(n, ir.Output):
                self.output(n, present, loops)
            elif isinstance(n, ir.Element):
                for v in n.attrs.values():
                    self.nodes(v, present, loops)
                self.nodes(n.children, present, loops)
            elif isinstance(n, ir.If):
                self.branches(n, present, loops)
            elif isinstance(n, ir.For):
                guarded = _key(n.iterable) in present
                self.add(n.iterable, loops, {"array"}, "is defined" if guarded else None, n.pos)
                base = self.path(n.iterable, loops)
                inner = dict(loops)
                inner[n.var] = base + (ITEMS,) if base else None
                self.nodes(n.body, present, inner)

    def output(self, n: ir.Output, present: frozenset[Var], loops: dict) -> None:
        names = [f.name for f in n.expr.filters]
        types: set[str] | None = set(SCALAR)
        if NUMBER_FILTERS & set(names):
            types = {"number"}
        fallback = None
        if "default" in names:
            fallback = "default"
        elif _key(n.expr.var) in present:
            fallback = "is defined"
        self.add(n.expr.var, loops, types, fallback, n.pos)

    def branches(self, n: ir.If, present: frozenset[Var], loops: dict) -> None:
        before: frozenset[Var] = frozenset()  # present because an earlier condition was false
        for b in n.branches:
            cond = fold(b.cond, {"trigger": self.trigger}) if b.cond is not None else None
            if cond == Const(False):
                continue
            if cond is not None and not isinstance(cond, Const):
                types = condition_types(cond)
                for v in uses(cond):
                    self.add(v, loops, types.get(_key(v)), "condition", b.pos)
            self.nodes(b.body, present | before | present_if(cond, True), loops)
            if cond is None or cond == Const(True):
                break
            before = before | present_if(cond, False)


def template_reads(t: ir.Template, trigger: str) -> list[Read]:
    """Every ``event.*`` read of one template compiled for ``trigger``."""
    return _Collector(t, trigger).run()


def flow_reads(flow: Flow) -> list[Read]:
    """What a flow reads of its trigger event: ``where`` (required) and its branches' conditions."""
    from ..flows import Branch as FlowBranch
    from ..flows import walk as walk_steps

    out: list[Read] = []
    who = f"flow {flow.id}"
    if flow.where is not None:
        types = condition_types(flow.where)
        for v in uses(flow.where):
            if v.root == "event":
                out.append(Read(v.path, _frozen(types.get(_key(v))), None, flow.where_pos or flow.pos, who))
    for step in walk_steps(flow.steps):
        if isinstance(step, FlowBranch):
            types = condition_types(step.when)
            for v in uses(step.when):
                if v.root == "event":
                    out.append(Read(v.path, _frozen(types.get(_key(v))), "condition", step.pos, who))
    return out


def _frozen(s: set[str] | None) -> frozenset[str] | None:
    return frozenset(s) if s is not None else None


def signal_reads(signals: Signals) -> dict[str, list[Read]]:
    """What the signal engine reads of each event ([signals] arguments, [scoring] conditions)."""
    out: dict[str, list[Read]] = {e: [] for e in signals.events_read()}
    for d in signals.derived.values():
        if d.event is None:
            continue
        if d.prop:
            types = {"number"} if d.kind == "sum" else None
            out.setdefault(d.event, []).append(Read((d.prop,), _frozen(types), "engine", d.pos,
                                                    f"[signals] {d.name}"))
        if d.same:
            out.setdefault(d.event, []).append(Read((d.same,), frozenset(SCALAR), "engine", d.pos,
                                                    f"[signals] {d.name}"))
    if signals.scoring:
        for rule in signals.scoring.rules:
            out.setdefault(rule.event, [])
            if rule.where is not None:
                types = condition_types(rule.where)
                for v in uses(rule.where):
                    if v.root == "event":
                        out[rule.event].append(Read(v.path, _frozen(types.get(_key(v))), "engine", rule.pos,
                                                    f"[scoring] {rule.key}"))
    return out


# ---------------------------------------------------------------- the plan

def build_plan(templates: dict[str, ir.Template], flows: list[Flow], signals: Signals | None,
               root: str = "") -> Plan:
    """The tracking plan of a project (templates already in the intermediate form), with its warnings."""
    events: dict[str, EventPlan] = {}

    def ev(name: str) -> EventPlan:
        return events.setdefault(name, EventPlan(name))

    sent: dict[tuple[str, str], list[Read]] = {}
    for f in flows:
        ev(f.event).reads.extend(flow_reads(f))
        for name, _ in f.exit_on:
            ev(name)
        for s in f.sends():
            if s.template in templates and (s.template, f.event) not in sent:
                sent[(s.template, f.event)] = template_reads(templates[s.template], f.event)
                ev(f.event).reads.extend(sent[(s.template, f.event)])
    derived: dict[str, frozenset[str] | None] = {}
    if signals is not None:  # None: no definitions (nor mailwright.signals.config to import)
        for name, reads in signal_reads(signals).items():
            ev(name).reads.extend(reads)
        for name, trig in signals.triggers.items():
            ep = ev(name)
            ep.emitted, ep.after = True, trig.after
        derived.update({
            name: (frozenset({"number"}) if d.value_type == "number" else
                   frozenset({"string"}) if d.value_type == "string" else None)
            for name, d in signals.derived.items()})
        if signals.scoring:
            from .config import RESERVED

            derived.update({RESERVED[0]: frozenset({"number"}), RESERVED[1]: frozenset({"string"})})
        _carry_types(signals, events, derived)
    plan = Plan(events, derived, root, sent=sent)
    plan.warnings = _not_carried(plan, sent, flows)
    return plan


def project_plan(project: Any, templates: dict[str, ir.Template], flows: list[Flow]) -> tuple[Plan, list[Diagnostic]]:
    """The plan of a loaded project, and what compile reports with it (its warnings, or the errors of
    ``[signals]``/``[scoring]``/``[triggers]``, which leave a plan without them)."""
    root = str(project.root)
    signals = None
    if any(k in project.config for k in ("signals", "scoring", "triggers")):
        from .config import load_signals

        try:
            signals = load_signals(project)
        except MailwrightError as e:
            return build_plan(templates, flows, None, root), list(e.diagnostics)
    plan = build_plan(templates, flows, signals, root)
    return plan, list(plan.warnings)


def load_plan(project: Any) -> Plan:
    """The plan of a project from its sources (no rendering); every error of its input raised at once."""
    from ..compile import parse_template
    from ..flows import load_flows

    errors: list[Diagnostic] = []
    templates: dict[str, ir.Template] = {}
    for name in project.templates:
        try:
            templates[name] = parse_template(project, name)
        except MailwrightError as e:
            errors.extend(e.diagnostics)
    flows, flow_errors = load_flows(project.root, set(project.templates), dict(project.segments))
    errors.extend(e.diagnostic for e in flow_errors)
    plan, found = project_plan(project, templates, flows)
    errors.extend(d for d in found if d.severity == "error")
    if errors:
        raise MailwrightErrors(errors)
    return plan


def _carry_types(signals: Signals, events: dict[str, EventPlan], derived: dict) -> None:
    """last()/first() pass a site property through: the derived name's uses type both."""
    for name, d in signals.derived.items():
        if d.kind not in ("last", "first") or not d.event or not d.prop:
            continue
        uses_of = [r.types for ep in events.values() for r in ep.reads
                   if r.path == (name,) and not r.who.startswith("[")]
        types: set[str] | None = None
        for t in uses_of:
            types = _meet(types, t)
        if types is None:
            continue
        derived[name] = frozenset(types)
        src = events.get(d.event)
        if src is not None:
            src.reads[:] = [Read(r.path, frozenset(types), r.fallback, r.pos, r.who, r.template)
                            if r.path == (d.prop,) and r.who == f"[signals] {name}" else r for r in src.reads]


def carried(plan: Plan, event: str) -> set[str] | None:
    """The properties an emitted event carries (None: a site event, which carries what its plan asks)."""
    ep = plan.events.get(event)
    if ep is None or not ep.emitted:
        return None
    out = set(plan.derived)
    if ep.after and ep.after in plan.events:
        out |= {r.path[0] for r in plan.events[ep.after].reads}
    return out


def _not_carried(plan: Plan, sent: dict[tuple[str, str], list[Read]], flows: list[Flow]) -> list[Diagnostic]:
    """One warning per template sent on an emitted event that cannot carry what the template reads."""
    out: list[Diagnostic] = []
    for (template, event), reads in sent.items():
        have = carried(plan, event)
        if have is None:  # a site event carries what its plan asks of the site
            continue
        first: dict[str, Read] = {}
        for r in reads:  # a read with a fallback just falls back (events check counts it): not warned
            if r.path[0] not in have and r.fallback is None and ITEMS not in r.path:
                first.setdefault(r.path[0], r)
        if not first:
            continue
        after = plan.events[event].after
        props = sorted(first)
        names = ", ".join(f"event.{p}" for p in props)
        if after:
            why = f"it carries the derived properties and what the plan of {after} holds, which has no {names}"
            way = "derive " + ("it" if len(props) == 1 else "them") + " in [signals], as " + \
                  ", ".join(f'{p} = "last({after}.{p})"' for p in props)
        else:
            why = "it carries only the derived properties (it has no after event)"
            way = "derive " + ("it" if len(props) == 1 else "them") + " in [signals], as " + ", ".join(
                f'{p} = "last({_source(plan, p)}.{p})"' for p in props) + ", or stop reading " + \
                ("it" if len(props) == 1 else "them")
        in_template = [first[p] for p in props if first[p].pos.path.endswith(f"{template}.mjml")]
        at = (in_template or [first[p] for p in props])[0]
        d = Diagnostic(at.pos, f"template {template} reads {names}, but it is sent on {event}, which mailwright "
                               f"emits ([triggers] {event}): {why}; {way}", "warning", rule=RULE)
        d.notes.extend((first[p].pos, f"event.{p} is read here") for p in props if first[p] is not at)
        d.notes.extend((s.pos, f"flow {f.id} sends {template} on {event}")
                       for f in flows if f.event == event for s in f.sends() if s.template == template)
        out.append(d)
    return out


def _source(plan: Plan, prop: str) -> str:
    """A site event whose plan holds ``prop`` (for the way out), or EVENT."""
    return next((e for e, ep in sorted(plan.events.items()) if not ep.emitted
                 and any(r.path[0] == prop for r in ep.reads)), "EVENT")
