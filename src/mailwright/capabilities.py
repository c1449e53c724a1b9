"""The capability table of every installed dialect, as Markdown (docs/dialects.md)."""

from __future__ import annotations

from .dialect import load_connectors


def markdown() -> str:
    conns = load_connectors()
    constructs: list[str] = []
    for c in conns.values():
        for k in c.dialect.CAPABILITIES:
            if k not in constructs:
                constructs.append(k)
    head = "| construct | " + " | ".join(c.label for c in conns.values()) + " |"
    rows = [head, "|" + "---|" * (len(conns) + 1)]
    for k in constructs:
        cells = []
        for c in conns.values():
            s = c.dialect.CAPABILITIES.get(k)
            cells.append("unsupported" if s is None else f"**{s.level}**: {s.note}".replace("|", "\\|"))
        rows.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
