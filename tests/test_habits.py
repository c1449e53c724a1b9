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
