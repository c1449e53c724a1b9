"""The command line against a hostile environment: broken connector packages, malformed entry_points.txt,
Ctrl-C, bad options. Each failure is a clear message and an exit status of cli.md, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from importlib.metadata import entry_points as metadata_entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailwright import dialect
from mailwright.cli import main
from mailwright.entrypoints import BrokenEntryPoint, entry_points
from tests.conftest import make_project, text_email


def fake_dist(site: Path, folder: str, entry_points_txt: str | bytes) -> Path:
    """An installed distribution as pip leaves it: NAME-VERSION.dist-info with METADATA and entry_points.txt."""
    info = site / folder
    info.mkdir(parents=True)
    name, _, version = folder.rsplit(".", 1)[0].partition("-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    data = entry_points_txt.encode() if isinstance(entry_points_txt, str) else entry_points_txt
    (info / "entry_points.txt").write_bytes(data)
    return info / "entry_points.txt"


@pytest.fixture
def fresh_connectors(monkeypatch):
    """load_connectors reads the installed packages afresh (and the cache is restored after)."""
    monkeypatch.setattr(dialect, "_cache", None)


def mailwright(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.pop("MAILWRIGHT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "mailwright", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=60)


# ------------------------------------------------------------------ connector packages


@pytest.mark.parametrize("command", [["compile"], ["check"], ["push", "--dry-run", "--esp", "klaviyo"]])
def test_a_connector_package_that_does_not_import_is_an_error_naming_it(command, tmp_path):
    site = tmp_path / "site"
    fake_dist(site, "badconn-1.0.dist-info", "[mailwright.esps]\n\nbadesp = badconn_missing:connector\n")
    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")})
    p = mailwright([*command, str(root)], site, tmp_path)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    assert "entry_points.txt:3:1: error: entry point 'badesp = badconn_missing:connector' of badconn 1.0 " \
           "does not load: ModuleNotFoundError" in p.stderr
    assert "uninstall badconn" in p.stderr
    assert not (root / "build").exists()


def test_a_connector_line_without_a_value_names_its_package_and_line(tmp_path, monkeypatch, fresh_connectors):
    site = tmp_path / "site"
    path = fake_dist(site, "halfconn-2.1.dist-info", "[console_scripts]\nx = y:z\n[mailwright.esps]\nhalfesp\n")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(BrokenEntryPoint) as e:
        dialect.load_connectors()
    assert e.value.diagnostic.pos.path == str(path) and e.value.diagnostic.pos.line == 4
    assert "halfconn 2.1 declares 'halfesp' in [mailwright.esps]" in str(e.value)


def test_an_entry_point_that_is_no_connector_names_its_package(tmp_path, monkeypatch, fresh_connectors):
    site = tmp_path / "site"
    (site / "notconn.py").parent.mkdir(parents=True)
    (site / "notconn.py").write_text("connector = 'a string'\n")
    fake_dist(site, "notconn-0.3.dist-info", "[mailwright.esps]\nodd = notconn:connector\n")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(BrokenEntryPoint, match="of notconn 0.3 is not a mailwright Connector"):
        dialect.load_connectors()
    # an attribute the module lacks, or a value that is no 'module:object', likewise
    (site / "notconn-0.3.dist-info" / "entry_points.txt").write_text("[mailwright.esps]\nodd = notconn:nothing\n")
    with pytest.raises(BrokenEntryPoint, match="does not load: AttributeError"):
        dialect.load_connectors()
    (site / "notconn-0.3.dist-info" / "entry_points.txt").write_text("[mailwright.esps]\nodd = not conn!\n")
    with pytest.raises(BrokenEntryPoint, match="is not 'module:object'"):
        dialect.load_connectors()


def test_two_packages_claiming_one_esp_is_an_error_naming_both(tmp_path, monkeypatch, fresh_connectors):
    site = tmp_path / "site"
    site.mkdir()
    (site / "rivalconn.py").write_text("import dataclasses\nfrom mailwright_connectors.klaviyo import connector "
                                       "as k\nconnector = dataclasses.replace(k, label='Rival')\n")
    fake_dist(site, "rivalconn-1.0.dist-info", "[mailwright.esps]\nklaviyo = rivalconn:connector\n")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(BrokenEntryPoint) as e:
        dialect.load_connectors()
    assert "claims the ESP 'klaviyo', which rivalconn 1.0 has already" in str(e.value)
    assert "of mailwright " in str(e.value)  # the other claimant, named too


def test_one_connector_object_found_twice_is_no_conflict(tmp_path, monkeypatch, fresh_connectors):
    """A stale dist-info of another name pointing at the very same connector: the same ESP, nothing to choose."""
    site = tmp_path / "site"
    fake_dist(site, "oldname-0.1.dist-info", "[mailwright.esps]\nklaviyo = mailwright_connectors.klaviyo:connector\n")
    monkeypatch.syspath_prepend(str(site))
    assert "klaviyo" in dialect.load_connectors()


# ------------------------------------------------------------------ entry_points.txt, against importlib.metadata

WELL_FORMED = {
    "plain": "[g]\na = pkg.a:f\n",
    "spaces and tabs": "[g]  \n\t a\t=\tpkg.a : f [extra]  \n",
    "header with spaces is another group": "[ g ]\na = pkg.a:f\n",
    "doubled brackets": "[[g]]\na = pkg.a:f\n",
    "semicolon is no comment": "[g]\n;a = pkg.a:f\n# b = pkg.b\nc = pkg.c\n",
    "CRLF": "[g]\r\na = pkg.a:f\r\n",
    "value with =": "[g]\na = pkg.a:f=1\n",
    "empty name": "[g]\n= pkg.a:f\n",
    "group named in another's value": "[h]\nx = g:g\n",
    "later section of the same name": "[g]\na = pkg.a\n[h]\nb = pkg.b\n[g]\nc = pkg.c\n",
}


@pytest.mark.parametrize("text", WELL_FORMED.values(), ids=WELL_FORMED.keys())
@pytest.mark.parametrize("folder", ["thing-1.0.dist-info", "Thing-1.0.DIST-INFO", "thing-1.0-py3.11.egg-info"])
def test_a_well_formed_file_reads_as_importlib_metadata_reads_it(text, folder, tmp_path, monkeypatch):
    fake_dist(tmp_path, folder, text)
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    want = [(e.name, e.value) for e in metadata_entry_points(group="g")]
    assert [(e.name, e.value) for e in entry_points("g")] == want


MALFORMED = {
    "a line without '='": (b"[g]\na = pkg.a\njunk\n", 3, "thing 1.0 declares 'junk' in [g]"),
    "not UTF-8": (b"[g]\na = pkg.a\nb = caf\xe9:x\n", 3, "thing 1.0's entry points are not UTF-8"),
}


@pytest.mark.parametrize("data,line,message", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_file_fails_where_importlib_metadata_fails_but_names_the_package(data, line, message, tmp_path,
                                                                                     monkeypatch):
    path = fake_dist(tmp_path, "thing-1.0.dist-info", data)
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    with pytest.raises(Exception):  # noqa: B017 (a bare TypeError or UnicodeDecodeError)
        list(metadata_entry_points(group="g"))
    with pytest.raises(BrokenEntryPoint) as e:
        entry_points("g")
    assert (e.value.diagnostic.pos.path, e.value.diagnostic.pos.line) == (str(path), line)
    assert message in e.value.diagnostic.message and "uninstall thing" in e.value.diagnostic.message


def test_a_malformed_line_of_another_group_does_not_stop_this_one(tmp_path, monkeypatch):
    """importlib.metadata refuses the whole file; a package's broken console script is not mailwright's concern."""
    fake_dist(tmp_path, "thing-1.0.dist-info", "[h]\njunk\n[g]\na = pkg.a\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert [(e.name, e.value, e.dist) for e in entry_points("g")] == [("a", "pkg.a", "thing 1.0")]


# ------------------------------------------------------------------ Ctrl-C


def _ctrl_c() -> None:
    signal.raise_signal(signal.SIGINT)  # as the terminal sends it: the handler in place decides


def test_ctrl_c_while_compiling_exits_130_and_writes_nothing(tmp_path, monkeypatch):
    import mailwright.compile

    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")})
    real = mailwright.compile.compile_project
    monkeypatch.setattr(mailwright.compile, "compile_project", lambda *a, **k: (_ctrl_c(), real(*a, **k))[1])
    r = CliRunner().invoke(main, ["compile", str(root)])
    assert r.exit_code == 130 and "mailwright: interrupted" in r.output and "Aborted" not in r.output
    assert r.exc_info[0] is SystemExit  # no traceback: an exit, not an exception
    assert sorted(p.name for p in root.iterdir()) == ["mailwright.toml", "templates"]


def test_ctrl_c_while_a_build_is_swapped_in_waits_for_the_swap(tmp_path, monkeypatch):
    """The previous build's removal is the slow part of the swap: Ctrl-C there still leaves one whole build
    (the new one) and no '.build.old-*' copy beside it."""
    import shutil

    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")})
    assert CliRunner().invoke(main, ["compile", str(root), "--no-cache"]).exit_code == 0
    (root / "templates" / "welcome.mjml").write_text(text_email("Hello again"))
    real = shutil.rmtree

    def rmtree(path, *a, **k):
        if ".old-" in str(path):
            _ctrl_c()
        return real(path, *a, **k)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    r = CliRunner().invoke(main, ["compile", str(root), "--no-cache"])
    assert r.exit_code == 130, r.output
    assert sorted(p.name for p in root.iterdir()) == ["build", "mailwright.toml", "templates"]
    assert "Hello again" in next((root / "build").rglob("welcome*.txt")).read_text()


def test_ctrl_c_while_pushing_exits_130(tmp_path, monkeypatch):
    import mailwright.push.run

    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")})
    monkeypatch.setattr(mailwright.push.run, "read_accounts", lambda *a, **k: _ctrl_c())
    r = CliRunner().invoke(main, ["push", str(root), "--dry-run"])
    assert r.exit_code == 130 and "mailwright: interrupted" in r.output


def test_a_prompt_that_meets_the_end_of_its_input_is_not_an_interrupt(tmp_path, monkeypatch):
    """click.Abort with no Ctrl-C behind it (click.confirm at end of input) keeps click's exit 1."""
    import click

    import mailwright.push.run

    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")})

    def eof(*a, **k):
        raise click.Abort()

    monkeypatch.setattr(mailwright.push.run, "read_accounts", eof)
    r = CliRunner().invoke(main, ["push", str(root), "--dry-run"])
    assert r.exit_code == 1 and "interrupted" not in r.output, r.output


def test_a_deferred_ctrl_c_is_dropped_where_sigint_was_ignored(monkeypatch):
    from mailwright.cli import _uninterrupted

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _uninterrupted():
            _ctrl_c()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    with pytest.raises(KeyboardInterrupt), _uninterrupted():
        _ctrl_c()
    assert signal.getsignal(signal.SIGINT) is before


# ------------------------------------------------------------------ options


def test_an_esp_given_twice_is_compiled_and_pushed_once(tmp_path, monkeypatch):
    import json

    for var in ("KLAVIYO_API_KEY", "KLAVIYO_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    root = Path(__file__).parent.parent / "examples" / "shop"  # templates and flows; written only to --out
    once = CliRunner().invoke(main, ["compile", str(root), "--esp", "klaviyo", "--out", str(tmp_path / "a")])
    twice = CliRunner().invoke(main, ["compile", str(root), "--esp", "klaviyo", "--esp", "klaviyo",
                                      "--out", str(tmp_path / "b")])
    assert once.exit_code == twice.exit_code == 0, twice.output
    a, b = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in "ab")
    assert any(o["kind"] == "flow" for o in a["outputs"]) and b == a
    r = CliRunner().invoke(main, ["push", str(root), "--esp", "klaviyo", "--esp", "klaviyo", "--dry-run", "--json"])
    doc = json.loads(r.stdout)
    assert "pushes" not in doc and doc["esp"] == "klaviyo"  # one push's document (push.run.choose dedupes)


def test_a_snapshot_of_a_project_with_errors_says_them_and_exits_1(tmp_path, monkeypatch):
    """Before, a mailwright.toml that does not parse gave 'wrote 0 screenshots' and exit 0."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    monkeypatch.setenv("MAILWRIGHT_CHROMIUM", "/usr/bin/chromium")
    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")}, toml="oops = = 1\n")
    r = CliRunner().invoke(main, ["preview", str(root), "--snapshot", str(tmp_path / "shots")])
    assert r.exit_code == 1, r.output
    assert "mailwright.toml:" in r.output and "error: invalid TOML" in r.output
    assert "wrote 0 screenshots" in r.output


@pytest.mark.parametrize("command", ["compile", "push", "preview"])
def test_help_says_what_it_does_with_examples_exit_statuses_and_defaults(command):
    shown = CliRunner().invoke(main, [command, "--help"], terminal_width=120).output
    assert "Examples:" in shown and f"  mailwright {command} " in shown
    assert "Exit status" in shown and "1 an" in shown and ("2 usage" in shown or "2 a usage" in shown)
    assert "OUT" not in shown  # the folder is DIR, as --out's metavar and cli.md call it
    for line in shown.split("Options:")[1].splitlines():  # every option's metavar is the name its help uses
        if "DIR " in line or line.rstrip().endswith("DIR"):
            assert "DIRECTORY" not in line


def _stderr_on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    import pty

    main_fd, sub_fd = pty.openpty()
    try:
        subprocess.run([sys.executable, "-m", "mailwright", *args], stdout=subprocess.DEVNULL, stderr=sub_fd,
                       env=env, timeout=60)
        os.close(sub_fd)
        chunks = []
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # EIO: the other end is closed and all is read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(main_fd)


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path):
    root = make_project(tmp_path / "p", {"bad": "<mjml><mj-body>{% if %}</mj-body></mjml>"})
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _stderr_on_a_terminal(["compile", str(root)], env)
    assert b"error" in coloured and b"\x1b[" in coloured
    plain = _stderr_on_a_terminal(["compile", str(root)], {**env, "NO_COLOR": "1"})
    assert b"error" in plain and b"\x1b[" not in plain
    piped = subprocess.run([sys.executable, "-m", "mailwright", "compile", str(root)], capture_output=True, env=env)
    assert piped.returncode == 1 and b"error" in piped.stderr and b"\x1b[" not in piped.stderr


def test_snapshot_options_that_would_shoot_nothing_are_usage_errors(tmp_path, monkeypatch):
    """Before: an unknown --template gave 'wrote 0 screenshots' and exit 0; --template without --snapshot was
    ignored; a MAILWRIGHT_CHROMIUM that is no file was an internal error (exit 70)."""
    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")})
    monkeypatch.setenv("MAILWRIGHT_CHROMIUM", sys.executable)  # executable: the checks come before any launch
    r = CliRunner().invoke(main, ["preview", str(root), "--snapshot", str(tmp_path / "s"), "--template", "welcom"])
    assert r.exit_code == 2 and "no template 'welcom'" in r.output and "(there: welcome)" in r.output
    import mailwright.preview

    monkeypatch.setattr(mailwright.preview, "Server", None)  # serving would block: fail fast instead
    r = CliRunner().invoke(main, ["preview", str(root), "--template", "welcome"])
    assert r.exit_code == 2 and "--template chooses what --snapshot shoots" in r.output
    monkeypatch.setenv("MAILWRIGHT_CHROMIUM", str(tmp_path / "no-chromium"))
    r = CliRunner().invoke(main, ["preview", str(root), "--snapshot", str(tmp_path / "s")])
    assert r.exit_code == 2 and "no-chromium (MAILWRIGHT_CHROMIUM) is not an executable file" in r.output
    assert not (tmp_path / "s").exists()


def test_a_snapshot_folder_that_cannot_be_written_is_said_as_such(tmp_path, monkeypatch):
    """Before: 'cannot listen on 127.0.0.1:8765: Not a directory', about a port it never used."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    monkeypatch.setenv("MAILWRIGHT_CHROMIUM", "/usr/bin/chromium")
    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")})
    (tmp_path / "afile").write_text("")
    r = CliRunner().invoke(main, ["preview", str(root), "--snapshot", str(tmp_path / "afile" / "s")])
    assert r.exit_code == 1, r.output
    assert "afile/s: error: cannot write the screenshots here: not a directory" in r.output
    assert "listen" not in r.output


def test_a_chromium_that_does_not_start_is_one_line_not_an_internal_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILWRIGHT_CHROMIUM", "/bin/false")
    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")})
    r = CliRunner().invoke(main, ["preview", str(root), "--snapshot", str(tmp_path / "s")])
    assert r.exit_code == 1 and r.exc_info[0] is SystemExit, r.output
    assert r.output.startswith("mailwright: error: Chromium (/bin/false) failed: ") and r.output.count("\n") == 1


def test_colour_marks_the_severity_not_a_path_that_spells_it(tmp_path):
    root = make_project(tmp_path / "error: p", {"bad": "<mjml><mj-body>{% if %}</mj-body></mjml>"})
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    line = next(x for x in _stderr_on_a_terminal(["compile", str(root)], env).decode().splitlines() if "bad.mjml" in x)
    place, _, rest = line.partition(".mjml:")
    assert "\x1b[" not in place and rest.split(": ", 1)[1].startswith("\x1b[")  # the path as written, then red


def test_the_summary_counts_in_words(tmp_path):
    root = make_project(tmp_path / "p", {"welcome": text_email("Hi")}, esps=("klaviyo",))
    r = CliRunner().invoke(main, ["compile", str(root)])
    assert r.exit_code == 0 and "klaviyo: 1 template, 0 flows;" in r.output + r.stderr


def test_the_help_starts_a_user_where_an_installed_mailwright_can(tmp_path, monkeypatch):
    """`mailwright --help` opens with commands that work without a clone (no examples/ folder)."""
    shown = CliRunner().invoke(main, ["--help"]).output
    start = [line.split()[1:] for line in shown.split("Start with")[1].split("Options:")[0].splitlines()
             if line.strip().startswith("mailwright ")]
    assert [c[0] for c in start] == ["init", "compile", "preview"]
    monkeypatch.chdir(tmp_path)
    for args in start[:2]:  # preview would serve until stopped
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, (args, r.output)
    assert (tmp_path / start[1][1] / "build" / "manifest.json").is_file()


def test_a_large_compile_shows_its_progress_on_a_terminal_only(tmp_path):
    root = make_project(tmp_path / "p", {f"t{i:03d}": text_email(f"Hi {i}") for i in range(70)}, esps=("klaviyo",))
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    shown = _stderr_on_a_terminal(["compile", str(root), "--no-cache"], env).decode()
    assert "\r  32/70 templates (45%)" in shown and shown.count("\r\x1b[K") == 1
    assert shown.index("\r\x1b[K") > shown.rindex("/70 templates")  # cleared after the last count
    piped = subprocess.run([sys.executable, "-m", "mailwright", "compile", str(root), "--no-cache"],
                           capture_output=True, text=True, env=env)
    assert piped.returncode == 0 and "\r" not in piped.stderr and "/70" not in piped.stderr
