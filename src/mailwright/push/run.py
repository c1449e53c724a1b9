"""What ``push``, ``diff`` and ``pull`` share: load and compile the project, check every credential,
then read and plan every ESP account before anything is written."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..errors import MailwrightError
from . import PushClient


@dataclass
class Accounts:
    """Every chosen ESP's client, and its plan or why its account could not be read."""

    clients: list[PushClient]
    plans: dict[str, list] = field(default_factory=dict)
    unread: dict[str, str] = field(default_factory=dict)  # esp -> why its account could not be read


def choose(project: Path, esps: tuple[str, ...], as_json: bool, verb: str = "push to") -> tuple[Any, dict, list[str]]:
    """(the project, the connectors, the ESPs chosen); a usage error for an ESP the project does not have."""
    from ..cli import _fail
    from ..dialect import load_connectors
    from ..options import esp_option
    from ..project import load_project

    esp_option(esps)
    connectors = load_connectors()
    try:
        proj = load_project(project, list(connectors))
    except MailwrightError as e:
        _fail(e, as_json)
    chosen = list(dict.fromkeys(esps or proj.esps))
    for e in chosen:
        if e not in proj.esps:
            raise click.BadParameter(f"'{e}' is not one of the project's ESPs ([project] esps in "
                                     f"{proj.config_path.name}: {', '.join(proj.esps)}); add it there to {verb} it",
                                     param_hint="--esp")
        if connectors[e].client is None:
            raise click.UsageError(f"{connectors[e].label} has no push client installed")
    return proj, connectors, chosen


def read_accounts(project: Path, esps: tuple[str, ...], *, as_json: bool, dry_run: bool, verb: str = "push to",
                  **options: Any) -> Accounts:
    """Compile, check every credential and setting, then plan each account (``options``: PushContext's).
    An input error anywhere stops everything before the first write (exit 1)."""
    from ..cli import _fail, _report
    from ..compile import Result, compile_project
    from ..errors import MailwrightErrors
    from ..transport import RemoteError
    from . import PushContext, environment, transport_options

    proj, connectors, chosen = choose(project, esps, as_json, verb)

    def say(message: str) -> None:
        click.echo(message, err=True)

    accounts = Accounts([])
    try:
        result = compile_project(proj, chosen)
        if result.errors:
            _report(result.diagnostics)
            click.echo("input errors: nothing was sent", err=True)
            if as_json:
                click.echo(json.dumps({"ok": False, "diagnostics": [d.to_json() for d in result.diagnostics]}))
            sys.exit(1)
        env = environment()
        topts = transport_options(env)
        problems = []
        for e in chosen:  # every credential and setting is checked before any request
            cls = connectors[e].client
            part = Result([o for o in result.outputs if o.esp == e], [f for f in result.flows if f.esp == e])
            offline = dry_run and not env.get(cls.credential_var, "").strip()
            ctx = PushContext(proj, e, proj.esp_config(e), part, env, log=say, transport_options=topts,
                              empty_account=offline, **options)
            try:
                accounts.clients.append(cls(ctx))  # a missing credential stops here (unless this is a dry run)
            except MailwrightError as err:
                problems += err.diagnostics
        for client in accounts.clients if not problems else []:  # every plan before any write
            if not as_json and not client.ctx.empty_account:
                say(f"reading the {client.label} account …")
            try:
                accounts.plans[client.ctx.esp] = client.read_plan()
            except MailwrightError as err:
                problems += err.diagnostics
            except RemoteError as err:
                accounts.unread[client.ctx.esp] = str(err)
        if problems:
            raise MailwrightErrors(problems)
    except MailwrightError as e:
        _fail(e, as_json)
    return accounts
