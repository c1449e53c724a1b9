"""The signals engine (spec signals.md §2): each function at its window edges, decay and caps by hand,
derived triggers once per episode, identity stitching, and stream invariants (hypothesis)."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailwright.dialect import load_connectors
from mailwright.project import load_project
from mailwright.signals.config import load_signals
from mailwright.signals.engine import Engine, from_segment, link
from mailwright.signals.timefmt import iso, parse_time

T0 = 1_714_521_600.0  # 2024-05-01T00:00:00Z, a UTC midnight
H, D = 3600, 86400

SHOP = """
[signals]
session_time = "session.duration"
page_views = "session.page_views"
view_count = "count(product_viewed, 24h, same=product_id)"
views = "count(product_viewed, 1h)"
all_views = "count(product_viewed)"
spent = "sum(placed_order.total, 7d)"
products = "distinct(product_viewed.product_id, 1h)"
cart_value = "last(cart_updated.cart_value)"
first_ref = "first(page_visit.referrer)"
days_since_last_order = "days_since(placed_order)"
[scoring]
half_life = "1d"
max = 100
[scoring.points]
product_viewed = 10
cart_updated = 25
"page_visit where event.time_on_page > 240" = 15
[scoring.caps]
product_viewed = 30
[scoring.tiers]
high = 70
medium = 40
[triggers]
cart_abandoned = { after = "cart_updated", unless = ["checkout_started", "placed_order"], idle = "30m" }
session_exit = { idle = "30m", where = "session.duration > 90" }
"""


def engine_for(tmp_path: Path, toml: str = SHOP) -> Engine:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "mailwright.toml").write_text('[project]\nname = "t"\n' + toml)
    return Engine(load_signals(load_project(tmp_path, list(load_connectors()))))


@pytest.fixture
def eng(tmp_path):
    return engine_for(tmp_path)


def ev(name, t, **props):
    return {"event": name, "time": T0 + t, "properties": props}


def run(eng, events, state=None):
    """Each event's enriched properties, and every trigger fired (with its time)."""
    state = state or eng.new_state()
    props, fired = [], []
    for e in events:
        state, out, due = eng.step(state, e)
        fired += [(f.event, f.time - T0, f.properties) for f in due]
        props.append(out["properties"] if out else None)
    return state, props, fired


def test_count_window_includes_its_start(eng):
    _, p, _ = run(eng, [ev("product_viewed", 0, product_id="a"), ev("product_viewed", H, product_id="a"),
                        ev("product_viewed", H + 1, product_id="a")])
    assert [x["views"] for x in p] == [1, 2, 2]  # at 1h the view at 0 is on the window's start; 1s later it is out
    assert [x["all_views"] for x in p] == [1, 2, 3]


def test_count_same_counts_that_product_and_includes_the_event(eng):
    _, p, _ = run(eng, [ev("product_viewed", 0, product_id="a"), ev("product_viewed", 10, product_id="b"),
                        ev("product_viewed", 20, product_id="a"), ev("cart_updated", 30, product_id="b"),
                        ev("page_visit", 40), ev("product_viewed", D + 10, product_id="a"),
                        ev("product_viewed", D + 11, product_id="a")])
    assert [x["view_count"] for x in p] == [1, 1, 2, 1, 2, 2, 3]
    # at D+10 the window starts at 10: a's view at 0 is out, the one at 20 in (b's at 10 is another product)


def test_sum_and_distinct_at_their_edges(eng):
    _, p, _ = run(eng, [ev("placed_order", 0, total=40), ev("placed_order", 7 * D, total=2.5),
                        ev("placed_order", 7 * D + 1, total="n/a"), ev("product_viewed", 0.5 * H, product_id="x"),
                        ev("product_viewed", 0.75 * H, product_id="y"), ev("product_viewed", 1.5 * H, product_id="y"),
                        ev("product_viewed", 1.5 * H + 1, product_id="y")])
    assert [x.get("spent") for x in p[:3]] == [40, 42.5, 2.5]
    assert [x["products"] for x in p[3:]] == [1, 2, 2, 1]  # x (0.5h) is on the start at 1.5h, out 1 s later


def test_last_first_and_days_since(eng):
    _, p, _ = run(eng, [ev("page_visit", 0, referrer="google"), ev("cart_updated", 1, cart_value=50),
                        ev("cart_updated", 2), ev("placed_order", 3), ev("page_visit", 3 + 90 * D - 1, referrer="x"),
                        ev("page_visit", 3 + 90 * D)])
    assert "cart_value" not in p[0] and p[1]["cart_value"] == 50 and p[2]["cart_value"] == 50
    assert {x["first_ref"] for x in p} == {"google"}
    assert "days_since_last_order" not in p[0]
    assert [x["days_since_last_order"] for x in p[3:]] == [0, 89, 90]


def test_sessions_end_after_30_minutes_and_count_pages(eng):
    _, p, _ = run(eng, [ev("page_visit", 0), ev("product_viewed", 600, product_id="a"),
                        ev("page_visit", 600 + 1799), ev("page_visit", 600 + 1799 + 1800),
                        ev("product_viewed", 600 + 1799 + 1800 + 5, product_id="a")])
    assert [x["session_time"] for x in p] == [0, 600, 2399, 0, 5]  # the idle gap is not in it
    assert [x["page_views"] for x in p] == [1, 1, 2, 1, 1]


def test_identify_is_not_activity(eng):
    s, p, _ = run(eng, [ev("page_visit", 0), {"event": None, "time": T0 + 1700, "traits": {"email": "a@b.c"}},
                        ev("page_visit", 1700 + 1799)])
    assert p[1] is None and s["traits"] == {"email": "a@b.c"}
    assert p[2]["session_time"] == 0  # 3499 s after the last activity: a new session


def test_decay_by_hand(eng):
    _, p, _ = run(eng, [ev("cart_updated", 0), ev("cart_updated", D), ev("page_visit", 2 * D),
                        ev("page_visit", 2 * D + 1, time_on_page=241), ev("page_visit", 2 * D + 2, time_on_page=240)])
    assert p[0]["intent_score"] == 25
    assert p[1]["intent_score"] == 37.5  # 25·2^-1 + 25
    assert p[2]["intent_score"] == 18.75  # decayed a half-life, no points
    expected = round(37.5 * 2 ** (-(D + 1) / D) + 15, 2)
    assert p[3]["intent_score"] == expected
    assert p[4]["intent_score"] == round((37.5 * 2 ** (-(D + 1) / D) + 15) * 2 ** (-1 / D), 2)  # 240 is not > 240


def test_clamped_to_max_and_tiers_inclusive(tmp_path):
    eng = engine_for(tmp_path, SHOP.replace('half_life = "1d"\n', "").replace("cart_updated = 25", "cart_updated = 35"))
    _, p, _ = run(eng, [ev("cart_updated", 0), ev("cart_updated", 1), ev("cart_updated", 2), ev("cart_updated", 3)])
    assert [x["intent_score"] for x in p] == [35, 70, 100, 100]
    assert [x["intent_tier"] for x in p] == ["low", "high", "high", "high"]
    eng = engine_for(tmp_path, SHOP.replace('half_life = "1d"\n', "").replace("cart_updated = 25", "cart_updated = 20"))
    _, p, _ = run(eng, [ev("cart_updated", 0), ev("cart_updated", 1)])
    assert [x["intent_tier"] for x in p] == ["low", "medium"]  # exactly 40: medium


def test_caps_per_utc_day_by_hand(eng):
    views = [ev("product_viewed", D - 40 + i * 10, product_id="a") for i in range(4)]  # 23:59:20 .. 23:59:50
    views += [ev("product_viewed", D + i, product_id="a") for i in range(4)]  # the next UTC day
    _, p, _ = run(eng, views)
    s = [x["intent_score"] for x in p]
    decay = lambda x, dt: x * 2 ** (-dt / D)  # noqa: E731
    v = 10.0
    want = [round(v, 2)]
    for dt_, pts in [(10, 10), (10, 10), (10, 0), (10, 10), (1, 10), (1, 10), (1, 0)]:
        v = decay(v, dt_) + pts
        want.append(round(v, 2))
    assert s == want  # the fourth view of a day adds nothing; midnight starts a new allowance


def test_cart_abandoned_fires_once_per_episode_with_derived_and_after_properties(eng):
    s, p, fired = run(eng, [ev("cart_updated", 0, cart_value=80, cart_url="u1"),
                            ev("product_viewed", 600, product_id="a"),
                            ev("page_visit", 600 + 1800)])  # due at 600+1800 exactly: fires before this event
    assert [(f[0], f[1]) for f in fired] == [("cart_abandoned", 2400), ("session_exit", 2400)]
    props = fired[0][2]
    assert props["cart_url"] == "u1" and props["cart_value"] == 80 and props["view_count"] == 1
    assert props["session_time"] == 600
    assert props["intent_score"] == round((25 * 2 ** (-600 / D) + 10) * 2 ** (-1800 / D), 2)
    more = eng.advance(s, T0 + 10 * D)
    assert more == []  # the new session (0 s) is too short for session_exit
    assert not [f for f in more if f.event == "cart_abandoned"]  # once per episode


def test_fired_score_is_decayed_to_the_moment(eng):
    s, _, _ = run(eng, [ev("cart_updated", 0, cart_value=10)])
    (f,) = [f for f in eng.advance(s, T0 + D) if f.event == "cart_abandoned"]
    assert f.time == T0 + 1800 and f.properties["intent_score"] == round(25 * 2 ** (-1800 / D), 2)


def test_unless_in_time_cancels_and_a_new_after_opens_a_new_episode(eng):
    s, _, fired = run(eng, [ev("cart_updated", 0), ev("checkout_started", 1799)])
    assert [f.event for f in eng.advance(s, T0 + D)] == ["session_exit"]  # no cart_abandoned
    s, _, fired = run(eng, [ev("cart_updated", 0), ev("placed_order", 1799), ev("cart_updated", 5000),
                            ev("cart_updated", 5100)])
    fired += [(f.event, f.time - T0, f.properties) for f in eng.advance(s, T0 + D)]
    assert [(f[0], f[1]) for f in fired if f[0] == "cart_abandoned"] == [("cart_abandoned", 5100 + 1800)]


def test_unless_exactly_at_due_time_is_too_late(eng):
    _, _, fired = run(eng, [ev("cart_updated", 0), ev("placed_order", 1800)])
    assert [f[0] for f in fired] == ["cart_abandoned"]


def test_idle_runs_from_the_last_event_of_the_profile(eng):
    s, _, fired = run(eng, [ev("cart_updated", 0), ev("page_visit", 1000), ev("page_visit", 2000)])
    assert fired == []
    assert eng.next_due(s) == T0 + 3800
    assert [(f.event, f.time - T0) for f in eng.advance(s, T0 + 3799)] == []
    assert [(f.event, f.time - T0) for f in eng.advance(s, T0 + 3800)] == [("cart_abandoned", 3800),
                                                                           ("session_exit", 3800)]
    assert eng.advance(s, T0 + 9 * D) == [] and eng.next_due(s) is None


def test_session_exit_where_and_once_per_session(eng):
    s, _, _ = run(eng, [ev("page_visit", 0), ev("page_visit", 90)])
    assert eng.advance(s, T0 + D) == []  # 90 s is not > 90
    s, _, _ = run(eng, [ev("page_visit", 0), ev("page_visit", 91)])
    (f,) = eng.advance(s, T0 + D)
    assert (f.event, f.properties["session_time"], f.properties["page_views"]) == ("session_exit", 91, 2)


def test_timers_survive_a_restart(eng):
    s, _, _ = run(eng, [ev("cart_updated", 0, cart_value=5)])
    restored = json.loads(json.dumps(s))
    assert [f.event for f in eng.advance(restored, T0 + 1800)] == ["cart_abandoned"]


def test_identity_stitching_keeps_the_anonymous_history(eng):
    index: dict = {}
    profiles: dict = {}

    def feed(ids, e):
        key, others = link(index, ids)
        st_ = profiles.pop(key, None) or eng.new_state()
        for o in others:
            st_ = eng.merge(st_, profiles.pop(o))
        st_, out, _ = eng.step(st_, e)
        profiles[key] = st_
        return key, out

    feed({"anon": "a1"}, ev("product_viewed", 0, product_id="p"))
    feed({"anon": "a1"}, ev("product_viewed", 60, product_id="p"))
    key, out = feed({"anon": "a1", "user": "u1"}, {"event": None, "time": T0 + 70, "traits": {"email": "u@x"}})
    assert key == "user:u1" and list(profiles) == ["user:u1"]
    key, out = feed({"user": "u1"}, ev("product_viewed", 120, product_id="p"))
    assert out["properties"]["view_count"] == 3 and out["properties"]["intent_score"] > 29
    # a second device's history joins the known profile when it logs in
    feed({"anon": "a2"}, ev("product_viewed", 130, product_id="p"))
    feed({"anon": "a2"}, ev("cart_updated", 140, cart_value=12))
    assert set(profiles) == {"user:u1", "anon:a2"}
    key, out = feed({"anon": "a2", "user": "u1"}, ev("page_visit", 150))
    p = out["properties"]
    assert key == "user:u1" and set(profiles) == {"user:u1"}
    assert (p["all_views"], p["view_count"], p["cart_value"], p["page_views"]) == (4, 4, 12, 1)
    assert 54.9 < p["intent_score"] <= 55  # 4 views, capped at 30 that day, + 25: the cap holds across the merge
    assert profiles["user:u1"]["traits"] == {"email": "u@x"}
    assert {a for a, k in index.items() if k == "user:u1"} == {"anon:a1", "anon:a2", "user:u1"}


def test_from_segment_page_and_bad_messages():
    e, why = from_segment({"type": "page", "anonymousId": "a", "timestamp": "2024-05-01T00:00:01.5Z",
                           "properties": {"title": "Home"},
                           "context": {"page": {"url": "https://s/x?q", "path": "/x", "referrer": "r"}}})
    assert why is None and e["event"] == "page_visit" and e["time"] == T0 + 1.5
    assert e["properties"] == {"title": "Home", "url": "https://s/x?q", "path": "/x", "referrer": "r"}
    assert from_segment({"type": "track", "userId": "u", "timestamp": "2024-05-01T00:00:00Z"})[1] == "no event name"
    assert from_segment({"event": "x", "timestamp": "2024-05-01T00:00:00Z"})[1].startswith("no identity")
    assert "not ISO 8601" in from_segment({"event": "x", "userId": "u", "timestamp": "yesterday"})[1]
    e, _ = from_segment({"type": "identify", "userId": 7, "anonymousId": "a", "traits": {"email": "A@B.C"},
                         "timestamp": "2024-05-01T02:00:00+02:00"})
    assert e["event"] is None and e["ids"] == {"user": "7", "anon": "a", "email": "a@b.c"} and e["time"] == T0
    assert iso(T0 + 1.5) == "2024-05-01T00:00:01.500Z" and iso(T0) == "2024-05-01T00:00:00Z"
    assert parse_time("2024-05-01") == T0 and parse_time("1e9") is None


# ---------------------------------------------------------------- stream invariants

_names = st.sampled_from(["page_visit", "product_viewed", "cart_updated", "checkout_started", "placed_order"])
_event = st.tuples(st.integers(0, 2), _names, st.integers(0, 3 * H), st.sampled_from(["a", "b", None]),
                   st.integers(0, 300))


def _stream(raw):
    t, out = 0.0, []
    for who, name, gap, product, extra in raw:
        t += gap
        props = {"product_id": product, "cart_value": extra, "time_on_page": extra, "total": extra}
        out.append((f"p{who}", ev(name, t, **{k: v for k, v in props.items() if v is not None})))
    return out


def _replay(eng, stream, cuts=(), end=None):
    """Per profile, the outputs; the states go through JSON at each cut (a batch boundary, a restart)."""
    states: dict = {}
    outs: dict = {}
    for i, (who, e) in enumerate(stream):
        if i in cuts:
            states = json.loads(json.dumps(states))
        states[who], out, due = eng.step(states.get(who) or eng.new_state(), e)
        outs.setdefault(who, []).extend([("fired", f.event, f.time, f.properties) for f in due] + [out])
    for who in sorted(states):
        outs[who] += [("fired", f.event, f.time, f.properties) for f in eng.advance(states[who], end or T0 + 30 * D)]
    return outs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_event, max_size=40), st.sets(st.integers(0, 40), max_size=6))
def test_batches_do_not_change_the_result(eng, raw, cuts):
    stream = _stream(raw)
    assert _replay(eng, stream, cuts) == _replay(eng, stream)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_event, max_size=40))
def test_profiles_do_not_interact(eng, raw):
    stream = _stream(raw)
    together = _replay(eng, stream)
    for who in {w for w, _ in stream}:
        assert _replay(eng, [(w, e) for w, e in stream if w == who])[who] == together[who]
