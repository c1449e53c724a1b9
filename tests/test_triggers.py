"""`trigger` and `esp` are folded at compile time; one output per trigger (language.md §3, §7)."""

import json

from click.testing import CliRunner

from mailwright.cli import main
from tests.conftest import text_email

TEMPLATE = text_email(
    "{% if trigger == 'cart_abandoned' %}CART{% elif trigger is defined %}OTHER{% else %}NOFLOW{% endif %}"
    " {% if esp == 'klaviyo' %}K{% elif esp in ['hubspot'] %}H{% else %}A{% endif %} [{{ trigger }}|{{ esp | upper }}]"
)


EVENTS = """
[esp.klaviyo.events]
cart_abandoned = "Cart Abandoned"
[esp.hubspot.events]
cart_abandoned = "pe1_cart_abandoned"
checkout_started = "pe1_checkout_started"
"""


def flow(trigger, template):
    return f"name: f-{trigger}\ntrigger:\n  event: {trigger}\nsteps:\n  - wait: 30m\n  - send: {template}\n"


def test_one_output_per_trigger_with_branches_folded(project_dir):
    proj = project_dir({"t": TEMPLATE, "solo": TEMPLATE}, EVENTS)
    (proj / "flows").mkdir()
    (proj / "flows" / "a.yaml").write_text(flow("cart_abandoned", "t"))
    (proj / "flows" / "b.yaml").write_text(flow("checkout_started", "t"))
    r = CliRunner().invoke(main, ["compile", str(proj)])
    assert r.exit_code == 0, r.output
    manifest = json.loads((proj / "build" / "manifest.json").read_text())
    got = {(o["esp"], o["name"], o["trigger"]): o for o in manifest["outputs"] if o["kind"] == "template"}
    assert set(got) == {(e, n, tr) for e in ("klaviyo", "hubspot", "activecampaign")
                        for n, tr in (("t", "cart_abandoned"), ("t", "checkout_started"), ("solo", None))}
    for (esp, name, trigger), o in got.items():
        html = (proj / "build" / o["html"]).read_text()
        expect = {"cart_abandoned": "CART", "checkout_started": "OTHER", None: "NOFLOW"}[trigger]
        for word in ("CART", "OTHER", "NOFLOW"):
            assert (f">{word} " in html) == (word == expect), (esp, name, trigger)
        letter = {"klaviyo": "K", "hubspot": "H", "activecampaign": "A"}[esp]
        assert f" {letter} [" in html
        assert f"[{trigger or ''}|{esp.upper()}]" in html
        if trigger:
            assert o["html"] == f"{esp}/t--{trigger}.html"
        # folded: no condition on trigger or esp reaches the ESP
        assert "esp ==" not in html and "trigger ==" not in html and "$ESP" not in html
