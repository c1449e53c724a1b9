"""Every rule of ``mailwright check``, in one table: rule id -> the function that checks one template, what it
is about, and whether it runs unless disabled. A new rule is one line here (and its section in docs/check.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import Diagnostic
from . import a11y, clients, content, contrast, links, size
from .context import Context


@dataclass(frozen=True)
class Rule:
    check: Callable[[Context], Iterable[Diagnostic]]
    description: str
    default: bool = True  # runs unless [check] disable (or a template's comment) turns it off


RULES: dict[str, Rule] = {
    "client-support": Rule(clients.client_support, "a feature the configured email clients do not support (caniemail)"),
    "a11y-lang": Rule(a11y.lang, "the document's language and direction (<mjml lang dir>)"),
    "a11y-alt": Rule(a11y.alt, "alt text on every image"),
    "a11y-table-role": Rule(a11y.table_role, 'role="presentation" on layout tables'),
    "a11y-headings": Rule(a11y.headings, "heading levels that do not skip (h1 then h3)"),
    "a11y-link-text": Rule(a11y.link_text, "link text that says where the link goes"),
    "a11y-contrast": Rule(contrast.a11y_contrast, "text and background contrast (WCAG AA)"),
    "size": Rule(size.size, "Gmail clips messages above 102 KB"),
    "subject-length": Rule(content.subject_length, "a subject that is present and fits the inbox"),
    "preheader": Rule(content.preheader, "a preheader that is present and fits the inbox"),
    "text-part": Rule(content.text_part, "a plain-text part with copy in it"),
    "links": Rule(links.links, "well-formed link and image URLs (--online: they answer)"),
    "example-data": Rule(links.example_data, "links and images that go to example.com and other example domains"),
}
