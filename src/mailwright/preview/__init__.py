"""``mailwright preview``: every variant of every template, side by side, per ESP, live.

A local server (127.0.0.1) shows, per template, one tile per distinct variant, labelled with what makes it
different; the ESP switch renders the same recipient from each ESP's compiled output through that
connector's reference renderer; the index shows each template's flows and check findings, and the flows page
each flow as each ESP runs it. Saving a template recompiles that template only (a component, theme or
mailwright.toml: everything) and open pages reload themselves (server-sent events).

- :mod:`.model`: the compiled project and its tiles
- :mod:`.labels`: what a tile's label says
- :mod:`.pages`: the HTML
- :mod:`.server`: HTTP and the watcher
- :mod:`.snapshot`: ``--snapshot`` screenshots
"""

from .model import Preview, Tile, internal
from .pages import BadRequest, NotFound, flows_page, index_page, render_page, template_page
from .server import Server
from .snapshot import slug, snapshot, tile_names

__all__ = ["BadRequest", "NotFound", "Preview", "Server", "Tile", "flows_page", "index_page", "internal",
           "render_page", "slug", "snapshot", "template_page", "tile_names"]
