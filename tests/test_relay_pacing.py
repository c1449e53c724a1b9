"""Deliveries stay under the vendors' documented rate limits as the vendor counts them (no 429 needed to
find them), and an ESP that comes back after an outage gets its backlog at once, not after the backoff."""

from __future__ import annotations

import random
import threading
import time

import pytest

from mailwright.dialect import load_connectors
from mailwright.signals.relay import runner
from mailwright.signals.relay.model import Delivered, Retry
from mailwright.signals.relay.pacing import Window, pace
from mailwright.transport import Limit, Secret, Transport
from tests.fakes import KlaviyoFake
from tests.fakes.ratelimit_events import RateLimits
from tests.test_delivery_common import SECRETS, context, item
from tests.test_relay_core import Core, Recording, track


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


@pytest.mark.parametrize("delay", [0.3, 0.04])  # slow; fast enough that the window binds (10 in < 1 s)
def test_a_window_never_lets_more_than_its_limit_arrive_whatever_the_network_delay(delay):
    clock, rnd = Clock(), random.Random(7)
    w = Window(10, 1.0, clock)
    arrivals = []
    for _ in range(300):  # sequential requests: sent, arrived after a delay, answered after another
        w.take(clock.sleep)
        sent = clock.t
        arrivals.append(sent + rnd.uniform(0, delay))
        clock.t = arrivals[-1] + rnd.uniform(0, delay)
        assert clock.t >= sent
    for i in range(len(arrivals) - 10):
        assert arrivals[i + 10] - arrivals[i] >= 1.0 - 1e-9, i
    # and it is not needlessly slow: sends go as soon as the window allows
    c2 = Clock()
    w2 = Window(10, 1.0, c2)
    for _ in range(100):
        w2.take(c2.sleep)
    assert 9.0 <= c2.t <= 11.0


def test_pacing_a_transport_twice_with_the_same_window_waits_once():
    t = Transport("http://127.0.0.1:9", {}, Secret("k"), label="ESP", limits={"api": Limit(100, 1.0)})
    own = list(t.buckets["api"])
    w, other = Window(10, 1.0), Window(5, 1.0)
    pace(t, "api", [w])
    pace(t, "api", [w, other])
    assert t.buckets["api"] == [*own, w, other]


def test_the_fakes_count_a_window_as_the_vendor_does():
    r = RateLimits({"api": [(3, 1.0)]})
    r.enforce = True
    assert [r.admit("api") for _ in range(5)] == [True, True, True, False, False]
    assert r.over["api"] == 2


def test_klaviyo_single_events_stay_under_350_per_second_at_the_fake():
    key = SECRETS["klaviyo"]
    with KlaviyoFake(key, retry_after=0) as fake:
        fake.rate.enforce = True
        ctx = context("klaviyo", {"KLAVIYO_API_KEY": key, "KLAVIYO_BASE_URL": fake.url})
        ctx.transport_options = {"timeout": 5.0, "backoff": 0.0}  # the documented limits, unscaled
        delivery = load_connectors()["klaviyo"].events(ctx)
        items = [item(n, email=f"p{n}@example.com") for n in range(420)]
        outcomes = []
        for i in range(0, len(items), 15):  # below bulk_from: one Create Event per item
            outcomes += delivery.deliver(items[i:i + 15])
        assert fake.rate.over == {}, fake.rate.over
        assert outcomes == [Delivered(i.id) for i in items]
        assert len(fake.rate.seen["events"]) == 420 and not fake.bulk_jobs


def test_an_esp_back_from_an_outage_gets_what_waits_out_its_backoff_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "PROBE_EVERY", 0.2)
    down = threading.Event()
    down.set()

    def plan(it, call):  # down: a 503 with the backoff a long outage reaches (5 minutes)
        return Retry(it.id, 300.0, "503: Service Unavailable") if down.is_set() else Delivered(it.id)

    rec = Recording(plan)
    core = Core(tmp_path, {"klaviyo": rec})
    core.send([track("product_viewed", f"a{n}") for n in range(30)])
    core.relay.start()
    try:
        deadline = time.time() + 10
        while rec.calls < 6 and time.time() < deadline:  # the first tries, then probes
            time.sleep(0.01)
        assert rec.got == [] and rec.calls >= 6
        with core.store._lock:
            attempts = core.store._work.execute("SELECT min(attempts), max(attempts), count(*) FROM outbox").fetchone()
        assert attempts == (1, 1, 30), "a failed probe cost its item an attempt"
        down.clear()
        back = time.time()
        while len(rec.got) < 30 and time.time() < back + 10:
            time.sleep(0.01)
        assert len(rec.got) == 30
        assert time.time() - back < 2, "the backlog waited out its backoff after the ESP came back"
    finally:
        core.relay.stop()
        core.close()


def claimed_views(core: Core, n: int) -> list:
    """``n`` product views of as many profiles, processed into the outbox and claimed for Klaviyo."""
    core.send([track("product_viewed", f"v{i}") for i in range(n)])
    while core.store.process(core.relay.processor, 200):
        pass
    return core.store.claim("klaviyo", time.time(), 100)


def check_resume_makes_only_outages_due(core: Core) -> None:
    """On either store: a 429's backoff is the ESP's to set, not an outage's, so resume leaves it waiting."""
    held = claimed_views(core, 6)
    reasons = ["503: Service Unavailable", "no answer (timeout)", "429: Too Many Requests"] * 2
    core.store.settle("klaviyo", held, [Retry(i.id, 300.0, r) for i, r in zip(held, reasons)], time.time())
    assert core.store.claim("klaviyo", time.time(), 100) == []
    assert core.store.resume("klaviyo", time.time()) == 4
    due = {i.id for i in core.store.claim("klaviyo", time.time(), 100)}
    assert due == {i.id for i, r in zip(held, reasons) if not r.startswith("429")}


def test_resume_on_sqlite_makes_what_waits_out_an_outage_due_and_nothing_else(tmp_path):
    core = Core(tmp_path, {"klaviyo": Recording()})
    try:
        check_resume_makes_only_outages_due(core)
    finally:
        core.close()


def test_a_relay_killed_between_the_post_and_its_outcome_sends_no_second_activecampaign_event(tmp_path):
    """ActiveCampaign has no idempotency key: after a crash, only its tracking logs say whether a post
    landed, and the delivery reads them only for an item that was tried before. An item whose request
    went out must count as tried even when the process died before its outcome was recorded."""
    from tests.test_delivery_activecampaign import EVENT_KEY, TOKEN, env

    crashed = threading.Event()

    class DiesAfterTheRequest:
        def __init__(self, real):
            self.real = real

        def deliver(self, items):
            self.real.deliver(items)  # landed at the fake
            crashed.set()
            threading.Event().wait(30)  # the process is gone: no outcome is ever recorded
            return []

    from tests.fakes import ActiveCampaignFake
    from tests.test_delivery_common import shop

    with ActiveCampaignFake(TOKEN, retry_after=0, tracking=True, event_key=EVENT_KEY) as fake:
        for tag in shop().esp_config("activecampaign")["fields"].values():
            fake.add_field(tag)

        def delivery():
            return load_connectors()["activecampaign"].events(context("activecampaign", env(fake)))

        ident = {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "i1",
                 "timestamp": "2026-03-01T10:00:00Z", "traits": {"email": "ada@example.com"}}
        first = Core(tmp_path, {"activecampaign": DiesAfterTheRequest(delivery())}, project=shop().root)
        first.send([ident, track("product_viewed", "a1", user="u1", mid="v1")])
        first.relay.start()
        assert crashed.wait(10)
        first.relay._stop.set()  # the dead process's threads never run again; its store is reopened
        again = Core(tmp_path, {"activecampaign": delivery()}, project=shop().root)
        again.relay.start()
        try:
            deadline = time.time() + 10
            while again.store.status(time.time())["esps"].get("activecampaign", {}).get("pending", 0) \
                    and time.time() < deadline:
                time.sleep(0.02)
        finally:
            again.relay.stop()
            again.close()
        ids = [__import__("json").loads(t["eventdata"])["id"] for t in fake.tracked_events()]
        assert ids and len(ids) == len(set(ids)), ids


def test_activecampaign_api_and_trackcmp_share_one_5_per_second_window():
    from tests.fakes import ActiveCampaignFake
    from tests.test_delivery_activecampaign import EVENT_KEY, TOKEN, env
    from tests.test_delivery_common import shop

    with ActiveCampaignFake(TOKEN, retry_after=0, tracking=True, event_key=EVENT_KEY) as fake:
        for tag in shop().esp_config("activecampaign")["fields"].values():
            fake.add_field(tag)
        fake.rate.enforce = True
        ctx = context("activecampaign", env(fake))
        ctx.transport_options = {"timeout": 5.0, "backoff": 0.0}
        delivery = load_connectors()["activecampaign"].events(ctx)
        items = [item(n, email=f"p{n}@example.com") for n in range(5)]
        started = time.monotonic()
        assert delivery.deliver(items) == [Delivered(i.id) for i in items]
        assert fake.rate.over == {}, fake.rate.over
        assert len(fake.rate.seen["api"]) >= 10  # a contact sync and a tracked event each
        assert time.monotonic() - started >= 1.0  # paced: more than 5 requests cannot go in one second
