"""``mailwright replay``: three hand-written profiles end to end through the shop's signals and flows
(which emails, which variant, when), bad lines, --at, --json."""

import json
from pathlib import Path

from click.testing import CliRunner

from mailwright.cli import main

SHOP = Path(__file__).resolve().parents[1] / "examples" / "shop"


def msg(kind, at, anon, user=None, event=None, **props):
    m = {"type": kind, "anonymousId": anon, "timestamp": f"2024-05-01T{at}Z"}
    if user:
        m["userId"] = user
    if event:
        m["event"] = event
    if kind == "identify":
        m["traits"] = props
    else:
        m["properties"] = props
    return json.dumps(m)


def product(pid, name):
    return {"product_id": pid, "product_name": name, "product_url": f"https://s/p/{pid}",
            "product_image": f"https://i/{pid}.jpg", "product_category": "Kitchen"}


LINES = [
    # Ada: 6.5 minutes, four views, a long page, $250 in the cart, leaves: high intent
    msg("page", "09:00:00", "a1"),
    msg("identify", "09:00:30", "a1", "ada", email="ada@example.com", first_name="Ada"),
    msg("track", "09:01:00", "a1", "ada", "product_viewed", **product("p1", "Knife")),
    msg("track", "09:02:00", "a1", "ada", "product_viewed", **product("p2", "Pan")),
    msg("track", "09:03:00", "a1", "ada", "product_viewed", **product("p1", "Knife")),
    msg("track", "09:04:00", "a1", "ada", "product_viewed", **product("p1", "Knife")),
    msg("page", "09:05:00", "a1", "ada", time_on_page=300),
    msg("track", "09:06:00", "a1", "ada", "cart_updated", cart_value=120, cart_url="https://s/cart/a1"),
    msg("track", "09:06:30", "a1", "ada", "cart_updated", cart_value=250, cart_url="https://s/cart/a1"),
    "{not json",
    # Ben, anonymous on his phone first: a short visit, $80 in the cart; logs in; leaves
    msg("track", "14:00:00", "b1", None, "product_viewed", **product("p3", "Mug")),
    msg("track", "14:01:00", "b1", None, "content_downloaded", content_title="Guide", content_url="https://s/g"),
    msg("identify", "14:01:30", "b1", "ben", email="ben@example.com", first_name="Ben"),
    msg("track", "14:02:00", "b1", "ben", "cart_updated", cart_value=80, cart_url="https://s/cart/b1"),
    json.dumps({"type": "track", "event": "cart_updated", "timestamp": "2024-05-01T14:03:00Z"}),
    # Cy: fills a cart and buys within the half hour: no cart email; a gold member
    msg("identify", "11:00:00", "c1", "cy", email="cy@example.com", first_name="Cy", tier="gold"),
    msg("track", "11:00:10", "c1", "cy", "cart_updated", cart_value=64, cart_url="https://s/cart/c1"),
    msg("track", "11:02:00", "c1", "cy", "checkout_started", cart_value=64),
    msg("track", "11:20:00", "c1", "cy", "placed_order", order_id="F-1", total=64),
]


def replay(tmp_path, *args):
    f = tmp_path / "events.jsonl"
    f.write_text("\n".join(LINES) + "\n")
    r = CliRunner().invoke(main, ["replay", str(f), str(SHOP), *args])
    return r, f


def test_three_profiles_end_to_end(tmp_path):
    r, f = replay(tmp_path, "--json", "--at", "2024-05-02T00:00:00Z")
    assert r.exit_code == 1, r.output  # the bad lines are input errors; the report covers the others
    doc = json.loads(r.stdout)
    assert doc["bad_lines"] == [{"line": 10, "reason": "not JSON (Expecting property name enclosed in double quotes)"},
                                {"line": 15, "reason": "no identity (userId or anonymousId)"}]
    assert f"{f}:10:2: error: not JSON (Expecting property name enclosed in double quotes); line skipped" in r.stderr
    assert f"{f}:15:1: error: no identity (userId or anonymousId); line skipped" in r.stderr
    people = {p["id"]: p for p in doc["profiles"]}
    assert set(people) == {"ada", "ben", "cy"}
    assert people["ben"]["aliases"] == ["b1"]

    ada = people["ada"]
    cart = [e for e in ada["timeline"] if e["event"] == "cart_updated"][-1]["properties"]
    assert cart["session_time"] == 390 and cart["intent_tier"] == "high" and cart["intent_score"] >= 90
    assert cart["view_count"] == 3  # no product_id on a cart event: the last product viewed (p1) counts
    abandoned = [e for e in ada["timeline"] if e["triggers"] == ["cart_abandoned"]]
    assert [e["time"] for e in abandoned] == ["2024-05-01T09:36:30Z"]
    assert abandoned[0]["properties"]["cart_url"] == "https://s/cart/a1"
    emails = [(m["template"], m["at"], m["variant"]["subject"], m.get("pending", False)) for m in ada["emails"]]
    assert emails == [
        ("session-exit-recap", "2024-05-01T09:51:30Z", "Everything you looked at today, in one place", False),
        ("cart-reminder", "2024-05-01T10:06:30Z", "Ada, here's 15% off your cart", False),
        ("cart-discount", "2024-05-01T14:06:30Z", "Ada: 15% off your cart ends tonight", False),
        ("cart-discount", "2024-05-03T10:00:00Z", "Ada: 15% off your cart ends tonight", True),  # after --at
    ]
    assert "high_intent" in ada["emails"][1]["variant"]["segments"]

    ben = people["ben"]
    first = ben["timeline"][0]
    assert first["event"] == "product_viewed" and first["properties"]["intent_score"] == 10  # anonymous history
    cart = [e for e in ben["timeline"] if e["event"] == "cart_updated"][0]["properties"]
    assert cart["session_time"] == 120 and cart["intent_tier"] == "medium" and 49 <= cart["intent_score"] <= 50
    reminder = [m for m in ben["emails"] if m["template"] == "cart-reminder"]
    assert [(m["at"], m["variant"]["subject"]) for m in reminder] == [
        ("2024-05-01T15:02:00Z", "Ben, your cart ships free this week")]
    assert "medium_intent" in reminder[0]["variant"]["segments"]

    cy = people["cy"]
    assert not [e for e in cy["timeline"] if "cart_abandoned" in e["triggers"]]
    assert {m["template"] for m in cy["emails"]} == {"post-purchase-cross-sell", "lapsed-reengagement",
                                                     "session-exit-recap", "cart-free-shipping"}
    vip = [m for m in cy["emails"] if m["template"] == "cart-free-shipping"]  # the lapsed flow's branch for vips
    assert [(m["at"], m["variant"]["subject"]) for m in vip] == [
        ("2024-05-14T10:00:00Z", "Your member shipping is on us, Cy")]
    lapsed = [m for m in cy["emails"] if m["template"] == "lapsed-reengagement"]
    assert lapsed[0]["at"] == "2024-05-08T11:20:00Z" and lapsed[0]["pending"]
    assert "vip" in lapsed[0]["variant"]["segments"]


def test_without_at_the_replay_stops_at_the_last_event_and_the_table(tmp_path):
    r, _ = replay(tmp_path, "--json")
    people = {p["id"]: p for p in json.loads(r.stdout)["profiles"]}
    assert not [e for e in people["ben"]["timeline"] if e["triggers"]]  # his cart is due 14:32; the file ends 14:02
    assert people["ben"]["emails"] == []
    assert [m.get("pending", False) for m in people["ada"]["emails"]] == [False, False, True, True]
    r, _ = replay(tmp_path)
    assert r.exit_code == 1
    assert "profile ada" in r.stdout and "-> 2024-05-01T09:36:30Z  cart_abandoned" in r.stdout
    assert "cart-reminder via Cart abandonment  segments: engaged,high_intent,priority" in r.stdout
    assert "3 profile(s)" in r.stderr and "2 bad line(s) skipped" in r.stderr


def test_usage_and_input_errors(tmp_path):
    r, _ = replay(tmp_path, "--at", "tomorrow")
    assert r.exit_code == 2 and "not an ISO 8601 time" in r.output
    r = CliRunner().invoke(main, ["replay", str(tmp_path / "nope.jsonl"), str(SHOP)])
    assert r.exit_code == 1 and "nope.jsonl: error: cannot read this event file" in r.stderr
    assert "Traceback" not in r.output


def test_the_worked_case_of_the_docs_is_what_the_sample_gives():
    r = CliRunner().invoke(main, ["replay", str(SHOP / "events" / "sample.jsonl"), str(SHOP), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["bad_lines"] == []
    profiles = json.loads(r.stdout)["profiles"]
    assert len(profiles) >= 300 and sum(len(p["timeline"]) for p in profiles) >= 5000
    people = {p["id"]: p for p in profiles}
    docs = (SHOP.parents[1] / "docs" / "signals.md").read_text()
    for who, score, subject in [("ada", 100, "Ada, here's 15% off your cart"),
                                ("ben", 49.99, "Ben, your cart ships free this week")]:
        cart = [e for e in people[who]["timeline"] if e["event"] == "cart_updated"][-1]["properties"]
        assert cart["intent_score"] == score
        (m,) = [m for m in people[who]["emails"] if m["template"] == "cart-reminder"]
        assert m["variant"]["subject"] == subject and f"subject: {subject}" in docs
        assert f"{m['at']}  cart-reminder via Cart abandonment" in docs
