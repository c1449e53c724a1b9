"""Where a project starts: the nearest folder holding mailwright.toml.

Its own module so that the build cache can find the project without importing the compiler.
"""

from __future__ import annotations

from pathlib import Path

CONFIG = "mailwright.toml"


def locate(start: Path) -> tuple[Path, Path | None]:
    """(the folder searched from, the nearest folder at or above it holding CONFIG, or None).

    Raises OSError or RuntimeError (a symlink loop) as ``Path.resolve`` does.
    """
    p = start.resolve()
    if p.is_file():
        p = p.parent
    for cand in (p, *p.parents):
        if (cand / CONFIG).exists() or (cand / CONFIG).is_symlink():
            return p, cand
    return p, None
