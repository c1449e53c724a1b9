"""The meaning of a compiled template for one recipient (language.md §3, §7).

Interprets the same placeholder trees that every dialect emits from, with the
reference semantics of :mod:`expr`: what every ESP's output must show.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .expr import evaluate, live_branches, lookup, render_output
from .render import PFor, PIf, Slot


def interpret(tree: list, data: dict[str, Any], esp: str, trigger: str | None, context: str = "html",
              raw: Any = None) -> str:
    """What ``tree`` shows ``data``'s recipient in ``esp``.

    Vendor passthrough (``<mw-raw>``) is ESP syntax: ``raw`` renders it (default:
    as written).
    """
    known = {"trigger": trigger, "esp": esp}
    out: list[str] = []
    for item in tree:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, PIf):
            for c, body in live_branches(zip(item.slot.conds, item.bodies), known):
                if c is None or evaluate(c, data):
                    out.append(interpret(body, data, esp, trigger, context, raw))
                    break
        elif isinstance(item, PFor):
            n = item.slot.node
            items = lookup(n.iterable, data)
            if isinstance(items, list):
                for it in items[: n.limit] if n.limit else items:
                    out.append(interpret(item.body, {**data, n.var: it}, esp, trigger, context, raw))
        else:
            text = _slot(item, data, esp, trigger, context)
            out.append(raw(text) if raw and item.kind == "raw" and text else text)
    return "".join(out)


def _slot(s: Slot, data: dict, esp: str, trigger: str | None, context: str) -> str:
    if s.kind == "out":
        root = s.node.expr.var.root
        if root in ("trigger", "esp"):
            val = trigger if root == "trigger" else esp
            data = {root: val} if val is not None else {}
        text = render_output(s.node.expr, data)
        return escape(text) if context == "html" else text
    if s.kind == "lit":
        return s.node.text
    if s.kind == "raw":
        return s.node.text if s.node.esp == esp else ""
    if s.kind == "verbatim":
        return s.node
    raise AssertionError(s.kind)
