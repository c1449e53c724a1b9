"""`mailwright relay sync` against the fake ESPs: what the tracking plan needs is created, a rerun writes
nothing, --dry-run writes nothing, faults converge with no duplicate, and what sync made is what delivery
then uses."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from click.testing import CliRunner

from mailwright.cli import main
from mailwright.dialect import load_connectors
from mailwright.signals.relay.model import Delivered
from tests.conftest import ROOT
from tests.fakes import ActiveCampaignFake, HubSpotFake, KlaviyoFake
from tests.test_delivery_common import FAST, SECRETS, context, item, no_secret

SHOP = ROOT / "examples" / "shop"
PLAN_EVENTS = ["cart_abandoned", "cart_updated", "checkout_started", "content_downloaded", "page_visit",
               "placed_order", "product_viewed", "session_exit"]


@pytest.fixture
def accounts():
    with ExitStack() as stack:
        k = stack.enter_context(KlaviyoFake(SECRETS["klaviyo"], retry_after=0))
        h = stack.enter_context(HubSpotFake(SECRETS["hubspot"], retry_after=0))
        a = stack.enter_context(ActiveCampaignFake(SECRETS["activecampaign"], retry_after=0,
                                                   event_key=SECRETS["event_key"]))
        env = {"KLAVIYO_API_KEY": SECRETS["klaviyo"], "KLAVIYO_BASE_URL": k.url,
               "HUBSPOT_ACCESS_TOKEN": SECRETS["hubspot"], "HUBSPOT_BASE_URL": h.url,
               "ACTIVECAMPAIGN_API_TOKEN": SECRETS["activecampaign"], "ACTIVECAMPAIGN_API_URL": a.url,
               "ACTIVECAMPAIGN_ACCOUNT_ID": a.account_id, "ACTIVECAMPAIGN_EVENT_KEY": SECRETS["event_key"],
               "ACTIVECAMPAIGN_TRACK_URL": a.url,
               "MAILWRIGHT_RETRY_BACKOFF": "0", "MAILWRIGHT_RATE_SCALE": "1000", "MAILWRIGHT_TIMEOUT": "2"}
        yield {"klaviyo": k, "hubspot": h, "activecampaign": a}, env


def sync(env, *args):
    r = CliRunner().invoke(main, ["relay", "sync", str(SHOP), *args], env=env)
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    no_secret(r.stdout, r.stderr)
    return r


def row(text, action, kind, name):
    """Whether the plan table in text has this row."""
    return any(line.split()[:3] == [action, kind, name] for line in text.splitlines())


def writes(fakes):
    return {esp: len(f.writes()) for esp, f in fakes.items()}


def test_sync_creates_what_the_plan_needs_then_a_rerun_writes_nothing(accounts):
    fakes, env = accounts
    r = sync(env)
    assert r.exit_code == 0, r.output
    hs, ac = fakes["hubspot"], fakes["activecampaign"]
    assert sorted(hs.definitions) == PLAN_EVENTS
    cart = {p["name"]: p["type"] for p in hs.definitions["cart_abandoned"]["properties"]}
    assert cart["cart_value"] == "number" and cart["intent_score"] == "number" and cart["intent_tier"] == "string"
    assert cart["items"] == "string"
    assert hs.properties["last_cart_value"]["type"] == "number"
    assert hs.properties["last_cart_url"]["type"] == "string" and "loyalty_tier" in hs.properties
    assert ac.tracking_enabled and sorted(e["name"] for e in ac.events) == PLAN_EVENTS
    assert fakes["klaviyo"].requests == []
    assert row(r.stdout, "create", "event", "cart_abandoned") and "nothing to set up" in r.stdout

    before = writes(fakes)
    again = sync(env)
    assert again.exit_code == 0 and writes(fakes) == before, "a rerun makes no write"
    assert row(again.stdout, "unchanged", "event", "cart_abandoned") and "in line with the project" in again.stdout
    assert not hs.duplicates() and not ac.duplicates()


def test_dry_run_prints_the_plan_and_writes_nothing(accounts):
    fakes, env = accounts
    r = sync(env, "--dry-run", "--esp", "hubspot", "--esp", "activecampaign")
    assert r.exit_code == 0, r.output
    assert writes(fakes) == {"klaviyo": 0, "hubspot": 0, "activecampaign": 0}
    assert row(r.stdout, "update", "setting", "event") and "dry run: nothing was sent" in r.stdout
    assert row(r.stdout, "create", "event", "cart_abandoned") and row(r.stdout, "create", "property", "last_cart_value")


def test_json_document(accounts):
    fakes, env = accounts
    r = sync(env, "--json", "--esp", "activecampaign")
    doc = json.loads(r.stdout)
    assert doc["ok"] and not doc["dry_run"] and [s["esp"] for s in doc["syncs"]] == ["activecampaign"]
    [s] = doc["syncs"]
    assert s["requests"]["writes"] == 1 + len(PLAN_EVENTS)
    assert {c["status"] for c in s["changes"]} == {"done"}


def test_an_account_without_behavioral_events_gets_the_properties_and_says_why(accounts):
    fakes, env = accounts
    with HubSpotFake(SECRETS["hubspot"], retry_after=0, behavioral_events=False) as hs:
        r = sync({**env, "HUBSPOT_BASE_URL": hs.url}, "--esp", "hubspot")
        assert r.exit_code == 0, r.output
        assert "Marketing Hub Enterprise" in r.stdout and "manual" in r.stdout
        assert "last_cart_value" in hs.properties and hs.definitions == {}


@pytest.mark.parametrize(("fault", "path"), [("500", "/events/v3/event-definitions"),
                                             ("apply-then-500", "/events/v3/event-definitions"),
                                             ("reset-after-write", "/crm/v3/properties/contacts")])
def test_faults_converge_with_no_duplicate(accounts, fault, path):
    fakes, env = accounts
    hs = fakes["hubspot"]
    hs.inject(fault, method="POST", path_prefix=path, times=1)
    first = sync(env, "--esp", "hubspot")
    if first.exit_code == 3:
        assert "run relay sync again" in first.stdout
        assert sync(env, "--esp", "hubspot").exit_code == 0
    else:
        assert first.exit_code == 0, first.output
    assert sorted(hs.definitions) == PLAN_EVENTS
    assert not [r for r in hs.requests if r.status == 409], "nothing was created twice"
    if fault != "500":  # the write landed: looked up by name, found, not repeated; one run suffices
        assert first.exit_code == 0 and "the answer was lost, but it is there" in first.stderr


def test_a_failed_switch_skips_the_event_names_that_need_it(accounts):
    fakes, env = accounts
    ac = fakes["activecampaign"]
    ac.inject("500", method="PUT", path_prefix="/api/3/eventTracking", times=None)
    r = sync(env, "--esp", "activecampaign")
    assert r.exit_code == 3 and "skipped" in r.stderr
    assert ac.events == [] and not ac.tracking_enabled


def test_settings_missing_stop_before_any_request(accounts):
    fakes, env = accounts
    r = sync({k: v for k, v in env.items() if k not in ("HUBSPOT_ACCESS_TOKEN", "ACTIVECAMPAIGN_EVENT_KEY")})
    assert r.exit_code == 1
    assert "HUBSPOT_ACCESS_TOKEN: error:" in r.stderr and "ACTIVECAMPAIGN_EVENT_KEY: error:" in r.stderr
    assert all(not f.requests for f in fakes.values())


def test_what_sync_created_is_what_delivery_uses(accounts):
    fakes, env = accounts
    assert sync(env, "--esp", "hubspot", "--esp", "activecampaign").exit_code == 0
    for esp in ("hubspot", "activecampaign"):
        if esp == "activecampaign":
            for tag in context(esp, env).config["fields"].values():  # push creates the fields
                fakes[esp].add_field(tag)
        d = load_connectors()[esp].events(context(esp, env))
        d.ctx.transport_options.update(FAST)
        it = item()
        assert d.deliver([it]) == [Delivered(it.id)], esp
    [occ] = fakes["hubspot"].occurrences
    assert occ["properties"]["intent_tier"] == "high" and occ["properties"]["cart_url"]
    assert fakes["activecampaign"].tracked_events("cart_abandoned")
