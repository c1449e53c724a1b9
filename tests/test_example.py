"""The example project, rendered by each ESP's reference engine for sample recipients.

For every template, every ESP and every recipient: what the engine shows equals
the language's meaning of the same intermediate form (mailwright.semantics), and
the cart-abandonment email shows the right copy for each intent tier.
"""

import tomllib

import pytest

from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.project import load_project
from mailwright.semantics import interpret
from tests.conftest import ROOT
from tests.engines import RENDERERS, visible_text

SHOP = ROOT / "examples" / "shop"
CONFIG = tomllib.loads((SHOP / "mailwright.toml").read_text())["esp"]

ITEMS = [{"name": "Linen apron", "price": 34.5, "quantity": 1, "image": "https://i.example/a.png",
          "url": "https://shop.example.com/apron"},
         {"name": "Oak board", "price": 58, "quantity": 2, "image": "https://i.example/b.png",
          "url": "https://shop.example.com/board"}]
RECIPIENTS = {
    "high-intent": {"profile": {"first_name": "Ada", "tier": "gold"},
                    "event": {"session_time": 420, "cart_value": 180.5, "cart_url": "https://shop.example.com/c/1",
                              "items": ITEMS, "view_count": 4, "product_name": "Oak board",
                              "product_url": "https://shop.example.com/board", "product_image": "https://i.example/b.png",
                              "days_since_last_order": 200, "order_id": "A-1001", "content_title": "Care guide",
                              "content_url": "https://shop.example.com/guide", "recommendations": ITEMS,
                              "product_category": "kitchen"}},
    "medium-intent": {"profile": {"first_name": "Grace"},
                      "event": {"session_time": 200, "cart_value": 60, "cart_url": "https://shop.example.com/c/2",
                                "items": ITEMS[:1], "view_count": 2, "days_since_last_order": 100}},
    "low-intent": {"profile": {"first_name": "Linus", "tier": "silver"},
                   "event": {"session_time": 30, "cart_value": 20, "cart_url": "https://shop.example.com/c/3",
                             "items": [], "days_since_last_order": 10}},
    "no-name-empty-cart": {"profile": {"first_name": ""}, "event": {"cart_url": "https://shop.example.com/c/4"}},
    "nothing-known": {"profile": {}, "event": {}},
}


@pytest.fixture(scope="module")
def compiled():
    proj = load_project(SHOP, list(load_connectors()))
    result = compile_project(proj)
    assert not result.errors, [d.format() for d in result.errors]
    return {(o.esp, o.name, o.trigger): o for o in result.outputs}


def one(compiled, esp, name):
    """The output of ``name`` for ``esp`` (cart emails are compiled for the cart flow's trigger)."""
    (out,) = [o for (e, n, _), o in compiled.items() if e == esp and n == name]
    return out


def _engine(esp, src, who):
    return RENDERERS[esp](src, RECIPIENTS[who], CONFIG.get(esp))


@pytest.mark.parametrize("who", list(RECIPIENTS))
def test_every_template_means_the_same_in_every_esp(compiled, who):
    data = RECIPIENTS[who]
    for (esp, name, trigger), out in compiled.items():
        shown = visible_text(_engine(esp, out.html, who))
        meant = visible_text(interpret(out.rendered.page, data, esp, trigger,
                                       raw=lambda text, esp=esp: _engine(esp, text, who)))
        assert shown == meant, f"{esp} {name} for {who}"
        assert links(_engine(esp, out.html, who)) == links(
            interpret(out.rendered.page, data, esp, trigger, raw=lambda text, esp=esp: _engine(esp, text, who))
        ), f"{esp} {name} links for {who}"
        subject = " ".join(_engine(esp, out.subject, who).split())
        meant_subject = " ".join(interpret(out.rendered.subject, data, esp, trigger, "text").split())
        assert _unescape(subject) == meant_subject, f"{esp} {name} subject for {who}"
        assert out.rendered.slots.prefix not in out.html + out.text + out.subject


def links(html_doc):
    """Every link target and image source, as the recipient's client reads them."""
    import html
    import re

    return [html.unescape(v) for v in re.findall(r'(?:href|src)="([^"]*)"', html_doc)]


def _unescape(s):
    import html
    return html.unescape(s)


TIERS = {
    "high-intent": ("15% off your cart", "CART15"),
    "medium-intent": ("shipping is on us",),
    "low-intent": ("we'll ship them free",),
}


@pytest.mark.parametrize("esp", ["klaviyo", "hubspot", "activecampaign"])
@pytest.mark.parametrize("who", list(TIERS))
def test_cart_reminder_offer_follows_intent_tier(compiled, esp, who):
    text = visible_text(_engine(esp, one(compiled, esp, "cart-reminder").html, who))
    for phrase in TIERS[who]:
        assert phrase in text
    others = {p for w, ps in TIERS.items() if w != who for p in ps}
    for phrase in others:
        assert phrase not in text, f"{phrase!r} shown to {who}"


@pytest.mark.parametrize("esp", ["klaviyo", "hubspot", "activecampaign"])
def test_cart_reminder_missing_name_falls_back(compiled, esp):
    out = one(compiled, esp, "cart-reminder")
    assert "Ada, your cart misses you" in visible_text(_engine(esp, out.html, "high-intent"))
    text = visible_text(_engine(esp, out.html, "no-name-empty-cart"))
    assert "Your cart misses you" in text
    assert ", your cart misses you" not in text


def test_cart_items_listed_in_klaviyo_only(compiled):
    k = visible_text(_engine("klaviyo", one(compiled, "klaviyo", "cart-reminder").html, "high-intent"))
    assert "Linen apron" in k and "Oak board" in k
    for esp in ("hubspot", "activecampaign"):
        t = visible_text(_engine(esp, one(compiled, esp, "cart-reminder").html, "high-intent"))
        assert "Linen apron" not in t


def test_outputs_carry_compliance_tokens(compiled):
    for (esp, _, _), out in compiled.items():
        html = out.html
        if esp == "klaviyo":
            assert "{% unsubscribe" in html
        elif esp == "hubspot":
            assert html.startswith("<!--\n  templateType: email")
            assert "isEnabledForEmailV3Rendering: true" in html
            assert "{{ unsubscribe_link }}" in html
        else:
            assert "%UNSUBSCRIBELINK%" in html and "%SENDER-INFO%" in html


def test_literal_copy_reaches_recipient(compiled):
    for esp in ("klaviyo", "hubspot", "activecampaign"):
        out = one(compiled, esp, "content-followup")
        assert "type {{ name }} in the message" in visible_text(_engine(esp, out.html, "high-intent"))


def test_text_part_is_real(compiled):
    out = one(compiled, "klaviyo", "cart-reminder")
    text = RENDERERS["klaviyo"](out.text, RECIPIENTS["high-intent"], CONFIG["klaviyo"])
    assert "Ada, your cart misses you" in text
    assert "(https://shop.example.com/c/1)" in text  # links as text with their URL
    # no markup from the HTML part (the footer's {% unsubscribe %} is Klaviyo's own tag)
    assert "<td" not in text and "<div" not in text and "<p" not in text
