"""The capability table of every installed dialect, as Markdown (docs/dialects.md)."""

from __future__ import annotations

from .dialect import load_connectors


def markdown(kind: str = "templates") -> str:
    """The table for 'templates' (each dialect) or 'flows' (each flow translation)."""
    conns = {n: c for n, c in load_connectors().items() if kind == "templates" or c.flows}
    table = (lambda c: c.dialect.CAPABILITIES) if kind == "templates" else (lambda c: c.flows.CAPABILITIES)
    constructs: list[str] = []
    for c in conns.values():
        for k in table(c):
            if k not in constructs:
                constructs.append(k)
    head = "| construct | " + " | ".join(c.label for c in conns.values()) + " |"
    rows = [head, "|" + "---|" * (len(conns) + 1)]
    for k in constructs:
        cells = []
        for c in conns.values():
            s = table(c).get(k)
            cells.append("unsupported" if s is None else f"**{s.level}**: {s.note}".replace("|", "\\|"))
        rows.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
