"""Cut the operations the fakes serve out of a vendor's full OpenAPI document (see SOURCE.md).

    python tests/fakes/specs/extract.py klaviyo PATH/TO/stable.json
    python tests/fakes/specs/extract.py activecampaign PATH/TO/activecampaign-v3.json
    python tests/fakes/specs/extract.py activecampaign-trackcmp PATH/TO/activecampaign-trackcmp-api-openapi.json

Writes ``klaviyo.json`` / ``activecampaign.json`` / ``activecampaign-trackcmp.json`` beside this file: the listed operations
unchanged (less their ``examples``/``example`` values, which only bulk them up), and every
component they refer to, transitively. Nothing else of the vendor's document is kept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# (path as the vendor's document spells it, method)
OPERATIONS: dict[str, list[tuple[str, str]]] = {
    "klaviyo": [
        ("/api/templates", "get"),
        ("/api/templates", "post"),
        ("/api/templates/{id}", "get"),
        ("/api/templates/{id}", "patch"),
        ("/api/templates/{id}", "delete"),
        ("/api/metrics", "get"),
        ("/api/flows", "get"),
        ("/api/flows", "post"),
        ("/api/flows/{id}", "get"),
        ("/api/flows/{id}", "patch"),
        ("/api/flows/{id}", "delete"),
        ("/api/flows/{id}/flow-actions", "get"),
        ("/api/flow-actions/{id}", "patch"),
        ("/api/events", "post"),  # the relay's delivery
        ("/api/event-bulk-create-jobs", "post"),
    ],
    "activecampaign": [
        ("/messages", "get"),
        ("/messages", "post"),
        ("/messages/{id}", "get"),
        ("/messages/{id}", "put"),
        ("/messages/{id}", "delete"),
        ("/fields", "get"),
        ("/fields", "post"),
        ("/tags", "get"),
        ("/tags", "post"),
        ("/eventTrackingEvents", "get"),
        ("/eventTrackingEvents", "post"),
        ("/eventTracking", "get"),  # the relay: the tracking switch, contacts and their field values
        ("/eventTracking", "put"),
        ("/contact/sync", "post"),
        ("/contacts/{id}/trackingLogs", "get"),
    ],
    # trackcmp.net: the event tracking endpoint (a form post; its document describes the fields as JSON)
    "activecampaign-trackcmp": [
        ("/event", "post"),
    ],
}
DROP = {"examples", "example"}


def strip_examples(node: Any, in_properties: bool = False) -> Any:
    """A copy of node without example values (a property *named* example is kept)."""
    if isinstance(node, dict):
        return {k: strip_examples(v, k == "properties") for k, v in node.items() if in_properties or k not in DROP}
    if isinstance(node, list):
        return [strip_examples(v) for v in node]
    return node


def refs(node: Any) -> set[str]:
    """Every local ``$ref`` target under node, as ``#/components/...`` strings."""
    out: set[str] = set()
    stack = [node]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            ref = o.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                out.add(ref)
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return out


def resolve(spec: dict, ref: str) -> Any:
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def extract(spec: dict, operations: list[tuple[str, str]]) -> dict:
    """The sub-document holding only operations and the closure of what they refer to."""
    paths: dict[str, dict] = {}
    for path, method in operations:
        item = spec["paths"][path]
        kept = paths.setdefault(path, {k: v for k, v in item.items() if k in ("parameters", "servers", "summary")})
        kept[method] = item[method]
    paths = strip_examples(paths)
    components: dict[str, dict] = {}
    todo, seen = list(refs(paths)), set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, section, name = ref.split("/", 3)
        node = strip_examples(resolve(spec, ref))
        components.setdefault(section, {})[name] = node
        todo.extend(refs(node) - seen)
    schemes = spec.get("components", {}).get("securitySchemes", {})
    used = {name for req in spec.get("security", []) for name in req}
    used |= {name for p in paths.values() for op in p.values() if isinstance(op, dict)
             for req in op.get("security", []) for name in req}
    if used:
        components["securitySchemes"] = {k: schemes[k] for k in sorted(used)}
    out: dict[str, Any] = {"openapi": spec["openapi"], "info": dict(spec["info"])}
    out["info"]["x-mailwright-extract"] = ("only the operations mailwright's fakes serve, and the components they "
                                           "refer to; example values dropped; see SOURCE.md")
    for key in ("servers", "security"):
        if key in spec:
            out[key] = spec[key]
    out["paths"] = paths
    out["components"] = {section: dict(sorted(items.items())) for section, items in sorted(components.items())}
    return out


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in OPERATIONS:
        raise SystemExit(f"usage: extract.py {{{'|'.join(OPERATIONS)}}} FULL_SPEC.json")
    vendor, source = argv
    spec = json.loads(Path(source).read_text())
    out = extract(spec, OPERATIONS[vendor])
    target = Path(__file__).with_name(f"{vendor}.json")
    target.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    counts = {section: len(items) for section, items in out["components"].items()}
    print(f"{target.name}: {sum(len(p) for p in out['paths'].values())} operations, components {counts}")


if __name__ == "__main__":
    main(sys.argv[1:])
