"""Klaviyo flows: the ``definition`` of the Flows API (``POST /api/flows``).

Validated against the ``FlowDefinition`` schema of Klaviyo's OpenAPI (vendored in
``schema/``). Metrics and templates are named until push puts their ids in:
``mailwright:metric:<Metric Name>`` and ``mailwright:template:<output>``.
"""

from __future__ import annotations

import json

from mailwright.dialect import (
    APPROX,
    EXACT,
    UNSUPPORTED,
    Atom,
    FlowTranslator,
    Support,
    cnf,
    guarded,
)
from mailwright.errors import Pos, UnsupportedError
from mailwright.expr import Expr, ListLit, Var
from mailwright.flows import Branch, Duration, Flow, Send, Split, Wait

from .schema import validate_definition

# Klaviyo's own metrics for the portable events that have one; others need [esp.klaviyo.events].
DEFAULT_METRICS = {
    "placed_order": "Placed Order",
    "checkout_started": "Started Checkout",
    "product_viewed": "Viewed Product",
    "page_visit": "Active on Site",
    "email_opened": "Opened Email",
    "email_clicked": "Clicked Email",
}
WELL_KNOWN = {"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone_number"}
METRIC = "mailwright:metric:"
TEMPLATE = "mailwright:template:"


def metric_ref(name: str) -> str:
    return METRIC + name


def template_ref(stem: str) -> str:
    return TEMPLATE + stem


class KlaviyoFlows(FlowTranslator):
    name = "klaviyo"
    label = "Klaviyo"
    CAPABILITIES = {
        "trigger": Support(EXACT, "a metric trigger (the metric named in [esp.klaviyo.events])"),
        "trigger filter": Support(EXACT, "trigger_filter on the metric's properties"),
        "audience": Support(EXACT, "profile_filter on profile properties"),
        "exit on event": Support(EXACT, "profile_filter: the metric counted zero times since the flow started"),
        "reentry": Support(EXACT, "reentry_criteria (whole hours, days or weeks)"),
        "max emails per window": Support(APPROX, "Klaviyo cannot cap one flow's emails per window: every email "
                                                 "keeps Smart Sending on (skips anyone emailed within the "
                                                 "account's Smart Sending period) instead"),
        "quiet hours": Support(APPROX, "Klaviyo email flows have no quiet hours: sends are not held; use "
                                       "wait {duration, until} to time the emails"),
        "wait": Support(EXACT, "time-delay in minutes, hours or days (seconds round up to a minute, with a warning)"),
        "wait until time of day": Support(EXACT, "time-delay with delay_until_time, in the profile's timezone"),
        "send": Support(EXACT, "send-email (draft) with the compiled template, subject and preview text"),
        "branch on event": Support(EXACT, "trigger-split on the trigger event's properties"),
        "branch on profile": Support(EXACT, "conditional-split on profile properties"),
        "branch on event and profile": Support(UNSUPPORTED, "split it into two nested branches: one on event.* "
                                                            "names, one on profile.* names"),
        "random split": Support(EXACT, "conditional-split on a random profile sample (nested for more than two arms)"),
    }

    def translate(self, flow: Flow) -> dict[str, str]:
        self.flow = flow
        self.metric = self.ctx.event(flow.event, flow.event_pos, DEFAULT_METRICS)
        self.require("trigger", flow.event_pos)
        self.actions: list[dict] = []
        trigger: dict = {"type": "metric", "id": metric_ref(self.metric)}
        if flow.where is not None:
            self.require("trigger filter", flow.where_pos)
            trigger["trigger_filter"] = self._filter(flow.where, flow.where_pos)
        groups: list = []
        if flow.audience is not None:
            self.require("audience", flow.audience_pos)
            groups += self._filter(flow.audience, flow.audience_pos)["condition_groups"]
        for ev, pos in flow.exit_on:
            self.require("exit on event", pos)
            groups.append({"conditions": [{
                "type": "profile-metric", "metric_id": metric_ref(self.ctx.event(ev, pos, DEFAULT_METRICS)),
                "measurement": "count", "measurement_filter": {"type": "numeric", "operator": "equals", "value": 0.0},
                "timeframe_filter": {"type": "date", "operator": "flow-start"},
            }]})
        if flow.limits and flow.limits.max_emails:
            self.require("max emails per window", flow.limits.pos)
        if flow.limits and flow.limits.quiet_hours:
            self.require("quiet hours", flow.limits.pos)
        entry = self._steps(flow.steps)
        definition = {
            "triggers": [trigger],
            "profile_filter": {"condition_groups": groups} if groups else None,
            "actions": self.actions,
            "entry_action_id": entry,
            "reentry_criteria": self._reentry(flow.reentry),
        }
        validate_definition(definition, Pos(flow.path))
        payload = {"data": {"type": "flow", "attributes": {"name": f"{self.ctx.project}: {flow.name}",
                                                            "definition": definition}}}
        return {".json": json.dumps(payload, indent=2, ensure_ascii=False) + "\n"}

    # ------------------------------------------------------------ steps
    def _new(self, action: dict) -> str:
        aid = f"action-{len(self.actions) + 1}"
        action = {"temporary_id": aid, **action}
        self.actions.append(action)
        return aid

    def _steps(self, steps: list) -> str | None:
        """Append actions for ``steps``; return the first one's id. Klaviyo's paths never rejoin, so
        what follows a branch or split is written into each of its arms."""
        if not steps:
            return None
        step, rest = steps[0], steps[1:]
        if isinstance(step, Wait):
            aid = self._new({"type": "time-delay", "links": {"next": None}, "data": self._delay(step)})
            self._link(aid, self._steps(rest))
            return aid
        if isinstance(step, Send):
            aid = self._new({"type": "send-email", "links": {"next": None}, "data": self._email(step)})
            self._link(aid, self._steps(rest))
            return aid
        if isinstance(step, Branch):
            return self._branch(step, rest)
        if isinstance(step, Split):
            return self._split(step.arms, rest, step.pos)
        raise AssertionError(step)

    def _link(self, aid: str, nxt: str | None) -> None:
        for a in self.actions:
            if a["temporary_id"] == aid:
                a["links"]["next"] = nxt

    def _bool_links(self, aid: str, yes: str | None, no: str | None) -> None:
        for a in self.actions:
            if a["temporary_id"] == aid:
                a["links"] = {"next_if_true": yes, "next_if_false": no}

    def _delay(self, w: Wait) -> dict:
        self.require("wait", w.pos)
        secs = w.duration.seconds
        if secs % 60:
            self.ctx.warn(w.duration.pos, f"Klaviyo: a wait of {w.duration.text} is rounded up to whole minutes")
            secs = (secs // 60 + 1) * 60
        unit, value = _largest(secs, (("days", 86400), ("hours", 3600), ("minutes", 60)))
        data = {"unit": unit, "value": value}
        if w.until:
            self.require("wait until time of day", w.pos)
            data["delay_until_time"] = f"{w.until}:00"
            data["timezone"] = "profile"
        return data

    def _email(self, s: Send) -> dict:
        self.require("send", s.pos)
        out = self.ctx.templates[(s.template, self.flow.event)]
        return {"status": "draft", "message": {
            "name": f"{self.flow.name}: {s.template}",
            "template_id": template_ref(out.stem),
            "subject_line": out.subject,
            "preview_text": out.preheader or None,
            "smart_sending_enabled": True,
        }}

    def _branch(self, b: Branch, rest: list) -> str:
        self.require(b.construct, b.pos)
        if b.reads == {"event"}:
            aid = self._new({"type": "trigger-split", "links": None, "data": {
                "trigger_filter": self._filter(b.when, b.pos), "trigger_id": metric_ref(self.metric),
                "trigger_type": "metric"}})
        elif b.reads == {"profile"}:
            aid = self._new({"type": "conditional-split", "links": None, "data": {
                "profile_filter": self._filter(b.when, b.pos)}})
        else:
            raise AssertionError("unreachable: the capability table refuses it")
        self._bool_links(aid, self._steps(b.then + rest), self._steps(b.else_ + rest))
        return aid

    def _split(self, arms: list, rest: list, pos: Pos) -> str | None:
        self.require("random split", pos)
        if len(arms) == 1:
            return self._steps(arms[0].steps + rest)
        first, others = arms[0], arms[1:]
        remaining = sum(a.percent for a in arms)
        pct = first.percent * 100 / remaining
        if pct != int(pct):
            self.ctx.warn(first.pos, f"Klaviyo: split arm '{first.name}' gets {round(pct)}% of those left "
                                     f"(exactly {pct:.2f}%), since a random sample takes whole percentages")
        aid = self._new({"type": "conditional-split", "links": None, "data": {"profile_filter": {
            "condition_groups": [{"conditions": [{"type": "profile-sample", "percentage": round(pct)}]}]}}})
        self._bool_links(aid, self._steps(first.steps + rest), self._split(others, rest, pos))
        return aid

    @staticmethod
    def _reentry(d: Duration | None) -> dict:
        if d is None:
            return {"duration": 1, "unit": "alltime"}  # never again (flows.md default)
        hours = -(-d.seconds // 3600)
        unit, value = _largest(hours * 3600, (("week", 604800), ("day", 86400), ("hour", 3600)))
        return {"duration": value, "unit": unit}

    # ------------------------------------------------------------ conditions
    def _filter(self, e: Expr, pos: Pos) -> dict:
        groups = cnf(guarded(e))
        if groups is None:
            raise UnsupportedError(self.label, "this condition", pos, "split it into nested branches or segments",
                                   "it needs more than 64 filter groups")
        if not groups:
            raise UnsupportedError(self.label, "a condition that is always true", pos, "remove the branch")
        return {"condition_groups": [{"conditions": [self._condition(a, pos) for a in g]} for g in groups]}

    def _condition(self, a: Atom, pos: Pos) -> dict:
        # an event or a profile condition by the name's root (a trigger filter reads only event.*)
        var = a.a if isinstance(a.a, Var) else a.b
        other = a.b if var is a.a else a.a
        if not isinstance(var, Var) or isinstance(other, Var):
            raise UnsupportedError(self.label, "a comparison between two names", pos, "compare a name with a literal")
        flt = self._filter_of(a, var, other, pos)
        if var.root == "event":
            field = self.ctx.config.get("properties", {}).get(var.portable) or ".".join(var.path)
            return {"type": "metric-property", "metric_id": metric_ref(self.metric), "field": field, "filter": flt}
        mapped = self.ctx.config.get("properties", {}).get(var.portable)
        prop = mapped or (WELL_KNOWN.get(var.path[0]) if len(var.path) == 1 else None)
        if prop is None or (mapped and prop not in WELL_KNOWN.values()):
            prop = f"properties['{mapped or '.'.join(var.path)}']"
        return {"type": "profile-property", "property": prop, "filter": flt}

    def _filter_of(self, a: Atom, var: Var, other, pos: Pos) -> dict:
        neg = a.kind in ("ncmp", "missing")
        if a.kind in ("present", "missing"):
            return {"type": "existence", "operator": "not-set" if neg else "is-set"}
        op = a.op
        if isinstance(other, ListLit):
            if all(isinstance(v, str) for v in other.values):
                member = (op == "in") != neg
                return {"type": "string", "operator": "in" if member else "not-in", "value": list(other.values)}
            raise UnsupportedError(self.label, "'in' over a list of numbers", pos, "write == … or == …")
        value = other.value
        if op in ("in", "not in"):
            if var is a.b and isinstance(value, str):  # "x" in profile.tags
                member = (op == "in") != neg
                return {"type": "string", "operator": "contains" if member else "not-contains", "value": value}
            raise UnsupportedError(self.label, "'name in \"text\"'", pos, "compare with == instead")
        if isinstance(value, bool):
            if op not in ("==", "!="):
                raise UnsupportedError(self.label, "ordering booleans", pos, "compare with == true or == false")
            return {"type": "boolean", "operator": "equals", "value": value if (op == "==") != neg else not value}
        if isinstance(value, str):
            if op not in ("==", "!="):
                raise UnsupportedError(self.label, f"'{op}' on text", pos, "compare text with == or !=")
            equal = (op == "==") != neg
            return {"type": "string", "operator": "equals" if equal else "not-equals", "value": value}
        if var is a.b:  # 3 < x  ==  x > 3
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if neg:
            op = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}[op]
        names = {"==": "equals", "!=": "not-equals", "<": "less-than", "<=": "less-than-or-equal",
                 ">": "greater-than", ">=": "greater-than-or-equal"}
        # as a decimal: the schema's oneOf [integer, number] matches a JSON integer twice, so refuses it
        return {"type": "numeric", "operator": names[op], "value": float(value)}


def _largest(secs: int, units) -> tuple[str, int]:
    for unit, size in units:
        if secs % size == 0:
            return unit, secs // size
    unit, size = units[-1]
    return unit, -(-secs // size)
