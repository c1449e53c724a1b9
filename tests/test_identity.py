"""Byte-identity: the example project and the compatibility suite compile to exactly the outputs
(and diagnostics) whose digests are committed under tests/identity/ (refresh.py writes them)."""

from __future__ import annotations

import json

import pytest

from tests.identity.refresh import GOLDEN_COMPAT, GOLDEN_SHOP, compat_digests, shop_digests


@pytest.mark.parametrize("golden, digests", [(GOLDEN_SHOP, shop_digests), (GOLDEN_COMPAT, compat_digests)],
                         ids=["shop", "compat"])
def test_outputs_are_byte_identical_to_the_goldens(golden, digests):
    want = json.loads(golden.read_text())
    got = digests()
    changed = sorted(k for k in want.keys() & got.keys() if want[k] != got[k])
    assert not changed, f"{len(changed)} outputs changed, e.g. {changed[:5]} (python tests/identity/refresh.py " \
                        "--dump DIR before and after, then diff)"
    assert sorted(got.keys() - want.keys()) == [] and sorted(want.keys() - got.keys()) == []
