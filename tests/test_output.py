"""output.py: a build replaces only a build; never what mailwright did not write (issue 11 item 1)."""

import json
import os
import stat

import pytest
from click.testing import CliRunner

from mailwright.cli import main
from mailwright.output import MARKER
from tests.conftest import make_project, text_email


@pytest.fixture
def proj(tmp_path):
    return make_project(tmp_path / "proj", {"welcome": text_email("Hello"), "bye": text_email("Bye")},
                        esps=("klaviyo",))


def compile_(root, out=None):
    args = ["compile", str(root)] + (["--out", str(out)] if out is not None else [])
    r = CliRunner().invoke(main, args)
    assert r.exit_code in (0, 1), (r.exit_code, r.output, r.exception)
    return r


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_the_project_itself_is_refused_and_nothing_is_removed(proj):
    (proj / "manifest.json").write_text('{"version": 1, "outputs": []}')  # the old guard's only test
    before = snapshot(proj)
    r = compile_(proj, proj)
    assert r.exit_code == 1
    assert f"{proj}: error: this build folder also holds files mailwright did not write" in r.stderr
    assert snapshot(proj) == before
    (proj / "manifest.json").unlink()
    r = compile_(proj, proj)
    assert r.exit_code == 1 and f"{proj}: error: this folder is not a mailwright build" in r.stderr
    assert "Traceback" not in r.output


def test_a_folder_of_other_files_is_refused(proj, tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff\xd8")
    r = compile_(proj, other)
    assert r.exit_code == 1 and "not a mailwright build" in r.stderr
    assert snapshot(other) == {"cat.jpg": b"\xff\xd8"}


def test_a_build_is_marked_and_replaced_as_a_whole(proj):
    assert compile_(proj).exit_code == 0
    build = proj / "build"
    assert (build / MARKER).read_text().startswith("mailwright-build 1\n")
    assert (build / "klaviyo" / "bye.html").exists()
    (proj / "templates" / "bye.mjml").unlink()
    assert compile_(proj).exit_code == 0
    assert not (build / "klaviyo" / "bye.html").exists() and (build / "klaviyo" / "welcome.html").exists()
    assert [p.name for p in proj.iterdir() if p.name.startswith(".")] == []  # no temporary folders left


def test_a_file_of_the_user_inside_a_build_is_never_removed(proj):
    assert compile_(proj).exit_code == 0
    notes = proj / "build" / "klaviyo" / "notes.txt"
    notes.write_text("mine")
    r = compile_(proj)
    assert r.exit_code == 1 and "(such as klaviyo/notes.txt)" in r.stderr
    assert notes.read_text() == "mine"


def test_a_build_of_the_previous_version_is_accepted_when_it_holds_only_its_files(proj):
    assert compile_(proj).exit_code == 0
    (proj / "build" / MARKER).unlink()  # as the previous version wrote it
    assert compile_(proj).exit_code == 0
    assert (proj / "build" / MARKER).exists()


def test_an_empty_folder_is_fine(proj, tmp_path):
    (tmp_path / "empty").mkdir()
    assert compile_(proj, tmp_path / "empty").exit_code == 0
    assert (tmp_path / "empty" / "manifest.json").exists()


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_the_build_follows_the_umask(proj, mask):
    old = os.umask(mask)
    try:
        assert compile_(proj).exit_code == 0
    finally:
        os.umask(old)
    for p in [proj / "build", proj / "build" / "klaviyo"]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o777 & ~mask, p
    assert stat.S_IMODE((proj / "build" / "manifest.json").stat().st_mode) == 0o666 & ~mask


def test_an_unwritable_out_is_a_clear_error(proj, tmp_path):
    (tmp_path / "afile").write_text("x")
    for out, why in [("/proc/mailwright-test", "cannot write the build here: no such file or directory"),
                     (tmp_path / "afile" / "build", f"cannot write the build here: {tmp_path / 'afile'} is a file")]:
        r = compile_(proj, out)
        assert r.exit_code == 1 and f"{out}: error: {why}" in r.stderr, r.output
        assert "Traceback" not in r.output and "internal error" not in r.output


def test_json_output_lists_what_was_written(proj):
    r = CliRunner().invoke(main, ["compile", str(proj), "--json"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert {o["html"] for o in doc["outputs"]} == {"klaviyo/welcome.html", "klaviyo/bye.html"}
