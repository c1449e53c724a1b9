"""Klaviyo flow definitions pinned piece by piece: emails, waits, random splits, re-entry.

Each test compiles its own small project: test_flows.py shares one compile of the example shop
between its tests, and mutation testing (which maps a test to the functions called while it runs)
then credits only the first of them, so mutants of the translation went untested (docs/testing.md)."""

import pytest

from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
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
