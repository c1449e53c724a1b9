"""project.py against what a designer's project folder may hold: every mistake at its place, all in one pass."""

import time

from click.testing import CliRunner

from mailwright.cli import main
from tests.conftest import make_project, text_email

HEAD = '[project]\nname = "t"\nesps = ["klaviyo"]\n'
BRAND = '[brand]\nhelp_url = "https://help.acme.test/"\n'


def project(tmp_path, toml: str = HEAD + BRAND):
    make_project(tmp_path, {"welcome": text_email("Hello")}, esps=("klaviyo",))
    (tmp_path / "mailwright.toml").write_text(toml)
    return tmp_path


def compile_errors(root) -> list[str]:
    r = CliRunner().invoke(main, ["compile", str(root), "--out", str(root / "build")])
    assert r.exit_code in (0, 1), (r.exit_code, r.output, r.exception)
    return [line for line in r.stderr.splitlines() if ": error: " in line]


def test_segments_are_read_when_the_project_loads_used_or_not(tmp_path):
    root = project(tmp_path, HEAD + '[segments]\nvip = "profile.tier ==="\nme = "segment.me"\nc = "segment.d"\n'
                             'd = "segment.c"\n"a b" = "true"\nuses_vip = "segment.vip"\nf = "segment.nope"\n' + BRAND)
    c = f"{root}/mailwright.toml"
    assert compile_errors(root) == [
        f"{c}:9:1: error: segment name 'a b': use letters, digits and '_' (it is written segment.NAME)",
        f"{c}:5:7: error: bad expression 'profile.tier ===': unexpected '='",
        f"{c}:6:6: error: segment cycle: me -> me",
        f"{c}:7:5: error: segment cycle: c -> d -> c",  # once, not once per segment of the cycle
        f"{c}:11:5: error: unknown segment 'nope' (segments: c, d, f, me, uses_vip, vip)",
    ]
    assert not (root / "build").exists()


def test_good_segments_still_compile(tmp_path):
    root = project(tmp_path, HEAD + '[segments]\nvip = "profile.tier == \'gold\'"\nrich = "segment.vip and '
                             'event.cart_value > 100"\n' + BRAND)
    assert compile_errors(root) == []


def test_every_component_and_the_config_in_one_pass(tmp_path):
    root = project(tmp_path, HEAD + 'them = "x"\n' + BRAND)
    (root / "components").mkdir()
    (root / "components" / "a.mjml").write_bytes(b"\xff")
    (root / "components" / "b.mjml").write_text("<mjml/>")
    assert compile_errors(root) == [
        f"{root}/mailwright.toml:4:1: error: unknown key 'them' in [project]: did you mean 'theme'? "
        "(known: name, esps, theme)",
        f"{root}/components/a.mjml:1:1: error: not valid UTF-8 (byte 0xff)",
        f"{root}/components/b.mjml:1:1: error: a component file's root element is <x-component>, not <mjml>",
    ]


def test_an_unknown_theme_and_a_bad_component_in_one_pass(tmp_path):
    root = project(tmp_path, HEAD + 'theme = "nope"\n' + BRAND)
    (root / "components").mkdir()
    (root / "components" / "b.mjml").write_text("<mjml/>")
    assert compile_errors(root) == [
        f"{root}/components/b.mjml:1:1: error: a component file's root element is <x-component>, not <mjml>",
        f"{root}/mailwright.toml:4:9: error: unknown theme 'nope'",
    ]


def test_editor_lock_files_and_mac_resource_files_are_not_templates_or_components(tmp_path):
    root = project(tmp_path)
    (root / "templates" / ".#welcome.mjml").symlink_to("designer@host.4242")  # Emacs: a broken link
    (root / "templates" / "._welcome.mjml").write_bytes(b"\x00\x05\x16\x07\xff")  # macOS AppleDouble
    (root / "components").mkdir()
    (root / "components" / ".#card.mjml").symlink_to("designer@host.4242")
    assert compile_errors(root) == []
    assert sorted(p.name for p in (root / "build" / "klaviyo").iterdir()) == ["welcome.html", "welcome.txt"]


def test_a_file_where_templates_or_components_should_be(tmp_path):
    root = project(tmp_path)
    for f in (root / "templates").iterdir():
        f.unlink()
    (root / "templates").rmdir()
    (root / "templates").write_text("welcome")
    (root / "components").symlink_to(root / "components")  # a loop
    assert compile_errors(root) == [
        f"{root}/components: error: expected a folder of *.mjml files, found something else",
        f"{root}/templates: error: expected a folder of *.mjml files, found a file",
    ]


def test_places_count_only_toml_line_breaks(tmp_path):
    # U+2028 and U+0085 may stand in a comment or a string; str.splitlines() took them for line ends
    root = project(tmp_path, "# note\u2028more\u0085x\r\n" + HEAD.replace("\n", "\r\n") + 'them = "\u2028"\n' + BRAND)
    assert compile_errors(root) == [f"{root}/mailwright.toml:5:1: error: unknown key 'them' in [project]: did you "
                                    "mean 'theme'? (known: name, esps, theme)"]


def test_places_after_quotes_that_open_no_multiline_string(tmp_path):
    toml = (HEAD.replace('["klaviyo"]', "['klaviyo'] # '''") + BRAND + "a = '\"\"\"'\nb = 1\n"
            'c = """x\\""""\nd = 2\ne = """\n\\"""\n[project]\nf = 3 """\ng = 4\n')
    root = project(tmp_path, toml)
    c = f"{root}/mailwright.toml"
    assert compile_errors(root) == [f"{c}:7:5: error: b in [brand] must be a string, not a number",
                                    f"{c}:9:5: error: d in [brand] must be a string, not a number",
                                    f"{c}:14:5: error: g in [brand] must be a string, not a number"]


def test_places_of_quoted_keys_with_escapes(tmp_path):
    root = project(tmp_path, HEAD + BRAND + '"a\\"b" = 1\n"\\u00fc" = 2\n')
    c = f"{root}/mailwright.toml"
    assert compile_errors(root) == [f'{c}:6:10: error: a"b in [brand] must be a string, not a number',
                                    f"{c}:7:12: error: ü in [brand] must be a string, not a number"]


def test_a_broken_link_for_mailwright_toml_is_named_not_missed(tmp_path):
    root = project(tmp_path)
    (root / "mailwright.toml").unlink()
    (root / "mailwright.toml").symlink_to(root / "elsewhere.toml")
    assert compile_errors(root / "templates") == [f"{root}/mailwright.toml: error: cannot read this configuration "
                                                  "file: it does not exist (a broken symbolic link)"]


def test_the_project_is_found_from_a_file_inside_it(tmp_path):
    from mailwright.dialect import load_connectors
    from mailwright.project import load_project

    root = project(tmp_path)
    assert load_project(root / "templates" / "welcome.mjml", list(load_connectors())).root == root


def test_config_values_at_their_places(tmp_path):
    root = project(tmp_path, '[project]\nname = "a b"\nesps = ["klaviyo"]\ntheme = true\n[segments]\nx.y = "true"\n'
                             '[esp]\nklaviyo = {events = {a = 1}}\n' + BRAND)
    c = f"{root}/mailwright.toml"
    assert compile_errors(root) == [
        f"{c}:4:9: error: project.theme must be a string, not true/false",
        f"{c}:6:1: error: x in [segments] must be a string, not a table",  # a dotted key's first part
        f"{c}:8:11: error: a in [esp.klaviyo.events] must be a string, not a number",  # inside an inline table
        f"{c}:2:8: error: [project] name 'a b': use letters, digits, '-' or '_' (it names what push creates)",
    ]


def chain(n: int) -> str:
    return '[segments]\ns0 = "profile.x == 1"\n' + "".join(f's{i} = "segment.s{i - 1} or profile.y == {i}"\n'
                                                           for i in range(1, n))


def test_a_chain_of_segments_too_deep_to_read_is_one_error_at_its_top(tmp_path):
    root = project(tmp_path, HEAD + chain(2000) + BRAND)  # was exit 70 (RecursionError) once a template used s1999
    assert compile_errors(root) == [f"{root}/mailwright.toml:2004:9: error: segments use one another 2000 deep "
                                    "(at most 50): s1999 -> s1998 -> s1997 -> … -> s0"]


def test_a_chain_of_segments_as_deep_as_allowed_compiles_where_it_is_used(tmp_path):
    root = project(tmp_path, HEAD + chain(50) + BRAND)
    deep = "<mw-if when='segment.s49'><mj-text>x</mj-text></mw-if>"
    for i in range(10):
        deep = f"<mw-for each='item{i} in event.items'>{deep}</mw-for>"
    (root / "templates" / "welcome.mjml").write_text(text_email("Hello").replace("<mj-text>Hello</mj-text>", deep))
    assert compile_errors(root) == []


def test_segments_that_double_at_each_level_are_one_error_not_a_hang(tmp_path):
    laughs = "".join(f's{i} = "segment.s{i - 1} and segment.s{i - 1}"\n' for i in range(1, 45))
    root = project(tmp_path, HEAD + '[segments]\ns0 = "profile.x == 1"\n' + laughs + BRAND)
    (root / "templates" / "welcome.mjml").write_text(  # s44 would be read 2^44 times
        text_email("Hello").replace("<mj-text>Hello</mj-text>", "<mw-if when='segment.s44'><mj-text>x</mj-text></mw-if>"))
    started = time.perf_counter()
    assert compile_errors(root) == [f"{root}/mailwright.toml:18:7: error: segment 's13' expands to more than 10,000 "
                                    "segment uses (each use is written out in full): use fewer segments inside segments"]
    assert time.perf_counter() - started < 5


def test_editor_lock_files_in_flows_and_samples_are_not_the_users(tmp_path):
    from mailwright.variants import sample_files

    root = project(tmp_path)
    (root / "flows").mkdir()
    (root / "flows" / ".#welcome.yaml").symlink_to("designer@host.4242")
    (root / "samples").mkdir()
    (root / "samples" / "first.yaml").write_text("profile: {}\nevent: {}\n")
    (root / "samples" / ".#first.yaml").symlink_to("designer@host.4242")
    (root / "samples" / "._first.yaml").write_bytes(b"\x00\x05\x16\x07\xff")
    assert compile_errors(root) == []
    assert [p.name for p in sample_files(root)] == ["first.yaml"]


def test_a_file_where_flows_should_be(tmp_path):
    root = project(tmp_path)
    (root / "flows").write_text("welcome")
    assert compile_errors(root) == [f"{root}/flows: error: expected a folder of *.y*ml files, found a file"]


def test_places_after_escaped_quotes_extra_closing_quotes_and_a_hash_in_a_comment(tmp_path):
    # each line's quotes open no multi-line string: an escaped quote, a closing """ with content quotes
    # after it, a comment holding '#' before quotes
    toml = HEAD + BRAND + 'h = "\\"\'\'\'"\nb = 1\nc = """a"""" # "\'\'\'"\nd = 2\ne = "" # see #12 """\ng = 3\n'
    root = project(tmp_path, toml)
    c = f"{root}/mailwright.toml"
    assert compile_errors(root) == [f"{c}:7:5: error: b in [brand] must be a string, not a number",
                                    f"{c}:9:5: error: d in [brand] must be a string, not a number",
                                    f"{c}:11:5: error: g in [brand] must be a string, not a number"]
