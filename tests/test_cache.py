"""The build cache (mailwright.cache): each input invalidates what depends on it and nothing
else; a hit gives the very bytes, warnings and errors of a fresh compile; a damaged entry is
never trusted; --no-cache bypasses it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailwright import cache as cache_mod
from mailwright.cache import CACHE_DIR, BuildCache
from mailwright.cli import main
from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.project import builtin_dir, load_project

CONFIG = """[project]
name = "tiny"
esps = ["klaviyo", "hubspot"]
theme = "mine"

[brand]
company = "Tiny Co."
help_url = ""

[esp.hubspot.properties]
"event.item" = "item"

[esp.hubspot.events]
placed_order = "pe_placed_order"
cart_updated = "pe_cart_updated"

[esp.klaviyo.events]
cart_updated = "Cart Updated"
"""

TEMPLATE = """<mjml>
  <mj-head><mw-subject>Hello {name} {{{{ profile.first_name | default("you") }}}}</mw-subject></mj-head>
  <mj-body>
    {extra}
    <mj-section><mj-column><mj-text>Body {name}</mj-text></mj-column></mj-section>
    <x-footer/>
  </mj-body>
</mjml>
"""

EXTRA = {
    "a": '<x-card title="Card A"/><mj-include path="../partials/note.mjml"/>',
    "b": '<mj-section><mj-column><mj-text>{{ profile.city | title }}</mj-text></mj-column></mj-section>',
    "c": '<mj-section><mj-column><mj-text>{{ event.item | upper }}</mj-text></mj-column></mj-section>',
}

FLOW = """name: F
trigger:
  event: placed_order
steps:
  - wait: 1h
  - send: c
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_tiny(tmp_path)


def make_tiny(tmp_path: Path) -> Path:
    """Three templates: a uses a component and an include, b warns (title is approximated),
    c is sent by a flow; a theme of the project's own."""
    root = tmp_path / "tiny"
    for d in ("templates", "components", "partials", "themes", "flows"):
        (root / d).mkdir(parents=True)
    (root / "mailwright.toml").write_text(CONFIG)
    shutil.copy(builtin_dir("themes") / "clean.toml", root / "themes" / "mine.toml")
    (root / "components" / "card.mjml").write_text(
        '<x-component title="Card">\n  <mj-section><mj-column><mj-text>[[ title ]]</mj-text></mj-column>'
        "</mj-section>\n</x-component>\n")
    (root / "partials" / "note.mjml").write_text(
        "<mj-section><mj-column><mj-text>A note</mj-text></mj-column></mj-section>\n")
    for name, extra in EXTRA.items():
        (root / "templates" / f"{name}.mjml").write_text(TEMPLATE.format(name=name, extra=extra))
    (root / "flows" / "f.yaml").write_text(FLOW)
    return root


def build(root: Path, esps: list[str] | None = None) -> BuildCache:
    """One compile through the cache, in this process; the cache tells what it rebuilt."""
    cache = BuildCache(root, root / "build" / CACHE_DIR)
    with cache.recording():
        proj = load_project(root, list(load_connectors()))
        result = compile_project(proj, esps, cache)
    assert not result.errors, [d.format() for d in result.errors]
    cache.flush()
    return cache


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def rebuilt(root: Path, esps: list[str] | None = None) -> tuple[set[str], set[str]]:
    c = build(root, esps)
    return set(c.rebuilt), set(c.translated)


ALL = {"a", "b", "c"}
FLOWS = {"klaviyo/f", "hubspot/f"}


def test_nothing_changed_rebuilds_nothing(project: Path) -> None:
    assert rebuilt(project) == (ALL, FLOWS)
    assert rebuilt(project) == (set(), set())
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []  # nothing staged is left


CHANGES = [
    (lambda r: edit(r / "templates/b.mjml", "Body b", "Body B"), ({"b"}, set())),
    # c's output feeds the flow: the flow is translated again
    (lambda r: edit(r / "templates/c.mjml", "Body c", "Body C"), ({"c"}, FLOWS)),
    (lambda r: edit(r / "components/card.mjml", "[[ title ]]", "[[ title ]]!"), ({"a"}, set())),
    (lambda r: edit(r / "partials/note.mjml", "A note", "A new note"), ({"a"}, set())),
    (lambda r: edit(r / "themes/mine.toml", "#", "#0", ), (ALL, FLOWS)),
    (lambda r: edit(r / "mailwright.toml", 'company = "Tiny Co."', 'company = "Tiny Ltd."'), (ALL, FLOWS)),
    # the flow's wait changes: only the flow; its trigger changes: the template it sends, and the flow
    (lambda r: edit(r / "flows/f.yaml", "wait: 1h", "wait: 2h"), (set(), FLOWS)),
    (lambda r: edit(r / "flows/f.yaml", "placed_order", "cart_updated"), ({"c"}, FLOWS)),
    # a new template, a new unused component: only the new template
    (lambda r: (r / "templates/d.mjml").write_text(TEMPLATE.format(name="d", extra="")), ({"d"}, set())),
    (lambda r: (r / "components/unused.mjml").write_text("<x-component><mj-raw/></x-component>"), (set(), set())),
    # a component of the project's own that stands in for the built-in footer: everything uses it
    # (a copy: the outputs are the same, so the flow, which reads only them, is not translated again)
    (lambda r: shutil.copy(builtin_dir("components") / "footer.mjml", r / "components/footer.mjml"), (ALL, set())),
    # a template renamed is compiled under its new name; one deleted, nothing; the config written again
    # as it was (new times, same bytes), nothing
    (lambda r: (r / "templates/b.mjml").rename(r / "templates/z.mjml"), ({"z"}, set())),
    (lambda r: (r / "templates/b.mjml").unlink(), (set(), set())),
    (lambda r: (r / "mailwright.toml").write_text((r / "mailwright.toml").read_text()), (set(), set())),
]
CHANGE_IDS = ["template", "sent-template", "component", "include", "theme", "config", "flow", "trigger",
              "new-template", "new-component", "shadowing-component", "renamed-template", "deleted-template",
              "config-rewritten"]


@pytest.mark.parametrize("change, expected", CHANGES, ids=CHANGE_IDS)
def test_each_input_invalidates_what_depends_on_it(project: Path, change, expected) -> None:
    build(project)
    change(project)
    assert rebuilt(project) == expected
    assert rebuilt(project) == (set(), set())  # and the new state is cached in turn


@pytest.mark.parametrize("change", [c for c, _ in CHANGES], ids=CHANGE_IDS)
def test_after_each_edit_the_cache_gives_what_a_fresh_compile_gives(project: Path, tmp_path: Path, change) -> None:
    cli(str(project))
    change(project)
    cached = cli(str(project))
    fresh = cli(str(project), "--no-cache", "--out", str(tmp_path / "fresh"))
    assert cached[0] == fresh[0] == 0
    assert cached[1].replace(str(project / "build"), "OUT") == fresh[1].replace(str(tmp_path / "fresh"), "OUT")
    assert cached[2] == fresh[2]
    assert tree(project / "build") == tree(tmp_path / "fresh")


def test_an_include_without_suffix_sees_the_file_that_would_now_be_read(project: Path) -> None:
    (project / "templates/d.mjml").write_text(TEMPLATE.format(name="d", extra='<mj-include path="../partials/note"/>'))
    cli(str(project))  # reads partials/note.mjml: there is no partials/note
    (project / "partials/note").write_text("<mj-section><mj-column><mj-text>Other</mj-text></mj-column></mj-section>")
    assert rebuilt(project) == ({"d", "a"}, set())  # a includes note.mjml by its full name: checked all the same
    code, _, err = cli(str(project))
    assert code == 0, err
    assert b"Other" in (project / "build/klaviyo/d.html").read_bytes()


def test_a_theme_of_the_projects_own_stands_in_for_a_built_in_one(project: Path, tmp_path: Path) -> None:
    """mw-theme="bold" reads the built-in theme until themes/bold.toml exists: the template that
    names it is compiled again (its entry lists only the built-in file it read)."""
    (project / "templates/d.mjml").write_text(TEMPLATE.format(name="d", extra="").replace("<mjml>", '<mjml mw-theme="bold">'))
    assert cli(str(project))[0] == 0
    shutil.copy(builtin_dir("themes") / "clean.toml", project / "themes" / "bold.toml")
    assert cli(str(project))[0] == 0
    assert cli(str(project), "--no-cache", "--out", str(tmp_path / "fresh"))[0] == 0
    assert tree(project / "build") == tree(tmp_path / "fresh")


def test_a_flow_sending_another_template(project: Path) -> None:
    build(project)
    (project / "flows/g.yaml").write_text(FLOW.replace("name: F", "name: G").replace("send: c", "send: b"))
    assert rebuilt(project) == ({"b"}, {"klaviyo/g", "hubspot/g"})  # b gets a trigger; f is as it was


@pytest.mark.parametrize("change, planned", [
    (lambda r: None, 0),
    (lambda r: edit(r / "templates/b.mjml", "Body b", "Body B"), 0),  # b is sent by no flow
    (lambda r: edit(r / "templates/c.mjml", "Body c", "{{ profile.total }}"), 1),
    (lambda r: edit(r / "flows/f.yaml", "wait: 1h", "wait: 2h"), 1),
    (lambda r: edit(r / "mailwright.toml", "[brand]", "# a comment\n[brand]"), 1),
], ids=["nothing", "unsent-template", "sent-template", "flow", "config-text"])
def test_the_tracking_plan_is_made_again_when_what_it_reads_changes(project: Path, change, planned) -> None:
    build(project)
    change(project)
    assert build(project).plans_built == planned


def test_a_comment_in_the_config_moves_every_position_in_it(project: Path) -> None:
    build(project)
    edit(project / "mailwright.toml", "[brand]", "# a comment\n[brand]")
    assert rebuilt(project) == (ALL, FLOWS)


def test_esp_set(project: Path) -> None:
    build(project)
    # one render serves every ESP of a run: a template entry is per ESP set (the flow, which reads
    # only its outputs, is the same for Klaviyo alone)
    assert rebuilt(project, ["klaviyo"]) == (ALL, set())
    assert rebuilt(project) == (set(), set())  # both sets stay cached
    assert rebuilt(project, ["klaviyo"]) == (set(), set())


def test_mailwright_version_and_code(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build(project)
    monkeypatch.setattr(cache_mod, "_code", None)
    monkeypatch.setattr(cache_mod, "__version__", "99.0")
    assert rebuilt(project) == (ALL, FLOWS)
    monkeypatch.setattr(cache_mod, "_code", "another code digest")
    assert rebuilt(project) == (ALL, FLOWS)


def test_tree_digest_sees_a_changed_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.py").write_text("x = 1\n")
    first = cache_mod.tree_digest(str(tmp_path))
    monkeypatch.setattr(cache_mod, "_trees", {})
    (tmp_path / "m.py").write_text("x = 2\n")
    assert cache_mod.tree_digest(str(tmp_path)) != first


def _entries(root: Path, prefix: str) -> list[Path]:
    return sorted((root / "build" / CACHE_DIR).glob(f"{prefix}-*.json"))


@pytest.mark.parametrize("damage", [
    lambda b: b[:-20],  # truncated
    lambda b: b.replace(b"Body", b"Bodx", 1),  # a byte changed
    lambda b: b"garbage",
    lambda b: b"",
    lambda b: b.split(b"\n", 1)[0] + b"\n[1, 2]",  # a digest line of another content
], ids=["truncated", "tampered", "garbage", "empty", "wrong-digest"])
def test_a_damaged_entry_is_rebuilt_never_trusted(project: Path, damage) -> None:
    build(project)
    for entry in _entries(project, "t"):
        entry.write_bytes(damage(entry.read_bytes()))
    assert rebuilt(project) == (ALL, set())
    assert rebuilt(project) == (set(), set())


def _rewrite(entry: Path, change) -> None:
    """An entry changed, with a digest that matches (as if mailwright had written it)."""
    header, _, blobs = entry.read_bytes().partition(b"\n")[2].partition(b"\n")
    body = json.loads(header)
    change(body)
    data = json.dumps(body).encode() + b"\n" + blobs
    entry.write_bytes(cache_mod.MAGIC + cache_mod._sha(data).encode() + b"\n" + data)


@pytest.mark.parametrize("change", [
    lambda e: e.update(deps=3),
    lambda e: e.update(components=[]),
    lambda e: e["outputs"][0].update(html=None),
    lambda e: e["outputs"][0].pop("text"),
    lambda e: e["outputs"][0].update(html=99),
    lambda e: e.update(blobs=[1, 2]),
    lambda e: e.update(blobs=[-1] + e["blobs"][1:]),
    lambda e: e.update(blobs=[*e["blobs"][:-1], e["blobs"][-1] - 1]),  # every length readable, one byte left over
    lambda e: e.update(diagnostics=[[["x", "1", 1], "m", "warning", [], None, None]]),
    lambda e: e.update(diagnostics=[[["x", 1, 1], "m", "warning", [], None, ["only", "two"]]]),
    lambda e: e.update(diagnostics=[[["x", 1, 1], 3, "warning", [], None, None]]),
    lambda e: e.update(diagnostics=[[["x", 1, 1], "m", "warning", [["x", 1, 1]], None, None]]),
    lambda e: e.clear(),
], ids=["deps", "components", "html", "missing", "blob-index", "blob-lengths", "negative-length", "short-lengths",
        "line",
        "mapping", "message", "note-without-message", "empty"])
def test_an_entry_of_a_valid_digest_but_another_shape_is_ignored(project: Path, change) -> None:
    build(project)
    for entry in _entries(project, "t"):
        _rewrite(entry, change)
    assert rebuilt(project) == (ALL, set())


@pytest.mark.parametrize("change", [
    lambda e: e.update(templates="3"),
    lambda e: e.update(esps=[1]),
    lambda e: e.update(outputs=None),
    lambda e: e.update(diagnostics=[["no"]]),
    lambda e: e.update(deps=[]),
], ids=["templates", "esps", "outputs", "diagnostics", "deps"])
def test_a_project_entry_of_another_shape_is_ignored(project: Path, change) -> None:
    first = cli(str(project))
    for entry in _entries(project, "p"):
        _rewrite(entry, change)
    assert cli(str(project)) == first


@pytest.mark.parametrize("prefix, change", [
    ("l", lambda e: e.update(schemas={"placed_order": 5})),
    ("l", lambda e: e.update(schemas={"placed_order": []})),
    ("l", lambda e: e.update(schemas=[])),
    ("f", lambda e: e.update(files={"f.json": 5})),
    ("f", lambda e: e.update(diagnostics={})),
], ids=["schema-number", "schema-list", "schemas-list", "file-number", "diagnostics"])
def test_a_flow_or_plan_entry_of_another_shape_is_ignored(project: Path, tmp_path: Path, prefix: str, change) -> None:
    cli(str(project))
    for entry in _entries(project, prefix):
        _rewrite(entry, change)
    edit(project / "templates/b.mjml", "Body b", "Body B")  # the project entry misses; the flows' and plan's hit
    assert cli(str(project))[0] == 0
    assert cli(str(project), "--no-cache", "--out", str(tmp_path / "fresh"))[0] == 0
    assert tree(project / "build") == tree(tmp_path / "fresh")


def cli(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["compile", *args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, re.sub(r" in \d+\.\d\ds", " in Xs", r.stdout), r.stderr


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).parts[0] != CACHE_DIR}


@pytest.mark.parametrize("as_json", [False, True])
def test_output_is_the_same_cold_warm_partial_and_uncached(project: Path, tmp_path: Path, as_json: bool) -> None:
    flag = ["--json"] if as_json else []
    runs = {}
    for label in ("cold", "warm", "partial", "no-cache"):
        if label == "partial":  # the project entry misses (a component added), the template entries hit
            (project / "components" / "unused.mjml").write_text("<x-component><mj-raw/></x-component>")
        out = tmp_path / "out"
        extra = ["--no-cache"] if label == "no-cache" else []
        code, stdout, stderr = cli(str(project), "--out", str(out), *flag, *extra)
        assert code == 0, stderr
        runs[label] = (stdout, stderr, tree(out))
    assert "Klaviyo: filter title is approximated" in runs["cold"][0 if as_json else 1]
    assert runs["warm"] == runs["cold"]
    assert runs["partial"] == runs["cold"]
    assert runs["no-cache"] == runs["cold"]


def test_errors_are_the_same_from_the_cache(project: Path) -> None:
    edit(project / "mailwright.toml", '"event.item" = "item"\n', "")
    first = cli(str(project))
    assert first[0] == 1 and "cannot express the event property event.item" in first[2]
    assert cli(str(project)) == first
    assert not (project / "build").exists()  # a run that fails writes nothing, the cache neither
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []  # nor leaves what it staged


def test_a_failing_run_leaves_the_cache_as_it_was(project: Path) -> None:
    cli(str(project))
    before = sorted(p.name for p in (project / "build" / CACHE_DIR).iterdir())
    edit(project / "templates/b.mjml", "Body b", "Body b {{ event.nope }}")  # HubSpot cannot write it
    edit(project / "templates/a.mjml", "Body a", "Body A")  # compiles: still not cached by a failed run
    assert cli(str(project))[0] == 1
    assert sorted(p.name for p in (project / "build" / CACHE_DIR).iterdir()) == before
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []


def test_no_cache_bypasses_it(project: Path) -> None:
    assert cli(str(project), "--no-cache")[0] == 0
    assert not (project / "build" / CACHE_DIR).exists()  # nothing written
    cli(str(project))
    fresh = tree(project / "build")
    # an entry whose digest is right but whose content is not what compiling gives: --no-cache does not read it
    for entry in _entries(project, "t"):
        head, _, body = entry.read_bytes().partition(b"\n")
        body = body.replace(b"Body a", b"BODY A")  # the same length: the texts stay where the entry says
        entry.write_bytes(cache_mod.MAGIC + cache_mod._sha(body).encode() + b"\n" + body)
    (project / "build/klaviyo/b.html").unlink()  # the build is not in place: written from the entries
    cli(str(project))
    assert b"BODY A" in (project / "build/klaviyo/a.html").read_bytes()  # proof the entry is read …
    cli(str(project), "--no-cache")
    assert tree(project / "build") == fresh  # … and bypassed


def test_an_unchanged_build_is_left_in_place_and_a_changed_one_rewritten(project: Path) -> None:
    cli(str(project))
    html = project / "build/klaviyo/b.html"
    before = (html.stat().st_mtime_ns, tree(project / "build"))
    assert cli(str(project))[0] == 0
    assert (html.stat().st_mtime_ns, tree(project / "build")) == before  # not written again
    html.write_text("edited by hand")
    assert cli(str(project))[0] == 0
    assert tree(project / "build") == before[1]


def test_the_build_just_written_is_recorded_as_written_so_the_next_compile_leaves_it(project: Path) -> None:
    """The project entry takes the digests of the build from what mailwright.output wrote (not read back)."""
    cli(str(project))
    edit(project / "templates/b.mjml", "Body b", "Body b2")
    assert cli(str(project))[0] == 0
    folder = (project / "build").stat().st_ino  # a build written again is a new folder swapped in
    assert cli(str(project))[0] == 0
    assert (project / "build").stat().st_ino == folder
    assert cache_mod._written(project / "build") == cache_mod.build_digests(project / "build")
    assert cache_mod._written(project) == cache_mod.build_digests(project)  # another folder: read


def test_a_build_not_in_place_is_written_from_the_entries(project: Path) -> None:
    first = cli(str(project))
    fresh = tree(project / "build")
    shutil.rmtree(project / "build/klaviyo")
    assert cli(str(project)) == first  # the same report
    assert tree(project / "build") == fresh
    assert rebuilt(project) == (set(), set())  # the cache went over to the new build
    shutil.rmtree(project / "build")
    assert cli(str(project)) == first
    assert tree(project / "build") == fresh


def test_the_project_entry_checks_every_file_read(project: Path) -> None:
    cli(str(project))
    edit(project / "partials/note.mjml", "A note", "A changed note")
    cli(str(project))
    assert b"A changed note" in (project / "build/klaviyo/a.html").read_bytes()
    edit(project / "components/card.mjml", "[[ title ]]", "[[ title ]] again")
    cli(str(project))
    assert b"Card A again" in (project / "build/klaviyo/a.html").read_bytes()


def test_the_project_entry_checks_the_files_of_templates_it_replayed(project: Path) -> None:
    """A compile that replayed a (b changed) records what a's entry was checked against: a's include
    changed next is seen, though that compile never read it."""
    cli(str(project))
    edit(project / "templates/b.mjml", "Body b", "Body B")
    cli(str(project))
    edit(project / "partials/note.mjml", "A note", "A changed note")
    assert cli(str(project))[0] == 0
    assert b"A changed note" in (project / "build/klaviyo/a.html").read_bytes()


def test_a_template_added_while_a_compile_runs_is_compiled_next_time(project: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The project entry is keyed by the names listed before the project was loaded: one saved while
    the compile ran makes the next compile miss, not replay a build that lacks it."""
    import mailwright.output as output

    cli(str(project))
    edit(project / "templates/b.mjml", "Body b", "Body B")
    write = output.write_outputs

    def saved_meanwhile(result, out):
        (project / "templates/new.mjml").write_text(TEMPLATE.format(name="new", extra=""))
        return write(result, out)

    monkeypatch.setattr(output, "write_outputs", saved_meanwhile)
    assert cli(str(project))[0] == 0
    monkeypatch.setattr(output, "write_outputs", write)
    assert cli(str(project))[0] == 0
    assert (project / "build/klaviyo/new.html").exists()


def test_eviction_removes_stale_temporaries_only(project: Path) -> None:
    cli(str(project))
    folder = project / "build" / CACHE_DIR
    stale, fresh = folder / ".tmp-stale", folder / ".tmp-fresh"  # a writer killed an hour ago; one writing now
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (0, 0))
    edit(project / "templates/b.mjml", "Body b", "Body B")  # a compile that writes, so it evicts
    assert cli(str(project))[0] == 0
    assert not stale.exists() and fresh.exists()


def test_eviction_keeps_what_the_last_build_used(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_mod, "MIN_KEEP", 0)
    cli(str(project))
    for n in range(12):  # every config edit makes new entries for everything
        edit(project / "mailwright.toml", f'company = "Tiny Co.{"" if n == 0 else n - 1}"',
             f'company = "Tiny Co.{n}"')
        cli(str(project))
    entries = list((project / "build" / CACHE_DIR).iterdir())
    # used by the last build: 3 templates, 2 flows, the plan, the project; kept: 3 x 7, the newest
    assert len(entries) == 21
    assert rebuilt(project) == (set(), set())



def test_an_entry_read_counts_as_recently_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eviction is least recently *used*: reading an entry renews it, so the oldest-written entry that a
    build still reads outlives newer ones that nothing reads."""
    folder = tmp_path / "cache"
    writer = BuildCache(tmp_path, folder)
    for name in ("t-a.json", "t-b.json", "t-c.json"):
        writer._write(name, {"name": name})
    writer.flush()
    for age, name in enumerate(("t-a.json", "t-b.json", "t-c.json")):  # a written first, c last
        os.utime(folder / name, (1_000 + age, 1_000 + age))
    assert BuildCache(tmp_path, folder)._read("t-a.json") == {"name": "t-a.json", "entry": "t-a.json", "blobs": []}
    monkeypatch.setattr(cache_mod, "MIN_KEEP", 1)
    BuildCache(tmp_path, folder).evict()  # a run that used nothing: only the most recently used stays
    assert sorted(p.name for p in folder.iterdir()) == ["t-a.json"]

WRITER = """
import sys
from pathlib import Path
from mailwright.cache import BuildCache
c = BuildCache(Path("."), Path(sys.argv[1]))
for i in range(150):
    c._write("t-same.json", {"writer": sys.argv[2], "i": i, "pad": sys.argv[2] * 200_000})
    c.flush()
"""


def test_concurrent_writers_never_leave_half_an_entry(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder), w], env=env, stderr=subprocess.PIPE)
             for w in "ab"]
    reader, seen = BuildCache(tmp_path, folder), set()
    while any(p.poll() is None for p in procs):
        try:
            data = (folder / "t-same.json").read_bytes()
        except FileNotFoundError:  # not written yet
            continue
        head, _, body = data.partition(b"\n")
        assert head == cache_mod.MAGIC + cache_mod._sha(body).encode()  # whole, never half an entry
        entry = json.loads(body)
        assert entry["pad"] == entry["writer"] * 200_000
        seen.add(entry["writer"])
    for p in procs:
        assert p.wait() == 0, p.stderr.read()
    assert reader._read("t-same.json") is not None and seen
    assert [f.name for f in folder.iterdir()] == ["t-same.json"]  # no temporary file left


def test_init_ignores_the_cache() -> None:
    from mailwright.init import GITIGNORE

    assert "build/" in GITIGNORE.splitlines()  # the cache is build/.cache


WARM = """
import sys
from mailwright.cli import main
try:
    main(["compile", sys.argv[1]])
except SystemExit as e:
    assert not e.code, e.code
print(" ".join(sorted(sys.modules)))
"""


def test_an_unchanged_project_imports_no_engine(project: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for _ in range(2):  # the first fills the cache
        p = subprocess.run([sys.executable, "-c", WARM, str(project)], env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    loaded = set(p.stdout.split())
    heavy = {"mjml", "css_inline", "jinja2", "yaml", "requests", "bs4", "mailwright.compile", "mailwright.dialect"}
    assert not loaded & heavy, loaded & heavy
