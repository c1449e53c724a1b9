"""Do no harm to MJML: an email with no send-time tags comes out as the engine renders it."""

import css_inline
import pytest
from mjml import mjml2html

from tests.conftest import compile_sources

FOOTER_RAW = ('<mj-section><mj-column><mj-text>'
              '<mw-raw esp="klaviyo">{% unsubscribe %}</mw-raw>'
              '<mw-raw esp="hubspot"><a href="{{ unsubscribe_link }}">u</a> {{ site_settings.company_street_address_1 }}</mw-raw>'
              '<mw-raw esp="activecampaign"><a href="%UNSUBSCRIBELINK%">u</a> %SENDER-INFO%</mw-raw>'
              '</mj-text></mj-column></mj-section>')

PLAIN = """<mjml lang="en">
  <mj-head>
    <mj-title>Spring sale</mj-title>
    <mj-preview>Everything 20% off</mj-preview>
    <mj-attributes><mj-all font-family="Georgia, serif"/><mj-text color="#333333"/></mj-attributes>
    <mj-style inline="inline">.lead { font-size: 20px; color: #aa0000; }</mj-style>
    <mj-style>@media (max-width: 480px) { .hide-mobile { display: none !important; } }</mj-style>
  </mj-head>
  <mj-body background-color="#f4f4f4">
    <mj-section><mj-column>
      <mj-image src="https://images.example.com/hero.png" alt="Hero" width="600px"/>
      <mj-text css-class="lead"><p class="lead">Spring is here &amp; so is 20% off.</p></mj-text>
      <mj-button href="https://shop.example.com/sale">Shop now</mj-button>
    </mj-column><mj-column><mj-table><tr><td>Mugs</td><td>$12</td></tr></mj-table></mj-column></mj-section>
    <mj-raw><!-- a comment kept in place --></mj-raw>
    FOOTER
  </mj-body>
</mjml>"""


def engine_alone(src: str) -> str:
    inline_css = ".lead { font-size: 20px; color: #aa0000; }"
    mjml = src.replace('<mj-style inline="inline">.lead { font-size: 20px; color: #aa0000; }</mj-style>', "")
    html = mjml2html(mjml)
    return css_inline.CSSInliner(inline_style_tags=True, keep_style_tags=True, keep_link_tags=True,
                                 load_remote_stylesheets=False, extra_css=inline_css).inline(html)


@pytest.mark.parametrize("esp", ["klaviyo", "hubspot", "activecampaign"])
def test_plain_mjml_is_rendered_as_the_engine_does(esp):
    src = PLAIN.replace("<mj-head>", "<mj-head><mw-subject>Sale</mw-subject>", 1).replace("FOOTER", FOOTER_RAW)
    result = compile_sources({"plain": src}, toml="", esps=(esp,), theme=None)
    assert not result.errors, [d.format() for d in result.errors]
    (out,) = result.outputs
    raw = {"klaviyo": "{% unsubscribe %}",
           "hubspot": '<a href="{{ unsubscribe_link }}">u</a> {{ site_settings.company_street_address_1 }}',
           "activecampaign": '<a href="%UNSUBSCRIBELINK%">u</a> %SENDER-INFO%'}[esp]
    expected = engine_alone(PLAIN.replace("FOOTER", FOOTER_RAW.replace(
        FOOTER_RAW[FOOTER_RAW.index("<mw-raw"):FOOTER_RAW.rindex("</mw-raw>") + 9], raw)))
    got = out.html
    if esp == "hubspot":
        head, _, got = got.partition("-->\n")
        assert "templateType: email" in head
    assert got == expected


def test_mj_include_is_resolved_with_positions_in_the_included_file(project_dir):
    from click.testing import CliRunner

    from mailwright.cli import main
    from tests.conftest import email

    proj = project_dir({"t": email('<mj-include path="../partials/promo.mjml"/>'
                                   '<mj-include path="../partials/extra.css" type="css"/>',
                                   head='<mj-include path="../partials/head.mjml"/>')})
    (proj / "partials").mkdir()
    (proj / "partials" / "promo.mjml").write_text(
        "<mj-section><mj-column>\n  <mj-text css-class=\"promo\">Promo for {{ profile.first_name | default('you') }}</mj-text>\n"
        "</mj-column></mj-section>\n<mj-section><mj-column><mj-text>Second</mj-text></mj-column></mj-section>\n")
    (proj / "partials" / "head.mjml").write_text(
        "<mjml><mj-head><mj-title>Included title</mj-title></mj-head><mj-body></mj-body></mjml>")
    (proj / "partials" / "extra.css").write_text(".promo { letter-spacing: 2px; }")
    r = CliRunner().invoke(main, ["compile", str(proj), "--esp", "klaviyo"])
    assert r.exit_code == 0, r.output
    html = (proj / "build" / "klaviyo" / "t.html").read_text()
    assert "Promo for {% if person.first_name" in html and "Second" in html
    assert "<title>Included title</title>" in html and "letter-spacing: 2px" in html
    (proj / "partials" / "promo.mjml").write_text("<mj-section><mj-column>\n  <mj-text>{{ profile.x | nope }}</mj-text>\n"
                                                "</mj-column></mj-section>")
    r = CliRunner().invoke(main, ["compile", str(proj), "--esp", "klaviyo"])
    assert r.exit_code == 1
    assert "partials/promo.mjml:2:15: error: unknown filter 'nope'" in r.output


def test_mj_html_attributes_are_applied():
    from tests.conftest import compile_sources, email

    head = ('<mj-html-attributes><mj-selector path=".promo div">'
            '<mj-html-attribute name="data-id">42</mj-html-attribute>'
            '<mj-html-attribute name="title">Hi {{ profile.first_name }}</mj-html-attribute>'
            "</mj-selector></mj-html-attributes>")
    src = email('<mj-section><mj-column><mj-text css-class="promo">Promo</mj-text></mj-column></mj-section>', head=head)
    result = compile_sources({"t": src}, esps=("klaviyo", "activecampaign"))
    assert not result.errors, [d.format() for d in result.errors]
    for out in result.outputs:
        import re

        div = re.search(r'<td[^>]*class="promo"[^>]*>\s*<div[^>]*>', out.html).group()
        assert 'data-id="42"' in div
        want = "{{ person.first_name }}" if out.esp == "klaviyo" else "%FIRSTNAME%"
        assert f'title="Hi {want}"' in div
