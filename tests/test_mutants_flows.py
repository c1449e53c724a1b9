"""Klaviyo flow definitions pinned piece by piece: emails, waits, random splits, re-entry.

Each test compiles its own small project: test_flows.py shares one compile of the example shop
between its tests, and mutation testing (which maps a test to the functions called while it runs)
then credits only the first of them, so mutants of the translation went untested (docs/testing.md)."""

import json
from pathlib import Path

import pytest
from mailwright_connectors.hubspot.flows import check_graph
from mailwright_connectors.klaviyo.schema import errors as klaviyo_schema_errors

from mailwright.compile import Output, compile_project
from mailwright.dialect import FlowContext, load_connectors
from mailwright.errors import MailwrightError
from mailwright.flows import load_flow
from mailwright.project import load_project
from tests.conftest import make_project, text_email

TOML = '[esp.klaviyo.events]\ncart_abandoned = "Cart Abandoned"\n'


def klaviyo(tmp_path, steps: str, head: str = "", templates=None):
    templates = templates or {"a": text_email("A", subject="Sa"), "b": text_email("B", subject="Sb"),
                              "c": text_email("C", subject="Sc")}
    root = make_project(tmp_path / "p", templates, TOML, esps=("klaviyo",))
    (root / "flows").mkdir()
    (root / "flows" / "f.yaml").write_text(f"name: F\ntrigger: {{event: cart_abandoned}}\n{head}steps:\n{steps}")
    result = compile_project(load_project(root, list(load_connectors())))
    assert not result.errors, [d.format() for d in result.errors]
    (flow,) = result.flows
    warnings = [d.format() for d in result.diagnostics if d.severity == "warning"]
    return flow.definition["data"]["attributes"]["definition"], warnings


def test_an_email_is_a_draft_with_its_template_subject_and_smart_sending(tmp_path):
    d, _ = klaviyo(tmp_path, "  - send: a\n")
    (send,) = d["actions"]
    assert send == {"temporary_id": "action-1", "type": "send-email", "links": {"next": None}, "data": {
        "status": "draft", "message": {"name": "F: a", "template_id": "mailwright:template:a--cart_abandoned",
                                       "subject_line": "Sa", "preview_text": None, "smart_sending_enabled": True}}}


def test_an_email_carries_its_preview_text(tmp_path):
    tmpl = {"a": text_email("A", subject="Sa", head="<mj-preview>Peek</mj-preview>")}
    d, _ = klaviyo(tmp_path, "  - send: a\n", templates=tmpl)
    assert d["actions"][0]["data"]["message"]["preview_text"] == "Peek"


@pytest.mark.parametrize("wait, data", [
    ("30m", {"unit": "minutes", "value": 30}), ("90m", {"unit": "minutes", "value": 90}),
    ("2h", {"unit": "hours", "value": 2}), ("1d", {"unit": "days", "value": 1}),
    ("30s", {"unit": "minutes", "value": 1}), ("61s", {"unit": "minutes", "value": 2}),
    ("121s", {"unit": "minutes", "value": 3}),
    ("{duration: 1d, until: '10:00'}", {"unit": "days", "value": 1, "delay_until_time": "10:00:00",
                                        "timezone": "profile"}),
])
def test_a_wait(tmp_path, wait, data):
    d, _ = klaviyo(tmp_path, f"  - wait: {wait}\n  - send: a\n")
    assert d["actions"][0]["type"] == "time-delay" and d["actions"][0]["data"] == data
    assert d["actions"][0]["links"] == {"next": "action-2"} and d["entry_action_id"] == "action-1"


@pytest.mark.parametrize("reentry, criteria", [
    ("", {"duration": 1, "unit": "alltime"}), ("reentry: 7d\n", {"duration": 1, "unit": "week"}),
    ("reentry: 2d\n", {"duration": 2, "unit": "day"}), ("reentry: 90m\n", {"duration": 2, "unit": "hour"}),
    ("reentry: 14d\n", {"duration": 2, "unit": "week"}), ("reentry: 3h\n", {"duration": 3, "unit": "hour"}),
])
def test_reentry(tmp_path, reentry, criteria):
    d, _ = klaviyo(tmp_path, "  - send: a\n", head=reentry)
    assert d["reentry_criteria"] == criteria


def sample(action):
    (group,) = action["data"]["profile_filter"]["condition_groups"]
    (cond,) = group["conditions"]
    assert cond["type"] == "profile-sample" and action["type"] == "conditional-split"
    return cond["percentage"]


def test_a_split_in_three_is_nested_samples_of_those_left(tmp_path):
    steps = ("  - split:\n      x: {percent: 50, steps: [{send: a}]}\n      y: {percent: 30, steps: [{send: b}]}\n"
             "      z: {percent: 20, steps: [{send: c}]}\n  - wait: 1h\n")
    d, _ = klaviyo(tmp_path, steps)
    by_id = {a["temporary_id"]: a for a in d["actions"]}
    first = by_id[d["entry_action_id"]]
    assert sample(first) == 50
    yes = by_id[first["links"]["next_if_true"]]
    assert yes["data"]["message"]["template_id"].endswith(":a--cart_abandoned")
    assert by_id[yes["links"]["next"]]["type"] == "time-delay"  # what follows the split, in each arm
    second = by_id[first["links"]["next_if_false"]]
    assert sample(second) == 60  # 30 of the 50 left
    assert by_id[second["links"]["next_if_true"]]["data"]["message"]["template_id"].endswith(":b--cart_abandoned")
    last = by_id[second["links"]["next_if_false"]]
    assert last["data"]["message"]["template_id"].endswith(":c--cart_abandoned")
    assert by_id[last["links"]["next"]]["type"] == "time-delay"


def test_an_uneven_split_is_rounded_with_a_warning(tmp_path):
    steps = ("  - split:\n      x: {percent: 33, steps: [{send: a}]}\n      y: {percent: 33, steps: [{send: b}]}\n"
             "      z: {percent: 34, steps: [{send: c}]}\n")
    d, warnings = klaviyo(tmp_path, steps)
    by_id = {a["temporary_id"]: a for a in d["actions"]}
    first = by_id[d["entry_action_id"]]
    assert sample(first) == 33
    assert sample(by_id[first["links"]["next_if_false"]]) == 49  # 33 of 67: 49.25%
    assert any("flows/f.yaml:" in w and "Klaviyo: split arm 'y' gets 49% of those left (exactly 49.25%), since a "
               "random sample takes whole percentages" in w for w in warnings), warnings
    assert not any("split arm 'x'" in w for w in warnings), warnings



@pytest.mark.parametrize("when, kind, data_key, condition", [
    ("event.cart_value > 100", "trigger-split", "trigger_filter",
     {"type": "metric-property", "metric_id": "mailwright:metric:Cart Abandoned", "field": "cart_value",
      "filter": {"type": "numeric", "operator": "greater-than", "value": 100.0}}),
    ("profile.tier == 'gold'", "conditional-split", "profile_filter",
     {"type": "profile-property", "property": "properties['tier']",
      "filter": {"type": "string", "operator": "equals", "value": "gold"}}),
])
def test_a_branch_splits_and_each_arm_goes_on_with_what_follows(tmp_path, when, kind, data_key, condition):
    steps = f'  - branch:\n      when: "{when}"\n      then: [{{send: a}}]\n      else: [{{send: b}}]\n  - wait: 1h\n'
    d, _ = klaviyo(tmp_path, steps)
    by_id = {a["temporary_id"]: a for a in d["actions"]}
    split = by_id[d["entry_action_id"]]
    assert split["type"] == kind
    groups = split["data"][data_key]["condition_groups"]
    assert {"conditions": [condition]} in groups
    if kind == "trigger-split":
        assert split["data"]["trigger_id"] == "mailwright:metric:Cart Abandoned"
        assert split["data"]["trigger_type"] == "metric"
    yes, no = by_id[split["links"]["next_if_true"]], by_id[split["links"]["next_if_false"]]
    assert set(split["links"]) == {"next_if_true", "next_if_false"}
    assert yes["data"]["message"]["name"] == "F: a" and no["data"]["message"]["name"] == "F: b"
    assert by_id[yes["links"]["next"]]["type"] == by_id[no["links"]["next"]]["type"] == "time-delay"


def refusal(tmp_path, head):
    root = make_project(tmp_path / "p", {"a": text_email("A")}, TOML, esps=("klaviyo",))
    (root / "flows").mkdir()
    (root / "flows" / "f.yaml").write_text(f"name: F\ntrigger: {{event: cart_abandoned}}\n{head}steps:\n  - send: a\n")
    result = compile_project(load_project(root, list(load_connectors())))
    return [d.format() for d in result.errors]


def test_klaviyo_refuses_a_comparison_between_two_names(tmp_path):
    (error,) = refusal(tmp_path, 'audience: "profile.a > profile.b"\n')
    assert error.endswith("flows/f.yaml:3:12: error: Klaviyo cannot express a comparison between two names; compare "
                          "a name with a literal [klaviyo.unsupported]"), error


def test_klaviyo_refuses_an_audience_too_large_for_its_filter_groups(tmp_path):
    big = " or ".join(f"(profile.a{i} == 1 and profile.b{i} == 1)" for i in range(7))
    (error,) = refusal(tmp_path, f'audience: "{big}"\n')
    assert error.endswith("flows/f.yaml:3:12: error: Klaviyo cannot express this condition (it needs more than 64 "
                          "filter groups); split it into nested branches or segments [klaviyo.unsupported]"), error


# ---------------------------------------------------------------- every translation, in memory

def translate(tmp_path: Path, esp: str, yaml: str, config: dict | None = None) -> tuple[dict[str, str], list]:
    """One flow file translated for ``esp`` in this process (milliseconds: no compile of templates),
    with the warnings it gives as (position, message, rule)."""
    conn = load_connectors()[esp]
    path = tmp_path / "f.yaml"
    path.write_text(yaml, encoding="utf-8")
    flow = load_flow(path, set(TEMPLATES), {})
    outputs = {(t, flow.event): Output(esp, t, flow.event, f"<p>{t}</p>", t, f"S{t}", f"P{t}") for t in TEMPLATES}
    warnings: list = []
    ctx = FlowContext("t", esp, config or {}, outputs,
                      lambda pos, msg, rule=None: warnings.append((pos.line, pos.col, msg, rule)), conn.label)
    return conn.flows(ctx).translate(flow), warnings


def refused(tmp_path: Path, esp: str, yaml: str, config: dict | None = None) -> str:
    with pytest.raises(MailwrightError) as e:
        translate(tmp_path, esp, yaml, config)
    return str(e.value).removeprefix(str(tmp_path / "f.yaml") + ":")


TEMPLATES = ("a", "b", "c")


# ---------------------------------------------------------------- ActiveCampaign's recipe

AC_FLOW = """name: Winback
trigger: {event: cart_abandoned, where: "event.cart_value >= 50"}
audience: "profile.tier == 'gold' or profile.first_name is defined"
exit_on: [placed_order, email_clicked]
reentry: 7d
limits: {max_emails: 2, per: 1d, quiet_hours: "21:00-08:00"}
steps:
  - wait: 2w
  - send: a
  - wait: {duration: 1d, until: "09:30"}
  - branch:
      when: "profile.orders > 2"
      then: [{send: b}]
      else: []
  - split:
      x: {percent: 60, steps: [{wait: 90m}, {send: c}]}
      y: {percent: 40, steps: []}
"""
AC_CONFIG = {"events": {"placed_order": "Order Placed"},
             "fields": {"profile.orders": "%orders%", "event.cart_value": "%CART_VALUE%"}}
QUIET = {"action": "wait until", "between": "08:00 and 21:00"}


def ac_send(t: str) -> dict:
    return {"action": "send email", "message": f"t: {t}--cart_abandoned", "subject": f"S{t}",
            "html": f"activecampaign/{t}--cart_abandoned.html"}


def test_activecampaign_recipe_as_data(tmp_path):
    files, _ = translate(tmp_path, "activecampaign", AC_FLOW, AC_CONFIG)
    assert files[".json"].endswith("}\n")
    assert json.loads(files[".json"]) == {
        "automation": "t: Winback", "source": "flows/f.yaml",
        "trigger": {"type": "event", "event": "cart_abandoned", "runs": "multiple times",
                    "segment": "(field TIER is not blank AND field TIER is 'gold') OR field FIRSTNAME is not blank"},
        "steps": [{"action": "if/else",
                   "condition": "field CART_VALUE is not blank AND field CART_VALUE is greater than or equal to 50",
                   "yes": [{"action": "wait", "for": "2 weeks"}, QUIET, ac_send("a"),
                           {"action": "wait", "for": "1 day"}, {"action": "wait until", "time": "09:30"},
                           {"action": "if/else", "condition": "field ORDERS is not blank AND field ORDERS is greater than 2",
                            "yes": [QUIET, ac_send("b")], "no": []},
                           {"action": "split", "paths": [
                               {"name": "x", "percent": 60,
                                "steps": [{"action": "wait", "for": "90 minutes"}, QUIET, ac_send("c")]},
                               {"name": "y", "percent": 40, "steps": []}]}],
                   "no": [{"action": "end"}]}],
        "goals": [{"name": "placed_order", "event": "Order Placed", "condition": "Event 'Order Placed' is recorded",
                   "when_met": "end this automation", "from": "anywhere in the automation"},
                  {"name": "email_clicked", "event": "email_clicked",
                   "condition": "Event 'email_clicked' is recorded", "when_met": "end this automation",
                   "from": "anywhere in the automation"}]}


AC_RECIPE = """# t: Winback

ActiveCampaign's API cannot create automations: build this one by hand, once. It was compiled from `flows/f.yaml`; when that file changes, compile again and compare.

In ActiveCampaign: **Automations → + Create an automation → Start from scratch**, then:

1. **Trigger**: *Event is recorded*, event name `cart_abandoned`; runs **multiple times**.
   - Segment the contacts who enter: (field TIER is not blank AND field TIER is 'gold') OR field FIRSTNAME is not blank.
2. **If/Else**: field CART_VALUE is not blank AND field CART_VALUE is greater than or equal to 50.
   - On **Yes**:
      3. **Wait** for 2 weeks.
      4. **Wait until** the time is between 08:00 and 21:00 (quiet hours).
      5. **Send email** *t: a--cart_abandoned* (the message `mailwright push` creates from `activecampaign/a--cart_abandoned.html`).
      6. **Wait** for 1 day.
      7. **Wait until** the time is 09:30.
      8. **If/Else**: field ORDERS is not blank AND field ORDERS is greater than 2.
         - On **Yes**:
            9. **Wait until** the time is between 08:00 and 21:00 (quiet hours).
            10. **Send email** *t: b--cart_abandoned* (the message `mailwright push` creates from `activecampaign/b--cart_abandoned.html`).
         - On **No**: nothing more.
      11. **Split** contacts randomly: path x 60%, path y 40%.
         - On path **x**:
            12. **Wait** for 90 minutes.
            13. **Wait until** the time is between 08:00 and 21:00 (quiet hours).
            14. **Send email** *t: c--cart_abandoned* (the message `mailwright push` creates from `activecampaign/c--cart_abandoned.html`).
         - On path **y**: nothing more.
   - On **No**:
      15. **End this automation**.
16. **Goal** *placed_order* at the end: Event 'Order Placed' is recorded; contacts may jump to it anywhere in the automation; when met, end this automation.
17. **Goal** *email_clicked* at the end: Event 'email_clicked' is recorded; contacts may jump to it anywhere in the automation; when met, end this automation.

Save the automation and set it **Active** when the messages are ready.
"""  # noqa: E501


def test_activecampaign_recipe_a_person_follows(tmp_path):
    files, warnings = translate(tmp_path, "activecampaign", AC_FLOW, AC_CONFIG)
    assert files[".md"] == AC_RECIPE
    assert warnings == [
        (5, 10, "ActiveCampaign: reentry is approximated: the trigger runs 'multiple times', with no waiting period "
                "between entries", "activecampaign.reentry"),
        (6, 9, "ActiveCampaign: max emails per window is approximated: ActiveCampaign has no per-automation cap: "
               "nothing limits the count beyond the steps themselves", "activecampaign.max-emails-per-window"),
        (6, 9, "ActiveCampaign: quiet hours is approximated: a 'Wait until' step before each send holds it to the "
               "allowed hours, in the account's time zone, not the contact's", "activecampaign.quiet-hours"),
        (2, 42, "ActiveCampaign: trigger filter is approximated: ActiveCampaign triggers cannot filter on event data: "
                "the recipe starts with an If/Else on the mapped fields, and the No path ends",
         "activecampaign.trigger-filter")]


def test_activecampaign_plain_flow_runs_once_with_no_segment_goal_or_quiet_wait(tmp_path):
    files, warnings = translate(tmp_path, "activecampaign",
                                "trigger: {event: placed_order}\nsteps:\n  - send: a\n", AC_CONFIG)
    recipe = json.loads(files[".json"])
    assert recipe["automation"] == "t: f" and recipe["trigger"] == {"type": "event", "event": "Order Placed",
                                                                    "runs": "once"}
    assert recipe["steps"] == [{**ac_send("a"), "message": "t: a--placed_order",
                                "html": "activecampaign/a--placed_order.html"}]
    assert recipe["goals"] == [] and warnings == []
    assert "runs **once**.\n2. **Send email**" in files[".md"] and "Segment" not in files[".md"]
    assert "Goal" not in files[".md"]


@pytest.mark.parametrize("wait, words", [
    ("1w", "1 week"), ("3w", "3 weeks"), ("14d", "2 weeks"), ("1d", "1 day"), ("6d", "6 days"), ("1h", "1 hour"),
    ("25h", "25 hours"), ("24h", "1 day"), ("1m", "1 minute"), ("60m", "1 hour"), ("90m", "90 minutes"),
    ("1s", "1 second"), ("45s", "45 seconds"), ("120s", "2 minutes"), ("86400s", "1 day"),
])
def test_activecampaign_waits_in_words(tmp_path, wait, words):
    files, _ = translate(tmp_path, "activecampaign", f"trigger: {{event: e}}\nsteps:\n  - wait: {wait}\n  - send: a\n")
    assert json.loads(files[".json"])["steps"][0] == {"action": "wait", "for": words}
    assert f"2. **Wait** for {words}.\n3. **Send email**" in files[".md"]


@pytest.mark.parametrize("when, words", [
    ("profile.email == 'a@b.c'", "field EMAIL is not blank AND field EMAIL is 'a@b.c'"),
    ("profile.last_name != 'Lee'", "field LASTNAME is not blank AND field LASTNAME is not 'Lee'"),
    ("profile.phone is defined", "field PHONE is not blank"),
    ("not (profile.shoe_size is defined)", "field SHOE_SIZE is blank"),
    ("profile.orders <= 3", "field ORDERS is not blank AND field ORDERS is less than or equal to 3"),
    ("3 < profile.orders", "field ORDERS is not blank AND field ORDERS is greater than 3"),
    ("not (profile.orders < 1.5)", "field ORDERS is blank OR field ORDERS is greater than or equal to 1.5"),
    ("'x' in profile.tier", "field TIER is not blank AND field TIER contains 'x'"),
    ("not ('x' in profile.tier)", "field TIER is blank OR field TIER does not contain 'x'"),
    ("'x' not in profile.tier", "field TIER is not blank AND field TIER does not contain 'x'"),
    ("profile.tier in ['a', 'b']", "field TIER is not blank AND (field TIER is 'a' OR field TIER is 'b')"),
    ("profile.tier == ''", "never"),
    ("not (profile.tier == '')", "always"),
    ("event.cart_value > 5", "field CART_VALUE is not blank AND field CART_VALUE is greater than 5"),
])
def test_activecampaign_conditions_in_words(tmp_path, when, words):
    files, _ = translate(tmp_path, "activecampaign", f'trigger: {{event: e}}\nsteps:\n  - branch:\n      when: "{when}"\n'
                                                     "      then: [{send: a}]\n", AC_CONFIG)
    assert json.loads(files[".json"])["steps"][0]["condition"] == words


@pytest.mark.parametrize("when, error", [
    ("profile.a == profile.b", "4:14: error: ActiveCampaign cannot express a comparison between two fields; compare "
                               "a field with text"),
    ("profile.tier in 'gold'", "4:14: error: ActiveCampaign cannot express 'field in \"text\"'; compare with == "
                               "instead"),
    ("profile.vip == true", "4:14: error: ActiveCampaign cannot express a boolean; fields hold text: compare with "
                            "'Yes' or '1'"),
    ("profile.address.city == 'Oslo'", "4:14: error: ActiveCampaign cannot express the name profile.address.city in an "
                                       "automation condition (automations read contact fields); map it to a custom "
                                       "field: [esp.activecampaign.fields] \"profile.address.city\" = \"TAG\""),
    ("event.sku == 'x'", "4:14: error: ActiveCampaign cannot express the name event.sku in an automation condition "
                         "(automations read contact fields); map it to a custom field: [esp.activecampaign.fields] "
                         "\"event.sku\" = \"TAG\""),
])
def test_activecampaign_refuses_what_contact_fields_cannot_say(tmp_path, when, error):
    message = refused(tmp_path, "activecampaign", f'trigger: {{event: e}}\nsteps:\n  - branch:\n      when: "{when}"\n'
                                                  "      then: [{send: a}]\n", AC_CONFIG)
    assert message.startswith(error), message


# ---------------------------------------------------------------- HubSpot's workflow

HS_FLOW = """name: Winback
trigger: {event: cart_abandoned, where: "event.cart_value >= 50"}
audience: "profile.tier == 'gold'"
exit_on: [placed_order, email_clicked]
reentry: 7d
limits: {max_emails: 2, per: 1d, quiet_hours: "21:00-08:30"}
steps:
  - wait: 2d
  - send: a
  - wait: {duration: 90s, until: "09:30"}
  - branch:
      when: "profile.orders > 2"
      then: [{send: b}]
  - split:
      x: {percent: 60, steps: [{wait: 3h}]}
      y: {percent: 40, steps: []}
  - send: c
"""
HS_CONFIG = {"events": {"cart_abandoned": "pe1_cart", "placed_order": "pe1_order", "email_clicked": "4-666"}}


def hs_edge(target: str) -> dict:
    return {"edgeType": "STANDARD", "nextActionId": target}


def hs_delay(aid: str, delta: str, unit: str, nxt: str | None = None) -> dict:
    return {"actionId": aid, "type": "SINGLE_CONNECTION", "actionTypeId": "0-1", "actionTypeVersion": 0,
            "fields": {"delta": delta, "time_unit": unit}, **({"connection": hs_edge(nxt)} if nxt else {})}


def hs_send(aid: str, template: str, nxt: str | None = None) -> dict:
    return {"actionId": aid, "type": "SINGLE_CONNECTION", "actionTypeId": "0-4", "actionTypeVersion": 0,
            "fields": {"content_id": f"mailwright:email:{template}--cart_abandoned"},
            **({"connection": hs_edge(nxt)} if nxt else {})}


def hs_known_and(prop: str, operation: dict) -> dict:
    """A filter branch: the property is known and ``operation`` holds."""
    known = {"operationType": "ALL_PROPERTY", "operator": "IS_KNOWN", "includeObjectsWithNoValueSet": False}
    return {"filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [], "filterBranches": [
        {"filterBranchType": "AND", "filterBranchOperator": "AND", "filterBranches": [], "filters": [
            {"filterType": "PROPERTY", "property": prop, "operation": known},
            {"filterType": "PROPERTY", "property": prop,
             "operation": {**operation, "includeObjectsWithNoValueSet": False}}]}]}


def hs_event(event_type: str, **more) -> dict:
    return {"filterBranchType": "UNIFIED_EVENTS", "filterBranchOperator": "AND", "eventTypeId": event_type,
            "operator": "HAS_COMPLETED", "filters": [], "filterBranches": [], **more}


def hs_split(aid: str, *targets: str) -> dict:
    return {"actionId": aid, "type": "AB_TEST_BRANCH",
            "testBranches": [{"percentage": p, "connection": hs_edge(t)} for p, t in zip((60, 40), targets)]}


def hubspot_shape_problems(payload: dict) -> list:
    """The workflow checked against HubSpot's create-flow request (the fake HubSpot's description of it)."""
    from tests.fakes.hubspot import FLOW_SHAPES, check

    out: list = []
    check(payload, FLOW_SHAPES[("create", "CONTACT_FLOW")], "", out)
    return out


def test_hubspot_workflow_in_full(tmp_path):
    files, warnings = translate(tmp_path, "hubspot", HS_FLOW, HS_CONFIG)
    assert files[".json"].endswith("}\n")
    payload = json.loads(files[".json"])
    assert hubspot_shape_problems(payload) == [] and check_graph(payload) == []
    window = {"startTime": {"hour": 8, "minute": 30}, "endTime": {"hour": 21, "minute": 0}}
    assert payload == {
        "type": "CONTACT_FLOW", "objectTypeId": "0-1", "flowType": "WORKFLOW", "name": "t: Winback",
        "description": "Managed by mailwright from flows/f.yaml: edit it there.", "isEnabled": False,
        "canEnrollFromSalesforce": False, "startActionId": "1", "nextAvailableActionId": "15",
        "actions": [
            {"actionId": "1", "type": "LIST_BRANCH", "defaultBranchName": "Not in the audience", "listBranches": [
                {"branchName": "In the audience", "connection": hs_edge("2"),
                 "filterBranch": hs_known_and("tier", {"operationType": "STRING", "operator": "IS_EQUAL_TO",
                                                       "value": "gold"})}]},
            hs_delay("2", "2", "DAYS", "3"), hs_send("3", "a", "4"), hs_delay("4", "2", "MINUTES", "5"),
            {"actionId": "5", "type": "LIST_BRANCH", "defaultBranchName": "No", "defaultBranch": hs_edge("11"),
             "listBranches": [{"branchName": "Yes", "connection": hs_edge("6"), "filterBranch": hs_known_and(
                 "orders", {"operationType": "NUMBER", "operator": "IS_GREATER_THAN", "value": 2})}]},
            hs_send("6", "b", "7"), hs_split("7", "8", "10"), hs_delay("8", "3", "HOURS", "9"), hs_send("9", "c"),
            hs_send("10", "c"),
            hs_split("11", "12", "14"), hs_delay("12", "3", "HOURS", "13"), hs_send("13", "c"), hs_send("14", "c")],
        "enrollmentCriteria": {"type": "EVENT_BASED", "shouldReEnroll": True, "listMembershipFilterBranches": [],
                               "eventFilterBranches": [hs_event("pe1_cart", filterBranches=[hs_known_and(
                                   "cart_value", {"operationType": "NUMBER", "operator": "IS_GREATER_THAN_OR_EQUAL_TO",
                                                  "value": 50})])]},
        "timeWindows": [{"day": d, **window} for d in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY",
                                                        "SATURDAY", "SUNDAY")],
        "blockedDates": [], "customProperties": {}, "dataSources": [], "suppressionListIds": [],
        "goalFilterBranch": {"filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [],
                             "filterBranches": [hs_event("pe1_order"), hs_event("4-666")]}}
    assert warnings == [
        (5, 10, "HubSpot: reentry is approximated: HubSpot re-enrols on every new event (shouldReEnroll) without a "
                "waiting period", "hubspot.reentry"),
        (6, 9, "HubSpot: max emails per window is approximated: HubSpot has no per-workflow cap: the account's email "
               "send frequency limit applies instead", "hubspot.max-emails-per-window"),
        (10, 5, "HubSpot: wait until time of day is approximated: a plain delay: the time of day is not expressed "
                "(set a time window instead)", "hubspot.wait-until-time-of-day"),
        (10, 22, "HubSpot: a wait of 90s is rounded up to whole minutes", None)]


def test_hubspot_plain_workflow(tmp_path):
    files, warnings = translate(tmp_path, "hubspot", "trigger: {event: cart_abandoned}\nsteps:\n  - send: a\n",
                                HS_CONFIG)
    payload = json.loads(files[".json"])
    assert payload["startActionId"] == "1" and payload["actions"] == [hs_send("1", "a")]
    assert payload["nextAvailableActionId"] == "2" and payload["timeWindows"] == [] and "goalFilterBranch" not in payload
    assert payload["enrollmentCriteria"] == {"type": "EVENT_BASED", "shouldReEnroll": False,
                                             "eventFilterBranches": [hs_event("pe1_cart")],
                                             "listMembershipFilterBranches": []}
    assert warnings == [] and hubspot_shape_problems(payload) == []


def test_hubspot_an_empty_arm_at_the_end_waits_a_minute_and_an_empty_yes_goes_nowhere(tmp_path):
    steps = ("  - branch: {when: \"profile.tier == 'x'\", then: [], else: [{send: a}]}\n"
             "  - split:\n      x: {percent: 60, steps: [{send: b}]}\n      y: {percent: 40, steps: []}\n")
    files, _ = translate(tmp_path, "hubspot", f"trigger: {{event: cart_abandoned}}\nsteps:\n{steps}", HS_CONFIG)
    payload = json.loads(files[".json"])
    assert check_graph(payload) == [] and hubspot_shape_problems(payload) == []
    by_id = {a["actionId"]: a for a in payload["actions"]}
    branch = by_id["1"]
    assert "connection" in branch["listBranches"][0] and branch["defaultBranch"] == hs_edge(
        branch["defaultBranch"]["nextActionId"])
    (yes_split,) = [a for a in payload["actions"] if a["type"] == "AB_TEST_BRANCH"
                    and a["actionId"] == branch["listBranches"][0]["connection"]["nextActionId"]]
    x, y = yes_split["testBranches"]
    assert by_id[x["connection"]["nextActionId"]] == hs_send(x["connection"]["nextActionId"], "b")
    assert by_id[y["connection"]["nextActionId"]] == hs_delay(y["connection"]["nextActionId"], "1", "MINUTES")
    nothing = translate(tmp_path, "hubspot", "trigger: {event: cart_abandoned}\nsteps:\n  - branch: {when: \"profile"
                        ".tier == 'x'\", then: [], else: [{send: a}]}\n", HS_CONFIG)[0]
    (only,) = [a for a in json.loads(nothing[".json"])["actions"] if a["type"] == "LIST_BRANCH"]
    assert "connection" not in only["listBranches"][0] and only["defaultBranch"] == hs_edge("2")


@pytest.mark.parametrize("wait, delta, unit", [
    ("1m", "1", "MINUTES"), ("59m", "59", "MINUTES"), ("60m", "1", "HOURS"), ("90m", "90", "MINUTES"),
    ("1h", "1", "HOURS"), ("23h", "23", "HOURS"), ("24h", "1", "DAYS"), ("1d", "1", "DAYS"), ("1w", "7", "DAYS"),
    ("30s", "1", "MINUTES"), ("61s", "2", "MINUTES"), ("3600s", "1", "HOURS"), ("86399s", "1", "DAYS"),
])
def test_hubspot_delays(tmp_path, wait, delta, unit):
    files, warnings = translate(tmp_path, "hubspot", f"trigger: {{event: e}}\nsteps:\n  - wait: {wait}\n  - send: a\n",
                                {"events": {"e": "pe1_e"}})
    assert json.loads(files[".json"])["actions"][0]["fields"] == {"delta": delta, "time_unit": unit}
    rounded = [(3, 11, f"HubSpot: a wait of {wait} is rounded up to whole minutes", None)]
    assert warnings == (rounded if wait.endswith("s") and wait != "3600s" else [])


@pytest.mark.parametrize("quiet, spans", [
    ("21:00-08:30", [((8, 30), (21, 0))]),
    ("01:15-05:00", [((0, 0), (1, 15)), ((5, 0), (23, 59))]),
    ("00:00-06:00", [((6, 0), (23, 59))]),
    ("22:00-23:59", [((0, 0), (22, 0))]),
    ("09:00-09:00", []),  # no quiet time: no window, not a day with its last minute held
])
def test_hubspot_quiet_hours_as_the_windows_actions_may_run_in(tmp_path, quiet, spans):
    head = f"limits: {{quiet_hours: \"{quiet}\"}}\n"
    files, warnings = translate(tmp_path, "hubspot", f"trigger: {{event: e}}\n{head}steps:\n  - send: a\n",
                                {"events": {"e": "pe1_e"}})
    days = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
    assert json.loads(files[".json"])["timeWindows"] == [
        {"day": d, "startTime": {"hour": a[0], "minute": a[1]}, "endTime": {"hour": b[0], "minute": b[1]}}
        for d in days for a, b in spans]
    assert warnings == []


@pytest.mark.parametrize("when, error", [
    ("profile.a == profile.b", "4:14: error: HubSpot cannot express a comparison between two names; compare a name "
                               "with a literal"),
    ("profile.tier in 'gold'", "4:14: error: HubSpot cannot express 'name in \"text\"'; compare with == instead"),
    ("profile.vip > true", "4:14: error: HubSpot cannot express ordering booleans; compare with == true or == false"),
    ("profile.tier < 'b'", "4:14: error: HubSpot cannot express '<' on text; compare text with == or !="),
    ("not (profile.tier >= 'b')", "4:14: error: HubSpot cannot express '<' on text; compare text with == or !="),
    ("event.sku == 'x'", "4:14: error: HubSpot cannot express the event property event.sku in a branch (workflow "
                         "branches read contact properties); map it to a contact property: [esp.hubspot.properties] "
                         "\"event.sku\" = \"…\""),
    (" and ".join(f"(profile.a{i} == 1 or profile.b{i} == 1)" for i in range(5)) + " or profile.c == 1",
     "4:14: error: HubSpot cannot express this condition (it needs more than 32 filter groups); split it into nested "
     "branches"),
])
def test_hubspot_refuses_what_a_branch_cannot_say(tmp_path, when, error):
    message = refused(tmp_path, "hubspot", f'trigger: {{event: e}}\nsteps:\n  - branch:\n      when: "{when}"\n'
                                           "      then: [{send: a}]\n", {"events": {"e": "pe1_e"}})
    assert message.startswith(error), message


@pytest.mark.parametrize("when, prop, operation", [
    ("profile.email == 'a@b.c'", "email", {"operationType": "STRING", "operator": "IS_EQUAL_TO", "value": "a@b.c"}),
    ("profile.address.city == 'Oslo'", "address.city",
     {"operationType": "STRING", "operator": "IS_EQUAL_TO", "value": "Oslo"}),
    ("profile.vip == true", "vip", {"operationType": "BOOL", "operator": "IS_EQUAL_TO", "value": True}),
    ("profile.vip != false", "vip", {"operationType": "BOOL", "operator": "IS_NOT_EQUAL_TO", "value": False}),
    ("event.sku == 'x'", "last_sku", {"operationType": "STRING", "operator": "IS_EQUAL_TO", "value": "x"}),
    ("profile.first_name == 'x'", "given", {"operationType": "STRING", "operator": "IS_EQUAL_TO", "value": "x"}),
    ("profile.tier != 'x'", "tier", {"operationType": "STRING", "operator": "IS_NOT_EQUAL_TO", "value": "x"}),
    ("'x' == profile.tier", "tier", {"operationType": "STRING", "operator": "IS_EQUAL_TO", "value": "x"}),
    ("3 != profile.n", "n", {"operationType": "NUMBER", "operator": "IS_NOT_EQUAL_TO", "value": 3}),
])
def test_hubspot_branch_properties(tmp_path, when, prop, operation):
    config = {"events": {"e": "pe1_e"}, "properties": {"event.sku": "last_sku", "profile.first_name": "given"}}
    files, _ = translate(tmp_path, "hubspot", f'trigger: {{event: e}}\nsteps:\n  - branch:\n      when: "{when}"\n'
                                              "      then: [{send: a}]\n", config)
    (branch,) = json.loads(files[".json"])["actions"][:1]
    assert branch["listBranches"][0]["filterBranch"] == hs_known_and(prop, operation)


def test_hubspot_takes_a_condition_of_32_filter_groups(tmp_path):
    when = " and ".join(f"(profile.a{i} == 1 or profile.b{i} == 1)" for i in range(5))
    files, _ = translate(tmp_path, "hubspot", f'trigger: {{event: e}}\nsteps:\n  - branch:\n      when: "{when}"\n'
                                              "      then: [{send: a}]\n", {"events": {"e": "pe1_e"}})
    groups = json.loads(files[".json"])["actions"][0]["listBranches"][0]["filterBranch"]["filterBranches"]
    assert len(groups) == 32


def test_hubspot_trigger_filter_reads_the_event_own_properties(tmp_path):
    head = "trigger: {event: e, where: \"event.sku.code == 'x'\"}\n"
    files, warnings = translate(tmp_path, "hubspot", f"{head}steps:\n  - send: a\n",
                                {"events": {"e": "pe1_e"}, "properties": {"event.sku.code": "mapped"}})
    (enrol,) = json.loads(files[".json"])["enrollmentCriteria"]["eventFilterBranches"]
    assert enrol["filterBranches"] == [hs_known_and("sku.code", {"operationType": "STRING", "operator": "IS_EQUAL_TO",
                                                                  "value": "x"})]
    assert warnings == []


def test_hubspot_workflow_as_written(tmp_path):
    files, _ = translate(tmp_path, "hubspot", "name: Rückkehr\ntrigger: {event: e}\nsteps:\n  - send: a\n",
                         {"events": {"e": "pe1_e"}})
    assert files[".json"].startswith('{\n  "type": "CONTACT_FLOW",\n  "objectTypeId"'), files[".json"]
    assert '"name": "t: Rückkehr"' in files[".json"]


@pytest.mark.parametrize("head, error", [
    ('audience: "profile.a == profile.b"\n', "2:12: error: HubSpot cannot express a comparison between two names"),
    ("trigger: {event: e, where: \"event.a == event.b\"}\n",
     "1:29: error: HubSpot cannot express a comparison between two names"),
])
def test_hubspot_refuses_a_trigger_filter_or_audience_where_it_stands(tmp_path, head, error):
    trigger = "" if head.startswith("trigger") else "trigger: {event: e}\n"
    message = refused(tmp_path, "hubspot", f"{trigger}{head}steps:\n  - send: a\n", {"events": {"e": "pe1_e"}})
    assert message.startswith(error), message


def test_hubspot_needs_its_event_types_mapped(tmp_path):
    message = refused(tmp_path, "hubspot", "trigger: {event: e}\nsteps:\n  - send: a\n")
    assert message.startswith("1:18: error: HubSpot cannot express the event 'e'"), message
    message = refused(tmp_path, "hubspot", "trigger: {event: e}\nexit_on: [e2]\nsteps:\n  - send: a\n",
                      {"events": {"e": "pe1_e"}})
    assert message.startswith("2:11: error: HubSpot cannot express the event 'e2'"), message


def test_hubspot_graph_check_names_each_inconsistency():
    ok = {"startActionId": "1", "nextAvailableActionId": "3",
          "actions": [{"actionId": "1", "connection": hs_edge("2")}, {"actionId": "2"}]}
    assert check_graph(ok) == []
    assert check_graph({**ok, "nextAvailableActionId": "2"}) == ["nextAvailableActionId is not above every action id"]
    assert check_graph({**ok, "startActionId": "3"}) == ["start action 3 does not exist",
                                                          "actions nothing leads to: 1"]
    dup = {**ok, "actions": [{"actionId": "1", "connection": hs_edge("1")}, {"actionId": "1"}]}
    assert check_graph(dup) == ["duplicate action ids"]
    for key, edge in (("defaultBranch", hs_edge("9")), ("listBranches", [{"connection": hs_edge("9")}]),
                      ("testBranches", [{"connection": hs_edge("9")}]), ("connection", hs_edge("9"))):
        bad = {**ok, "actions": [{"actionId": "1", "connection": hs_edge("2")}, {"actionId": "2", key: edge}]}
        assert check_graph(bad) == ["action 2 leads to 9, which does not exist"], key
    orphan = {**ok, "nextAvailableActionId": "4", "actions": [*ok["actions"], {"actionId": "3"}, ]}
    assert check_graph(orphan) == ["actions nothing leads to: 3"]
    two = {**ok, "nextAvailableActionId": "5", "actions": [*ok["actions"], {"actionId": "3"}, {"actionId": "4"}]}
    assert check_graph(two) == ["actions nothing leads to: 3, 4"]
    assert check_graph({"startActionId": "1", "actions": [{"actionId": "1"}]}) == [
        "nextAvailableActionId is not above every action id"]
    assert check_graph({"actions": [], "nextAvailableActionId": "1"}) == ["start action None does not exist"]


def test_activecampaign_fields_without_a_mapping_table_and_a_mapped_name_ending_in_x(tmp_path):
    flow = "trigger: {event: e}\nsteps:\n  - branch: {when: \"'gold' == profile.tier\", then: [{send: a}]}\n"
    files, _ = translate(tmp_path, "activecampaign", flow)
    assert json.loads(files[".json"])["steps"][0]["condition"] == "field TIER is not blank AND field TIER is 'gold'"
    files, _ = translate(tmp_path, "activecampaign", flow, {"fields": {"profile.tier": "%TAX%"}})
    assert json.loads(files[".json"])["steps"][0]["condition"] == "field TAX is not blank AND field TAX is 'gold'"


def test_activecampaign_recipe_as_written(tmp_path):
    files, _ = translate(tmp_path, "activecampaign", "name: Rückkehr\ntrigger: {event: e}\nsteps:\n  - send: a\n")
    assert files[".json"].startswith('{\n  "automation": "t: Rückkehr",\n  "source"'), files[".json"]


@pytest.mark.parametrize("head, error", [
    ('audience: "profile.a == profile.b"\n', "2:12: error: ActiveCampaign cannot express a comparison between two"),
    ("trigger: {event: e, where: \"event.sku == 'x'\"}\n",
     "1:29: error: ActiveCampaign cannot express the name event.sku in an automation condition"),
])
def test_activecampaign_refuses_a_trigger_filter_or_audience_where_it_stands(tmp_path, head, error):
    trigger = "" if head.startswith("trigger") else "trigger: {event: e}\n"
    message = refused(tmp_path, "activecampaign", f"{trigger}{head}steps:\n  - send: a\n")
    assert message.startswith(error), message


# ---------------------------------------------------------------- Klaviyo's definition, in memory

KL_FLOW = """name: Winback
trigger: {event: cart_abandoned, where: "event.cart_value >= 50"}
audience: "profile.tier == 'gold' or profile.phone is defined"
exit_on: [placed_order, email_clicked]
reentry: 36h
limits: {max_emails: 2, per: 1d, quiet_hours: "21:00-08:30"}
steps:
  - wait: 2d
  - send: a
  - wait: {duration: 90s, until: "09:30"}
  - branch:
      when: "event.sku != 'x'"
      then: [{send: b}]
  - split:
      x: {percent: 60, steps: [{wait: 3h}]}
      y: {percent: 40, steps: []}
  - send: c
"""
KL_CONFIG = {"events": {"cart_abandoned": "Cart Abandoned", "email_clicked": "Clicked It"},
             "properties": {"event.sku": "SKU", "profile.phone": "phone_number"}}
CART = "mailwright:metric:Cart Abandoned"


def kl_send(aid: int, t: str, nxt: int | None = None) -> dict:
    return {"temporary_id": f"action-{aid}", "type": "send-email", "links": {"next": nxt and f"action-{nxt}"},
            "data": {"status": "draft", "message": {"name": f"Winback: {t}",
                                                    "template_id": f"mailwright:template:{t}--cart_abandoned",
                                                    "subject_line": f"S{t}", "preview_text": f"P{t}",
                                                    "smart_sending_enabled": True}}}


def kl_delay(aid: int, data: dict, nxt: int) -> dict:
    return {"temporary_id": f"action-{aid}", "type": "time-delay", "links": {"next": f"action-{nxt}"}, "data": data}


def kl_sample(aid: int, pct: int, yes: int, no: int) -> dict:
    return {"temporary_id": f"action-{aid}", "type": "conditional-split",
            "links": {"next_if_true": f"action-{yes}", "next_if_false": f"action-{no}"},
            "data": {"profile_filter": {"condition_groups": [{"conditions": [{"type": "profile-sample",
                                                                               "percentage": pct}]}]}}}


def kl_event(field: str, flt: dict) -> dict:
    return {"type": "metric-property", "metric_id": CART, "field": field, "filter": flt}


def kl_profile(prop: str, flt: dict) -> dict:
    return {"type": "profile-property", "property": prop, "filter": flt}


def kl_not_counted(metric: str) -> dict:
    return {"conditions": [{"type": "profile-metric", "metric_id": f"mailwright:metric:{metric}",
                            "measurement": "count",
                            "measurement_filter": {"type": "numeric", "operator": "equals", "value": 0.0},
                            "timeframe_filter": {"type": "date", "operator": "flow-start"}}]}


IS_SET = {"type": "existence", "operator": "is-set"}


def test_klaviyo_definition_in_full(tmp_path):
    files, warnings = translate(tmp_path, "klaviyo", KL_FLOW, KL_CONFIG)
    assert files[".json"].startswith('{\n  "data": {\n    "type": "flow"') and files[".json"].endswith("}\n")
    payload = json.loads(files[".json"])
    definition = payload["data"]["attributes"]["definition"]
    assert klaviyo_schema_errors(definition) == []
    assert payload == {"data": {"type": "flow", "attributes": {"name": "t: Winback", "definition": {
        "triggers": [{"type": "metric", "id": CART, "trigger_filter": {"condition_groups": [
            {"conditions": [kl_event("cart_value", IS_SET)]},
            {"conditions": [kl_event("cart_value", {"type": "numeric", "operator": "greater-than-or-equal",
                                                    "value": 50.0})]}]}}],
        "profile_filter": {"condition_groups": [
            {"conditions": [kl_profile("properties['tier']", IS_SET), kl_profile("phone_number", IS_SET)]},
            {"conditions": [kl_profile("properties['tier']", {"type": "string", "operator": "equals", "value": "gold"}),
                            kl_profile("phone_number", IS_SET)]},
            kl_not_counted("Placed Order"), kl_not_counted("Clicked It")]},
        "actions": [
            kl_delay(1, {"unit": "days", "value": 2}, 2), kl_send(2, "a", 3),
            kl_delay(3, {"unit": "minutes", "value": 2, "delay_until_time": "09:30:00", "timezone": "profile"}, 4),
            {"temporary_id": "action-4", "type": "trigger-split",
             "links": {"next_if_true": "action-5", "next_if_false": "action-10"},
             "data": {"trigger_filter": {"condition_groups": [
                 {"conditions": [kl_event("SKU", IS_SET)]},
                 {"conditions": [kl_event("SKU", {"type": "string", "operator": "not-equals", "value": "x"})]}]},
                 "trigger_id": CART, "trigger_type": "metric"}},
            kl_send(5, "b", 6), kl_sample(6, 60, 7, 9), kl_delay(7, {"unit": "hours", "value": 3}, 8), kl_send(8, "c"),
            kl_send(9, "c"),
            kl_sample(10, 60, 11, 13), kl_delay(11, {"unit": "hours", "value": 3}, 12), kl_send(12, "c"),
            kl_send(13, "c")],
        "entry_action_id": "action-1", "reentry_criteria": {"duration": 36, "unit": "hour"}}}}}
    assert warnings == [
        (6, 9, "Klaviyo: max emails per window is approximated: Klaviyo cannot cap one flow's emails per window: "
               "every email keeps Smart Sending on (skips anyone emailed within the account's Smart Sending period) "
               "instead", "klaviyo.max-emails-per-window"),
        (6, 9, "Klaviyo: quiet hours is approximated: Klaviyo email flows have no quiet hours: sends are not held; "
               "use wait {duration, until} to time the emails", "klaviyo.quiet-hours"),
        (10, 22, "Klaviyo: a wait of 90s is rounded up to whole minutes", None)]


def test_klaviyo_plain_definition(tmp_path):
    files, warnings = translate(tmp_path, "klaviyo", "name: Rückkehr\ntrigger: {event: placed_order}\n"
                                                     "steps:\n  - send: a\n")
    assert '"name": "t: Rückkehr"' in files[".json"]
    d = json.loads(files[".json"])["data"]["attributes"]["definition"]
    assert d["triggers"] == [{"type": "metric", "id": "mailwright:metric:Placed Order"}]
    assert d["profile_filter"] is None and d["entry_action_id"] == "action-1" and warnings == []
    assert d["actions"][0]["links"] == {"next": None}


@pytest.mark.parametrize("when, kind, condition", [
    ("profile.email == 'a'", "string", kl_profile("email", {"type": "string", "operator": "equals", "value": "a"})),
    ("profile.phone != 'a'", "string", kl_profile("phone_number", {"type": "string", "operator": "not-equals",
                                                                    "value": "a"})),
    ("profile.address.city == 'Oslo'", "string", kl_profile("properties['address.city']",
                                                            {"type": "string", "operator": "equals", "value": "Oslo"})),
    ("profile.tier == 'a'", "string", kl_profile("properties['Tier Level']",
                                                 {"type": "string", "operator": "equals", "value": "a"})),
    ("profile.first_name == 'a'", "string", kl_profile("last_name", {"type": "string", "operator": "equals",
                                                                     "value": "a"})),
    ("profile.vip == true", "boolean", kl_profile("properties['vip']", {"type": "boolean", "operator": "equals",
                                                                       "value": True})),
    ("profile.vip != true", "boolean", kl_profile("properties['vip']", {"type": "boolean", "operator": "equals",
                                                                       "value": False})),
    ("not (profile.vip == false)", "boolean", kl_profile("properties['vip']", {"type": "boolean",
                                                                              "operator": "equals", "value": True})),
    ("profile.tier in ['a', 'b']", "string", kl_profile("properties['Tier Level']",
                                                        {"type": "string", "operator": "in", "value": ["a", "b"]})),
    ("not (profile.tier in ['a'])", "string", kl_profile("properties['Tier Level']",
                                                         {"type": "string", "operator": "not-in", "value": ["a"]})),
    ("profile.tier not in ['a']", "string", kl_profile("properties['Tier Level']",
                                                       {"type": "string", "operator": "not-in", "value": ["a"]})),
    ("'a' not in profile.tags", "string", kl_profile("properties['tags']",
                                                     {"type": "string", "operator": "not-contains", "value": "a"})),
    ("event.cart.total == 3", "numeric", kl_event("cart.total", {"type": "numeric", "operator": "equals",
                                                                 "value": 3.0})),
    ("3 == event.n", "numeric", kl_event("n", {"type": "numeric", "operator": "equals", "value": 3.0})),
])
def test_klaviyo_conditions(tmp_path, when, kind, condition):
    config = {"events": {"cart_abandoned": "Cart Abandoned"},
              "properties": {"profile.tier": "Tier Level", "profile.first_name": "last_name"}}
    files, _ = translate(tmp_path, "klaviyo", f'trigger: {{event: cart_abandoned}}\nsteps:\n  - branch:\n'
                                              f'      when: "{when}"\n      then: [{{send: a}}]\n', config)
    d = json.loads(files[".json"])["data"]["attributes"]["definition"]
    split = d["actions"][0]
    flt = split["data"]["trigger_filter" if split["type"] == "trigger-split" else "profile_filter"]
    assert any(condition in g["conditions"] for g in flt["condition_groups"]), flt
    assert kind == condition["filter"]["type"] and klaviyo_schema_errors(d) == []


@pytest.mark.parametrize("when, error", [
    ("profile.n in [1, 2]", "'in' over a list of numbers; write == … or == …"),
    ("profile.tier in 'gold'", "'name in \"text\"'; compare with == instead"),
    ("profile.vip > true", "ordering booleans; compare with == true or == false"),
    ("profile.tier < 'b'", "'<' on text; compare text with == or !="),
    ("not (profile.tier == '')", "a condition that is always true; remove the branch"),
    ("profile.tier == 'a' and event.n == 1", "branch on event and profile; split it into two nested branches: one on "
                                             "event.* names, one on profile.* names"),
])
def test_klaviyo_refuses_what_a_filter_cannot_say(tmp_path, when, error):
    message = refused(tmp_path, "klaviyo", f'trigger: {{event: e}}\nsteps:\n  - branch:\n      when: "{when}"\n'
                                           "      then: [{send: a}]\n", {"events": {"e": "E"}})
    assert message.startswith(f"4:14: error: Klaviyo cannot express {error}"), message


def test_klaviyo_needs_a_metric_for_an_event_without_one(tmp_path):
    message = refused(tmp_path, "klaviyo", "trigger: {event: cart_abandoned}\nsteps:\n  - send: a\n")
    assert message.startswith("1:18: error: Klaviyo cannot express the event 'cart_abandoned'"), message
    message = refused(tmp_path, "klaviyo", "trigger: {event: placed_order}\nexit_on: [e2]\nsteps:\n  - send: a\n")
    assert message.startswith("2:11: error: Klaviyo cannot express the event 'e2'"), message


@pytest.mark.parametrize("head, where", [
    ('audience: "profile.a > profile.b"\n', "2:12"),
    ("trigger: {event: placed_order, where: \"event.a > event.b\"}\n", "1:40"),
])
def test_klaviyo_refuses_a_trigger_filter_or_audience_where_it_stands(tmp_path, head, where):
    trigger = "" if head.startswith("trigger") else "trigger: {event: placed_order}\n"
    message = refused(tmp_path, "klaviyo", f"{trigger}{head}steps:\n  - send: a\n")
    assert message.startswith(f"{where}: error: Klaviyo cannot express a comparison between two names"), message


def test_klaviyo_a_split_of_two_even_arms_warns_nothing_and_an_arm_of_nothing_goes_on(tmp_path):
    steps = "  - split:\n      x: {percent: 50, steps: []}\n      y: {percent: 50, steps: [{send: b}]}\n  - send: a\n"
    files, warnings = translate(tmp_path, "klaviyo", f"name: Winback\ntrigger: {{event: e}}\nsteps:\n{steps}",
                                {"events": {"e": "E"}})
    actions = json.loads(files[".json"])["data"]["attributes"]["definition"]["actions"]
    assert warnings == [] and actions[0] == kl_sample(1, 50, 2, 3)
    assert [a["data"]["message"]["name"] for a in actions[1:]] == ["Winback: a", "Winback: b", "Winback: a"]


def test_klaviyo_a_profile_branch_in_full_and_a_nested_name_under_a_standard_one(tmp_path):
    when = "profile.email.domain == 'x'"  # not the standard email: a custom property of that path
    files, _ = translate(tmp_path, "klaviyo", f'name: Winback\ntrigger: {{event: e}}\nreentry: 3601h\nsteps:\n'
                                              f'  - branch:\n      when: "{when}"\n      then: [{{send: a}}]\n'
                                              "      else: [{send: b}]\n", {"events": {"e": "E"}})
    d = json.loads(files[".json"])["data"]["attributes"]["definition"]
    prop = "properties['email.domain']"
    assert d["actions"][0] == {"temporary_id": "action-1", "type": "conditional-split",
                               "links": {"next_if_true": "action-2", "next_if_false": "action-3"},
                               "data": {"profile_filter": {"condition_groups": [
                                   {"conditions": [kl_profile(prop, IS_SET)]},
                                   {"conditions": [kl_profile(prop, {"type": "string", "operator": "equals",
                                                                     "value": "x"})]}]}}}
    assert d["reentry_criteria"] == {"duration": 3601, "unit": "hour"}
