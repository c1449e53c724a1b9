"""push against the fake ESP servers: create, re-push with zero writes, dry-run, one change,
faults without duplicates, credential errors, and never a secret in any output."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
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


def push(project, esp, env, *args):
    """One push; whatever it printed must hold no key (nor a key reversed, as the wrong-key test sends)."""
    r = CliRunner().invoke(main, ["push", str(project), "--esp", esp, "--yes", *args],
                           env={**env, "MAILWRIGHT_RETRY_BACKOFF": "0", "MAILWRIGHT_RATE_SCALE": "1000"})
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    no_secret(r.stdout + r.stderr)
    return r


def no_secret(text):
    for secret in SECRETS.values():
        for part in (secret, secret[::-1], secret[:10], secret[-10:]):
            assert part not in text, text


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


LISTS = {"klaviyo": ["/api/templates", "/api/flows", "/api/metrics"],
         "hubspot": ["/marketing/v3/emails", "/automation/v4/flows"],
         "activecampaign": ["/messages", "/fields", "/eventTrackingEvents", "/tags"]}
PAGED = ("page[cursor]", "after", "offset")  # a later page of a list, not a new read of it


@pytest.mark.parametrize("esp", ESPS)
def test_a_plan_reads_each_list_once(shop, esp):
    """The plan, its orphans and its duplicates share one read of each list (each read spends
    the ESP's rate limit); a Klaviyo template is found in that list, not asked for by name."""
    with account(esp) as (fake, env):
        assert push(shop, esp, env).exit_code == 0
        fake.clear_requests()
        r = push(shop, esp, env, "--dry-run")
        assert r.exit_code == 0, r.output
        firsts = [q.path.removeprefix("/api/3") for q in fake.requests if q.method == "GET"
                  and not any(q.query.get(k, ["0"])[0] not in ("", "0") for k in PAGED)]
        for path in LISTS[esp]:
            assert firsts.count(path) <= 1, (path, firsts)
        assert any(path in firsts for path in LISTS[esp])
        assert not [q for q in fake.requests if "filter" in q.query], "a template asked for by name"


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


def clean_state(shop, esp):
    """The fault-free end state, once per ESP."""
    if esp not in CLEAN:
        with account(esp) as (clean, env):
            assert push(shop, esp, env).exit_code == 0
            CLEAN[esp] = summary(clean.state, esp)
    return CLEAN[esp]


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_faults_are_recovered_in_the_same_run(shop, esp, seed):
    want = clean_state(shop, esp)
    rng = random.Random(seed)
    with account(esp) as (fake, env):
        retried = 0  # faults that are retried stay under the retry budget (5) of any one request
        for _ in range(6):
            kind = rng.choice(["429", "500", "reset-after-write", "apply-then-500"])
            if kind in ("429", "500"):
                retried += 1
                if retried > 4:
                    kind = "apply-then-500"
            method = None if kind in ("429", "500") else rng.choice(["POST", "PUT", "PATCH", None])
            fake.inject(kind, method=method, times=1 if kind in ("429", "500") else rng.randint(1, 2))
        r = push(shop, esp, env)
        assert r.exit_code == 0, r.output  # recovered in this run, not left to a rerun
        assert summary(fake.state, esp) == want and not fake.duplicates()
        fake.clear_requests()
        r = push(shop, esp, env)
        assert r.exit_code == 0 and fake.writes() == [], r.output


CREATES = {"klaviyo": ["/api/templates", "/api/flows"], "hubspot": ["/marketing/v3/emails", "/automation/v4/flows"],
           "activecampaign": ["/api/3/messages"]}


@pytest.mark.parametrize("esp, path", [(e, p) for e, ps in CREATES.items() for p in ps])
@pytest.mark.parametrize("fault", ["apply-then-500", "reset-after-write", "500"])
def test_a_lost_create_is_looked_up_not_repeated(shop, esp, path, fault):
    """The write landed but its answer was lost (or a gateway said 500 after the vendor wrote):
    push finds the object by name and goes on; when it certainly did not land, push sends it again."""
    want = clean_state(shop, esp)
    with account(esp) as (fake, env):
        fake.inject(fault, method="POST", path_prefix=path, times=1)
        r = push(shop, esp, env)
        assert r.exit_code == 0, r.output
        assert not fake.duplicates() and summary(fake.state, esp) == want
        said = "the answer was lost, but it is there" if fault != "500" else "it is not there: sending it again"
        assert said in r.stderr


def test_a_failed_prerequisite_skips_what_needs_it(shop):
    with account("klaviyo") as (fake, env):
        fake.inject("500", method="POST", path_prefix="/api/templates", times=None)
        r = push(shop, "klaviyo", env, "--json")
        assert r.exit_code == 3
        flows = [c for c in json.loads(r.stdout)["changes"] if c["kind"] == "flow"]
        assert flows and all(c["status"] == "skipped" and "which failed" in c["error"] for c in flows), flows
        assert not [w for w in fake.writes() if w.path.startswith("/api/flows")]


def test_klaviyo_template_change_repoints_the_flow_emails(shop):
    with account("klaviyo") as (fake, env):
        assert push(shop, "klaviyo", env).exit_code == 0
        src = shop / "templates" / "session-exit-recap.mjml"
        src.write_text(src.read_text().replace("so we saved the highlights", "so we kept the highlights"))
        fake.clear_requests()
        r = push(shop, "klaviyo", env, "--json")
        assert r.exit_code == 0, r.output
        changed = {(c["kind"], c["action"]) for c in json.loads(r.stdout)["changes"] if c["action"] != "unchanged"}
        assert changed == {("template", "update"), ("flow", "update")}, changed
        assert [w.method for w in fake.writes() if w.path.startswith("/api/flow-actions")]


SEEDS = {"klaviyo": lambda f, name: f.add_template(name, "<p>old</p>"),
         "activecampaign": lambda f, name: f.add_message(name)}


@pytest.mark.parametrize("esp", ["klaviyo", "activecampaign"])
def test_duplicates_are_reported_then_removed_with_dedupe(shop, esp):
    with account(esp) as (fake, env):
        assert push(shop, esp, env).exit_code == 0
        kind = "templates" if esp == "klaviyo" else "messages"
        name = "shop: cart-reminder--cart_abandoned"
        first_id = fake.by_name(kind, name)[0]["id"]
        for n in (name, "other: foreign", "other: foreign"):
            SEEDS[esp](fake, n)
        fake.clear_requests()
        r = push(shop, esp, env, "--dry-run")
        assert r.exit_code == 0 and "duplicate " in r.stdout and name in r.stdout, r.output
        assert "in line" not in r.stderr and "failed; the rest is done" not in r.stderr
        r = push(shop, esp, env)
        assert r.exit_code == 3 and "push --dedupe" in r.stderr and "in line" not in r.stderr, r.output
        assert fake.writes() == []
        r = push(shop, esp, env, "--dedupe")
        assert r.exit_code == 0, r.output
        assert [c["id"] for c in fake.by_name(kind, name)] == [first_id]  # the oldest stays
        assert len(fake.by_name(kind, "other: foreign")) == 2  # nothing outside the prefix is touched
        fake.clear_requests()
        r = push(shop, esp, env)
        assert r.exit_code == 0 and fake.writes() == [] and "in line" in r.stderr


def test_hubspot_two_flows_of_one_name_converge_with_dedupe(shop):
    with account("hubspot") as (fake, env):
        assert push(shop, "hubspot", env).exit_code == 0
        (flow,) = fake.by_name("flows", "shop: Session exit recap")
        copy_ = {k: v for k, v in flow.items() if k not in ("id", "revisionId", "createdAt", "updatedAt")}
        fake.flows["999999999"] = {**copy_, "id": "999999999", "revisionId": "1", "createdAt": "2099-01-01T00:00:00",
                                   "updatedAt": "2099-01-01T00:00:00"}
        r = push(shop, "hubspot", env)
        assert r.exit_code == 3 and "exist more than once" in r.stderr, r.output
        assert push(shop, "hubspot", env, "--dedupe").exit_code == 0
        assert [f["id"] for f in fake.by_name("flows", "shop: Session exit recap")] == [flow["id"]]
        fake.clear_requests()
        assert push(shop, "hubspot", env).exit_code == 0 and fake.writes() == []


def test_a_push_killed_during_a_create_then_rerun_leaves_a_duplicate_that_is_reported_and_removed(shop):
    """kill -9 while a create is on its way; an immediate rerun creates it too; the killed create
    lands late. The next push reports the duplicate, and push --dedupe removes it."""
    with account("klaviyo") as (fake, env):
        fake.inject("hold", method="POST", path_prefix="/api/templates", times=1)
        full = {**os.environ, **env, "MAILWRIGHT_RETRY_BACKOFF": "0", "MAILWRIGHT_RATE_SCALE": "1000"}
        log = shop.parent / "killed.log"
        with log.open("w") as err:
            killed = subprocess.Popen([sys.executable, "-c", "from mailwright.cli import run; run()", "push",
                                       str(shop), "--esp", "klaviyo", "--yes"], env=full, stdout=err, stderr=err)
        deadline = time.monotonic() + 60
        while not fake.held() and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.held(), f"the first push reached its first create: {log.read_text()}"
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        r = push(shop, "klaviyo", env)  # the rerun: the held create has not landed
        assert r.exit_code == 0, r.output
        fake.release()  # ... now it does
        deadline = time.monotonic() + 10
        while not fake.duplicates() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(fake.duplicates()) == ["templates"]
        r = push(shop, "klaviyo", env)
        assert r.exit_code == 3 and "exist more than once" in r.stderr and "in line" not in r.stderr, r.output
        r = push(shop, "klaviyo", env, "--dedupe")
        assert r.exit_code == 0, r.output
        assert not fake.duplicates()
        fake.clear_requests()
        assert push(shop, "klaviyo", env).exit_code == 0 and fake.writes() == []


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


def test_dry_run_says_what_cannot_be_pushed_without_claiming_failures(shop):
    with account("klaviyo", metrics=[m for m in METRICS if m != "Session Ended"]) as (fake, env):
        r = push(shop, "klaviyo", env, "--dry-run")
        assert r.exit_code == 0 and fake.writes() == []
        assert "failed; the rest is done" not in r.stderr and "Run push again" not in r.stderr, r.stderr
        assert "dry run: nothing was sent" in r.stderr and "cannot be pushed as things stand" in r.stderr
        assert "metric missing" in r.stderr


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
        assert doc["manual_steps"][0]["recipe"].startswith("#")
        r = push(shop, "activecampaign", env)
        assert "build/activecampaign/flows" not in r.stderr  # push writes no such file: it prints the recipe
        assert "build the automation 'shop: Cart abandonment' as follows" in r.stderr
        assert doc["manual_steps"][0]["recipe"].splitlines()[0] in r.stderr


@pytest.mark.parametrize("esp", ESPS)
def test_no_secret_in_any_output_even_when_the_server_echoes_it(shop, esp):
    with account(esp) as (fake, env):
        key = SECRETS[esp]
        fake.inject("500", times=None)  # every answer: an error ...
        fake.fault_reply = lambda kind, seconds: type(fake.error(500, ""))(500, {"echo": "x" * 395 + key})
        r = push(shop, esp, env)
        assert r.exit_code == 3 and fake.requests


@pytest.mark.parametrize("esp, var", [("klaviyo", "KLAVIYO_API_KEY"), ("hubspot", "HUBSPOT_ACCESS_TOKEN"),
                                      ("activecampaign", "ACTIVECAMPAIGN_API_TOKEN")])
def test_a_credential_with_a_line_break_stops_before_any_request(shop, esp, var):
    with account(esp) as (fake, env):
        r = push(shop, esp, {**env, var: SECRETS[esp][:12] + "\r\nX: " + SECRETS[esp][12:]})
        assert r.exit_code == 1 and f"{var}: error:" in r.stderr and "control character" in r.stderr, r.output
        assert fake.requests == []


@pytest.mark.parametrize("esp, var", [("klaviyo", "KLAVIYO_BASE_URL"), ("hubspot", "HUBSPOT_BASE_URL"),
                                      ("activecampaign", "ACTIVECAMPAIGN_API_URL")])
@pytest.mark.parametrize("bad", ["127.0.0.1:8080", "http://127.0.0.1:99999"])
def test_a_bad_base_url_stops_before_any_request(shop, esp, var, bad):
    with account(esp) as (fake, env):
        r = push(shop, esp, {**env, var: bad})
        assert r.exit_code == 1 and f"{var}: error: the environment variable {var}" in r.stderr, r.output
        assert fake.requests == []


def test_a_redirect_is_reported_not_followed(shop):
    with account("activecampaign") as (fake, env), account("activecampaign") as (elsewhere, _):
        fake.inject("500", times=None)
        fake.fault_reply = lambda kind, seconds: type(fake.error(500, ""))(
            302, None, headers={"Location": f"{elsewhere.url}/api/3/messages"})
        r = push(shop, "activecampaign", env)
        assert r.exit_code == 3 and "redirect" in r.stderr and "ACTIVECAMPAIGN_API_URL" in r.stderr, r.output
        assert elsewhere.requests == [] and "in line" not in r.stderr
        assert [q.method for q in fake.requests] == ["GET"]


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
