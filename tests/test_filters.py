"""``date("FORMAT")`` and ``money`` (issue 12, item 4): one portable meaning, each ESP's exact equivalent
or its refusal with the way out, rendered by the reference engines (Django for Klaviyo, Jinja2 for HubL)."""

import pytest

from mailwright.dialect import Context, load_connectors
from mailwright.errors import MailwrightError, Pos, UnsupportedError
from mailwright.expr import Scope, parse_output, render_output
from tests.conftest import compile_sources, text_email
from tests.engines import RENDERERS, visible_text

POS = Pos("t.mjml", 3, 7)
CODES = "%Y %y %m %-m %d %-d %B %b %A %a %%"


def output(esp, expr, warnings=None, config=None):
    warn = (lambda pos, msg, rule=None: warnings.append((pos, msg, rule))) if warnings is not None else None
    d = load_connectors()[esp].dialect(Context(config or {}, None, warn or (lambda *a, **k: None), "t"))
    return d.output(parse_output(f"event.day | {expr}", POS, Scope({})), POS, "html")


def shown(esp, text, day):
    recipient = {"event": {} if day == "missing" else {"day": day}}
    if esp == "hubspot":  # HubSpot emails read event data through a mapped contact property
        recipient = {"profile": recipient["event"]}
    return visible_text(RENDERERS[esp](text, recipient, {}))


DAYS = ["2025-03-07", "2024-02-29", "2025-09-01", "2031-12-25", "missing", None, ""]


@pytest.mark.parametrize("fmt, want", [
    ("%B %-d, %Y", ["March 7, 2025", "February 29, 2024", "September 1, 2025", "December 25, 2031"]),
    ("%a %d/%m/%y", ["Fri 07/03/25", "Thu 29/02/24", "Mon 01/09/25", "Thu 25/12/31"]),
    ("%A, %-d %b (%-m) 100%%", ["Friday, 7 Mar (3) 100%", "Thursday, 29 Feb (2) 100%", "Monday, 1 Sep (9) 100%",
                                "Thursday, 25 Dec (12) 100%"]),
    ("Due: %d.%m.%Y at noon", ["Due: 07.03.2025 at noon", "Due: 29.02.2024 at noon", "Due: 01.09.2025 at noon",
                               "Due: 25.12.2031 at noon"]),
])
def test_the_meaning_of_date(fmt, want):
    o = parse_output(f'event.day | date("{fmt}")', POS, Scope({}))
    assert [render_output(o, {"event": {"day": d}}) for d in DAYS] == want + ["", "", ""]


@pytest.mark.parametrize("value", ["2025-02-30", "2025-3-7", "07/03/2025", "2025-03-07T10:00:00", 20250307, True])
def test_a_value_that_is_not_an_iso_date_prints_nothing(value):
    o = parse_output('event.day | date("%Y")', POS, Scope({}))
    assert render_output(o, {"event": {"day": value}}) == ""


@pytest.mark.parametrize("esp", ["klaviyo", "hubspot"])
@pytest.mark.parametrize("fmt", ["%B %-d, %Y", "%a %d/%m/%y", "%A, %-d %b (%-m) 100%%", "Due: %d.%m.%Y at noon",
                                 "It's %Y"])
def test_each_esp_renders_what_date_means(esp, fmt):
    expr = f'date("{fmt}")'
    o = parse_output(f"event.day | {expr}", POS, Scope({}))
    config = {"properties": {"event.day": "day"}} if esp == "hubspot" else {}
    d = load_connectors()[esp].dialect(Context(config, None, lambda *a, **k: None, "t"))
    text = d.output(o, POS, "html")
    for day in DAYS:
        assert shown(esp, text, day) == render_output(o, {"event": {} if day == "missing" else {"day": day}}), day


def test_date_then_default_and_upper_in_every_esp_that_has_them():
    for esp in ("klaviyo", "hubspot"):
        config = {"properties": {"event.day": "day"}} if esp == "hubspot" else {}
        d = load_connectors()[esp].dialect(Context(config, None, lambda *a, **k: None, "t"))
        o = parse_output('event.day | date("%b %-d") | upper | default("soon")', POS, Scope({}))
        text = d.output(o, POS, "html")
        assert [shown(esp, text, day) for day in ("2025-03-07", "missing", "")] == ["MAR 7", "soon", "soon"], esp


def test_what_each_esp_is_given():
    hubspot = load_connectors()["hubspot"].dialect(
        Context({"properties": {"event.day": "day"}}, None, lambda *a, **k: None, "t"))
    o = parse_output('event.day | date("Day %-d of %B, %Y")', POS, Scope({}))
    assert hubspot.output(o, POS, "html") == (
        '{% if (contact.day is defined and contact.day is not none and contact.day != "") %}'
        "{{ contact.day|strtodate('%Y-%m-%d')|datetimeformat('Day %e of %B, %Y', 'UTC', 'en') }}{% endif %}")
    assert output("klaviyo", 'date("Day %-d of %B, %Y")') == (
        '{% if event.day is not None and event.day != "" %}'
        "{{ event.day|format_date_string|date:'\\\\D\\\\a\\\\y j \\\\o\\\\f F, Y' }}{% endif %}")


def test_klaviyo_warns_that_its_date_is_approximated():
    warnings = []
    output("klaviyo", 'date("%Y")', warnings)
    ((pos, message, rule),) = warnings
    assert (pos, rule) == (POS, "klaviyo.filter-date")
    assert message.startswith("Klaviyo: filter date is approximated: |format_date_string|date:'…'")


def test_activecampaign_refuses_date_with_the_way_out():
    with pytest.raises(UnsupportedError) as e:
        output("activecampaign", 'date("%Y")', config={"fields": {"event.day": "DAY"}})
    assert str(e.value) == (
        "t.mjml:3:7: error: ActiveCampaign cannot express filter date; ActiveCampaign cannot format a date in an "
        "email: store the date already formatted in a custom field (from your integration, or [signals]), or "
        "branch on `esp` (<mw-if when=\"esp == 'activecampaign'\">)")


@pytest.mark.parametrize("tag, message", [
    ('{{ event.day | date("%q") }}', f"unknown date format code '%q' in date(\"%q\") (portable codes: {CODES})"),
    ('{{ event.day | date("%-H:%M") }}',
     f"unknown date format code '%-H' in date(\"%-H:%M\") (portable codes: {CODES})"),
    ('{{ event.day | date("%Y %") }}', "a lone '%' in date(\"%Y %\"): write %% for a percent sign"),
    ('{{ event.day | date("today") }}',
     "date(\"today\") has no date code: use at least one of %Y %y %m %-m %d %-d %B %b %A %a"),
    ('{{ event.day | date("{%Y}") }}',
     "date('{%Y}'): '{', '}', backslashes and line breaks cannot stand in a date format"),
    ("{{ event.day | date }}", "filter 'date' takes 1 argument(s)"),
    ('{{ event.day | date("%Y", "de") }}', "filter 'date' takes 1 argument(s)"),
    ("{{ event.day | date(2025) }}", "'date' takes a format string, as date(\"%B %-d, %Y\")"),
    ('{{ "2025-03-07" | date("%Y") }}',
     "'date' formats a name's value (as event.delivery_date), not a literal: write the date itself as copy"),
    ('{{ event.day | upper | date("%Y") }}',
     "'date' comes first, right after the name: it reads the name's ISO date (as event.delivery_date|date(\"%B "
     "%-d, %Y\"))"),
    ('{{ event.day | money("EUR", "de-DE") }}',
     "filter 'money' takes no argument: it writes two decimals with '.' and no symbol, the same in every ESP; a "
     "price in the recipient's currency and locale is not portable: send it already formatted (a profile or event "
     "property, e.g. price_display) and output that"),
])
def test_date_errors_stand_at_the_filter(tag, message):
    src = text_email(f"Due {tag}")
    (err,) = compile_sources({"t": src}).errors
    assert err.message == message
    assert (err.pos.line, err.pos.col) == (1, src.index(tag) + 4)


def test_every_date_error_of_a_template_in_one_pass():
    src = text_email('{{ event.a | date("%q") }} and {{ event.b | date("x") }}')
    errors = compile_sources({"t": src}).errors
    assert [e.message.split(" ")[0] for e in errors] == ["unknown", 'date("x")']


def test_a_parse_error_raises_before_any_esp_is_asked():
    with pytest.raises(MailwrightError):
        parse_output('event.day | date("%Q")', POS, Scope({}))


@pytest.mark.parametrize("value, want", [(1234.5, "1234.50"), ("7.255", "7.26"), (-2.005, "-2.01"), ("x", ""),
                                         (None, "")])
def test_money_keeps_its_meaning(value, want):
    o = parse_output("event.total | money", POS, Scope({}))
    assert render_output(o, {"event": {"total": value}}) == want


def test_a_mapped_activecampaign_field_renders_whatever_case_and_percent_signs_it_is_given():
    """The dialect writes a mapped '%tag%' as TAG; the reference engine must key the value the same way."""
    config = {"fields": {"event.day": "%due_day%"}}
    d = load_connectors()["activecampaign"].dialect(Context(config, None, lambda *a, **k: None, "t"))
    text = d.output(parse_output("event.day", POS, Scope({})), POS, "html")
    assert text == "%DUE_DAY%"
    assert visible_text(RENDERERS["activecampaign"](text, {"event": {"day": "Friday"}}, config)) == "Friday"
