"""output.py's guards, pinned where mutation testing found them unchecked (docs/testing.md)."""

import json
import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from mailwright.errors import MailwrightError, Pos
from mailwright.output import MANIFEST, MARKER, _check_replaceable, _swap, _why, is_build, write_outputs


def output(stem="welcome", esp="klaviyo"):
    return SimpleNamespace(esp=esp, stem=stem, name=stem, trigger=None, html="<p>hi</p>", text="hi",
                           subject="Hi", preheader="")


class Result:
    """A compile result whose outputs, when read, note what sits beside the build folder."""

    def __init__(self, parent: Path, outputs=None):
        self.parent, self._outputs, self.flows, self.plan, self.seen = parent, outputs or [output()], [], None, []

    @property
    def outputs(self):
        self.seen = sorted(p.name for p in self.parent.iterdir())
        return self._outputs


def error_of(fn, *args) -> MailwrightError:
    with pytest.raises(MailwrightError) as e:
        fn(*args)
    return e.value


def test_a_build_is_written_into_a_new_folder_whose_parents_do_not_exist_yet(tmp_path):
    out = tmp_path / "a" / "b" / "build"
    write_outputs(Result(tmp_path), out)
    assert is_build(out) and (out / "klaviyo/welcome.html").read_text() == "<p>hi</p>"


def test_the_new_build_is_written_in_a_hidden_folder_named_after_the_build(tmp_path):
    result = Result(tmp_path)
    write_outputs(result, tmp_path / "out")
    assert len(result.seen) == 1 and result.seen[0].startswith(".out.new-")


def test_a_file_on_the_way_to_out_is_named(tmp_path):
    (tmp_path / "f").write_text("x")
    e = error_of(write_outputs, Result(tmp_path), tmp_path / "f" / "out")
    assert str(e) == f"{tmp_path / 'f' / 'out'}: error: cannot write the build here: {tmp_path / 'f'} is a file, " \
                     "not a folder"


def test_a_symlink_loop_as_out_is_an_error_at_the_path(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    e = error_of(write_outputs, Result(tmp_path), tmp_path / "loop")
    assert e.diagnostic.pos == Pos(str(tmp_path / "loop"), 0)
    why = e.diagnostic.message.removeprefix("cannot write the build here: ").lower()
    assert "loop" in why or "too many levels of symbolic links" in why


def test_a_write_that_fails_midway_is_an_error_and_leaves_nothing_behind(tmp_path):
    out = tmp_path / "out"
    bad = output(stem="missing/dir/welcome")  # its folder does not exist: the write fails in the new build
    e = error_of(write_outputs, Result(tmp_path, [bad]), out)
    assert e.diagnostic.pos == Pos(str(out), 0)
    assert e.diagnostic.message.startswith("cannot write the build here: no such file or directory (")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_out_as_a_file_is_refused_at_its_path(tmp_path):
    (tmp_path / "out").write_text("mine")
    e = error_of(write_outputs, Result(tmp_path), tmp_path / "out")
    assert str(e) == f"{tmp_path / 'out'}: error: --out is a file, not a folder: nothing was written"
    assert (tmp_path / "out").read_text() == "mine"


def test_a_folder_that_is_not_a_build_is_refused_with_the_whole_explanation(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    e = error_of(write_outputs, Result(tmp_path), tmp_path / "out")
    assert e.diagnostic.message == (f"this folder is not a mailwright build (it has no {MARKER}) and is not empty; "
                                    "nothing was written: a build folder is replaced as a whole, so choose another "
                                    "--out (an empty or new folder)")


def build_with(tmp_path, manifest, files):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps(manifest) if not isinstance(manifest, str) else manifest)
    for rel in files:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("x")
    return out


def test_every_kind_of_file_a_manifest_lists_belongs_to_the_build(tmp_path):
    flow = {"esp": "hubspot", "kind": "flow", "name": "f", "definition": "hubspot/flows/f.json",
            "recipe": "hubspot/flows/f.md", "diagram": "hubspot/flows/f.mmd"}
    out = build_with(tmp_path, {"version": 1, "outputs": [flow], "tracking_plan": {"e": "tracking-plan/e.json"}},
                     ["hubspot/flows/f.json", "hubspot/flows/f.md", "hubspot/flows/f.mmd", "tracking-plan/e.json"])
    write_outputs(Result(tmp_path), out)
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, MARKER, "klaviyo"])


def test_an_unreadable_manifest_is_named_as_such(tmp_path):
    out = build_with(tmp_path, "{not json", [])
    e = error_of(write_outputs, Result(tmp_path), out)
    assert f"(such as {MANIFEST} (unreadable))" in e.diagnostic.message


def test_a_linked_folder_in_a_build_is_a_stray(tmp_path):
    out = build_with(tmp_path, {"version": 1, "outputs": []}, [])
    (tmp_path / "elsewhere").mkdir()
    (out / "link").symlink_to(tmp_path / "elsewhere")
    e = error_of(write_outputs, Result(tmp_path), out)
    assert "(such as link)" in e.diagnostic.message


def test_the_marker_alone_makes_a_build(tmp_path):
    (tmp_path / MARKER).write_bytes(b"mailwright-build 1\n\xff\xfe not utf-8 \xff")
    assert is_build(tmp_path)


@pytest.mark.parametrize("content", ["1 mailwright-build", "", "mailwright"])
def test_a_marker_must_start_with_the_format_name(tmp_path, content):
    (tmp_path / MARKER).write_text(content)
    assert not is_build(tmp_path)


def test_a_linked_marker_does_not_make_a_build(tmp_path):
    (tmp_path / "real").write_text("mailwright-build 1\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / MARKER).symlink_to(tmp_path / "real")
    assert not is_build(tmp_path / "b")


class FailingRename(type(Path())):
    def rename(self, target):
        raise OSError(28, "No space left on device")


def test_a_failed_swap_puts_the_previous_build_back(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text("mailwright-build 1\n")
    (out / MANIFEST).write_text('{"version": 1, "outputs": []}')
    (tmp_path / "new").mkdir()
    with pytest.raises(OSError):
        _swap(FailingRename(tmp_path / "new"), out)
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, MARKER])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "out"]


def test_why_says_what_the_system_said_and_where():
    assert _why(OSError(2, "No such file or directory", "/x/y")) == "no such file or directory (/x/y)"
    assert _why(OSError(2, "No such file or directory")) == "no such file or directory"
    assert _why(OSError("plain")) == "plain"
    assert _why(RuntimeError("Symlink loop from '/a'")) == "Symlink loop from '/a'"
    assert _why(ValueError()) == "ValueError"


def test_why_of_an_error_without_a_reason_is_its_kind():
    class Odd(Exception):
        strerror = "Looks like an OSError"

    assert _why(Odd()) == "Odd"


def test_a_rebuild_needs_no_system_temp_folder(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_outputs(Result(tmp_path), out)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    write_outputs(Result(tmp_path), out)  # old and new builds both live beside the build folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def as_nobody(fn) -> int:
    """Run fn() in a child process as an unprivileged user (root reads every folder); its exit status."""
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.setgid(65534)
            os.setuid(65534)
            code = fn()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.fixture
def shared_dir():
    d = Path(tempfile.mkdtemp())  # not under pytest's private tmp_path: the unprivileged user must reach it
    os.chmod(d, 0o755)
    yield d
    for p in d.iterdir():
        os.chmod(p, 0o700)
    shutil.rmtree(d)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_an_unreadable_out_folder_is_an_error_saying_why(shared_dir):
    out = shared_dir / "out"
    out.mkdir(mode=0o000)
    os.chmod(out, 0o000)
    # called here too: mutation testing maps a test to the functions its own process calls
    _check_replaceable(shared_dir / "new")

    def check() -> int:
        if os.geteuid() == 0:
            return 3
        try:
            _check_replaceable(out)
        except MailwrightError as e:
            return 0 if (e.diagnostic.pos, e.diagnostic.message) == (
                Pos(str(out), 0), f"cannot write the build here: permission denied ({out})") else 1
        return 2

    assert (as_nobody if os.geteuid() == 0 else lambda f: f())(check) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_marker_that_cannot_be_read_does_not_make_a_build(shared_dir):
    (shared_dir / MARKER).write_text("mailwright-build 1\n")
    os.chmod(shared_dir / MARKER, 0o000)
    assert not is_build(shared_dir / "none")
    run = as_nobody if os.geteuid() == 0 else (lambda f: f())
    assert run(lambda: 0 if os.geteuid() != 0 and not is_build(shared_dir) else 1) == 0
