"""[signals], [scoring], [triggers]: parsed with positions, every mistake located, all in one pass."""

from pathlib import Path

import pytest

from mailwright.dialect import load_connectors
from mailwright.errors import MailwrightError
from mailwright.project import load_project
from mailwright.signals.config import load_signals

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shop"


def project(tmp_path: Path, toml: str):
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "mailwright.toml").write_text('[project]\nname = "t"\n' + toml)
    return load_project(tmp_path, list(load_connectors()))


def errors(tmp_path: Path, toml: str) -> list[str]:
    with pytest.raises(MailwrightError) as e:
        load_signals(project(tmp_path, toml))
    return [f"{d.pos.line}:{d.pos.col}: {d.message}" for d in e.value.diagnostics]


def test_example_parses():
    s = load_signals(load_project(EXAMPLE, list(load_connectors())))
    vc = s.derived["view_count"]
    assert (vc.kind, vc.event, vc.window_seconds, vc.same, vc.value_type) == ("count", "product_viewed", 86400,
                                                                               "product_id", "number")
    cv = s.derived["cart_value"]
    assert (cv.kind, cv.event, cv.prop, cv.value_type) == ("last", "cart_updated", "cart_value", "any")
    assert s.derived["session_time"].kind == "session.duration"
    assert s.scoring.half_life == 3 * 86400 and s.scoring.max == 100
    assert s.scoring.tier(70) == "high" and s.scoring.tier(69.99) == "medium" and s.scoring.tier(39) == "low"
    ca = s.triggers["cart_abandoned"]
    assert (ca.after, ca.unless, ca.idle) == ("cart_updated", ("checkout_started", "placed_order"), 1800)
    assert {"cart_updated", "checkout_started", "placed_order", "product_viewed", "page_visit"} <= s.events_read()
    assert "cart_abandoned" not in s.events_read()


def test_every_function_parses(tmp_path):
    s = load_signals(project(tmp_path, """
[signals]
a = "count(product_viewed, 24h, same=product_id)"
b = "sum(placed_order.total, 30d)"
c = "last(cart_updated.cart_value)"
d = "first(page_visit.referrer)"
e = "days_since(placed_order)"
f = "distinct(product_viewed.product_id, 7d)"
g = "session.duration"
h = "session.page_views"
i = "count(product_viewed)"
"""))
    kinds = {n: (d.kind, d.event, d.prop, d.window_seconds) for n, d in s.derived.items()}
    assert kinds == {"a": ("count", "product_viewed", None, 86400), "b": ("sum", "placed_order", "total", 2592000),
                     "c": ("last", "cart_updated", "cart_value", None), "d": ("first", "page_visit", "referrer", None),
                     "e": ("days_since", "placed_order", None, None),
                     "f": ("distinct", "product_viewed", "product_id", 604800),
                     "g": ("session.duration", None, None, None), "h": ("session.page_views", None, None, None),
                     "i": ("count", "product_viewed", None, None)}
    assert s.scoring is None and s.triggers == {}


def test_every_mistake_at_its_place_in_one_pass(tmp_path):
    errs = errors(tmp_path, """
[signals]
a = "cnt(product_viewed, 24h)"
b = "count(product_viewd, 24h)"
c = "sum(placed_order, 7d)"
d = "count(product_viewed, 24 hours)"
e = 3
intent_score = "session.duration"
[scoring]
half_lif = "3d"
[scoring.points]
product_viewed = "ten"
"page_visit where event.time_on_page >" = 5
[scoring.caps]
product_view = 30
[scoring.tiers]
high = 170
[triggers]
cart_abandoned = { after = "cart_updatd", idle = "30m" }
session_exit = { where = "session.lenght > 90" }
""")
    text = "\n".join(errs)
    assert "5:6: unknown function 'cnt': did you mean 'count'?" in text
    assert "6:12: unknown event 'product_viewd': did you mean 'product_viewed'?" in text
    assert "7:10: sum reads a property of an event" in text
    assert "8:28: malformed duration '24 hours'" in text
    assert "9:5: e in [signals] is a string" in text
    assert "10:16: 'intent_score' is set by [scoring]" in text
    assert "12:1: unknown key 'half_lif' in [scoring]: did you mean 'half_life'?" in text
    assert "14:18: the points of 'product_viewed' are a number" in text
    assert "15:19: bad expression 'event.time_on_page >'" in text
    assert "17:1: cap for 'product_view', which [scoring.points] does not score: did you mean 'product_viewed'?" in text
    assert "19:8: the lowest score of tier 'high' is a number from 0 to 100" in text
    assert "21:29: unknown event 'cart_updatd': did you mean 'cart_updated'?" in text
    assert "22:16: trigger session_exit needs idle" in text
    assert "22:27: unknown name 'session.lenght'" in text
    assert len(errs) == 14


def test_custom_events_are_accepted(tmp_path):
    s = load_signals(project(tmp_path, '[signals]\nw = "count(wishlist_added, 7d)"\n'
                                       '[triggers]\nquiet = { after = "wishlist_added", idle = "2d" }\n'))
    assert s.derived["w"].event == "wishlist_added" and s.triggers["quiet"].idle == 172800


def test_a_trigger_name_is_a_known_event(tmp_path):
    s = load_signals(project(tmp_path, '[signals]\nn = "count(cart_abandoned, 30d)"\n'
                                       '[triggers]\ncart_abandoned = { after = "cart_updated", idle = "1h" }\n'))
    assert s.derived["n"].event == "cart_abandoned"
    errs = errors(tmp_path, '[scoring.points]\ncart_abandoned = 5\n'
                            '[triggers]\ncart_abandoned = { after = "cart_updated", idle = "1h" }\n')
    assert errs == ["4:1: 'cart_abandoned' is a derived trigger: points go to events the site sends"]


def test_a_wrong_table_type_is_the_projects_error(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "mailwright.toml").write_text('signals = 3\n[project]\nname = "t"\n')
    with pytest.raises(MailwrightError, match="signals must be a table"):
        load_project(tmp_path, list(load_connectors()))


def test_nan_and_infinity_are_no_numbers_of_a_score(tmp_path):
    # TOML has nan and inf; a NaN max made replay exit 70, an inf point or a NaN cap was taken silently
    toml = ('[scoring]\nmax = nan\n[scoring.points]\nproduct_viewed = inf\ncart_updated = 5\n'
            '[scoring.caps]\ncart_updated = nan\n[scoring.tiers]\nhigh = -inf\n')
    assert errors(tmp_path, toml) == [
        "4:7: max is a number above 0 (the highest score), not nan",
        "6:18: the points of 'product_viewed' are a number, not inf",
        "9:16: the cap of 'cart_updated' is a number of points above 0, not nan",
        "11:8: the lowest score of tier 'high' is a number from 0 to 100, not -inf",
    ]
