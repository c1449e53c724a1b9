"""The reader's search for a send-time tag's end, against its definition written out char by char."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailwright.source import _find_close


def by_definition(text: str, start: int, close: str) -> int:
    """The first ``close`` after ``start`` outside quoted strings, where a backslash escapes the next
    character; -1 when there is none (an unclosed quote hides everything after it)."""
    i, quote = start, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif text.startswith(close, i):
            return i
        i += 1
    return -1


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="a}%#'\"\\\n", max_size=12), st.data())
def test_find_close_is_its_definition(text, data):
    start = data.draw(st.integers(0, len(text)))
    for close in ("}}", "%}", "#}"):
        assert _find_close(text, start, close) == by_definition(text, start, close)


def test_examples():
    assert _find_close('{{ x | default("}}") }} after', 2, "}}") == 21
    assert _find_close("{% if a == 'it\\'s %}' %}", 2, "%}") == 22
    assert _find_close('{{ "unclosed }}', 2, "}}") == -1
    assert _find_close('"\\"}}', 0, "}}") == -1  # an escaped quote does not close the string
    assert _find_close("'\\'%}' %}", 0, "%}") == 7
