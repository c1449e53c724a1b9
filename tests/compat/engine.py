"""The engine alone: mjml-python and one css-inline pass on the XML-normalised MJML text.

This is what the compatibility suite compares mailwright's output with, and what
scripts/refresh_compat.py uses to find the files the engine itself cannot render.
"""

from __future__ import annotations

import re

import css_inline
from mjml import mjml2html

# a start tag with its attributes; quoted values may hold newlines and '>'
_TAG = re.compile(r"""<[A-Za-z][\w:.-]*(?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?)*\s*/?>""")
_QUOTED = re.compile(r""""[^"]*"|'[^']*'""")


def normalise(src: str) -> str:
    """What an XML parser hands on: line ends as LF, newlines and tabs in attribute values as spaces."""
    src = src.replace("\r\n", "\n").replace("\r", "\n")

    def attrs(tag: re.Match) -> str:
        return _QUOTED.sub(lambda v: re.sub(r"[\n\t]", " ", v.group()), tag.group())

    return _TAG.sub(attrs, src)


def engine_html(src: str) -> str:
    """The email as the engine alone renders it; raises on what it cannot render."""
    html = mjml2html(normalise(src))
    inliner = css_inline.CSSInliner(inline_style_tags=True, keep_style_tags=True, keep_link_tags=True,
                                    load_remote_stylesheets=False)
    return inliner.inline(html)
