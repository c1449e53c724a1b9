"""The fake ESP servers themselves: shapes, paging, validation, auth, faults, recording."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.fakes import ActiveCampaignFake, HubSpotFake, KlaviyoFake
from tests.fakes.hubspot import template_problems
from tests.fakes.specs import extract

KEY = "test-key-123"
KL = {"Authorization": f"Klaviyo-API-Key {KEY}", "revision": "2026-07-15", "Content-Type": "application/vnd.api+json"}
HS = {"Authorization": f"Bearer {KEY}"}
AC = {"Api-Token": KEY}
GOOD_HUBL = ("<!--\n  templateType: email\n  isAvailableForNewContent: true\n-->\n<html><body>"
             "{% if contact.firstname %}Hi {{ contact.firstname }}{% else %}Hi{% endif %}"
             "<a href=\"{{ unsubscribe_link }}\">Unsubscribe</a></body></html>")


@pytest.fixture
def klaviyo() -> Iterator[KlaviyoFake]:
    with KlaviyoFake(KEY, check_responses=True, retry_after=0) as fake:
        yield fake
    assert fake.response_errors == []


@pytest.fixture
def hubspot() -> Iterator[HubSpotFake]:
    with HubSpotFake(KEY, retry_after=0) as fake:
        yield fake


@pytest.fixture
def ac() -> Iterator[ActiveCampaignFake]:
    with ActiveCampaignFake(KEY, check_responses=True, retry_after=0) as fake:
        yield fake
    assert fake.response_errors == []


def template_body(name: str, html: str = "<p>Hi</p>") -> dict:
    return {"data": {"type": "template", "attributes": {"name": name, "editor_type": "CODE", "html": html,
                                                        "text": "Hi"}}}


def flow_body(metric: str, template: str, name: str = "Cart") -> dict:
    return {"data": {"type": "flow", "attributes": {"name": name, "definition": {
        "triggers": [{"type": "metric", "id": metric}],
        "profile_filter": None,
        "entry_action_id": "wait",
        "actions": [
            {"temporary_id": "wait", "type": "time-delay", "links": {"next": "send"},
             "data": {"unit": "hours", "value": 2}},
            {"temporary_id": "send", "type": "send-email", "links": {"next": None},
             "data": {"status": "draft", "message": {"template_id": template, "subject_line": "Your cart",
                                                     "preview_text": "Still there?", "name": "Cart email"}}},
        ]}}}}


# ---------------------------------------------------------------- Klaviyo
def test_klaviyo_templates_create_list_and_page(klaviyo: KlaviyoFake) -> None:
    ids = []
    for i in range(5):
        r = requests.post(f"{klaviyo.url}/api/templates", headers=KL, json=template_body(f"t{i}"))
        assert r.status_code == 201, r.text
        data = r.json()["data"]
        assert data["type"] == "template" and data["attributes"]["editor_type"] == "CODE"
        ids.append(data["id"])
    seen, pages, url = [], 0, f"{klaviyo.url}/api/templates/"  # the SDKs' trailing slash is accepted
    while url:
        body = requests.get(url, headers=KL).json()
        assert len(body["data"]) <= 2
        seen += [d["id"] for d in body["data"]]
        url, pages = body["links"].get("next"), pages + 1
    assert seen == ids and pages == 3
    r = requests.get(f"{klaviyo.url}/api/templates", headers=KL, params={"filter": 'equals(name,"t3")'})
    assert [d["id"] for d in r.json()["data"]] == [ids[3]]
    r = requests.get(f"{klaviyo.url}/api/templates/{ids[1]}", headers=KL, params={"fields[template]": "name"})
    assert r.json()["data"]["attributes"] == {"name": "t1"}
    patch = {"data": {"type": "template", "id": ids[1], "attributes": {"html": "<p>new</p>"}}}
    assert requests.patch(f"{klaviyo.url}/api/templates/{ids[1]}", headers=KL, json=patch).status_code == 200
    assert klaviyo.templates[ids[1]]["html"] == "<p>new</p>"
    assert len(klaviyo.by_name("templates", "t1")) == 1 and klaviyo.duplicates() == {}


def test_klaviyo_refuses_a_malformed_body(klaviyo: KlaviyoFake) -> None:
    bad = {"data": {"type": "template", "attributes": {"name": 5, "html": "<p>"}}}
    r = requests.post(f"{klaviyo.url}/api/templates", headers=KL, json=bad)
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert errors[0]["code"] == "invalid" and errors[0]["source"]["pointer"].startswith("/data/attributes/")
    assert klaviyo.templates == {}
    r = requests.get(f"{klaviyo.url}/api/templates", headers=KL, params={"page[size]": "30"})
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "page[size]"}
    r = requests.get(f"{klaviyo.url}/api/metrics", headers=KL, params={"filter": 'equals(name,"Placed Order")'})
    assert r.status_code == 400, "the spec allows no name filter on metrics"
    assert requests.get(f"{klaviyo.url}/api/nothing", headers=KL).status_code == 404
    assert requests.delete(f"{klaviyo.url}/api/templates", headers=KL).status_code == 405


def test_klaviyo_checks_key_and_revision(klaviyo: KlaviyoFake) -> None:
    for headers in ({**KL, "Authorization": "Klaviyo-API-Key wrong"}, {"revision": "2026-07-15"},
                    {**KL, "Authorization": f"Bearer {KEY}"}):
        r = requests.get(f"{klaviyo.url}/api/templates", headers=headers)
        assert r.status_code == 401
        assert r.json()["errors"][0]["code"] in ("not_authenticated", "authentication_failed")
    no_revision = {k: v for k, v in KL.items() if k != "revision"}
    assert requests.get(f"{klaviyo.url}/api/templates", headers=no_revision).status_code == 400


def test_klaviyo_flow_lifecycle(klaviyo: KlaviyoFake) -> None:
    metric = klaviyo.add_metric("Started Checkout")
    for n in ("Placed Order", "Viewed Product"):
        klaviyo.add_metric(n)
    names, url = [], f"{klaviyo.url}/api/metrics"
    while url:
        body = requests.get(url, headers=KL).json()
        names += [m["attributes"]["name"] for m in body["data"]]
        url = body["links"].get("next")
    assert names == ["Started Checkout", "Placed Order", "Viewed Product"]
    tid = klaviyo.add_template("Cart email", "<p>cart</p>")
    r = requests.post(f"{klaviyo.url}/api/flows", headers=KL, json=flow_body(metric, tid))
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    fid, definition = data["id"], data["attributes"]["definition"]
    assert data["attributes"]["status"] == "draft" and data["attributes"]["trigger_type"] == "Metric"
    wait, send = definition["actions"]
    assert "temporary_id" not in wait and wait["id"] and definition["entry_action_id"] == wait["id"]
    assert wait["links"]["next"] == send["id"]
    got = requests.get(f"{klaviyo.url}/api/flows/{fid}", headers=KL, params={"additional-fields[flow]": "definition"})
    assert got.json()["data"]["attributes"]["definition"] == definition
    plain = requests.get(f"{klaviyo.url}/api/flows/{fid}", headers=KL).json()
    assert "definition" not in plain["data"]["attributes"]
    found = requests.get(f"{klaviyo.url}/api/flows", headers=KL, params={"filter": 'equals(name,"Cart")'}).json()
    assert [f["id"] for f in found["data"]] == [fid]
    actions = requests.get(f"{klaviyo.url}/api/flows/{fid}/flow-actions", headers=KL).json()
    assert [a["id"] for a in actions["data"]] == [wait["id"], send["id"]]
    new = json.loads(json.dumps(send))
    new.pop("links")
    new["data"]["message"]["subject_line"] = "Come back"
    body = {"data": {"type": "flow-action", "id": send["id"], "attributes": {"definition": new}}}
    r = requests.patch(f"{klaviyo.url}/api/flow-actions/{send['id']}", headers=KL, json=body)
    assert r.status_code == 200, r.text
    after = klaviyo.flow_definition(fid)["actions"][1]
    assert after["data"]["message"]["subject_line"] == "Come back" and after["links"] == {"next": None}
    live = {"data": {"type": "flow", "id": fid, "attributes": {"status": "live"}}}
    assert requests.patch(f"{klaviyo.url}/api/flows/{fid}", headers=KL, json=live).status_code == 200
    assert klaviyo.flows[fid]["status"] == "live"


def test_klaviyo_flow_refusals(klaviyo: KlaviyoFake) -> None:
    metric, tid = klaviyo.add_metric("Started Checkout"), klaviyo.add_template("t", "<p>")
    r = requests.post(f"{klaviyo.url}/api/flows", headers=KL, json=flow_body("NOPE12", tid))
    assert r.status_code == 400 and "Metric" in r.json()["errors"][0]["detail"]
    body = flow_body(metric, tid)
    body["data"]["attributes"]["definition"]["actions"][0]["data"] = {"unit": "fortnights", "value": 2}
    r = requests.post(f"{klaviyo.url}/api/flows", headers=KL, json=body)
    assert r.status_code == 400, "the spec's FlowDefinition is enforced"
    body = flow_body(metric, tid)
    body["data"]["attributes"]["definition"]["actions"][0]["links"]["next"] = "missing"
    assert requests.post(f"{klaviyo.url}/api/flows", headers=KL, json=body).status_code == 400
    assert klaviyo.flows == {}


# ---------------------------------------------------------------- HubSpot
def multipart(text: str, name: str = "t.html") -> dict:
    return {"file": (name, text.encode(), "text/html")}


def test_hubspot_source_code(hubspot: HubSpotFake) -> None:
    base = f"{hubspot.url}/cms/v3/source-code/published"
    path = "mailwright/shop/cart.html"
    assert requests.get(f"{base}/content/{path}", headers=HS).status_code == 404
    assert requests.post(f"{base}/validate/{path}", headers=HS, files=multipart(GOOD_HUBL)).status_code == 200
    assert hubspot.writes()[0].method == "POST"
    r = requests.put(f"{base}/content/{path}", headers=HS, files=multipart(GOOD_HUBL))
    assert r.status_code == 200 and r.json()["id"] == path and r.json()["folder"] is False
    got = requests.get(f"{base}/content/{path}", headers=HS)
    assert got.status_code == 200 and got.text == GOOD_HUBL and got.headers["Content-Type"].startswith("text/html")
    assert hubspot.file(path) == GOOD_HUBL
    for bad in (GOOD_HUBL.replace("templateType: email", "templateType: page"),
                GOOD_HUBL.replace("{{ unsubscribe_link }}", "#"),
                GOOD_HUBL.replace("{% endif %}", ""),
                GOOD_HUBL.replace("{{ contact.firstname }}", "{{ contact.firstname")):
        r = requests.post(f"{base}/validate/{path}", headers=HS, files=multipart(bad))
        assert r.status_code == 400, bad
        assert r.json()["category"] == "VALIDATION_ERROR" and r.json()["errors"]
    assert requests.put(f"{base}/content/{path}", headers=HS, data="no multipart").status_code == 415
    assert requests.get(f"{hubspot.url}/cms/v3/source-code/staging/content/{path}", headers=HS).status_code == 400


def test_hubspot_source_code_metadata_and_delete(hubspot: HubSpotFake) -> None:
    """As sourceCode.json v3 has them: AssetFileMetadata of a file, of a folder (children: the names right
    under it, never a sibling folder that merely starts alike), 204 on delete, then 404."""
    base = f"{hubspot.url}/cms/v3/source-code/published"
    for path in ("mailwright/shop/cart.html", "mailwright/shop/sub/x.html", "mailwright/shopfront/y.html"):
        hubspot.put_file(path, GOOD_HUBL)
    meta = requests.get(f"{base}/metadata/mailwright/shop/cart.html", headers=HS).json()
    assert meta["folder"] is False and meta["id"] == "mailwright/shop/cart.html" and meta["hash"]
    folder = requests.get(f"{base}/metadata/mailwright/shop", headers=HS).json()
    assert folder["folder"] is True and folder["children"] == ["cart.html", "sub"]
    assert {"createdAt", "updatedAt", "id", "name"} <= folder.keys()
    assert requests.get(f"{base}/metadata/mailwright/none", headers=HS).status_code == 404
    assert requests.get(f"{hubspot.url}/cms/v3/source-code/draft/metadata/mailwright/shop", headers=HS).status_code == 404
    assert requests.delete(f"{base}/content/mailwright/shop/cart.html", headers=HS).status_code == 204
    assert hubspot.file("mailwright/shop/cart.html") is None and hubspot.file("mailwright/shopfront/y.html")
    assert requests.delete(f"{base}/content/mailwright/shop/cart.html", headers=HS).status_code == 404
    r = requests.delete(f"{hubspot.url}/cms/v3/source-code/staging/content/mailwright/shop/sub/x.html", headers=HS)
    assert r.status_code == 400 and hubspot.file("mailwright/shop/sub/x.html")


def test_hubspot_template_checks() -> None:
    assert template_problems("a.html", GOOD_HUBL) == []
    assert template_problems("a.css", "body {}") == []
    raw = GOOD_HUBL.replace("</body>", "{% raw %}{% if %}{% endraw %}</body>")
    assert template_problems("a.html", raw) == []
    assert any("outside" in p["message"] for p in template_problems("a.html", GOOD_HUBL + "{% else %}"))


def test_hubspot_emails(hubspot: HubSpotFake) -> None:
    hubspot.put_file("mw/a.html", GOOD_HUBL)
    url = f"{hubspot.url}/marketing/v3/emails"
    ids = []
    for i in range(3):
        r = requests.post(url, headers=HS, json={"name": f"e{i}", "subject": "S", "state": "AUTOMATED_DRAFT",
                                                 "content": {"templatePath": "mw/a.html"}})
        assert r.status_code == 201, r.text
        assert r.json()["type"] == "AUTOMATED_EMAIL" and r.headers["Location"].endswith(r.json()["id"])
        ids.append(r.json()["id"])
    seen, after = [], None
    while True:
        body = requests.get(url, headers=HS, params={"limit": 100, **({"after": after} if after else {})}).json()
        assert body["total"] == 3 and len(body["results"]) <= 2
        seen += [e["id"] for e in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert seen == ids
    r = requests.patch(f"{url}/{ids[0]}", headers=HS, json={"subject": "New", "content": {"plainTextVersion": "t"}})
    assert r.status_code == 200
    email = requests.get(f"{url}/{ids[0]}", headers=HS).json()
    assert email["subject"] == "New" and email["content"] == {"templatePath": "mw/a.html", "plainTextVersion": "t"}
    for bad in ({"subject": "no name"}, {"name": 3}, {"name": "x", "templatePath": "mw/a.html"},
                {"name": "x", "content": {"templatePath": "mw/missing.html"}}):
        r = requests.post(url, headers=HS, json=bad)
        assert r.status_code == 400, bad
        assert r.json()["category"] == "VALIDATION_ERROR"
    assert requests.get(f"{url}/999", headers=HS).status_code == 404
    assert len(hubspot.emails) == 3 and len(hubspot.by_name("emails", "e1")) == 1


def contact_flow(email_id: str, name: str = "Cart") -> dict:
    return {"type": "CONTACT_FLOW", "objectTypeId": "0-1", "flowType": "WORKFLOW", "name": name, "isEnabled": False,
            "canEnrollFromSalesforce": False, "startActionId": "1", "blockedDates": [], "customProperties": {},
            "dataSources": [], "suppressionListIds": [], "timeWindows": [],
            "enrollmentCriteria": {"type": "EVENT_BASED", "shouldReEnroll": False, "listMembershipFilterBranches": [],
                                   "eventFilterBranches": [{"filterBranchType": "UNIFIED_EVENTS",
                                                            "filterBranchOperator": "AND",
                                                            "eventTypeId": "pe1_cart", "operator": "HAS_COMPLETED",
                                                            "filters": [], "filterBranches": []}]},
            "actions": [{"actionId": "1", "type": "SINGLE_CONNECTION", "actionTypeId": "0-1", "actionTypeVersion": 0,
                         "fields": {"delta": "30", "time_unit": "MINUTES"},
                         "connection": {"edgeType": "STANDARD", "nextActionId": "2"}},
                        {"actionId": "2", "type": "SINGLE_CONNECTION", "actionTypeId": "0-4", "actionTypeVersion": 0,
                         "fields": {"content_id": email_id}}]}


def test_hubspot_flows(hubspot: HubSpotFake) -> None:
    hubspot.put_file("mw/a.html", GOOD_HUBL)
    email = requests.post(f"{hubspot.url}/marketing/v3/emails", headers=HS,
                          json={"name": "e", "state": "AUTOMATED_DRAFT"}).json()
    url = f"{hubspot.url}/automation/v4/flows"
    ids = []
    for i in range(3):
        r = requests.post(url, headers=HS, json=contact_flow(email["id"], f"f{i}"))
        assert r.status_code == 201, r.text
        assert r.json()["revisionId"] == "1" and r.json()["nextAvailableActionId"] == "3"
        ids.append(r.json()["id"])
    page1 = requests.get(url, headers=HS).json()
    page2 = requests.get(url, headers=HS, params={"after": page1["paging"]["next"]["after"]}).json()
    assert [f["id"] for f in page1["results"] + page2["results"]] == ids and "paging" not in page2
    assert set(page1["results"][0]) >= {"id", "name", "revisionId", "isEnabled", "flowType", "objectTypeId"}
    flow = requests.get(f"{url}/{ids[0]}", headers=HS).json()
    put = {k: v for k, v in contact_flow(email["id"], "f0 renamed").items()
           if k not in ("flowType", "objectTypeId", "dataSources")}
    r = requests.put(f"{url}/{ids[0]}", headers=HS, json={**put, "revisionId": flow["revisionId"]})
    assert r.status_code == 200, r.text
    assert r.json()["revisionId"] == "2" and r.json()["name"] == "f0 renamed" and r.json()["objectTypeId"] == "0-1"
    stale = requests.put(f"{url}/{ids[0]}", headers=HS, json={**put, "revisionId": "1"})
    assert stale.status_code == 409 and stale.json()["category"] == "CONFLICT"
    assert hubspot.flows[ids[0]]["revisionId"] == "2"
    no_revision = requests.put(f"{url}/{ids[0]}", headers=HS, json=put)
    assert no_revision.status_code == 400
    batch = requests.post(f"{hubspot.url}/marketing/v3/emails", headers=HS, json={"name": "batch"}).json()
    for bad in (contact_flow("123"), contact_flow(batch["id"]), {**contact_flow(email["id"]), "objectTypeId": 1},
                {**contact_flow(email["id"]), "timeWindows": [{"day": "FUNDAY"}]}):
        r = requests.post(url, headers=HS, json=bad)
        assert r.status_code == 400, bad
    assert len(hubspot.flows) == 3


def test_hubspot_checks_the_token(hubspot: HubSpotFake) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {}, {"Authorization": KEY}):
        r = requests.get(f"{hubspot.url}/marketing/v3/emails", headers=headers)
        assert r.status_code == 401 and r.json()["category"] == "INVALID_AUTHENTICATION"
    assert hubspot.emails == {}


# ---------------------------------------------------------------- ActiveCampaign
SENDER = {"fromname": "Shop", "fromemail": "shop@example.com", "email": "shop@example.com",
          "reply2": "help@example.com"}


def test_activecampaign_messages(ac: ActiveCampaignFake) -> None:
    url = f"{ac.url}/api/3/messages"
    ids = []
    for i in range(5):
        r = requests.post(url, headers=AC, json={"message": {**SENDER, "name": f"m{i}", "subject": "S",
                                                             "html": "<p>x</p>", "text": "x"}})
        assert r.status_code == 201, r.text
        ids.append(r.json()["message"]["id"])
    seen, offset = [], 0
    while True:
        body = requests.get(url, headers=AC, params={"limit": 100, "offset": offset}).json()
        assert body["meta"]["total"] == "5" and len(body["messages"]) <= 2
        seen += [m["id"] for m in body["messages"]]
        offset += len(body["messages"])
        if not body["messages"] or offset >= int(body["meta"]["total"]):
            break
    assert seen == ids
    r = requests.put(f"{url}/{ids[0]}", headers=AC, json={"message": {"subject": "New"}})
    assert r.status_code == 200 and r.json()["message"]["subject"] == "New"
    got = requests.get(f"{url}/{ids[0]}", headers=AC).json()["message"]
    assert got["subject"] == "New" and got["fromemail"] == "shop@example.com" and got["name"] == "m0"
    r = requests.get(f"{url}/999", headers=AC)
    assert r.status_code == 404 and r.json() == {"message": "No Result found for Message with id 999"}


def test_activecampaign_refuses_malformed_bodies(ac: ActiveCampaignFake) -> None:
    no_email = {k: v for k, v in SENDER.items() if k != "email"}
    for path, body in (("messages", {"message": no_email}),  # the spec names the sender `email`
                       ("messages", {"message": "x"}),
                       ("fields", {"field": {"title": "T", "type": "text", "visible": 1}}),  # boolean in the spec
                       ("fields", {"field": {"title": "T"}}),
                       ("eventTrackingEvents", {"eventTrackingEvent": {}}),
                       ("tags", {"tag": {"description": "no name"}})):
        r = requests.post(f"{ac.url}/api/3/{path}", headers=AC, json=body)
        assert r.status_code == 422, (path, body, r.text)
        assert r.json()["errors"][0]["title"]
    r = requests.get(f"{ac.url}/api/3/fields", headers=AC, params={"limit": "many"})
    assert r.status_code == 422
    assert requests.get(f"{ac.url}/api/3/nothing", headers=AC).status_code == 404
    assert requests.get(f"{ac.url}/messages", headers=AC).status_code == 404, "the API is under /api/3"
    assert ac.state == {"messages": {}, "fields": {}, "tags": {}, "events": []}


def test_activecampaign_fields_tags_events(ac: ActiveCampaignFake) -> None:
    r = requests.post(f"{ac.url}/api/3/fields", headers=AC,
                      json={"field": {"title": "Session time", "type": "text", "perstag": "SESSION_TIME"}})
    assert r.status_code == 201 and r.json()["field"]["perstag"] == "SESSION_TIME"
    ac.add_field("CART_VALUE")
    body = requests.get(f"{ac.url}/api/3/fields", headers=AC, params={"filters[perstag]": "cart_value"}).json()
    assert [f["perstag"] for f in body["fields"]] == ["CART_VALUE"] and body["meta"]["total"] == "1"
    for t in ("vip", "vip-2", "other"):
        assert requests.post(f"{ac.url}/api/3/tags", headers=AC, json={"tag": {"tag": t, "tagType": "contact"}}
                             ).status_code == 201
    found = requests.get(f"{ac.url}/api/3/tags", headers=AC, params={"search": "vip"}).json()
    assert [t["tag"] for t in found["tags"]] == ["vip", "vip-2"]
    exact = requests.get(f"{ac.url}/api/3/tags", headers=AC, params={"filters[search][eq]": "vip"}).json()
    assert [t["tag"] for t in exact["tags"]] == ["vip"]
    for n in ("cart_abandoned", "cart_abandoned"):
        r = requests.post(f"{ac.url}/api/3/eventTrackingEvents", headers=AC, json={"eventTrackingEvent": {"name": n}})
        assert r.status_code == 201 and r.json() == {"eventTrackingEvent": {"name": n}}
    events = requests.get(f"{ac.url}/api/3/eventTrackingEvents", headers=AC).json()
    assert events["meta"]["total"] == 2 and events["eventTrackingEvents"][0] == {"name": "cart_abandoned"}
    assert ac.duplicates() == {"events": ["cart_abandoned"]}


def test_activecampaign_checks_the_token(ac: ActiveCampaignFake) -> None:
    for headers in ({"Api-Token": "nope"}, {}):
        r = requests.get(f"{ac.url}/api/3/messages", headers=headers)
        assert r.status_code == 403 and "message" in r.json()


# ---------------------------------------------------------------- faults and recording
@pytest.fixture(params=["klaviyo", "hubspot", "activecampaign"])
def any_fake(request: pytest.FixtureRequest) -> Iterator[tuple]:
    """(fake, headers, a read path, a write that creates one object, how many objects there are)."""
    if request.param == "klaviyo":
        fake: KlaviyoFake | HubSpotFake | ActiveCampaignFake = KlaviyoFake(KEY, retry_after=0)
        write = ("POST", "/api/templates", {"json": template_body("x")})
        yield fake.start(), KL, "/api/templates", write, lambda: len(fake.templates)
    elif request.param == "hubspot":
        fake = HubSpotFake(KEY, retry_after=0)
        write = ("POST", "/marketing/v3/emails", {"json": {"name": "x"}})
        yield fake.start(), HS, "/marketing/v3/emails", write, lambda: len(fake.emails)
    else:
        fake = ActiveCampaignFake(KEY, retry_after=0)
        write = ("POST", "/api/3/tags", {"json": {"tag": {"tag": "x"}}})
        yield fake.start(), AC, "/api/3/tags", write, lambda: len(fake.tags)
    fake.stop()


def test_429_has_retry_after_and_applies_times(any_fake: tuple) -> None:
    fake, headers, read, _, _ = any_fake
    fake.inject("429", method="GET", path_prefix=read, times=2)
    codes = [requests.get(fake.url + read, headers=headers) for _ in range(3)]
    assert [r.status_code for r in codes] == [429, 429, 200]
    assert codes[0].headers["Retry-After"] == "0" and codes[0].json()
    fake.inject("429", seconds=3)
    assert requests.get(fake.url + read, headers=headers).headers["Retry-After"] == "3"


def test_500_fault(any_fake: tuple) -> None:
    fake, headers, read, (method, path, kw), count = any_fake
    fake.inject("500", method="POST")
    assert requests.get(fake.url + read, headers=headers).status_code == 200, "only POSTs match"
    assert requests.request(method, fake.url + path, headers=headers, **kw).status_code == 500
    assert count() == 0
    assert requests.request(method, fake.url + path, headers=headers, **kw).status_code in (200, 201)


def test_slow_fault(any_fake: tuple) -> None:
    fake, headers, read, _, _ = any_fake
    fake.inject("slow", path_prefix=read, seconds=0.3)
    with pytest.raises(requests.Timeout):
        requests.get(fake.url + read, headers=headers, timeout=0.1)
    start = time.monotonic()
    assert requests.get(fake.url + read, headers=headers, timeout=2).status_code == 200
    assert time.monotonic() - start < 0.25, "the fault was used up"


def test_reset_after_write_applies_the_write(any_fake: tuple) -> None:
    fake, headers, read, (method, path, kw), count = any_fake
    fake.inject("reset-after-write")
    assert requests.get(fake.url + read, headers=headers).status_code == 200, "reads do not match"
    with pytest.raises(requests.ConnectionError):
        requests.request(method, fake.url + path, headers=headers, **kw)
    assert count() == 1, "the write was applied before the connection dropped"
    assert fake.writes()[-1].status is None
    assert requests.request(method, fake.url + path, headers=headers, **kw).status_code in (200, 201)
    assert count() == 2


def test_requests_and_writes_are_recorded(any_fake: tuple) -> None:
    fake, headers, read, (method, path, kw), _ = any_fake
    requests.get(fake.url + read, headers=headers, params={"limit": "1"})
    assert fake.writes() == []
    rec = fake.requests[0]
    assert rec.method == "GET" and rec.path == read and rec.query.get("limit") == ["1"] and rec.status == 200
    requests.request(method, fake.url + path, headers=headers, **kw)
    (w,) = fake.writes()
    assert w.method == method and w.path == path and w.json == kw["json"]
    assert w.header(next(iter(headers))) == headers[next(iter(headers))]


def test_concurrent_writes_and_duplicates(klaviyo: KlaviyoFake) -> None:
    def post(i: int) -> int:
        return requests.post(f"{klaviyo.url}/api/templates", headers=KL, json=template_body(f"t{i % 4}")).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(post, range(16))) == {201}
    assert len(klaviyo.templates) == 16 and len(klaviyo.writes()) == 16
    assert klaviyo.duplicates() == {"templates": ["t0", "t1", "t2", "t3"]}
    assert len(klaviyo.by_name("templates", "t2")) == 4


def test_inject_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError):
        KlaviyoFake(KEY).inject("timeout")


# ---------------------------------------------------------------- vendored specs
def test_vendored_specs_hold_only_the_served_operations() -> None:
    for vendor, ops in extract.OPERATIONS.items():
        spec = json.loads((Path(extract.__file__).parent / f"{vendor}.json").read_text())
        have = {(p, m) for p, item in spec["paths"].items() for m in item if m in ("get", "post", "put", "patch", "delete")}
        assert have == set(ops)
        dangling = {r for r in extract.refs(spec) if r.split("/", 3)[3] not in spec["components"][r.split("/")[2]]}
        assert dangling == set()


def test_extract_keeps_the_closure_and_drops_examples() -> None:
    spec = {"openapi": "3.0.2", "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"get": {"responses": {"200": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/A"}, "example": {"big": 1}}}}}}},
                      "/b": {"get": {"responses": {"200": {"$ref": "#/components/responses/R"}}}}},
            "components": {"schemas": {"A": {"properties": {"b": {"$ref": "#/components/schemas/B"},
                                                            "example": {"type": "string"}}},
                                       "B": {"type": "string", "example": "x"}, "Unused": {"type": "string"}},
                           "responses": {"R": {"description": "r"}}}}
    out = extract.extract(spec, [("/a", "get")])
    assert list(out["paths"]) == ["/a"]
    assert set(out["components"]["schemas"]) == {"A", "B"} and "responses" not in out["components"]
    assert "example" not in out["paths"]["/a"]["get"]["responses"]["200"]["content"]["application/json"]
    assert out["components"]["schemas"]["A"]["properties"]["example"] == {"type": "string"}
    assert out["components"]["schemas"]["B"] == {"type": "string"}
