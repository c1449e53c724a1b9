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
