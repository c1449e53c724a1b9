"""``preview --snapshot``: PNG screenshots of every tile and template page through headless Chromium, each file
named after its variant's label."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import quote

from .model import Tile
from .server import Server


def slug(label: str) -> str:
    """A file name for a label: "high_intent ✓ · first name missing" -> "high_intent-first-name-missing"."""
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9_]+", "-", text.lower()).strip("-")
    return text[:80].rstrip("-") or "variant"


def tile_names(tiles: list[Tile]) -> list[str]:
    """Each tile's file stem: its label's slug, numbered when two labels give the same one."""
    out: list[str] = []
    for t in tiles:
        base, n = slug(t.label), 2
        name = base
        while name in out:
            name, n = f"{base}-{n}", n + 1
        out.append(name)
    return out


def snapshot(root: Path, out_dir: Path, chromium: str, only: list[str] | None = None, log=print,
             offline: bool = True, errors: list[str] | None = None) -> list[Path]:
    """PNG screenshots of every tile (variant × ESP × width × light/dark) through headless Chromium;
    the project's errors (what has no tile) are added to ``errors``."""
    from playwright.sync_api import sync_playwright

    server = Server(root, port=0).start()
    written: list[Path] = []
    try:
        p = server.preview
        if errors is not None:
            errors.extend(p.errors)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            page = browser.new_page()
            if offline:  # load only from the preview server: remote fonts and images are left out
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server.url)
                           else route.abort())
            for name, trigger in p.template_keys():
                if only and name not in only:
                    continue
                for esp in p.outputs(name, trigger):
                    stem = f"{name}{'--' + trigger if trigger else ''}"
                    page.set_viewport_size({"width": 1400, "height": 900})
                    page.goto(f"{server.url}t/{quote(name)}?trigger={quote(trigger or '')}&esp={esp}")
                    page.wait_for_load_state("load")
                    matrix = out_dir / stem / esp / "matrix.png"
                    matrix.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(matrix))
                    written.append(matrix)
                    for v, stem_v in enumerate(tile_names(p.tiles_for(name, trigger))):
                        for width, wname in ((375, "mobile"), (640, "desktop")):
                            for dark in (False, True):
                                page.set_viewport_size({"width": width, "height": 900})
                                url = (f"{server.url}render/{quote(name)}?trigger={quote(trigger or '')}&esp={esp}"
                                       f"&v={v}{'&dark=1' if dark else ''}")
                                page.goto(url)
                                f = out_dir / stem / esp / f"{stem_v}-{wname}-{'dark' if dark else 'light'}.png"
                                f.parent.mkdir(parents=True, exist_ok=True)
                                page.screenshot(path=str(f), full_page=True)
                                written.append(f)
                    log(f"{name}{' (' + trigger + ')' if trigger else ''} {esp}: {len(p.tiles_for(name, trigger))} tiles")
            browser.close()
    finally:
        server.stop()
    return written
