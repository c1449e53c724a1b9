"""Command-line options every command shares, checked one way."""

from __future__ import annotations

from collections.abc import Iterable

import click


def esp_option(values: Iterable[str | None]) -> list[str]:
    """The names given to ``--esp``, each an installed ESP (a usage error naming them otherwise).
    Returns the installed ESPs, in registry order."""
    from .dialect import load_connectors

    installed = list(load_connectors())
    for e in values:
        if e is not None and e not in installed:
            raise click.BadParameter(f"unknown ESP '{e}' (installed: {', '.join(installed)})", param_hint="--esp")
    return installed
