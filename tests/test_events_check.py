"""mailwright events check: recorded Segment events against the tracking plan."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_project

from mailwright.cli import main

ROOT = Path(__file__).resolve().parents[1]
TOML = """
[signals]
views = "count(product_viewed, 24h)"

[esp.klaviyo.events]
product_viewed = "Viewed Product"
"""
TEMPLATE = """<mjml><mj-head><mw-subject>{{ event.name | default("Your pick") }}</mw-subject></mj-head><mj-body>
<mj-section><mj-column><mj-text>{{ event.url }} {% if event.price > 10 %}pricey{% endif %} {{ event.views }}
</mj-text></mj-column></mj-section>
<mw-for each="v in event.variants"><mj-section><mj-column><mj-text>{{ v.size }}</mj-text></mj-column></mj-section></mw-for>
<x-footer company="Acme"/></mj-body></mjml>
"""
FLOW = "trigger: {event: product_viewed}\nexit_on: [placed_order]\nsteps:\n  - send: browse\n"
LINES = [
    {"type": "track", "event": "product_viewed", "userId": "u1",  # 1: clean
     "properties": {"url": "https://x/1", "name": "Mug", "price": 12, "variants": [{"size": "S"}]}},
    "{not json",  # 2
    {"type": "track", "userId": "u1", "properties": {}},  # 3: no event name
    {"type": "track", "event": "product_viewed", "properties": {"url": "u"}},  # 4: no identity
    {"type": "track", "event": "product_viewed", "anonymousId": "a1",  # 5: missing, wrong type, extra
     "properties": {"price": "cheap", "colour": "red", "variants": [{"size": ""}]}},
    {"type": "track", "event": "wishlist_added", "userId": "u2", "properties": {}},  # 6: unplanned
    {"type": "identify", "userId": "u1", "traits": {"email": "a@b.test"}},  # 7: identify
    {"type": "track", "event": "placed_order", "userId": "u2", "properties": None},  # 8: clean
    {"type": "track", "event": "product_viewed", "userId": "u3",  # 9: url null; views is derived
     "properties": {"url": None, "views": 3, "variants": []}},
    "[1, 2]",  # 10
]


@pytest.fixture
def proj(tmp_path):
    root = make_project(tmp_path / "proj", {"browse": TEMPLATE}, TOML, esps=("klaviyo",))
    (root / "flows").mkdir()
    (root / "flows" / "browse.yaml").write_text(FLOW)
    stream = tmp_path / "events.jsonl"
    stream.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in LINES) + "\n\n")
    return root, stream


def run(*args):
    return CliRunner().invoke(main, ["events", "check", *map(str, args)])


def test_every_violation_kind_and_every_bad_line(proj):
    root, stream = proj
    r = run(stream, root, "--json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] is False
    assert doc["bad_lines"] == [{"line": 2, "reason": "not JSON (Expecting property name enclosed in double quotes "
                                                      "at column 2)"},
                                {"line": 3, "reason": "no event name"},
                                {"line": 4, "reason": "no identity (userId or anonymousId)"},
                                {"line": 10, "reason": "not a JSON object"}]
    viewed = doc["events"]["product_viewed"]
    assert viewed["count"] == 3
    assert viewed["violations"] == {"Additional-Properties": 1, "Datatype-Mismatch": 1, "Required-Missing": 3}
    by_line = {(e["line"], e["kind"], e["property"]) for e in viewed["examples"]}
    assert by_line == {(5, "Additional-Properties", "colour"), (5, "Datatype-Mismatch", "price"),
                       (5, "Required-Missing", "url")}  # the first three examples
    assert doc["events"]["wishlist_added"] == {"count": 1, "violations": {"Unplanned-Event": 1}, "examples": [
        {"line": 6, "kind": "Unplanned-Event", "property": "", "message": "'wishlist_added' is not in the tracking plan"}]}
    assert doc["events"]["placed_order"] == {"count": 1, "violations": {}, "examples": []}
    assert "identify" not in doc["events"]
    fb = doc["fallbacks"]["browse"]
    # u1 gave every property; a1 has no name (default) and its price is not a number (a condition, still present);
    # u3 has no name and no price either
    assert (fb["recipients"], fb["fallback"]) == (3, 2)
    assert fb["why"] == {"event.name missing: caught by default()": 2,
                         "event.price missing: caught by a condition (false)": 1}


def test_text_report_and_a_clean_stream(proj, tmp_path):
    root, stream = proj
    r = run(stream, root)
    assert r.exit_code == 1
    assert f"{stream}:2:2: error: not JSON (Expecting property name" in r.stderr
    assert f"{stream}:10:1: error: not a JSON object; line skipped" in r.stderr
    assert "product_viewed: Required-Missing: url is required and missing" in r.output
    assert "browse (on product_viewed): 2 of 3 recipients (67%) saw a fallback" in r.output
    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps(LINES[0]) + "\n" + json.dumps(LINES[7]) + "\n")
    r = run(clean, root)
    assert r.exit_code == 0, r.output
    assert r.output.rstrip().endswith("clean")


def test_a_project_error_is_located_and_a_missing_file_is_usage(proj, tmp_path):
    root, stream = proj
    (root / "flows" / "browse.yaml").write_text("trigger: {event: product_viewed}\nsteps:\n  - send: nope\n")
    r = run(stream, root)
    assert r.exit_code == 1 and "browse.yaml:3:11: error: unknown template 'nope'" in r.output
    assert "Traceback" not in r.output
    r = run(tmp_path / "absent.jsonl", root)
    assert r.exit_code == 2


def test_help_says_the_exit_status():
    r = CliRunner().invoke(main, ["events", "check", "--help"])
    assert r.exit_code == 0 and "Exit status: 0 clean, 1 any violation or bad line" in r.output


SAMPLE = ROOT / "examples/shop/events/sample.jsonl"


@pytest.mark.skipif(not SAMPLE.exists(), reason="the example's sample events are not written yet")
def test_the_example_sample_has_no_required_missing():
    r = run(SAMPLE, ROOT / "examples/shop", "--json")
    doc = json.loads(r.stdout)
    missing = {name: s["examples"] for name, s in doc["events"].items() if s["violations"].get("Required-Missing")}
    assert not missing
    assert not doc["bad_lines"]
