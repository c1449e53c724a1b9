"""HubSpot flows: an Automation v4 contact workflow (``POST /automation/v4/flows``).

Marketing emails are named until push puts their ids in (``mailwright:email:<output>``).
Shape from HubSpot's Automation v4 OpenAPI (ApiContactFlowCreateRequest); the
action type ids 0-1 (delay) and 0-4 (send marketing email) are HubSpot's built-ins.
"""

from __future__ import annotations

import json

from mailwright.dialect import (
    APPROX,
    EXACT,
    Atom,
    FlowTranslator,
    Support,
    dnf,
    guarded,
    toml_key,
)
from mailwright.errors import MailwrightError, Pos, UnsupportedError
from mailwright.expr import Expr, ListLit, Var
from mailwright.flows import Branch, Flow, Send, Split, Wait

from .dialect import STANDARD

EMAIL = "mailwright:email:"
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
DELAY, SEND_EMAIL = "0-1", "0-4"


class HubSpotFlows(FlowTranslator):
    name = "hubspot"
    label = "HubSpot"
    CAPABILITIES = {
        "trigger": Support(EXACT, "event-based enrolment on the event type in [esp.hubspot.events]"),
        "trigger filter": Support(EXACT, "property filters on the enrolment event"),
        "audience": Support(EXACT, "a first list branch on contact properties: others end there"),
        "exit on event": Support(EXACT, "a goal (goalFilterBranch): completing the event unenrols"),
        "reentry": Support(APPROX, "HubSpot re-enrols on every new event (shouldReEnroll) without a waiting period"),
        "max emails per window": Support(APPROX, "HubSpot has no per-workflow cap: the account's email send "
                                                 "frequency limit applies instead"),
        "quiet hours": Support(EXACT, "timeWindows: actions run only outside the quiet hours, every day"),
        "wait": Support(EXACT, "a delay action (0-1) in minutes, hours or days"),
        "wait until time of day": Support(APPROX, "a plain delay: the time of day is not expressed (set a time "
                                                  "window instead)"),
        "send": Support(EXACT, "a send-marketing-email action (0-4) with the email push creates"),
        "branch on event": Support(EXACT, "a list branch on the contact properties the event names map to"),
        "branch on profile": Support(EXACT, "a list branch on contact properties"),
        "branch on event and profile": Support(EXACT, "a list branch on contact properties"),
        "random split": Support(EXACT, "an A/B test branch (AB_TEST_BRANCH) with the arms' percentages"),
    }

    def translate(self, flow: Flow) -> dict[str, str]:
        self.flow = flow
        self.actions: list[dict] = []
        self.require("trigger", flow.event_pos)
        event_id = self.ctx.event(flow.event, flow.event_pos, {})
        enrol = {"filterBranchType": "UNIFIED_EVENTS", "filterBranchOperator": "AND", "eventTypeId": event_id,
                 "operator": "HAS_COMPLETED", "filters": [], "filterBranches": []}
        if flow.where is not None:
            self.require("trigger filter", flow.where_pos)
            enrol["filterBranches"] = [self._branch_filter(flow.where, flow.where_pos, event_props=True)]
        if flow.reentry is not None:
            self.require("reentry", flow.reentry.pos)
        if flow.limits and flow.limits.max_emails:
            self.require("max emails per window", flow.limits.pos)
        windows = []
        if flow.limits and flow.limits.quiet_hours:
            self.require("quiet hours", flow.limits.pos)
            windows = _windows(*flow.limits.quiet_hours)
        steps = flow.steps
        start = self._audience(flow, steps) if flow.audience is not None else self._steps(steps)
        payload = {
            "type": "CONTACT_FLOW", "objectTypeId": "0-1", "flowType": "WORKFLOW",
            "name": f"{self.ctx.project}: {flow.name}",
            "description": f"Managed by mailwright from flows/{flow.id}.yaml: edit it there.",
            "isEnabled": False, "canEnrollFromSalesforce": False,
            "startActionId": start, "nextAvailableActionId": str(len(self.actions) + 1),
            "actions": self.actions,
            "enrollmentCriteria": {"type": "EVENT_BASED", "shouldReEnroll": flow.reentry is not None,
                                   "eventFilterBranches": [enrol], "listMembershipFilterBranches": []},
            "timeWindows": windows, "blockedDates": [], "customProperties": {}, "dataSources": [],
            "suppressionListIds": [],
        }
        if flow.exit_on:
            for _, pos in flow.exit_on:
                self.require("exit on event", pos)
            payload["goalFilterBranch"] = {"filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [],
                                           "filterBranches": [
                {"filterBranchType": "UNIFIED_EVENTS", "filterBranchOperator": "AND",
                 "eventTypeId": self.ctx.event(ev, pos, {}), "operator": "HAS_COMPLETED",
                 "filters": [], "filterBranches": []} for ev, pos in flow.exit_on]}
        problems = check_graph(payload)
        if problems:
            raise MailwrightError(Pos(flow.path), "internal: inconsistent HubSpot action graph: " + "; ".join(problems))
        return {".json": json.dumps(payload, indent=2, ensure_ascii=False) + "\n"}

    # ------------------------------------------------------------ actions
    def _new(self, action: dict) -> str:
        aid = str(len(self.actions) + 1)
        self.actions.append({"actionId": aid, **action})
        return aid

    def _get(self, aid: str) -> dict:
        return self.actions[int(aid) - 1]

    def _steps(self, steps: list) -> str | None:
        """Actions for ``steps``; the first one's id. Branch paths do not rejoin: what follows a
        branch is written into each arm."""
        if not steps:
            return None
        step, rest = steps[0], steps[1:]
        if isinstance(step, (Wait, Send)):
            aid = self._new(self._single(step))
            nxt = self._steps(rest)
            if nxt:
                self._get(aid)["connection"] = {"edgeType": "STANDARD", "nextActionId": nxt}
            return aid
        if isinstance(step, Branch):
            self.require(step.construct, step.pos)
            aid = self._new({"type": "LIST_BRANCH", "listBranches": [], "defaultBranchName": "No"})
            yes, no = self._steps(step.then + rest), self._steps(step.else_ + rest)
            act = self._get(aid)
            act["listBranches"] = [{"branchName": "Yes", "filterBranch": self._branch_filter(step.when, step.pos),
                                    **({"connection": _edge(yes)} if yes else {})}]
            if no:
                act["defaultBranch"] = _edge(no)
            return aid
        if isinstance(step, Split):
            self.require("random split", step.pos)
            aid = self._new({"type": "AB_TEST_BRANCH", "testBranches": []})
            arms = []
            for arm in step.arms:
                target = self._steps(arm.steps + rest)
                if target is None:  # an arm with nothing to do still needs somewhere to go
                    target = self._new(self._single(Wait(_minute(arm.pos), None, arm.pos)))
                arms.append({"percentage": arm.percent, "connection": _edge(target)})
            self._get(aid)["testBranches"] = arms
            return aid
        raise AssertionError(step)

    def _single(self, step) -> dict:
        if isinstance(step, Wait):
            self.require("wait", step.pos)
            if step.until:
                self.require("wait until time of day", step.pos)
            secs = step.duration.seconds
            if secs % 60:
                self.ctx.warn(step.duration.pos, f"HubSpot: a wait of {step.duration.text} is rounded up to whole minutes")
                secs = (secs // 60 + 1) * 60
            unit, size = next((u, s) for u, s in (("DAYS", 86400), ("HOURS", 3600), ("MINUTES", 60)) if secs % s == 0)
            fields = {"delta": str(secs // size), "time_unit": unit}
            return {"type": "SINGLE_CONNECTION", "actionTypeId": DELAY, "actionTypeVersion": 0, "fields": fields}
        self.require("send", step.pos)
        out = self.ctx.templates[(step.template, self.flow.event)]
        return {"type": "SINGLE_CONNECTION", "actionTypeId": SEND_EMAIL, "actionTypeVersion": 0,
                "fields": {"content_id": EMAIL + out.stem}}

    def _audience(self, flow: Flow, steps: list) -> str:
        self.require("audience", flow.audience_pos)
        aid = self._new({"type": "LIST_BRANCH", "listBranches": [], "defaultBranchName": "Not in the audience"})
        first = self._steps(steps)
        self._get(aid)["listBranches"] = [{"branchName": "In the audience",
                                           "filterBranch": self._branch_filter(flow.audience, flow.audience_pos),
                                           "connection": _edge(first)}]
        return aid

    # ------------------------------------------------------------ filters
    def _branch_filter(self, e: Expr, pos: Pos, event_props: bool = False) -> dict:
        clauses = dnf(guarded(e, expand_in=True), limit=32)
        if clauses is None:
            raise UnsupportedError(self.label, "this condition", pos, "split it into nested branches",
                                   "it needs more than 32 filter groups")
        return {"filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [], "filterBranches": [
            {"filterBranchType": "AND", "filterBranchOperator": "AND", "filterBranches": [],
             "filters": [self._filter(a, pos, event_props) for a in clause]} for clause in clauses]}

    def _property(self, v: Var, pos: Pos, event_props: bool) -> str:
        if event_props and v.root == "event":  # the enrolment event's own properties
            return ".".join(v.path)
        mapped = self.ctx.config.get("properties", {}).get(v.portable)
        if mapped:
            return mapped
        if v.root == "profile":
            return STANDARD.get(v.path[0], v.path[0]) if len(v.path) == 1 else ".".join(v.path)
        raise UnsupportedError(self.label, f"the event property {v.portable} in a branch", pos,
                               f'map it to a contact property: [esp.hubspot.properties] {toml_key(v.portable)} = "…"',
                               "workflow branches read contact properties")

    def _filter(self, a: Atom, pos: Pos, event_props: bool) -> dict:
        var = a.a if isinstance(a.a, Var) else a.b
        other = a.b if var is a.a else a.a
        if not isinstance(var, Var) or isinstance(other, Var):
            raise UnsupportedError(self.label, "a comparison between two names", pos, "compare a name with a literal")
        prop = self._property(var, pos, event_props)
        if a.kind in ("present", "missing"):
            op = {"operationType": "ALL_PROPERTY", "operator": "IS_KNOWN" if a.kind == "present" else "IS_UNKNOWN"}
        else:
            op = self._operation(a, var, other, pos)
        op["includeObjectsWithNoValueSet"] = False  # a comparison with a missing value is false
        return {"filterType": "PROPERTY", "property": prop, "operation": op}

    def _operation(self, a: Atom, var: Var, other, pos: Pos) -> dict:
        neg = a.kind == "ncmp"
        if isinstance(other, ListLit):
            raise AssertionError("lists are expanded")
        value = other.value
        if a.op in ("in", "not in"):
            if var is a.b and isinstance(value, str):
                contains = (a.op == "in") != neg
                return {"operationType": "STRING", "operator": "CONTAINS" if contains else "DOES_NOT_CONTAIN",
                        "value": value}
            raise UnsupportedError(self.label, "'name in \"text\"'", pos, "compare with == instead")
        op = a.op
        if var is a.b:
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if neg:
            op = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}[op]
        names = {"==": "IS_EQUAL_TO", "!=": "IS_NOT_EQUAL_TO", "<": "IS_LESS_THAN", "<=": "IS_LESS_THAN_OR_EQUAL_TO",
                 ">": "IS_GREATER_THAN", ">=": "IS_GREATER_THAN_OR_EQUAL_TO"}
        if isinstance(value, bool):
            if op not in ("==", "!="):
                raise UnsupportedError(self.label, "ordering booleans", pos, "compare with == true or == false")
            return {"operationType": "BOOL", "operator": names[op], "value": value}
        if isinstance(value, str):
            if op not in ("==", "!="):
                raise UnsupportedError(self.label, f"'{op}' on text", pos, "compare text with == or !=")
            return {"operationType": "STRING", "operator": names[op], "value": value}
        return {"operationType": "NUMBER", "operator": names[op], "value": value}


def _edge(target: str) -> dict:
    return {"edgeType": "STANDARD", "nextActionId": target}


def _minute(pos: Pos):
    from mailwright.flows import Duration

    return Duration(60, "1m", pos)


def _windows(quiet_start: str, quiet_end: str) -> list[dict]:
    """Quiet hours as the windows in which actions may run, every day."""
    def t(s: str) -> dict:
        h, m = s.split(":")
        return {"hour": int(h), "minute": int(m)}

    # wraps midnight: allowed from its end to its start; an empty quiet time (start == end) leaves no
    # span, so no windows at all (the split below would hold sends in the day's last minute)
    if quiet_start >= quiet_end:
        spans = [(quiet_end, quiet_start)]
    else:
        spans = [("00:00", quiet_start), (quiet_end, "23:59")]
    return [{"day": d, "startTime": t(a), "endTime": t(b)} for d in DAYS for a, b in spans if a != b]


def check_graph(flow: dict) -> list[str]:
    """A consistent action graph: the start exists, every next action exists, none is orphaned."""
    ids = [a["actionId"] for a in flow["actions"]]
    problems = []
    if len(set(ids)) != len(ids):
        problems.append("duplicate action ids")
    if flow.get("startActionId") not in ids:
        problems.append(f"start action {flow.get('startActionId')} does not exist")
    targets: list[str] = []
    for a in flow["actions"]:
        edges = [a.get("connection"), a.get("defaultBranch")]
        edges += [b.get("connection") for b in a.get("listBranches", [])]
        edges += [b.get("connection") for b in a.get("testBranches", [])]
        for e in edges:
            if e:
                targets.append(e["nextActionId"])
                if e["nextActionId"] not in ids:
                    problems.append(f"action {a['actionId']} leads to {e['nextActionId']}, which does not exist")
    reached = set(targets) | {flow.get("startActionId")}
    orphans = [i for i in ids if i not in reached]
    if orphans:
        problems.append(f"actions nothing leads to: {', '.join(orphans)}")
    if int(flow.get("nextAvailableActionId", "0")) <= max((int(i) for i in ids), default=0):
        problems.append("nextAvailableActionId is not above every action id")
    return problems
