"""compile_project runs the templates in batches (the engine calls of a batch back to back):
what it gives, diagnostics and their order included, is what one template at a time gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailwright import compile as compile_mod
from mailwright.cache import CACHE_DIR, BuildCache
from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.project import load_project
from tests.conftest import email, make_project, text_email

BAD_SELECTOR = ('<mj-html-attributes><mj-selector path="[[[">'
                '<mj-html-attribute name="data-id">1</mj-html-attribute></mj-selector></mj-html-attributes>')

# in name order: each kind of failure, at each place of a batch of 2 and 3
TEMPLATES = {
    "t0": text_email("Hello {{ profile.first_name }}"),
    "t1": text_email("{{ profile.first_name | nope }}"),  # fails to parse
    "t2": email("<mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section>", head=BAD_SELECTOR),  # engine
    "t3": text_email("{% for i in event.items %}{{ i.name }}{% endfor %}"),  # two ESPs cannot write it
    "t4": text_email("{{ profile.city | title }}"),
    "t5": text_email("Bye", footer=""),  # no footer: every ESP's compliance check
    "t6": text_email("{{ profile.first_name | nope }} {{ profile.x | nope2 }}"),
    "t7": text_email("{{ event.cart_value }}"),  # HubSpot needs a mapping
}


def _compile(root: Path, batch: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(compile_mod, "_BATCH", batch)
    return compile_project(load_project(root, list(load_connectors())))


def _seen(result) -> tuple[list[str], list[tuple[str, str | None, str, str, str]]]:
    return ([d.format() for d in result.diagnostics],
            [(o.esp, o.trigger, o.name, o.html, o.text) for o in result.outputs])


@pytest.mark.parametrize("batch", [2, 3, 32])
def test_batches_give_what_one_template_at_a_time_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         batch: int) -> None:
    root = make_project(tmp_path / "p", TEMPLATES)
    one = _seen(_compile(root, 1, monkeypatch))
    assert _seen(_compile(root, batch, monkeypatch)) == one
    diags = one[0]
    # each kind of failure is there, in template order (else the comparison proves little)
    found = [next(i for i, d in enumerate(diags) if f"/{name}.mjml:" in d and what in d) for name, what in
             (("t1", "unknown filter 'nope'"), ("t2", "warning: '[['"), ("t2", "bad CSS selector"),
              ("t3", " cannot "), ("t5", "lacks"), ("t6", "'nope2'"), ("t7", "error"))]
    assert found == sorted(found)
    assert {o[2] for o in one[1]} >= {"t0", "t4"}


def test_each_template_of_a_batch_depends_on_its_own_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The build cache records the files each template's compile read, not its batch's."""
    include = '<mj-include path="../partials/{}.mjml"/>'
    root = make_project(tmp_path / "p", {n: email(include.format(n)) for n in ("a", "b", "c")},
                        esps=("klaviyo",))
    (root / "partials").mkdir()
    for n in ("a", "b", "c"):
        (root / "partials" / f"{n}.mjml").write_text(
            f"<mj-section><mj-column><mj-text>Part {n}</mj-text></mj-column></mj-section>\n")
    monkeypatch.setattr(compile_mod, "_BATCH", 3)

    def build() -> BuildCache:
        cache = BuildCache(root, root / "build" / CACHE_DIR)
        with cache.recording():
            result = compile_project(load_project(root, list(load_connectors())), None, cache)
        assert not result.errors, [d.format() for d in result.errors]
        cache.flush()
        return cache

    for n in ("a", "b", "c"):  # each from a cold cache, where one batch compiled all three
        shutil.rmtree(root / "build", ignore_errors=True)
        assert sorted(build().rebuilt) == ["a", "b", "c"]
        part = root / "partials" / f"{n}.mjml"
        part.write_text(part.read_text() + "<!-- edited -->\n")
        cache = build()
        assert (cache.rebuilt, sorted(cache.replayed)) == ([n], sorted({"a", "b", "c"} - {n}))


def test_without_trees_the_outputs_are_the_same_text_and_keep_no_trees(tmp_path: Path) -> None:
    """``mailwright compile`` asks for no placeholder trees (it writes only text): the same outputs and
    diagnostics, and no output holds its trees (they are freed template by template)."""
    root = make_project(tmp_path / "p", TEMPLATES)
    proj = load_project(root, list(load_connectors()))
    full, lean = compile_project(proj), compile_project(proj, keep_trees=False)
    assert _seen(lean) == _seen(full) and lean.outputs
    assert all(o.rendered is not None for o in full.outputs)
    assert all(o.rendered is None for o in lean.outputs)


def test_progress_is_told_after_each_batch_up_to_every_template(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "p", TEMPLATES)
    monkeypatch.setattr(compile_mod, "_BATCH", 3)
    told: list[tuple[int, int]] = []
    compile_project(load_project(root, list(load_connectors())), progress=lambda done, total: told.append((done, total)))
    assert told == [(3, 8), (6, 8), (8, 8)]
