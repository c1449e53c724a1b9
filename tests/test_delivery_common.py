"""What the three deliveries share (mailwright.signals.relay.delivery), and the helpers their tests use:
outbox items of the example shop, a DeliveryContext pointed at a fake, and the check that no output
holds a credential."""

from __future__ import annotations

import dataclasses

import pytest

from mailwright.dialect import load_connectors
from mailwright.project import load_project
from mailwright.signals.relay.delivery import backoff, failure, lookup, mapped, scalar
from mailwright.signals.relay.model import Dead, DeliveryContext, Identity, OutboxItem, Retry
from mailwright.transport import AuthError, BadAnswer, RemoteError
from tests.conftest import ROOT

SECRETS = {"klaviyo": "pk_live_7f3a9c2e8b1d4f60a5e7", "hubspot": "pat-na1-5d2c7e9a-41b8-4c3f-9e6d-0a7b",
           "activecampaign": "4f9e2a7c1b3d5e8f0a6c9b2d7e1f3a5c", "event_key": "evkey0123456789abcdef"}
FAST = {"backoff": 0.0, "rate_scale": 1000.0, "timeout": 2.0}
_SHOP = None


def shop():
    global _SHOP
    if _SHOP is None:
        _SHOP = load_project(ROOT / "examples" / "shop", list(load_connectors()))
    return _SHOP


def item(n: int = 1, event: str = "cart_abandoned", email: str | None = "ada@example.com", **props) -> OutboxItem:
    """An enriched cart_abandoned of Ada (or ``email``'s owner), as the core hands it over."""
    properties = {"cart_value": 120.5, "cart_url": "https://shop.example.com/cart/ada", "session_time": 420,
                  "items": [{"name": "Kettle", "price": 60.25}], "intent_score": 85, "intent_tier": "high", **props}
    who = (email or "anon").split("@")[0]
    return OutboxItem(id=f"msg-{who}-{n}", esp="", profile=f"user-{who}",
                      identity=Identity(user_id=f"user-{who}" if email else None, anonymous_id=f"anon-{who}",
                                        email=email),
                      event=event, time=f"2026-03-0{1 + n % 9}T10:00:00+00:00", properties=properties,
                      profile_properties={"tier": "gold", "first_name": "Ada"})


def again(it: OutboxItem, attempts: int = 1) -> OutboxItem:
    return dataclasses.replace(it, attempts=attempts)


def context(esp: str, env: dict, warnings: list | None = None, logs: list | None = None) -> DeliveryContext:
    out = warnings if warnings is not None else []
    return DeliveryContext(esp=esp, config=shop().esp_config(esp), project=shop(), env=env,
                           transport_options=dict(FAST), warn=out.append,
                           log=(logs if logs is not None else []).append)


def no_secret(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS.values():
            for part in (secret, secret[:10], secret[-10:]):
                assert part not in str(text), text


# ---------------------------------------------------------------- the shared rules
def test_mapping_keys_read_the_event_and_the_profile():
    it = item()
    assert lookup(it, "event.cart_value") == (True, 120.5)
    assert lookup(it, "profile.tier") == (True, "gold")
    assert lookup(it, "event.missing") == (False, None)
    assert lookup(it, "event.items.name") == (False, None)  # a list is not a path
    got = mapped(it, {"event.cart_value": "%CART_VALUE%", "profile.tier": "LOYALTY_TIER", "event.nope": "X"},
                 strip="%")
    assert got == {"CART_VALUE": 120.5, "LOYALTY_TIER": "gold"}


def test_lists_and_objects_become_json_text():
    assert scalar([{"b": 1, "a": 2}]) == '[{"a":2,"b":1}]'
    assert scalar(3) == 3 and scalar(None) is None and scalar("x") == "x"


@pytest.mark.parametrize(("error", "kind"), [
    (RemoteError("429 throttled", 429), Retry), (RemoteError("boom", 503), Retry),
    (RemoteError("no answer", None), Retry), (BadAnswer("html", 200), Retry),
    (AuthError("refused", 403), Retry), (RemoteError("invalid email", 400), Dead),
    (RemoteError("unprocessable", 422), Dead)])
def test_outcome_of_a_failure(error, kind):
    out = failure(item(), error)
    assert isinstance(out, kind) and out.item_id == item().id
    if kind is Retry:
        assert out.after == backoff(0) and out.reason.startswith(str(error.status or "no answer"))
    else:
        assert out.reason == str(error)


def test_backoff_doubles_and_is_capped():
    assert [backoff(a) for a in range(3)] == [2.0, 4.0, 8.0]
    assert backoff(30) == 300.0
