"""Relay benchmark: the time to drain the backlog of a 10-minute ESP outage, with no request over the
vendor's documented rate limit.

    python benchmarks/relay_drain.py [--esp klaviyo|hubspot|activecampaign] [--rate R] [--minutes 10]
                                     [--outage 20]

Time is compressed on one side only: the events of ``minutes`` at ``rate`` events/s are ingested while
the fake ESP answers every request 500 (for ``outage`` real seconds, long enough for the outbox items to
be tried and put back with a backoff); then the fake comes back and the drain is timed, in real time,
until every event is at the fake. The fake ESPs of tests/fakes enforce the documented limits
(Klaviyo events 350/s and 3,500/min, bulk jobs 10/s and 150/min; HubSpot 190 per 10 s; ActiveCampaign
5/s per account, trackcmp.net included) and answer 429 to a request over them: the count of those must
be 0 (the delivery paces itself; it does not find the limit by being refused). Nothing is ingested
while the drain runs, so the drain rate is the delivery's alone.

The relay runs in this process (the SQLite store, the engine and the real delivery of
connectors/<esp>/events.py over HTTP to the fake); examples/shop is the project.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailwright.dialect import load_connectors  # noqa: E402
from mailwright.project import load_project  # noqa: E402
from mailwright.signals.config import load_signals  # noqa: E402
from mailwright.signals.engine import Engine  # noqa: E402
from mailwright.signals.relay.ingest import parse  # noqa: E402
from mailwright.signals.relay.logs import Log  # noqa: E402
from mailwright.signals.relay.metrics import Metrics  # noqa: E402
from mailwright.signals.relay.model import DeliveryContext  # noqa: E402
from mailwright.signals.relay.process import Processor  # noqa: E402
from mailwright.signals.relay.runner import Relay  # noqa: E402
from mailwright.signals.relay.store_sqlite import SQLiteStore  # noqa: E402
from tests.fakes import ActiveCampaignFake, HubSpotFake, KlaviyoFake  # noqa: E402

KEYS = {"klaviyo": "pk_bench_0123456789abcdef", "hubspot": "pat-na1-bench-0123456789",
        "activecampaign": "bench0123456789abcdef0123456789ab", "event_key": "evkeybench0123456789"}
LIMITS = {"klaviyo": "events 350/s and 3,500/min; bulk jobs 10/s and 150/min",
          "hubspot": "190 requests per 10 s", "activecampaign": "5 requests/s"}
PROPS = {"product_id": "string", "product_name": "string", "intent_score": "number", "intent_tier": "string",
         "view_count": "number"}


def start_fake(esp: str, shop):  # -> (fake, env)
    if esp == "klaviyo":
        fake = KlaviyoFake(KEYS[esp], retry_after=1).start()
        return fake, {"KLAVIYO_API_KEY": KEYS[esp], "KLAVIYO_BASE_URL": fake.url}
    if esp == "hubspot":
        fake = HubSpotFake(KEYS[esp], retry_after=1).start()
        for name in shop.esp_config("hubspot")["properties"].values():
            fake.add_property(name)
        fake.add_definition("product_viewed", PROPS)
        return fake, {"HUBSPOT_ACCESS_TOKEN": KEYS[esp], "HUBSPOT_BASE_URL": fake.url}
    fake = ActiveCampaignFake(KEYS[esp], retry_after=1, tracking=True, event_key=KEYS["event_key"]).start()
    for tag in shop.esp_config("activecampaign")["fields"].values():
        fake.add_field(tag)
    return fake, {"ACTIVECAMPAIGN_API_TOKEN": KEYS[esp], "ACTIVECAMPAIGN_API_URL": fake.url,
                  "ACTIVECAMPAIGN_ACCOUNT_ID": fake.account_id, "ACTIVECAMPAIGN_EVENT_KEY": KEYS["event_key"],
                  "ACTIVECAMPAIGN_TRACK_URL": fake.url}


def at_fake(esp: str, fake) -> tuple[int, int]:
    """(distinct events the fake holds, accepted requests that carried an event already held)."""
    with fake.lock:
        if esp == "klaviyo":
            return len(fake.events), sum(n - 1 for n in fake.received.values())
        if esp == "hubspot":
            return len(fake.occurrences), sum(n - 1 for n in fake.received.values())
        ids = [json.loads(t["eventdata"])["id"] for t in fake.tracked]
        return len(set(ids)), len(ids) - len(set(ids))


def messages(n: int, profiles: int) -> list[dict]:
    """One identify per profile (the email HubSpot and ActiveCampaign find contacts by), then n views."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = [{"type": "identify", "userId": f"u{p}", "messageId": f"id-{p}", "timestamp": now,
            "traits": {"email": f"u{p}@example.com"}} for p in range(profiles)]
    out += [{"type": "track", "event": "product_viewed", "userId": f"u{i % profiles}", "messageId": str(uuid.uuid4()),
             "timestamp": now, "properties": {"product_id": f"p{i % 50}", "product_name": f"Item {i % 50}"}}
            for i in range(n)]
    return out


def run(esp: str, rate: float, minutes: float, outage: float, profiles: int) -> dict:
    shop = load_project(ROOT / "examples/shop", list(load_connectors()))
    fake, env = start_fake(esp, shop)
    fake.rate.enforce = True
    tmp = Path(tempfile.mkdtemp(prefix="relay-drain-"))
    ctx = DeliveryContext(esp=esp, config=shop.esp_config(esp), project=shop, env=env,
                          transport_options={"timeout": 10.0})
    delivery = load_connectors()[esp].events(ctx)
    store = SQLiteStore(tmp / "relay.sqlite3")
    relay = Relay(store, Processor(Engine(load_signals(shop)), [esp]), {esp: delivery}, Metrics(),
                  Log(open(tmp / "relay.log", "w")))  # noqa: SIM115
    n = int(rate * minutes * 60)
    profiles = min(profiles, n)
    msgs = messages(n, profiles)

    fake.inject("500", times=None)  # the outage: every request answered 500
    relay.start()
    t_out = time.time()

    async def ingest() -> None:
        for i in range(0, len(msgs), 500):
            await store.append(parse(json.dumps({"batch": msgs[i:i + 500]}).encode(), None, time.time()))
    asyncio.run(ingest())
    ingested = time.time() - t_out
    time.sleep(max(0.0, outage - ingested))
    while store.status(time.time())["inbox"]["pending"]:  # the whole backlog is in the outbox before it ends
        time.sleep(0.1)
    failed = len(fake.requests)

    fake.clear_faults()
    start = time.monotonic()
    deadline = start + 3600
    while True:
        s = store.status(time.time())
        if s["inbox"]["pending"] == 0 and not any(e["pending"] for e in s["esps"].values()):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    end = time.monotonic()
    relay.stop()
    got, repeated = at_fake(esp, fake)
    groups = {g: (len([t for t in seen if start <= t <= end]), fake.rate.rate(g, start, end))
              for g, seen in fake.rate.seen.items()}
    out = {"esp": esp, "backlog": n, "drain_seconds": end - start, "events_per_second": got / (end - start),
           "requests": groups, "over_limit": dict(fake.rate.over), "delivered": got, "repeated": repeated,
           "outage_requests": failed, "dead": sum(e["dead"] for e in store.status(time.time())["esps"].values())}
    if esp == "klaviyo":
        jobs = [j for j in fake.bulk_jobs if j.get("status") == "complete"]
        out["bulk_jobs"] = len(jobs)
        out["events_per_job"] = (sum(j["events"] for j in jobs) / len(jobs)) if jobs else 0
    store.close()
    fake.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--esp", default="klaviyo", choices=["klaviyo", "hubspot", "activecampaign"])
    ap.add_argument("--rate", type=float, default=None, help="events/s ingested during the outage")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--outage", type=float, default=20.0, help="real seconds the fake answers 500")
    ap.add_argument("--profiles", type=int, default=2000)
    args = ap.parse_args()
    rate = args.rate or {"klaviyo": 50.0, "hubspot": 2.0, "activecampaign": 0.25}[args.esp]
    r = run(args.esp, rate, args.minutes, args.outage, args.profiles)
    print(f"{r['esp']}: a {args.minutes:g}-minute outage at {rate:g} events/s = {r['backlog']:,} events; "
          f"drained in {r['drain_seconds']:.1f} s ({r['events_per_second']:,.1f} events/s), "
          f"{r['delivered']:,} at the fake, {r['repeated']} sent twice; limit {LIMITS[r['esp']]}")
    for g, (count, per_s) in r["requests"].items():
        print(f"  requests '{g}' during the drain: {count:,} ({per_s:.2f}/s)")
    print(f"  requests over the limit (answered 429): {sum(r['over_limit'].values())} {r['over_limit'] or ''}; "
          f"requests during the outage: {r['outage_requests']:,}; dead letters: {r['dead']}")
    if "bulk_jobs" in r:
        print(f"  Klaviyo bulk jobs: {r['bulk_jobs']:,}, {r['events_per_job']:.0f} events each on average")


if __name__ == "__main__":
    main()
