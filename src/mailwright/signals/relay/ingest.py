"""Segment's HTTP tracking API, checked: what is accepted, and the reason when it is not.

A whole request is accepted or refused (a batch with bad messages is refused naming them by index, up
to five, nothing of it stored), so a sender never has to guess what was kept.
"""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

from ..engine import NotJSON, from_segment, strict_json
from ..timefmt import iso

MAX_EVENT = 32 * 1024  # Segment's limits
MAX_BATCH = 500 * 1024
KINDS = {"track", "identify", "page"}


class Refused(Exception):
    """A request the relay refuses with a 4xx (400 malformed, 401, 408 too slow, 415 an encoding it does not
    read); ``reason`` goes back as JSON."""

    def __init__(self, reason: str, status: int = 400, kind: str = "malformed"):
        super().__init__(reason)
        self.reason, self.status, self.kind = reason, status, kind


@dataclass(frozen=True)
class Message:
    id: str  # messageId (the dedup key)
    body: dict  # the message as received, with receivedAt (and a timestamp when the sender gave none)
    shard_key: str  # the identity it is sharded by: anonymousId, else userId


def write_keys(env: dict[str, str]) -> list[bytes]:
    return [k.strip().encode() for k in env.get("MAILWRIGHT_WRITE_KEYS", "").split(",") if k.strip()]


def authorised(header: str | None, body_key: Any, keys: list[bytes]) -> bool:
    """Basic auth with the write key as user (analytics.js, RudderStack), or ``writeKey`` in the body."""
    given: bytes | None = None
    if header and header[:6].lower() == "basic ":
        try:
            given = base64.b64decode(header[6:].strip(), validate=True).split(b":", 1)[0]
        except ValueError:
            given = None
    elif isinstance(body_key, str):
        given = body_key.encode()
    if not given:
        return False
    ok = False
    for k in keys:  # compare with every key, so the time taken says nothing about which one is close
        ok |= hmac.compare_digest(given, k)
    return ok


def parse(raw: bytes, kind: str | None, now: float) -> list[Message]:
    """The messages of one request body (``kind``: track/identify/page, or None for /v1/batch)."""
    limit = MAX_BATCH if kind is None else MAX_EVENT
    if len(raw) > limit:
        raise Refused(f"the body is larger than {limit // 1024} KB", 400, "too_large")
    try:
        text = raw.decode("utf-8-sig")  # JSON between systems is UTF-8 (RFC 8259); json.loads would let more in
    except UnicodeDecodeError:
        raise Refused("the body is not UTF-8 text") from None
    try:  # what only Python reads would stop the engine at every start, or be sent where no ESP reads it
        doc = strict_json(text)
    except NotJSON as e:
        raise Refused(str(e)) from None
    except (ValueError, RecursionError):
        raise Refused("the body is not JSON") from None
    if not isinstance(doc, dict):
        raise Refused("the body is not a JSON object")
    if kind is not None:
        return [_message(doc, kind, now, None)]
    batch = doc.get("batch")
    if not isinstance(batch, list) or not batch:
        raise Refused("a batch needs a non-empty 'batch' list")
    out, refused = [], []
    for i, m in enumerate(batch):  # every bad message is named, so a sender fixes them in one go
        try:
            out.append(_message(m, None, now, i))
        except Refused as e:
            refused.append(e)
    if refused:
        more = f"; and {len(refused) - 5} more" if len(refused) > 5 else ""
        first = refused[0]
        raise Refused("; ".join(e.reason for e in refused[:5]) + more, first.status, first.kind)
    seen: set[str] = set()
    unique = []
    for m in out:  # a messageId twice in one batch: the first is kept, as across requests
        if m.id not in seen:
            seen.add(m.id)
            unique.append(m)
    return unique


def _message(msg: Any, kind: str | None, now: float, index: int | None) -> Message:
    where = f"batch[{index}]: " if index is not None else ""
    if not isinstance(msg, dict):
        raise Refused(f"{where}not a JSON object")
    if index is not None and len(json.dumps(msg, separators=(",", ":"))) > MAX_EVENT:
        raise Refused(f"{where}the event is larger than {MAX_EVENT // 1024} KB", 400, "too_large")
    msg = dict(msg)
    msg.pop("writeKey", None)  # a credential (it authorised the request): never stored, never sent on
    if kind is not None:
        if msg.get("type") not in (None, kind):
            raise Refused(f"{where}type '{msg.get('type')}' sent to /v1/{kind}")
        msg["type"] = kind
    elif msg.get("type") not in KINDS:
        raise Refused(f"{where}type must be one of track, identify, page")
    mid = msg.get("messageId")
    if mid is None:
        mid = msg["messageId"] = f"mw-{uuid.uuid4()}"  # no dedup possible without one
    if not isinstance(mid, str) or not mid.strip() or len(mid) > 200:
        raise Refused(f"{where}messageId must be a non-empty string of at most 200 characters")
    msg["receivedAt"] = iso(now)
    if not any(isinstance(msg.get(k), str) for k in ("timestamp", "originalTimestamp", "sentAt")):
        msg["timestamp"] = msg["receivedAt"]
    ev, why = from_segment(msg)
    if ev is None:
        raise Refused(f"{where}{why}")
    shard = ev["ids"].get("anon") or ev["ids"].get("user") or ""
    return Message(mid, msg, shard)
