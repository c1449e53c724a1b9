"""Drift against the fake ESPs: an object edited in the ESP's editor is reported and kept (exit 3),
``--force`` overwrites it and the next push is clean, ``pull`` saves it, ``diff`` only reads; objects
without a fingerprint wait for ``--adopt``; orphans are listed and ``--prune`` removes exactly them."""

import hashlib
import json
import shutil

import pytest
from click.testing import CliRunner

from mailwright.cli import main
from tests.conftest import ROOT
from tests.test_push import account, no_secret, push

ESPS = ["klaviyo", "hubspot", "activecampaign"]
NAME = "shop: cart-reminder--cart_abandoned"
STEM = "cart-reminder--cart_abandoned"
HS_PATH = f"mailwright/shop/{STEM}.html"
BEFORE, AFTER = "held on to everything you picked out", "kept every single thing you chose"


@pytest.fixture
def shop(tmp_path):
    dst = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", dst, ignore=shutil.ignore_patterns("build"))
    return dst


def run(command, project, esp, env, *args):
    r = CliRunner().invoke(main, [command, str(project), "--esp", esp, *args],
                           env={**env, "MAILWRIGHT_RETRY_BACKOFF": "0", "MAILWRIGHT_RATE_SCALE": "1000"})
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit), r.output
    no_secret(r.stdout + r.stderr)
    return r


def edit(fake, esp, change=lambda h: h.replace(BEFORE, AFTER)):
    """A person edits the cart reminder in the ESP's own editor."""
    if esp == "klaviyo":
        fake.ui_edit_template(NAME, change)
    elif esp == "hubspot":
        fake.ui_edit_file(HS_PATH, change)
    else:
        fake.ui_edit_message(NAME, change)


def stored(fake, esp, name=NAME):
    if esp == "klaviyo":
        return fake.by_name("templates", name)[0]["html"]
    if esp == "hubspot":
        return fake.file(HS_PATH)
    return fake.by_name("messages", name)[0]["html"]


def tree(path):
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("esp", ESPS)
def test_an_edit_in_the_esp_is_kept_pulled_then_forced_and_the_next_push_is_clean(shop, esp):
    with account(esp) as (fake, env):
        assert push(shop, esp, env).exit_code == 0
        edit(fake, esp)
        edited = stored(fake, esp)
        fake.clear_requests()
        r = push(shop, esp, env)
        assert r.exit_code == 3, r.output
        line = next(x for x in r.stdout.splitlines() if x.startswith("drifted"))
        assert STEM in line and "push --force" in line, r.stdout
        assert f"+Good news: we've {AFTER}." in r.stdout.splitlines(), r.stdout
        assert fake.writes() == [] and stored(fake, esp) == edited  # nothing overwritten
        assert "kept, not overwritten" in r.stderr and "in line" not in r.stderr

        templates = tree(shop / "templates")
        fake.clear_requests()
        r = run("pull", shop, esp, env)
        assert r.exit_code == 0, r.output
        assert fake.writes() == [] and tree(shop / "templates") == templates
        out = shop / "drift" / esp
        assert AFTER in (out / f"{STEM}.html").read_text() and BEFORE not in (out / f"{STEM}.html").read_text()
        pushed = (out / f"{STEM}.pushed.html").read_text()
        assert BEFORE in pushed and "mailwright: sha256" not in pushed
        if esp != "hubspot":  # HubSpot keeps no text part beside a coded template
            assert (out / f"{STEM}.txt").exists() and (out / f"{STEM}.pushed.txt").exists()

        r = push(shop, esp, env, "--force", STEM)
        assert r.exit_code == 0, r.output
        assert BEFORE in stored(fake, esp) and AFTER not in stored(fake, esp)
        fake.clear_requests()
        r = push(shop, esp, env)
        assert r.exit_code == 0 and fake.writes() == [] and "in line" in r.stderr, r.output


def test_activecampaign_drops_comments_so_the_fingerprint_is_read_from_its_fallback(shop):
    with account("activecampaign") as (fake, env):
        assert push(shop, "activecampaign", env).exit_code == 0
        assert "<!-- mailwright: sha256=" in stored(fake, "activecampaign")
        edit(fake, "activecampaign")
        html = stored(fake, "activecampaign")
        assert "<!--" not in html and '<meta name="mailwright" content="sha256=' in html
        r = push(shop, "activecampaign", env, "--json")
        assert r.exit_code == 3
        (change,) = [c for c in json.loads(r.stdout)["changes"] if c["name"] == NAME]
        assert change["action"] == "drifted" and AFTER in change["diff"], change


@pytest.mark.parametrize("esp", ["klaviyo", "hubspot"])
def test_markup_only_edits_are_drift_too_and_say_so(shop, esp):
    with account(esp) as (fake, env):
        assert push(shop, esp, env).exit_code == 0
        edit(fake, esp, lambda h: h.replace("<title>", "<title> "))
        r = push(shop, esp, env, "--json")
        assert r.exit_code == 3
        (change,) = [c for c in json.loads(r.stdout)["changes"] if c["action"] == "drifted"]
        assert "markup only" in change["diff"]


@pytest.mark.parametrize("esp", ESPS)
def test_diff_shows_the_full_edit_reads_only_and_exits_3_on_drift(shop, esp):
    with account(esp) as (fake, env):
        r = run("diff", shop, esp, env)
        assert r.exit_code == 0 and "create" in r.stdout and fake.writes() == [], r.output
        assert push(shop, esp, env).exit_code == 0
        r = run("diff", shop, esp, env)
        assert r.exit_code == 0 and "drifted" not in r.stdout, r.output
        r = run("pull", shop, esp, env)
        assert r.exit_code == 0 and "nothing drifted" in r.stdout and not (shop / "drift").exists(), r.output
        edit(fake, esp)
        fake.clear_requests()
        r = run("diff", shop, esp, env, "--json")
        assert r.exit_code == 3 and fake.writes() == [], r.output
        doc = json.loads(r.stdout)
        assert doc["ok"] is False and doc["requests"]["writes"] == 0
        (change,) = [c for c in doc["changes"] if c["action"] == "drifted"]
        assert f"+Good news: we've {AFTER}." in change["diff"].splitlines()


def test_without_a_fingerprint_an_object_waits_for_adopt(shop):
    with account("klaviyo") as (fake, env):
        fake.add_template(NAME, "<p>made by hand</p>")
        r = push(shop, "klaviyo", env)
        assert r.exit_code == 3 and "push --adopt" in r.stdout, r.output
        assert stored(fake, "klaviyo") == "<p>made by hand</p>"
        r = push(shop, "klaviyo", env, "--adopt")
        assert r.exit_code == 0 and BEFORE in stored(fake, "klaviyo"), r.output
        fake.clear_requests()
        assert push(shop, "klaviyo", env).exit_code == 0 and fake.writes() == []


def add_promo(shop):
    src = (shop / "templates" / "cart-reminder.mjml").read_text()
    (shop / "templates" / "promo.mjml").write_text(src)


@pytest.mark.parametrize("esp", ESPS)
def test_a_removed_template_is_an_orphan_and_prune_removes_exactly_it(shop, esp):
    with account(esp) as (fake, env):
        add_promo(shop)
        assert push(shop, esp, env).exit_code == 0
        (shop / "templates" / "promo.mjml").unlink()
        # an object outside the prefix, and one of another project that merely starts alike
        kind = {"klaviyo": "templates", "hubspot": "emails", "activecampaign": "messages"}[esp]
        if esp == "klaviyo":
            fake.add_template("other: promo", "<p>x</p>")
            fake.add_template("shopfront: promo", "<p>x</p>")
        elif esp == "activecampaign":
            fake.add_message("other: promo")
            fake.add_message("shopfront: promo")
        else:
            fake.put_file("mailwright/shopfront/promo.html", "<p>x</p>")
            (promo,) = fake.by_name("emails", "shop: promo")
            for i, name in enumerate(("other: promo", "shopfront: promo")):
                fake.emails[f"99{i}"] = {**promo, "id": f"99{i}", "name": name}
        before = fake.state
        fake.clear_requests()
        r = push(shop, esp, env)
        assert r.exit_code == 0 and fake.writes() == [], r.output
        orphans = [x for x in r.stdout.splitlines() if x.startswith("orphan")]
        assert orphans and all("promo" in o for o in orphans), r.stdout
        assert "push --prune" in r.stdout
        r = push(shop, esp, env, "--prune")
        assert r.exit_code == 0, r.output
        assert fake.by_name(kind, "shop: promo") == []
        if esp == "hubspot":
            assert fake.file("mailwright/shop/promo.html") is None
            assert fake.file("mailwright/shopfront/promo.html") == "<p>x</p>"
        after = fake.state
        gone = {k for k in before[kind] if k not in after[kind]}
        assert [before[kind][k]["name"] for k in gone] == ["shop: promo"]  # exactly it
        fake.clear_requests()
        r = push(shop, esp, env)
        assert r.exit_code == 0 and fake.writes() == [] and "orphan" not in r.stdout, r.output


def test_a_live_klaviyo_flow_the_project_dropped_is_only_switched_off(shop):
    with account("klaviyo") as (fake, env):
        assert push(shop, "klaviyo", env, "--live").exit_code == 0
        (shop / "flows" / "session-exit.yaml").unlink()
        r = push(shop, "klaviyo", env, "--prune", "--json")
        assert r.exit_code == 0, r.output
        removed = [c for c in json.loads(r.stdout)["changes"] if c["action"] == "remove" and c["kind"] == "flow"]
        assert [c["name"].split(" [")[0] for c in removed] == ["shop: Session exit recap"]
        assert "switched off" in removed[0]["detail"]
        (flow,) = [f for f in fake.flows.values() if f["name"].startswith("shop: Session exit recap")]
        assert flow["status"] == "draft"  # still there, off
        assert all(f["status"] == "live" for f in fake.flows.values() if f is not flow)


def test_a_step_changed_in_a_klaviyo_flow_is_drift_and_force_restores_it(shop):
    with account("klaviyo") as (fake, env):
        assert push(shop, "klaviyo", env).exit_code == 0
        (name,) = [f["name"] for f in fake.flows.values() if f["name"].startswith("shop: Cart abandonment")]
        fake.ui_edit_flow_action(name, "time-delay", {"value": 45})
        fake.clear_requests()
        r = push(shop, "klaviyo", env)
        assert r.exit_code == 3 and fake.writes() == [], r.output
        assert any(x.split()[:2] == ["drifted", "flow"] and name in x for x in r.stdout.splitlines()), r.stdout
        assert '-   "value": 30' in r.stdout and '+   "value": 45' in r.stdout, r.stdout
        r = push(shop, "klaviyo", env, "--force", "Browse abandonment")
        assert r.exit_code == 3 and "note: --force Browse abandonment: nothing of that name was edited" in r.stderr
        assert push(shop, "klaviyo", env, "--force", "Cart abandonment").exit_code == 0
        (fid,) = [i for i, f in fake.flows.items() if f["name"] == name]
        delays = [a for a in fake.flow_definition(fid)["actions"] if a["type"] == "time-delay"]
        assert delays[0]["data"]["value"] == 30
        fake.clear_requests()
        assert push(shop, "klaviyo", env).exit_code == 0 and fake.writes() == []


def test_a_subject_fixed_in_a_klaviyo_flow_email_is_drift_and_force_restores_it(shop):
    with account("klaviyo") as (fake, env):
        assert push(shop, "klaviyo", env).exit_code == 0
        (name,) = [f["name"] for f in fake.flows.values() if f["name"].startswith("shop: Session exit recap")]
        (fid,) = [i for i, f in fake.flows.items() if f["name"] == name]
        email = next(a for a in fake.flow_definition(fid)["actions"] if a["type"] == "send-email")
        subject = email["data"]["message"]["subject_line"]
        assert email["data"]["message"]["name"].endswith("]") and " [mw:" in email["data"]["message"]["name"]
        fake.ui_edit_flow_action(name, "send-email", {"message": {"subject_line": "Fixed a typo"}})
        fake.clear_requests()
        r = push(shop, "klaviyo", env)
        assert r.exit_code == 3 and fake.writes() == [], r.output
        assert '+  "subject_line": "Fixed a typo"' in r.stdout, r.stdout
        assert push(shop, "klaviyo", env, "--force", "Session exit recap").exit_code == 0
        email = next(a for a in fake.flow_definition(fid)["actions"] if a["type"] == "send-email")
        assert email["data"]["message"]["subject_line"] == subject
        fake.clear_requests()
        assert push(shop, "klaviyo", env).exit_code == 0 and fake.writes() == []


def test_a_hubspot_workflow_edited_in_hubspot_is_drift_and_switching_it_on_is_not(shop):
    with account("hubspot") as (fake, env):
        assert push(shop, "hubspot", env).exit_code == 0
        fake.ui_edit_flow("shop: Cart abandonment", lambda f: f.update(isEnabled=True))
        fake.clear_requests()
        r = push(shop, "hubspot", env)
        assert r.exit_code == 0 and fake.writes() == [], r.output  # switching it on is the step left to a person

        def longer_wait(flow):
            delay = next(a for a in flow["actions"] if "delta" in (a.get("fields") or {}))
            delay["fields"]["delta"] = "45"
        fake.ui_edit_flow("shop: Cart abandonment", longer_wait)
        r = push(shop, "hubspot", env)
        assert r.exit_code == 3 and '"45"' in r.stdout, r.output
        assert any(x.split()[:2] == ["drifted", "flow"] for x in r.stdout.splitlines()), r.stdout
        assert push(shop, "hubspot", env, "--force", "shop: Cart abandonment").exit_code == 0
        (flow,) = fake.by_name("flows", "shop: Cart abandonment")
        assert flow["isEnabled"] is True  # --force restores the steps, and leaves it on
        fake.clear_requests()
        assert push(shop, "hubspot", env).exit_code == 0 and fake.writes() == []


def test_force_followed_by_the_project_folder_forces_everything_in_that_project(shop):
    """`push --force examples/shop`: click hands the folder to --force; it is the project, and --force means all."""
    with account("activecampaign") as (fake, env):
        assert push(shop, "activecampaign", env).exit_code == 0
        edit(fake, "activecampaign")
        r = CliRunner().invoke(main, ["push", "--esp", "activecampaign", "--force", str(shop)],
                               env={**env, "MAILWRIGHT_RETRY_BACKOFF": "0", "MAILWRIGHT_RATE_SCALE": "1000"})
        assert r.exit_code == 0, r.output
        assert BEFORE in stored(fake, "activecampaign") and "nothing of that name" not in r.stderr
