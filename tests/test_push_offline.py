"""push for people who have not connected yet: a dry run without a credential plans against an empty
account; --esp defaults to the project's ESPs (each pushed in turn, one summary); an ESP outside
[project] esps is refused; the CI example reads its matrix from the project."""

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from mailwright.cli import main
from mailwright.push import EmptyAccount, empty_answer
from tests.conftest import ROOT
from tests.test_push import SECRETS, account, no_secret

VARS = {"klaviyo": "KLAVIYO_API_KEY", "hubspot": "HUBSPOT_ACCESS_TOKEN", "activecampaign": "ACTIVECAMPAIGN_API_TOKEN"}
NO_CREDENTIALS = {v: "" for v in VARS.values()} | {"ACTIVECAMPAIGN_API_URL": ""}
ESPS = list(VARS)


@pytest.fixture
def shop(tmp_path):
    dst = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", dst, ignore=shutil.ignore_patterns("build"))
    return dst


def with_esps(project, esps):
    cfg = project / "mailwright.toml"
    text = cfg.read_text()
    old = 'esps = ["klaviyo", "hubspot", "activecampaign"]'
    assert old in text
    cfg.write_text(text.replace(old, "esps = " + json.dumps(esps)))
    return project


def push(project, env, *args):
    r = CliRunner().invoke(main, ["push", str(project), *args],
                           env={**NO_CREDENTIALS, **env, "MAILWRIGHT_RETRY_BACKOFF": "0",
                                "MAILWRIGHT_RATE_SCALE": "1000"})
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    no_secret(r.stdout + r.stderr)
    return r


def plan_of(doc):
    return [(c["action"], c["kind"], c["name"], c.get("detail", "")) for c in doc["changes"]]


# ------------------------------------------------------------------ dry run without a credential

@pytest.mark.parametrize("esp", ESPS)
def test_dry_run_without_credential_is_the_plan_against_an_empty_account(shop, esp):
    r = push(shop, {}, "--esp", esp, "--dry-run")
    assert r.exit_code == 0, r.output
    note = f"no {VARS[esp]}: planned against an empty account"
    assert r.stdout.splitlines()[0] == note and r.stdout.splitlines()[1].startswith("ACTION")
    assert f"dry run: nothing was sent ({note})" in r.stderr
    actions = {c.split()[0] for c in r.stdout.split("ACTION")[1].split("\n\n")[0].splitlines()[1:]}
    assert actions == ({"create", "manual"} if esp == "klaviyo" else {"create"}), actions  # manual: metrics
    if esp == "klaviyo":
        assert "cannot be pushed to an empty account" in r.stderr and "as things stand" not in r.stderr

    # the same plan, item for item, as a dry run against a real (fake) account that is empty
    offline = push(shop, {}, "--esp", esp, "--dry-run", "--json")
    assert offline.exit_code == 0 and note in offline.stderr
    doc = json.loads(offline.stdout)
    assert doc["empty_account"] is True and doc["requests"] == {"reads": 0, "writes": 0}
    with account(esp, **({"metrics": []} if esp == "klaviyo" else {})) as (fake, env):
        online = push(shop, env, "--esp", esp, "--dry-run", "--json")
        assert online.exit_code == 0 and fake.writes() == [] and fake.requests
    assert json.loads(online.stdout)["empty_account"] is False
    assert plan_of(doc) == plan_of(json.loads(online.stdout))


@pytest.mark.parametrize("esp", ESPS)
def test_without_dry_run_a_missing_credential_is_still_an_error(shop, esp):
    r = push(shop, {}, "--esp", esp, "--yes")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"{VARS[esp]}: error: ") and f"set the environment variable {VARS[esp]}" in r.stderr
    assert "planned against an empty account" not in r.output and "ACTION" not in r.stdout


def test_a_credential_that_is_set_but_broken_is_an_error_even_in_a_dry_run(shop):
    r = push(shop, {"KLAVIYO_API_KEY": SECRETS["klaviyo"][:8] + "\n" + SECRETS["klaviyo"][8:]},
             "--esp", "klaviyo", "--dry-run")
    assert r.exit_code == 1 and "KLAVIYO_API_KEY: error: the environment variable KLAVIYO_API_KEY holds a " \
                                 "control character" in r.stderr, r.output
    assert "empty account" not in r.output


def test_a_dry_run_uses_the_accounts_it_can_read_and_an_empty_one_for_the_others(shop):
    with account("hubspot") as (fake, env):
        push(shop, env, "--esp", "hubspot", "--only", "templates", "--yes")  # the account has the templates
        fake.clear_requests()
        r = push(shop, env, "--esp", "klaviyo", "--esp", "hubspot", "--only", "templates", "--dry-run", "--json")
        assert r.exit_code == 0, r.output
        assert fake.writes() == [] and fake.requests
    doc = json.loads(r.stdout)
    klaviyo, hubspot = doc["pushes"]
    assert (klaviyo["esp"], klaviyo["empty_account"], hubspot["esp"], hubspot["empty_account"]) == \
        ("klaviyo", True, "hubspot", False)
    assert {c["action"] for c in klaviyo["changes"]} == {"create"}
    assert {c["action"] for c in hubspot["changes"]} == {"unchanged"}
    assert "no KLAVIYO_API_KEY: planned against an empty account" in r.stderr
    assert "HUBSPOT_ACCESS_TOKEN: planned" not in r.stderr


def test_the_empty_account_refuses_to_write():
    empty = EmptyAccount("Klaviyo")
    with pytest.raises(RuntimeError, match="without a credential"):
        empty.request("POST", "/api/templates", shape={"data": {"id": str}})
    assert empty.request("GET", "/cms/v3/source-code/published/content/x.html", ok=(404,), shape=str) is None
    assert empty_answer({"data": [dict], "links?": {"next?": str}, "meta": {"total": (str, int)}}) == \
        {"data": [], "meta": {"total": ""}}


# ------------------------------------------------------------------ --esp and the project's ESPs

def test_without_esp_every_esp_of_the_project_is_pushed_in_turn_with_one_summary(shop):
    with_esps(shop, ["hubspot", "klaviyo"])
    with account("klaviyo") as (kl, kenv), account("hubspot") as (hs, henv):
        r = push(shop, {**kenv, **henv}, "--yes", "--only", "templates")
        assert r.exit_code == 0, r.output
        assert kl.writes() and hs.writes()
        assert r.stdout.startswith("HubSpot:\n") and "\nKlaviyo:\n" in r.stdout
        assert r.stderr.rstrip().endswith("summary:\n  HubSpot: in line with the project\n"
                                          "  Klaviyo: in line with the project"), r.stderr
        kl.clear_requests(), hs.clear_requests()
        r = push(shop, {**kenv, **henv}, "--yes", "--only", "templates", "--json")
        assert r.exit_code == 0 and kl.writes() == [] and hs.writes() == []
        doc = json.loads(r.stdout)
        assert doc["ok"] is True and [p["esp"] for p in doc["pushes"]] == ["hubspot", "klaviyo"]


def test_every_missing_credential_of_the_project_is_reported_in_one_pass(shop):
    r = push(shop, {}, "--yes")
    assert r.exit_code == 1
    assert [line.split(":")[0] for line in r.stderr.splitlines()] == \
        ["KLAVIYO_API_KEY", "HUBSPOT_ACCESS_TOKEN", "ACTIVECAMPAIGN_API_TOKEN"], r.stderr


def test_an_input_error_found_while_planning_a_later_esp_stops_the_run_before_any_write(shop):
    with_esps(shop, ["klaviyo", "activecampaign"])
    cfg = shop / "mailwright.toml"
    cfg.write_text(cfg.read_text().replace('from_name = "Fernhill Supply Co."\n', ""))
    with account("klaviyo") as (kl, kenv), account("activecampaign") as (ac, aenv):
        r = push(shop, {**kenv, **aenv}, "--yes", "--only", "templates")
        assert r.exit_code == 1, r.output
        assert "error: ActiveCampaign messages need a sender: set from_name in [esp.activecampaign]" in r.stderr
        assert kl.writes() == [] and ac.writes() == [] and "ACTION" not in r.stdout


def test_one_esp_failing_does_not_stop_the_others(shop):
    with_esps(shop, ["klaviyo", "hubspot"])
    with account("klaviyo") as (kl, kenv), account("hubspot") as (hs, henv):
        kl.inject("500", times=None)
        r = push(shop, {**kenv, **henv}, "--yes", "--only", "templates")
        assert r.exit_code == 3, r.output
        assert hs.writes() and kl.writes() == []
        assert "  Klaviyo: not pushed: Klaviyo: GET /api/templates" in r.stderr
        assert "  HubSpot: in line with the project" in r.stderr


@pytest.mark.parametrize("args", [["--esp", "activecampaign"], ["--esp", "klaviyo", "--esp", "activecampaign",
                                                                 "--dry-run"]])
def test_an_esp_outside_the_project_is_refused(shop, args):
    with_esps(shop, ["klaviyo", "hubspot"])
    r = push(shop, {}, *args)
    assert r.exit_code == 2
    assert "Invalid value for --esp: 'activecampaign' is not one of the project's ESPs ([project] esps in " \
           "mailwright.toml: klaviyo, hubspot); add it there to push to it" in r.stderr, r.output
    assert "ACTION" not in r.stdout


def test_an_unknown_esp_is_still_named_as_unknown(shop):
    r = push(shop, {}, "--esp", "mailchimp", "--dry-run")
    assert r.exit_code == 2 and "unknown ESP 'mailchimp' (installed: " in r.stderr


# ------------------------------------------------------------------ the CI example

CI = ROOT / "examples" / "ci" / "mailwright.yml"


def test_the_ci_matrix_is_read_from_the_project(shop):
    flow = yaml.safe_load(CI.read_text())
    jobs = flow["jobs"]
    push_job = jobs["push"]
    esps_job = next(n for n in push_job["needs"] if "outputs" in jobs[n])
    matrix = push_job["strategy"]["matrix"]["esp"]
    assert matrix == f"${{{{ fromJSON(needs.{esps_job}.outputs.esps) }}}}", matrix
    output = jobs[esps_job]["outputs"]["esps"]
    step_id = output.split("steps.")[1].split(".")[0]
    step = next(s for s in jobs[esps_job]["steps"] if s.get("id") == step_id)
    assert "mailwright.toml" in step["run"] and "GITHUB_OUTPUT" in step["run"]

    # the step's command, run against a project whose ESPs differ from the example's
    with_esps(shop, ["activecampaign", "klaviyo"])
    command = step["run"].replace('"$GITHUB_OUTPUT"', "/dev/stdout").replace("python ", f"{sys.executable} ")
    out = subprocess.run(["bash", "-ec", command], cwd=shop, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'esps=["activecampaign", "klaviyo"]'
