"""``mailwright pull``: save what was edited in the ESP (drifted objects) under ``drift/<esp>/``, beside the
version push wrote, so that a designer can carry the edit back into the MJML. Never writes into templates/."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import click

from . import DRIFTED, Change

EXT = {"html": ".html", "text": ".txt"}  # every other field goes in <stem>.fields.json


def files(c: Change) -> dict[str, str]:
    """The files one drifted object gives: relative path -> content."""
    if c.drift is None:  # a flow: its changed steps, as the plan shows them
        return {f"flows/{safe(c.name)}.diff": c.diff + "\n"}
    d = c.drift
    mine = "pushed" if d.pushed else "project"  # the project changed since the push too: its current version
    out: dict[str, str] = {}
    for version, parts in ((None, d.remote), (mine, d.ours)):
        tail = f".{version}" if version else ""
        rest = {k: v for k, v in parts.items() if k not in EXT}
        for k, ext in EXT.items():
            if k in parts:
                out[f"{d.stem}{tail}{ext}"] = parts[k] or ""
        if rest:
            out[f"{d.stem}{tail}.fields.json"] = json.dumps(rest, indent=2, ensure_ascii=False) + "\n"
    return out


def safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name).strip("-") or "flow"


def write_tree(target: Path, content: dict[str, str]) -> None:
    """Replace the folder ``target`` with exactly ``content``, all at once (a new folder renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for rel, text in content.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text, encoding="utf-8")
        old = target.with_name(f".{target.name}-old")
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@click.command("pull")
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--esp", "esps", multiple=True, metavar="ESP",
              help="The ESP account to pull from (repeatable). Default: each of the project's [project] esps.")
@click.option("--only", type=click.Choice(["templates", "flows"]), help="Pull only templates or only flows.")
def command(project: Path, esps: tuple[str, ...], only: str | None) -> None:
    """Save every object edited in the ESP since the last push under drift/<esp>/.

    \b
    For each drifted template: NAME.html (and NAME.txt, NAME.fields.json
    where the ESP keeps a text part, subject …) as the ESP has it now, and
    NAME.pushed.html … as push wrote it (NAME.project.html … when the
    project changed since: then its current version). For a drifted flow:
    flows/NAME.diff, its changed steps. drift/<esp>/ is replaced as a whole;
    templates/ is never written. Only read requests are sent to the ESP.
    \b
    Exit status: 0 done (or nothing drifted), 1 an input error, 2 usage,
    3 an account that cannot be read.
    \b
    Examples:
      mailwright pull . --esp klaviyo
      diff drift/klaviyo/cart-reminder--cart_abandoned.pushed.html drift/klaviyo/cart-reminder--cart_abandoned.html
    """
    from .run import read_accounts

    accounts = read_accounts(project, esps, as_json=False, dry_run=False, verb="pull from", only=only)
    bad = False
    for client in accounts.clients:
        esp, label = client.ctx.esp, client.label
        changes = accounts.plans.get(esp)
        if changes is None:
            bad = True
            click.echo(f"mailwright: error: {accounts.unread[esp]}", err=True)
            continue
        drifted = [c for c in changes if c.action == DRIFTED]
        if not drifted:
            click.echo(f"{label}: nothing drifted")
            continue
        content: dict[str, str] = {}
        for c in drifted:
            content.update(files(c))
        target = project / "drift" / esp
        try:
            write_tree(target, content)
        except OSError as e:
            click.echo(f"mailwright: error: cannot write {target}: {e.strerror or e}", err=True)
            sys.exit(1)
        click.echo(f"{label}: {len(drifted)} drifted object(s) written to {target}:")
        for rel in sorted(content):
            click.echo(f"  {target / rel}")
    sys.exit(3 if bad else 0)
