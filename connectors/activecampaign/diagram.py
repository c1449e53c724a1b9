"""ActiveCampaign's automation recipe drawn as its builder shows it: the trigger, then each step."""

from __future__ import annotations

import json

from mailwright.flowviz import Edge, Graph


def _label(s: dict) -> tuple[str, str]:
    action = s.get("action", "")
    if action == "wait":
        return "wait", f"Wait for {s.get('for')}"
    if action == "wait until":
        return "wait", f"Wait until {'between ' + s['between'] if 'between' in s else s.get('time')}"
    if action == "send email":
        return "send", f"Send email\n{s.get('message')}"
    if action == "if/else":
        return "branch", f"If/Else: {s.get('condition')}"
    if action == "split":
        return "split", "Split randomly"
    if action == "end":
        return "end", "End this automation"
    return "wait", action


def diagram(files: dict[str, str]) -> Graph:
    """The graph of ``build/activecampaign/flows/<flow>.json`` (the recipe's steps)."""
    r = json.loads(files[".json"])
    g = Graph(f"{r.get('automation', '')} (ActiveCampaign)")
    t = (r.get("trigger") or {})
    label = f"Trigger: event {t.get('event')} is recorded (runs {t.get('runs')})"
    if t.get("segment"):
        label += f"\nsegment: {t['segment']}"
    start = g.add("trigger", label)
    for goal in (r.get("goals") or []):
        g.notes.append(f"goal: {goal.get('condition')}, from {goal.get('from')}: {goal.get('when_met')}")

    def steps(items: list[dict], tails: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Draw ``items`` after each (node, edge label) of ``tails``; the ends it leaves open.

        An If/Else's two paths join again at the step after it, as in ActiveCampaign's builder."""
        for s in items:
            kind, label = _label(s)
            nid = g.add(kind, label)
            g.edges += [Edge(t, nid, e) for t, e in tails]
            tails = [(nid, "")]
            if s.get("action") == "if/else":
                tails = [end for arm in ("yes", "no")
                         for end in (steps(s[arm], [(nid, arm.capitalize())]) if s.get(arm)
                                     else [(nid, arm.capitalize())])]
            elif s.get("action") == "split":
                tails = [end for p in (s.get("paths") or [])
                         for end in steps((p.get("steps") or []), [(nid, f"path {p.get('name')} {p.get('percent')}%")])]
            elif s.get("action") == "end":
                tails = []
        return tails

    steps((r.get("steps") or []), [(start, "")])
    return g
