"""push.py's engine (plan bookkeeping, applying, recovery, summaries) pinned piece by piece.

The end-to-end push tests (test_push.py) run against fake ESP servers and take minutes; these
take milliseconds, so mutation testing can afford them for every mutant (docs/testing.md)."""

from types import SimpleNamespace

import pytest

from mailwright import push
from mailwright.errors import MailwrightError
from mailwright.push import (
    CREATE,
    DRIFTED,
    DUPLICATE,
    MANUAL,
    ORPHAN,
    REMOVE,
    UNCHANGED,
    UNMANAGED,
    UPDATE,
    Change,
    EmptyAccount,
    PushContext,
    Report,
    apply_changes,
    counts,
    diffs,
    duplicates,
    empty_answer,
    new_duplicates,
    no_changes,
    offline_note,
    outcome,
    table,
    transport_options,
)
from mailwright.transport import LostResponse, RemoteError


def ctx(dedupe=False, only=None):
    return PushContext(project=SimpleNamespace(name="shop"), esp="klaviyo", config={}, result=None, env={},
                       dedupe=dedupe, only=only)


def test_a_change_as_json_leaves_out_empty_detail_and_error():
    assert Change("template", "t", CREATE).to_json() == {"kind": "template", "name": "t", "action": "create",
                                                         "status": "planned"}
    c = Change("flow", "f", UPDATE, detail="2 steps", status="failed", error="boom")
    assert c.to_json() == {"kind": "flow", "name": "f", "action": "update", "status": "failed",
                           "detail": "2 steps", "error": "boom"}
    drifted = Change("template", "t", DRIFTED, detail="kept", diff="--- pushed html\n+++ Klaviyo html")
    assert drifted.to_json() == {"kind": "template", "name": "t", "action": "drifted", "status": "planned",
                                 "detail": "kept", "diff": "--- pushed html\n+++ Klaviyo html"}


def test_names_and_what_a_push_wants():
    c = ctx()
    assert c.name("welcome", "(signup)") == "shop: welcome (signup)"
    assert c.wants("templates") and c.wants("flows")
    only = ctx(only="flows")
    assert only.wants("flows") and not only.wants("templates")
    assert PushContext(project=None, esp="x", config={}, result=None, env={}).log("anything") is None


def test_an_empty_account_answers_reads_with_nothing_and_refuses_writes():
    acct = EmptyAccount("Klaviyo")
    assert acct.count == {"read": 0, "write": 0}
    assert acct.request("GET", "/x", shape={"data": [dict]}) == {"data": []}
    assert acct.request("get", "/x", ok=(404,), shape={"data": [dict]}) is None
    assert acct.request("GET", "/x", ok=(409,), shape=[dict]) == []
    with pytest.raises(RuntimeError) as e:
        acct.request("POST", "/templates")
    assert str(e.value) == "Klaviyo: POST /templates without a credential (only a dry run plans offline)"


def test_the_emptiest_answer_of_each_shape():
    assert empty_answer({"a": str, "b?": int, "c": {"d": [dict]}, "e": (int, str), "f": object}) == \
        {"a": "", "c": {"d": []}, "e": 0, "f": {}}
    assert empty_answer((object, str)) == {}
    assert empty_answer(list) == []


def test_the_offline_note_names_the_variable():
    client = SimpleNamespace(credential_var="KLAVIYO_API_KEY")
    assert offline_note(client) == "no KLAVIYO_API_KEY: planned against an empty account"


OBJECTS = [("shop: a", 30, 2), ("shop: a", 4, 1), ("shop: a", "10", 1), ("shop: b", 1, 1), ("other: a", 5, 1),
           ("other: a", 6, 1), (None, 7, 1), ("shop: c", "x9", 1), ("shop: c", "x10", 1)]


def test_duplicates_are_reported_keeping_the_oldest_then_the_lowest_id():
    out = duplicates(ctx(), "template", OBJECTS, remove=lambda i: pytest.fail("nothing is removed"))
    assert [(c.kind, c.name, c.action, c.detail) for c in out] == [
        ("template", "shop: a", DUPLICATE, "3 copies: id 4 is kept, id 10, 30 would be removed by push --dedupe"),
        ("template", "shop: c", DUPLICATE, "2 copies: id x10 is kept, id x9 would be removed by push --dedupe")]
    assert all(c.apply is None for c in out)


def test_dedupe_removes_the_extra_copies():
    removed = []
    out = duplicates(ctx(dedupe=True), "template", OBJECTS, remove=removed.append, needs=["shop: m"])
    assert [(c.name, c.action, c.detail, c.needs) for c in out] == [
        ("shop: a", REMOVE, "2 extra copy(ies): id 10, 30 (keeping id 4)", ["shop: m"]),
        ("shop: c", REMOVE, "1 extra copy(ies): id x9 (keeping id x10)", ["shop: m"])]
    out[0].apply()
    assert removed == ["10", "30"]
    assert duplicates(ctx(dedupe=True), "t", OBJECTS[:3], remove=removed.append)[0].needs == []


def test_numeric_ids_sort_by_number_after_the_other_ids():
    objects = [("shop: a", "1", 1), ("shop: a", "a", 1), ("shop: b", "0", 1), ("shop: b", "A", 1)]
    out = duplicates(ctx(dedupe=True), "template", objects, remove=print)
    assert [(c.kind, c.detail) for c in out] == [("template", "1 extra copy(ies): id 1 (keeping id a)"),
                                                 ("template", "1 extra copy(ies): id A (keeping id 0)")]


def test_a_client_without_a_credential_plans_against_an_empty_account_of_its_label():
    class Client(push.PushClient):
        label = "Klaviyo"

        def connect(self):
            raise AssertionError("no connection without a credential")

    c = PushContext(project=None, esp="klaviyo", config={}, result=None, env={}, empty_account=True)
    client = Client(c)
    assert isinstance(client.transport, EmptyAccount) and client.transport.label == "Klaviyo"
    assert client.ctx is c and client.manual_steps() == [] and client.duplicates() == []


def test_a_report_fails_on_a_failed_or_skipped_item_and_on_duplicates():
    ok = Change("t", "a", CREATE, status="done")
    assert Report("klaviyo", [ok], [], False).ok
    for bad in (Change("t", "b", CREATE, status="failed"), Change("t", "b", CREATE, status="skipped"),
                Change("t", "b", DUPLICATE)):
        r = Report("klaviyo", [ok, bad], [], False)
        assert not r.ok
    r = Report("klaviyo", [ok, Change("t", "b", DUPLICATE, status="planned")], [{"step": 1}], True, 3, 1, True)
    assert r.failed == [] and [c.name for c in r.duplicates] == ["b"]
    assert r.to_json() == {"esp": "klaviyo", "dry_run": True, "empty_account": True, "ok": False,
                           "changes": [ok.to_json(), r.changes[1].to_json()], "manual_steps": [{"step": 1}],
                           "requests": {"reads": 3, "writes": 1}}
    assert Report("x", [], [], False).empty_account is False


def lost(in_flight=False):
    return LostResponse("Klaviyo: no answer to POST /templates", in_flight=in_flight)


def run(changes):
    lines = []
    apply_changes(changes, lines.append)
    return lines


def test_apply_goes_in_order_and_a_failure_stops_only_what_needs_it():
    done = []

    def fail_remote():
        raise RemoteError("Klaviyo: POST /metrics answered 400: bad")

    def fail_bug():
        raise KeyError("id")

    changes = [
        Change("metric", "m0", MANUAL, status="failed"),  # failed while planning
        Change("metric", "m1", CREATE, apply=fail_remote),
        Change("template", "t1", CREATE, apply=lambda: done.append("t1"), needs=["m1"]),
        Change("flow", "f1", CREATE, apply=lambda: done.append("f1"), needs=["t1"]),
        Change("flow", "f0", UPDATE, apply=lambda: done.append("f0"), needs=["m0"]),
        Change("template", "t2", UPDATE, apply=fail_bug),
        Change("email", "e2", UPDATE, apply=lambda: done.append("e2"), needs=["t2", "m1", "t0"]),
        Change("template", "t3", UNCHANGED, apply=lambda: done.append("t3")),
        Change("template", "t4", UPDATE, apply=lambda: done.append("t4"), status="done"),
        Change("template", "t5", REMOVE, apply=lambda: done.append("t5"), needs=["t3"]),
    ]
    assert run(changes) == [
        "[1/7] create metric m1: FAILED: Klaviyo: POST /metrics answered 400: bad",
        "[2/7] create template t1: skipped (needs m1, which failed)",
        "[3/7] create flow f1: skipped (needs t1, which failed)",
        "[4/7] update flow f0: skipped (needs m0, which failed)",
        "[5/7] update template t2: FAILED: internal error: KeyError: 'id'",
        "[6/7] update email e2: skipped (needs t2, m1, which failed)",
        "[7/7] remove template t5: done",
    ]
    assert done == ["t5"]
    assert [(c.name, c.status, c.error) for c in changes] == [
        ("m0", "failed", ""), ("m1", "failed", "Klaviyo: POST /metrics answered 400: bad"),
        ("t1", "skipped", "needs m1, which failed"), ("f1", "skipped", "needs t1, which failed"),
        ("f0", "skipped", "needs m0, which failed"), ("t2", "failed", "internal error: KeyError: 'id'"),
        ("e2", "skipped", "needs t2, m1, which failed"),
        ("t3", "planned", ""), ("t4", "done", ""), ("t5", "done", "")]


def test_a_user_error_while_applying_fails_that_item():
    def bad():
        raise MailwrightError(push.Pos("mailwright.toml", 3, 1), "no list")

    c = Change("flow", "f", CREATE, apply=bad)
    assert run([c]) == ["[1/1] create flow f: FAILED: mailwright.toml:3:1: error: no list"]
    assert c.status == "failed"


def test_a_lost_create_that_is_there_is_done_without_sending_it_again():
    sent = []

    def create():
        sent.append(1)
        raise lost()

    c = Change("template", "t", CREATE, apply=create, recover=lambda: {"id": "1"})
    assert run([c]) == ["[1/1] create template t: the answer was lost, but it is there", "[1/1] create template t: done"]
    assert sent == [1] and c.status == "done"


def test_a_lost_create_that_is_not_there_is_sent_once_more():
    sent = []

    def create():
        sent.append(1)
        if len(sent) == 1:
            raise lost()

    c = Change("template", "t", CREATE, apply=create, recover=lambda: None)
    assert run([c]) == ["[1/1] create template t: the answer was lost and it is not there: sending it again",
                        "[1/1] create template t: done"]
    assert sent == [1, 1]


@pytest.mark.parametrize("in_flight, recover, sends", [(True, lambda: None, 1), (False, None, 1),
                                                       (False, lambda: [], 2)])
def test_a_create_that_may_still_land_or_cannot_be_looked_up_is_not_sent_again(in_flight, recover, sends):
    sent = []

    def create():
        sent.append(1)
        raise lost(in_flight)

    c = Change("template", "shop: t", CREATE, apply=create, recover=recover)
    lines = run([c])
    assert len(sent) == sends
    assert c.status == "failed"
    assert c.error == ("no answer to the create of shop: t (Klaviyo: no answer to POST /templates); not sent again "
                       "in this run, so that it cannot exist twice: run push again")
    assert lines[-1] == f"[1/1] create template shop: t: FAILED: {c.error}"


def test_the_plan_table():
    changes = [Change("template", "shop: welcome", CREATE, "new"), Change("flow", "shop: f", UNCHANGED)]
    assert table(changes) == ("ACTION     KIND      NAME           DETAIL\n"
                              "create     template  shop: welcome  new\n"
                              "unchanged  flow      shop: f      \n"
                              "\n"
                              "1 to create, 1 unchanged")


def test_counts_in_a_fixed_order():
    changes = [Change("t", n, a) for n, a in [("1", MANUAL), ("2", DUPLICATE), ("3", UNCHANGED), ("4", REMOVE),
                                              ("5", UPDATE), ("6", CREATE), ("7", CREATE)]]
    assert counts(changes) == ("2 to create, 1 to update, 1 to remove, 1 unchanged, 1 duplicated (push --dedupe "
                               "removes the extra copies), 1 to do by hand")
    assert counts([]) == "nothing to push"
    kept = [Change("t", n, a) for n, a in [("1", ORPHAN), ("2", UNMANAGED), ("3", DRIFTED), ("4", ORPHAN)]]
    assert counts(kept) == ("1 edited in the ESP (kept; push --force overwrites), 1 without a fingerprint (kept; "
                            "push --adopt takes over), 2 orphaned (push --prune removes)")


def test_the_diffs_under_the_plan_short_or_full():
    long = "\n".join(f"line {i}" for i in range(14))
    changes = [Change("template", "shop: a", DRIFTED, diff=long), Change("flow", "shop: f", CREATE),
               Change("flow", "shop: g", UPDATE, diff="-x\n+y")]
    first = "\n".join(f"line {i}" for i in range(12))
    assert diffs(changes) == (f"drifted template shop: a:\n{first}\n… 2 more line(s): mailwright diff shows them\n\n"
                              "update flow shop: g:\n-x\n+y\n")
    assert diffs(changes, full=True) == f"drifted template shop: a:\n{long}\n\nupdate flow shop: g:\n-x\n+y\n"
    assert diffs(changes[1:2]) == ""


def test_the_outcome_line_of_each_kind_of_push():
    done = Change("t", "a", CREATE, status="done")
    assert outcome(Report("k", [done], [], True), "Klaviyo", "no key") == "Klaviyo: 1 to create (no key)"
    assert outcome(Report("k", [done], [], True), "Klaviyo") == "Klaviyo: 1 to create"
    assert outcome(Report("k", [done], [], False), "Klaviyo", declined=True) == "Klaviyo: nothing applied"
    failed = Report("k", [done, Change("t", "b", CREATE, status="failed")], [], False)
    assert outcome(failed, "Klaviyo") == "Klaviyo: 1 item(s) failed; run push again to finish"
    dup = Report("k", [done, Change("t", "b", DUPLICATE)], [], False)
    assert outcome(dup, "Klaviyo") == "Klaviyo: 1 object(s) exist more than once (push --dedupe)"
    assert outcome(Report("k", [done], [], False), "Klaviyo") == "Klaviyo: in line with the project"


def test_the_environment_is_a_copy(monkeypatch):
    monkeypatch.setenv("MAILWRIGHT_PROBE", "1")
    env = push.environment()
    assert env["MAILWRIGHT_PROBE"] == "1"
    env["MAILWRIGHT_PROBE"] = "2"
    assert push.environment()["MAILWRIGHT_PROBE"] == "1"


class Client:
    def __init__(self, found):
        self.found, self.asked = found, 0

    def duplicates(self):
        self.asked += 1
        return self.found


def test_duplicates_are_looked_for_again_only_after_a_create():
    found = [Change("template", "shop: a", DUPLICATE), Change("template", "shop: b", DUPLICATE),
             Change("flow", "shop: a", DUPLICATE)]
    for changes in ([Change("t", "a", UPDATE, status="done")], [Change("t", "a", CREATE, status="skipped")]):
        client = Client(found)
        assert new_duplicates(client, changes) == [] and client.asked == 0
    changes = [Change("template", "shop: x", CREATE, status="failed"), Change("template", "shop: a", DUPLICATE),
               Change("template", "shop: b", REMOVE)]
    assert [(c.kind, c.name) for c in new_duplicates(Client(found), changes)] == [("flow", "shop: a")]


def test_transport_options_from_the_environment():
    assert transport_options({}) == {}
    assert transport_options({"MAILWRIGHT_RETRY_BACKOFF": " ", "MAILWRIGHT_TIMEOUT": ""}) == {}
    assert transport_options({"MAILWRIGHT_RETRY_BACKOFF": "0", "MAILWRIGHT_TIMEOUT": "2.5",
                              "MAILWRIGHT_RATE_SCALE": "10"}) == {"backoff": 0.0, "timeout": 2.5, "rate_scale": 10.0}


@pytest.mark.parametrize("var, value, kind", [
    ("MAILWRIGHT_RETRY_BACKOFF", "-1", "non-negative"), ("MAILWRIGHT_RETRY_BACKOFF", "soon", "non-negative"),
    ("MAILWRIGHT_RETRY_BACKOFF", "nan", "non-negative"), ("MAILWRIGHT_TIMEOUT", "0", "positive"),
    ("MAILWRIGHT_TIMEOUT", "inf", "positive"), ("MAILWRIGHT_RATE_SCALE", "-0.5", "positive"),
    ("MAILWRIGHT_RATE_SCALE", "0", "positive")])
def test_a_bad_transport_option_is_an_error_naming_the_variable(var, value, kind):
    with pytest.raises(MailwrightError) as e:
        transport_options({var: value})
    assert str(e.value) == f"{var}: error: the environment variable {var} must be a {kind} number"
    assert e.value.diagnostic.pos == push.Pos(var, 0, 0)


def test_no_changes_means_nothing_planned_to_apply():
    assert no_changes([Change("t", "a", UNCHANGED), Change("t", "b", CREATE, status="done"),
                       Change("t", "c", DUPLICATE)])
    assert not no_changes([Change("t", "a", REMOVE)])
    assert not no_changes([Change("t", "a", UPDATE)])
