"""The relay's internal interface: what the core hands to each ESP's delivery and what it gets back.

The core turns every committed event into one :class:`OutboxItem` per ESP; the ESP's delivery
(``connectors/<esp>/events.py``, a class taking a :class:`DeliveryContext`) answers each item with
one :data:`Outcome`. Items of one profile arrive in order, and the core never offers a later item of a
profile before the earlier one has an outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Identity:
    user_id: str | None
    anonymous_id: str | None
    email: str | None


@dataclass(frozen=True)
class OutboxItem:
    id: str  # stable per (source messageId or derived-trigger id, esp): the idempotency key
    esp: str
    profile: str  # the profile's id (userId once known, else anonymousId)
    identity: Identity
    event: str  # the portable event name, after [triggers]/page mapping
    time: str  # ISO 8601 UTC of the event
    properties: dict  # the event's own + derived [signals] + intent_score/intent_tier
    profile_properties: dict  # traits known for the profile (identify traits)
    attempts: int = 0


@dataclass(frozen=True)
class Delivered:
    item_id: str


@dataclass(frozen=True)
class Retry:
    item_id: str
    after: float  # seconds to wait (Retry-After or backoff)
    reason: str


@dataclass(frozen=True)
class Dead:
    """Never retried automatically; ``mailwright relay retry`` re-queues it."""

    item_id: str
    reason: str


Outcome = Delivered | Retry | Dead


@dataclass
class DeliveryContext:
    esp: str
    config: dict  # the project's [esp.NAME] table
    project: Any  # mailwright.project.Project
    # A mailwright.transport.Transport when the caller built one; None: the delivery builds its own from
    # env and transport_options, exactly as its push client's connect() does (headers are per ESP).
    transport: Any = None
    warn: Callable[[str], None] = field(default=lambda message: None)  # say-once warnings
    env: dict[str, str] = field(default_factory=dict)  # credentials and base URLs (KLAVIYO_API_KEY, …)
    transport_options: dict = field(default_factory=dict)  # push.transport_options(env)
    log: Callable[[str], None] = field(default=lambda message: None)  # the transport's log (redacted lines)


class Delivery(Protocol):
    """What ``Connector.events`` is: built once per ESP worker, called with batches of at most 100 items, or
    of its ``batch_max`` when it has one (Klaviyo: 1,000, one bulk job)."""

    def __init__(self, ctx: DeliveryContext) -> None: ...

    def deliver(self, items: list[OutboxItem]) -> list[Outcome]: ...
