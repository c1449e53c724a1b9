"""The fingerprint and its comparison (push/drift.py), and pull's files, without a server."""

import hashlib

import pytest

from mailwright.push import PushContext
from mailwright.push.drift import (
    DRIFTED,
    UNMANAGED,
    _lines,
    classify,
    comment,
    fingerprint,
    json_diff,
    meta,
    read_stamp,
    short,
    stamp,
    text_diff,
    written,
)
from mailwright.push.pull import files, write_tree

HTML = "<!doctype html><html><HEAD lang=x><title>Hi</title></head><body><p>One. Two!</p></body></html>"
WANT = {"html": HTML, "text": "One. Two!"}


def test_the_marks_go_right_after_head_and_come_out_exactly():
    d = fingerprint(WANT)
    out = stamp(HTML, d)
    assert out.startswith("<!doctype html><html><HEAD lang=x>" + comment(d) + meta(d) + "<title>")
    assert read_stamp(out) == (d, HTML)
    assert read_stamp(HTML) == (None, HTML)
    assert stamp("<p>x</p>", d) == comment(d) + meta(d) + "<p>x</p>"  # no head: at the start


def test_without_its_comment_the_digest_is_read_from_the_meta():
    d = fingerprint(WANT)
    out = stamp(HTML, d).replace(comment(d), "")
    assert read_stamp(out) == (d, HTML)


def test_the_fingerprint_covers_every_field_and_an_empty_one_equals_none():
    assert fingerprint(WANT) != fingerprint({**WANT, "text": "One."})
    assert fingerprint({"a": None}) == fingerprint({"a": ""})
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})


def have_of(parts):
    return dict(written(parts))


def test_classify_each_case():
    have = have_of(WANT)
    assert classify("K", "t", WANT, None, False, False).action == "create"
    assert classify("K", "t", WANT, have, False, False).action == "unchanged"
    changed = {**WANT, "text": "One. Three!"}
    st = classify("K", "t", changed, have, False, False)
    assert (st.action, st.detail) == ("update", "text changed")
    edited = {**have, "html": have["html"].replace("Two!", "Deux!")}
    st = classify("K", "t", WANT, edited, False, False)
    assert st.action == DRIFTED and st.drift.pushed and st.drift.remote["html"] == HTML.replace("Two!", "Deux!")
    assert "-Two!" in st.diff.splitlines() and "+Deux!" in st.diff.splitlines() and "--- pushed html" in st.diff
    st = classify("K", "t", changed, edited, False, False)
    assert st.action == DRIFTED and not st.drift.pushed and "--- project html" in st.diff
    st = classify("K", "t", WANT, edited, True, False)
    assert st.action == "update" and "--force" in st.detail and st.diff
    bare = {"html": HTML, "text": "x"}
    assert classify("K", "t", WANT, bare, False, False).action == UNMANAGED
    assert classify("K", "t", WANT, bare, False, True).action == "update"
    # an edit of the text part alone is drift too
    assert classify("K", "t", WANT, {**have, "text": "One."}, False, False).action == DRIFTED


class _Project:
    name = "shop"


@pytest.mark.parametrize("force, name, expected", [
    (True, "shop: anything", True), (False, "shop: a", False),
    (frozenset({"a"}), "shop: a", True), (frozenset({"shop: a"}), "shop: a", True),
    (frozenset({"a"}), "shop: ab", False), (frozenset({"Flow"}), "shop: Flow [abc123]", True),
    (frozenset({"mailwright/shop/a.html"}), "mailwright/shop/a.html", True),
    # a Klaviyo flow of several words, named without its " [hash]"; a word of it alone is not its name
    (frozenset({"Cart abandonment"}), "shop: Cart abandonment [abc123]", True),
    (frozenset({"Cart"}), "shop: Cart abandonment [abc123]", False),
    # outside the prefix only the full name counts: "other a" is not "a" (whose tail is as long as "shop: ")
    (frozenset({"a"}), "other a", False), (frozenset({"a"}), "shop:-a", False),
])
def test_force_names(force, name, expected):
    ctx = PushContext(_Project(), "klaviyo", {}, None, {}, force=force)
    assert ctx.forced(name) is expected


def test_pull_writes_both_versions_and_replaces_the_folder_at_once(tmp_path):
    have = {**have_of(WANT), "html": have_of(WANT)["html"].replace("Two!", "Deux!")}
    from mailwright.push import Change

    st = classify("K", "t", WANT, have, False, False)
    c = Change("template", "shop: t", st.action, drift=st.drift, diff=st.diff)
    content = files(c)
    assert set(content) == {"t.html", "t.txt", "t.pushed.html", "t.pushed.txt"}
    assert "Deux!" in content["t.html"] and "mailwright" not in content["t.html"]
    target = tmp_path / "drift" / "klaviyo"
    target.mkdir(parents=True)
    (target / "stale.html").write_text("old")
    write_tree(target, content)
    assert sorted(p.name for p in target.iterdir()) == sorted(content)
    assert [p.name for p in target.parent.iterdir()] == ["klaviyo"]  # no temporary folder left
    flow = Change("flow", "shop: Cart abandonment", DRIFTED, diff="--- project\n+++ X")
    assert files(flow) == {"flows/shop-Cart-abandonment.diff": "--- project\n+++ X\n"}


def test_orphans_stay_under_the_prefix_and_a_live_one_is_only_switched_off():
    from mailwright.push.drift import orphans

    removed, off = [], []
    objects = [("shop: a", "1"), ("shop: a", "2"), ("shop: b", "3"), ("shopfront: a", "4"), ("other: a", "5"),
               (None, "6"), ("shop: live", "7")]
    keep = {"shop: b"}.__contains__
    listed = orphans("shop: ", "template", objects, keep, False, removed.append)
    assert [(c.name, c.action) for c in listed] == [("shop: a", "orphan"), ("shop: live", "orphan")]
    assert all(c.apply is None for c in listed)
    pruned = orphans("shop: ", "flow", objects, keep, True, removed.append, needs=["x"],
                     live={"7"}.__contains__, switch_off=off.append)
    assert [(c.name, c.action, c.needs) for c in pruned] == [("shop: a", "remove", ["x"]), ("shop: live", "remove", ["x"])]
    for c in pruned:
        c.apply()
    assert removed == ["1", "2"] and off == ["7"] and "switched off" in pruned[1].detail


# --- each survivor of the mutation run of push/drift.py, pinned by meaning (docs/testing.md) ---

def test_the_fingerprint_is_a_stable_format_so_an_earlier_push_is_not_seen_as_drift():
    # sha256 of the fields as JSON, keys sorted, non-ASCII as written, None as "": a digest stored in an
    # ESP by an earlier push must still match, so none of these may change
    expected = hashlib.sha256('{"html": "<p>Café ü</p>", "text": ""}'.encode()).hexdigest()
    assert fingerprint({"text": None, "html": "<p>Café ü</p>"}) == expected


def test_read_stamp_on_each_form_of_the_marks():
    d, other = fingerprint(WANT), fingerprint({"x": "1"})
    both = stamp(HTML, d)
    assert read_stamp(both) == (d, HTML)
    assert read_stamp(both.replace(meta(d), "")) == (d, HTML)  # an editor that drops the meta
    assert read_stamp(both.replace(comment(d), "")) == (d, HTML)  # one that drops comments
    assert read_stamp(HTML) == (None, HTML)
    for bad in ("<!-- mailwright: sha256=abc -->", f"<!-- mailwright:sha256={d} -->",
                f"<!-- MAILWRIGHT: sha256={d} -->", f"<!-- mailwright: sha256={d.upper()} -->",
                f'<meta name="mailwright" content="{d}">'):
        assert read_stamp(bad + HTML) == (None, bad + HTML), bad
    # both present and disagreeing: the comment's digest; the other meta stays in the HTML (so: drift)
    mixed = stamp(HTML, d).replace(meta(d), meta(other))
    assert read_stamp(mixed) == (d, HTML.replace("<title>", meta(other) + "<title>"))


def test_read_stamp_takes_out_exactly_the_marks_stamp_put_in():
    d = fingerprint(WANT)
    # a template that shows the marks as its own content (say, a page about mailwright) keeps them
    page = f"<html><head></head><body><pre>{comment(d)}{meta(d)}</pre><pre>{comment(d)}{meta(d)}</pre></body></html>"
    assert read_stamp(stamp(page, d)) == (d, page)


def test_classify_details_of_each_case():
    have = have_of(WANT)
    bare = {"html": HTML, "text": "x"}
    st = classify("K", "t", WANT, bare, False, False)
    assert (st.action, st.detail, st.diff, st.drift) == (
        UNMANAGED, "no fingerprint (made by hand or by an older push): push --adopt takes it over", "", None)
    st = classify("K", "t", WANT, bare, False, True)
    assert (st.action, st.detail, st.diff, st.drift) == (
        "update", "adopted (--adopt): no fingerprint, made by hand or by an older push", "", None)
    assert classify("K", "t", WANT, {"text": "x"}, False, True).action == "update"  # no HTML at all
    edited = {**have, "html": have["html"].replace("Two!", "Deux!")}
    diff = "--- pushed html\n+++ Klaviyo html\n@@ -1,2 +1,2 @@\n One.\n-Two!\n+Deux!"
    st = classify("Klaviyo", "t", WANT, edited, False, False)
    assert (st.action, st.detail, st.diff) == (
        DRIFTED, "edited in Klaviyo since the last push: kept; push --force overwrites it, mailwright pull saves it",
        diff)
    assert (st.drift.stem, st.drift.remote, st.drift.ours, st.drift.pushed) == (
        "t", {"html": HTML.replace("Two!", "Deux!"), "text": "One. Two!"}, WANT, True)
    st = classify("Klaviyo", "t", WANT, edited, True, False)
    assert (st.action, st.detail, st.diff) == ("update", "overwrites what was edited in Klaviyo (--force)", diff)
    assert st.drift.remote["html"] == HTML.replace("Two!", "Deux!") and st.drift.pushed


def test_classify_names_what_changed_in_the_project():
    have = have_of(WANT)
    html2 = HTML.replace("Two!", "Three!")
    assert classify("K", "t", {**WANT, "html": html2}, have, False, False).detail == "HTML changed"
    both = classify("K", "t", {"html": html2, "text": "x"}, have, False, False)
    assert (both.action, both.detail) == ("update", "html, text changed")
    # same content, but the ESP dropped the comment: written again (the fingerprint's place changed)
    meta_only = {**have, "html": have["html"].replace(comment(fingerprint(WANT)), "")}
    assert (classify("K", "t", WANT, meta_only, False, False).action,
            classify("K", "t", WANT, meta_only, False, False).detail) == ("update", "HTML changed")


def test_a_field_the_esp_keeps_empty_is_the_same_as_an_empty_one():
    want = {"html": HTML, "text": ""}
    have = {**written(want), "text": None}
    assert classify("K", "t", want, have, False, False).action == "unchanged"
    assert classify("K", "t", want, {**written(want), "text": ""}, False, False).action == "unchanged"
    st = classify("K", "t", {**want, "html": HTML.replace("Two!", "Three!")}, have, False, False)
    assert (st.action, st.detail) == ("update", "HTML changed")


def test_lines_a_sentence_or_a_tag_a_line():
    assert _lines("Hi %IF x% yes %ELSE% no %/IF% bye. <b>Bold</b>  and\n more", False) == [
        "Hi", "%IF x% yes", "%ELSE%", "no", "%/IF%", "bye.", "<b>Bold</b> and more"]
    assert _lines("<p>One.  Two!</p><p>{% if a %}x{% endif %}</p><p>Why? So</p>", True) == [
        "One.", "Two!", "{% if a %}", "x", "{% endif %}", "Why?", "So"]
    assert _lines("%if x% a %else% b", False) == ["%if x% a %else% b"]  # ActiveCampaign's tags are upper case


def test_text_diff_exactly():
    ours = {"html": "<p>A. B. C. D. E.</p>", "text": "a  b"}
    theirs = {"html": "<p>A. B. X. D. E.</p>", "text": "a b"}
    assert text_diff(ours, theirs, "Klaviyo", True) == (
        "--- pushed html\n+++ Klaviyo html\n@@ -2,3 +2,3 @@\n B.\n-C.\n+X.\n D.\n"
        "--- pushed text\n+++ Klaviyo text\n@@ markup only: the text a recipient reads is the same @@")
    # markup only first, then a real change: both shown
    assert text_diff({"html": "<p>A.</p>", "text": "a"}, {"html": "<div>A.</div>", "text": "b"}, "HubSpot", False) == (
        "--- project html\n+++ HubSpot html\n@@ markup only: the text a recipient reads is the same @@\n"
        "--- project text\n+++ HubSpot text\n@@ -1 +1 @@\n-a\n+b")
    # a field that is the same is not mentioned; an empty or missing one has no lines
    assert text_diff({"html": "<p>A.</p>", "text": ""}, {"html": "<p>A.</p>", "text": "Hi"}, "K", False) == (
        "--- project text\n+++ K text\n@@ -0,0 +1 @@\n+Hi")
    assert text_diff({"html": "<p>A.</p>", "text": "Hi"}, {"html": "<p>A.</p>"}, "K", False) == (
        "--- project text\n+++ K text\n@@ -1 +0,0 @@\n-Hi")
    assert text_diff({"html": "<p>A.</p>", "text": "a"}, {"html": "<p>A.</p>", "text": "a"}, "K", True) == ""


def test_short_keeps_the_first_lines_and_says_how_many_more():
    diff = "\n".join(str(i) for i in range(14))
    assert short(diff) == "\n".join(str(i) for i in range(12)) + "\n… 2 more line(s): mailwright diff shows them"
    assert short(diff, 14) == diff and short(diff, 13) == "\n".join(str(i) for i in range(13)) + \
        "\n… 1 more line(s): mailwright diff shows them"
    assert short("") == ""


def test_json_diff_of_flow_steps_exactly():
    ours = {"steps": [{"wait": "1d", "b": 1}], "name": "Café"}
    theirs = {"name": "Café", "steps": [{"b": 1, "wait": "2d"}]}
    assert json_diff(ours, theirs, "Klaviyo (edited)") == (
        '--- project\n+++ Klaviyo (edited)\n@@ -5,3 +5,3 @@\n    "b": 1,\n-   "wait": "1d"\n+   "wait": "2d"\n   }')
    assert json_diff(ours, {"steps": [{"b": 1, "wait": "1d"}], "name": "Café"}, "K") == ""  # key order is no change
    assert json_diff({"a": "é"}, {"a": "è"}, "K") == '--- project\n+++ K\n@@ -1,3 +1,3 @@\n {\n- "a": "é"\n+ "a": "è"\n }'


def test_orphans_each_change_exactly():
    from mailwright.push.drift import orphans

    objects = [("shop: a", 1), ("shop: a", 2), ("shop: live", 7), ("shop:x", 8), ("shop", 9)]
    listed = orphans("shop: ", "template", objects, lambda n: False, False, print)
    assert [(c.kind, c.name, c.action, c.detail, c.needs) for c in listed] == [
        ("template", "shop: a", "orphan", "not in the project any more: push --prune removes it", []),
        ("template", "shop: live", "orphan", "not in the project any more: push --prune removes it", [])]
    removed, off = [], []
    pruned = orphans("shop: ", "flow", objects, lambda n: False, True, removed.append,
                     live={"7"}.__contains__, switch_off=off.append)
    assert [(c.kind, c.name, c.action, c.detail, c.needs) for c in pruned] == [
        ("flow", "shop: a", "remove", "not in the project any more", []),
        ("flow", "shop: live", "remove", "live: switched off, not deleted (delete it by hand)", [])]
    for c in pruned:
        c.apply()
    assert removed == ["1", "2"] and off == ["7"]
    # without a way to switch off, a live one is removed like any other
    plain = orphans("shop: ", "flow", objects, lambda n: False, True, removed.append, live={"7"}.__contains__)
    assert plain[1].detail == "not in the project any more"
