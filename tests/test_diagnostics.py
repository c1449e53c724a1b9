"""Warnings that mean something: rule ids, one finding per repeated approximation, accepted rules (issue 12.3)."""

import json
import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from mailwright.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shop"


def example_copy(tmp_path: Path, accept: str | None) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("build"))
    toml = (root / "mailwright.toml").read_text()
    toml = re.sub(r"(?ms)^\[compile\]\naccept = \[.*?\n\]\n", "" if accept is None else f"[compile]\naccept = {accept}\n", toml)
    (root / "mailwright.toml").write_text(toml)
    return root


def compile_json(root: Path) -> dict:
    res = CliRunner().invoke(main, ["compile", str(root), "--json", "--out", str(root / "build")])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_the_example_compiles_without_a_warning():
    res = CliRunner().invoke(main, ["compile", str(EXAMPLE), "--out", str(Path(EXAMPLE / "build"))])
    assert res.exit_code == 0 and "warning" not in res.output, res.output


def test_an_approximation_repeated_in_several_flows_is_one_warning_with_a_rule_id(tmp_path):
    doc = compile_json(example_copy(tmp_path, accept=None))
    warnings = [d for d in doc["diagnostics"] if d["severity"] == "warning"]
    assert all(d.get("rule") for d in warnings)
    rules = [d["rule"] for d in warnings]
    assert len(rules) == len(set(rules)) == 9  # 40 before: the same nine, once per flow and ESP
    (quiet,) = [d for d in warnings if d["rule"] == "activecampaign.quiet-hours"]
    assert quiet["message"].startswith("ActiveCampaign: quiet hours is approximated: ")
    assert quiet["message"].endswith("(6 places)")
    assert sorted(Path(n["path"]).name for n in quiet["notes"]) == [
        "cart-abandonment.yaml", "content-followup.yaml", "lapsed-reengagement.yaml", "post-purchase.yaml",
        "session-exit.yaml"]
    assert all(n["message"] == "also here" for n in quiet["notes"])


def test_accepted_rules_are_not_shown_and_take_a_wildcard(tmp_path):
    doc = compile_json(example_copy(tmp_path, accept='["activecampaign.*", "hubspot.reentry"]'))
    rules = sorted(d["rule"] for d in doc["diagnostics"])
    assert rules == ["hubspot.max-emails-per-window", "hubspot.wait-until-time-of-day",
                     "klaviyo.max-emails-per-window", "klaviyo.quiet-hours"]


def test_what_an_esp_cannot_express_carries_the_rule_of_its_capability():
    from tests.conftest import compile_sources, text_email

    result = compile_sources({"t": text_email("{% for i in event.items %}{{ i.name }}{% endfor %}")})
    assert {(d.message.split(" cannot")[0], d.rule) for d in result.errors} == {
        ("ActiveCampaign", "activecampaign.loop"), ("HubSpot", "hubspot.loop")}


def test_every_missing_mapping_of_a_run_comes_as_one_block_to_paste(tmp_path):
    from tests.conftest import email, make_project

    body = ("<mj-section><mj-column><mj-text>{{ event.cart_value }} {{ event.cart_url }} {{ profile.tier }}"
            "</mj-text></mj-column></mj-section>")
    root = make_project(tmp_path / "p", {"a": email(body), "b": email(body.replace("cart_url", "order_id"))},
                        toml='[esp.hubspot.properties]\n"event.other" = "other"\n')
    res = CliRunner().invoke(main, ["compile", str(root)])
    assert res.exit_code == 1
    block = res.output.split("(and create these in each ESP):\n\n", 1)[1].rsplit("\n", 2)[0]
    assert block == "\n".join([
        "[esp.activecampaign.fields]",
        '"event.cart_url" = "CART_URL"', '"event.cart_value" = "CART_VALUE"', '"event.order_id" = "ORDER_ID"', "",
        "# under the existing [esp.hubspot.properties]:",
        '"event.cart_url" = "cart_url"', '"event.cart_value" = "cart_value"', '"event.order_id" = "order_id"', "",
    ])
    doc = json.loads(CliRunner().invoke(main, ["compile", str(root), "--json"]).stdout)
    assert doc["missing_mappings"] == block
