"""No example data in the product: the footer's defaults come from the project's [brand] (issue 13.4)."""

from tests.conftest import compile_sources, email, text_email


def test_the_footer_takes_company_and_help_url_from_brand():
    toml = '[brand]\ncompany = "Acme & Sons"\nhelp_url = "https://acme.test/help"\n'
    result = compile_sources({"t": email("", footer="<x-footer/>")}, toml=toml)
    assert not result.errors
    for o in result.outputs:
        assert "No longer want emails from Acme &amp; Sons?" in o.html
        assert 'href="https://acme.test/help"' in o.html
        assert "example.com" not in o.html and "our shop" not in o.html


def test_a_missing_brand_value_is_reported_at_the_component_use():
    src = text_email("hi", footer='<x-footer company="Acme"/>')
    (err,) = compile_sources({"t": src}, toml="[brand]\n").errors
    assert err.message == ("component 'footer' takes help_url from [brand] help_url in mailwright.toml, which is "
                           'not set: set it there, or give help_url="…" here')
    assert (err.pos.path.rsplit("/", 1)[-1], err.pos.col) == ("t.mjml", src.index("<x-footer") + 1)
    ok = compile_sources({"t": text_email("hi", footer='<x-footer company="Acme" help_url="https://a.test/h"/>')},
                         toml="[brand]\n")
    assert not ok.errors


def test_brand_tokens_in_a_template():
    src = text_email("Hello from [[ brand.company ]] and [[ brand.nope ]]")
    (err,) = compile_sources({"t": src}, toml='[brand]\ncompany = "Acme"\nhelp_url = "https://a.test/"\n').errors
    assert err.message == "'[[ brand.nope ]]' has no value: set nope in the [brand] table of mailwright.toml"


def test_an_empty_help_url_means_no_help_link_and_components_have_no_example_links():
    toml = '[brand]\ncompany = "Acme"\nhelp_url = ""\nwebsite = "https://acme.test"\n'
    src = email('<x-header logo="https://acme.test/logo.png"/>', footer="<x-footer/>")
    result = compile_sources({"t": src}, toml=toml)
    assert not result.errors, [e.format() for e in result.errors]
    for o in result.outputs:
        assert "Help centre" not in o.html and 'href="https://acme.test"' in o.html
        assert "example.com" not in o.html and "example.com" not in o.text
    (err,) = compile_sources({"t": src}, toml='[brand]\ncompany = "Acme"\nhelp_url = ""\n').errors
    assert err.message.startswith("component 'header' takes link from [brand] website in mailwright.toml")


def test_built_in_components_carry_no_example_data():
    from mailwright.project import builtin_dir

    for f in builtin_dir("components").glob("*.mjml"):
        text = f.read_text()
        assert "example.com" not in text and "Fernhill" not in text and "our shop" not in text, f.name


def test_the_preview_shows_the_projects_own_sender_in_every_esp(tmp_path):
    from mailwright.dialect import load_connectors
    from mailwright.preview.model import Preview
    from tests.conftest import make_project

    root = make_project(tmp_path / "p", {"t": email("<mj-section><mj-column><mj-text>Hi</mj-text></mj-column>"
                                                    "</mj-section>")},
                        toml='[brand]\ncompany = "Acme Tools"\naddress = "9 Elm Row, Leeds"\nhelp_url = ""\n')
    preview = Preview(root)
    outs = preview.outputs("t", None)
    assert set(outs) == set(load_connectors())
    for esp, out in outs.items():
        shown = preview._render(out, {"profile": {}, "event": {}})
        assert "error" not in shown, shown
        page = " ".join(str(v) for v in shown.values())
        assert "Acme Tools" in page and "9 Elm Row, Leeds" in page, esp
        assert "Fernhill" not in page and "Market St" not in page, esp
