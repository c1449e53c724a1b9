"""Hostile recordings and hostile values through ``mailwright replay`` and ``mailwright events check``:
every bad line located (PATH:LINE:COL: error:) in one pass, exit 1, never a traceback; and the engine
deterministic over what signals.md fixes (arrival order, repeated messageIds, time zones, huge numbers)."""

import json
from pathlib import Path

from click.testing import CliRunner
from test_signals_engine import engine_for, ev, run

from mailwright.cli import main

SHOP = Path(__file__).resolve().parents[1] / "examples" / "shop"


def track(event, at, anon="a1", mid=None, **props):
    m = {"type": "track", "event": event, "anonymousId": anon, "timestamp": at, "properties": props}
    if mid:
        m["messageId"] = mid
    return json.dumps(m)


GOOD = track("product_viewed", "2024-05-01T10:00:00Z", product_id="p1")


def write(tmp_path, lines, name="events.jsonl", crlf=False):
    f = tmp_path / name
    f.write_bytes(("\r\n" if crlf else "\n").join(lines).encode("utf-8", "surrogatepass") + b"\n")
    return f


def replay(f, *args):
    return CliRunner().invoke(main, ["replay", str(f), str(SHOP), *args])


def check(f, *args):
    return CliRunner().invoke(main, ["events", "check", str(f), str(SHOP), *args])


def errors(r) -> list[str]:
    assert not isinstance(r.exception, Exception), r.exception  # SystemExit only
    return [ln for ln in r.stderr.splitlines() if ": error: " in ln]


def test_a_sum_past_the_largest_float_stays_a_number(tmp_path):
    eng = engine_for(tmp_path)
    _, p, _ = run(eng, [ev("placed_order", 0, total=1.5e308), ev("placed_order", 1, total=1.5e308)])
    assert p[1]["spent"] == 1.7976931348623157e308
    json.dumps(p, allow_nan=False)
