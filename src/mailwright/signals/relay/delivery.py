"""What every ESP's delivery (``connectors/<esp>/events.py``) shares: the values the project's
mappings pick out of an item, and the outcome an ESP's failure means for an item.

- 2xx: Delivered (decided by the delivery itself).
- 429, 5xx, a lost connection, a timeout, an answer of the wrong shape: Retry, after a
  backoff that doubles with the item's attempts (the transport has already honoured a
  ``Retry-After`` within its own retries before giving up).
- 401/403: Retry too: the credential or its scopes are wrong, which is not the item's fault
  and is fixed without touching the item.
- any other 4xx (a validation error, which no repeat can fix): Dead, with the ESP's reason
  (redacted by the transport, like everything it says).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...transport import AuthError, BadAnswer, RemoteError
from .model import Dead, OutboxItem, Outcome, Retry

BACKOFF = 2.0  # seconds before the second attempt; doubled for each further attempt
BACKOFF_MAX = 300.0


def backoff(attempts: int) -> float:
    """Seconds before the next attempt of an item that has had ``attempts`` attempts."""
    return min(BACKOFF * (2 ** max(attempts, 0)), BACKOFF_MAX)


def failure(item: OutboxItem, error: RemoteError) -> Outcome:
    """The outcome of an item whose request failed with ``error`` (see the module's rules)."""
    status = error.status
    reason = str(error)
    if isinstance(error, AuthError):
        return Retry(item.id, backoff(item.attempts), f"{status}: {reason}")
    if isinstance(error, BadAnswer) or status is None or status == 429 or status >= 500 or status == 408:
        return Retry(item.id, backoff(item.attempts), f"{status or 'no answer'}: {reason}")
    return Dead(item.id, reason)


def outage(reason: str) -> bool:
    """Whether a retry's reason says the ESP itself was down (a 5xx or no answer), not the item's fault."""
    return re.match(r"(5\d\d|no answer)\b", reason) is not None


def lookup(item: OutboxItem, key: str) -> tuple[bool, Any]:
    """The value a mapping key names (``event.cart_value``, ``profile.tier``, ``event.a.b``) in the item:
    (found, value). ``event.*`` reads the item's properties, ``profile.*`` its profile's traits."""
    root, _, path = key.partition(".")
    if root == "event":
        node: Any = item.properties
    elif root == "profile":
        node = item.profile_properties
    else:
        return False, None
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def mapped(item: OutboxItem, mapping: dict[str, str], strip: str = "") -> dict[str, Any]:
    """Target name -> value, for each ``mapping`` key whose value the item holds (``strip``: characters
    the targets may carry around them, such as ActiveCampaign's ``%``)."""
    out: dict[str, Any] = {}
    for key, target in mapping.items():
        found, value = lookup(item, key)
        if found:
            out[target.strip(strip) if strip else target] = value
    return out


def scalar(value: Any) -> Any:
    """A value an ESP that stores text or numbers can hold: lists and objects become JSON text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def carried(plan: Any, event: str) -> dict[str, str]:
    """What an outgoing ``event`` carries, from the tracking plan (a mailwright.signals.contract.Plan):
    property -> "number", "boolean" or "string" (also for lists, objects and mixed types, sent as text).
    Its own properties the project reads, and every derived one ([signals], intent_score, intent_tier),
    which the relay attaches to every event."""
    out: dict[str, str] = {}
    props = plan.schema(event).get("properties", {}) if event in plan.events else {}
    for name, schema in props.items():
        types = schema.get("type")
        out[name] = _kind({types} if isinstance(types, str) else set(types or ()))
    for name, types in plan.derived.items():
        out.setdefault(name, _kind(set(types or ())))
    return dict(sorted(out.items()))


def _kind(types: set[str]) -> str:
    types = types - {"null"}
    if types in ({"number"}, {"integer"}, {"number", "integer"}):
        return "number"
    return "boolean" if types == {"boolean"} else "string"
