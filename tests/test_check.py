"""``mailwright check``: each rule on a small template that breaks it, at the place the designer wrote it."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailwright.check import DEFAULT_CLIENTS, RULES, client_keys, command, run_check
from mailwright.errors import Pos
from tests.conftest import ROOT, make_project

# Line 1 <mjml>, 3 <mw-subject>, 4 <mj-preview>; the body starts on line 7.
SUBJECT = "Your order has shipped"
PREVIEW = "<mj-preview>Tracking details inside.</mj-preview>"


def tpl(body: str, subject: str = SUBJECT, preview: str = PREVIEW, mjml: str = ' lang="en" dir="ltr"',
        footer: str = '    <x-footer company="Acme"/>\n') -> str:
    return (f"<mjml{mjml}>\n"
            "  <mj-head>\n"
            f"    <mw-subject>{subject}</mw-subject>\n"
            f"    {preview}\n"
            "  </mj-head>\n"
            "  <mj-body>\n"
            f"{body}"
            f"{footer}"
            "  </mj-body>\n"
            "</mjml>\n")


def column(*lines: str) -> str:
    """A section with one column holding ``lines`` (the first on line 9, col 9)."""
    inner = "".join(f"        {ln}\n" for ln in lines)
    return f"    <mj-section>\n      <mj-column>\n{inner}      </mj-column>\n    </mj-section>\n"


def check(tmp_path: Path, body: str, toml: str = "", esps=("klaviyo", "hubspot", "activecampaign"), **kw):
    root = make_project(tmp_path / "p", {"t": tpl(body, **kw)}, toml, esps=esps)
    return root / "templates" / "t.mjml", run_check(root)


def where(findings, rule: str) -> list[str]:
    """PATH:LINE:COL: severity of each finding of ``rule``."""
    return [f"{d.pos.path}:{d.pos.line}:{d.pos.col}: {d.severity}" for d in findings if d.rule == rule]


def at(path: Path, needle: str, nth: int = 1) -> str:
    """PATH:LINE:COL of the ``nth`` occurrence of ``needle`` in the file."""
    text, i = path.read_text(), -1
    for _ in range(nth):
        i = text.index(needle, i + 1)
    line = text.count("\n", 0, i) + 1
    return f"{path}:{line}:{i - text.rfind(chr(10), 0, i)}"


def test_the_example_shop_passes(tmp_path):
    result = CliRunner().invoke(command, [str(ROOT / "examples/shop"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert not [f for f in doc["findings"] if f["severity"] == "error"]
    assert doc["checked"]["templates"] == 8 and doc["checked"]["variants"] > doc["checked"]["outputs"] > 8
    assert "example-data" not in doc["checked"]["rules"]  # the example disables it for itself


def test_a_clean_template_has_no_findings_mjmls_own_output_is_not_reported(tmp_path):
    body = column('<mj-text><h1>Shipped</h1><p>Your parcel is on its way.</p></mj-text>',
                  '<mj-image src="https://images.acme.test/box.png" alt="A parcel"/>',
                  '<mj-button href="https://shop.acme.test/track">Track my parcel</mj-button>',
                  '<mj-divider/>', '<mj-spacer/>',
                  '<mj-table role="presentation"><tr><td>Order</td><td>1042</td></tr></mj-table>')
    _, findings = check(tmp_path, body)
    assert findings == []


def test_client_support_points_at_the_property_in_the_copy(tmp_path):
    path, findings = check(tmp_path, column('<mj-text><div style="display:flex">Hi</div></mj-text>'))
    assert where(findings, "client-support") == [f"{at(path, 'display:flex')}: warning"]
    assert at(path, "display:flex").endswith("t.mjml:9:30")
    (d,) = [d for d in findings if d.rule == "client-support"]
    assert "display:flex is not supported by Outlook (Windows)" in d.message
    assert d.format().startswith(f"{path}:9:30: warning: display:flex") and d.format().endswith("[client-support]")


def test_client_support_in_mj_style_an_mjml_attribute_and_an_image(tmp_path):
    head = '<mj-style>\n      .card { box-shadow: 0 1px 2px #ccc; }\n    </mj-style>'
    body = column('<mj-image src="https://images.acme.test/a.webp" alt="A"/>',
                  '<mj-text css-class="card">Hi</mj-text>')
    path, findings = check(tmp_path, body, preview=PREVIEW + "\n    " + head)
    assert where(findings, "client-support") == [f"{at(path, 'box-shadow')}: warning",
                                                 f"{at(path, '.webp')}: warning"]
    assert "box-shadow" in findings[0].message and ".webp" in findings[1].message


def test_client_support_follows_the_configured_clients(tmp_path):
    body = column('<mj-text><div style="display:flex">Hi</div></mj-text>')
    _, findings = check(tmp_path, body, toml='[check]\nclients = ["apple-mail", "gmail.ios"]\n')
    assert where(findings, "client-support") == []


def test_unknown_client_is_an_error_at_the_setting(tmp_path):
    path, findings = check(tmp_path, column("<mj-text>Hi</mj-text>"), toml='[check]\nclients = ["lotus-notes"]\n')
    (d,) = findings
    assert (d.pos.path, d.pos.line, d.pos.col, d.severity) == (str(path.parents[1] / "mailwright.toml"), 6, 11,
                                                               "error")
    assert "lotus-notes" in d.message


def test_a11y_contrast_with_the_themes_mj_attributes(tmp_path):
    root = make_project(tmp_path / "p", {"t": tpl(column("<mj-text>Grey on white</mj-text>"))}, theme="dim")
    (root / "themes").mkdir()
    (root / "themes" / "dim.toml").write_text('[tokens]\ngrey = "#999999"\nborder = "#dddddd"\nmuted = "#555555"\n\n'
                                              '[attributes]\n"mj-text" = { color = "[[ theme.grey ]]" }\n')
    path = root / "templates" / "t.mjml"
    (d,) = [d for d in run_check(root) if d.rule == "a11y-contrast"]
    assert (d.pos.path, d.pos.line, d.pos.col) == (str(path), 9, 9)  # the <mj-text>
    assert d.notes[0] == (Pos(str(root / "themes" / "dim.toml"), 7, 1), "the colour is set here")
    assert "#999999 on background #ffffff" in d.message


def test_a_template_that_does_not_compile_fails_the_check(tmp_path):
    path, findings = check(tmp_path, column("<mj-txt/>"))
    assert [(d.pos.line, d.pos.col, d.severity) for d in findings] == [(9, 9, "error")]
    assert "did you mean <mj-text>?" in findings[0].message


def test_a_misspelt_setting_is_an_error(tmp_path):
    _, findings = check(tmp_path, column("<mj-text>Hi</mj-text>"), toml='[check]\nclient = ["gmail"]\n')
    (d,) = findings
    assert (d.pos.line, d.severity) == (6, "error") and "unknown setting 'client'" in d.message


def test_a11y_lang(tmp_path):
    path, findings = check(tmp_path, column("<mj-text>Hi</mj-text>"), mjml="")
    assert where(findings, "a11y-lang") == [f"{path}:1:1: warning"]
    assert 'lang="und"' in findings[0].message


def test_a11y_alt_on_mj_image_and_img(tmp_path):
    body = column('<mj-image src="https://images.acme.test/a.png"/>',
                  '<mj-text><img src="https://images.acme.test/b.png"> <img alt="" src="https://x.acme.test/c.png">'
                  '</mj-text>')
    path, findings = check(tmp_path, body)
    assert where(findings, "a11y-alt") == [f"{path}:9:9: error", f"{at(path, '<img')}: error"]
    defaults = PREVIEW + '\n    <mj-attributes><mj-image alt=""/></mj-attributes>'  # a default, not an image
    _, findings = check(tmp_path / "defaults", column('<mj-image src="https://images.acme.test/a.png"/>'),
                        preview=defaults)
    assert where(findings, "a11y-alt") == []


def test_a11y_table_role(tmp_path):
    body = column('<mj-raw><table><tr><td>Layout</td></tr></table></mj-raw>',
                  '<mj-table><tr><td>Layout</td></tr></mj-table>',
                  '<mj-table><tr><th>Item</th><th>Price</th></tr></mj-table>',
                  '<mj-text><table role="presentation"><tr><td>ok</td></tr></table></mj-text>')
    path, findings = check(tmp_path, body)
    assert where(findings, "a11y-table-role") == [f"{at(path, '<table>')}: warning", f"{path}:10:9: warning"]


def test_a11y_headings_along_every_branch(tmp_path):
    body = column('<mj-text><h1>Order</h1></mj-text>',
                  "<mj-text>{% if profile.tier == 'vip' %}<h2>Perks</h2>{% endif %}<h3>Items</h3></mj-text>")
    path, findings = check(tmp_path, body)
    assert where(findings, "a11y-headings") == [f"{at(path, '<h3>')}: warning"]  # right after <h1> when not vip
    assert "<h3> follows <h1>" in findings[0].message


def test_a11y_link_text(tmp_path):
    body = column('<mj-text>See <a href="https://shop.acme.test/care">click here</a>.</mj-text>',
                  '<mj-button href="https://shop.acme.test/care">Read more</mj-button>',
                  '<mj-text><a href="https://shop.acme.test/care">Read the care guide</a></mj-text>')
    path, findings = check(tmp_path, body)
    assert where(findings, "a11y-link-text") == [f"{at(path, '<a href')}: warning", f"{path}:10:9: warning"]


def test_a11y_contrast_from_attribute_inline_style_and_theme(tmp_path):
    body = column('<mj-text color="#aaaaaa">Faint</mj-text>',
                  '<mj-text><p style="color: #ffffff">White on white</p></mj-text>',
                  '<mj-text font-size="28px" color="#888888">Large is fine at 3.5:1</mj-text>',
                  '<mj-button background-color="#ffff00" href="https://shop.acme.test">Go shopping</mj-button>')
    path, findings = check(tmp_path, body)
    assert where(findings, "a11y-contrast") == [f"{at(path, 'color=')}: warning", f"{at(path, 'color: #fff')}: warning",
                                                f"{path}:12:9: warning"]
    assert "2.32:1, below WCAG AA 4.5:1" in findings[0].message


def test_size_counts_the_largest_variant_and_the_esps_additions(tmp_path):
    big = "<p>" + "Lorem ipsum dolor sit amet. " * 3600 + "</p>"  # ≈ 100 KB of copy
    path, findings = check(tmp_path, column(f"<mj-text>{big}</mj-text>"), esps=("klaviyo",))
    assert where(findings, "size") == [f"{path}:1:1: error"]
    assert "Gmail clips it at 102 KB" in findings[0].message
    near = "<p>" + "Lorem ipsum dolor sit amet. " * 3000 + "</p>"  # ≈ 84 KB: over 90 KB with tracking
    path, findings = check(tmp_path / "near", column(f"<mj-text>{near}</mj-text>"), esps=("klaviyo",))
    assert where(findings, "size") == [f"{path}:1:1: warning"]


def test_subject_length(tmp_path):
    long = "Everything you left in your cart is still waiting for you, and it ships free"
    path, findings = check(tmp_path, column("<mj-text>Hi</mj-text>"), subject=long)
    assert where(findings, "subject-length") == [f"{path}:3:5: warning"]
    path, findings = check(tmp_path / "empty", column("<mj-text>Hi</mj-text>"), subject="{{ profile.first_name }}")
    assert where(findings, "subject-length") == [f"{path}:3:5: warning"]
    assert "empty for some recipients" in findings[0].message


def test_preheader_missing_or_too_long(tmp_path):
    path, findings = check(tmp_path, column("<mj-text>Hi</mj-text>"), preview="")
    assert where(findings, "preheader") == [f"{path}:3:5: warning"]
    long = "<mj-preview>" + "Tracking details inside. " * 7 + "</mj-preview>"
    path, findings = check(tmp_path / "long", column("<mj-text>Hi</mj-text>"), preview=long)
    assert where(findings, "preheader") == [f"{path}:4:5: warning"]


def test_text_part_without_copy(tmp_path):
    footer = ('    <mj-section><mj-column><mw-raw esp="klaviyo"><mj-raw><a href="{% unsubscribe_link %}"></a>'
              "</mj-raw></mw-raw></mj-column></mj-section>\n")
    body = column('<mj-image src="https://images.acme.test/sale.png" alt=""/>')
    path, findings = check(tmp_path, body, esps=("klaviyo",), footer=footer)
    assert where(findings, "text-part") == [f"{path}:1:1: error"]


def test_links_are_well_formed(tmp_path):
    body = column('<mj-button href="shop.acme.test/cart">Open my cart</mj-button>',
                  '<mj-text><a href="https://shop.acme.test/a b">Our story</a> <a href="#">Our shop</a></mj-text>',
                  '<mj-image src="{{ event.image }}" alt="Your pick" href="mailto:help@acme.test"/>',
                  '<mj-text><a href="https://shop.acme.test/p/{{ event.id }}">Your pick</a></mj-text>')
    path, findings = check(tmp_path, body, esps=("klaviyo",))
    assert where(findings, "links") == [f"{at(path, 'shop.acme.test/cart')}: error",
                                        f"{at(path, 'https://shop.acme.test/a b')}: error", f"{at(path, '#')}: error"]


class _Server(BaseHTTPRequestHandler):
    def do_HEAD(self):  # noqa: N802
        self.send_response(200 if self.path == "/ok" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_online_fetches_literal_urls(tmp_path, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        body = column(f'<mj-button href="{base}/missing">Track my parcel</mj-button>',
                      f'<mj-image src="{base}/ok" alt="A parcel" href="{{{{ event.url }}}}"/>')
        footer = f'    <x-footer company="Acme" help_url="{base}/ok"/>\n'
        root = make_project(tmp_path / "p", {"t": tpl(body, footer=footer)}, esps=("klaviyo",))
        findings = run_check(root, online=True)
    finally:
        server.shutdown()
        server.server_close()
    path = root / "templates" / "t.mjml"
    assert where(findings, "links") == [f"{at(path, base + '/missing')}: error"]
    assert "answers HTTP 404" in findings[0].message


def test_disabling_a_rule_silences_it(tmp_path):
    body = column('<mj-image src="https://images.acme.test/a.png"/>')
    _, findings = check(tmp_path, body, mjml="")
    assert {d.rule for d in findings} == {"a11y-lang", "a11y-alt"}
    _, findings = check(tmp_path / "off", body, mjml="", toml='[check]\ndisable = ["a11y-lang"]\n')
    assert {d.rule for d in findings} == {"a11y-alt"}
    _, findings = check(tmp_path / "all", body, mjml="", toml='[check]\ndisable = ["a11y"]\n')
    assert findings == []


def test_unknown_rule_in_disable_is_an_error(tmp_path):
    _, findings = check(tmp_path, column("<mj-text>Hi</mj-text>"), toml='[check]\ndisable = ["a11y-colour"]\n')
    (d,) = findings
    assert (d.pos.line, d.pos.col, d.severity) == (6, 12, "error")  # at the name in the list
    assert d.message == ("[check] disable: unknown rule 'a11y-colour': did you mean 'a11y-contrast'? (rules: "
                         + ", ".join(RULES) + ")")


def test_command_text_output_and_exit_status(tmp_path):
    root = make_project(tmp_path / "p", {"t": tpl(column('<mj-image src="https://images.acme.test/a.png"/>'))})
    result = CliRunner().invoke(command, [str(root)])
    assert result.exit_code == 1
    assert f"{root / 'templates' / 't.mjml'}:9:9: error: <mj-image> has no alt" in result.stdout
    assert "[a11y-alt]" in result.stdout
    assert CliRunner().invoke(command, [str(root), "--esp", "nope"]).exit_code == 2
    assert "Examples:" in CliRunner().invoke(command, ["--help"]).output


@pytest.mark.parametrize("esp", ["klaviyo", "hubspot"])
def test_esp_option_checks_that_esp_only(tmp_path, esp):
    root = make_project(tmp_path / "p", {"t": tpl(column("<mj-text>Hi</mj-text>"))})
    result = CliRunner().invoke(command, [str(root), "--esp", esp, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["checked"]["esps"] == [esp] and doc["checked"]["outputs"] == 1


def test_docs_describe_every_rule_and_the_default_clients():
    page = (ROOT / "docs" / "check.md").read_text()
    for rule in RULES:
        assert f"### `{rule}`" in page, rule
    for client in DEFAULT_CLIENTS:
        assert f"`{client}`" in page and client in client_keys(), client


def contrast_msg(what: str, fg: str, bg: str, ratio: str) -> str:
    return (f"{what} {fg} on background {bg} has contrast {ratio}:1, below WCAG AA 4.5:1 for normal text; darken "
            "the text or lighten the background")


def test_a11y_contrast_takes_the_colour_of_the_innermost_element_holding_the_text(tmp_path):
    body = column('<mj-button background-color="#ffffff" color="#ffffff" href="https://shop.acme.test/sale">'
                  '<span style="color:#212020">Shop the sale</span></mj-button>',
                  '<mj-text color="#ffffff"><p style="color: #212020">Dark on white</p> <!-- a note --></mj-text>')
    _, findings = check(tmp_path, body)
    assert where(findings, "a11y-contrast") == []  # the false alarm: '#ffffff on #ffffff' where #212020 shows


def test_a11y_contrast_reports_a_faint_span_and_text_left_in_the_elements_colour(tmp_path):
    body = column('<mj-text color="#212020">Fine <span style="color:#dddddd">faint</span></mj-text>',
                  '<mj-button background-color="#e4572e" href="https://shop.acme.test/sale">'
                  '<strong style="color: #000000">Dark</strong> then white</mj-button>',
                  '<mj-text color="#ffffff"><table><tr><td bgcolor="#111111"><span>on black</span></td></tr>'
                  '</table><span style="color:#000">a</span> b</mj-text>')
    path, findings = check(tmp_path, body, toml='[check]\ndisable = ["a11y-table-role"]\n')
    found = [d for d in findings if d.rule == "a11y-contrast"]
    assert [(f"{d.pos.path}:{d.pos.line}:{d.pos.col}", d.message) for d in found] == [
        (at(path, "color:#ddd"), contrast_msg("text color", "#dddddd", "#ffffff", "1.36")),
        (f"{path}:10:9", contrast_msg("button text color", "#ffffff", "#e4572e", "3.68")),
        (at(path, 'color="#ffffff"'), contrast_msg("text color", "#ffffff", "#ffffff", "1.00")),
    ]  # 'on black' is white on #111111: fine; ' b' is in the mj-text's own white, on the page's white


def test_client_support_inside_media_queries(tmp_path):
    head = '<mj-style>\n      @media (max-width: 480px) { .card { box-shadow: 0 1px 2px #ccc; } }\n    </mj-style>'
    path, findings = check(tmp_path, column('<mj-text css-class="card">Hi</mj-text>'), preview=PREVIEW + "\n    " + head)
    assert where(findings, "client-support") == [f"{at(path, 'box-shadow')}: warning"]


def test_a11y_contrast_reads_every_css_colour_notation(tmp_path):
    body = column('<mj-text color="lightslategray">Slate</mj-text>',
                  '<mj-text color="hsl(0, 0%, 80%)">Grey</mj-text>',
                  '<mj-text><span style="color: rgb(255 0 0 / 100%); background-color: rebeccapurple">Red</span>'
                  '</mj-text>',
                  '<mj-text color="rgba(0, 0, 0, 0.2)">Translucent: not known</mj-text>')
    path, findings = check(tmp_path, body)
    assert [d.message.split(" has ")[0] for d in findings if d.rule == "a11y-contrast"] == [
        "text color #778899 on background #ffffff", "text color #cccccc on background #ffffff",
        "text color #ff0000 on background #663399"]


def test_a_template_comment_disables_rules_for_that_template_only(tmp_path):
    bad = column('<mj-image src="https://images.acme.test/a.png"/>', '<mj-text color="#eeeeee">Faint</mj-text>')
    root = make_project(tmp_path / "p", {
        "quiet": tpl("    <!-- mailwright: disable a11y-contrast, a11y-alt -->\n" + bad),
        "loud": tpl(bad),
    })
    findings = run_check(root)
    assert {(Path(d.pos.path).stem, d.rule) for d in findings} == {("loud", "a11y-alt"), ("loud", "a11y-contrast")}


def test_an_unknown_rule_in_a_template_comment_is_an_error_at_the_word(tmp_path):
    path, findings = check(tmp_path, "    <!-- mailwright: disable a11y-colour size -->\n" + column("<mj-text>Hi</mj-text>"))
    assert [(f"{d.pos.path}:{d.pos.line}:{d.pos.col}", d.severity, d.message) for d in findings] == [
        (at(path, "a11y-colour"), "error", "unknown rule 'a11y-colour': did you mean 'a11y-contrast'? (rules: "
                                           + ", ".join(RULES) + ")")]
    path, findings = check(tmp_path / "verb", "    <!-- mailwright: disabel size -->\n" + column("<mj-text>Hi</mj-text>"))
    assert [(f"{d.pos.path}:{d.pos.line}:{d.pos.col}", d.message) for d in findings] == [
        (at(path, "disabel"), "unknown mailwright comment 'disabel': write <!-- mailwright: disable RULE --> "
                              "(rules: " + ", ".join(RULES) + ")")]


def test_the_disable_comment_is_not_sent(tmp_path):
    from tests.conftest import compile_sources

    result = compile_sources({"t": tpl("    <!-- mailwright: disable size -->\n    <!-- kept -->\n"
                                       + column("<mj-text>Hi</mj-text>"))}, esps=("klaviyo",))
    (o,) = result.outputs
    assert "<!-- kept -->" in o.html and "mailwright: disable" not in o.html


def test_disable_in_turns_rules_off_for_the_named_templates(tmp_path):
    bad = column('<mj-image src="https://images.acme.test/a.png"/>')
    toml = '[check]\ndisable_in = { "a11y-alt" = ["quiet"], "a11y" = ["also-quiet"] }\n'
    root = make_project(tmp_path / "p", {"quiet": tpl(bad), "also-quiet": tpl(bad), "loud": tpl(bad)}, toml)
    assert [Path(d.pos.path).stem for d in run_check(root)] == ["loud"]


def test_disable_in_names_unknown_rules_and_templates_at_their_place(tmp_path):
    toml = '[check]\ndisable_in = { "a11y-colour" = ["nope"], "size" = ["welcom"] }\n'
    root = make_project(tmp_path / "p", {"welcome": tpl(column("<mj-text>Hi</mj-text>"))}, toml)
    cfg = root / "mailwright.toml"
    found = [(f"{d.pos.path}:{d.pos.line}:{d.pos.col}", d.message) for d in run_check(root)]
    rules = ", ".join(RULES)
    assert found == [
        (at(cfg, '"a11y-colour"'), f"[check] disable_in: unknown rule 'a11y-colour': did you mean 'a11y-contrast'? "
                                   f"(rules: {rules})"),
        (at(cfg, '"nope"'), "[check] disable_in: no template 'nope' in templates/: (templates: welcome)"),
        (at(cfg, '"welcom"'), "[check] disable_in: no template 'welcom' in templates/: did you mean 'welcome'? "
                              "(templates: welcome)"),
    ]


def test_example_data_in_links_and_images(tmp_path):
    body = column('<mj-button href="https://shop.example.com/sale">See the sale</mj-button>',
                  '<mj-image src="https://images.example.org/a.png" alt="A" href="https://demo.example/x"/>',
                  '<mj-text><a href="mailto:help@example.net">Write to us</a> '
                  '<a href="https://shop.example.com/p/{{ event.id }}">Your pick</a> '
                  '<a href="https://{{ event.host }}/p">Your shop</a> '
                  '<a href="https://example.company.test/">Our company</a></mj-text>')
    path, findings = check(tmp_path, body, esps=("klaviyo",))
    tail = ", a domain reserved for examples: give the real URL (or disable example-data for a project that is " \
           "itself an example)"
    assert [(f"{d.pos.path}:{d.pos.line}:{d.pos.col}", d.message) for d in findings] == [
        (at(path, "https://shop.example.com/sale"), "this link goes to shop.example.com" + tail),
        (at(path, "https://images.example.org"), "this image goes to images.example.org" + tail),
        (at(path, "https://demo.example"), "this link goes to demo.example" + tail),
        (at(path, "mailto:help@example.net"), "this link goes to example.net" + tail),
        (at(path, "https://shop.example.com/p/"), "this link goes to shop.example.com" + tail),
    ]
    _, findings = check(tmp_path / "off", body, toml='[check]\ndisable = ["example-data"]\n', esps=("klaviyo",))
    assert findings == []


def test_example_data_from_brand_reaches_the_components_that_read_it(tmp_path):
    body = '    <x-header logo="https://images.acme.test/logo.png"/>\n' + column("<mj-text>Hi</mj-text>")
    toml = '[brand]\ncompany = "Acme"\nwebsite = "https://acme.test"\nhelp_url = "https://www.example.com/help"\n'
    path, findings = check(tmp_path, body, toml=toml)
    cfg = path.parents[1] / "mailwright.toml"
    (brand,) = findings  # the header links to [brand] website: no example domain of its own
    value = at(cfg, '"https://www')
    assert brand.format().splitlines()[:2] == [
        f"{value}: warning: this link goes to www.example.com, a domain reserved for examples: "
        "give the real URL (or disable example-data for a project that is itself an example) [example-data]",
        f"{Pos(str(ROOT / 'components' / 'footer.mjml'), 4, 24)}: note: [[ brand.help_url ]] is used here"]
