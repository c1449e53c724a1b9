"""ActiveCampaign delivery against the fake ActiveCampaign: the contact's mapped fields (contact/sync), then the
trackcmp.net event with the item's id in eventdata; a lost post looked up in the tracking logs, never repeated
blindly; settings errors before any request; dead letters."""

from __future__ import annotations

import json

import pytest

from mailwright.dialect import load_connectors
from mailwright.errors import MailwrightError
from mailwright.signals.relay.model import Dead, Delivered, Retry
from tests.fakes import ActiveCampaignFake
from tests.fakes.activecampaign_events import form_of
from tests.test_delivery_common import SECRETS, again, context, item, no_secret, shop

TOKEN, EVENT_KEY = SECRETS["activecampaign"], SECRETS["event_key"]


@pytest.fixture
def fake():
    f = ActiveCampaignFake(TOKEN, retry_after=0, tracking=True, event_key=EVENT_KEY).start()
    for tag in shop().esp_config("activecampaign")["fields"].values():
        f.add_field(tag)
    yield f
    f.stop()


def env(fake, **over):
    return {"ACTIVECAMPAIGN_API_TOKEN": TOKEN, "ACTIVECAMPAIGN_API_URL": fake.url, "ACTIVECAMPAIGN_ACCOUNT_ID":
            fake.account_id, "ACTIVECAMPAIGN_EVENT_KEY": EVENT_KEY, "ACTIVECAMPAIGN_TRACK_URL": fake.url, **over}


def delivery(fake, **over):
    return load_connectors()["activecampaign"].events(context("activecampaign", env(fake, **over)))


def test_fields_then_the_tracked_event_with_score_and_tier(fake):
    it = item()
    assert delivery(fake).deliver([it]) == [Delivered(it.id)]
    values = fake.field_values("ada@example.com")
    assert values["CART_VALUE"] == "120.5" and values["SESSION_TIME"] == "420" and values["LOYALTY_TIER"] == "gold"
    assert values["CART_URL"] == "https://shop.example.com/cart/ada"
    [ev] = fake.tracked_events()
    assert ev["name"] == "cart_abandoned" and ev["email"] == "ada@example.com"
    data = json.loads(ev["eventdata"])
    assert data["id"] == it.id and data["intent_score"] == 85 and data["intent_tier"] == "high"
    sync, post = fake.writes()
    assert sync.path == "/api/3/contact/sync" and post.path == "/event"
    assert form_of(post)["actid"] == fake.account_id
    assert sync.json["contact"]["firstName"] == "Ada"


def test_settings_are_checked_together_before_any_request(fake):
    with pytest.raises(MailwrightError) as e:
        delivery(fake, ACTIVECAMPAIGN_EVENT_KEY="", ACTIVECAMPAIGN_ACCOUNT_ID="", ACTIVECAMPAIGN_TRACK_URL="ftp://x")
    names = [d.pos.path for d in e.value.diagnostics]
    assert names == ["ACTIVECAMPAIGN_EVENT_KEY", "ACTIVECAMPAIGN_ACCOUNT_ID", "ACTIVECAMPAIGN_TRACK_URL"]
    assert fake.requests == []


def test_a_lost_post_is_found_in_the_tracking_logs_not_sent_again(fake):
    fake.inject("reset-after-write", method="POST", path_prefix="/event", times=1)
    it = item()
    assert delivery(fake).deliver([it]) == [Delivered(it.id)]
    assert len(fake.tracked_events()) == 1
    assert len([r for r in fake.requests if r.path == "/event"]) == 1
    assert any(r.path.endswith("/trackingLogs") for r in fake.requests)


def test_a_post_that_never_landed_is_retried_later_and_lands_once(fake):
    fake.inject("500", method="POST", path_prefix="/event", times=1)  # failed before the write: not there
    d = delivery(fake)
    it = item()
    [out] = d.deliver([it])
    assert isinstance(out, Retry) and "searched" in out.reason
    assert d.deliver([again(it)]) == [Delivered(it.id)]
    assert len(fake.tracked_events()) == 1


def test_a_second_attempt_of_a_delivered_item_sends_nothing_again(fake):
    d = delivery(fake)
    it = item()
    d.deliver([it])
    assert d.deliver([again(it)]) == [Delivered(it.id)]
    assert len(fake.tracked_events()) == 1 and len([r for r in fake.requests if r.path == "/event"]) == 1


@pytest.mark.parametrize("fault", ["429", "500"])
def test_contact_faults_converge(fake, fault):
    fake.inject(fault, method="POST", path_prefix="/api/3/contact/sync", times=1)
    its = [item(n, email=f"p{n}@example.com") for n in range(3)]
    assert delivery(fake).deliver(its) == [Delivered(i.id) for i in its]
    assert len(fake.tracked_events()) == 3


def test_tracking_switched_off_is_dead_with_the_reason(fake):
    fake.tracking_enabled = False
    [out] = delivery(fake).deliver([item()])
    assert isinstance(out, Dead) and "not enabled" in out.reason
    no_secret(out.reason)


def test_a_wrong_event_key_is_dead_and_never_shown(fake):
    [out] = delivery(fake, ACTIVECAMPAIGN_EVENT_KEY="wrong-key-0123456789").deliver([item()])
    assert isinstance(out, Dead) and "Invalid actid or key" in out.reason
    assert "wrong-key" not in out.reason


def test_a_field_the_account_lacks_is_dead_and_says_push_creates_it(fake):
    d = delivery(fake)
    d.ctx.config = {**d.ctx.config, "fields": {"event.cart_value": "%NOT_THERE%"}}
    [out] = d.deliver([item()])
    assert isinstance(out, Dead) and "NOT_THERE" in out.reason and "mailwright push" in out.reason
    assert not any(r.path == "/event" for r in fake.requests)


def test_an_event_name_over_32_characters_is_dead(fake):
    d = delivery(fake)
    d.ctx.config = {**d.ctx.config, "events": {"cart_abandoned": "x" * 33}}
    [out] = d.deliver([item()])
    assert isinstance(out, Dead) and "32" in out.reason and fake.writes() == []


def test_no_email_is_dead(fake):
    [out] = delivery(fake).deliver([item(email=None)])
    assert isinstance(out, Dead) and "email" in out.reason and fake.writes() == []
