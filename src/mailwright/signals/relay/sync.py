"""``mailwright relay sync [PROJECT] [--esp E]... [--dry-run] [--json]``: create in each ESP what the relay's
events need before they flow, from the tracking plan (HubSpot: event definitions and the mapped contact
properties; ActiveCampaign: event tracking switched on and the event names; Klaviyo: nothing).

Like push: every account is read and planned before the first write; what is in line is left alone (a
rerun makes no write); ``--dry-run`` prints the plan and writes nothing; a failed item does not stop the
others, and exit status 3 says a rerun finishes the job. Each ESP's delivery plans its own setup
(``Connector.events(...).sync(plan)``); the plan's changes are push's, applied by push's machinery.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ...errors import MailwrightError
from ...push import Change, apply_changes, counts, table, transport_options
from ...transport import RemoteError
from .command import _esps, _fail, _project
from .model import DeliveryContext


@click.command("sync")
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--esp", "esps", multiple=True, help="Set up this ESP only (repeatable; default [project] esps).")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def command(project: Path, esps: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Create what the ESPs need before events flow (event definitions, contact properties, event names)."""
    from ...dialect import load_connectors
    from ..contract import load_plan

    env = dict(os.environ)

    def say(text: str) -> None:
        click.echo(text, err=as_json)

    try:
        proj = _project(project)
        chosen = _esps(proj, esps)
        plan = load_plan(proj)
        options = transport_options(env)
        conns = load_connectors()
        setups: dict[str, Any] = {}
        problems = []
        for esp in chosen:  # every setting of every ESP checked before any request
            try:
                setups[esp] = conns[esp].events(DeliveryContext(
                    esp=esp, config=proj.esp_config(esp), project=proj, env=env, transport_options=options,
                    warn=lambda m, esp=esp: click.echo(f"{conns[esp].label}: warning: {m}", err=True)))
            except MailwrightError as e:
                problems.extend(e.diagnostics)
        if problems:
            from ...errors import MailwrightErrors

            raise MailwrightErrors(problems)
        plans: dict[str, list[Change] | str] = {}
        for esp, setup in setups.items():  # every account read and planned before the first write
            try:
                plans[esp] = setup.sync(plan)
            except RemoteError as e:
                plans[esp] = str(e)
    except MailwrightError as e:
        _fail(e)
        return
    docs, bad = [], False
    for esp, changes in plans.items():
        label = conns[esp].label
        if isinstance(changes, str):
            bad = True
            say(f"{label}: the account could not be read: {changes}")
            docs.append({"esp": esp, "ok": False, "error": changes})
            continue
        say(f"{label}:")
        say(table(changes) if changes else "  nothing to set up" + (" (a Klaviyo metric appears with its first "
                                                                      "event)" if esp == "klaviyo" else ""))
        if not dry_run:
            apply_changes(changes, lambda line, label=label: click.echo(f"{label}: {line}", err=True))
        failed = [c for c in changes if c.status in ("failed", "skipped")]
        bad = bad or bool(failed)
        if not dry_run:
            say(f"{label}: " + (f"{len(failed)} item(s) failed; run relay sync again to finish" if failed
                                else "in line with the project"))
        setup = setups[esp]
        reads = sum(t.count["read"] for t in _transports(setup))
        writes = sum(t.count["write"] for t in _transports(setup))
        docs.append({"esp": esp, "ok": not failed, "changes": [c.to_json() for c in changes],
                     "summary": counts(changes) if changes else "nothing to set up",
                     "requests": {"reads": reads, "writes": writes}})
    if dry_run:
        say("dry run: nothing was sent")
    if as_json:
        click.echo(json.dumps({"ok": not bad, "dry_run": dry_run, "syncs": docs}, indent=2))
    sys.exit(3 if bad else 0)


def _transports(setup: Any) -> list[Any]:
    return [t for t in (getattr(setup, "transport", None), getattr(setup, "track", None)) if t is not None]
