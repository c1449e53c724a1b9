"""The relay on Redis (a real redis-server on a free 127.0.0.1 port, started in a temp dir and stopped
after): the core behaviours, two relay processes sharing the shards, and kill -9 of both under load."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections import Counter

import pytest

from tests.test_relay_core import (
    Core,
    Recorder,
    Recording,
    RelayProcess,
    free_port,
    make_project,
    track,
    wait_for,
)
from tests.test_relay_kill import Load, check_exactly_once
from tests.test_relay_pacing import check_resume_makes_only_outages_due, claimed_views

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (.ci/run installs it)")


@pytest.fixture
def redis_url(tmp_path):
    import redis

    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    wait_for(lambda: _pings(client), timeout=10, what="redis-server")
    yield url
    client.close()
    proc.terminate()
    proc.wait(10)


def _pings(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.ConnectionError:
        return False


class RedisCore(Core):
    def __init__(self, tmp, deliveries, url, idle="30m"):
        from mailwright.signals.relay.store_redis import RedisStore

        super().__init__(tmp, deliveries, idle=idle)
        self.store.close()
        self.store = self.relay.store = RedisStore(url)


def test_order_dedup_and_outcomes_on_redis(tmp_path, redis_url):
    from mailwright.signals.relay.model import Delivered, Retry

    def plan(item, call):
        if item.id.startswith("a-1") and item.attempts < 1:
            return Retry(item.id, 0.05, "429 Too Many Requests")
        return Delivered(item.id)
    k = Recording(plan)
    c = RedisCore(tmp_path, {"klaviyo": k}, redis_url)
    try:
        c.send([track("product_viewed", "a1", mid="a-1"), track("product_viewed", "a1", mid="a-2")])
        assert c.send([track("product_viewed", "a1", mid="a-1")]) == 0  # a repeated messageId
        c.send([track("cart_updated", "a1", user="u1", props={"cart_value": 9}, mid="a-3")])
        c.drain(lambda: len(k.got) == 3)
        assert [i.id for i in k.got] == ["a-1:klaviyo", "a-2:klaviyo", "a-3:klaviyo"]
        assert k.got[2].profile == "u1" and k.got[2].properties["intent_score"] == 45
        assert "klaviyo" not in c.store.status(time.time())["esps"]
    finally:
        c.close()


def test_cart_abandoned_fires_after_idle_across_a_restart_on_redis(tmp_path, redis_url):
    k = Recording()
    c = RedisCore(tmp_path / "1", {"klaviyo": k}, redis_url, idle="1s")
    c.send([track("cart_updated", "a1", props={"cart_value": 80}, mid="c1")])
    c.drain(lambda: len(k.got) == 1)
    c.close()
    k2 = Recording()
    c2 = RedisCore(tmp_path / "2", {"klaviyo": k2}, redis_url, idle="1s")
    try:
        assert c2.store.status(time.time())["timers"] == 1
        c2.drain(lambda: len(k2.got) == 1, timeout=8)
        assert k2.got[0].event == "cart_abandoned" and k2.got[0].properties["cart_value"] == 80
    finally:
        c2.close()


def test_kill_9_two_relays_on_redis_lose_nothing_and_duplicate_nothing(tmp_path, redis_url):
    import redis

    rec = Recorder()
    proj = make_project(tmp_path / "proj")
    env = {"MAILWRIGHT_RELAY_LEASE_MS": "2000"}  # a dead relay's shards are taken over 2 s after it died
    relays = [RelayProcess(tmp_path, proj, rec.url, redis_url, env=env) for _ in range(2)]
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    # the two processes split the 16 shards between them
    wait_for(lambda: Counter(r.mget([f"mw:lease:{k}" for k in range(16)])) .most_common(1)[0][1] == 8
             and len(set(r.mget([f"mw:lease:{k}" for k in range(16)]))) == 2, timeout=10, what="shards shared")
    load = Load(lambda: random.choice(relays).url, pause=0.01)
    rnd = random.Random(15)
    kills = 0
    try:
        for _ in range(2):
            time.sleep(rnd.uniform(0.3, 1.0))
            i = rnd.randrange(2)
            relays[i].kill()
            kills += 1
            relays[i] = RelayProcess(tmp_path, proj, rec.url, redis_url, port=relays[i].port, env=env)
        time.sleep(0.5)
    finally:
        load.finish()
    try:
        assert len(load.acked) > 200
        check_exactly_once(rec, load.acked, load.n, kills=kills)
    finally:
        for p in relays:
            p.stop()
        rec.close()
        r.close()


def test_a_shard_given_back_to_a_new_relay_waits_for_its_batch_in_flight(tmp_path, redis_url):
    """Found by benchmarks/relay_kill.py (≈1,000 of 100,000 sent twice on Redis): when a relay joins (or
    one restarts), the others give back shards for a fair share; a shard given back while a batch of its
    items was at the ESP let the newcomer claim and send the same items again."""
    from mailwright.signals.relay.model import Delivered
    from mailwright.signals.relay.store_redis import RedisStore

    a = RedisCore(tmp_path, {"klaviyo": Recording()}, redis_url)
    try:
        a.send([track("product_viewed", f"v{n}") for n in range(64)])
        while a.store.process(a.relay.processor, 200):
            pass
        held = a.store.claim("klaviyo", time.time(), 100)  # at the ESP now, no outcome yet
        assert len(held) == 64 and len(a.store.owned) == 16
        b = RedisStore(redis_url)
        b.leases(time.time())
        a.store._last_lease = 0.0
        a.store.leases(time.time())  # fair share 8: gives back what it can
        b._last_lease = 0.0
        b.leases(time.time())
        again = {i.id for i in b.claim("klaviyo", time.time(), 100)}
        assert not again & {i.id for i in held}, "a second relay sent items the first had in flight"
        a.store.settle("klaviyo", held, [Delivered(i.id) for i in held], time.time())
        a.store._last_lease = 0.0
        a.store.leases(time.time())  # nothing in flight: the extra shards go now
        b._last_lease = 0.0
        assert len(a.store.owned) == 8 and len(b.leases(time.time())) == 8
        b.close()
    finally:
        a.close()


def test_a_relay_whose_lease_ran_out_or_is_about_to_claims_nothing_from_the_shard(tmp_path, redis_url):
    """Found by benchmarks/relay_kill.py: with no kill at all, 8% of the events were sent twice when the
    relays were starved of CPU and their 2-second leases lapsed before renewal: a relay kept sending from
    shards another relay had taken."""
    import redis

    from mailwright.signals.relay.store_redis import P

    a = RedisCore(tmp_path, {"klaviyo": Recording()}, redis_url)
    r = redis.Redis.from_url(redis_url)
    try:
        a.send([track("product_viewed", f"v{n}") for n in range(32)])
        while a.store.process(a.relay.processor, 200):
            pass
        taken = sorted(a.store.owned)[:8]
        for k in taken:
            r.set(f"{P}lease:{k}", "another-relay", px=a.store.lease_ms)  # lapsed, and taken over
        for k in sorted(a.store.owned)[8:12]:
            r.pexpire(f"{P}lease:{k}", a.store.lease_ms // 4)  # about to lapse
        from mailwright.signals.relay.store_redis import shard_of

        got = a.store.claim("klaviyo", time.time(), 100)
        shards = {shard_of(i.identity.anonymous_id) for i in got}
        assert got and not shards & set(sorted(a.store.owned)[:12]), shards
    finally:
        r.close()
        a.close()


def test_an_item_sent_before_a_crash_is_offered_again_as_tried(tmp_path, redis_url):
    """An item whose request went out counts as tried even when no outcome was ever recorded, so a
    delivery without an idempotency key (ActiveCampaign) looks before sending it again."""
    a = RedisCore(tmp_path, {"klaviyo": Recording()}, redis_url)
    try:
        held = claimed_views(a, 4)
        assert len(held) == 4 and {i.attempts for i in held} == {0}
        a.store.tried("klaviyo", held[:2])
        a.store._entries.clear()  # the process died here: nothing in memory survives
        again = {i.id: i.attempts for i in a.store.claim("klaviyo", time.time(), 100)}
        assert again == {**{i.id: 1 for i in held[:2]}, **{i.id: 0 for i in held[2:]}}
    finally:
        a.close()


def test_resume_makes_what_waits_out_an_outage_due_and_nothing_else(tmp_path, redis_url):
    a = RedisCore(tmp_path, {"klaviyo": Recording()}, redis_url)
    try:
        check_resume_makes_only_outages_due(a)
    finally:
        a.close()
