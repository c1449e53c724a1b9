"""batch_gc: the thresholds of a batch, and the process's own back afterwards."""

from __future__ import annotations

import gc

from mailwright.batch import batch_gc


def test_a_batch_collects_less_and_restores_the_thresholds():
    before = gc.get_threshold()
    with batch_gc():
        assert gc.get_threshold()[0] >= 50_000 and gc.get_threshold()[1] >= 20
    with batch_gc(keeps=True):  # a compile: the older generations are left alone until it ends
        young, middle, old = gc.get_threshold()
        assert young >= 50_000 and middle >= 1_000 and old >= 1_000
    assert gc.get_threshold() == before


def test_a_compile_is_a_batch_that_keeps_what_it_builds(monkeypatch):
    from mailwright import compile as compile_module
    from tests.conftest import compile_sources, text_email

    seen = []
    real = compile_module.batch_gc

    def spy(*args, **kwargs):
        seen.append(kwargs.get("keeps", args[0] if args else False))
        return real(*args, **kwargs)

    monkeypatch.setattr(compile_module, "batch_gc", spy)
    assert compile_sources({"a": text_email("Hi")}).outputs
    assert seen == [True]
