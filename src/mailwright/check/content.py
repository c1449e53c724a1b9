"""The copy every recipient gets around the body: ``subject-length``, ``preheader``, ``text-part``, each read
for every variant (the subject and preheader as the recipient sees them, the plain-text part's words)."""

from __future__ import annotations

import re

from ..errors import Diagnostic
from .context import Context

SUBJECT_MAX, PREHEADER_MAX = 60, 140


def _each(ctx: Context, part: str) -> set[str]:
    """A part of each variant's email as text, spaces folded."""
    from ..semantics import interpret

    return {" ".join(interpret(getattr(o.rendered, part), p, o.esp, o.trigger, "text").split())
            for o, people in ctx.variants() for p in people}


def subject_length(ctx: Context) -> list[Diagnostic]:
    t, out = ctx.t, []
    subjects = _each(ctx, "subject")
    if not subjects:
        return []
    if "" in subjects:
        out.append(Diagnostic(t.subject_pos, "the subject is empty for some recipients: give every branch copy "
                                             "or a default()", "warning", rule="subject-length"))
    long = max(sorted(subjects), key=len)
    if len(long) > SUBJECT_MAX:
        out.append(Diagnostic(t.subject_pos, f'the subject is {len(long)} characters for some recipients ("{long}"); '
                                             f"inboxes cut it after about {SUBJECT_MAX}", "warning",
                              rule="subject-length"))
    return out


def preheader(ctx: Context) -> list[Diagnostic]:
    t = ctx.t
    if not ctx.variants():
        return []
    if t.preview is None:
        return [Diagnostic(t.subject_pos, "no preheader: add <mj-preview>…</mj-preview> after <mw-subject> "
                                          "(inboxes show the start of the body instead)", "warning", rule="preheader")]
    el = next((e for e in t.head if e.tag == "mj-preview"), None)
    pos = el.pos if el is not None else t.subject_pos
    out = []
    pres = _each(ctx, "preheader")
    if "" in pres:
        out.append(Diagnostic(pos, "the preheader is empty for some recipients", "warning", rule="preheader"))
    long = max(sorted(pres), key=len)
    if len(long) > PREHEADER_MAX:
        out.append(Diagnostic(pos, f"the preheader is {len(long)} characters for some recipients; inboxes "
                                   f"show about {PREHEADER_MAX}", "warning", rule="preheader"))
    return out


def text_part(ctx: Context) -> list[Diagnostic]:
    """Copy in the plain-text part for every recipient: words beyond links and the ESP's own tags."""
    from ..semantics import interpret

    for o, people in ctx.variants():
        for p in people:
            text = interpret(o.rendered.text, p, o.esp, o.trigger, "text", raw=lambda s: "")
            if not re.search(r"\w", re.sub(r"\(?https?://\S+\)?", " ", text)):
                return [Diagnostic(ctx.t.pos, "the plain-text part has no copy for some recipients: put the message "
                                              "in text (mj-text, alt text), not only in images", "error",
                                   rule="text-part")]
    return []
