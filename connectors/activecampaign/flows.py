"""ActiveCampaign flows: its API cannot create automations, so the compile writes the
automation as a recipe a person follows in the automation builder (Markdown), and
the same steps as JSON (which push prints as the manual steps that remain)."""

from __future__ import annotations

import json

from mailwright.dialect import APPROX, EXACT, Atom, FlowTranslator, Support, guarded, toml_key, write_formula
from mailwright.errors import Pos, UnsupportedError
from mailwright.expr import Expr, ListLit, Var
from mailwright.flows import Branch, Duration, Flow, Send, Split, Wait

from .dialect import STANDARD

WORDS = {"==": "is", "!=": "is not", "<": "is less than", "<=": "is less than or equal to",
         ">": "is greater than", ">=": "is greater than or equal to"}
NEGATE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


class ActiveCampaignFlows(FlowTranslator):
    name = "activecampaign"
    label = "ActiveCampaign"
    CAPABILITIES = {
        "trigger": Support(EXACT, "the trigger 'Event is recorded' for the event in [esp.activecampaign.events]"),
        "trigger filter": Support(APPROX, "ActiveCampaign triggers cannot filter on event data: the recipe "
                                          "starts with an If/Else on the mapped fields, and the No path ends"),
        "audience": Support(EXACT, "a segment on the trigger (contact fields)"),
        "exit on event": Support(EXACT, "a goal: the event is recorded, jump to it from anywhere, then end"),
        "reentry": Support(APPROX, "the trigger runs 'multiple times', with no waiting period between entries"),
        "max emails per window": Support(APPROX, "ActiveCampaign has no per-automation cap: nothing limits the "
                                                 "count beyond the steps themselves"),
        "quiet hours": Support(APPROX, "a 'Wait until' step before each send holds it to the allowed hours, "
                                       "in the account's time zone, not the contact's"),
        "wait": Support(EXACT, "Wait for a set amount of time"),
        "wait until time of day": Support(EXACT, "Wait for the duration, then Wait until the time of day"),
        "send": Support(EXACT, "Send email: the campaign message push creates"),
        "branch on event": Support(EXACT, "If/Else on the contact fields the event names map to"),
        "branch on profile": Support(EXACT, "If/Else on contact fields"),
        "branch on event and profile": Support(EXACT, "If/Else on contact fields"),
        "random split": Support(EXACT, "Split: randomly, by the arms' percentages"),
    }

    def translate(self, flow: Flow) -> dict[str, str]:
        self.flow = flow
        self.require("trigger", flow.event_pos)
        event = self.ctx.event(flow.event, flow.event_pos, {flow.event: flow.event})
        recipe: dict = {
            "automation": f"{self.ctx.project}: {flow.name}",
            "source": f"flows/{flow.id}.yaml",
            "trigger": {"type": "event", "event": event,
                        "runs": "multiple times" if flow.reentry else "once"},
            "steps": [],
            "goals": [],
        }
        if flow.reentry:
            self.require("reentry", flow.reentry.pos)
        if flow.audience is not None:
            self.require("audience", flow.audience_pos)
            recipe["trigger"]["segment"] = self.words(flow.audience, flow.audience_pos)
        if flow.limits and flow.limits.max_emails:
            self.require("max emails per window", flow.limits.pos)
        self.quiet = None
        if flow.limits and flow.limits.quiet_hours:
            self.require("quiet hours", flow.limits.pos)
            self.quiet = flow.limits.quiet_hours
        steps = self._steps(flow.steps)
        if flow.where is not None:
            self.require("trigger filter", flow.where_pos)
            steps = [{"action": "if/else", "condition": self.words(flow.where, flow.where_pos),
                      "yes": steps, "no": [{"action": "end"}]}]
        recipe["steps"] = steps
        for ev, pos in flow.exit_on:
            self.require("exit on event", pos)
            name = self.ctx.event(ev, pos, {ev: ev})
            recipe["goals"].append({"name": f"{ev}", "event": name, "condition": f"Event '{name}' is recorded",
                                    "when_met": "end this automation", "from": "anywhere in the automation"})
        return {".json": json.dumps(recipe, indent=2, ensure_ascii=False) + "\n", ".md": markdown(recipe)}

    # ------------------------------------------------------------ steps
    def _steps(self, steps: list) -> list[dict]:
        out: list[dict] = []
        for s in steps:
            if isinstance(s, Wait):
                self.require("wait", s.pos)
                out.append({"action": "wait", "for": human(s.duration)})
                if s.until:
                    self.require("wait until time of day", s.pos)
                    out.append({"action": "wait until", "time": s.until})
            elif isinstance(s, Send):
                self.require("send", s.pos)
                o = self.ctx.templates[(s.template, self.flow.event)]
                if self.quiet:
                    out.append({"action": "wait until", "between": f"{self.quiet[1]} and {self.quiet[0]}"})
                out.append({"action": "send email", "message": f"{self.ctx.project}: {o.stem}",
                            "subject": o.subject, "html": f"activecampaign/{o.stem}.html"})
            elif isinstance(s, Branch):
                self.require(s.construct, s.pos)
                out.append({"action": "if/else", "condition": self.words(s.when, s.pos),
                            "yes": self._steps(s.then), "no": self._steps(s.else_)})
            elif isinstance(s, Split):
                self.require("random split", s.pos)
                out.append({"action": "split", "paths": [
                    {"name": a.name, "percent": a.percent, "steps": self._steps(a.steps)} for a in s.arms]})
        return out

    # ------------------------------------------------------------ conditions in the builder's words
    def words(self, e: Expr, pos: Pos) -> str:
        return write_formula(guarded(e, expand_in=True), lambda a: self._words(a, pos), " AND ", " OR ",
                             "always", "never")

    def _words(self, f: Atom, pos: Pos) -> str:
        var = f.a if isinstance(f.a, Var) else f.b
        other = f.b if var is f.a else f.a
        if not isinstance(var, Var) or isinstance(other, Var):
            raise UnsupportedError(self.label, "a comparison between two fields", pos, "compare a field with text")
        field = self._field(var, pos)
        if f.kind == "present":
            return f"{field} is not blank"
        if f.kind == "missing":
            return f"{field} is blank"
        if f.op in ("in", "not in"):
            if var is f.b and isinstance(other.value, str):
                contains = (f.op == "in") != (f.kind == "ncmp")
                return f"{field} {'contains' if contains else 'does not contain'} '{other.value}'"
            raise UnsupportedError(self.label, "'field in \"text\"'", pos, "compare with == instead")
        op = f.op
        if var is f.b:
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if f.kind == "ncmp":
            op = NEGATE[op]
        if isinstance(other, ListLit):
            raise AssertionError("lists are expanded")
        value = other.value
        if isinstance(value, bool):
            raise UnsupportedError(self.label, "a boolean", pos, "fields hold text: compare with 'Yes' or '1'")
        shown = f"'{value}'" if isinstance(value, str) else str(value)
        return f"{field} {WORDS[op]} {shown}"

    def _field(self, v: Var, pos: Pos) -> str:
        mapped = self.ctx.config.get("fields", {}).get(v.portable)
        if mapped:
            return f"field {mapped.strip('%').upper()}"
        if v.root == "profile" and len(v.path) == 1:
            return f"field {STANDARD.get(v.path[0], v.path[0].upper())}"
        raise UnsupportedError(self.label, f"the name {v.portable} in an automation condition", pos,
                               f'map it to a custom field: [esp.activecampaign.fields] {toml_key(v.portable)} = "TAG"',
                               "automations read contact fields")


def human(d: Duration) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if d.seconds % size == 0:
            n = d.seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return d.text


def markdown(r: dict) -> str:
    """The recipe as numbered steps a person follows in ActiveCampaign's builder."""
    t = r["trigger"]
    lines = [f"# {r['automation']}", "",
             f"ActiveCampaign's API cannot create automations: build this one by hand, once. "
             f"It was compiled from `{r['source']}`; when that file changes, compile again and compare.", "",
             "In ActiveCampaign: **Automations → + Create an automation → Start from scratch**, then:", "",
             "1. **Trigger**: *Event is recorded*, event name " + f"`{t['event']}`; runs **{t['runs']}**."]
    if "segment" in t:
        lines.append(f"   - Segment the contacts who enter: {t['segment']}.")
    n = [1]

    def step_text(s: dict) -> str:
        a = s["action"]
        if a == "wait":
            return f"**Wait** for {s['for']}."
        if a == "wait until":
            if "between" in s:
                return f"**Wait until** the time is between {s['between']} (quiet hours)."
            return f"**Wait until** the time is {s['time']}."
        if a == "send email":
            return f"**Send email** *{s['message']}* (the message `mailwright push` creates from `{s['html']}`)."
        if a == "end":
            return "**End this automation**."
        if a == "if/else":
            return f"**If/Else**: {s['condition']}."
        if a == "split":
            parts = ", ".join(f"path {p['name']} {p['percent']}%" for p in s["paths"])
            return f"**Split** contacts randomly: {parts}."
        raise AssertionError(a)

    def emit(steps: list, indent: int) -> None:
        pad = "   " * indent
        for s in steps:
            n[0] += 1
            lines.append(f"{pad}{n[0]}. {step_text(s)}")
            if s["action"] == "if/else":
                for label, key in (("Yes", "yes"), ("No", "no")):
                    lines.append(f"{pad}   - On **{label}**:" + ("" if s[key] else " nothing more."))
                    emit(s[key], indent + 2)
            elif s["action"] == "split":
                for p in s["paths"]:
                    lines.append(f"{pad}   - On path **{p['name']}**:" + ("" if p["steps"] else " nothing more."))
                    emit(p["steps"], indent + 2)

    emit(r["steps"], 0)
    for g in r["goals"]:
        n[0] += 1
        lines.append(f"{n[0]}. **Goal** *{g['name']}* at the end: {g['condition']}; contacts may jump to it "
                     f"{g['from']}; when met, {g['when_met']}.")
    lines += ["", "Save the automation and set it **Active** when the messages are ready.", ""]
    return "\n".join(lines)
