"""HubSpot's contact workflow drawn as it runs: the enrolment event, then each action by its id."""

from __future__ import annotations

import json

from mailwright.flowviz import Edge, Graph

DELAY, SEND = "0-1", "0-4"


def _filter(f: dict) -> str:
    op = (f.get("operation") or {})
    value = f" {op['value']}" if "value" in op else ""
    return f"{f.get('property', '?')} {op.get('operator', '')}{value}"


def branch(b: dict) -> str:
    """A filter branch in words: OR of ANDs of property filters (as HubSpot's builder nests them)."""
    kind = b.get("filterBranchType")
    own = [_filter(f) for f in (b.get("filters") or [])]
    subs = [branch(x) for x in (b.get("filterBranches") or [])]
    if kind == "UNIFIED_EVENTS":
        where = f" where {' and '.join(own + subs)}" if own or subs else ""
        return f"{b.get('eventTypeId', '?')} {b.get('operator', '')}".strip() + where
    parts = [p for p in own + subs if p]
    joiner = " or " if b.get("filterBranchOperator") == "OR" else " and "
    text = joiner.join(parts)
    return f"({text})" if len(parts) > 1 and joiner == " or " else text


def _label(a: dict) -> tuple[str, str]:
    if a.get("type") == "LIST_BRANCH":
        conds = "; ".join(f"{b.get('branchName')}: {branch(b.get('filterBranch', {}))}"
                          for b in (a.get("listBranches") or []))
        return "branch", f"list branch\n{conds}"
    if a.get("type") == "AB_TEST_BRANCH":
        return "split", "A/B test branch " + " / ".join(f"{b.get('percentage')}%" for b in (a.get("testBranches") or []))
    fields = (a.get("fields") or {})
    if a.get("actionTypeId") == DELAY:
        return "wait", f"delay {fields.get('delta')} {str(fields.get('time_unit', '')).lower()}"
    if a.get("actionTypeId") == SEND:
        return "send", "send marketing email " + str(fields.get("content_id", "")).removeprefix("mailwright:email:")
    return "wait", f"action {a.get('actionTypeId')}"


def diagram(files: dict[str, str]) -> Graph:
    """The graph of ``build/hubspot/flows/<flow>.json``."""
    w = json.loads(files[".json"])
    g = Graph(f"{w.get('name', '')} (HubSpot)")
    enrol = (w.get("enrollmentCriteria") or {})
    events = " or ".join(branch(b) for b in (enrol.get("eventFilterBranches") or []))
    start = g.add("trigger", f"enrolment: {events}" + ("\nre-enrols on every event" if enrol.get("shouldReEnroll")
                                                       else ""))
    if w.get("goalFilterBranch"):
        g.notes.append(f"goal (unenrols): {branch(w['goalFilterBranch'])}")
    if w.get("timeWindows"):
        t = w["timeWindows"][0]
        g.notes.append("time windows: actions run {:02d}:{:02d}–{:02d}:{:02d}, {} days".format(
            t["startTime"]["hour"], t["startTime"]["minute"], t["endTime"]["hour"], t["endTime"]["minute"],
            len(w["timeWindows"])))
    actions = {a["actionId"]: a for a in (w.get("actions") or [])}
    ids: dict[str, str] = {}

    def visit(aid: str | None, after: str, edge: str = "") -> None:
        if aid is None or aid not in actions:
            return
        if aid in ids:
            g.edges.append(Edge(after, ids[aid], edge))
            return
        a = actions[aid]
        kind, label = _label(a)
        ids[aid] = nid = g.add(kind, label, after, edge)
        if a.get("type") == "LIST_BRANCH":
            for b in (a.get("listBranches") or []):
                visit((b.get("connection") or {}).get("nextActionId"), nid, b.get("branchName", ""))
            default = (a.get("defaultBranch") or {}).get("nextActionId")
            if default:
                visit(default, nid, a.get("defaultBranchName", "otherwise"))
            else:
                g.add("end", "end", nid, a.get("defaultBranchName", "otherwise"))
        elif a.get("type") == "AB_TEST_BRANCH":
            for b in (a.get("testBranches") or []):
                visit((b.get("connection") or {}).get("nextActionId"), nid, f"{b.get('percentage')}%")
        else:
            visit((a.get("connection") or {}).get("nextActionId"), nid)

    visit(w.get("startActionId"), start)
    return g
