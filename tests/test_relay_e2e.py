"""Online equals offline, end to end: the shop's recorded day through the relay's store and engine, into
the real Klaviyo delivery, reaches the fake Klaviyo as exactly the enriched events `mailwright replay`
computes (one event each, by its unique_id), and the fake's own dedup sees no repeat."""

from __future__ import annotations

import json
import time

from mailwright.dialect import load_connectors
from mailwright.project import load_project
from tests.fakes import KlaviyoFake
from tests.test_delivery_common import FAST, SECRETS
from tests.test_relay_core import ROOT, Core


def test_the_sample_day_reaches_the_fake_klaviyo_as_replay_computes(tmp_path):
    from mailwright.signals.relay.model import DeliveryContext
    from mailwright.signals.replay import replay_file

    sample = ROOT / "examples/shop/events/sample.jsonl"
    msgs = sorted((json.loads(x) for x in sample.read_text().splitlines() if x.strip()), key=lambda m: m["timestamp"])
    shop = load_project(ROOT / "examples/shop", list(load_connectors()))
    key = SECRETS["klaviyo"]
    with KlaviyoFake(key, retry_after=0) as fake:
        ctx = DeliveryContext(esp="klaviyo", config=shop.esp_config("klaviyo"), project=shop,
                              env={"KLAVIYO_API_KEY": key, "KLAVIYO_BASE_URL": fake.url},
                              transport_options=dict(FAST), warn=lambda m: None, log=lambda m: None)
        delivery = load_connectors()["klaviyo"].events(ctx)
        core = Core(tmp_path, {"klaviyo": delivery}, project=ROOT / "examples/shop")
        for i in range(0, len(msgs), 500):
            core.send(msgs[i:i + 500])
        now = time.time()
        profiles, bad = replay_file(sample, shop, at=now)
        assert not bad
        offline = [e for p in profiles for e in p["timeline"]]

        def done() -> bool:
            s = core.store.status(time.time())
            return len(fake.events) >= len(offline) and s["inbox"]["pending"] == 0 and not s["esps"]

        core.drain(done, timeout=120)
        core.close()
        got = sorted((e["metric"], json.dumps(e["properties"], sort_keys=True)) for e in fake.events)
        want = sorted((delivery.metric(e["event"]), json.dumps(e["properties"], sort_keys=True)) for e in offline)
        assert len(got) == len(want) > 5000
        assert got == want
        assert len({e["unique_id"] for e in fake.events}) == len(fake.events)

