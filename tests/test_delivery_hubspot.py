"""HubSpot delivery against the fake HubSpot: the mapped contact properties first (batch upsert by email), then
the custom behavioral event with its uuid; an account without behavioral events; faults; dead letters."""

from __future__ import annotations

import dataclasses

import pytest

from mailwright.dialect import load_connectors
from mailwright.signals.relay.model import Dead, Delivered, Retry
from tests.fakes import HubSpotFake
from tests.test_delivery_common import SECRETS, again, context, item, no_secret, shop

TOKEN = SECRETS["hubspot"]
CART = {"cart_value": "number", "cart_url": "string", "items": "string", "session_time": "number",
        "intent_score": "number", "intent_tier": "string"}


def account(**kw) -> HubSpotFake:
    """A HubSpot account set up as `relay sync` leaves it: the mapped contact properties, the cart_abandoned event."""
    fake = HubSpotFake(TOKEN, retry_after=0, **kw).start()
    for name in shop().esp_config("hubspot")["properties"].values():
        fake.add_property(name)
    if fake.behavioral_events:
        fake.add_definition("cart_abandoned", CART)
    return fake


@pytest.fixture
def fake():
    f = account()
    yield f
    f.stop()


def delivery(fake, warnings=None):
    return load_connectors()["hubspot"].events(context("hubspot", {"HUBSPOT_ACCESS_TOKEN": TOKEN,
                                                                   "HUBSPOT_BASE_URL": fake.url}, warnings))


def test_properties_then_the_event_with_score_and_tier(fake):
    it = item()
    assert delivery(fake).deliver([it]) == [Delivered(it.id)]
    contact = fake.contact("ada@example.com")
    assert contact["last_cart_value"] == "120.5" and contact["last_session_seconds"] == "420"
    assert contact["last_cart_url"] == "https://shop.example.com/cart/ada" and contact["loyalty_tier"] == "gold"
    assert contact["firstname"] == "Ada"
    [occ] = fake.occurrences
    assert occ["eventName"] == "pe1234567_cart_abandoned" and occ["email"] == "ada@example.com"
    assert occ["properties"]["intent_score"] == 85 and occ["properties"]["intent_tier"] == "high"
    assert occ["properties"]["items"] == '[{"name":"Kettle","price":60.25}]' and occ["occurredAt"] == it.time
    assert [w.path for w in fake.writes()] == ["/crm/v3/objects/contacts/batch/upsert", "/events/v3/send"]


def test_one_upsert_per_batch_and_one_uuid_per_item(fake):
    its = [item(n, email=f"p{n}@example.com") for n in range(5)]
    assert delivery(fake).deliver(its) == [Delivered(i.id) for i in its]
    upserts = [w for w in fake.writes() if w.path.endswith("batch/upsert")]
    assert len(upserts) == 1 and len(upserts[0].json["inputs"]) == 5
    assert len({o["uuid"] for o in fake.occurrences}) == 5


def test_a_duplicate_item_is_one_event(fake):
    d = delivery(fake)
    it = item()
    d.deliver([it])
    d.deliver([again(it)])
    assert len(fake.occurrences) == 1 and len([w for w in fake.writes() if w.path == "/events/v3/send"]) == 2


@pytest.mark.parametrize(("fault", "path"), [("429", "/events/v3/send"), ("500", "/events/v3/send"),
                                             ("reset-after-write", "/events/v3/send"),
                                             ("apply-then-500", "/events/v3/send"),
                                             ("reset-after-write", "/crm/v3/objects/contacts/batch/upsert"),
                                             ("500", "/crm/v3/objects/contacts/batch/upsert")])
def test_faults_converge_with_no_duplicate(fake, fault, path):
    fake.inject(fault, method="POST", path_prefix=path, times=1)
    its = [item(n, email=f"p{n}@example.com") for n in range(3)]
    assert delivery(fake).deliver(its) == [Delivered(i.id) for i in its]
    assert sorted(o["email"] for o in fake.occurrences) == [f"p{n}@example.com" for n in range(3)]
    assert all(fake.contact(f"p{n}@example.com")["last_cart_value"] == "120.5" for n in range(3))


def test_an_outage_is_a_retry_and_the_retry_completes_it(fake):
    fake.inject("500", method="POST", path_prefix="/events/v3/send", times=None)
    d = delivery(fake)
    [out] = d.deliver([item()])
    assert isinstance(out, Retry) and out.reason.startswith("500")
    fake.clear_faults()
    assert d.deliver([again(item())]) == [Delivered(item().id)]
    assert len(fake.occurrences) == 1


def test_an_account_without_behavioral_events_gets_the_properties_and_one_warning():
    fake = account(behavioral_events=False)
    try:
        warnings: list[str] = []
        d = delivery(fake, warnings)
        its = [item(n, email=f"p{n}@example.com") for n in range(3)]
        assert d.deliver(its[:2]) == [Delivered(i.id) for i in its[:2]]
        assert d.deliver(its[2:]) == [Delivered(its[2].id)]
        assert len(warnings) == 1 and "Marketing Hub Enterprise" in warnings[0]
        assert all(fake.contact(f"p{n}@example.com")["last_cart_value"] == "120.5" for n in range(3))
        assert fake.occurrences == []
        sends = [w for w in fake.requests if w.path.startswith("/events/")]
        assert len(sends) == 1, "once refused, the relay stops asking"
    finally:
        fake.stop()


def test_a_missing_definition_is_dead_and_says_to_sync(fake):
    it = item(event="placed_order", order_id="A1")
    [out] = delivery(fake).deliver([it])
    assert isinstance(out, Dead) and "relay sync" in out.reason and "placed_order" in out.reason
    assert fake.contact("ada@example.com")["last_order_id"] == "A1", "the properties are written all the same"


def test_an_event_without_a_mapping_writes_the_properties_only(fake):
    warnings: list[str] = []
    d = delivery(fake, warnings)
    assert d.deliver([item(event="wishlist_added")]) == [Delivered(item().id)]
    assert fake.occurrences == [] and "wishlist_added" in warnings[0]


def test_an_item_without_email_is_dead(fake):
    [out] = delivery(fake).deliver([item(email=None)])
    assert isinstance(out, Dead) and "email" in out.reason
    assert fake.writes() == []


def test_a_bad_input_in_a_batch_kills_that_item_only(fake):
    its = [item(n, email=f"p{n}@example.com") for n in range(3)]
    its[1] = dataclasses.replace(its[1], identity=dataclasses.replace(its[1].identity, email="not-an-email"))
    outcomes = delivery(fake).deliver(its)
    assert isinstance(outcomes[1], Dead) and "400" in outcomes[1].reason
    no_secret(outcomes[1].reason)
    assert isinstance(outcomes[0], Delivered) and isinstance(outcomes[2], Delivered)
    assert len(fake.occurrences) == 2


def test_no_token_in_any_outcome_even_when_the_server_echoes_it(fake):
    d = delivery(fake)
    d.ctx.config = {**d.ctx.config, "properties": {"event.cart_value": TOKEN}}  # the fake names it back
    [out] = d.deliver([item()])
    assert isinstance(out, Dead) and 'inputs[0].properties.***' in out.reason
    no_secret(out.reason)
