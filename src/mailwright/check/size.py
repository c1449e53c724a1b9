"""Rule ``size``: Gmail clips a message whose HTML is above 102 KB, footer and unsubscribe link included."""

from __future__ import annotations

from ..errors import Diagnostic
from .context import Context

KB = 1024
SIZE_WARN, SIZE_CLIP = 90 * KB, 102 * KB
ESP_ADDITIONS = 0.10  # tracking links and the open pixel, as a share of the HTML (any ESP)


def size(ctx: Context) -> list[Diagnostic]:
    """The largest variant as the ESP sends it: every send-time construct evaluated, plus its tracking."""
    from ..semantics import interpret

    largest, esp, trigger = 0, "", None
    for o, people in ctx.variants():
        r = o.rendered
        n = max(len(interpret(r.page, p, o.esp, o.trigger).encode("utf-8")) for p in people)
        if n > largest:
            largest, esp, trigger = n, ctx.esp_labels.get(o.esp, o.esp), o.trigger
    sent = largest * (1 + ESP_ADDITIONS)
    if sent <= SIZE_WARN:
        return []
    clipped = sent > SIZE_CLIP
    where = f" (trigger {trigger})" if trigger else ""
    tail = ("Gmail clips it at 102 KB, hiding the rest and the footer" if clipped else
            "Gmail clips messages above 102 KB")
    return [Diagnostic(ctx.t.pos, f"the largest variant is about {sent / KB:.1f} KB as {esp} sends it{where} "
                                  f"({largest / KB:.1f} KB of HTML + ~{ESP_ADDITIONS:.0%} for tracking links); {tail}: "
                                  "trim copy or markup", "error" if clipped else "warning", rule="size")]
