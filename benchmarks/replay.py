"""Replay throughput (events/s, one core) and peak memory: N events over N/10 profiles, generated in-process.

    python benchmarks/replay.py [--events 1000000]

Drives the same Engine and Replay as ``mailwright replay`` (examples/shop's [signals], [scoring] and
[triggers]), without the per-profile timelines (what a relay keeps: state only). Generation and
parsing of the messages are not timed; ``from_segment`` is timed separately.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mailwright.batch import batch_gc  # noqa: E402
from mailwright.dialect import load_connectors  # noqa: E402
from mailwright.project import load_project  # noqa: E402
from mailwright.signals.config import load_signals  # noqa: E402
from mailwright.signals.engine import Engine, from_segment  # noqa: E402
from mailwright.signals.replay import Replay  # noqa: E402
from mailwright.signals.timefmt import iso  # noqa: E402

T0 = 1_714_521_600.0
NAMES = ["page", "product_viewed", "product_viewed", "cart_updated", "content_downloaded", "checkout_started",
         "placed_order"]


def messages(n: int, seed: int = 1) -> list[dict]:
    """Visits of 3 to 12 events about 40 s apart, each by one of n/10 profiles, over a day, in time order."""
    rng = random.Random(seed)
    profiles = max(1, n // 10)
    out: list[tuple[float, dict]] = []
    while len(out) < n:
        p = rng.randrange(profiles)
        t = T0 + rng.uniform(0, 86400)
        for _ in range(min(rng.randint(3, 12), n - len(out))):
            t += rng.expovariate(1 / 40)
            kind = rng.choice(NAMES)
            m = {"type": "page" if kind == "page" else "track", "anonymousId": f"a{p}", "timestamp": iso(t),
                 "properties": {"product_id": f"p{rng.randrange(50)}", "cart_value": rng.randrange(10, 300),
                                "time_on_page": rng.randrange(5, 400)}}
            if p % 3 == 0:
                m["userId"] = f"u{p}"
            if kind != "page":
                m["event"] = kind
            out.append((t, m))
    out.sort(key=lambda x: x[0])
    return [m for _, m in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    proj = load_project(ROOT / "examples" / "shop", list(load_connectors()))
    engine = Engine(load_signals(proj))
    msgs = messages(args.events)
    t = time.process_time()
    events = [from_segment(m)[0] for m in msgs]
    parse = time.process_time() - t
    del msgs
    rp = Replay(engine, keep_timeline=False)
    t = time.process_time()
    with batch_gc():  # as `mailwright replay` runs it
        for ev in events:
            rp.feed(ev)
        rp.finish()
    run = time.process_time() - t
    tracemalloc.start()  # a second pass, measured: tracing slows the run several times over
    rp = Replay(engine, keep_timeline=False)
    for ev in events:
        rp.feed(ev)
    rp.finish()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{args.events:,} events over {len(rp.profiles):,} profiles")
    print(f"engine:  {args.events / run:,.0f} events/s ({run:.1f} s of CPU time, one core)")
    print(f"parsing: {args.events / parse:,.0f} events/s (from_segment)")
    print(f"peak memory of the run (profile states and index): {peak / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
