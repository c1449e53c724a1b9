"""Derived recipients reach every branch of every example template, in every ESP, and each ESP's
engine shows them what the language means."""

import pytest

from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.project import load_project
from mailwright.semantics import interpret
from mailwright.variants import derive, reaches, targets
from tests.conftest import ROOT, compile_sources, email
from tests.engines import RENDERERS, visible_text
from tests.test_example import CONFIG

SHOP = ROOT / "examples" / "shop"


@pytest.fixture(scope="module")
def outputs():
    result = compile_project(load_project(SHOP, list(load_connectors())))
    assert not result.errors
    return result.outputs


def test_every_branch_of_every_template_is_reached(outputs):
    for out in outputs:
        known = {"esp": out.esp, "trigger": out.trigger}
        trees = [out.rendered.page, out.rendered.subject]
        people, unreachable = derive(trees, known)
        assert unreachable == [], (out.esp, out.name, unreachable)
        tgts = [t for tree in trees for t in targets(tree, known) if t.label not in unreachable]
        assert tgts and all(any(reaches(t, p) for p in people) for t in tgts)
        assert len(people) < len(tgts) or len(tgts) <= 2  # fewer recipients than branches


def test_derived_recipients_see_the_same_email_in_every_engine(outputs):
    for out in outputs:
        known = {"esp": out.esp, "trigger": out.trigger}
        people, _ = derive([out.rendered.page, out.rendered.subject], known)
        cfg = CONFIG.get(out.esp)
        for who in people:
            shown = visible_text(RENDERERS[out.esp](out.html, who, cfg))
            meant = visible_text(interpret(out.rendered.page, who, out.esp, out.trigger,
                                           raw=lambda text, esp=out.esp, w=who, c=cfg: RENDERERS[esp](text, w, c)))
            assert shown == meant, (out.esp, out.name, who)


def test_boundaries_and_loops_are_covered():
    src = email('<mj-section><mj-column><mj-text>{% if event.cart_value > 300 %}BIG{% elif profile.tier in '
                '["gold", "vip"] %}MEMBER{% else %}OTHER{% endif %} {{ profile.first_name | default("there") }}'
                '</mj-text></mj-column></mj-section>'
                '<mw-for each="item in event.items" limit="2"><mj-section><mj-column><mj-text>{{ item.name }}'
                "</mj-text></mj-column></mj-section></mw-for>")
    (out,) = compile_sources({"t": src}, esps=("klaviyo",)).outputs
    people, unreachable = derive([out.rendered.page], {"esp": "klaviyo", "trigger": None})
    assert unreachable == []
    values = {p["event"].get("cart_value") for p in people}
    assert values & {300, 301}  # the boundary of > 300, on its true side
    assert {len(p["event"].get("items", [])) for p in people} >= {0, 1, 3}  # 0, 1, more than the limit
    names = [p["profile"].get("first_name") for p in people]
    assert any(n is None or n == "" for n in names) and any(n for n in names)  # default() both ways


def test_a_fallback_that_can_never_apply_is_found():
    src = email('<mw-if when="profile.tier in [\'gold\']"><mj-section><mj-column><mj-text>'
                "{{ profile.tier | default('member') }}</mj-text></mj-column></mj-section></mw-if>")
    (out,) = compile_sources({"t": src}, esps=("klaviyo",)).outputs
    _, unreachable = derive([out.rendered.page], {"esp": "klaviyo", "trigger": None})
    assert len(unreachable) == 1 and "default" in unreachable[0] and unreachable[0].endswith("-")
