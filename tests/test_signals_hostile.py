"""Hostile recordings and hostile values through ``mailwright replay`` and ``mailwright events check``:
every bad line located (PATH:LINE:COL: error:) in one pass, exit 1, never a traceback; and the engine
deterministic over what signals.md fixes (arrival order, repeated messageIds, time zones, huge numbers)."""

import io
import json
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_signals_engine import engine_for, ev, run

from mailwright.cli import main
from mailwright.signals.engine import from_segment, load_line
from mailwright.signals.replay import MAX_LINE, iter_lines

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


def test_a_hostile_recording_gives_every_bad_line_located_in_one_pass(tmp_path):
    lines = [
        "\ufeff" + GOOD,  # 1: a BOM before the first line is not a bad line
        "{not json",  # 2
        "x" * (50 * 1024 * 1024),  # 3: a 50 MB line
        track("product_viewed", "2024-05-01T10:01:00Z", product_id="p1"),  # 4
        '{"type": "track", "event": "product_viewed", "anonymousId": "a1", "timestamp": "2024-05-01T10:02:00Z"',
    ]
    f = write(tmp_path, lines, crlf=True)
    f.write_bytes(f.read_bytes().rstrip(b"\r\n")[:-3])  # 5: truncated, no newline at the end
    for r in (replay(f, "--json"), check(f)):
        assert r.exit_code == 1, r.output
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr
        located = errors(r)
        assert [re.match(rf"{re.escape(str(f))}:(\d+):\d+: error: ", ln)[1] for ln in located] == ["2", "3", "5"]
    doc = json.loads(replay(f, "--json").stdout)
    assert [e["event"] for e in doc["profiles"][0]["timeline"]] == ["product_viewed", "product_viewed"]


@pytest.mark.parametrize("line, why", [
    ("[" * 100_000, "too large or too deeply nested"),  # RecursionError in the decoder
    ('{"n": ' + "9" * 5000 + "}", "too large or too deeply nested"),  # over Python's 4,300 digits
    ('{"n": NaN}', "NaN is not a JSON number"),
    ('{"n": -Infinity}', "-Infinity is not a JSON number"),
    ('{"n": 1e400}', "the number 1e400 is out of range"),
    ('{"n": -' + "9" * 400 + "}", f"the number -{'9' * 39}… is out of range"),  # a sum() took it: exit 70
    ('{"id": "\\ud800"}', "a lone UTF-16 surrogate escape"),
])
def test_values_json_cannot_carry_are_bad_lines_not_crashes(tmp_path, line, why):
    assert why in load_line(line)[1]
    f = write(tmp_path, [GOOD, line[:30_000]])
    for r in (replay(f), replay(f, "--json"), check(f), check(f, "--json")):
        assert r.exit_code == 1 and re.fullmatch(rf"{re.escape(str(f))}:2:\d+: error: .*", "".join(errors(r)))


def test_a_pair_of_surrogate_escapes_is_text(tmp_path):
    assert load_line('{"id": "\\ud83d\\ude00"}')[0] == {"id": "\U0001f600"}
    f = write(tmp_path, [track("product_viewed", "2024-05-01T10:00:00Z", anon="\U0001f600")])
    r = replay(f, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["profiles"][0]["id"] == "\U0001f600"


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00Z", "0999-12-31T23:59:59Z"])
def test_a_time_no_report_can_show_is_a_bad_line(tmp_path, stamp):
    assert "before the year 1000 or after 9000" in from_segment(json.loads(track("x", stamp)))[1]
    f = write(tmp_path, [GOOD, track("cart_updated", stamp, cart_value=1)])
    r = replay(f, "--json")
    assert r.exit_code == 1 and f"{f}:2:1: error: timestamp '{stamp}'" in r.stderr, r.output


def test_a_repeated_message_id_counts_once_as_the_relay_delivers_it_once(tmp_path):
    lines = [track("product_viewed", "2024-05-01T10:00:00Z", mid="m1", product_id="p1")] * 3
    lines.append(track("product_viewed", "2024-05-01T10:01:00Z", mid="m2", product_id="p1"))
    r = replay(write(tmp_path, lines), "--json")
    timeline = json.loads(r.stdout)["profiles"][0]["timeline"]
    assert [e["properties"]["view_count"] for e in timeline] == [1, 2]
    assert [e["properties"]["intent_score"] for e in timeline] == [10, 20]


def test_arrival_order_and_time_zones_do_not_change_the_replay(tmp_path):
    # the same instants, written in other zones (a DST offset, a half hour one), on a leap day
    zones = {"2024-02-29T09:00:00Z": "2024-02-29T10:00:00+01:00", "2024-02-29T09:10:00Z": "2024-02-29T14:40:00+05:30",
             "2024-02-29T09:20:00Z": "2024-02-29T04:20:00-05:00", "2024-02-29T09:30:00Z": "2024-02-29T09:30:00"}
    lines = [track("product_viewed", t, anon=a, mid=f"{a}{t}", product_id="p1")
             for a in ("a1", "a2") for t in zones]
    lines.append(track("cart_updated", "2024-02-29T09:31:00Z", anon="a1", cart_value=99, cart_url="u"))
    first = replay(write(tmp_path, lines, "a.jsonl"), "--json", "--at", "2024-03-01T00:00:00Z")
    assert first.exit_code == 0, first.output
    shuffled = [track("product_viewed", zones.get(t, t), anon=a, mid=f"{a}{t}", product_id="p1")
                for a in ("a1", "a2") for t in zones] + lines[-1:] + lines[:3]  # and a resent copy of three
    random.Random(4).shuffle(shuffled)
    again = replay(write(tmp_path, shuffled, "b.jsonl"), "--json", "--at", "2024-03-01T00:00:00Z")
    assert json.loads(again.stdout) == json.loads(first.stdout)


def test_a_sum_past_the_largest_float_stays_a_number(tmp_path):
    eng = engine_for(tmp_path)
    _, p, _ = run(eng, [ev("placed_order", 0, total=1.5e308), ev("placed_order", 1, total=1.5e308)])
    assert p[1]["spent"] == 1.7976931348623157e308
    json.dumps(p, allow_nan=False)


def test_a_message_id_counts_again_after_the_relays_seven_days(tmp_path):
    # the relay forgets a messageId after 7 days (signals.md §3); a recording replays as it delivers
    lines = [track("product_viewed", t, mid="m1", product_id="p1")
             for t in ("2024-05-09T10:00:00Z", "2024-05-01T10:00:00Z", "2024-05-08T09:59:59Z")]
    r = replay(write(tmp_path, lines), "--json", "--at", "2024-05-10T00:00:00Z")
    timeline = json.loads(r.stdout)["profiles"][0]["timeline"]
    assert [e["time"][:10] for e in timeline] == ["2024-05-01", "2024-05-09"]


def test_a_line_of_exactly_the_limit_is_read_and_one_byte_more_is_not():
    def line(n):
        return b'"' + b"x" * (n - 2) + b'"'
    data = (line(MAX_LINE) + b"\r\n" + line(MAX_LINE + 1) + b"\n" + line(MAX_LINE + 2) + b"\n"
            + line(MAX_LINE + 3) + b"\n" + line(5 * MAX_LINE) + b"\n{}")
    assert [(n, raw is not None) for n, raw in iter_lines(io.BytesIO(data))] == [
        (1, True), (2, False), (3, False), (4, False), (5, False), (6, True)]


def test_a_bad_first_line_after_a_bom_is_located_counting_the_bom(tmp_path):
    f = tmp_path / "events.jsonl"
    f.write_bytes("\ufeff{x\n".encode())
    for r in (replay(f), check(f)):
        assert r.exit_code == 1 and errors(r)[0].startswith(f"{f}:1:3: error: "), r.output


@pytest.mark.parametrize("stamp", ["1000-01-01T00:00:00Z", "9000-01-01T00:00:00Z"])
def test_the_years_1000_and_9000_themselves_are_times_a_report_can_show(stamp):
    ev, why = from_segment(json.loads(track("x", stamp)))
    assert why is None and ev is not None


def test_a_message_id_counts_again_at_exactly_seven_days_as_the_relays_seen_key_expires(tmp_path):
    lines = [track("product_viewed", t, mid="m1", product_id="p1")
             for t in ("2024-05-01T10:00:00Z", "2024-05-08T10:00:00Z")]
    r = replay(write(tmp_path, lines), "--json", "--at", "2024-05-10T00:00:00Z")
    assert len(json.loads(r.stdout)["profiles"][0]["timeline"]) == 2
