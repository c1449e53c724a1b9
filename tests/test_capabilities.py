"""Each dialect's capability table says what the code does: a test walks it."""

import pytest

from mailwright.dialect import APPROX, EXACT, UNSUPPORTED, load_connectors
from tests.conftest import compile_sources, email, text_email

MAPPING = '''
[esp.hubspot.properties]
"event.cart_value" = "cart_value"
[esp.activecampaign.fields]
"event.cart_value" = "CART_VALUE"
'''

FILTER_ARGS = {"truncate": "(5)", "round": "(1)", "default": "('x')", "date": "('%Y')"}


def snippet(construct: str, esp: str) -> str:
    inline = {
        "output": "{{ profile.first_name }}",
        "profile property": "{{ profile.tier }}",
        "event property": "{{ event.cart_value }}",
        "condition": "{% if profile.tier == 'a' %}x{% endif %}",
        "comparison": "{% if event.cart_value > 3 %}x{% endif %}",
        "in list": "{% if profile.tier in ['a', 'b'] %}x{% endif %}",
        "in string": "{% if 'a' in profile.tier %}x{% endif %}",
        "is defined": "{% if profile.tier is defined %}x{% endif %}",
        "boolean literal": "{% if profile.vip == true %}x{% endif %}",
        "loop": "{% for i in event.items %}x{% endfor %}",
        "passthrough": f'<mw-raw esp="{esp}">hi</mw-raw>',
    }
    if construct.startswith("filter "):
        name = construct[7:]
        return text_email("{{ profile.tier | " + name + FILTER_ARGS.get(name, "") + " }}")
    if construct == "loop limit":
        return email('<mw-for each="i in event.items" limit="2"><mj-section><mj-column><mj-text>x</mj-text>'
                     "</mj-column></mj-section></mw-for>")
    return text_email(inline[construct])


CASES = [(name, construct, support) for name, conn in load_connectors().items()
         for construct, support in conn.dialect.CAPABILITIES.items()]


@pytest.mark.parametrize("esp,construct,support", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_capability_table_matches_the_code(esp, construct, support):
    label = load_connectors()[esp].label
    result = compile_sources({"t": snippet(construct, esp)}, MAPPING, esps=(esp,))
    errors = [d.message for d in result.errors]
    warnings = [d.message for d in result.diagnostics if d.severity == "warning"]
    if support.level == EXACT:
        assert not errors and not warnings, errors + warnings
    elif support.level == APPROX:
        assert not errors and any(construct in w for w in warnings), warnings
    else:
        assert support.level == UNSUPPORTED
        # a loop limit where loops are unsupported is refused as the loop itself
        what = "loop" if construct == "loop limit" else construct
        assert len(errors) == 1 and errors[0].startswith(f"{label} cannot express {what}"), errors
        assert ";" in errors[0]  # ... and says the way out


def test_every_dialect_covers_the_same_constructs():
    tables = {n: set(c.dialect.CAPABILITIES) for n, c in load_connectors().items()}
    first = next(iter(tables.values()))
    assert all(t == first for t in tables.values()), tables
