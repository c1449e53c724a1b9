"""``mailwright relay``: run the relay (``relay [PROJECT]``, the same as ``relay run``), and its
operations: ``status`` and ``retry`` (``sync`` comes from mailwright.signals.relay.sync when installed)."""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from ...errors import Diagnostic, MailwrightError, MailwrightErrors, Pos
from .logs import Log
from .model import Delivery, DeliveryContext

DEFAULT_STORE = ".mailwright/relay.sqlite3"
LAZY = {"sync": "mailwright.signals.relay.sync"}  # the per-ESP setup command, by the delivery side


def open_store(url: str | None, root: Path, create: bool = True, env: dict[str, str] | None = None) -> Any:
    """``sqlite:PATH`` (relative to the project) or ``redis://HOST:PORT/DB``; ``create``: a new SQLite
    file may be made (the relay itself), else a missing one is an error (status, retry)."""
    url = url or f"sqlite:{DEFAULT_STORE}"
    if url.startswith("sqlite:"):
        from .store_sqlite import SQLiteStore

        path = Path(url[len("sqlite:"):])
        if not str(path):
            raise click.BadParameter("sqlite: needs a path, e.g. sqlite:.mailwright/relay.sqlite3",
                                     param_hint="--store")
        path = path if path.is_absolute() else root / path
        if not create and not path.exists():
            raise MailwrightError(Pos(str(path), 0), "no relay store here: the relay has not run with this --store")
        try:
            return SQLiteStore(path)
        except (sqlite3.Error, OSError) as e:  # a directory, another program's file, no permission
            raise MailwrightError(Pos(str(path), 0), f"cannot use this as the relay's store: {e}") from None
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        from .store_redis import LEASE_MS, RedisStore

        lease = (env or {}).get("MAILWRIGHT_RELAY_LEASE_MS", "").strip()
        if lease and not (lease.isdigit() and 2000 <= int(lease) <= 600_000):
            raise MailwrightError(Pos("MAILWRIGHT_RELAY_LEASE_MS", 0, 0), "MAILWRIGHT_RELAY_LEASE_MS must be a "
                                  "whole number of milliseconds from 2000 to 600000")
        try:
            return RedisStore(url, int(lease) if lease else LEASE_MS)
        except (redis.RedisError, ValueError) as e:  # unreachable, refused the password, a malformed URL
            password = urlsplit(url).password if "://" in url else None
            detail = str(e).replace(password, "***") if password else str(e)
            raise MailwrightError(Pos("--store", 0, 0), f"cannot use Redis at {_safe_url(url)}: "
                                  f"{type(e).__name__}: {detail}") from None
    raise click.BadParameter(f"'{_safe_url(url)}' is neither sqlite:PATH nor redis://HOST:PORT/DB",
                             param_hint="--store")


def _project(path: Path) -> Any:
    from ...dialect import load_connectors
    from ...project import load_project

    return load_project(path, list(load_connectors()))


def _esps(project: Any, chosen: tuple[str, ...]) -> list[str]:
    esps = list(chosen) or list(project.esps)
    for e in esps:
        if e not in project.esps:
            raise click.BadParameter(f"'{e}' is not one of the project's ESPs ({', '.join(project.esps)})",
                                     param_hint="--esp")
    return esps


def connector_deliveries(project: Any, esps: list[str], env: dict[str, str], log: Log) -> dict[str, Delivery]:
    """Each ESP's delivery from its connector (``Connector.events``), given what push gives its client."""
    from ...dialect import load_connectors
    from ...push import transport_options

    conns = load_connectors()
    options = transport_options(env)
    out: dict[str, Delivery] = {}
    errors: list[Diagnostic] = []  # every ESP's missing setting in one pass
    for esp in esps:
        cls = getattr(conns[esp], "events", None)
        if cls is None:
            errors.append(Diagnostic(Pos(str(project.config_path), 0), f"the {esp} connector cannot deliver "
                                     "events yet (it has no event delivery); leave it out with --esp"))
            continue
        said: set[str] = set()

        def warn(message: str, esp: str = esp, said: set[str] = said) -> None:
            if message not in said:
                said.add(message)
                log("esp_warning", "warning", esp=esp, message=message)

        def tlog(line: str, esp: str = esp) -> None:
            log("transport", esp=esp, message=line)

        try:
            out[esp] = cls(DeliveryContext(esp=esp, config=project.esp_config(esp), project=project, warn=warn,
                                           env=env, transport_options=options, log=tlog))
        except MailwrightError as e:
            errors += e.diagnostics
    if errors:
        raise MailwrightErrors(errors)
    return out


def serve(project_path: Path, host: str = "127.0.0.1", port: int = 8787, store_url: str | None = None,
          esps: tuple[str, ...] = (), deliveries: dict[str, Delivery] | None = None,
          env: dict[str, str] | None = None) -> None:
    """Run the relay until SIGTERM/SIGINT, then drain (``deliveries``: for embedding and tests)."""
    import uvicorn

    from ..config import load_signals
    from ..engine import Engine
    from .app import build_app
    from .ingest import write_keys
    from .metrics import Metrics
    from .process import Processor
    from .runner import Relay

    env = dict(os.environ if env is None else env)
    log = Log()
    project = _project(project_path)
    engine = Engine(load_signals(project))
    chosen = _esps(project, esps) if deliveries is None else list(deliveries)
    keys = write_keys(env)
    errors: list[Diagnostic] = []
    if not keys:
        errors.append(Diagnostic(Pos("MAILWRIGHT_WRITE_KEYS", 0, 0), "set MAILWRIGHT_WRITE_KEYS to the write "
                                 "keys senders use (comma-separated); the relay accepts no event without one"))
    if deliveries is None:
        try:
            deliveries = connector_deliveries(project, chosen, env, log)
        except MailwrightError as e:
            errors += e.diagnostics
    if errors:
        raise MailwrightErrors(errors)
    assert deliveries is not None
    store = open_store(store_url, project.root, env=env)
    metrics = Metrics()
    metrics.watch(store.status)
    relay = Relay(store, Processor(engine, chosen), deliveries, metrics, log)
    app = build_app(relay, keys, log, metrics)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=30)
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it caught once it has shut down; the relay has drained by then: exit 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_a: None)
    log("relay_listening", host=host, port=port, store=_safe_url(store_url or f"sqlite:{DEFAULT_STORE}"))
    try:
        server.run()
    finally:
        store.close()
    if relay.failed is not None:
        sys.exit(70)


def _safe_url(url: str) -> str:
    """A store URL without its password (redis://:SECRET@host)."""
    url = re.sub(r"(?i)(password=)[^&#]*", r"\1***", url)  # redis://host/0?password=SECRET
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


class _RelayGroup(click.Group):
    """``relay [PROJECT] [OPTIONS]`` runs the relay; ``relay status|retry|sync …`` are its operations."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *(n for n in LAZY if self.get_command(ctx, n))})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY and name not in self.commands:
            try:
                return importlib.import_module(LAZY[name]).command
            except ModuleNotFoundError:
                return None
        return super().get_command(ctx, name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in ("-h", "--help") and self.get_command(ctx, args[0]) is None:
            args = ["run", *args]
        elif not args:
            args = ["run"]
        return super().parse_args(ctx, args)


def _fail(e: MailwrightError) -> None:
    for d in e.diagnostics:
        click.echo(d.format(), err=True)
    sys.exit(1)


@click.group("relay", cls=_RelayGroup, context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Run the signal engine live: Segment-style events in, enriched events out to every ESP.

    \b
    mailwright relay [PROJECT] [--host H] [--port P] [--store sqlite:PATH | redis://HOST:PORT/DB] [--esp E]...
    mailwright relay status|retry [PROJECT] [--esp E]... [--json] [--dry-run]
    """


@command.command("run")
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--store", "store_url", default=None, metavar="URL",
              help=f"sqlite:PATH (default sqlite:{DEFAULT_STORE} in the project) or redis://HOST:PORT/DB.")
@click.option("--esp", "esps", multiple=True, help="Deliver to this ESP only (repeatable; default [project] esps).")
def run_command(project: Path, host: str, port: int, store_url: str | None, esps: tuple[str, ...]) -> None:
    """Run the relay until SIGTERM or SIGINT, then finish what is in flight and exit 0."""
    try:
        serve(project, host, port, store_url, esps)
    except MailwrightError as e:
        _fail(e)


def _store_of(project: Path, store_url: str | None, esps: tuple[str, ...]) -> tuple[Any, list[str]]:
    try:
        proj = _project(project)
        return open_store(store_url, proj.root, create=False), _esps(proj, esps)
    except MailwrightError as e:
        _fail(e)
        raise


_project_arg = click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
_store_opt = click.option("--store", "store_url", default=None, metavar="URL", help="As for `relay` itself.")
_esp_opt = click.option("--esp", "esps", multiple=True, help="This ESP only (repeatable).")


@command.command("status")
@_project_arg
@_store_opt
@_esp_opt
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(project: Path, store_url: str | None, esps: tuple[str, ...], as_json: bool) -> None:
    """Queue depth, the oldest pending item and the dead letters, per ESP."""
    store, chosen = _store_of(project, store_url, esps)
    try:
        s = store.status(time.time())
    finally:
        store.close()
    blank = {"pending": 0, "oldest_pending_seconds": 0.0, "dead": 0}
    s["esps"] = {e: s["esps"].get(e, dict(blank)) for e in chosen}
    if as_json:
        click.echo(json.dumps(s, indent=1))
        return
    click.echo(f"inbox: {s['inbox']['pending']} event(s) waiting for the engine, oldest "
               f"{s['inbox']['oldest_pending_seconds']:g}s; {s['timers']} timer(s) running")
    for esp, e in s["esps"].items():
        click.echo(f"{esp}: {e['pending']} pending, oldest {e['oldest_pending_seconds']:g}s, "
                   f"{e['dead']} dead letter(s)")


@command.command("retry")
@_project_arg
@_store_opt
@_esp_opt
@click.option("--dry-run", is_flag=True, help="Say what would be re-queued; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def retry_command(project: Path, store_url: str | None, esps: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Re-queue the dead letters (all, or of --esp) for delivery by the running relay."""
    store, chosen = _store_of(project, store_url, esps)
    try:
        counts = store.retry_dead(chosen, dry_run)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "requeued": counts}, indent=1))
        return
    verb = "would re-queue" if dry_run else "re-queued"
    for esp in chosen:
        click.echo(f"{esp}: {verb} {counts.get(esp, 0)} dead letter(s)")
