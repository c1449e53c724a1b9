"""ISO 8601 timestamps as Segment writes them <-> seconds since the epoch (UTC)."""

from __future__ import annotations

import datetime as dt
import math

_UTC = dt.UTC


def parse_time(text: str) -> float | None:
    """``2024-05-01T10:00:00.123Z`` (or with an offset) as epoch seconds; None when not a timestamp.

    A timestamp without a zone is read as UTC.
    """
    s = text.strip()
    if not s or len(s) > 40:
        return None
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    try:
        d = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_UTC)
    t = d.timestamp()
    return t if math.isfinite(t) else None


def iso(t: float) -> str:
    """Epoch seconds as ``2024-05-01T10:00:00Z`` (milliseconds shown only when there are some)."""
    d = dt.datetime.fromtimestamp(round(t, 3), _UTC)
    if d.microsecond:
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")
