"""Flow diagrams: what one ESP's translation of a flow does, as a graph of boxes and arrows.

Each connector reads its own translated files (Klaviyo's definition, HubSpot's workflow, ActiveCampaign's
recipe) into a :class:`Graph` (``Connector.diagram``). Here: the graph, its Mermaid text (written by
``compile`` as ``build/<esp>/flows/<flow>.mmd``) and its HTML (the preview's flows page: boxes and arrows
drawn server-side, so no script and no network).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

KINDS = ("trigger", "wait", "send", "branch", "split", "end", "goal")
_SHAPES = {"trigger": ('(["', '"])'), "branch": ('{"', '"}'), "split": ('{{"', '"}}'), "send": ('[["', '"]]'),
           "end": ('(("', '"))'), "goal": ('[/"', '"/]')}


@dataclass
class Node:
    id: str
    kind: str  # one of KINDS
    label: str  # may hold line breaks


@dataclass
class Edge:
    src: str
    dst: str
    label: str = ""


@dataclass
class Graph:
    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what applies to the whole flow: audience, exit, limits

    def add(self, kind: str, label: str, after: str | None = None, edge: str = "") -> str:
        """A new node, linked from ``after`` when given; its id."""
        nid = f"n{len(self.nodes)}"
        self.nodes.append(Node(nid, kind, label))
        if after is not None:
            self.edges.append(Edge(after, nid, edge))
        return nid

    def children(self, nid: str) -> list[Edge]:
        return [e for e in self.edges if e.src == nid]


def _mermaid_text(s: str) -> str:
    s = s.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    return s.replace("|", "#124;").replace("\n", "<br/>")


def to_mermaid(g: Graph) -> str:
    """The graph as a Mermaid flowchart (top to bottom); labels escaped as Mermaid entities."""
    lines = ["flowchart TD", f"  %% {g.title}".rstrip()]
    lines += [f"  %% {n}" for n in g.notes]
    for n in g.nodes:
        left, right = _SHAPES.get(n.kind, ('["', '"]'))
        lines.append(f"  {n.id}{left}{_mermaid_text(n.label)}{right}")
    for e in g.edges:
        label = f'|"{_mermaid_text(e.label)}"|' if e.label else ""
        lines.append(f"  {e.src} -->{label} {e.dst}")
    for kind in KINDS:
        ids = [n.id for n in g.nodes if n.kind == kind]
        if ids:
            lines.append(f"  class {','.join(ids)} {kind}")
    return "\n".join(lines) + "\n"


def to_html(g: Graph) -> str:
    """The graph as nested boxes and arrows (a flow's paths never join again: a tree, drawn top to bottom)."""
    incoming = {e.dst for e in g.edges}
    by_id = {n.id: n for n in g.nodes}
    drawn: set[str] = set()

    def box(nid: str) -> str:
        n = by_id[nid]
        label = "<br>".join(html.escape(x) for x in n.label.split("\n"))
        if nid in drawn:  # a path that joins another: point at it rather than draw it twice
            return f"<div class='fv-node fv-ref'>→ {label}</div>"
        drawn.add(nid)
        out = f"<div class='fv-node fv-{n.kind}' data-kind='{n.kind}'>{label}</div>"
        kids = g.children(nid)
        if len(kids) == 1 and not kids[0].label:
            out += f"<div class='fv-arrow'>↓</div>{box(kids[0].dst)}"
        elif kids:
            arms = "".join(f"<div class='fv-arm'><div class='fv-arrow'>↓ <span class='fv-edge'>"
                           f"{html.escape(e.label)}</span></div>{box(e.dst)}</div>" for e in kids)
            out += f"<div class='fv-arms'>{arms}</div>"
        return out

    roots = [n.id for n in g.nodes if n.id not in incoming]
    notes = "".join(f"<li>{html.escape(x)}</li>" for x in g.notes)
    body = "".join(f"<div class='fv-tree'>{box(r)}</div>" for r in roots)
    return f"<div class='fv'>{f'<ul class=fv-notes>{notes}</ul>' if notes else ''}{body}</div>"


CSS = """
.fv{display:flex;flex-direction:column;align-items:flex-start;gap:8px}
.fv-tree,.fv-arm{display:flex;flex-direction:column;align-items:center}
.fv-arms{display:flex;gap:18px;align-items:flex-start;border-top:2px solid #9ca3af;padding-top:4px}
.fv-node{border:1px solid #6b7280;border-radius:6px;padding:6px 10px;background:#fff;max-width:260px;
font-size:12px;text-align:center;overflow-wrap:anywhere}
.fv-trigger{border-radius:18px;background:#dbeafe}.fv-send{background:#dcfce7;border-width:2px}
.fv-branch,.fv-split{background:#fef9c3}.fv-end{border-radius:50%;background:#f3f4f6}
.fv-goal{background:#fae8ff}.fv-ref{border-style:dashed;color:#555}
.fv-arrow{color:#6b7280;font-size:14px;line-height:1.4}.fv-edge{font-size:11px;color:#111;font-weight:600}
.fv-notes{font-size:12px;color:#444;margin:0;padding-left:18px}
"""


def graph_for(connector, files: dict[str, str]) -> Graph | None:
    """The diagram of one translated flow, when the connector draws one."""
    return connector.diagram(files) if getattr(connector, "diagram", None) is not None else None


def diagrams(esp: str, files: dict[str, str]) -> dict[str, str]:
    """A translated flow's files with its Mermaid diagram added as ``.mmd`` (when its connector draws one)."""
    if ".mmd" in files:  # drawn already (a flow replayed from the build cache)
        return dict(files)
    from .dialect import load_connectors

    conn = load_connectors().get(esp)
    g = graph_for(conn, files) if conn is not None else None
    return {**files, ".mmd": to_mermaid(g)} if g is not None else dict(files)
