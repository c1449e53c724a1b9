"""push against the fake ESP servers: create, re-push with zero writes, dry-run, one change,
faults without duplicates, credential errors, and never a secret in any output."""

import json
import random
import shutil
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from mailwright.cli import main
from tests.conftest import ROOT
from tests.fakes import ActiveCampaignFake, HubSpotFake, KlaviyoFake

SECRETS = {"klaviyo": "pk_live_7f3a9c2e8b1d4f60a5e7", "hubspot": "pat-na1-5d2c7e9a-41b8-4c3f-9e6d-0a7b",
           "activecampaign": "4f9e2a7c1b3d5e8f0a6c9b2d7e1f3a5c"}
METRICS = ["Cart Abandoned", "Placed Order", "Viewed Product", "Added to Cart", "Downloaded Content",
           "Session Ended"]


@contextmanager
def account(esp, **kw):
    """A fake ESP account for ``esp``, and the environment that points push at it; stopped afterwards."""
    fake, env = start(esp, **kw)
    try:
        yield fake, env
    finally:
        fake.stop()


def start(esp, metrics=METRICS, **kw):
    key = SECRETS[esp]
    if esp == "klaviyo":
        fake = KlaviyoFake(key, retry_after=0, **kw).start()
        for m in metrics:
            fake.add_metric(m)
        return fake, {"KLAVIYO_API_KEY": key, "KLAVIYO_BASE_URL": fake.url}
    if esp == "hubspot":
        fake = HubSpotFake(key, retry_after=0, **kw).start()
        return fake, {"HUBSPOT_ACCESS_TOKEN": key, "HUBSPOT_BASE_URL": fake.url}
    fake = ActiveCampaignFake(key, retry_after=0, **kw).start()
    return fake, {"ACTIVECAMPAIGN_API_TOKEN": key, "ACTIVECAMPAIGN_API_URL": fake.url}


@pytest.fixture
def shop(tmp_path):
    dst = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", dst, ignore=shutil.ignore_patterns("build"))
    return dst


OUTPUTS: list[str] = []  # everything any push printed, for the secret check


def push(project, esp, env, *args):
    r = CliRunner().invoke(main, ["push", str(project), "--esp", esp, "--yes", *args],
                           env={**env, "MAILWRIGHT_RETRY_BACKOFF": "0", "MAILWRIGHT_RATE_SCALE": "1000"})
    OUTPUTS.append(r.stdout + r.stderr)
    assert "Traceback" not in r.output, r.output
    return r


def summary(state, esp):
    """The account's content, without ids: what 'in line' means."""
    if esp == "klaviyo":
        return (sorted((t["name"], t["html"]) for t in state["templates"].values()),
                sorted(f["name"] for f in state["flows"].values()))
    if esp == "hubspot":
        return (sorted((k, f["content"]) for k, f in state["files"].items()),
                sorted((e["name"], e.get("subject")) for e in state["emails"].values()),
                sorted(f["name"] for f in state["flows"].values()))
    return (sorted((m["name"], m.get("subject"), m.get("html")) for m in state["messages"].values()),
            sorted(f["perstag"] for f in (state["fields"].values() if isinstance(state["fields"], dict)
                                          else state["fields"])),
            sorted(e["name"] for e in state["events"]))


ESPS = ["klaviyo", "hubspot", "activecampaign"]
CLEAN: dict = {}


@pytest.mark.parametrize("esp", ESPS)
def test_first_push_creates_then_second_push_writes_nothing(shop, esp):
    with account(esp) as (fake, env):
        r = push(shop, esp, env)
        assert r.exit_code == 0, r.output
        assert fake.writes(), "the first push creates"
        first = summary(fake.state, esp)
        assert all(first), first
        fake.clear_requests()
        r = push(shop, esp, env)
        assert r.exit_code == 0, r.output
        assert fake.writes() == [], [(w.method, w.path) for w in fake.writes()]
        assert "unchanged" in r.stdout and "create" not in r.stdout.split("ACTION")[1].split("\n\n")[0].split()
        assert summary(fake.state, esp) == first and not fake.duplicates()


@pytest.mark.parametrize("esp", ESPS)
def test_dry_run_writes_nothing_and_prints_the_plan(shop, esp):
    with account(esp) as (fake, env):
        r = push(shop, esp, env, "--dry-run")
        assert r.exit_code == 0, r.output
        assert fake.writes() == []
        assert r.stdout.startswith("ACTION") and "\ncreate " in r.stdout and "to create" in r.stdout
        r = push(shop, esp, env, "--dry-run", "--json")
        doc = json.loads(r.stdout)
        assert doc["dry_run"] is True and doc["requests"]["writes"] == 0
        assert {c["action"] for c in doc["changes"]} >= {"create"}


@pytest.mark.parametrize("esp", ESPS)
def test_a_changed_template_updates_exactly_one_object(shop, esp):
    with account(esp) as (fake, env):
        assert push(shop, esp, env).exit_code == 0
        src = shop / "templates" / "browse-abandonment.mjml"
        src.write_text(src.read_text().replace("Caught your eye?", "Still on your mind?"))
        r = push(shop, esp, env, "--only", "templates", "--json")
        assert r.exit_code == 0, r.output
        changed = [c for c in json.loads(r.stdout)["changes"] if c["action"] != "unchanged"]
        assert len(changed) == 1 and "browse-abandonment" in changed[0]["name"], changed
        assert changed[0]["action"] == "update" and changed[0]["status"] == "done"


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_faults_converge_without_duplicates(shop, esp, seed):
    if esp not in CLEAN:  # the fault-free end state, once per ESP
        with account(esp) as (clean, env):
            assert push(shop, esp, env).exit_code == 0
            CLEAN[esp] = summary(clean.state, esp)
    want = CLEAN[esp]
    rng = random.Random(seed)
    with account(esp) as (fake, env):
        for _ in range(6):
            kind = rng.choice(["429", "500", "reset-after-write", "reset-after-write"])
            method = None if kind != "reset-after-write" else rng.choice(["POST", "PUT", "PATCH", None])
            fake.inject(kind, method=method, times=rng.randint(1, 3))
        codes = []
        for _ in range(6):  # rerun until in line, as CI would
            r = push(shop, esp, env)
            codes.append(r.exit_code)
            assert r.exit_code in (0, 3), r.output
            if r.exit_code == 0:
                break
        assert codes[-1] == 0, codes
        assert summary(fake.state, esp) == want
        assert not fake.duplicates()


@pytest.mark.parametrize("esp", ESPS)
def test_wrong_credential_is_a_clear_error(shop, esp):
    with account(esp) as (fake, env):
        bad = {**env, {"klaviyo": "KLAVIYO_API_KEY", "hubspot": "HUBSPOT_ACCESS_TOKEN",
                       "activecampaign": "ACTIVECAMPAIGN_API_TOKEN"}[esp]: "wrong-" + SECRETS[esp][::-1]}
        r = push(shop, esp, bad)
        assert r.exit_code == 3
        assert "refused the credential" in r.stderr
        assert fake.writes() == []


@pytest.mark.parametrize("esp", ESPS)
def test_missing_credential_fails_before_any_request(shop, esp):
    with account(esp) as (fake, env):
        var = {"klaviyo": "KLAVIYO_API_KEY", "hubspot": "HUBSPOT_ACCESS_TOKEN", "activecampaign": "ACTIVECAMPAIGN_API_TOKEN"}
        r = push(shop, esp, {**env, var[esp]: ""})
        assert r.exit_code == 1
        assert f"set the environment variable {var[esp]}" in r.stderr
        assert fake.requests == []


def test_klaviyo_missing_metric_blocks_its_flows_only(shop):
    with account("klaviyo", metrics=[m for m in METRICS if m != "Session Ended"]) as (fake, env):
        r = push(shop, "klaviyo", env, "--json")
        assert r.exit_code == 3
        doc = json.loads(r.stdout)
        failed = {c["name"] for c in doc["changes"] if c["status"] in ("failed", "skipped")}
        assert "Session Ended" in failed and any("Session exit" in n for n in failed)
        assert all(c["status"] == "done" for c in doc["changes"] if c["kind"] == "template")


def test_activecampaign_prints_the_manual_steps(shop):
    with account("activecampaign") as (fake, env):
        r = push(shop, "activecampaign", env, "--json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        flows = {m["flow"] for m in doc["manual_steps"]}
        assert "cart-abandonment" in flows and doc["manual_steps"][0]["steps"]
        r = push(shop, "activecampaign", env)
        assert "follow build/activecampaign/flows/cart-abandonment.md" in r.stderr


def test_no_secret_in_any_output():
    """Runs last in this module: every push above printed something; none of it holds a key."""
    assert OUTPUTS, "the push tests ran"
    for text in OUTPUTS:
        for secret in SECRETS.values():
            assert secret not in text
            assert secret[::-1] not in text


def test_klaviyo_flow_shape_change_creates_a_draft_and_names_the_old_one(shop):
    with account("klaviyo") as (fake, env):
        assert push(shop, "klaviyo", env).exit_code == 0
        old = {f["name"] for f in fake.state["flows"].values() if "Session exit" in f["name"]}
        flow = shop / "flows" / "session-exit.yaml"
        flow.write_text(flow.read_text().replace("  - wait: 15m", "  - wait: 20m"))
        r = push(shop, "klaviyo", env, "--only", "flows", "--json")
        assert r.exit_code == 0, r.output
        changes = json.loads(r.stdout)["changes"]
        created = [c for c in changes if c["action"] == "create"]
        retire = [c for c in changes if c["action"] == "manual"]
        assert len(created) == 1 and "Session exit" in created[0]["name"]
        assert [c["name"] for c in retire] == sorted(old) and "retire" in retire[0]["detail"]
        drafts = [f for f in fake.state["flows"].values() if f["name"] == created[0]["name"]]
        assert drafts and drafts[0]["status"] == "draft"


def test_klaviyo_subject_change_updates_the_flow_email_in_place(shop):
    with account("klaviyo") as (fake, env):
        assert push(shop, "klaviyo", env).exit_code == 0
        t = shop / "templates" / "session-exit-recap.mjml"
        src = t.read_text()
        start_ = src.index("<mw-subject>") + len("<mw-subject>")
        t.write_text(src[:start_] + "New: " + src[start_:])
        fake.clear_requests()
        r = push(shop, "klaviyo", env, "--json")
        assert r.exit_code == 0, r.output
        writes = [(w.method, w.path.split("/")[2]) for w in fake.writes()]
        assert ("PATCH", "flow-actions") in writes and ("POST", "flows") not in writes
        acts = [a for a in fake.state["actions"].values()
                if ((a["definition"].get("data") or {}).get("message") or {}).get("subject_line", "").startswith("New")]
        assert acts


def test_hubspot_flow_update_uses_the_current_revision(shop):
    with account("hubspot") as (fake, env):
        assert push(shop, "hubspot", env).exit_code == 0
        before = {f["name"]: f["revisionId"] for f in fake.state["flows"].values()}
        flow = shop / "flows" / "session-exit.yaml"
        flow.write_text(flow.read_text().replace("  - wait: 15m", "  - wait: 20m"))
        fake.clear_requests()
        r = push(shop, "hubspot", env, "--only", "flows")
        assert r.exit_code == 0, r.output
        puts = [w for w in fake.writes() if w.method == "PUT"]
        assert len(puts) == 1 and puts[0].json["revisionId"] == before["shop: Session exit recap"]
        after = {f["name"]: f["revisionId"] for f in fake.state["flows"].values()}
        assert after["shop: Session exit recap"] != before["shop: Session exit recap"]
        assert {k: v for k, v in after.items() if "Session" not in k} == \
            {k: v for k, v in before.items() if "Session" not in k}


@pytest.mark.parametrize("esp", ESPS)
def test_a_slow_answer_past_the_timeout_never_duplicates(shop, esp):
    with account(esp, slow_seconds=0.6) as (fake, env):
        fake.inject("slow", method="POST", times=2)  # the server applies the create, the client gave up
        codes = []
        for _ in range(4):
            r = push(shop, esp, {**env, "MAILWRIGHT_TIMEOUT": "0.3"})
            codes.append(r.exit_code)
            if r.exit_code == 0:
                break
        assert codes[-1] == 0, codes
        time_out = [q for q in fake.requests if q.method == "POST"]
        assert time_out and not fake.duplicates()


def test_klaviyo_flows_go_live_only_when_asked(shop):
    with account("klaviyo") as (fake, env):
        r = push(shop, "klaviyo", env, "--only", "flows")
        assert r.exit_code == 3 and "push the templates first" in r.stderr  # nothing to point the emails at
        assert push(shop, "klaviyo", env).exit_code == 0
        assert {f["status"] for f in fake.state["flows"].values()} == {"draft"}
        r = push(shop, "klaviyo", env, "--only", "flows", "--live")
        assert r.exit_code == 0, r.output
        assert {f["status"] for f in fake.state["flows"].values()} == {"live"}
