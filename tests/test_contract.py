"""The tracking plan (signals.md §1): what the project reads of each event, as JSON Schema."""

import json
from pathlib import Path

import pytest
from conftest import make_project
from jsonschema import Draft202012Validator

from mailwright import ir
from mailwright.compile import compile_project, parse_template, triggers_by_template
from mailwright.dialect import load_connectors
from mailwright.expr import uses
from mailwright.flows import load_flows
from mailwright.output import write_outputs
from mailwright.project import load_project
from mailwright.signals.config import load_signals
from mailwright.signals.contract import RULE, load_plan

ROOT = Path(__file__).resolve().parents[1]


def _project(path):
    return load_project(path, list(load_connectors()))


def _event_reads(t: ir.Template) -> set[str]:
    """Every top-level event.* name a template reads, by a walk of its own (not the plan's)."""
    found = set()
    for n in ir.walk(ir.template_nodes(t)):
        names = []
        if isinstance(n, ir.Output):
            names = [n.expr.var]
        elif isinstance(n, ir.If):
            names = [v for b in n.branches if b.cond is not None for v in uses(b.cond)]
        elif isinstance(n, ir.For):
            names = [n.iterable]
        found |= {v.path[0] for v in names if v.root == "event" and not v.loop}
    return found


def test_the_example_plan_lists_every_event_property_its_templates_read():
    proj = _project(ROOT / "examples/shop")
    plan = load_plan(proj)
    flows, _ = load_flows(proj.root, set(proj.templates), dict(proj.segments))
    checked = 0
    for name, triggers in triggers_by_template(flows).items():
        reads = _event_reads(parse_template(proj, name))
        for trigger in triggers:
            props = plan.schema(trigger)["properties"]
            assert reads <= set(props), (name, trigger, reads - set(props))
            checked += len(reads)
    assert checked > 20
    signals = load_signals(proj)
    read_events = {f.event for f in flows} | {e for f in flows for e, _ in f.exit_on} | signals.events_read() \
        | set(signals.triggers)
    assert read_events <= set(plan.events)
    for schema in plan.schemas().values():
        Draft202012Validator.check_schema(schema)


TOML = """
[segments]
big = "event.total >= 100"

[signals]
views = "count(product_viewed, 24h, same=sku)"

[scoring]
[scoring.points]
product_viewed = 10
"page_visit where event.seconds > 60" = 5

[triggers]
browse_left = { after = "product_viewed", idle = "30m" }

[esp.klaviyo.events]
placed_order = "Placed Order"
refund_issued = "Refund Issued"
browse_left = "Browse Left"
"""
ORDER = """<mjml><mj-head><mw-subject>Order {{ event.order_id }}</mw-subject></mj-head><mj-body>
<mj-section><mj-column><mj-text>Hi {{ event.name | default("friend") }}
{% if event.coupon is defined %}{{ event.coupon | upper }}{% endif %}
{% if event.promo is not defined %}none{% else %}{{ event.promo }}{% endif %}
{% if event.tier == "gold" %}gold{% endif %}
{% if event.views > 2 %}again{% endif %}
{% if event.intent_tier == "high" %}keen{% endif %}
{% if trigger == "refund_issued" %}{{ event.refund_reason }}{% endif %}
</mj-text></mj-column></mj-section>
<mw-if when="segment.big"><mj-section><mj-column><mj-text>{{ event.total | money }}</mj-text></mj-column></mj-section></mw-if>
<mw-for each="item in event.items"><mj-section><mj-column><mj-text>{{ item.title }} {{ item.price | money }}</mj-text></mj-column></mj-section></mw-for>
<mw-if when="event.recs is defined"><mw-for each="r in event.recs"><mj-section><mj-column><mj-text>{{ r.name }}</mj-text></mj-column></mj-section></mw-for></mw-if>
<x-footer company="Acme"/></mj-body></mjml>
"""
BROWSE = """<mjml><mj-head><mw-subject>Still thinking?</mw-subject></mj-head><mj-body>
<mj-section><mj-column><mj-text>{{ event.sku }} ({{ event.views }} views)
{{ event.product_name }}</mj-text></mj-column></mj-section>
<x-footer company="Acme"/></mj-body></mjml>
"""
FLOWS = {
    "orders": """trigger: {event: placed_order, where: "event.order_id is defined"}
exit_on: [refund_issued]
steps:
  - branch: {when: "event.total > 500", then: [{send: order}]}
""",
    "browse": "trigger: {event: browse_left}\nsteps:\n  - send: browse\n",
}


@pytest.fixture
def small(tmp_path):
    root = make_project(tmp_path / "proj", {"order": ORDER, "browse": BROWSE}, TOML, esps=("klaviyo",))
    (root / "flows").mkdir()
    for name, src in FLOWS.items():
        (root / "flows" / f"{name}.yaml").write_text(src)
    return root


def test_required_optional_and_types_of_a_small_project(small):
    plan = load_plan(_project(small))
    assert set(plan.events) == {"placed_order", "refund_issued", "product_viewed", "page_visit", "browse_left"}
    order = plan.schema("placed_order")
    Draft202012Validator.check_schema(order)
    assert order["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert order["required"] == ["items", "order_id"]  # an output with no fallback, a loop, the flow's where
    assert order["additionalProperties"] is False
    p = order["properties"]
    assert p["order_id"]["type"] == ["boolean", "number", "string"] and p["order_id"]["minLength"] == 1
    assert "null" in p["name"]["type"]  # default(): optional
    assert "null" in p["coupon"]["type"] and "null" in p["promo"]["type"]  # is defined, and its else
    assert p["tier"]["type"] == ["null", "string"]  # compared with a string
    assert p["total"]["type"] == ["null", "number"]  # compared with a number (a segment and a flow branch), money
    assert p["items"]["type"] == "array"
    assert p["items"]["items"]["required"] == ["price", "title"]
    assert p["items"]["items"]["properties"]["price"]["type"] == "number"
    assert p["recs"]["type"] == ["array", "null"] and p["recs"]["items"]["required"] == ["name"]  # a guarded loop
    assert p["views"]["x-mailwright-derived"] is True and p["views"]["type"] == ["null", "number"]
    assert p["intent_tier"]["x-mailwright-derived"] is True and p["intent_tier"]["type"] == ["null", "string"]
    assert "refund_reason" not in p  # only for another trigger: folded away
    places = " ".join(p["total"]["x-mailwright-read"])
    assert "flows/orders.yaml:4:" in places and "templates/order.mjml:" in places
    assert plan.schema("refund_issued")["properties"] == {}  # exit_on: the event is planned
    assert plan.schema("page_visit")["properties"]["seconds"]["type"] == ["null", "number"]
    assert "sku" in plan.schema("product_viewed")["properties"]
    browse = plan.schema("browse_left")
    assert browse["x-mailwright-emitted"] is True and browse["x-mailwright-after"] == "product_viewed"


def test_a_template_reading_what_its_derived_trigger_cannot_carry_is_warned_at_its_line(small):
    plan = load_plan(_project(small))
    (w,) = plan.warnings
    assert w.rule == RULE and w.severity == "warning"
    assert "event.product_name" in w.message and "event.sku" not in w.message and "event.views" not in w.message
    assert w.pos.path.endswith("browse.mjml") and (w.pos.line, w.pos.col) == (3, 1)
    assert 'product_name = "last(product_viewed.product_name)"' in w.message
    assert any("flows/browse.yaml" in p.path or p.path.endswith("browse.yaml") for p, _ in w.notes)


def test_compile_writes_the_plan_and_lists_it_in_the_manifest(small, tmp_path):
    proj = _project(small)
    result = compile_project(proj)
    assert not result.errors, [d.format() for d in result.errors]
    assert [d.rule for d in result.diagnostics if d.rule == RULE] == [RULE]
    manifest = json.loads(write_outputs(result, tmp_path / "out").read_text())
    assert set(manifest["tracking_plan"]) == set(result.plan.events)
    for event, rel in manifest["tracking_plan"].items():
        assert json.loads((tmp_path / "out" / rel).read_text()) == result.plan.schema(event)
    write_outputs(result, tmp_path / "out")  # the plan's files are the build's own: it is replaced again
