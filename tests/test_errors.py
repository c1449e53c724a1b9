"""Bad input: one ``PATH:LINE:COL: error:`` line, exit 1, no traceback, nothing written."""

import re

import pytest
from click.testing import CliRunner

from mailwright.cli import main
from tests.conftest import email, text_email

ERROR_LINE = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.+)$", re.M)


def run(project, *args):
    r = CliRunner().invoke(main, ["compile", str(project), *args])
    return r


def errors_of(r):
    return ERROR_LINE.findall(r.stderr if hasattr(r, "stderr") else r.output)


CASES = {
    # name: (template source, toml, expected file suffix, line, col, message fragment)
    "malformed": (email("<mj-section><mj-column><mj-text>Hi</mj-column></mj-section>"), "",
                  "t.mjml", 1, 88, "<mj-text> is never closed"),
    "bad-expression": (text_email("Hi {{ profile.first_name + 1 }}"), "", "t.mjml", 1, 103, "arithmetic"),
    "unknown-filter": (text_email("Hi {{ profile.first_name | shout }}"), "", "t.mjml", 1, 103, "unknown filter 'shout'"),
    "unknown-segment": (email('<mw-if when="segment.nope"><mj-section><mj-column><mj-text>x</mj-text>'
                              '</mj-column></mj-section></mw-if>'), "", "t.mjml", 1, 78, "unknown segment 'nope'"),
    "segment-cycle": (email('<mw-if when="segment.a"><mj-section><mj-column><mj-text>x</mj-text>'
                            '</mj-column></mj-section></mw-if>'),
                      '[segments]\na = "segment.b and event.x > 1"\nb = "segment.a"\n',
                      "mailwright.toml", 6, 5, "segment cycle"),
    "missing-subject": ("<mjml><mj-head></mj-head><mj-body></mj-body></mjml>", "", "t.mjml", 1, 7,
                        "missing <mw-subject>"),
    "unknown-element": (email("<mj-section><mj-colum></mj-colum></mj-section>"), "", "t.mjml", 1, 77,
                        "did you mean <mj-column>"),
    "bare-lt": (text_email("a < b"), "", "t.mjml", 1, 99, "&lt;"),
    "unclosed-if": (text_email("{% if profile.x is defined %}yes"), "", "t.mjml", 1, 97, "never closed"),
    "statement": (text_email("{% set x = 1 %}"), "", "t.mjml", 1, 97, "not portable"),
    "esp-typo": (text_email("{% if esp == 'klavyo' %}k{% endif %}"), "", "t.mjml", 1, 103, "unknown ESP 'klavyo'"),
    "raw-esp-typo": (text_email('<mw-raw esp="hubspt">x</mw-raw>'), "", "t.mjml", 1, 97, "unknown ESP"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_clear_error(project_dir, case):
    src, toml, suffix, line, col, fragment = CASES[case]
    proj = project_dir({"t": src}, toml)
    r = run(proj)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    found = errors_of(r)
    assert len(found) == 1, r.output
    path, got_line, got_col, msg = found[0]
    assert path.endswith(suffix)
    assert (int(got_line), int(got_col)) == (line, col), r.output
    assert fragment in msg
    assert not (proj / "build").exists()


def test_error_in_component_points_into_component(project_dir):
    comp = ('<x-component required="title">\n  <mj-section><mj-column>\n'
            '    <mj-text>{{ profile.x | nope }}</mj-text>\n  </mj-column></mj-section>\n</x-component>\n')
    proj = project_dir({"t": email('<x-broken title="x"/>')}, components={"broken": comp})
    r = run(proj)
    assert r.exit_code == 1
    found = errors_of(r)
    assert len(found) == 1
    assert found[0][0].endswith("components/broken.mjml") and found[0][1:3] == ("3", "17")
    assert "note: in component 'broken' used here" in r.output and "t.mjml:1:" in r.output


def test_unknown_component_parameter(project_dir):
    proj = project_dir({"t": email('<x-button url="https://x.example" colour="red"/>')})
    r = run(proj)
    assert r.exit_code == 1
    assert "has no parameter 'colour'" in r.output


def test_missing_footer_is_compliance_error(project_dir):
    proj = project_dir({"t": text_email("Hello", footer="")})
    r = run(proj)
    assert r.exit_code == 1
    msgs = [m for *_, m in errors_of(r)]
    assert len(msgs) == 3  # one per ESP
    assert all("footer component" in m for m in msgs)


def test_unsupported_names_esp_construct_place_and_way_out(project_dir):
    proj = project_dir({"t": text_email("Cart: {{ event.cart_value }}")})
    r = run(proj)
    assert r.exit_code == 1
    msgs = {m for *_, m in errors_of(r)}
    hub = [m for m in msgs if m.startswith("HubSpot")]
    assert hub and "event.cart_value" in hub[0] and '[esp.hubspot.properties] "event.cart_value"' in hub[0]
    ac = [m for m in msgs if m.startswith("ActiveCampaign")]
    assert ac and "[esp.activecampaign.fields]" in ac[0]


def test_loop_in_activecampaign_is_an_error(project_dir):
    src = email('<mw-for each="item in event.items"><mj-section><mj-column><mj-text>{{ item.name }}'
                "</mj-text></mj-column></mj-section></mw-for>")
    proj = project_dir({"t": src})
    r = run(proj, "--esp", "activecampaign")
    assert r.exit_code == 1
    assert "ActiveCampaign cannot express loop" in r.output and "esp == 'klaviyo'" in r.output


def test_json_errors(project_dir):
    import json

    proj = project_dir({"t": text_email("{{ profile.x | shout }}")})
    r = run(proj, "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["diagnostics"][0]["line"] == 1


def test_nothing_half_written_keeps_previous_build(project_dir):
    proj = project_dir({"t": text_email("Hello")})
    assert run(proj).exit_code == 0
    before = (proj / "build" / "manifest.json").read_text()
    (proj / "templates" / "t.mjml").write_text(text_email("{{ profile.x | shout }}"))
    assert run(proj).exit_code == 1
    assert (proj / "build" / "manifest.json").read_text() == before


def test_usage_error_exit_2(project_dir):
    proj = project_dir({"t": text_email("Hello")})
    assert run(proj, "--esp", "mailchimp").exit_code == 2


def test_crlf_and_wrapped_attributes_are_normalised(project_dir):
    src = text_email('<a href="https://x.example"\n   style="color:red;\n   font-weight:bold">go</a>').replace("\n", "\r\n")
    proj = project_dir({"t": src})
    r = run(proj)
    assert r.exit_code == 0, r.output
    html = (proj / "build" / "klaviyo" / "t.html").read_text()
    assert "\r" not in html
    link = re.search(r'<a href="https://x.example"[^>]*>', html).group()
    assert "\n" not in link and "font-weight" in link


def test_mjml_attribute_typos_and_bad_values_are_warnings(project_dir):
    src = email('<mj-section><mj-column><mj-text colr="red" align="middle" padding="10px 25px">hi</mj-text>'
                "</mj-column></mj-section>")
    proj = project_dir({"t": src})
    r = run(proj)
    assert r.exit_code == 0, r.output
    warnings = re.findall(r"^[^\n]+:(\d+):(\d+): warning: (.+)$", r.output, re.M)
    msgs = [m for *_, m in warnings]
    assert any("<mj-text> has no attribute 'colr'" in m and "did you mean 'color'" in m for m in msgs), msgs
    assert any('align="middle" is not left, center, right or justify' in m for m in msgs), msgs
    assert not any("padding" in m for m in msgs)
    assert ("1", "97") in [w[:2] for w in warnings]  # at the attribute


def test_static_loop_repeats_at_build_time(project_dir):
    from tests.conftest import compile_sources

    comp = ('<x-component links="https://s.example | https://b.example"><mj-section><mj-column>'
            '<x-each var="l" in="[[ links ]]"><mj-button href="[[ l ]]">Go</mj-button></x-each>'
            "</mj-column></mj-section></x-component>")
    src = email('<x-each var="color" in="red | green"><mj-section background-color="[[ color ]]"><mj-column>'
                "<mj-text>Hi {{ profile.first_name }} in [[ color ]]</mj-text></mj-column></mj-section></x-each>")
    result = compile_sources({"t": src}, esps=("klaviyo",))
    assert not result.errors, [d.format() for d in result.errors]
    html = result.outputs[0].html
    assert html.count("Hi {{ person.first_name }} in ") == 2 and "in red" in html and "in green" in html
    assert "background:red" in html.replace(" ", "") and "background:green" in html.replace(" ", "")
    with_comp = compile_sources({"t": email("<x-links/>")}, components={"links": comp}, esps=("klaviyo",))
    assert not with_comp.errors, [d.format() for d in with_comp.errors]
    assert 'href="https://s.example"' in with_comp.outputs[0].html
    assert 'href="https://b.example"' in with_comp.outputs[0].html
    in_copy = compile_sources({"t": email('<mj-section><mj-column><mj-text><x-each var="a" in="x">[[ a ]]'
                                          "</x-each></mj-text></mj-column></mj-section>")}, esps=("klaviyo",))
    assert any("cannot stand inside copy" in d.message for d in in_copy.errors)
    proj = project_dir({"t": email('<x-each var="x" in="{{ profile.a }}"><mj-section></mj-section></x-each>')})
    r = run(proj)
    assert r.exit_code == 1 and "build-time list" in r.output


def test_component_with_mjml_children_that_hold_copy(project_dir):
    from tests.conftest import compile_sources

    comp = '<x-component><mj-wrapper padding="4px"><x-slot/></mj-wrapper></x-component>'
    src = email("<x-box><mj-section><mj-column><mj-text>Copy inside</mj-text></mj-column></mj-section></x-box>")
    result = compile_sources({"t": src}, components={"box": comp}, esps=("klaviyo",))
    assert not result.errors, [d.format() for d in result.errors]
    assert "Copy inside" in result.outputs[0].html
