"""Start-up: ``mailwright --help`` and ``--version`` import no engine, no HTTP client, no command module
(structural, not timed: what a start imports is what it costs)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from mailwright.cli import main

HEAVY = ("mjml", "css_inline", "jinja2", "requests", "yaml", "django", "bs4", "selectolax", "jsonschema",
         "mailwright.compile", "mailwright.check", "mailwright.sendtest", "mailwright.push", "mailwright.signals",
         "mailwright.preview", "mailwright.dialect", "mailwright_connectors")

PROBE = """
import json, sys
from mailwright.cli import main
try:
    main([sys.argv[1]], prog_name="mailwright")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def imported_by(arg: str) -> set[str]:
    p = subprocess.run([sys.executable, "-c", PROBE, arg], capture_output=True, text=True, check=True)
    return set(json.loads(p.stderr.splitlines()[-1]))


@pytest.mark.parametrize("arg", ["--help", "--version"])
def test_help_and_version_import_nothing_heavy(arg):
    loaded = imported_by(arg)
    assert "mailwright.cli" in loaded  # the probe ran the real entry point
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []


def test_help_lists_every_command_as_its_own_help_says():
    """The one-line summaries --help shows without importing the commands are theirs, word for word."""
    shown = CliRunner().invoke(main, ["--help"], terminal_width=80).output
    ctx = click.Context(main, info_name="mailwright", terminal_width=80)
    formatter = ctx.make_formatter()
    click.Group.format_commands(main, ctx, formatter)  # click's own: imports each command for its help
    assert formatter.getvalue() and formatter.getvalue() in shown
    for name, module in main.LAZY.items():  # and none is left to be imported for --help
        assert name in main.SUMMARY
        cmd = importlib.import_module(module).command
        assert " ".join(cmd.help.split("\n\n")[0].split()) == main.SUMMARY[name]


COMPILE_PROBE = """
import json, sys, pathlib
from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.project import load_project
result = compile_project(load_project(pathlib.Path(sys.argv[1]), list(load_connectors())))
assert result.outputs and not result.errors, [d.format() for d in result.errors]
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def test_a_compile_imports_no_api_client_nor_html_parser(tmp_path):
    """The connectors' API clients (requests), relay deliveries and flow translations, and the reference
    renderers' parsers, are imported when used, not to compile a project without flows."""
    from tests.conftest import make_project, text_email

    root = make_project(tmp_path / "p", {"welcome": text_email("Hi {{ profile.first_name }}")})
    p = subprocess.run([sys.executable, "-c", COMPILE_PROBE, str(root)], capture_output=True, text=True, check=True)
    loaded = set(json.loads(p.stderr.splitlines()[-1]))
    assert "mjml" in loaded and "mailwright_connectors.klaviyo.dialect" in loaded  # it did compile
    lazy = ("requests", "urllib3", "bs4", "django", "mailwright.transport", "mailwright.push", "importlib.metadata")
    parts = [f"mailwright_connectors.{esp}.{part}" for esp in ("klaviyo", "hubspot", "activecampaign")
             for part in ("client", "events", "flows")]
    assert sorted(m for m in loaded if m in parts or any(m == h or m.startswith(h + ".") for h in lazy)) == []


@pytest.mark.parametrize("group", ["mailwright.esps", "console_scripts", "pytest11"])
def test_entry_points_are_found_as_importlib_metadata_finds_them(group, tmp_path, monkeypatch):
    from importlib.metadata import entry_points as metadata_entry_points

    from mailwright.entrypoints import _scan, entry_points

    want = [(e.name, e.value) for e in metadata_entry_points(group=group)]
    assert want and [(e.name, e.value) for e in entry_points(group)] == want
    archive = tmp_path / "lib.zip"  # a sys.path entry that is no folder: importlib.metadata is asked
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    monkeypatch.setattr(sys, "path", [str(archive), *sys.path])
    assert _scan(group) is None and [(e.name, e.value) for e in entry_points(group)] == want


def test_entry_points_of_made_up_distributions_as_importlib_metadata_reads_them(tmp_path, monkeypatch):
    """Names that normalize alike (the first listed wins), comments, blank lines and spaces; a single-file
    egg-info sends the question to importlib.metadata."""
    from importlib.metadata import entry_points as metadata_entry_points

    from mailwright.entrypoints import _scan, entry_points

    site, other = tmp_path / "site", tmp_path / "other"
    dists = {site: {"Foo_Bar-1.0.dist-info": "[g]\n# a = not.this\n\n  one =  pkg.one : f  \n",
                    "baz-2.egg-info": "[other]\nx = no\n[g]\ntwo=pkg.two\n"},
             other: {"foo.bar-3.0.dist-info": "[g]\nshadowed = pkg.three\n"}}
    for folder, infos in dists.items():
        for name, text in infos.items():
            (folder / name).mkdir(parents=True)
            (folder / name / "entry_points.txt").write_text(text)
    monkeypatch.setattr(sys, "path", [str(site), str(other)])
    want = [(e.name, e.value) for e in metadata_entry_points(group="g")]
    assert sorted(want) == [("one", "pkg.one : f"), ("two", "pkg.two")]
    assert [(e.name, e.value) for e in entry_points("g")] == want
    (other / "single.egg-info").write_text("Name: single\n")
    assert _scan("g") is None


def test_an_entry_point_loads_its_object():
    from mailwright.dialect import Connector
    from mailwright.entrypoints import EntryPoint

    assert isinstance(EntryPoint("k", "mailwright_connectors.klaviyo:connector").load(), Connector)
    assert EntryPoint("c", "mailwright.cli:main.name [extra]").load() == "main"


CLI_PROBE = """
import gc, json, sys
from mailwright.cli import run
sys.argv = ["mailwright", "compile", sys.argv[1], "--esp", "klaviyo", "--no-cache"]
try:
    run()
except SystemExit as e:
    assert not e.code, e.code
print(json.dumps({"modules": sorted(sys.modules), "frozen": gc.get_freeze_count(),
                  "gen0": gc.get_threshold()[0], "gc": gc.isenabled()}), file=sys.stderr)
"""

FLOW = "name: F\ntrigger:\n  event: placed_order\nsteps:\n  - wait: 1h\n  - send: welcome\n"


def cli_compile(root) -> dict:
    p = subprocess.run([sys.executable, "-c", CLI_PROBE, str(root)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stderr.splitlines()[-1])


def test_a_compile_without_flows_imports_no_yaml_nor_flow_modules(tmp_path):
    """PyYAML, mailwright.flows and the diagrams (≈ 15 ms of a start) load for a project that has flows
    (or [signals]), not for one without; nor the [signals] reader without [signals], the build cache
    with --no-cache, or importlib.resources to find the built-in components."""
    from tests.conftest import make_project, text_email

    lazy = ("yaml", "mailwright.flows", "mailwright.flowviz")
    root = make_project(tmp_path / "p", {"welcome": text_email("Hi {{ profile.first_name }}")})
    loaded = cli_compile(root)["modules"]
    assert "mjml" in loaded and "mailwright.signals.contract" in loaded  # it did compile, with its plan
    assert [m for m in loaded if m.split(".")[0] == "yaml" or m in lazy] == []
    assert [m for m in loaded if m in ("mailwright.signals.config", "mailwright.cache", "importlib.resources")] == []
    (root / "flows").mkdir()
    (root / "flows" / "f.yaml").write_text(FLOW)
    loaded = cli_compile(root)["modules"]
    assert set(lazy) <= set(loaded)
    assert (root / "build" / "klaviyo" / "flows" / "f.json").is_file()


def test_signals_without_flows_import_the_flow_modules_but_not_yaml(tmp_path):
    """[signals] reads event names and durations of mailwright.flows; PyYAML only a flow file needs."""
    from tests.conftest import make_project, text_email

    root = make_project(tmp_path / "p", {"welcome": text_email("Hi {{ event.views | default(0) }}")},
                        toml='[signals]\nviews = "count(product_viewed, 7d)"\n')
    loaded = cli_compile(root)["modules"]
    assert "mailwright.flows" in loaded and not [m for m in loaded if m.split(".")[0] == "yaml"]
    assert "mailwright.signals.config" in loaded


def test_the_console_entry_point_leaves_its_objects_to_the_exit(tmp_path):
    """run(): few young collections while it builds what it keeps, none while it compiles, and none of
    the objects made walked again by the exit's collections (frozen when the command exits); main()
    called in-process (a test, a library user) leaves the collector as it was."""
    from tests.conftest import make_project, text_email

    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")})
    probe = cli_compile(root)
    assert probe["frozen"] > 10_000 and probe["gen0"] >= 50_000 and probe["gc"] is False
    import gc

    before = gc.get_threshold(), gc.get_freeze_count()
    assert CliRunner().invoke(main, ["compile", str(root), "--esp", "klaviyo", "--no-cache"]).exit_code == 0
    assert gc.isenabled() and (gc.get_threshold(), gc.get_freeze_count()) == before


def test_the_built_in_components_are_read_when_a_template_uses_one(tmp_path, monkeypatch):
    """load_project reads the project's own components (their mistakes are its errors) and none of the
    built-in ones; a compile reads those its templates use; the project's own win over a built-in name."""
    import mailwright.project as project_module
    from mailwright.compile import compile_project
    from mailwright.dialect import load_connectors
    from mailwright.project import builtin_dir, load_project
    from tests.conftest import make_project, text_email

    read: list[str] = []
    real = project_module.load_component
    monkeypatch.setattr(project_module, "load_component", lambda f: read.append(f.stem) or real(f))
    own = '<x-component title="T"><mj-section><mj-column><mj-text>[[ title ]]</mj-text></mj-column></mj-section></x-component>'
    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")}, components={"hero": own, "card": own})
    proj = load_project(root, list(load_connectors()))
    assert read == ["card", "hero"]
    builtin = sorted(f.stem for f in builtin_dir("components").glob("*.mjml"))
    assert list(proj.components) == [*builtin, "card"] and len(proj.components) == len(builtin) + 1
    assert proj.components["hero"].path == str(root / "components" / "hero.mjml") and "nope" not in proj.components
    result = compile_project(proj, ["klaviyo"])
    assert result.outputs and not result.errors
    assert read[2:] == ["footer"]  # the one text_email ends with, read once


def test_an_entry_points_file_longer_than_one_read_is_read_whole(tmp_path, monkeypatch):
    from importlib.metadata import entry_points as metadata_entry_points

    from mailwright.entrypoints import entry_points

    info = tmp_path / "big-1.0.dist-info"
    info.mkdir()
    filler = "".join(f"x{i} = pkg.x{i}\n" for i in range(10_000))  # ≈ 150 KB before the group
    (info / "entry_points.txt").write_text(f"[other]\n{filler}[g]\nlast = pkg.last\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert [(e.name, e.value) for e in entry_points("g")] == [("last", "pkg.last")]
    assert [(e.name, e.value) for e in metadata_entry_points(group="g")] == [("last", "pkg.last")]


def test_compliance_tokens_are_found_anywhere_in_the_page_as_a_whole_page_search_finds_them():
    """check_compliance searches the page's end first (where the footer is), then the whole page: a token
    near the top still counts, and an anchored pattern reads the page, not its end alone."""
    from types import SimpleNamespace

    from mailwright.compile import _TAIL, check_compliance
    from mailwright.errors import MailwrightError, Pos

    d = SimpleNamespace(label="X", name="x", COMPLIANCE=[(r"\{%\s*unsubscribe\b", "the unsubscribe tag"),
                                                        (r"^<!doctype", "a doctype first")])
    t = SimpleNamespace(pos=Pos("t.mjml", 1, 1))
    filler = "<p>copy</p>" * (_TAIL // 5)
    check_compliance(d, t, "<!doctype html>{% unsubscribe %}" + filler)  # both far from the end
    check_compliance(d, t, "<!doctype html>" + filler + "{% unsubscribe %}")
    page = "z" * _TAIL + "<!doctype html>" + "z" * (_TAIL - 15 - 17) + "{% unsubscribe %}"
    assert len(page) - _TAIL == _TAIL  # the end searched first starts right at that doctype: not the page's start
    with pytest.raises(MailwrightError) as e:
        check_compliance(d, t, page)
    assert "lacks a doctype first;" in e.value.diagnostic.message
    with pytest.raises(MailwrightError) as e:
        check_compliance(d, t, filler)
    assert "lacks the unsubscribe tag and a doctype first;" in e.value.diagnostic.message


def test_what_a_compile_keeps_goes_to_the_oldest_generation_unwalked(tmp_path):
    """Each template's outputs move to the oldest generation when it is done (no young collection walks
    them); objects a caller froze stay frozen."""
    import gc

    from mailwright.compile import compile_project
    from mailwright.dialect import load_connectors
    from mailwright.project import load_project
    from tests.conftest import make_project, text_email

    root = make_project(tmp_path / "p", {"a": text_email("Hi"), "b": text_email("Hello")})
    proj = load_project(root, list(load_connectors()))
    result = compile_project(proj, ["klaviyo"])
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert len(result.outputs) == 2 and all(id(o) in oldest for o in result.outputs)
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        compile_project(proj, ["klaviyo"])
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
