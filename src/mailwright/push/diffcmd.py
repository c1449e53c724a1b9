"""``mailwright diff``: push's plan with every diff in full, read-only (for a pull-request comment)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("diff")
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--esp", "esps", multiple=True, metavar="ESP",
              help="The ESP account to compare with (repeatable). Default: each of the project's [project] esps.")
@click.option("--only", type=click.Choice(["templates", "flows"]), help="Compare only templates or only flows.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of text.")
def command(project: Path, esps: tuple[str, ...], only: str | None, as_json: bool) -> None:
    """Show what push would do to each ESP account, with what was edited there in full; write nothing.

    \b
    The plan of push (create / update / unchanged / orphan …) and, for every
    object edited in the ESP since the last push ("drifted"), a unified diff
    of the text a recipient reads (templates) or of the changed steps
    (flows). Only read requests are sent.
    \b
    Exit status: 0 push would bring the account in line, 1 an input error,
    2 usage, 3 something push would keep rather than overwrite (edited in the
    ESP, no fingerprint, duplicates) or an account that cannot be read.
    \b
    Examples:
      mailwright diff . --esp klaviyo
      mailwright diff examples/shop --json > diff.json
    """
    from . import Report, counts, diffs, table
    from .run import read_accounts

    accounts = read_accounts(project, esps, as_json=as_json, dry_run=False, verb="compare with", only=only)
    docs, bad = [], False
    for client in accounts.clients:
        esp, label = client.ctx.esp, client.label
        changes = accounts.plans.get(esp)
        if changes is None:
            bad = True
            docs.append({"esp": esp, "ok": False, "error": accounts.unread[esp]})
            if not as_json:
                click.echo(f"mailwright: error: {accounts.unread[esp]}", err=True)
            continue
        report = Report(esp, changes, client.manual_steps(), dry_run=True)
        report.reads, report.writes = client.transport.count["read"], client.transport.count["write"]
        kept = report.kept + report.duplicates
        bad = bad or bool(kept)
        doc = report.to_json()
        doc["ok"] = not kept
        docs.append(doc)
        if not as_json:
            click.echo(f"{label}:" if len(docs) == 1 else f"\n{label}:")
            click.echo(table(changes))
            if diffs(changes, full=True):
                click.echo("\n" + diffs(changes, full=True).rstrip())
            click.echo(f"{label}: " + (f"{len(kept)} object(s) push would keep rather than overwrite"
                                       if kept else counts(changes)), err=True)
    if as_json:
        doc = docs[0] if len(docs) == 1 else {"ok": all(d["ok"] for d in docs), "diffs": docs}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    sys.exit(3 if bad else 0)
