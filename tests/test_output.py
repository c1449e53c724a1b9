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


# ------------------------------------------------------------------ files linked from the previous build

def inodes(folder):
    return {p.relative_to(folder).as_posix(): p.stat().st_ino for p in folder.rglob("*")
            if p.is_file() and ".cache" not in p.relative_to(folder).parts}


def built(folder):
    return {k: v for k, v in snapshot(folder).items() if not k.startswith(".cache")}


def test_files_equal_to_the_previous_builds_are_linked_and_the_build_is_what_a_fresh_compile_gives(proj, tmp_path):
    assert compile_(proj).exit_code == 0
    build = proj / "build"
    before = inodes(build)
    (proj / "templates" / "welcome.mjml").write_text(text_email("Hello again"))
    assert compile_(proj).exit_code == 0
    after = inodes(build)
    assert {k for k in after if before.get(k) == after[k]} == {"klaviyo/bye.html", "klaviyo/bye.txt", MARKER}
    assert all((build / k).stat().st_nlink == 1 for k in after)  # the old build's names are gone
    assert CliRunner().invoke(main, ["compile", str(proj), "--no-cache", "--out", str(tmp_path / "fresh")]).exit_code == 0
    assert built(build) == built(tmp_path / "fresh")


def test_a_build_file_edited_by_hand_in_place_is_written_afresh(proj, tmp_path):
    assert compile_(proj).exit_code == 0
    html = proj / "build" / "klaviyo" / "bye.html"
    original, st = html.read_bytes(), html.stat()
    with open(html, "r+b") as f:  # the same size, the same inode, even its time put back
        f.write(b"XXXXX")
    os.utime(html, ns=(st.st_atime_ns, st.st_mtime_ns))
    (proj / "templates" / "welcome.mjml").write_text(text_email("Hello again"))
    assert compile_(proj).exit_code == 0
    assert html.read_bytes() == original and html.stat().st_ino != st.st_ino


def test_a_file_with_another_name_is_not_linked_so_editing_that_name_never_changes_the_build(proj, tmp_path):
    assert compile_(proj).exit_code == 0
    html = proj / "build" / "klaviyo" / "bye.html"
    original = html.read_bytes()
    os.link(html, tmp_path / "backup.html")  # cp -al build backup
    (proj / "templates" / "welcome.mjml").write_text(text_email("Hello again"))
    assert compile_(proj).exit_code == 0
    assert html.stat().st_ino != (tmp_path / "backup.html").stat().st_ino
    with open(tmp_path / "backup.html", "r+b") as f:
        f.write(b"ZZZ")
    assert html.read_bytes() == original


def test_a_failed_swap_after_linking_leaves_the_previous_build_whole(proj, monkeypatch):
    from mailwright import output

    assert compile_(proj).exit_code == 0
    before = snapshot(proj / "build")
    (proj / "templates" / "welcome.mjml").write_text(text_email("Hello again"))

    def no_space(tmp, out_dir):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output, "_swap", no_space)
    r = compile_(proj)
    assert r.exit_code == 1 and "no space left on device" in r.stderr
    assert snapshot(proj / "build") == before
    assert [p.name for p in proj.iterdir() if p.name.startswith(".")] == []


def test_a_file_is_created_anew_never_written_into_an_existing_one(tmp_path):
    from mailwright.output import _create

    (tmp_path / "old").write_bytes(b"old build")
    os.link(tmp_path / "old", tmp_path / "new")
    _create(str(tmp_path / "new"), b"new build")
    assert (tmp_path / "old").read_bytes() == b"old build" and (tmp_path / "new").read_bytes() == b"new build"


def result_of(*pages):
    from types import SimpleNamespace

    outputs = [SimpleNamespace(esp="klaviyo", stem=s, name=s, trigger=None, html=h, text=s, subject=s, preheader="")
               for s, h in pages]
    return SimpleNamespace(outputs=outputs, flows=[], plan=None)


@pytest.mark.parametrize("how", ["replaced", "edited"])
def test_an_old_file_changed_while_it_is_linked_is_written_afresh(tmp_path, monkeypatch, how):
    from mailwright.output import write_outputs

    out = tmp_path / "out"
    write_outputs(result_of(("a", "<p>mine</p>")), out)
    real_link = os.link

    def racing(src, dst, **kw):
        if src.endswith("a.html"):  # someone else's bytes land in the old file between our read and the link
            if how == "replaced":
                (tmp_path / "other").write_bytes(b"<p>evil</p>")
                os.chmod(tmp_path / "other", os.stat(src).st_mode)
                os.replace(tmp_path / "other", src)
            else:
                st = os.stat(src)
                with open(src, "r+b") as f:
                    f.write(b"<p>evil</p>")
                os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        return real_link(src, dst, **kw)

    monkeypatch.setattr(os, "link", racing)
    write_outputs(result_of(("a", "<p>mine</p>")), out)
    assert (out / "klaviyo" / "a.html").read_bytes() == b"<p>mine</p>"


def test_without_hard_links_every_file_is_written_and_links_are_not_tried_again(tmp_path, monkeypatch):
    import errno

    from mailwright.output import write_outputs

    out = tmp_path / "out"
    write_outputs(result_of(("a", "<p>a</p>"), ("b", "<p>b</p>")), out)
    tried = []

    def cross_device(src, dst, **kw):
        tried.append(dst)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    write_outputs(result_of(("a", "<p>a</p>"), ("b", "<p>b2</p>")), out)
    assert len(tried) == 1
    assert (out / "klaviyo" / "a.html").read_text() == "<p>a</p>" and (out / "klaviyo" / "b.html").read_text() == "<p>b2</p>"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_changed_umask_is_followed_by_files_that_did_not_change(proj):
    old = os.umask(0o022)
    try:
        assert compile_(proj).exit_code == 0
        (proj / "templates" / "welcome.mjml").write_text(text_email("Hello again"))
        os.umask(0o027)
        assert compile_(proj).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((proj / "build" / "klaviyo" / "bye.html").stat().st_mode) == 0o640


def test_a_symlink_in_the_old_build_is_never_carried_over(proj, tmp_path):
    assert compile_(proj).exit_code == 0
    html = proj / "build" / "klaviyo" / "bye.html"
    (tmp_path / "elsewhere.html").write_bytes(html.read_bytes())  # the very bytes, in a file not ours
    html.unlink()
    html.symlink_to(tmp_path / "elsewhere.html")
    (proj / "templates" / "welcome.mjml").write_text(text_email("Hello again"))
    assert compile_(proj).exit_code == 0
    assert not html.is_symlink() and html.stat().st_ino != (tmp_path / "elsewhere.html").stat().st_ino


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give a file away")
def test_a_file_of_another_user_is_not_linked(proj):
    assert compile_(proj).exit_code == 0
    html = proj / "build" / "klaviyo" / "bye.html"
    os.chown(html, 65534, 65534)
    (proj / "templates" / "welcome.mjml").write_text(text_email("Hello again"))
    assert compile_(proj).exit_code == 0
    assert html.stat().st_uid == 0
