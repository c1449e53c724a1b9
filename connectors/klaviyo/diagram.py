"""Klaviyo's flow definition drawn as it runs: the metric trigger and its filters, then each action."""

from __future__ import annotations

import json

from mailwright.flowviz import Edge, Graph

PREFIX = "mailwright:metric:"


def _value(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return json.dumps(v, ensure_ascii=False) if not isinstance(v, (int, float)) else str(v)


def condition(c: dict) -> str:
    """One Klaviyo condition in words, as its builder shows it."""
    if c.get("type") == "profile-sample":
        return f"a random {c.get('percentage')}% of profiles"
    if c.get("type") == "profile-metric":
        metric = str(c.get("metric_id", "")).removeprefix(PREFIX)
        f = (c.get("measurement_filter") or {})
        when = " since the flow started" if (c.get("timeframe_filter") or {}).get("operator") == "flow-start" else ""
        return f"{metric} counted {f.get('operator', '')} {_value(f.get('value'))} times{when}"
    name = c.get("field") or c.get("property") or "?"
    f = (c.get("filter") or {})
    value = f" {_value(f['value'])}" if "value" in f else ""
    return f"{name} {f.get('operator', '')}{value}"


def conditions(groups: list[dict]) -> str:
    """Condition groups: every group must hold; within a group, any condition."""
    parts = []
    for g in groups:
        each = [condition(c) for c in (g.get("conditions") or [])]
        parts.append(each[0] if len(each) == 1 else "(" + " or ".join(each) + ")")
    return " and ".join(parts)


def _action(a: dict) -> tuple[str, str]:
    data, kind = (a.get("data") or {}), a.get("type")
    if kind == "time-delay":
        until = f"\nthen until {data['delay_until_time'][:5]} ({data.get('timezone', '')} time)" \
            if data.get("delay_until_time") else ""
        return "wait", f"time-delay {data.get('value')} {data.get('unit')}{until}"
    if kind == "send-email":
        m = (data.get("message") or {})
        stem = str(m.get("template_id", "")).removeprefix("mailwright:template:")
        return "send", f"send-email {stem}"
    if kind == "trigger-split":
        return "branch", "trigger-split on the event:\n" + conditions((data.get("trigger_filter") or {})
                                                                      .get("condition_groups", []))
    if kind == "conditional-split":
        groups = (data.get("profile_filter") or {}).get("condition_groups", [])
        sample = [c for g in groups for c in (g.get("conditions") or []) if c.get("type") == "profile-sample"]
        if sample:
            return "split", f"conditional-split: a random {sample[0].get('percentage')}% sample"
        return "branch", "conditional-split on the profile:\n" + conditions(groups)
    return "wait", str(kind)


def diagram(files: dict[str, str]) -> Graph:
    """The graph of ``build/klaviyo/flows/<flow>.json``."""
    attrs = json.loads(files[".json"])["data"]["attributes"]
    d = attrs["definition"]
    g = Graph(f"{attrs.get('name', '')} (Klaviyo)")
    t = d["triggers"][0]
    label = f"metric trigger: {str(t.get('id', '')).removeprefix(PREFIX)}"
    groups = (t.get("trigger_filter") or {}).get("condition_groups", [])
    if groups:
        label += f"\ntrigger_filter: {conditions(groups)}"
    start = g.add("trigger", label)
    if (d.get("profile_filter") or {}).get("condition_groups"):
        g.notes.append(f"profile_filter: {conditions(d['profile_filter']['condition_groups'])}")
    if d.get("reentry_criteria"):
        r = d["reentry_criteria"]
        g.notes.append(f"reentry_criteria: once per {r.get('duration')} {r.get('unit')}")
    actions = {a["temporary_id"]: a for a in (d.get("actions") or [])}
    ids: dict[str, str] = {}

    def visit(aid: str | None, after: str, edge: str = "") -> None:
        if aid is None or aid not in actions:
            return
        if aid in ids:  # already drawn: an arrow to it
            g.edges.append(Edge(after, ids[aid], edge))
            return
        a = actions[aid]
        kind, label = _action(a)
        ids[aid] = nid = g.add(kind, label, after, edge)
        links = a.get("links") or {}
        if "next_if_true" in links or "next_if_false" in links:
            yes_no = ("in the sample", "not") if kind == "split" else ("true", "false")
            visit(links.get("next_if_true"), nid, yes_no[0])
            visit(links.get("next_if_false"), nid, yes_no[1])
        else:
            visit(links.get("next"), nid)

    visit(d.get("entry_action_id"), start)
    return g
