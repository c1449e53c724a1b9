"""``mailwright check`` on the command line: text or one JSON document, and the exit status."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import Diagnostic, MailwrightError


def _styled(d: Diagnostic, color: bool) -> str:
    line = d.format()
    if color:
        tint = "red" if d.severity == "error" else "yellow"
        line = line.replace(f"{d.severity}:", click.style(f"{d.severity}:", fg=tint, bold=True), 1)
    return line


@click.command("check", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("project", default=".", type=click.Path(path_type=Path))  # checked in the body: --json answers
@click.option("--esp", "esps", multiple=True, metavar="ESP",
              help="Check the output for this ESP only (repeatable). Default: the project's [project] esps.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of text.")
@click.option("--online", is_flag=True,
              help="Also fetch every literal link and image URL (HEAD, 5 s timeout; send-time URLs are skipped).")
def command(project: Path, esps: tuple[str, ...], as_json: bool, online: bool) -> None:
    """Check every template of PROJECT before it is sent: the CI gate.

    \b
    For each template, trigger and ESP, and each variant (sample recipients
    reaching every branch): client support (caniemail), accessibility (lang,
    alt, table roles, headings, link text, contrast), Gmail's 102 KB clipping,
    subject and preheader, the plain-text part, links and example data. Each finding is
    PATH:LINE:COL: error|warning: MESSAGE [rule], in your own file.
    Configure in mailwright.toml:
      [check]
      clients = ["gmail", "apple-mail", "outlook.windows"]
      disable = ["size"]
      disable_in = { "a11y-contrast" = ["welcome"] }
    or in one template: <!-- mailwright: disable a11y-contrast -->
    \b
    Exit status: 0 no errors (warnings allowed), 1 errors, 2 a usage error.
    Every rule, and how to fix or disable it: docs/check.md.
    \b
    Examples:
      mailwright check examples/shop
      mailwright check . --esp klaviyo
      mailwright check . --json | jq '.findings[] | select(.severity == "error")'
      mailwright check . --online
    """
    import os

    from .. import check as package  # looked up at each run: the package's check_project

    if not as_json:
        _usage(project, esps)
        report = package.check_project(project, list(esps) or None, online)
    else:  # one JSON document on stdout, whatever happens
        doc: dict = {"ok": False, "findings": [], "checked": {}}
        status = 1
        try:
            _usage(project, esps)
            report = package.check_project(project, list(esps) or None, online)
            doc.update(ok=report.ok, findings=[d.to_json() for d in report.findings], checked=report.checked)
            status = 0 if report.ok else 1
        except click.UsageError as e:
            doc["usage_error"], status = e.format_message(), 2
        except MailwrightError as e:
            doc["findings"] = [d.to_json() for d in e.diagnostics]
        except Exception as e:  # a bug in mailwright: still a document, and the exit status of one
            if os.environ.get("MAILWRIGHT_DEBUG"):
                raise
            doc["internal_error"], status = f"{type(e).__name__}: {e}", 70
            click.echo(f"mailwright: internal error: {doc['internal_error']} (please report it with the input "
                       "that caused it; MAILWRIGHT_DEBUG=1 shows the traceback)", err=True)
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        sys.exit(status)

    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    for d in report.findings:
        click.echo(_styled(d, color))
    errors = sum(d.severity == "error" for d in report.findings)
    warnings = len(report.findings) - errors
    c = report.checked
    summary = (f"checked {c.get('templates', 0)} templates, {c.get('outputs', 0)} outputs, "
               f"{c.get('variants', 0)} variants: {errors} error{'s' * (errors != 1)}, "
               f"{warnings} warning{'s' * (warnings != 1)}")
    click.echo(summary, err=True)
    sys.exit(0 if report.ok else 1)


def _usage(project: Path, esps: tuple[str, ...]) -> None:
    """The checks click would make on the arguments (made here, so that --json can answer them)."""
    from ..options import esp_option

    if not project.is_dir():
        what = "is not a folder" if project.exists() else "does not exist"
        raise click.BadParameter(f"'{project}' {what}", param_hint="PROJECT")
    esp_option(esps)
