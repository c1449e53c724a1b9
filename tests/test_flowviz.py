"""Flow diagrams: each ESP's translation drawn as Mermaid (written by compile, listed in the manifest)
and as HTML boxes and arrows (the preview's flows page)."""

import json

import pytest

from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.flowviz import Graph, to_html, to_mermaid
from mailwright.output import write_outputs
from mailwright.project import load_project
from tests.conftest import ROOT

SHOP = ROOT / "examples" / "shop"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    result = compile_project(load_project(SHOP, list(load_connectors())))
    assert not result.errors
    out = tmp_path_factory.mktemp("build") / "build"
    write_outputs(result, out)
    return out


def mmd(build, esp, flow="cart-abandonment"):
    return (build / esp / "flows" / f"{flow}.mmd").read_text().splitlines()


def test_compile_writes_a_diagram_beside_each_flow_definition_and_lists_it(build):
    manifest = json.loads((build / "manifest.json").read_text())
    flows = [o for o in manifest["outputs"] if o["kind"] == "flow"]
    assert len(flows) == 18  # 6 flows × 3 ESPs
    for o in flows:
        assert o["diagram"] == f"{o['esp']}/flows/{o['name']}.mmd"
        assert (build / o["diagram"]).read_text().startswith("flowchart TD\n")


def test_klaviyo_diagram_is_klaviyos_definition(build):
    lines = mmd(build, "klaviyo")
    assert "  %% profile_filter: email is-set and Placed Order counted equals 0 times since the flow started" in lines
    assert '  n0(["metric trigger: Cart Abandoned<br/>trigger_filter: cart_value is-set and cart_value greater-than 0"])' \
        in lines
    assert '  n1["time-delay 30 minutes"]' in lines
    assert '  n2[["send-email cart-reminder--cart_abandoned"]]' in lines
    assert ('  n4{"trigger-split on the event:<br/>session_time is-set and session_time greater-than 300 and '
            'cart_value is-set and cart_value greater-than-or-equal 100"}') in lines
    assert '  n6["time-delay 1 days<br/>then until 10:00 (profile time)"]' in lines
    assert '  n7{{"conditional-split: a random 50% sample"}}' in lines
    for edge in ('  n4 -->|"true"| n5', '  n4 -->|"false"| n10', '  n7 -->|"in the sample"| n8'):
        assert edge in lines


def test_hubspot_diagram_is_hubspots_workflow(build):
    lines = mmd(build, "hubspot")
    assert "  %% time windows: actions run 08:00–21:00, 7 days" in lines
    assert '  n1{"list branch<br/>In the audience: email IS_KNOWN"}' in lines
    assert '  n1 -->|"Not in the audience"| n16' in lines and '  n16(("end"))' in lines
    assert '  n7["delay 1 days"]' in lines  # HubSpot's delay has no time of day (an approximation)
    assert '  n8{{"A/B test branch 50% / 50%"}}' in lines


def test_activecampaign_diagram_rejoins_after_if_else_as_its_builder_does(build):
    lines = mmd(build, "activecampaign")
    assert '  n11["Wait for 1 day"]' in lines
    assert "  n8 --> n11" in lines and "  n10 --> n11" in lines  # both paths of the If/Else go on
    assert '  n1 -->|"No"| n18' in lines and '  n18(("End this automation"))' in lines
    assert '  n13 -->|"path a 50%"| n14' in lines


def test_mermaid_labels_are_escaped():
    g = Graph("t")
    a = g.add("branch", 'x == "a|b" & y < 2\nnext')
    g.add("send", "s", a, 'yes "really"')
    text = to_mermaid(g)
    assert '  n0{"x == #quot;a#124;b#quot; #amp; y #lt; 2<br/>next"}' in text
    assert '  n0 -->|"yes #quot;really#quot;"| n1' in text


def test_html_draws_boxes_arms_and_a_reference_where_paths_join():
    g = Graph("t")
    start = g.add("trigger", "start")
    b = g.add("branch", "<b>when</b>", start)
    yes = g.add("send", "one", b, "Yes")
    no = g.add("send", "two", b, "No")
    after = g.add("wait", "later", yes)
    g.edges.append(type(g.edges[0])(no, after, ""))
    out = to_html(g)
    assert "<div class='fv-node fv-branch' data-kind='branch'>&lt;b&gt;when&lt;/b&gt;</div>" in out
    assert out.count("class='fv-arm'") == 2 and "↓ <span class='fv-edge'>Yes</span>" in out
    assert out.count(">later</div>") == 1 and "<div class='fv-node fv-ref'>→ later</div>" in out


def test_a_list_trigger_is_refused_as_docs_flows_md_says(tmp_path):
    from mailwright.errors import MailwrightError
    from mailwright.flows import load_flow

    f = tmp_path / "welcome.yaml"
    f.write_text("name: Welcome\ntrigger:\n  list: newsletter\nsteps:\n  - send: a\n")
    with pytest.raises(MailwrightError) as e:
        load_flow(f, {"a"}, {})
    assert e.value.diagnostics[0].format() == \
        f"{f}:3:3: error: trigger needs event: NAME (a portable event such as cart_abandoned)"
    doc = (ROOT / "docs" / "flows.md").read_text()
    assert "trigger\nneeds event: NAME (a portable event such as cart_abandoned)" in doc


def test_the_docs_show_the_cart_abandonment_diagram_compile_writes(build):
    doc = (ROOT / "docs" / "flows.md").read_text()
    assert "```mermaid\n" + (build / "klaviyo" / "flows" / "cart-abandonment.mmd").read_text() + "```" in doc
