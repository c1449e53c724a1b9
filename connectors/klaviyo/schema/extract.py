"""Re-extract flow-definition.json from a copy of Klaviyo's openapi/stable.json (see NOTICE.md)."""

import json
import sys
from pathlib import Path


def closure(schemas: dict, root: str) -> set[str]:
    seen, todo = {root}, [schemas[root]]
    while todo:
        node = todo.pop()
        stack = [node]
        while stack:
            o = stack.pop()
            if isinstance(o, dict):
                ref = o.get("$ref")
                if ref:
                    name = ref.rsplit("/", 1)[-1]
                    if name not in seen:
                        seen.add(name)
                        todo.append(schemas[name])
                stack.extend(o.values())
            elif isinstance(o, list):
                stack.extend(o)
    return seen


def main(path: str) -> None:
    spec = json.loads(Path(path).read_text())
    schemas = spec["components"]["schemas"]
    names = closure(schemas, "FlowDefinition")
    out = {"openapi": spec["openapi"],
           "info": {"title": spec["info"]["title"], "version": spec["info"]["version"],
                    "x-mailwright-extract": "components.schemas: FlowDefinition and every schema it refers to, unchanged"},
           "paths": {}, "components": {"schemas": {k: schemas[k] for k in sorted(names)}}}
    Path(__file__).with_name("flow-definition.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(names)} schemas")


if __name__ == "__main__":
    main(sys.argv[1])
