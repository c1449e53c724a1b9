from mailwright.capabilities import markdown
from tests.conftest import ROOT


def test_dialects_page_matches_the_code():
    page = (ROOT / "docs" / "dialects.md").read_text()
    table = page.split("<!-- table:start -->\n", 1)[1].split("<!-- table:end -->", 1)[0]
    assert table == markdown()


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = readme.split("```")
    assert "pip install" in blocks[1] and "mailwright compile examples/shop" in blocks[1]
    assert "pytest" in blocks[3]


def test_flows_page_matches_the_code():
    page = (ROOT / "docs" / "flows.md").read_text()
    table = page.split("<!-- table:start -->\n", 1)[1].split("<!-- table:end -->", 1)[0]
    assert table == markdown("flows")
    example = (ROOT / "examples" / "shop" / "flows" / "cart-abandonment.yaml").read_text()
    for line in example.splitlines():
        if line.strip() and not line.startswith("#"):
            assert line.split("#")[0].rstrip() in page, line


def test_components_page_matches_the_components():
    from mailwright.compose import component_table, load_component
    from mailwright.project import builtin_dir

    page = (ROOT / "components" / "README.md").read_text()
    table = page.split("-->\n", 1)[1].split("<!-- table:end -->", 1)[0] if "<!-- table:start" in page else ""
    comps = {f.stem: load_component(f) for f in builtin_dir("components").glob("*.mjml")}
    assert table == component_table(comps)
