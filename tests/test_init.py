"""`mailwright init`: a project that compiles and checks clean as written (issue 12.1)."""

import json

from click.testing import CliRunner

from mailwright.cli import main


def test_init_then_compile_then_check_is_clean(tmp_path):
    runner = CliRunner()
    demo = tmp_path / "demo"
    res = runner.invoke(main, ["init", str(demo), "--company", 'Acme "Tools"', "--website", "https://acme.test/"])
    assert res.exit_code == 0, res.output
    for rel in ("mailwright.toml", "templates/checkout-reminder.mjml", "flows/checkout-reminder.yaml",
                "samples/first-visit.yaml", "themes/house.toml", ".gitignore"):
        assert (demo / rel).is_file(), rel
    res = runner.invoke(main, ["compile", str(demo), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] and doc["diagnostics"] == []
    html = (demo / "build" / "klaviyo" / "checkout-reminder--checkout_started.html").read_text()
    assert "emails from Acme \"Tools\"?" in html and "https://acme.test/help" in html
    res = runner.invoke(main, ["check", str(demo)])
    assert res.exit_code == 0 and "0 errors, 0 warnings" in res.output, res.output


def test_init_never_writes_into_a_folder_that_holds_something(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    res = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert res.exit_code == 1 and "not empty" in res.output
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_init_refuses_an_unknown_esp(tmp_path):
    res = CliRunner().invoke(main, ["init", str(tmp_path / "x"), "--esp", "mailchimp"])
    assert res.exit_code == 2 and "unknown ESP 'mailchimp'" in res.output
    assert not (tmp_path / "x").exists()


def test_init_without_a_website_writes_no_example_domain_and_checks_clean(tmp_path):
    runner = CliRunner()
    demo = tmp_path / "plain"
    assert runner.invoke(main, ["init", str(demo)]).exit_code == 0
    assert "example.com" not in (demo / "mailwright.toml").read_text()
    res = runner.invoke(main, ["check", str(demo)])
    assert res.exit_code == 0 and "0 errors, 0 warnings" in res.output, res.output
    html = (demo / "build" / "klaviyo" / "checkout-reminder--checkout_started.html")
    assert runner.invoke(main, ["compile", str(demo)]).exit_code == 0
    assert "Help centre" not in html.read_text()
