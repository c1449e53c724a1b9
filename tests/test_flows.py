"""Flows: every example compiles for each ESP, each definition is well-formed, bad input is one clear error."""

import json
import re

import pytest
from click.testing import CliRunner
from mailwright_connectors.hubspot.flows import check_graph
from mailwright_connectors.klaviyo.schema import errors as klaviyo_schema_errors

from mailwright.cli import main
from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.project import load_project
from tests.conftest import ROOT, text_email

SHOP = ROOT / "examples" / "shop"


@pytest.fixture(scope="module")
def shop():
    result = compile_project(load_project(SHOP, list(load_connectors())))
    assert not result.errors, [d.format() for d in result.errors]
    return result


def flows_of(result, esp):
    return {f.name: f for f in result.flows if f.esp == esp}


def test_every_example_flow_is_compiled_for_every_esp(shop):
    names = {p.stem for p in (SHOP / "flows").glob("*.yaml")}
    assert len(names) >= 6
    for esp in ("klaviyo", "hubspot", "activecampaign"):
        assert set(flows_of(shop, esp)) == names


def test_klaviyo_definitions_validate_against_the_vendor_schema(shop):
    for name, f in flows_of(shop, "klaviyo").items():
        payload = f.definition
        assert payload["data"]["type"] == "flow"
        definition = payload["data"]["attributes"]["definition"]
        assert klaviyo_schema_errors(definition) == [], name
        ids = {a["temporary_id"] for a in definition["actions"]}
        assert definition["entry_action_id"] in ids
        for a in definition["actions"]:
            for target in (a.get("links") or {}).values():
                assert target is None or target in ids


def test_the_schema_check_can_fail():
    assert klaviyo_schema_errors({"triggers": [{"type": "metric"}], "actions": [{"type": "time-delay", "data": {}}],
                                  "entry_action_id": None})


def test_cart_abandonment_in_klaviyo(shop):
    d = flows_of(shop, "klaviyo")["cart-abandonment"].definition["data"]["attributes"]["definition"]
    assert d["triggers"][0]["id"] == "mailwright:metric:Cart Abandoned"
    kinds = [a["type"] for a in d["actions"]]
    assert kinds[:4] == ["time-delay", "send-email", "time-delay", "trigger-split"]  # intent is on the event
    assert d["actions"][0]["data"] == {"unit": "minutes", "value": 30}
    exit_groups = [g for g in d["profile_filter"]["condition_groups"]
                   if g["conditions"][0]["type"] == "profile-metric"]
    assert exit_groups[0]["conditions"][0]["metric_id"] == "mailwright:metric:Placed Order"
    assert d["reentry_criteria"] == {"duration": 1, "unit": "week"}
    sends = [a["data"]["message"] for a in d["actions"] if a["type"] == "send-email"]
    assert {m["template_id"] for m in sends} == {f"mailwright:template:{t}--cart_abandoned"
                                                 for t in ("cart-reminder", "cart-discount", "cart-free-shipping")}
    assert all(m["subject_line"] and "{%" in m["subject_line"] for m in sends[:1])


def test_hubspot_graphs_are_consistent(shop):
    for name, f in flows_of(shop, "hubspot").items():
        flow = f.definition
        assert check_graph(flow) == [], name
        assert flow["type"] == "CONTACT_FLOW" and flow["enrollmentCriteria"]["type"] == "EVENT_BASED"
        for key in ("actions", "blockedDates", "timeWindows", "customProperties", "dataSources",
                    "suppressionListIds", "isEnabled", "canEnrollFromSalesforce", "flowType", "objectTypeId"):
            assert key in flow, (name, key)  # required by ApiContactFlowCreateRequest


def test_the_graph_check_can_fail():
    bad = {"startActionId": "1", "nextAvailableActionId": "3", "actions": [
        {"actionId": "1", "connection": {"edgeType": "STANDARD", "nextActionId": "9"}}, {"actionId": "2"}]}
    problems = check_graph(bad)
    assert any("9, which does not exist" in p for p in problems) and any("nothing leads to: 2" in p for p in problems)


def test_hubspot_cart_abandonment(shop):
    flow = flows_of(shop, "hubspot")["cart-abandonment"].definition
    assert flow["enrollmentCriteria"]["eventFilterBranches"][0]["eventTypeId"] == "pe1234567_cart_abandoned"
    assert flow["goalFilterBranch"]["filterBranches"][0]["eventTypeId"] == "pe1234567_placed_order"
    monday = [w for w in flow["timeWindows"] if w["day"] == "MONDAY"]
    assert monday == [{"day": "MONDAY", "startTime": {"hour": 8, "minute": 0}, "endTime": {"hour": 21, "minute": 0}}]
    types = [a.get("actionTypeId", a["type"]) for a in flow["actions"]]
    assert "AB_TEST_BRANCH" in types and "0-4" in types and "0-1" in types


def test_activecampaign_recipe_reads_as_steps(shop):
    md = flows_of(shop, "activecampaign")["cart-abandonment"].files[".md"]
    steps = re.findall(r"^\s*(\d+)\. (.+)$", md, re.M)
    numbers = [int(n) for n, _ in steps]
    assert numbers == list(range(1, len(numbers) + 1))  # one numbered sequence a person follows
    text = md
    assert "**Trigger**: *Event is recorded*, event name `cart_abandoned`" in text
    assert "**Wait** for 30 minutes." in text
    assert "**If/Else**: (field SESSION_TIME is not blank AND field SESSION_TIME is greater than 300)" in text
    assert "*shop: cart-reminder--cart_abandoned*" in text
    assert "**Split** contacts randomly: path a 50%, path b 50%." in text
    assert "**Goal** *placed_order*" in text
    recipe = json.loads(flows_of(shop, "activecampaign")["cart-abandonment"].files[".json"])
    assert recipe["trigger"] == {"type": "event", "event": "cart_abandoned", "runs": "multiple times",
                                 "segment": "field EMAIL is not blank"}


def test_manifest_lists_flows(tmp_path):
    r = CliRunner().invoke(main, ["compile", str(SHOP), "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "b" / "manifest.json").read_text())
    flows = [o for o in m["outputs"] if o["kind"] == "flow"]
    assert {(o["esp"], o["name"]) for o in flows} >= {("klaviyo", "cart-abandonment"), ("hubspot", "session-exit")}
    ac = [o for o in flows if o["esp"] == "activecampaign"][0]
    assert ac["recipe"].endswith(".md") and (tmp_path / "b" / ac["definition"]).exists()
    cart = [o for o in m["outputs"] if o["kind"] == "template" and o["name"] == "cart-reminder"]
    assert {o["trigger"] for o in cart} == {"cart_abandoned"}


# ---------------------------------------------------------------- bad flows

EVENTS = """
[segments]
vip = 'profile.tier in ["gold"]'
[esp.klaviyo.events]
cart_abandoned = "Cart Abandoned"
[esp.hubspot.events]
cart_abandoned = "pe1_cart"
placed_order = "pe1_order"
"""

BAD = {
    "unknown-template": ("trigger: {event: cart_abandoned}\nsteps:\n  - send: nope\n", 3, 11, "unknown template 'nope'"),
    "unknown-step": ("trigger: {event: cart_abandoned}\nsteps:\n  - sleep: 1h\n  - send: t\n", 3, 5, "unknown step 'sleep'"),
    "branch-no-when": ("trigger: {event: cart_abandoned}\nsteps:\n  - branch:\n      then: [{send: t}]\n", 3, 5,
                       "a branch needs when"),
    "split-sum": ("trigger: {event: cart_abandoned}\nsteps:\n  - split:\n      a: {percent: 50, steps: [{send: t}]}\n"
                  "      b: {percent: 40, steps: [{send: t}]}\n", 3, 5, "add up to 90, not 100"),
    "bad-duration": ("trigger: {event: cart_abandoned}\nsteps:\n  - wait: 30 minutes\n  - send: t\n", 3, 11,
                     "malformed duration '30 minutes'"),
    "unknown-event": ("trigger: {event: wishlist_added}\nsteps:\n  - send: t\n", 1, 18, "'wishlist_added'"),
    "bad-expression": ('trigger: {event: cart_abandoned}\nsteps:\n  - branch:\n      when: "event.x +"\n'
                       "      then: [{send: t}]\n", 4, 14, "bad expression"),
    "unknown-segment": ('trigger: {event: cart_abandoned}\nsteps:\n  - branch:\n      when: "segment.nope"\n'
                        "      then: [{send: t}]\n", 4, 14, "unknown segment 'nope'"),
    "mixed-branch": ('trigger: {event: cart_abandoned}\nsteps:\n  - branch:\n      when: "segment.vip and event.x > 1"\n'
                     "      then: [{send: t}]\n", 4, 14, "Klaviyo cannot express branch on event and profile"),
    "profile-in-where": ('trigger: {event: cart_abandoned, where: "profile.tier == \'gold\'"}\nsteps:\n  - send: t\n',
                         1, 42, "use only event.* names"),
    "unknown-key": ("trigger: {event: cart_abandoned}\nschedule: daily\nsteps:\n  - send: t\n", 2, 1, "unknown key 'schedule'"),
    "yaml": ("trigger: {event: cart_abandoned\nsteps: [\n", 2, 6, "invalid YAML"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_flow_is_one_clear_error(project_dir, case):
    src, line, col, fragment = BAD[case]
    proj = project_dir({"t": text_email("Hi")}, EVENTS)
    (proj / "flows").mkdir()
    (proj / "flows" / "f.yaml").write_text(src)
    r = CliRunner().invoke(main, ["compile", str(proj)])
    assert r.exit_code == 1, r.output
    found = re.findall(r"^([^\n]+):(\d+):(\d+): error: (.+)$", r.output, re.M)
    # one place; an ESP-specific fault may be reported once per ESP there
    assert len(found) <= 3 and len({(f[0], f[1], f[2]) for f in found}) == 1, r.output
    path, got_line, got_col, _ = found[0]
    assert path.endswith("flows/f.yaml")
    assert (int(got_line), int(got_col)) == (line, col), r.output
    assert any(fragment in m for *_, m in found), r.output
    assert "Traceback" not in r.output and not (proj / "build").exists()


# ---------------------------------------------------------------- the flow capability tables

WALK_TOML = EVENTS + """
[esp.hubspot.properties]
"event.x" = "last_x"
[esp.activecampaign.fields]
"event.x" = "X"
"""
SEND = "  - send: t\n"
SNIPPETS = {
    "trigger": "",
    "trigger filter": 'trigger_where: "event.x > 1"',
    "audience": 'audience: "profile.email is defined"\n',
    "exit on event": "exit_on: [placed_order]\n",
    "reentry": "reentry: 1d\n",
    "max emails per window": "limits: {max_emails: 1, per: 1d}\n",
    "quiet hours": 'limits: {quiet_hours: "21:00-08:00"}\n',
    "wait": "steps: [{wait: 1h}]",
    "wait until time of day": 'steps: [{wait: {duration: 1d, until: "09:00"}}]',
    "send": "",
    "branch on event": 'steps: [{branch: {when: "event.x > 1", then: [{send: t}]}}]',
    "branch on profile": "steps: [{branch: {when: \"profile.tier == 'gold'\", then: [{send: t}]}}]",
    "branch on event and profile": "steps: [{branch: {when: \"profile.tier == 'gold' and event.x > 1\", then: [{send: t}]}}]",
    "random split": "steps: [{split: {a: {percent: 50, steps: [{send: t}]}, b: {percent: 50, steps: [{send: t}]}}}]",
}


def flow_source(construct: str) -> str:
    snip = SNIPPETS[construct]
    trigger = "trigger: {event: cart_abandoned}\n"
    if snip.startswith("trigger_where"):
        trigger = "trigger: {event: cart_abandoned, where: \"event.x > 1\"}\n"
        snip = ""
    if snip.startswith("steps:"):
        steps = snip.split("steps: ", 1)[1]
        return trigger + f"steps: {steps[:-1]}, {{send: t}}]\n"
    return trigger + snip + "steps:\n" + SEND


CASES = [(name, construct, support) for name, conn in load_connectors().items()
         for construct, support in conn.flows.CAPABILITIES.items()]


@pytest.mark.parametrize("esp,construct,support", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_flow_capability_table_matches_the_code(project_dir, esp, construct, support):
    from tests.conftest import make_project

    label = load_connectors()[esp].label
    proj = project_dir({"t": text_email("Hi")}, WALK_TOML)
    make_project(proj, {"t": text_email("Hi")}, WALK_TOML, esps=(esp,))
    (proj / "flows").mkdir()
    (proj / "flows" / "f.yaml").write_text(flow_source(construct))
    result = compile_project(load_project(proj, list(load_connectors())))
    errors = [d.message for d in result.errors]
    warnings = [d.message for d in result.diagnostics if d.severity == "warning"]
    if support.level == "exact":
        assert not errors and not [w for w in warnings if construct in w], errors + warnings
        assert [f for f in result.flows if f.esp == esp]
    elif support.level == "approximated":
        assert not errors and any(f"{construct} is approximated" in w for w in warnings), warnings
    else:
        assert any(e.startswith(f"{label} cannot express {construct}") for e in errors), errors


def test_every_translator_covers_the_same_constructs():
    tables = {n: set(c.flows.CAPABILITIES) for n, c in load_connectors().items()}
    assert len({frozenset(t) for t in tables.values()}) == 1, tables
    assert set(SNIPPETS) == next(iter(tables.values()))
