"""The ``mailwright`` command line (see docs/cli.md)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import Diagnostic, MailwrightError


def _color() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


def _report(diags: list[Diagnostic]) -> None:
    for d in diags:
        line = d.format()
        if _color():
            head, _, rest = line.partition(": ")
            color = "red" if d.severity == "error" else "yellow"
            line = line.replace(f"{d.severity}:", click.style(f"{d.severity}:", fg=color, bold=True), 1)
        click.echo(line, err=True)


def _fail(e: MailwrightError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"ok": False, "diagnostics": [e.diagnostic.to_json()]}, indent=2))
    else:
        _report([e.diagnostic])
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailwright")
def main() -> None:
    """Compile modular MJML emails with send-time tags for every ESP.

    \b
    A project is a folder with mailwright.toml, templates/*.mjml, and
    optionally components/, themes/ and flows/.
    \b
    Start with:
      mailwright compile examples/shop
    """


@main.command()
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--esp", "esps", multiple=True, metavar="ESP",
              help="Compile for this ESP only (repeatable). Default: the project's [project] esps.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write into DIR (default: PROJECT/build). It is replaced as a whole.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of text.")
def compile(project: Path, esps: tuple[str, ...], out: Path | None, as_json: bool) -> None:  # noqa: A001
    """Compile every template (and flow) of PROJECT for each ESP.

    \b
    Writes OUT/<esp>/<template>.html and .txt, and OUT/manifest.json.
    Exit status: 0 clean, 1 an error in the project's input (nothing is
    written), 2 a usage error.
    \b
    Examples:
      mailwright compile examples/shop
      mailwright compile examples/shop --esp klaviyo --out /tmp/build
      mailwright compile . --json | jq '.outputs[].html'
    """
    from .compile import compile_project, write_outputs
    from .dialect import load_connectors
    from .project import load_project

    started = time.perf_counter()
    available = list(load_connectors())
    for e in esps:
        if e not in available:
            raise click.BadParameter(f"unknown ESP '{e}' (installed: {', '.join(available)})", param_hint="--esp")
    try:
        proj = load_project(project, available)
        if not proj.templates:
            click.echo(f"{project}: warning: no templates in templates/*.mjml", err=True)
        if not as_json:
            n = len(proj.templates)
            click.echo(f"compiling {n} template{'s' * (n != 1)} for {', '.join(esps or proj.esps)} …", err=True)
        result = compile_project(proj, list(esps) or None)
        manifest = None
        if not result.errors:
            manifest = write_outputs(result, out or proj.root / "build")
    except MailwrightError as e:
        _fail(e, as_json)
        return
    elapsed = time.perf_counter() - started
    if as_json:
        doc = {
            "ok": not result.errors,
            "manifest": str(manifest) if manifest else None,
            "outputs": json.loads(manifest.read_text())["outputs"] if manifest else [],
            "diagnostics": [d.to_json() for d in result.diagnostics],
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _report(result.diagnostics)
        if result.errors:
            n = len(result.errors)
            click.echo(f"{n} error{'s' * (n != 1)}; nothing written", err=True)
        else:
            per: dict[str, list[int]] = {}
            for o in result.outputs:
                per.setdefault(o.esp, [0, 0])[0] += 1
            for f in result.flows:
                per.setdefault(f.esp, [0, 0])[1] += 1
            summary = "; ".join(f"{k}: {t} templates, {f} flows" for k, (t, f) in per.items())
            warned = len(result.diagnostics)
            tail = f" ({warned} warning{'s' * (warned != 1)})" if warned else ""
            click.echo(f"wrote {summary}; manifest {manifest} in {elapsed:.2f}s{tail}")
    sys.exit(1 if result.errors else 0)


def run() -> None:
    """The console entry point: an unexpected failure is one line, not a traceback."""
    try:
        main(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as e:  # a bug in mailwright, not in the user's input
        if os.environ.get("MAILWRIGHT_DEBUG"):
            raise
        click.echo(f"mailwright: internal error: {type(e).__name__}: {e}", err=True)
        click.echo("Please report it with the input that caused it (MAILWRIGHT_DEBUG=1 shows the traceback).",
                   err=True)
        sys.exit(70)


if __name__ == "__main__":
    run()
