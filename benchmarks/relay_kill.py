"""Relay benchmark: events lost and duplicated per 100,000 across repeated ``kill -9`` under load.

    python benchmarks/relay_kill.py [--events 100000] [--kills 6] [--store sqlite|redis] [--seed 15]

Runs ``mailwright relay`` as real subprocesses (one on SQLite; two sharing a real redis-server on a free
port with ``--store redis``) delivering to two ESPs whose stand-in is a real HTTP server on 127.0.0.1
(tests/test_relay_core.Recorder) that records every request it accepts, then keeps the first of each
idempotency key as Klaviyo does. Senders post ``/v1/batch`` of 1-50 events (unique messageIds over 200
profiles) as fast as the relay takes them and, like analytics SDKs, send a batch again until it is
acknowledged. At seeded random moments (spread over the deliveries) a relay is killed with SIGKILL and started again on its port.

Counted once the outbox has drained:
- lost: acknowledged, never delivered to an ESP (per ESP);
- sent twice: requests carrying an event the ESP had already accepted (before the ESP's dedup: what a
  vendor with no idempotency key and no lookup would record), and after the dedup;
- order: events of one profile from one sender delivered out of their sending order.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_relay_core import ESPS, WRITE_KEY, Recorder, RelayProcess, free_port, make_project, track  # noqa: E402


class Senders:
    """``threads`` senders sharing ``total`` events; each batch is sent again until acknowledged."""

    def __init__(self, urls: list[str], total: int, threads: int, profiles: int, seed: int):
        self.urls, self.total, self.profiles = urls, total, profiles
        self.next = 0
        self.acked: set[str] = set()
        self.retries = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(seed * 100 + s, s), daemon=True)
                        for s in range(threads)]
        for t in self.threads:
            t.start()

    def take(self, n: int) -> range:
        with self.lock:
            start = self.next
            self.next = min(self.total, self.next + n)
            return range(start, self.next)

    def run(self, seed: int, s: int) -> None:
        rnd, session = random.Random(seed), requests.Session()
        while True:
            ids = self.take(rnd.randint(1, 50))
            if not ids:
                return
            batch = [track("product_viewed", f"a{rnd.randrange(self.profiles)}", mid=f"s{s}-{i}",
                           props={"seq": i, "sender": s}) for i in ids]
            while True:
                url = rnd.choice(self.urls)
                try:
                    r = session.post(url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=10)
                    if r.status_code == 200:
                        break
                except requests.RequestException:
                    session = requests.Session()
                with self.lock:
                    self.retries += 1
                time.sleep(0.02)  # the relay is down: the same batch (same messageIds) again
            with self.lock:
                self.acked.update(m["messageId"] for m in batch)

    def done(self) -> bool:
        return not any(t.is_alive() for t in self.threads)


def start_redis(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                             "127.0.0.1", "--dir", str(tmp), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def run(store_kind: str, total: int, kills: int, seed: int, threads: int, profiles: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="relay-kill-"))
    proj = make_project(tmp / "proj")
    rec = Recorder()
    redis_proc = None
    if store_kind == "redis":
        redis_proc, store = start_redis(tmp)
        env = {"MAILWRIGHT_RELAY_LEASE_MS": os.environ.get("LEASE_MS", "2000")}
        relays = [RelayProcess(tmp, proj, rec.url, store, env=env) for _ in range(2)]
    else:
        store, env = f"sqlite:{tmp / 'relay.sqlite3'}", {}
        relays = [RelayProcess(tmp, proj, rec.url, store)]
    rnd = random.Random(seed)
    points = sorted(rnd.uniform(0.05, 0.95) * total for _ in range(kills))
    started = time.time()
    load = Senders([r.url for r in relays], total, threads, profiles, seed)
    killed = 0
    for point in points:  # progress = events delivered to the first ESP, so kills also land while it drains
        while len(rec.accepted(ESPS[0])) < point and time.time() - started < 600:
            time.sleep(0.005)
        time.sleep(rnd.uniform(0, 0.2))  # a random moment, not a batch boundary
        i = rnd.randrange(len(relays))
        relays[i].kill()
        killed += 1
        relays[i] = RelayProcess(tmp, proj, rec.url, store, port=relays[i].port, env=env)
    while not load.done():
        time.sleep(0.05)
    sent_seconds = time.time() - started
    deadline = time.time() + 600
    while time.time() < deadline:
        if all({i["id"].rsplit(":", 1)[0] for i in rec.accepted(esp)} >= load.acked for esp in ESPS):
            break
        time.sleep(0.2)
    time.sleep(2.0)  # anything still in flight lands now
    drained = time.time() - started
    out: dict = {"store": store_kind, "relays": len(relays), "events": total, "acked": len(load.acked),
                 "kills": killed, "send_seconds": sent_seconds, "drain_seconds": drained,
                 "sender_retries": load.retries, "esps": {}}
    for esp in ESPS:
        got = rec.accepted(esp)
        ids = [i["id"].rsplit(":", 1)[0] for i in got]
        with rec.lock:
            raw = sum(n for (e, _i), n in rec.raw.items() if e == esp)
        order_breaks, last = 0, {}
        for item in got:
            key = (item["profile"], item["properties"]["sender"])
            if item["properties"]["seq"] < last.get(key, -1):
                order_breaks += 1
            last[key] = max(last.get(key, -1), item["properties"]["seq"])
        out["esps"][esp] = {"lost": len(load.acked - set(ids)), "delivered": len(set(ids)),
                            "twice_before_dedup": raw - len(got), "twice_after_dedup": len(ids) - len(set(ids)),
                            "unacked_delivered": len(set(ids) - load.acked), "order_breaks": order_breaks}
    for r in relays:
        r.stop(signal.SIGTERM)
    rec.close()
    if redis_proc is not None:
        redis_proc.terminate()
        redis_proc.wait(10)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--store", choices=["sqlite", "redis"], default="sqlite")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--profiles", type=int, default=200)
    args = ap.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    r = run(args.store, args.events, args.kills, args.seed, args.threads, args.profiles)
    per = 100_000 / max(1, r["acked"])
    print(f"{r['store']} ({r['relays']} relay{'s' if r['relays'] > 1 else ''}): {r['events']:,} events, "
          f"{r['acked']:,} acknowledged, {r['kills']} kill -9, sent in {r['send_seconds']:.0f} s, "
          f"drained at {r['drain_seconds']:.0f} s; {r['sender_retries']:,} batches sent again by the senders")
    for esp, e in r["esps"].items():
        print(f"  {esp}: lost {e['lost']} ({e['lost'] * per:.1f} per 100,000), sent twice "
              f"{e['twice_before_dedup']} before the ESP's dedup ({e['twice_before_dedup'] * per:.1f} per 100,000), "
              f"{e['twice_after_dedup']} after; order breaks {e['order_breaks']}; "
              f"delivered though unacknowledged {e['unacked_delivered']}")


if __name__ == "__main__":
    main()
