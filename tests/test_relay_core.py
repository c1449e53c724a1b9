"""The relay's core without HTTP: the engine over the SQLite store, the outbox, outcomes, timers, dead letters.

Also the helpers the other relay tests share: a small project, Segment messages, a recording delivery
(real code that keeps what it is given), an HTTP recorder (a real server on 127.0.0.1 standing in for an
ESP that deduplicates by idempotency key) and a launcher for the relay as a real subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from mailwright.dialect import load_connectors
from mailwright.project import load_project
from mailwright.signals.config import load_signals
from mailwright.signals.engine import Engine
from mailwright.signals.relay.ingest import parse
from mailwright.signals.relay.metrics import Metrics
from mailwright.signals.relay.model import Dead, Delivered, OutboxItem, Retry
from mailwright.signals.relay.process import Processor
from mailwright.signals.relay.runner import Relay
from mailwright.signals.relay.store_sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
ESPS = ("klaviyo", "hubspot")
WRITE_KEY = "wk_test_5f1e"

PROJECT_TOML = """[project]
name = "relaytest"
esps = ["klaviyo", "hubspot"]

[signals]
cart_value = "last(cart_updated.cart_value)"
view_count = "count(product_viewed, 24h, same=product_id)"

[scoring]
half_life = "3d"
max = 100
[scoring.points]
product_viewed = 10
cart_updated = 25
[scoring.tiers]
high = 70
medium = 40

[triggers]
cart_abandoned = {{ after = "cart_updated", unless = ["placed_order"], idle = "{idle}" }}
"""


def make_project(root: Path, idle: str = "30m") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "templates").mkdir(exist_ok=True)
    (root / "mailwright.toml").write_text(PROJECT_TOML.format(idle=idle))
    return root


def track(event: str, anon: str = "a1", user: str | None = None, props: dict | None = None,
          t: float | None = None, mid: str | None = None) -> dict:
    msg = {"type": "track", "event": event, "anonymousId": anon, "messageId": mid or str(uuid.uuid4()),
           "timestamp": _iso(time.time() if t is None else t), "properties": props or {}}
    if user:
        msg["userId"] = user
    return msg


def _iso(t: float) -> str:
    from mailwright.signals.timefmt import iso

    return iso(t)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recording:
    """A delivery that keeps every item it is given, in order; ``plan`` scripts outcomes per call."""

    def __init__(self, plan=None):
        self.got: list[OutboxItem] = []
        self.calls = 0
        self.plan = plan or (lambda item, call: Delivered(item.id))
        self.lock = threading.Lock()

    def deliver(self, items):
        with self.lock:
            self.calls += 1
            out = [self.plan(i, self.calls) for i in items]
            self.got += [i for i, o in zip(items, out) if isinstance(o, Delivered)]
            return out


class Core:
    """Store + engine + relay loops in this process."""

    def __init__(self, tmp: Path, deliveries: dict, idle: str = "30m", path: Path | None = None,
                 project: Path | None = None):
        proj = load_project(project or make_project(tmp / "proj", idle), list(load_connectors()))
        self.engine = Engine(load_signals(proj))
        self.store = SQLiteStore(path or tmp / "relay.sqlite3")
        self.relay = Relay(self.store, Processor(self.engine, list(deliveries)), deliveries, Metrics(),
                           _quiet_log())

    def send(self, msgs: list[dict]) -> int:
        async def go():
            return await self.store.append(parse(json.dumps({"batch": msgs}).encode(), None, time.time()))
        return asyncio.run(go())

    def drain(self, until, timeout: float = 10.0) -> None:
        self.relay.start()
        try:
            deadline = time.time() + timeout
            while not until():
                assert time.time() < deadline, "the relay did not get there in time"
                time.sleep(0.01)
        finally:
            self.relay.stop()

    def close(self):
        self.store.close()


def _quiet_log():
    from mailwright.signals.relay.logs import Log

    return Log(open(os.devnull, "w"))  # noqa: SIM115


# ---------------------------------------------------------------- an ESP stand-in over real HTTP

class Recorder:
    """A real HTTP server recording items per ESP; like Klaviyo it keeps the first of each idempotency key."""

    def __init__(self):
        self.raw: Counter = Counter()  # (esp, id) -> how many times it was sent
        self.order: dict[str, list[dict]] = {}  # esp -> accepted items in arrival order (first of each id)
        self.fail_next = 0  # answer this many requests with 429
        self.delay = 0.0  # seconds each request takes (an ESP answering slowly: a delivery stays in flight)
        self.lock = threading.Lock()
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                esp = self.path.strip("/")
                time.sleep(rec.delay)
                with rec.lock:
                    if rec.fail_next > 0:
                        rec.fail_next -= 1
                        self.send_response(429)
                        self.send_header("Retry-After", "0")
                        self.end_headers()
                        return
                    for item in body:
                        rec.raw[(esp, item["id"])] += 1
                        if rec.raw[(esp, item["id"])] == 1:
                            rec.order.setdefault(esp, []).append(item)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self, esp: str) -> list[dict]:
        with self.lock:
            return list(self.order.get(esp, []))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HTTPDelivery:
    """Posts each batch to the Recorder: 2xx delivered, 429 retried (what an ESP's delivery does)."""

    def __init__(self, url: str, esp: str):
        self.url, self.esp = f"{url}/{esp}", esp
        self.session = requests.Session()

    def deliver(self, items):
        from mailwright.signals.relay.process import item_to_json

        try:
            r = self.session.post(self.url, json=[item_to_json(i) for i in items], timeout=5)
        except requests.RequestException as e:
            return [Retry(i.id, 0.05, f"connection: {type(e).__name__}") for i in items]
        if r.status_code == 429:
            return [Retry(i.id, 0.05, "429 Too Many Requests") for i in items]
        return [Delivered(i.id) for i in items]


LAUNCH = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.test_relay_core import HTTPDelivery
from mailwright.signals.relay.command import serve
serve(Path({project!r}), "127.0.0.1", {port}, {store!r}, deliveries={{e: HTTPDelivery({url!r}, e) for e in {esps!r}}})
"""


class RelayProcess:
    """``mailwright relay`` as a real subprocess, delivering to a Recorder."""

    def __init__(self, tmp: Path, project: Path, recorder_url: str, store: str, esps=ESPS, port: int | None = None,
                 env: dict | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        script = tmp / f"launch-{self.port}.py"
        script.write_text(LAUNCH.format(root=str(ROOT), project=str(project), port=self.port, store=store,
                                        url=recorder_url, esps=list(esps)))
        env = {**os.environ, "MAILWRIGHT_WRITE_KEYS": f"other_key,{WRITE_KEY}", **(env or {})}
        self.stderr = tmp / f"relay-{self.port}.log"
        self.proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr, "ab"))  # noqa: SIM115
        deadline = time.time() + 20
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert self.proc.poll() is None, self.stderr.read_text()
            assert time.time() < deadline, "the relay did not start"
            time.sleep(0.05)

    def post(self, path: str, body, key: str = WRITE_KEY, **kw) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return requests.post(self.url + path, data=data, auth=(key, "") if key else None, timeout=10,
                             headers={"Content-Type": "application/json"}, **kw)

    def log(self) -> str:
        return self.stderr.read_text()

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def stop(self, sig=None) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(sig or signal.SIGTERM)
        return self.proc.wait(30)


def sqlite_relay(tmp: Path):
    """A relay process on SQLite, delivering to a Recorder (``.recorder``), for a project in tmp/proj
    (``.project``); stopped, with its Recorder closed, when the generator is closed (a fixture's body)."""
    rec = Recorder()
    proj = make_project(tmp / "proj")
    r = RelayProcess(tmp, proj, rec.url, "sqlite:.mailwright/relay.sqlite3")
    r.recorder, r.project = rec, proj
    try:
        yield r
    finally:
        r.stop()
        rec.close()


def wait_for(cond, timeout: float = 15.0, what: str = "the condition"):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# ---------------------------------------------------------------- the tests of the core

@pytest.fixture
def core(tmp_path):
    made = []

    def make(deliveries, **kw):
        c = Core(tmp_path, deliveries, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def test_enriched_items_per_esp_with_score_tier_and_identity(core):
    k, h = Recording(), Recording()
    c = core({"klaviyo": k, "hubspot": h})
    t0 = time.time() - 5
    c.send([{"type": "identify", "anonymousId": "a1", "userId": "u1", "messageId": "i1",
             "timestamp": _iso(t0), "traits": {"email": "Ada@Example.com", "tier": "gold"}},
            track("product_viewed", "a1", props={"product_id": "p1"}, t=t0 + 1, mid="m1"),
            track("cart_updated", "a1", props={"cart_value": 120}, t=t0 + 2, mid="m2")])
    c.drain(lambda: len(k.got) == 2 and len(h.got) == 2)
    assert [i.id for i in k.got] == ["m1:klaviyo", "m2:klaviyo"]
    assert [i.id for i in h.got] == ["m1:hubspot", "m2:hubspot"]
    viewed, cart = k.got
    assert viewed.profile == "u1" and viewed.identity.user_id == "u1" and viewed.identity.anonymous_id == "a1"
    assert viewed.identity.email == "ada@example.com"
    assert viewed.properties["view_count"] == 1 and viewed.properties["intent_score"] == 10
    assert viewed.properties["intent_tier"] == "low"
    assert cart.properties["cart_value"] == 120 and cart.properties["intent_score"] == 35
    assert cart.profile_properties == {"email": "Ada@Example.com", "tier": "gold"}


def test_duplicate_message_id_is_delivered_once(core):
    k = Recording()
    c = core({"klaviyo": k})
    m = track("product_viewed", mid="same")
    assert c.send([m]) == 1
    assert c.send([m, dict(m)]) == 0
    c.send([track("product_viewed", mid="later")])
    c.drain(lambda: len(k.got) == 2)
    time.sleep(0.1)
    assert [i.id for i in k.got] == ["same:klaviyo", "later:klaviyo"]


def test_retry_keeps_profile_order_and_other_profiles_flow(core):
    # the first item of profile a1 is refused twice: a1's later items wait behind it, b1's do not
    def plan(item, call):
        if item.id.startswith("a-1") and item.attempts < 2:
            return Retry(item.id, 0.05, "429 Too Many Requests")
        return Delivered(item.id)
    k = Recording(plan)
    c = core({"klaviyo": k})
    # a-3 names the user: the profile is called u1 from then on, and still waits behind a-1
    c.send([track("product_viewed", "a1", mid="a-1"), track("product_viewed", "a1", mid="a-2"),
            track("product_viewed", "b1", mid="b-1"), track("product_viewed", "a1", user="u1", mid="a-3")])
    c.drain(lambda: len(k.got) == 4)
    ids = [i.id.split(":")[0] for i in k.got]
    assert [x for x in ids if x.startswith("a")] == ["a-1", "a-2", "a-3"]
    assert k.got[-1].profile == "u1"
    assert ids.index("b-1") < ids.index("a-1")
    assert c.relay.metrics.throttled.labels("klaviyo")._value.get() == 2


def test_dead_letters_are_kept_with_reasons_and_retry_requeues_them(core):
    dead = {"on": True}

    def plan(item, call):
        return Dead(item.id, "400 the ESP refused: bad email") if dead["on"] else Delivered(item.id)
    k = Recording(plan)
    c = core({"klaviyo": k})
    c.send([track("product_viewed", mid="d1"), track("product_viewed", mid="d2")])
    c.drain(lambda: c.store.status(time.time())["esps"].get("klaviyo", {}).get("dead") == 2)
    s = c.store.status(time.time())
    assert s["esps"]["klaviyo"] == {"pending": 0, "oldest_pending_seconds": 0.0, "dead": 2}
    assert {d["reason"] for d in c.store.dead_letters(None)} == {"400 the ESP refused: bad email"}
    assert c.store.retry_dead(["klaviyo"], dry_run=True) == {"klaviyo": 2}
    assert c.store.status(time.time())["esps"]["klaviyo"]["dead"] == 2  # a dry run changes nothing
    dead["on"] = False
    assert c.store.retry_dead(["klaviyo"], dry_run=False) == {"klaviyo": 2}
    c.drain(lambda: len(k.got) == 2)
    assert "klaviyo" not in c.store.status(time.time())["esps"]  # nothing pending, no dead letter


def test_a_delivery_that_keeps_failing_becomes_a_dead_letter(core):
    from mailwright.signals.relay import store

    k = Recording(lambda item, call: Retry(item.id, 0, "503 unavailable"))
    c = core({"klaviyo": k})
    c.send([track("product_viewed", mid="x")])
    c.drain(lambda: c.store.status(time.time())["esps"].get("klaviyo", {}).get("dead") == 1)
    assert k.calls == store.MAX_ATTEMPTS
    assert c.store.dead_letters(None)[0]["reason"].startswith(f"gave up after {store.MAX_ATTEMPTS} attempts")


def test_a_delivery_that_raises_does_not_stop_the_relay(core):
    class Boom:
        calls = 0

        def deliver(self, items):
            Boom.calls += 1
            if Boom.calls == 1:
                raise RuntimeError("bug in a delivery")
            return [Delivered(i.id) for i in items]
    c = core({"klaviyo": Boom()})
    c.send([track("product_viewed", mid="x")])
    # the failed call's item waits 5 s; shorten that by re-offering it now
    c.drain(lambda: Boom.calls == 1)
    c.store._db("klaviyo").execute("UPDATE outbox SET due = 0")
    c.drain(lambda: "klaviyo" not in c.store.status(time.time())["esps"])
    assert Boom.calls == 2 and c.relay.failed is None


def test_cart_abandoned_fires_after_idle_across_a_restart(tmp_path, core):
    k = Recording()
    c = core({"klaviyo": k}, idle="1s")
    c.send([track("cart_updated", "a1", props={"cart_value": 80}, mid="c1")])
    c.drain(lambda: len(k.got) == 1)
    c.close()
    # a new store and engine on the same file: the timer is in the profile's stored state
    k2 = Recording()
    c2 = core({"klaviyo": k2}, idle="1s", path=tmp_path / "relay.sqlite3")
    assert c2.store.status(time.time())["timers"] == 1
    c2.drain(lambda: len(k2.got) == 1, timeout=5)
    (fired,) = k2.got
    assert fired.event == "cart_abandoned" and fired.properties["cart_value"] == 80
    assert fired.id.startswith("trig-") and fired.profile == "a1"
    assert c2.store.status(time.time())["timers"] == 0


def test_checkout_before_idle_cancels_the_trigger(core):
    k = Recording()
    c = core({"klaviyo": k}, idle="1s")
    c.send([track("cart_updated", "a1", mid="c1"), track("placed_order", "a1", mid="o1")])
    c.drain(lambda: len(k.got) == 2)
    time.sleep(1.2)
    c.drain(lambda: True)
    assert [i.event for i in k.got] == ["cart_updated", "placed_order"]


def test_online_equals_offline_on_the_sample_day(tmp_path, core):
    """The shop's recorded day through the relay gives the enriched events `mailwright replay` computes."""
    from mailwright.signals.replay import replay_file

    sample = ROOT / "examples/shop/events/sample.jsonl"
    msgs = sorted((json.loads(x) for x in sample.read_text().splitlines() if x.strip()),
                  key=lambda m: m["timestamp"])  # replay's order: by time (the file's order for equal times)
    k = Recording()
    c = core({"klaviyo": k}, project=ROOT / "examples/shop")
    for i in range(0, len(msgs), 400):
        c.send(msgs[i:i + 400])
    now = time.time()
    proj = load_project(ROOT / "examples/shop", list(load_connectors()))
    profiles, bad = replay_file(sample, proj, at=now)
    assert not bad
    offline = sorted((e["time"], e["event"], json.dumps(e["properties"], sort_keys=True))
                     for p in profiles for e in p["timeline"])
    def done():
        s = c.store.status(time.time())
        return len(k.got) >= len(offline) and s["inbox"]["pending"] == 0 and not s["esps"]
    c.drain(done, timeout=60)
    online = sorted((i.time, i.event, json.dumps(i.properties, sort_keys=True)) for i in k.got)
    assert len(offline) > 5000 and any(e == "cart_abandoned" for _t, e, _p in offline)
    assert online == offline
