"""The build cache against what a user's disk may hold: entries under another name, a cache folder
or build file that is a link, a folder that does not exist yet, clocks that disagree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailwright import cache as cache_mod
from mailwright.cache import CACHE_DIR, BuildCache
from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.project import load_project
from tests.test_cache import _entries, build, cli, edit, make_tiny, rebuilt, tree


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_tiny(tmp_path)


def _fresh(project: Path, tmp_path: Path, *args: str) -> dict[str, bytes]:
    assert cli(str(project), *args, "--no-cache", "--out", str(tmp_path / "fresh"))[0] == 0
    return tree(tmp_path / "fresh")


def test_an_entry_copied_under_another_entrys_name_is_not_trusted(project: Path, tmp_path: Path) -> None:
    """Template b's entries for Klaviyo alone and for both ESPs swapped: each is whole and of the right
    shape, but not the entry of its name (a Klaviyo-only compile would write HubSpot's outputs)."""
    cli(str(project), "--esp", "klaviyo")
    alone = set(_entries(project, "t"))
    cli(str(project))
    both = set(_entries(project, "t")) - alone

    def of_b(entries: set[Path]) -> Path:
        return next(p for p in entries if json.loads(p.read_bytes().split(b"\n")[1])["name"] == "b")

    one, two = of_b(alone), of_b(both)
    data = one.read_bytes()
    one.write_bytes(two.read_bytes())
    two.write_bytes(data)
    edit(project / "templates/a.mjml", "Body a", "Body A")  # the project entry misses
    assert cli(str(project), "--esp", "klaviyo")[0] == 0
    assert tree(project / "build") == _fresh(project, tmp_path, "--esp", "klaviyo")


def test_a_cache_folder_that_is_a_link_is_neither_trusted_nor_evicted(project: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """build/.cache a link to a folder elsewhere (holding entries, and a file of the user's): the build is
    not in place (the build's guard refuses the link), and nothing there is written or removed."""
    monkeypatch.setattr(cache_mod, "MIN_KEEP", 0)
    cli(str(project))
    elsewhere = project.parent / "elsewhere"
    (project / "build" / CACHE_DIR).rename(elsewhere)
    (project / "build" / CACHE_DIR).symlink_to(elsewhere)
    (elsewhere / "notes.txt").write_text("mine")
    os.utime(elsewhere / "notes.txt", (0, 0))  # the least recently used of all
    before = {p.name: p.read_bytes() for p in elsewhere.iterdir()}
    code, _, err = cli(str(project))
    assert code == 1 and "also holds files mailwright did not write (such as .cache)" in err
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == before


def test_a_build_file_replaced_by_a_link_is_not_in_place(project: Path, tmp_path: Path) -> None:
    """A link with the very bytes the build had: the build is written again (regular files only)."""
    cli(str(project))
    html = project / "build/klaviyo/a.html"
    copy = tmp_path / "a.html"
    copy.write_bytes(html.read_bytes())
    html.unlink()
    html.symlink_to(copy)
    assert cli(str(project))[0] == 0
    assert not html.is_symlink()
    assert tree(project / "build") == _fresh(project, tmp_path)


def test_a_build_into_a_folder_not_made_yet_fills_the_cache(project: Path, tmp_path: Path) -> None:
    """--out new/build: nowhere to stage entries beside the build yet, so they are held in memory."""
    out = tmp_path / "new" / "build"
    assert cli(str(project), "--out", str(out))[0] == 0
    cache = BuildCache(project, out / CACHE_DIR)
    assert sorted(p.name[0] for p in (out / CACHE_DIR).iterdir()) == ["f", "f", "l", "p", "t", "t", "t"]
    assert all(cache._read(p.name) is not None for p in (out / CACHE_DIR).iterdir())


def test_times_are_never_trusted(project: Path, tmp_path: Path) -> None:
    """Clock skew: a template edited with its time put back, or set in the future, is compiled again; an
    entry dated in the future is still read (dependencies are digests; times only order eviction)."""
    build(project)
    template = project / "templates/b.mjml"
    st = template.stat()
    edit(template, "Body b", "Body B")
    os.utime(template, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert rebuilt(project) == ({"b"}, set())
    future = time.time() + 10 * 365 * 86400
    for entry in (project / "build" / CACHE_DIR).iterdir():
        os.utime(entry, (future, future))
    os.utime(template, (future, future))
    assert rebuilt(project) == (set(), set())
    edit(template, "Body B", "Body b")
    os.utime(template, (future, future))
    assert rebuilt(project) == ({"b"}, set())


def test_bytecode_does_not_change_the_code_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python writes __pycache__ as it imports: that must not make every compile miss."""
    (tmp_path / "m.py").write_text("x = 1\n")
    first = cache_mod.tree_digest(str(tmp_path))
    monkeypatch.setattr(cache_mod, "_trees", {})
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0bytecode")
    assert cache_mod.tree_digest(str(tmp_path)) == first


def test_what_a_killed_run_staged_is_swept_by_a_later_one(project: Path) -> None:
    """A run killed while compiling (SIGTERM, SIGKILL) leaves its staging folder beside the build; the
    next compile that writes removes it once it is an hour old, and nothing else of that name."""
    stale, running, other = (project / ".cache-new-abcd1234", project / ".cache-new-wxyz9876",
                             project / ".cache-new-mine")
    for folder in (stale, running, other):
        folder.mkdir()
        (folder / "t-x.json").write_bytes(b"x")
    os.utime(stale, (0, 0))
    os.utime(other, (0, 0))
    assert cli(str(project))[0] == 0
    assert not stale.exists() and running.exists() and other.exists()


WARM_RUN = """
import sys
from mailwright.cli import main
main(["compile", sys.argv[1]])
"""


@pytest.mark.parametrize("where", ["partials/note.mjml", "build/klaviyo/a.html"], ids=["include", "build"])
def test_a_fifo_where_a_file_was_is_never_opened_for_a_blocking_read(project: Path, tmp_path: Path, where: str) -> None:
    """An include (checked against a template entry) or a build file (checked for a build in place) replaced
    by a named pipe: the cache sees it changed instead of waiting for a writer; the run ends as a fresh one."""
    cli(str(project))
    (project / where).unlink()
    os.mkfifo(project / where)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run([sys.executable, "-c", WARM_RUN, str(project)], env=env, capture_output=True, text=True,
                       timeout=10)
    assert "Traceback" not in p.stderr
    if where.startswith("partials"):  # the error a fresh compile reports
        fresh = cli(str(project), "--no-cache", "--out", str(tmp_path / "fresh"))
        assert p.returncode == fresh[0] == 1
        assert p.stderr.replace(str(project) + "/", "") == fresh[2].replace(str(project) + "/", "")
    else:
        assert p.returncode == 0, p.stderr
        assert (project / where).is_file()


def test_a_fifo_where_an_empty_include_was_is_a_change(project: Path, tmp_path: Path) -> None:
    """A FIFO reads as empty without a writer: only its kind tells it from the empty file it replaced."""
    (project / "partials/note.mjml").write_text("")
    assert cli(str(project), "--no-cache", "--out", str(tmp_path / "probe"))[0] == 0  # an empty include compiles
    cli(str(project))
    (project / "partials/note.mjml").unlink()
    os.mkfifo(project / "partials/note.mjml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run([sys.executable, "-c", WARM_RUN, str(project)], env=env, capture_output=True, text=True,
                       timeout=10)
    fresh = cli(str(project), "--no-cache", "--out", str(tmp_path / "fresh"))
    assert p.returncode == fresh[0] == 1  # not replayed as the empty include's build
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("prefix", ["p", "t"])
def test_an_entry_of_deeply_nested_json_is_ignored(project: Path, tmp_path: Path, prefix: str) -> None:
    """Valid JSON, a valid digest, nested past Python's recursion limit: ignored, not an internal error."""
    cli(str(project))
    body = b"[" * 100_000 + b"]" * 100_000 + b"\n"
    for entry in _entries(project, prefix):
        entry.write_bytes(cache_mod.MAGIC + cache_mod._sha(body).encode() + b"\n" + body)
    edit(project / "templates/b.mjml", "Body b", "Body B")
    code, _, err = cli(str(project))
    assert code == 0, err
    assert tree(project / "build") == _fresh(project, tmp_path)


EXTERNAL = """import dataclasses
from mailwright_connectors.klaviyo import KlaviyoDialect, connector as k


class ExtDialect(KlaviyoDialect):
    label = "{label}"


connector = dataclasses.replace(k, name="ext", label="{label}", dialect=ExtDialect)
"""


# where a connector's code may sit: (files, the one its label is in, its entry point)
LAYOUTS = {
    "package": ({"extconn/__init__.py": EXTERNAL}, "extconn/__init__.py", "extconn:connector"),
    # the dialect in a subpackage, its label in a module beside that subpackage (seen: not part of the key)
    "helper above": ({"extconn/__init__.py": "", "extconn/helper.py": 'LABEL = "{label}"\n',
                      "extconn/dialects/__init__.py": EXTERNAL.replace('"{label}"', "LABEL").replace(
                          "import dataclasses", "import dataclasses\nfrom extconn.helper import LABEL")},
                     "extconn/helper.py", "extconn.dialects:connector"),
    "one module": ({"extconn.py": EXTERNAL}, "extconn.py", "extconn:connector"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_connector_installed_outside_mailwright_is_part_of_every_key(project: Path, tmp_path: Path,
                                                                       layout: str) -> None:
    """A connector package of its own (not bundled), edited in place: what it reports is not replayed
    from what its old code reported."""
    site = tmp_path / "site"
    files, edited, entry = LAYOUTS[layout]
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text.format(label="Ext One") if name == edited else text)
    info = site / "extconn-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extconn\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[mailwright.esps]\next = {entry}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}

    def compile_ext() -> str:
        p = subprocess.run([sys.executable, "-m", "mailwright", "compile", str(project), "--esp", "ext"],
                           env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stderr

    assert "Ext One: filter title" in compile_ext()
    assert "Ext One: filter title" in compile_ext()  # a hit
    (site / edited).write_text(files[edited].format(label="Ext Two"))
    assert "Ext Two: filter title" in compile_ext()


def test_a_connector_of_one_module_is_that_file_not_its_folder(tmp_path: Path, monkeypatch) -> None:
    """A connector that is one module in site-packages: its key is that file, not all of site-packages."""
    from mailwright.cache import connector_trees

    (tmp_path / "lonelyconn.py").write_text(EXTERNAL.format(label="Ext One"))
    (tmp_path / "other_package").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lonelyconn", raising=False)
    import lonelyconn

    assert list(connector_trees({"ext": lonelyconn.connector})) == [str(tmp_path / "lonelyconn.py")]


class _SavedMeanwhile(list):
    """cache.reads, with an editor saving the include right after a compile first read it."""

    def __init__(self, include: Path):
        super().__init__()
        self.include = include

    def append(self, item: tuple[str, bytes]) -> None:
        super().append(item)
        if Path(item[0]).resolve() == self.include.resolve() and self.include.read_bytes() == item[1]:
            self.include.write_text(item[1].decode().replace("A note", "A saved note"))


def test_an_include_saved_between_two_templates_reads_keeps_the_first(project: Path) -> None:
    """a and a2 include one file, saved after a read it and before a2 did (one batch: both are stored
    after both read): a's entry must hold what a read, so that a is compiled again next time."""
    (project / "templates/a2.mjml").write_text((project / "templates/a.mjml").read_text())
    include = project / "partials/note.mjml"
    cache = BuildCache(project, project / "build" / CACHE_DIR)
    cache.reads = _SavedMeanwhile(include)
    with cache.recording():
        compile_project(load_project(project, list(load_connectors())), None, cache)
    cache.flush()
    assert b"A saved note" in include.read_bytes()
    assert "a" in rebuilt(project)[0]
