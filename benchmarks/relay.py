"""Relay benchmark: sustained events/s with durable acknowledgement, ingest acknowledgement latency, and
end-to-end latency to a 2xx from a fake ESP at half the maximum load.

    python benchmarks/relay.py [--seconds 10] [--store sqlite|redis://127.0.0.1:6379/0]

Runs ``mailwright relay`` as a real subprocess (uvicorn, the SQLite store in WAL mode, group commits,
synchronous=FULL) on examples/shop's signals, delivering to two ESPs whose stand-in is a local HTTP
server answering 200 (so the numbers are the relay's, not an ESP's). The load generator runs on the
same machine, in threads with keep-alive connections, posting /v1/batch of 50 events (what
analytics.js and RudderStack SDKs send) for throughput, and single /v1/track calls for latency.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench_write_key"

LAUNCH = """
import sys, requests
sys.path.insert(0, {src!r})
from pathlib import Path
from mailwright.signals.relay.command import serve
from mailwright.signals.relay.model import Delivered, Retry

class Post:
    def __init__(self, url):
        self.url, self.s = url, requests.Session()
    def deliver(self, items):
        body = [{{"id": i.id, "mid": i.id.rsplit(":", 1)[0]}} for i in items]
        try:
            r = self.s.post(self.url, json=body, timeout=10)
        except requests.RequestException:
            return [Retry(i.id, 0.5, "connection") for i in items]
        return [Delivered(i.id) if r.status_code < 300 else Retry(i.id, 0.5, str(r.status_code)) for i in items]

serve(Path({project!r}), "127.0.0.1", {port}, {store!r}, deliveries={{e: Post({url!r} + "/" + e) for e in ("klaviyo", "hubspot")}})
"""


class FakeESP:
    """Answers 200 and notes when each messageId first reached each ESP."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        esp = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.time()
                with esp.lock:
                    for item in body:
                        esp.first.setdefault((self.path, item["mid"]), now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event(profiles: int, rng: random.Random) -> dict:
    name = rng.choice(["product_viewed", "product_viewed", "cart_updated", "page_visit_track"])
    msg = {"type": "track", "event": name, "anonymousId": f"anon-{rng.randrange(profiles)}",
           "messageId": str(uuid.uuid4()), "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "properties": {"product_id": f"p{rng.randrange(50)}", "cart_value": rng.randrange(200)}}
    return msg


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def run_load(url: str, seconds: float, threads: int, batch: int, rate: float | None = None,
             sent_at: dict | None = None) -> tuple[int, list[float]]:
    """Post for ``seconds``; (events acknowledged, per-request latencies). ``rate``: events/s in total."""
    acked, lat, lock, stop = [0], [], threading.Lock(), time.time() + seconds

    def worker(n: int) -> None:
        s, rng = requests.Session(), random.Random(n)
        interval = (batch * threads / rate) if rate else 0.0
        nxt = time.time()
        while time.time() < stop:
            msgs = [event(2000, rng) for _ in range(batch)]
            path, body = ("/v1/batch", {"batch": msgs}) if batch > 1 else ("/v1/track", msgs[0])
            t = time.perf_counter()
            wall = time.time()
            r = s.post(url + path, json=body, auth=(KEY, ""), timeout=30)
            dt = time.perf_counter() - t
            if r.status_code == 200:
                with lock:
                    acked[0] += len(msgs)
                    lat.append(dt)
                    if sent_at is not None:
                        for m in msgs:
                            sent_at[m["messageId"]] = wall
            if interval:
                nxt += interval
                time.sleep(max(0.0, nxt - time.time()))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return acked[0], lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--store", default="sqlite")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--ack-only", action="store_true", help="only the single /v1/track acknowledgement latency")
    ap.add_argument("--ack-rate", type=float, default=None, help="events/s in total for --ack-only (default: flat out)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    esp = FakeESP()
    port = free_port()
    store = f"sqlite:{tmp / 'relay.sqlite3'}" if args.store == "sqlite" else args.store
    script = tmp / "launch.py"
    script.write_text(LAUNCH.format(src=str(ROOT / "src"), project=str(ROOT / "examples/shop"), port=port,
                                    store=store, url=esp.url))
    env = {**os.environ, "MAILWRIGHT_WRITE_KEYS": KEY}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        if args.ack_only:
            n1, lat1 = run_load(url, args.seconds, args.threads, 1, rate=args.ack_rate)
            print(f"single /v1/track ack latency ({args.threads} senders, {n1 / args.seconds:,.0f} events/s): "
                  f"p50 {pct(lat1, .5) * 1000:.1f} ms, p99 {pct(lat1, .99) * 1000:.1f} ms, "
                  f"max {max(lat1) * 1000:.1f} ms")
            return
        t = time.time()
        n, lat = run_load(url, args.seconds, args.threads, 50)
        rate = n / (time.time() - t)
        print(f"sustained ingest, durable ack (/v1/batch of 50, {args.threads} senders): {rate:,.0f} events/s; "
              f"request ack p50 {pct(lat, .5) * 1000:.1f} ms, p99 {pct(lat, .99) * 1000:.1f} ms")
        wait_drained(esp, n, 120)
        n1, lat1 = run_load(url, args.seconds / 2, args.threads, 1)
        print(f"single /v1/track ack latency ({args.threads} senders, {n1 / (args.seconds / 2):,.0f} events/s): "
              f"p50 {pct(lat1, .5) * 1000:.1f} ms, p99 {pct(lat1, .99) * 1000:.1f} ms")
        wait_drained(esp, n + n1, 120)
        sent: dict[str, float] = {}
        half = rate / 2
        n2, _ = run_load(url, args.seconds, args.threads, 10, rate=half, sent_at=sent)
        wait_drained(esp, n + n1 + n2, 120)
        with esp.lock:
            e2e = [at - sent[mid] for (_p, mid), at in esp.first.items() if mid in sent]
        print(f"end to end at half load ({n2 / args.seconds:,.0f} events/s, 2 ESPs): p50 {pct(e2e, .5) * 1000:.0f} ms, "
              f"p99 {pct(e2e, .99) * 1000:.0f} ms (mean {statistics.mean(e2e) * 1000:.0f} ms, {len(e2e)} deliveries)")
    finally:
        proc.terminate()
        proc.wait(60)


def wait_drained(esp: FakeESP, n: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with esp.lock:
            if len(esp.first) >= 2 * n:
                return
        time.sleep(0.1)
    print(f"(not drained within {timeout:.0f} s: {len(esp.first)} of {2 * n} deliveries)")


if __name__ == "__main__":
    main()
