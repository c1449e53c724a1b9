"""Klaviyo delivery against the fake Klaviyo: Create Event with the item's id as unique_id, bulk jobs for a
backlog, faults that converge with no duplicate, dead letters with Klaviyo's reason and no key."""

from __future__ import annotations

import dataclasses
import importlib

import pytest

from mailwright.dialect import load_connectors
from mailwright.signals.relay.model import Dead, Delivered, Retry
from mailwright.transport import RemoteError
from tests.fakes import KlaviyoFake
from tests.test_delivery_common import SECRETS, again, context, item, no_secret

KEY = SECRETS["klaviyo"]


@pytest.fixture
def fake():
    with KlaviyoFake(KEY, retry_after=0) as f:
        yield f


def delivery(fake, **kw):
    return load_connectors()["klaviyo"].events(context("klaviyo", {"KLAVIYO_API_KEY": KEY,
                                                                   "KLAVIYO_BASE_URL": fake.url}, **kw))


def test_an_item_reaches_klaviyo_as_the_mapped_metric_with_score_and_tier(fake):
    it = item()
    assert delivery(fake).deliver([it]) == [Delivered(it.id)]
    [ev] = fake.events
    assert ev["metric"] == "Cart Abandoned"  # [esp.klaviyo.events] of the shop
    assert ev["unique_id"] == it.id and ev["time"] == it.time
    assert ev["properties"]["cart_value"] == 120.5 and ev["properties"]["items"] == [{"name": "Kettle", "price": 60.25}]
    assert (ev["properties"]["intent_score"], ev["properties"]["intent_tier"]) == (85, "high")
    profile = fake.profiles[ev["profile"]]
    assert (profile["email"], profile["external_id"], profile["first_name"]) == ("ada@example.com", "user-ada", "Ada")
    assert profile["properties"] == {"tier": "gold"}
    [req] = fake.writes()
    assert req.path == "/api/events" and req.header("revision") == "2026-07-15"


def test_an_event_without_a_mapping_uses_klaviyos_own_metric_or_its_name(fake):
    d = delivery(fake)
    d.ctx.config = {}
    d.deliver([item(1, event="placed_order"), item(2, event="wishlist_added")])
    assert [e["metric"] for e in fake.events] == ["Placed Order", "wishlist_added"]


def test_a_duplicate_item_is_recorded_once(fake):
    d = delivery(fake)
    it = item()
    assert d.deliver([it]) == [Delivered(it.id)]
    assert d.deliver([again(it)]) == [Delivered(it.id)]
    assert len(fake.writes()) == 2 and len(fake.events) == 1


@pytest.mark.parametrize("fault", ["429", "500", "reset-after-write", "apply-then-500", "slow"])
def test_faults_converge_with_no_duplicate(fake, fault):
    d = delivery(fake)
    fake.inject(fault, method="POST", path_prefix="/api/events", times=1, **({"seconds": 3} if fault == "slow" else {}))
    its = [item(n) for n in range(3)]
    outcomes = d.deliver(its)
    for it, out in zip(its, outcomes, strict=True):
        if not isinstance(out, Delivered):  # a timeout that outlived the in-line retries: offered again later
            assert fault == "slow" and isinstance(out, Retry)
            assert d.deliver([again(it)]) == [Delivered(it.id)]
    assert sorted(e["unique_id"] for e in fake.events) == sorted(i.id for i in its)


def test_throttling_that_outlasts_the_retries_is_a_retry_with_the_status(fake):
    fake.inject("429", method="POST", path_prefix="/api/events", times=None)
    [out] = delivery(fake).deliver([item()])
    assert isinstance(out, Retry) and out.reason.startswith("429") and out.after > 0
    assert fake.events == []


def test_a_refused_event_is_dead_with_klaviyos_reason_and_no_key(fake):
    bad = dataclasses.replace(item(), time="yesterday")
    [out] = delivery(fake).deliver([bad])
    assert isinstance(out, Dead) and "time" in out.reason and "400" in out.reason
    no_secret(out.reason)


def test_a_wrong_key_is_a_retry_that_names_no_key(fake):
    d = load_connectors()["klaviyo"].events(context("klaviyo", {"KLAVIYO_API_KEY": KEY[::-1],
                                                                "KLAVIYO_BASE_URL": fake.url}))
    [out] = d.deliver([item()])
    assert isinstance(out, Retry) and "refused the credential" in out.reason
    no_secret(out.reason)
    assert KEY[::-1] not in out.reason


# ---------------------------------------------------------------- bulk jobs
def test_a_backlog_goes_as_one_bulk_job_without_a_repeated_unique_id(fake):
    d = delivery(fake)
    its = [item(n, email=f"p{n % 7}@example.com") for n in range(30)]
    its.insert(10, its[3])  # the same item twice in one batch
    outcomes = d.deliver(its)
    assert outcomes == [Delivered(i.id) for i in its]
    [req] = fake.writes()
    assert req.path == "/api/event-bulk-create-jobs"
    sent = [e["attributes"]["unique_id"] for p in req.json["data"]["attributes"]["events-bulk-create"]["data"]
            for e in p["attributes"]["events"]["data"]]
    assert len(sent) == len(set(sent)) == 30
    assert fake.bulk_jobs[-1]["status"] == "complete" and len(fake.events) == 30
    assert len(fake.profiles) == 7


def test_a_job_with_a_repeated_unique_id_fails_whole_at_the_fake(fake):
    """The vendor rule the delivery avoids: the fake fails such a job and records nothing of it."""
    d = delivery(fake)
    job = d._job([item(1), item(2)])
    events = job["data"]["attributes"]["events-bulk-create"]["data"][0]["attributes"]["events"]["data"]
    events[1]["attributes"]["unique_id"] = events[0]["attributes"]["unique_id"]
    d._post("/api/event-bulk-create-jobs", job, "events-bulk")
    assert fake.bulk_jobs[-1]["status"] == "failed" and fake.events == []


def test_jobs_hold_at_most_the_limit(fake, monkeypatch):
    module = importlib.import_module(type(delivery(fake)).__module__)
    monkeypatch.setattr(module, "BULK_MAX", 10)
    its = [item(n) for n in range(25)]
    assert delivery(fake).deliver(its) == [Delivered(i.id) for i in its]
    assert [j["events"] for j in fake.bulk_jobs] == [10, 10, 5] and len(fake.events) == 25


def test_the_fake_refuses_a_job_over_5mb_or_with_a_string_over_100kb(fake):
    """Klaviyo's rules for a bulk job the delivery must keep (Bulk Create Events: "The maximum allowed
    payload size is 5MB. A single string cannot exceed 100KB.")."""
    d = delivery(fake)
    big = [item(n, note="x" * 90_000) for n in range(60)]  # 5.4 MB
    with pytest.raises(RemoteError) as e:
        d._post("/api/event-bulk-create-jobs", d._job(big), "events-bulk")
    assert e.value.status == 413
    with pytest.raises(RemoteError) as e:
        d._post("/api/event-bulk-create-jobs", d._job([item(1, note="x" * 102_401)]), "events-bulk")
    assert e.value.status == 400
    assert fake.bulk_jobs == [] and fake.events == []


def test_a_backlog_over_5mb_goes_as_several_jobs_each_under_it(fake):
    its = [item(n, note="x" * 90_000) for n in range(120)]  # 10.8 MB in all
    assert delivery(fake).deliver(its) == [Delivered(i.id) for i in its]
    jobs = fake.writes()
    assert len(jobs) > 2 and {r.path for r in jobs} == {"/api/event-bulk-create-jobs"}
    assert all(len(r.body) <= 5 * 1024 * 1024 for r in jobs) and sum(j["events"] for j in fake.bulk_jobs) == 120
    assert [e["unique_id"] for e in fake.events] == [i.id for i in its]


def test_a_refused_job_is_sent_event_by_event_so_only_the_bad_item_is_dead(fake):
    its = [item(n) for n in range(20)]
    its[4] = dataclasses.replace(its[4], time="yesterday")
    outcomes = delivery(fake).deliver(its)
    assert isinstance(outcomes[4], Dead) and "time" in outcomes[4].reason
    assert all(isinstance(o, Delivered) for i, o in enumerate(outcomes) if i != 4)
    assert len(fake.events) == 19


def test_a_job_lost_after_it_was_applied_is_sent_again_without_a_duplicate(fake):
    fake.inject("reset-after-write", method="POST", path_prefix="/api/event-bulk-create-jobs", times=1)
    its = [item(n) for n in range(20)]
    assert delivery(fake).deliver(its) == [Delivered(i.id) for i in its]
    assert len(fake.bulk_jobs) == 2 and len(fake.events) == 20


def test_the_fake_finds_a_profile_by_an_identifier_another_profile_gave_up(fake):
    """The fake's identifier index answers as a scan of the profiles would, also once an identifier
    has moved (an upsert by external_id that changes the email)."""
    a = fake._profile({"attributes": {"email": "x@example.com", "external_id": "e1"}}, "/data")
    assert fake._profile({"attributes": {"external_id": "e1", "email": "y@example.com"}}, "/data") == a
    b = fake._profile({"attributes": {"email": "x@example.com"}}, "/data")
    assert b != a
    assert fake._profile({"attributes": {"email": "x@example.com"}}, "/data") == b
    assert len(fake.profiles) == 2
