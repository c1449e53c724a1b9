"""Habits designers bring from their ESP get a did-you-mean, not parser jargon (issue 12, item 4)."""

import pytest

from tests.conftest import compile_sources, text_email

NAMES = "(names: profile.*, event.*, segment.*, trigger, esp, loop variables)"


@pytest.mark.parametrize("tag, message", [
    ("{{ person.first_name }}", "unknown name 'person' in 'person.first_name': did you mean profile.first_name? "
                                f"(Klaviyo's person is profile here) {NAMES}"),
    ("{{ contact.firstname }}", "unknown name 'contact' in 'contact.firstname': did you mean profile.firstname? "
                                f"(HubSpot's contact is profile here) {NAMES}"),
    ("{{ first_name }}", f"unknown name 'first_name' in 'first_name': did you mean profile.first_name? {NAMES}"),
    ("{{ evnt.cart_url }}", f"unknown name 'evnt' in 'evnt.cart_url': did you mean event.cart_url? {NAMES}"),
    ("{% if segmnt.vip %}x{% endif %}", f"unknown name 'segmnt' in 'segmnt.vip': did you mean segment.vip? {NAMES}"),
    ("{{ zzz.q }}", f"unknown name 'zzz' in 'zzz.q' {NAMES}"),
    ('{{ profile.first_name|default:"friend" }}',
     "'default:\"friend\"' is Django's filter syntax; write default(\"friend\") here (filter arguments go in "
     "parentheses)"),
    ("{{ profile.bio | truncate:20 }}",
     "'truncate:20' is Django's filter syntax; write truncate(20) here (filter arguments go in parentheses)"),
])
def test_esp_habits_get_the_portable_spelling(tag, message):
    src = text_email(f"Hi {tag}")
    (err,) = compile_sources({"t": src}).errors
    assert err.message == message
    assert (err.pos.line, err.pos.col) == (1, src.index(tag) + 1 + (3 if tag.startswith("{{") else 6))


def test_an_event_name_typo_in_a_flow_is_a_typo_not_a_missing_capability(tmp_path):
    from click.testing import CliRunner

    from mailwright.cli import main

    runner = CliRunner()
    demo = tmp_path / "demo"
    assert runner.invoke(main, ["init", str(demo)]).exit_code == 0
    flow = demo / "flows" / "checkout-reminder.yaml"
    flow.write_text(flow.read_text().replace("exit_on: [placed_order]", "exit_on: [placed_ordr]"))
    res = runner.invoke(main, ["compile", str(demo)])
    assert res.exit_code == 1
    errors = [ln for ln in res.output.splitlines() if ": error: " in ln]
    assert errors == [f"{flow}:6:11: error: unknown event 'placed_ordr': did you mean placed_order?"]


def _suggested_toml(message: str) -> dict:
    """The mailwright.toml line a way-out suggests, read as TOML."""
    import re
    import tomllib

    table, line = re.search(r"(\[esp\.[a-z]+\.[a-z]+\]) (.+)$", message).groups()
    return tomllib.loads(f"{table}\n{line}")


@pytest.mark.parametrize("esp, tag, table, key", [
    ("hubspot", '{{ profile.prefs["a.b"] }}', "properties", 'profile.prefs["a.b"]'),
    ("hubspot", '{{ event["cart url"] }}', "properties", 'event["cart url"]'),
    ("activecampaign", '{{ profile["favourite colour"] }}', "fields", 'profile["favourite colour"]'),
    ("activecampaign", '{{ event["cart url"] }}', "fields", 'event["cart url"]'),
])
def test_a_suggested_mapping_for_a_name_that_needs_quoting_is_valid_toml(esp, tag, table, key):
    (err,) = compile_sources({"t": text_email(f"Hi {tag}")}, esps=(esp,)).errors
    assert list(_suggested_toml(err.message)["esp"][esp][table]) == [key]


def test_a_suggested_event_mapping_for_an_event_name_with_spaces_is_valid_toml():
    from mailwright.dialect import FlowContext
    from mailwright.errors import Pos, UnsupportedError

    ctx = FlowContext("t", "klaviyo", {}, {}, lambda *a, **k: None, "Klaviyo")
    with pytest.raises(UnsupportedError) as e:
        ctx.event("Placed Order.v2", Pos("f.yaml", 2, 3), {})
    assert _suggested_toml(str(e.value)) == {"esp": {"klaviyo": {"events": {"Placed Order.v2": "…"}}}}
