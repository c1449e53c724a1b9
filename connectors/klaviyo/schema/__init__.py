"""Validate a flow definition against Klaviyo's own ``FlowDefinition`` schema (see NOTICE.md)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from mailwright.errors import MailwrightError, Pos

HERE = Path(__file__).parent


@lru_cache(maxsize=1)
def _validator():
    from openapi_schema_validator import OAS30WriteValidator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    spec = json.loads((HERE / "flow-definition.json").read_text())
    uri = "urn:klaviyo:flow-definition"
    registry = Registry().with_resource(uri, Resource.from_contents(spec, default_specification=DRAFT4))
    return OAS30WriteValidator({"$ref": f"{uri}#/components/schemas/FlowDefinition"}, registry=registry)


def errors(definition: dict) -> list[str]:
    """Every way ``definition`` breaks the schema (empty when it is valid)."""
    from jsonschema.exceptions import best_match

    out = []
    for e in sorted(_validator().iter_errors(definition), key=lambda e: list(e.absolute_path)):
        while e.context:  # a oneOf that nothing matched: say what the closest branch lacked
            e = best_match(e.context)
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        out.append(f"{where}: {e.message[:200]}")
    return out


def validate_definition(definition: dict, pos: Pos) -> None:
    problems = errors(definition)
    if problems:
        raise MailwrightError(pos, "the Klaviyo flow definition does not match Klaviyo's FlowDefinition schema: "
                                   + "; ".join(problems[:3]))
