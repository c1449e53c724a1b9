"""inputs.py: every decoding, size, kind, depth and alias problem of a user's file is a located error."""

import os
import threading
import time

import pytest

from mailwright.errors import MailwrightError
from mailwright.inputs import load_toml, load_yaml, read_text
from tests.conftest import make_project, text_email


def error(f, *args, **kw) -> str:
    with pytest.raises(MailwrightError) as e:
        f(*args, **kw)
    return str(e.value)


def test_utf8_bom_is_dropped(tmp_path):
    (tmp_path / "a.mjml").write_bytes(b"\xef\xbb\xbf<mjml/>")
    assert read_text(tmp_path / "a.mjml") == "<mjml/>"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_bom_are_decoded(tmp_path, codec):
    f = tmp_path / "a.mjml"
    data = "héllo\nwörld".encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    f.write_bytes(data)
    assert read_text(f) == "héllo\nwörld"


def test_invalid_utf8_names_line_column_and_byte(tmp_path):
    f = tmp_path / "a.mjml"
    f.write_bytes(b"line one\nab \xc3\xa9\xffz")
    assert error(read_text, f) == f"{f}:2:5: error: not valid UTF-8 (byte 0xff)"


def test_invalid_utf16_is_located(tmp_path):
    f = tmp_path / "a.mjml"
    f.write_bytes(b"\xff\xfea\x00\n\x00\x00\xd8")  # a lone high surrogate at the end
    assert ":2:1: error: not valid UTF-16" in error(read_text, f)


def test_nul_character_is_refused_at_its_place(tmp_path):
    f = tmp_path / "a.mjml"
    f.write_bytes(b"ab\n\x00")
    assert error(read_text, f) == f"{f}:2:1: error: a NUL character: this looks like a binary file, not text"


def test_folder_is_refused(tmp_path):
    assert error(read_text, tmp_path, what="template") == f"{tmp_path}: error: expected a template, found a folder"


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "t.mjml"
    os.mkfifo(fifo)
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(error(read_text, fifo)), daemon=True)
    t.start()
    t.join(5)
    if t.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert out == [f"{fifo}: error: expected a file, found a FIFO (named pipe)"]


def test_device_is_refused():
    assert error(read_text, "/dev/zero") == "/dev/zero: error: expected a file, found a device"


def test_symlink_loop_names_the_path(tmp_path):
    a, b = tmp_path / "a.mjml", tmp_path / "b.mjml"
    a.symlink_to(b)
    b.symlink_to(a)
    assert error(read_text, a) == f"{a}: error: cannot read this file: a symbolic link loop"


def test_symlink_to_a_file_is_followed(tmp_path):
    (tmp_path / "real.mjml").write_text("x")
    (tmp_path / "link.mjml").symlink_to(tmp_path / "real.mjml")
    assert read_text(tmp_path / "link.mjml") == "x"


def test_size_limit_is_named(tmp_path):
    f = tmp_path / "a.mjml"
    f.write_bytes(b"a" * 101)
    assert error(read_text, f, max_bytes=100) == f"{f}: error: this file is larger than the limit of 100 bytes"
    assert read_text(f, max_bytes=101) == "a" * 101



def test_broken_symlink_is_named(tmp_path):
    (tmp_path / "a.mjml").symlink_to(tmp_path / "gone.mjml")
    assert error(read_text, tmp_path / "a.mjml") == \
        f"{tmp_path}/a.mjml: error: cannot read this file: it does not exist (a broken symbolic link)"


def test_size_limit_holds_for_a_file_larger_than_its_stat_says():
    # /proc files stat as 0 bytes: the limit is checked on what is read, not only on st_size
    assert error(read_text, "/proc/version", max_bytes=20) == \
        "/proc/version: error: this file is larger than the limit of 20 bytes"

@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file(tmp_path):
    f = tmp_path / "a.mjml"
    f.write_text("x")
    f.chmod(0)
    assert error(read_text, f) == f"{f}: error: cannot read this file: permission denied"


# ---------------------------------------------------------------- TOML

def test_toml_syntax_error_at_its_line_and_column():
    assert error(load_toml, "m.toml", 'a = 1\nb = = 2\n') == "m.toml:2:5: error: invalid TOML: Invalid value"


def test_toml_bom_accepted():
    assert load_toml("m.toml", "\ufeffa = 1\n") == {"a": 1}


def test_toml_deep_nesting_is_a_located_error():
    assert error(load_toml, "m.toml", "a = " + "[" * 5000) == \
        "m.toml:1:105: error: nested more than 100 levels deep"


def test_toml_brackets_inside_strings_do_not_count():
    assert load_toml("m.toml", 'a = "' + "[" * 500 + '"\n# ' + "{" * 500 + "\n") == {"a": "[" * 500}


@pytest.mark.parametrize("text,where", [
    ("[check." + ".".join(["a"] * 200_000) + "]\n", "1:207"),  # tomllib alone: minutes, then a dict JSON cannot encode
    ("[signals]\n" + ".".join(["a"] * 5000) + " = 1\n", "2:202"),
    ("[" + ".".join(["a"] * 60) + "]\nb = " + "{c.d = " * 30 + "1" + "}" * 30 + "\n", "2:"),
])
def test_toml_deep_dotted_keys_are_a_located_error(text, where):
    started = time.perf_counter()
    assert error(load_toml, "m.toml", text).startswith(f"m.toml:{where}")
    assert time.perf_counter() - started < 1


def test_toml_many_dots_that_do_not_nest_are_fine():
    text = ("a = [" + ", ".join(["1.5"] * 300) + "]\nurl = '" + "a." * 300 + "'\n"
            + "".join(f"[t{i}." + ".".join(["a"] * 90) + "]\nx.y = {z = 1}\n" for i in range(50)))
    assert load_toml("m.toml", text)["t49"]["a"]["a"]


# ---------------------------------------------------------------- YAML

def billion_laughs(levels: int = 9) -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast():
    started = time.perf_counter()
    msg = error(load_yaml, "f.yaml", billion_laughs())
    assert time.perf_counter() - started < 1
    assert msg.startswith("f.yaml:6:") and "aliases expand to more than 100,000 values" in msg


def test_a_few_aliases_are_fine():
    data, node = load_yaml("f.yaml", "base: &b {x: 1}\none: *b\ntwo: {<<: *b, y: 2}\n")
    assert data == {"base": {"x": 1}, "one": {"x": 1}, "two": {"x": 1, "y": 2}}
    assert node.start_mark.line == 0


def test_recursive_alias_is_refused():
    assert error(load_yaml, "f.yaml", "a: &x [1, *x]\n") == \
        "f.yaml:1:11: error: the alias *x refers to a collection that contains it (a recursive structure)"


@pytest.mark.parametrize("text", ["[" * 5000, "a:\n" + "".join(" " * i + "- \n" for i in range(1, 3000)),
                                  "{a: " * 3000])
def test_deep_nesting_is_a_located_error(text):
    assert "nested more than 100 levels deep" in error(load_yaml, "f.yaml", text)


def test_yaml_syntax_error_at_its_place():
    assert error(load_yaml, "f.yaml", "a: [1, 2\nb: 3") == \
        "f.yaml:2:2: error: invalid YAML: while parsing a flow sequence, expected ',' or ']', but got ':'"


@pytest.mark.parametrize("text,where", [
    ("a: 1\nb: !!int x\n", "f.yaml:2:4:"),
    ("a: 1\nb: !!int \n", "f.yaml:2:4:"),  # found by the fuzz: an IndexError inside PyYAML
    ("a: 1\nb: 2020-13-45\n", "f.yaml:2:4:"),
    ("a: " + "9" * 5000, "f.yaml:1:4:"),
    ("a: !!python/object:os.system x\n", "f.yaml:1:4:"),
    ("a: \x01\n", "f.yaml:1:4:"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2:1:"),
])
def test_bad_values_are_located(text, where):
    assert error(load_yaml, "f.yaml", text).startswith(where)


def test_a_key_given_twice_is_an_error_at_each_repeat():
    # PyYAML keeps the last value and drops the first without a word (a sample's second event: hid the first)
    with pytest.raises(MailwrightError) as e:
        load_yaml("s.yaml", "event: {a: 1}\nprofile: {x: 1, x: 2}\nevent: {b: 2}\n1: a\ntrue: b\n")
    assert [d.format() for d in e.value.diagnostics] == [
        "s.yaml:2:17: error: 'x' is given twice\ns.yaml:2:11: note: first given here",
        "s.yaml:3:1: error: 'event' is given twice\ns.yaml:1:1: note: first given here",
        "s.yaml:5:1: error: 'true' is the same key as '1'\ns.yaml:4:1: note: first given here",
    ]


def test_a_merged_key_may_be_given_again():
    assert load_yaml("s.yaml", "base: &b {x: 1, y: 1}\nm:\n  <<: *b\n  x: 2\n")[0]["m"] == {"x": 2, "y": 1}

def test_empty_yaml_is_none():
    assert load_yaml("f.yaml", "") == (None, None)
    assert load_yaml("f.yaml", "\ufeff# only a comment\n") == (None, None)


# ---------------------------------------------------------------- mailwright.toml and flows through the CLI

GOOD = '[project]\nname = "t"\nesps = ["klaviyo"]\ntheme = "clean"\n'


def project(tmp_path, toml: str | bytes | None = None, flows: dict | None = None, extra: str = ""):
    """A project of one template 'welcome' for Klaviyo; ``toml`` replaces its mailwright.toml."""
    make_project(tmp_path, {"welcome": text_email("Hello")}, extra, esps=("klaviyo",))
    if toml is not None:
        (tmp_path / "mailwright.toml").write_bytes(toml if isinstance(toml, bytes) else toml.encode())
    for name, text in (flows or {}).items():
        (tmp_path / "flows").mkdir(exist_ok=True)
        (tmp_path / "flows" / name).write_text(text)
    return tmp_path


def compile_errors(root, *args) -> list[str]:
    from click.testing import CliRunner

    from mailwright.cli import main

    r = CliRunner().invoke(main, ["compile", str(root), "--out", str(root / "build"), *args])
    assert r.exit_code in (0, 1), (r.exit_code, r.output, r.exception)
    return [line for line in r.stderr.splitlines() if ": error: " in line or ": note: " in line]


def test_config_with_bom_compiles(tmp_path):
    root = project(tmp_path)
    (root / "mailwright.toml").write_bytes(b"\xef\xbb\xbf" + (root / "mailwright.toml").read_bytes())
    assert compile_errors(root) == []
    assert (root / "build" / "klaviyo" / "welcome.html").exists()


def test_config_syntax_error_at_its_line(tmp_path):
    root = project(tmp_path, GOOD + "[segments]\nx = = 1\n")
    assert compile_errors(root) == [f"{root}/mailwright.toml:6:5: error: invalid TOML: Invalid value"]


def test_config_wrong_types_and_unknown_keys_all_at_their_lines(tmp_path):
    toml = ('[project]\nname = 1\nesps = "klaviyo"\nthem = "x"\n[segmets]\na = "1"\n[segments]\nb = 3\n'
            '[esp.klavio]\n[esp.hubspot]\nproperty = {}\n')
    c = f"{tmp_path}/mailwright.toml"
    assert compile_errors(project(tmp_path, toml)) == [
        f"{c}:2:8: error: project.name must be a string, not a number",
        f"{c}:3:8: error: project.esps must be a list of strings, not a string",
        f"{c}:4:1: error: unknown key 'them' in [project]: did you mean 'theme'? (known: name, esps, theme)",
        f"{c}:5:2: error: unknown section 'segmets': did you mean 'segments'? "
        "(known: project, segments, esp, compile, check, brand, signals, scoring, triggers)",
        f"{c}:8:5: error: b in [segments] must be a string, not a number",
        f"{c}:9:2: error: unknown ESP 'klavio': did you mean 'klaviyo'? (known: activecampaign, hubspot, klaviyo)",
        f"{c}:11:1: error: unknown key 'property' in [esp.hubspot]: did you mean 'properties'? "
        "(known: events, properties)",
    ]


def test_config_nested_by_dotted_keys_is_an_input_error_not_an_internal_one(tmp_path):
    root = project(tmp_path, GOOD + "[check." + ".".join(["a"] * 2000) + "]\n")  # was exit 70 (RecursionError)
    assert compile_errors(root) == [f"{root}/mailwright.toml:5:207: error: nested more than 100 levels deep"]


def test_project_that_is_not_a_table(tmp_path):
    assert compile_errors(project(tmp_path, "project = 1\n")) == \
        [f"{tmp_path}/mailwright.toml:1:11: error: [project] is a table, not a number"]


def test_empty_esps_is_one_error(tmp_path):
    errors = compile_errors(project(tmp_path, '[project]\nname = "t"\nesps = []\n'))
    assert errors == [f"{tmp_path}/mailwright.toml:3:8: error: [project] esps is empty: name at least one ESP "
                      "(activecampaign, hubspot, klaviyo)"]


def test_config_that_is_a_folder(tmp_path):
    (tmp_path / "mailwright.toml").mkdir()
    assert compile_errors(tmp_path) == [f"{tmp_path}/mailwright.toml: error: expected a configuration file, "
                                        "found a folder"]


def test_empty_folder_names_the_folder(tmp_path):
    assert compile_errors(tmp_path) == [f"{tmp_path}: error: no mailwright.toml in this folder or any folder "
                                        "above it (a project is a folder with mailwright.toml and templates/)"]


def test_template_with_bom_and_template_with_bad_utf8(tmp_path):
    root = project(tmp_path)
    f = root / "templates" / "welcome.mjml"
    good = f.read_bytes()
    f.write_bytes(b"\xef\xbb\xbf" + good)
    assert compile_errors(root) == []
    f.write_bytes(good.replace(b"Hello", b"He\xe9llo"))
    col = good.index(b"Hello") + 3
    assert compile_errors(root) == [f"{f}:1:{col}: error: not valid UTF-8 (byte 0xe9)"]


FLOW = "name: {name}\ntrigger:\n  event: cart_abandoned\nsteps:\n  - wait: {wait}\n  - send: welcome\n"
EVENTS = '[esp.klaviyo.events]\ncart_abandoned = "Cart Abandoned"\n'


@pytest.mark.parametrize("name,wait,error", [
    ("[a, b]", "30m", "1:7: error: name is text, as name: Abandoned cart; this is a list"),
    ('""', "30m", "1:8: error: name is empty; write it as name: Abandoned cart"),
    ("12", "30m", "1:7: error: name is text, as name: Abandoned cart; this is a number"),
    ("Cart", "99999999999999999999d", "5:11: error: duration '99999999999999999999d' is longer than a year "
                                      "(at most 365d or 52w)"),
    ("Cart", "[1]", "5:11: error: a duration is a whole number and a unit, as 45s, 30m, 4h, 2d or 1w"),
])
def test_flow_values_are_checked(tmp_path, name, wait, error):
    root = project(tmp_path, None, {"a.yaml": FLOW.format(name=name, wait=wait)}, EVENTS)
    assert compile_errors(root) == [f"{root}/flows/a.yaml:{error}"]


def test_two_flows_of_one_name(tmp_path):
    root = project(tmp_path, None, {"a.yaml": FLOW.format(name="Cart", wait="1h"),
                                    "b.yaml": FLOW.format(name="Cart", wait="2h")}, EVENTS)
    assert compile_errors(root) == [
        f"{root}/flows/b.yaml:1:7: error: another flow is named 'Cart'; flow names must differ",
        f"{root}/flows/a.yaml:1:7: note: the first is here",
    ]


def test_flow_alias_bomb_is_refused(tmp_path):
    root = project(tmp_path, None, {"a.yaml": billion_laughs() + FLOW.format(name="x", wait="1h")}, EVENTS)
    started = time.perf_counter()
    errors = compile_errors(root)
    assert time.perf_counter() - started < 5
    assert len(errors) == 1 and "aliases expand to more than 100,000 values" in errors[0]


# ---------------------------------------------------------------- check --json and preview's port

def check_json(*args, **kw):
    import json

    from click.testing import CliRunner

    from mailwright.cli import main

    r = CliRunner().invoke(main, ["check", *map(str, args), "--json"], **kw)
    return r.exit_code, json.loads(r.stdout)  # exactly one document: json.loads refuses anything more


def test_check_json_answers_a_missing_folder(tmp_path):
    code, doc = check_json(tmp_path / "nope")
    assert code == 2 and doc["ok"] is False and "does not exist" in doc["usage_error"]


def test_check_json_answers_an_input_error_with_its_place(tmp_path):
    root = project(tmp_path, GOOD + "x = = 1\n")
    code, doc = check_json(root)
    assert code == 1 and doc["ok"] is False
    assert [(f["path"].endswith("mailwright.toml"), f["line"], f["col"]) for f in doc["findings"]] == [(True, 5, 5)]


def test_check_json_answers_an_internal_error(tmp_path, monkeypatch):
    import mailwright.check

    def broken(*args):  # a stand-in for a bug: the wrapper's contract is what is tested here
        raise RuntimeError("boom")

    monkeypatch.setattr(mailwright.check, "check_project", broken)
    monkeypatch.delenv("MAILWRIGHT_DEBUG", raising=False)
    code, doc = check_json(project(tmp_path))
    assert code == 70 and doc == {"ok": False, "findings": [], "checked": {}, "internal_error": "RuntimeError: boom"}


def test_preview_port_out_of_range_is_a_usage_error(tmp_path):
    from click.testing import CliRunner

    from mailwright.cli import main

    r = CliRunner().invoke(main, ["preview", str(project(tmp_path)), "--port", "80000"])
    assert r.exit_code == 2 and "80000 is not in the range 0<=x<=65535" in r.output


def test_toml_an_array_of_tables_header_nests_as_a_table_header_does():
    def key(parts: int) -> str:
        return ".".join(["a"] * parts)

    assert load_toml("m.toml", f"[{key(101)}]\nx = 1\n") and load_toml("m.toml", f"[[{key(101)}]]\nx = 1\n")
    assert error(load_toml, "m.toml", f"[[{key(102)}]]\nx = 1\n").startswith("m.toml:1:204: error: nested more than")
