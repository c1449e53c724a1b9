"""The ``mailwright`` command line (see docs/cli.md)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__
from .errors import Diagnostic, MailwrightError, Pos
from .options import esp_option

if TYPE_CHECKING:
    from .cache import BuildCache
    from .push import Report

# Set by run(): this process ends when its command does (main() called in-process leaves it False).
_process_ends = False


def _color() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


def _report(diags: list[Diagnostic]) -> None:
    for d in diags:
        line = d.format()
        if _color():  # the severity right after the place: a path may hold "error:" too
            at = len(f"{d.pos}: ")
            word = click.style(f"{d.severity}:", fg="red" if d.severity == "error" else "yellow", bold=True)
            line = line[:at] + word + line[at + len(d.severity) + 1:]
        click.echo(line, err=True)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _fail(e: MailwrightError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"ok": False, "diagnostics": [d.to_json() for d in e.diagnostics]}, indent=2))
    else:
        _report(e.diagnostics)
    sys.exit(1)


class _Group(click.Group):
    """Commands that live in their own modules load when they are used, not at every start."""

    LAZY = {"check": "mailwright.check", "send-test": "mailwright.sendtest", "init": "mailwright.init",
            "replay": "mailwright.signals.replay", "events": "mailwright.signals.events_check",
            "relay": "mailwright.signals.relay.command", "diff": "mailwright.push.diffcmd",
            "pull": "mailwright.push.pull"}

    # their help's first paragraph: ``--help`` lists them without importing them (tests/test_startup.py
    # keeps each equal to the command's own)
    SUMMARY = {
        "check": "Check every template of PROJECT before it is sent: the CI gate.",
        "send-test": "Email every variant of TEMPLATE to ADDRESS through your own SMTP server.",
        "init": "Start a project in DIRECTORY: a template, a flow, a sample and a theme that work.",
        "replay": "Run the project's [signals], [scoring] and [triggers] over FILE.jsonl (Segment track, page and "
                  "identify calls, one per line), then its flows: per profile, the derived properties and score "
                  "over time, the triggers it fired, the emails it would get, when, and which variant of each.",
        "events": "Recorded events against the project's tracking plan.",
        "relay": "Run the signal engine live: Segment-style events in, enriched events out to every ESP.",
        "diff": "Show what push would do to each ESP account, with what was edited there in full; write nothing.",
        "pull": "Save every object edited in the ESP since the last push under drift/<esp>/.",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            if name in self.SUMMARY and name in self.LAZY:  # a stand-in that only knows its help
                rows.append((name, click.Command(name, help=self.SUMMARY[name])))
            elif (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden:
                rows.append((name, cmd))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])

    def invoke(self, ctx: click.Context) -> object:
        # click turns Ctrl-C into "Aborted!" and exit 1, which cli.md gives to bad input: 130 (128 + SIGINT),
        # as a shell reports a process that SIGINT ended, lets a script tell the two apart
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, click.Abort) as e:
            if isinstance(e, click.Abort) and not isinstance(e.__context__, KeyboardInterrupt):
                raise  # a prompt that met the end of its input
            click.echo("\nmailwright: interrupted", err=True)
            raise click.exceptions.Exit(130) from None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            import importlib

            return importlib.import_module(self.LAZY[name]).command
        return super().get_command(ctx, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailwright")
def main() -> None:
    """Compile modular MJML emails with send-time tags for every ESP.

    \b
    A project is a folder with mailwright.toml, templates/*.mjml, and
    optionally components/, themes/ and flows/.
    \b
    Start with (a new project, then its emails for every ESP, then every
    variant in the browser):
      mailwright init my-emails
      mailwright compile my-emails
      mailwright preview my-emails
    """


@main.command()
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--esp", "esps", multiple=True, metavar="ESP",
              help="Compile for this ESP only (repeatable). Default: the project's [project] esps.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Write into DIR (default: PROJECT/build). It is replaced as a whole.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of text.")
@click.option("--no-cache", is_flag=True, help="Compile everything afresh: neither read nor write the build cache "
                                              "(DIR/.cache).")
def compile(project: Path, esps: tuple[str, ...], out: Path | None, as_json: bool,  # noqa: A001
            no_cache: bool) -> None:
    """Compile every template (and flow) of PROJECT for each ESP.

    \b
    Writes DIR/<esp>/<template>.html and .txt, and DIR/manifest.json.
    What did not change since the last compile is replayed from
    DIR/.cache (--no-cache: everything compiled afresh).
    Exit status: 0 clean, 1 an error in the project's input (nothing is
    written), 2 a usage error, 130 interrupted (Ctrl-C: the previous
    build is left as it was, or the new one whole).
    \b
    Examples:
      mailwright compile examples/shop
      mailwright compile examples/shop --esp klaviyo --out /tmp/build
      mailwright compile . --json | jq '.outputs[].html'
    """
    started = time.perf_counter()
    esps = tuple(dict.fromkeys(esps))  # --esp klaviyo --esp klaviyo: one compile for it, not two
    if _process_ends:
        import gc

        # A compile leaves almost no cyclic garbage (≈ 40 objects per 100 templates) and the process ends
        # with it: the young collections would only walk what it builds and keeps (≈ 15 ms per 100 templates).
        gc.disable()
    cache = None
    if not no_cache:  # mailwright.cache imported only when a cache is read
        from .cache import CACHE_DIR, BuildCache, find_root

        root = find_root(project)
        cache = BuildCache(root, (out or root / "build") / CACHE_DIR) if root is not None else None
    hit = cache.replay_project(esps) if cache is not None else None  # a clean compile of these very inputs
    try:
        manifest = hit.in_place(out or root / "build") if hit is not None else None
        if manifest is not None:  # nothing to do
            _compiling(project, hit.templates, esps or hit.esps, as_json)
            proj, result = hit, hit
        else:  # template and flow entries still replayed
            proj, result = _compile_fresh(project, esps, as_json, cache)
        with _uninterrupted():  # the build and its cache land whole; Ctrl-C takes effect after
            if manifest is None and not result.errors:
                from .output import write_outputs

                manifest = write_outputs(result, out or proj.root / "build")
            if manifest is not None and cache is not None:
                if result is not hit:
                    from .dialect import load_connectors

                    cache.store_project(esps, proj, result, load_connectors(), manifest.parent)
                cache.dir = manifest.parent / CACHE_DIR  # where the build went (links resolved)
                cache.flush()
    except MailwrightError as e:
        _fail(e, as_json)
        return
    finally:
        if cache is not None:
            cache.discard()  # what a failed run staged
    elapsed = time.perf_counter() - started
    if as_json:
        doc = {
            "ok": not result.errors,
            "manifest": str(manifest) if manifest else None,
            "outputs": json.loads(manifest.read_text())["outputs"] if manifest else [],
            "diagnostics": [d.to_json() for d in result.diagnostics],
            "missing_mappings": _mapping_block(result.diagnostics, proj.config) if result.errors else "",
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _report(result.diagnostics)
        if result.errors:
            block = _mapping_block(result.diagnostics, proj.config)
            if block:  # every missing mapping of the run, ready to paste
                click.echo(f"\nadd to {proj.config_path.name} (and create these in each ESP):\n\n{block}", err=True)
            n = len(result.errors)
            click.echo(f"{_count(n, 'error')}; nothing written", err=True)
        else:
            per: dict[str, list[int]] = {}
            for o in result.outputs:
                per.setdefault(o.esp, [0, 0])[0] += 1
            for f in result.flows:
                per.setdefault(f.esp, [0, 0])[1] += 1
            summary = "; ".join(f"{k}: {_count(t, 'template')}, {_count(f, 'flow')}" for k, (t, f) in per.items())
            warned = len(result.diagnostics)
            tail = f" ({_count(warned, 'warning')})" if warned else ""
            click.echo(f"wrote {summary}; manifest {manifest} in {elapsed:.2f}s{tail}")
    sys.exit(1 if result.errors else 0)


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """SIGINT waits for the block to end (then raises KeyboardInterrupt as it would have)."""
    import signal

    if threading.current_thread() is not threading.main_thread():  # only the main thread sets handlers
        yield
        return
    caught: list[int] = []
    before = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        if caught and before is not signal.SIG_IGN:
            raise KeyboardInterrupt


def _compiling(project: Path, n: int, esps: list[str] | tuple[str, ...], as_json: bool) -> None:
    if not n:
        click.echo(f"{project}: warning: no templates in templates/*.mjml", err=True)
    if not as_json:
        click.echo(f"compiling {_count(n, 'template')} for {', '.join(esps)} …", err=True)


def _compile_fresh(project: Path, esps: tuple[str, ...], as_json: bool, cache: BuildCache | None) -> tuple:
    """Load and compile the project (templates unchanged since the cache saw them replayed from it)."""
    from .compile import compile_project
    from .project import load_project

    available = esp_option(esps)
    with cache.recording() if cache is not None else contextlib.nullcontext():  # load_project's reads too
        proj = load_project(project, available)
        _compiling(project, len(proj.templates), esps or proj.esps, as_json)
        live = _Progress() if not as_json and len(proj.templates) > 64 and sys.stderr.isatty() else None
        try:  # only text is written: no placeholder trees kept
            return proj, compile_project(proj, list(esps) or None, cache, keep_trees=False, progress=live)
        finally:
            if live is not None:
                live.done()


class _Progress:
    """``done/total`` on one terminal line while a large project compiles, at most ten times a second;
    the line is cleared at the end (never into a pipe or a log)."""

    def __init__(self) -> None:
        self.shown = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.shown >= 0.1 and done < total:
            self.shown = now
            click.echo(f"\r  {done}/{total} templates ({done * 100 // total}%)", nl=False, err=True)

    def done(self) -> None:
        if self.shown:
            click.echo("\r\033[K", nl=False, err=True)


def _mapping_block(diags: list[Diagnostic], config: dict) -> str:
    from .compile import mapping_block

    return mapping_block(diags, config)


_ALL = "\0all"  # what --force without a NAME stands for


def _project_after_force(project: Path, force: tuple[str, ...]) -> tuple[Path, tuple[str, ...]]:
    """`push --force examples/shop`: click gives the folder to --force as its NAME; it meant the project.

    Only when PROJECT was not given and the value is a project folder (it holds mailwright.toml).
    """
    source = click.get_current_context().get_parameter_source("project")
    if source is not click.core.ParameterSource.DEFAULT:
        return project, force
    folders = [n for n in force if n != _ALL and (Path(n) / "mailwright.toml").is_file()]
    if len(folders) != 1:
        return project, force
    return Path(folders[0]), tuple(_ALL if n == folders[0] else n for n in force)


@main.command()
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--esp", "esps", multiple=True, metavar="ESP",
              help="The ESP account to bring in line (repeatable). Default: each of the project's [project] esps.")
@click.option("--dry-run", is_flag=True, help="Print the plan (create / update / unchanged) and write nothing. "
                                              "Without a credential: the plan against an empty account.")
@click.option("--only", type=click.Choice(["templates", "flows"]), help="Push only templates or only flows.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of text.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (asking happens only on a terminal).")
@click.option("--live", is_flag=True, help="Klaviyo: switch pushed flows live (default: they stay drafts).")
@click.option("--dedupe", is_flag=True, help="Remove extra copies of objects named '<project>: …' (the oldest "
                                             "copy is kept).")
@click.option("--force", multiple=True, is_flag=False, flag_value=_ALL, metavar="[NAME]",
              help="Overwrite what was edited in the ESP since the last push: everything, or NAME (repeatable; "
                   "the name in the ESP, or its part after '<project>: ').")
@click.option("--adopt", is_flag=True, help="Take over objects of the project's names that carry no fingerprint "
                                            "(made by hand, or by an older push).")
@click.option("--prune", is_flag=True, help="Remove objects named '<project>: …' that the project no longer has "
                                            "(a live flow is only switched off).")
def push(project: Path, esps: tuple[str, ...], dry_run: bool, only: str | None, as_json: bool, yes: bool, live: bool,
         dedupe: bool, force: tuple[str, ...], adopt: bool, prune: bool) -> None:
    """Compile PROJECT, then bring each ESP account in line with it.

    \b
    Creates what is missing, updates what changed, leaves what is equal
    untouched: an account already in line gets no write request at all.
    Remote objects are found again by name ("<project>: <template>"), so no
    state file is kept. Without --esp, every ESP of [project] esps is
    pushed in turn. The credential comes from the environment:
    KLAVIYO_API_KEY, HUBSPOT_ACCESS_TOKEN or ACTIVECAMPAIGN_API_TOKEN (and
    ACTIVECAMPAIGN_API_URL); *_BASE_URL overrides the endpoint. With
    --dry-run and no credential, the plan is made against an empty account.
    An object of one name that exists more than once is reported; --dedupe
    removes the extra copies (never anything outside "<project>: ").
    What push writes carries a fingerprint: an object edited in the ESP
    since is "drifted" and kept (--force overwrites it; mailwright pull
    saves it); one without a fingerprint is kept unless --adopt; one the
    project no longer has is "orphan" (--prune removes it).
    \b
    Exit status: 0 in line, 1 an input error (nothing sent), 2 usage,
    3 the ESP refused or failed some operations, duplicates remain, or an
    object edited in the ESP was kept (the rest is done), 130 interrupted
    (Ctrl-C: what was sent stays; push again to finish).
    \b
    Examples:
      mailwright push examples/shop --dry-run
      mailwright push . --esp hubspot --only templates --yes
      mailwright push . --esp activecampaign --json > push.json
      mailwright push . --esp klaviyo --force "cart-reminder--cart_abandoned"
    """
    from .push import Report, apply_changes, diffs, new_duplicates, no_changes, offline_note, outcome, table
    from .push.run import read_accounts
    from .transport import RemoteError

    def say(message: str) -> None:
        click.echo(message, err=True)

    project, force = _project_after_force(project, force)
    accounts = read_accounts(project, esps, as_json=as_json, dry_run=dry_run, live=live, only=only, dedupe=dedupe,
                             force=frozenset(n for n in force if n != _ALL) if _ALL not in force else True,
                             adopt=adopt, prune=prune)
    clients, plans, unread = accounts.clients, accounts.plans, accounts.unread
    import dataclasses

    for name in sorted(set(force) - {_ALL}):  # a NAME that covers nothing: said, not an error (a rerun is fine)
        if not any(dataclasses.replace(cl.ctx, force=frozenset({name})).forced(c.name)
                   for cl in clients for c in plans.get(cl.ctx.esp) or [] if c.diff):
            say(f"note: --force {name}: nothing of that name was edited in the ESP")
    several = len(clients) > 1
    docs, lines, bad = [], [], False
    for client in clients:
        esp, label, changes = client.ctx.esp, client.label, plans.get(client.ctx.esp)
        note = offline_note(client) if client.ctx.empty_account else ""
        if changes is None:
            bad = True
            docs.append({"esp": esp, "ok": False, "error": unread[esp]})
            lines.append(f"{label}: not pushed: {unread[esp]}")
            if not as_json:
                click.echo(f"mailwright: error: {unread[esp]}", err=True)
            continue
        report = Report(esp, changes, client.manual_steps(), dry_run, empty_account=client.ctx.empty_account)
        if as_json:
            if note:
                say(note)
        else:
            if several:
                click.echo(f"{label}:" if not lines else f"\n{label}:")
            if note:
                click.echo(note)
            click.echo(table(changes))
            if shown := diffs(changes):
                click.echo("\n" + shown.rstrip())
        declined = False
        if not dry_run and not no_changes(changes):
            if not yes and sys.stdin.isatty() and not as_json and \
                    not click.confirm(f"Apply these changes to {label}?", default=False, err=True):
                say("nothing applied")
                declined = True
            else:
                try:
                    apply_changes(changes, say)
                    later = new_duplicates(client, changes)  # a create that landed twice shows now, not next time
                    changes += later
                    apply_changes(later, say)
                except RemoteError as e:  # the re-read failed (apply_changes reports per item)
                    bad = True
                    docs.append({"esp": esp, "ok": False, "error": str(e)})
                    lines.append(f"{label}: {e}")
                    if not as_json:
                        click.echo(f"mailwright: error: {e}", err=True)
                    continue
        report.reads, report.writes = client.transport.count["read"], client.transport.count["write"]
        docs.append(report.to_json())
        lines.append(outcome(report, label, note, declined))
        bad = bad or (not report.ok and not dry_run)
        if not as_json and not declined:
            _push_trailer(report, label, note)
    if as_json:
        doc = docs[0] if not several else {"ok": all(d["ok"] for d in docs), "dry_run": dry_run, "pushes": docs}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    elif several:
        say("\nsummary:")
        for line in lines:
            say(f"  {line}")
    sys.exit(3 if bad else 0)


def _push_trailer(report: Report, label: str, note: str) -> None:
    """What a person reads after one ESP's plan (and its writes): manual steps, failures, duplicates."""
    say = lambda m: click.echo(m, err=True)  # noqa: E731
    for m in report.manual:
        say(f"by hand in {label}: build the automation '{m['automation']}' as follows "
            f"(mailwright compile also writes it to BUILD/{report.esp}/flows/{m['flow']}.md):")
        say("  " + m["recipe"].rstrip().replace("\n", "\n  "))
    if report.dry_run:
        say("dry run: nothing was sent" + (f" ({note})" if note else ""))
        if report.failed:
            say(f"{len(report.failed)} item(s) cannot be pushed "
                + ("to an empty account:" if note else "as things stand:"))
    elif report.failed:
        say(f"{len(report.failed)} item(s) failed; the rest is done. Run push again to finish.")
    for c in report.failed:
        say(f"  {c.kind} {c.name}: {c.error}")
    if report.duplicates:
        say(f"{len(report.duplicates)} object(s) exist more than once in {label}: push --dedupe keeps "
            "the oldest copy and removes the others")
        for c in report.duplicates:
            say(f"  {c.kind} {c.name}: {c.detail}")
    if report.kept:
        say(f"{len(report.kept)} object(s) in {label} were kept, not overwritten: push --force [NAME] overwrites what "
            "was edited there (mailwright pull saves it first), push --adopt takes over what has no fingerprint")
        for c in report.kept:
            say(f"  {c.action} {c.kind} {c.name}")
    elif not report.dry_run and not report.failed and not report.duplicates:
        say(f"{label} is in line with the project")


@main.command()
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--snapshot", "snapshot_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write PNG screenshots of every tile into DIR (headless Chromium) instead of serving.")
@click.option("--template", "templates", multiple=True, metavar="NAME", help="With --snapshot: only these.")
def preview(project: Path, port: int, snapshot_dir: Path | None, templates: tuple[str, ...]) -> None:
    """Serve every variant of every template, side by side, per ESP, live.

    \b
    One tile per distinct variant: recipients derived from the conditions
    (every branch reached), your samples/*.yaml, and worst-case data; each at
    mobile and desktop width, light and dark, with subject, preheader, plain
    text and compiled source. Saving a file refreshes the open page.
    Ctrl-C stops the server.
    \b
    Exit status (--snapshot): 0 every template shot, 1 an error in the
    project's input (the screenshots of what compiled are still written),
    2 usage.
    \b
    Examples:
      mailwright preview examples/shop
      mailwright preview . --port 0
      mailwright preview examples/shop --snapshot shots/ --template cart-reminder
    """
    from .preview import Server

    if templates and snapshot_dir is None:
        raise click.UsageError("--template chooses what --snapshot shoots; the served preview shows every template")
    try:
        if snapshot_dir is not None:
            _snapshot(project, snapshot_dir, templates)
            return
        server = Server(project, port=port).start()
    except MailwrightError as e:
        _fail(e, False)
        return
    except OSError as e:
        click.echo(f"mailwright: error: cannot listen on 127.0.0.1:{port}: {e.strerror}", err=True)
        sys.exit(1)
    for err in server.preview.errors:
        click.echo(err, err=True)
    click.echo(f"preview at {server.url}  (Ctrl-C stops it)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
        click.echo("stopped", err=True)


def _snapshot(project: Path, snapshot_dir: Path, templates: tuple[str, ...]) -> None:
    import shutil

    from .preview import snapshot

    chromium = os.environ.get("MAILWRIGHT_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium:
        raise click.UsageError("--snapshot needs Chromium: install it (Debian: apt-get install chromium) "
                               "or set MAILWRIGHT_CHROMIUM")
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        raise click.UsageError(f"--snapshot: {chromium} (MAILWRIGHT_CHROMIUM) is not an executable file")
    own = project / "templates"
    unknown = [t for t in templates if own.is_dir() and not (own / f"{t}.mjml").is_file()]
    if unknown:  # else: silently no screenshot of it
        there = ", ".join(sorted(f.stem for f in own.glob("*.mjml"))) or "none"
        raise click.BadParameter(f"no template {', '.join(map(repr, unknown))} in {own} (there: {there})",
                                 param_hint="--template")
    from playwright.sync_api import Error as BrowserError

    errors: list[str] = []
    try:
        files = snapshot(project, snapshot_dir, chromium, list(templates) or None,
                         log=lambda m: click.echo(m, err=True), errors=errors)
    except OSError as e:  # the folder cannot be written (the server listens on any free port)
        why = (e.strerror or str(e)).lower() + (f" ({e.filename})" if e.filename else "")
        raise MailwrightError(Pos(str(snapshot_dir), 0), f"cannot write the screenshots here: {why}") from None
    except BrowserError as e:
        click.echo(f"mailwright: error: Chromium ({chromium}) failed: {str(e).splitlines()[0]}", err=True)
        sys.exit(1)
    for err in errors:  # what has no screenshot, and why: a CI job must not pass on an empty folder
        click.echo(err, err=True)
    click.echo(f"wrote {len(files)} screenshots into {snapshot_dir}")
    if errors:
        sys.exit(1)


def run() -> None:
    """The console entry point: an unexpected failure is one line, not a traceback."""
    import gc

    global _process_ends
    _process_ends = True
    # A run builds its objects (modules, classes, trees) to keep them: young collections while it
    # imports and works walk them for nothing (≈ 4 ms of a one-template compile).
    gc.set_threshold(max(gc.get_threshold()[0], 50_000), *gc.get_threshold()[1:])
    try:
        main(standalone_mode=True)
    except SystemExit:
        # The exit's own collections would walk every object the run made (≈ 15 ms of a one-template
        # compile) to free what the process is about to drop; atexit handlers still run.
        gc.freeze()
        raise
    except MailwrightError as e:  # met outside a command's own handling: a broken connector package
        _report(e.diagnostics)
        sys.exit(1)
    except Exception as e:  # a bug in mailwright, not in the user's input
        if os.environ.get("MAILWRIGHT_DEBUG"):
            raise
        click.echo(f"mailwright: internal error: {type(e).__name__}: {e}", err=True)
        click.echo("Please report it with the input that caused it (MAILWRIGHT_DEBUG=1 shows the traceback).",
                   err=True)
        sys.exit(70)


if __name__ == "__main__":
    run()
