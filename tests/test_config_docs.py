"""docs/config.md lists every key the code reads, and nothing else (issue 12.1)."""

import re

from mailwright.dialect import load_connectors
from mailwright.project import SCHEMA
from tests.conftest import ROOT


def documented() -> dict[str, set[str]]:
    page = (ROOT / "docs" / "config.md").read_text()
    out: dict[str, set[str]] = {}
    section = None
    for line in page.splitlines():
        m = re.match(r"#+ \[([\w.]+)\]$", line)
        if m:
            section = m.group(1)
            out[section] = set()
        elif section and (m := re.match(r"\| `([\w]+)` \|", line)):
            out[section].add(m.group(1))
    return out


def read_by_the_code() -> dict[str, set[str]]:
    from mailwright.signals import config as signals

    code: dict[str, set[str]] = {}
    for section, schema in SCHEMA.items():
        if isinstance(schema, dict):
            code[section] = set(schema)
    code["segments"] = {"NAME"}  # the project's own names
    code["brand"] = {"company", "website", "help_url", "address"}  # any key; these the components and preview read
    code["check"] = {"clients", "disable"}
    code["signals"] = {"NAME"}
    code["scoring"] = set(signals.SCORING_KEYS)
    code["triggers"] = set(signals.TRIGGER_KEYS)
    for name, conn in load_connectors().items():
        code[f"esp.{name}"] = set(conn.config)
    return code


def test_every_section_of_the_schema_is_documented():
    assert set(SCHEMA) - {"esp"} <= set(documented())


def test_config_page_matches_the_code():
    assert documented() == read_by_the_code()
