"""The build cache against what a user's disk may hold: entries under another name, a cache folder
or build file that is a link, a folder that does not exist yet, clocks that disagree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cache import _entries, cli, edit, make_tiny, tree


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_tiny(tmp_path)


def _fresh(project: Path, tmp_path: Path, *args: str) -> dict[str, bytes]:
    assert cli(str(project), *args, "--no-cache", "--out", str(tmp_path / "fresh"))[0] == 0
    return tree(tmp_path / "fresh")


def test_an_entry_copied_under_another_entrys_name_is_not_trusted(project: Path, tmp_path: Path) -> None:
    """Template b's entries for Klaviyo alone and for both ESPs swapped: each is whole and of the right
    shape, but not the entry of its name (a Klaviyo-only compile would write HubSpot's outputs)."""
    cli(str(project), "--esp", "klaviyo")
    alone = set(_entries(project, "t"))
    cli(str(project))
    both = set(_entries(project, "t")) - alone

    def of_b(entries: set[Path]) -> Path:
        return next(p for p in entries if json.loads(p.read_bytes().split(b"\n")[1])["name"] == "b")

    one, two = of_b(alone), of_b(both)
    data = one.read_bytes()
    one.write_bytes(two.read_bytes())
    two.write_bytes(data)
    edit(project / "templates/a.mjml", "Body a", "Body A")  # the project entry misses
    assert cli(str(project), "--esp", "klaviyo")[0] == 0
    assert tree(project / "build") == _fresh(project, tmp_path, "--esp", "klaviyo")
