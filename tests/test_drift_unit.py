"""The fingerprint and its comparison (push/drift.py), and pull's files, without a server."""

import pytest

from mailwright.push import PushContext
from mailwright.push.drift import DRIFTED, UNMANAGED, classify, comment, fingerprint, meta, read_stamp, stamp, written
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
