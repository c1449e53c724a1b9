"""Themes: one template may go unthemed or take another theme; a user's theme missing a token is said once."""

from tests.conftest import compile_sources, email, make_project

BODY = '<mj-section><mj-column><mj-text>Plain</mj-text></mj-column></mj-section>'


def outputs(result, esp="klaviyo"):
    assert not result.errors, [e.format() for e in result.errors]
    return {o.name: o.html for o in result.outputs if o.esp == esp}


def test_a_template_can_go_unthemed_or_take_another_theme():
    themed = email(BODY)
    plain = themed.replace("<mjml>", '<mjml mw-theme="none">')
    bold = themed.replace("<mjml>", '<mjml mw-theme="bold">')
    html = outputs(compile_sources({"themed": themed, "plain": plain, "bold": bold}, theme="clean"))
    assert "font-family:Helvetica, Arial, sans-serif" in html["themed"]  # the clean theme's mj-all font
    assert "mw-theme" not in html["plain"] and "mw-theme" not in html["bold"]
    assert html["plain"] != html["themed"] != html["bold"]
    # unthemed: MJML's own defaults (Ubuntu, Helvetica…) and no theme CSS, but the footer still works
    assert "font-family:Ubuntu, Helvetica, Arial, sans-serif" in html["plain"]
    assert "No longer want emails from Acme?" in html["plain"]


def test_an_unknown_template_theme_is_located():
    src = email(BODY).replace("<mjml>", '<mjml mw-theme="blod">')
    (err,) = compile_sources({"t": src}).errors
    assert err.message.startswith("unknown theme 'blod' (themes: bold, clean")
    assert (err.pos.line, err.pos.col) == (1, len('<mjml mw-theme="') + 1)


def test_a_project_without_a_theme_can_use_the_footer():
    assert outputs(compile_sources({"t": email(BODY)}, theme=None))


def test_a_user_theme_missing_a_token_is_one_error_at_the_theme(tmp_path):
    from mailwright.compile import compile_project
    from mailwright.dialect import load_connectors
    from mailwright.project import load_project

    root = make_project(tmp_path / "p", {"a": email(BODY), "b": email(BODY)}, theme="house")
    (root / "themes").mkdir()
    (root / "themes" / "house.toml").write_text('# my theme\n\n[tokens]\ntext = "#111111"\n')
    result = compile_project(load_project(root, list(load_connectors())))
    (err,) = result.errors
    assert (err.pos.path, err.pos.line) == (str(root / "themes" / "house.toml"), 3)
    assert err.message.startswith("theme 'house' has no token ")
    assert "the built-in component 'footer' uses it: add " in err.message
