"""MJML as others write it: what node `mjml` accepts compiles, and ESPs of one run never affect each other."""

import re
from pathlib import Path

import css_inline
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mjml import mjml2html

from tests.conftest import FOOTER, compile_sources, email, text_email

ESPS = ("klaviyo", "hubspot", "activecampaign")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shop"


def by_esp(result) -> dict:
    assert not result.errors, [d.format() for d in result.errors]
    return {(o.esp, o.name, o.trigger): (o.html, o.text, o.subject, o.preheader) for o in result.outputs}


def engine(mjml: str) -> str:
    return css_inline.CSSInliner(inline_style_tags=True, keep_style_tags=True, keep_link_tags=True,
                                 load_remote_stylesheets=False).inline(mjml2html(mjml))


# ------------------------------------------------------------------ the reader

PRETTIER = """<mjml>
  <mj-head>
    <mw-subject>Hello</mw-subject>
    <mj-style>
      .x { color: red; }
    </mj-style
    >
  </mj-head>
  <mj-body>
    <mj-section
      ><mj-column
        ><mj-text
          >Hello there</mj-text
        >
        <mj-button href="https://example.com/a"
          >Go</mj-button
        >
      </mj-column
    ></mj-section>
    FOOTER
  </mj-body
  >
</mjml
>
"""


def test_prettier_formatted_closing_tags_compile_like_the_compact_form():
    pretty = PRETTIER.replace("FOOTER", FOOTER)
    compact = re.sub(r"\s+>", ">", pretty)
    a, b = by_esp(compile_sources({"t": pretty})), by_esp(compile_sources({"t": compact}))
    assert a.keys() == b.keys() and len(a) == 3
    for k in a:  # the same email; only the mj-style text differs in its whitespace
        assert "Hello there" in a[k][0] and "https://example.com/a" in a[k][0]
        assert a[k][1] == b[k][1]


def test_a_closing_tag_with_junk_before_its_bracket_is_located():
    result = compile_sources({"t": text_email("x").replace("</mj-column>", "</mj-column x>")})
    (err,) = result.errors
    assert err.message.startswith("malformed closing tag </mj-column")


def test_duplicate_attribute_last_wins_as_in_the_engine_with_a_warning():
    src = email('<mj-section><mj-column><mj-text color="#ff0000" color="#00ff00">x</mj-text>'
                '</mj-column></mj-section>')
    result = compile_sources({"t": src}, esps=("klaviyo",))
    (out,) = result.outputs
    assert "color:#00ff00" in out.html and "color:#ff0000" not in out.html
    (w,) = [d for d in result.diagnostics if d.rule == "duplicate-attribute"]
    assert (w.severity, w.pos.line, w.pos.col) == ("warning", 1, src.index('color="#00ff00"') + 1)


def test_crlf_and_newlines_inside_attribute_values_render_as_xml_normalises_them():
    src = email('<mj-section><mj-column><mj-image src="https://example.com/i.png"\r\n   alt="two\r\nlines"/>'
                '<mj-text font-family="Georgia,\n serif"><a href="https://example.com/x"\n  title="t">link</a>'
                '</mj-text></mj-column></mj-section>').replace("><", ">\r\n<")
    lf = src.replace("\r\n", "\n")
    a, b = by_esp(compile_sources({"t": src})), by_esp(compile_sources({"t": lf}))
    assert a == b
    html = a[("klaviyo", "t", None)][0]
    assert 'alt="two lines"' in html and "Georgia,  serif" in html  # each line end is one space
    assert '<a href="https://example.com/x" title="t"' in html


def test_double_brackets_in_a_template_are_copy_in_every_esp():
    src = text_email("Hi [[ FirstName ]], [[ FirstName ]] again, [[ not a name ]] and [[ open")
    result = compile_sources({"t": src})
    assert not result.errors
    for o in result.outputs:
        assert "Hi [[ FirstName ]], [[ FirstName ]] again, [[ not a name ]] and [[ open" in o.text, o.esp
    warned = [d for d in result.diagnostics if d.rule == "build-time-parameter"]
    assert len(warned) == 3  # FirstName once, the non-name, the unclosed '[['
    assert all(d.severity == "warning" for d in warned)


def test_double_brackets_in_a_component_are_still_parameters():
    comp = '<x-component greeting="Hi"><mj-text>[[ greeting ]] [[ nope ]]</mj-text></x-component>'
    src = email("<mj-section><mj-column><x-c/></mj-column></mj-section>")
    result = compile_sources({"t": src}, components={"c": comp})
    (err,) = result.errors
    assert err.message == "unknown parameter '[[ nope ]]'"


def test_nesting_deeper_than_the_limit_is_a_located_error():
    deep = "<mj-wrapper>" * 5000 + "</mj-wrapper>" * 5000
    result = compile_sources({"t": email(deep)})
    (err,) = result.errors
    assert "nest deeper than" in err.message and err.pos.line == 1


def test_reading_is_linear_in_the_number_of_ending_tags():
    from mailwright.source import SourceFile, parse_document

    one = '<mj-section><mj-column><mj-text><a href="x"\n class="y">z</a></mj-text></mj-column></mj-section>'
    doc = "<mjml><mj-body>" + one * 3000 + "</mj-body></mjml>"
    root = parse_document(SourceFile("t.mjml", doc))
    assert len(root.children[0].children) == 3000
    # the newline inside the <a> tag became a space, and positions still count it as a line end
    text = root.children[0].children[2999].children[0].children[0]
    assert text.raw_content.startswith('<a href="x"  class="y">') and text.pos.line == 3000


# ------------------------------------------------------------------ includes stay in the project

def include_email(path: str) -> str:
    return email(f'<mj-section><mj-column><mj-include path="{path}" type="html"/></mj-column></mj-section>')


@pytest.mark.parametrize("path", ["../../../../../../../../etc/passwd", "/etc/passwd"])
def test_includes_outside_the_project_are_refused(path):
    result = compile_sources({"t": include_email(path)})
    (err,) = result.errors
    assert "outside the project" in err.message and "include_paths" in err.message
    assert not result.outputs


def test_a_symlink_out_of_the_project_is_refused_and_include_paths_allow_a_folder(tmp_path):
    from mailwright.compile import compile_project
    from mailwright.dialect import load_connectors
    from mailwright.project import load_project
    from tests.conftest import make_project

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "snippet.html").write_text("<p>shared snippet</p>")
    root = make_project(tmp_path / "p", {"t": include_email("snippet.html")})
    (root / "templates" / "snippet.html").symlink_to(shared / "snippet.html")
    result = compile_project(load_project(root, list(load_connectors())))
    assert [e.message.split(",")[0] for e in result.errors] == ["<mj-include> reads snippet.html"]
    with open(root / "mailwright.toml", "a") as f:
        f.write('[compile]\ninclude_paths = ["../shared"]\n')
    result = compile_project(load_project(root, list(load_connectors())))
    assert not result.errors and all("shared snippet" in o.html for o in result.outputs)


# ------------------------------------------------------------------ one ESP never affects another

def test_mjml_attributes_keep_their_percent_in_every_esp():
    src = email('<mj-section><mj-column width="48%"><mj-text>a</mj-text></mj-column>'
                '<mj-column width="52%"><mj-image src="https://example.com/i.png" alt="100%COTTON"/></mj-column>'
                '</mj-section>')
    result = compile_sources({"t": src})
    for o in result.outputs:
        assert "width:48%" in o.html and "width:52%" in o.html, o.esp
    alone = email('<mj-section><mj-column width="48%"><mj-text>a</mj-text></mj-column>'
                  '<mj-column width="52%"><mj-image src="https://example.com/i.png" alt="x"/></mj-column>'
                  '</mj-section>', footer="")
    assert "width:48%" in engine(alone.replace("<mw-subject>Hello</mw-subject>", ""))


def example_outputs(esps) -> dict:
    from mailwright.compile import compile_project
    from mailwright.dialect import load_connectors
    from mailwright.project import load_project

    return by_esp(compile_project(load_project(EXAMPLE, list(load_connectors())), list(esps)))


def test_the_example_compiled_for_three_esps_gives_each_what_it_gets_alone():
    together = example_outputs(ESPS)
    for esp in ESPS:
        alone = example_outputs((esp,))
        assert {k: v for k, v in together.items() if k[0] == esp} == alone


COPY = st.text(alphabet="{}%#[]'\"\\ aZ9_-/&<>;.", min_size=1, max_size=24).filter(
    lambda s: "<" not in s and "[[" not in s and "{{" not in s and "{%" not in s and "{#" not in s)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(copy=COPY, alt=COPY, esps=st.lists(st.sampled_from(ESPS), min_size=2, max_size=3, unique=True))
def test_each_esp_gets_what_it_gets_alone_whatever_the_copy(copy, alt, esps):
    from html import escape

    body = (f'<mj-section><mj-column width="33%"><mj-text>{escape(copy, quote=False)} {{{{ profile.first_name }}}}'
            f'</mj-text><mj-image src="https://example.com/i.png" alt="{escape(alt)}"/></mj-column></mj-section>')
    src = email(body, subject=escape(copy, quote=False))
    together = by_esp(compile_sources({"t": src}, esps=tuple(esps)))
    for esp in esps:
        assert {k: v for k, v in together.items() if k[0] == esp} == by_esp(compile_sources({"t": src}, esps=(esp,)))


# ------------------------------------------------------------------ the text part keeps every link

def test_every_link_of_every_example_email_is_in_its_text_part_in_every_esp():
    from html import unescape

    outs = example_outputs(ESPS)
    checked = 0
    for (esp, name, _trigger), (html, text, _, _) in outs.items():
        for href in re.findall(r'<a\b[^>]*\bhref="([^"]*)"', html):
            href = unescape(href).strip()
            if href.startswith("#"):
                continue
            assert f"({href})" in text or f"\n{href}\n" in f"\n{text}", (esp, name, href)
            checked += 1
    assert checked > 100


def test_passthrough_links_and_linked_images_keep_their_urls_in_the_text_part():
    src = email('<mj-section><mj-column><mj-image src="https://example.com/logo.png" alt="Acme logo" '
                'href="https://example.com/home"/><mj-text>Bye: <mw-raw esp="hubspot"><a href="{{ unsubscribe_link }}">'
                'Unsubscribe</a></mw-raw><mw-raw esp="activecampaign"><a href="%UNSUBSCRIBELINK%">Unsubscribe</a>'
                '</mw-raw></mj-text></mj-column></mj-section>')
    result = compile_sources({"t": src})
    texts = {o.esp: o.text for o in result.outputs}
    for esp in ESPS:
        assert "Acme logo (https://example.com/home)" in texts[esp]
    assert "Bye: Unsubscribe ({{ unsubscribe_link }})" in texts["hubspot"]
    assert "Bye: Unsubscribe (%UNSUBSCRIBELINK%)" in texts["activecampaign"]


# ------------------------------------------------------------------ every error of a run in one pass

def test_every_unknown_name_and_every_unmapped_property_is_reported_in_one_run():
    a = email('<mj-section><mj-column><mj-text>{{ persn.name }} {{ evnt.x }} {% if foo > 1 %}y{% endif %}'
              '{% for it in cart.items %}{{ it.name }}{% endfor %}</mj-text></mj-column></mj-section>')
    b = text_email("{{ event.first }} {{ event.second }}", subject="{{ event.third }}")
    result = compile_sources({"a": a, "b": b})
    got = sorted((d.pos.path.rsplit("/", 1)[-1], re.split(r" \(|: |;", d.message)[0]) for d in result.errors)
    assert got == sorted([
        ("a.mjml", "unknown name 'persn' in 'persn.name'"),
        ("a.mjml", "unknown name 'evnt' in 'evnt.x'"),
        ("a.mjml", "unknown name 'foo' in 'foo > 1'"),
        ("a.mjml", "unknown name 'cart' in 'it in cart.items'"),
        *[("b.mjml", f"{esp} cannot express the event property event.{n}")
          for esp in ("HubSpot", "ActiveCampaign") for n in ("first", "second", "third")],
    ]), got


def test_mj_raw_self_closed_elements_are_empty_elements_as_the_engine_reads_them():
    src = email('<mj-raw><div><canvas id="c" /> <img src="https://example.com/i.png" /><p>after</p></div></mj-raw>')
    for o in compile_sources({"t": src}).outputs:
        assert '<canvas id="c"></canvas> <img src="https://example.com/i.png"' in o.html, o.esp


def test_percent_encoded_urls_stay_links_in_the_activecampaign_text_part():
    href = "https://example.com/a%20b?x=%C3%A9&amp;t=%FIRSTNAME%"
    src = email(f'<mj-section><mj-column><mj-text><a href="{href}">Shop 50%OFF</a></mj-text>'
                f'<mj-button href="{href}">Go</mj-button></mj-column></mj-section>')
    texts = {o.esp: o.text for o in compile_sources({"t": src}).outputs}
    url = "https://example.com/a%20b?x=%C3%A9&t=%25FIRSTNAME%"  # the same URL; no tag for AC to fill
    assert f"Shop 50%\u2060OFF ({url}" in texts["activecampaign"]
    assert f"Go ({url}" in texts["activecampaign"]
    for esp in ("klaviyo", "hubspot"):
        assert "Shop 50%OFF (https://example.com/a%20b?x=%C3%A9&t=%FIRSTNAME%)" in texts[esp]
