"""From the composed source tree to the intermediate form (:mod:`ir`).

Send-time tags are recognised and their expressions parsed here (with Jinja2's
parser, :mod:`expr`), segments expanded, and MJML structure checked: unknown
tags and structural tags where MJML cannot hold them are errors at their place.
"""

from __future__ import annotations

import html
import re

from . import ir, mjml_schema
from .errors import Diagnostic, MailwrightError, MailwrightErrors, Pos
from .expr import Const, Scope, Var, literal_output, parse_condition, parse_loop, parse_output, relocated
from .source import Chunk, Comment, Element, InlineRaw, Lit, Tag

MJML_TAGS = frozenset(
    """mjml mj-head mj-body mj-attributes mj-all mj-class mj-breakpoint mj-font mj-html-attributes
    mj-selector mj-html-attribute mj-preview mj-style mj-title mj-accordion mj-accordion-element
    mj-accordion-title mj-accordion-text mj-button mj-carousel mj-carousel-image mj-column mj-divider
    mj-group mj-hero mj-image mj-navbar mj-navbar-link mj-raw mj-section mj-social mj-social-element
    mj-spacer mj-table mj-text mj-wrapper""".split()
)
# where <mw-if>/<mw-for>/<mw-raw> may stand (their content is MJML children there)
STRUCTURAL_PARENTS = frozenset({"mj-body", "mj-wrapper", "mj-section", "mj-column", "mj-hero", "mj-group"})
# attributes whose value may carry send-time output (language.md §1)
SENDTIME_ATTRS = frozenset({"href", "src", "alt", "title", "background-url"})
_NOWHERE = Pos("")


def lower(root: Element, name: str, path: str, segments: dict, esps: list[str]) -> ir.Template:
    if root.tag != "mjml":
        raise MailwrightError(root.pos, f"a template's root element is <mjml>, not <{root.tag}>")
    lw = _Lowerer(Scope(segments), esps)
    for k, a in root.attrs.items():
        lw.check_attr("mjml", k, a)
    head_el = body_el = None
    for c in root.children:
        if isinstance(c, Comment):
            continue
        if c.tag == "mj-head" and head_el is None:
            head_el = c
        elif c.tag == "mj-body" and body_el is None:
            body_el = c
        else:
            raise MailwrightError(c.pos, f"<{c.tag}> cannot stand in <mjml>; expected one <mj-head> and one <mj-body>")
    if body_el is None:
        raise MailwrightError(root.pos, "the template has no <mj-body>")
    subject = preview = None
    subject_pos = root.pos
    head: list[ir.Element] = []
    for c in head_el.children if head_el else []:
        if isinstance(c, Comment):
            continue
        if c.tag == "mw-subject":
            if subject is not None:
                raise MailwrightError(c.pos, "a second <mw-subject>; a template has one")
            subject = lw.inline(c.content or [], lw.scope, unescape=True)
            subject_pos = c.pos
            if not any(not isinstance(n, ir.Text) or n.text.strip() for n in subject):
                raise MailwrightError(c.pos, "<mw-subject> is empty")
            continue
        if c.tag == "mj-preview":
            preview = lw.inline(c.content or [], lw.scope, unescape=True)
        head.append(lw.element(c, lw.scope, parent="mj-head"))
    if subject is None:
        where = head_el.pos if head_el else root.pos
        raise MailwrightError(where, "missing <mw-subject>: every template needs one inside <mj-head>")
    body = lw.element(body_el, lw.scope, parent="mjml")
    if lw.errors:  # every unknown name and bad expression of the template, at once
        raise MailwrightErrors(lw.errors)
    attrs = {k: a.raw for k, a in root.attrs.items()}
    t = ir.Template(name, path, root.pos, subject, subject_pos, preview, head, body, attrs)
    t.warnings = lw.warnings
    return t


# Expressions already read, by the project's segments (which they may expand), then by
# (parse, text, loop variables, segments being expanded): (result with its own place made _NOWHERE,
# whether anything in it is at that place). The same few expressions recur in every template; a hit
# is only moved to its new place (:func:`relocated`). No template's place (which holds its file) is kept. Everything a parse depends on is in the keys and
# the results are frozen, so a long-running process (preview, watch) is never served a stale one.
_PARSED: dict[tuple, dict[tuple, tuple]] = {}
_PARSED_MAX = 4096


def _parsed_for(segments: dict) -> dict[tuple, tuple]:
    key = tuple(segments.items())
    try:
        known = _PARSED.get(key)
    except TypeError:  # segments that cannot be a key: read every expression afresh
        return {}
    if known is None:
        if len(_PARSED) >= 8:
            _PARSED.clear()
        known = _PARSED[key] = {}
    return known


class _Lowerer:
    def __init__(self, scope: Scope, esps: list[str]):
        self.scope = scope
        self.esps = esps
        self.warnings: list[Diagnostic] = []
        self.errors: list[Diagnostic] = []  # recoverable: reported together at the end
        self.parsed = _parsed_for(scope.segments)

    def expr(self, parse, src: str, pos: Pos, scope: Scope, fallback):
        """Parse an expression; an error is recorded and ``fallback`` stands in, so the
        rest of the template is still read (and its errors reported in the same run)."""
        key = (parse, src, scope.loop_vars, scope.expanding)
        hit = self.parsed.get(key)
        if hit is not None:
            e, placed = hit
            return relocated(e, _NOWHERE, pos) if placed else e
        try:
            e = parse(src, pos, scope)
            if parse is parse_condition:
                check_esp_names(e, pos)
        except MailwrightError as err:
            self.errors.extend(err.diagnostics)
            return fallback
        if len(self.parsed) >= _PARSED_MAX:
            self.parsed.clear()
        nowhere = relocated(e, pos, _NOWHERE)
        self.parsed[key] = (nowhere, nowhere is not e)
        return e

    def check_attr(self, tag: str, name: str, a) -> None:
        msg = mjml_schema.check(tag, name, "".join(c.text for c in a.value if isinstance(c, Lit)))
        if msg:
            self.warnings.append(Diagnostic(a.pos, msg, "warning", rule="mjml-attribute"))

    # ------------------------------------------------------------ elements
    def element(self, el: Element, scope: Scope, parent: str) -> ir.Element:
        if el.tag.startswith("mw-"):
            raise MailwrightError(el.pos, f"<{el.tag}> cannot stand inside <{parent}>")
        if el.tag not in MJML_TAGS:
            hint = ""
            close = [t for t in sorted(MJML_TAGS) if mjml_schema.near(t, el.tag)]
            if close:
                hint = f"; did you mean <{close[0]}>?"
            raise MailwrightError(el.pos, f"unknown element <{el.tag}>{hint}")
        tag = el.tag
        attrs: dict[str, list[ir.Node]] = {}
        check = mjml_schema.check if parent != "mj-attributes" else None
        for k, a in el.attrs.items():  # ≈ 90 attributes a template: the common case inlined
            v = a.value
            if len(v) == 1 and type(v[0]) is Lit:  # most attributes are plain copy: no walk of send-time tags
                lit = v[0]
                text = lit.text
                if check is not None and (msg := check(tag, k, text)):
                    self.warnings.append(Diagnostic(a.pos, msg, "warning", rule="mjml-attribute"))
                attrs[k] = [ir.Text(text, lit.pos)] if text else []
                continue
            if check is not None:
                self.check_attr(tag, k, a)
            attrs[k] = self.inline(v, scope, attribute=k, owner=tag)
        if el.content is not None:
            if el.tag in ("mj-style",):
                children: list[ir.Node] = [ir.Text(el.raw_content, el.pos)]
            else:
                children = self.inline(el.content, scope, unescape=el.tag == "mj-title")
            return ir.Element(el.tag, attrs, children, el.pos, ending=True)
        return ir.Element(el.tag, attrs, self.children(el, scope), el.pos)

    def children(self, el: Element, scope: Scope) -> list[ir.Node]:
        out: list[ir.Node] = []
        kids = el.children
        parent = el.tag
        i = 0
        while i < len(kids):
            c = kids[i]
            i += 1
            if type(c) is Element and not c.tag.startswith("mw-"):  # most children: an MJML element
                out.append(self.element(c, scope, parent))
                continue
            if isinstance(c, Comment):
                if not c.text.strip().startswith("mailwright:"):  # mailwright's own (check) are not sent
                    out.append(ir.Element("#comment", {}, [], c.pos, comment=c.text))
                continue
            if c.tag in ("mw-if", "mw-for", "mw-raw") and el.tag not in STRUCTURAL_PARENTS:
                raise MailwrightError(
                    c.pos, f"<{c.tag}> cannot stand inside <{el.tag}>; it may wrap sections, columns or column content"
                )
            if c.tag == "mw-if":
                branches = [self._branch(c, scope, el)]
                while i < len(kids):
                    nxt = kids[i]
                    if isinstance(nxt, Comment):
                        i += 1
                        continue
                    if nxt.tag in ("mw-elif", "mw-else"):
                        if branches[-1].cond is None:
                            raise MailwrightError(nxt.pos, f"<{nxt.tag}> after <mw-else>")
                        branches.append(self._branch(nxt, scope, el))
                        i += 1
                        continue
                    break
                out.append(ir.If(branches, c.pos, structural=True))
            elif c.tag in ("mw-elif", "mw-else"):
                raise MailwrightError(c.pos, f"<{c.tag}> must directly follow <mw-if> or <mw-elif>")
            elif c.tag == "mw-for":
                out.append(self._for(c, scope, el))
            elif c.tag == "mw-raw":
                out.append(self._raw(c))
            else:
                out.append(self.element(c, scope, parent=el.tag))
        return out

    def _attr_src(self, el: Element, name: str) -> tuple[str, Pos]:
        a = el.attrs.get(name)
        if a is None:
            raise MailwrightError(el.pos, f'<{el.tag}> needs {name}="…"')
        if any(not isinstance(c, Lit) for c in a.value):
            raise MailwrightError(a.value_pos, f"the {name}= of <{el.tag}> must be plain text")
        return "".join(c.text for c in a.value), (a.value[0].pos if a.value else a.value_pos)

    def _branch(self, el: Element, scope: Scope, parent: Element) -> ir.Branch:
        cond = None
        if el.tag != "mw-else":
            src, pos = self._attr_src(el, "when")
            cond = self.expr(parse_condition, src, pos, scope, Const(True))
        for k in el.attrs:
            if k != "when" or el.tag == "mw-else":
                raise MailwrightError(el.attrs[k].pos, f"<{el.tag}> has no attribute '{k}'")
        return ir.Branch(cond, self.children(_as(el, parent.tag), scope), el.pos)

    def _for(self, el: Element, scope: Scope, parent: Element) -> ir.For:
        src, pos = self._attr_src(el, "each")
        var, it = self.expr(parse_loop, src, pos, scope, _loop_fallback(src, pos))
        limit = None
        if "limit" in el.attrs:
            lsrc, lpos = self._attr_src(el, "limit")
            if not re.fullmatch(r"\s*\d+\s*", lsrc) or int(lsrc) < 1:
                raise MailwrightError(lpos, f"limit must be a whole number of at least 1, not '{lsrc}'")
            limit = int(lsrc)
        for k in el.attrs:
            if k not in ("each", "limit"):
                raise MailwrightError(el.attrs[k].pos, f"<mw-for> has no attribute '{k}'")
        inner = scope.with_loop(var)
        return ir.For(var, it, limit, self.children(_as(el, parent.tag), inner), el.pos, structural=True)

    def _raw(self, el: Element) -> ir.Raw:
        esp, pos = self._attr_src(el, "esp")
        return ir.Raw(_raw_esp(esp.strip(), pos), el.raw_content, el.pos)

    # ------------------------------------------------------------ inline
    def inline(self, chunks: list[Chunk], scope: Scope, *, attribute: str | None = None,
               owner: str = "", unescape: bool = False) -> list[ir.Node]:
        root: list[ir.Node] = []
        # stack of (kind, node, body list)
        stack: list[tuple[str, ir.Node | None, list[ir.Node], Scope]] = [("root", None, root, scope)]
        body, cur_scope = root, scope  # those of stack[-1], set again whenever the stack changes
        for c in chunks:
            if isinstance(c, Lit):
                text = html.unescape(c.text) if unescape else c.text
                if text:
                    body.append(ir.Text(text, c.pos))
                continue
            if attribute is not None and attribute not in SENDTIME_ATTRS:
                raise MailwrightError(c.pos, f"send-time tags are not allowed in the '{attribute}' attribute "
                                             f"(allowed in {', '.join(sorted(SENDTIME_ATTRS))})")
            if isinstance(c, InlineRaw):
                if attribute is not None:
                    raise MailwrightError(c.pos, "<mw-raw> cannot stand in an attribute")
                body.append(ir.Raw(_raw_esp(c.esp, c.pos), c.text, c.pos))
                continue
            assert isinstance(c, Tag)
            if c.kind == "out" and (lit := literal_output(c.src)) is not None:
                body.append(ir.Text(html.escape(lit, quote=False) if not unescape else lit, c.pos))
                continue
            if c.kind == "out":
                out = self.expr(parse_output, c.src, c.src_pos, cur_scope, None)
                if out is not None:
                    body.append(ir.Output(out, c.pos))
                continue
            if attribute is not None:
                raise MailwrightError(c.pos, "{% … %} cannot stand in an attribute; put the condition around the element")
            word, _, rest = c.src.partition(" ")
            rest = rest.strip()
            if word == "if":
                cond = self.expr(parse_condition, rest, _after(c, word), cur_scope, Const(True))
                node = ir.If([ir.Branch(cond, [], c.pos)], c.pos)
                body.append(node)
                body = node.branches[0].body
                stack.append(("if", node, body, cur_scope))
            elif word in ("elif", "else"):
                kind, node, _, sc = stack[-1]
                if kind != "if":
                    raise MailwrightError(c.pos, f"{{% {word} %}} without an open {{% if %}}")
                assert isinstance(node, ir.If)
                if node.branches[-1].cond is None:
                    raise MailwrightError(c.pos, f"{{% {word} %}} after {{% else %}}")
                if word == "else" and rest:
                    raise MailwrightError(c.pos, "{% else %} takes no condition; use {% elif … %}")
                cond = self.expr(parse_condition, rest, _after(c, word), sc, Const(True)) if word == "elif" else None
                node.branches.append(ir.Branch(cond, [], c.pos))
                body = node.branches[-1].body
                stack[-1] = ("if", node, body, sc)
            elif word == "for":
                rest_pos = _after(c, word)
                var, it = self.expr(parse_loop, rest, rest_pos, cur_scope, _loop_fallback(rest, rest_pos))
                node = ir.For(var, it, None, [], c.pos)
                body.append(node)
                body, cur_scope = node.body, cur_scope.with_loop(var)
                stack.append(("for", node, body, cur_scope))
            elif word in ("endif", "endfor"):
                kind = stack[-1][0]
                if kind != word[3:]:
                    raise MailwrightError(c.pos, f"{{% {word} %}} without an open {{% {word[3:]} %}}")
                stack.pop()
                body, cur_scope = stack[-1][2], stack[-1][3]
            else:
                raise MailwrightError(
                    c.pos, f"'{{% {word} %}}' is not portable: only if/elif/else/endif and for/endfor are"
                )
        if len(stack) > 1:
            kind, node, _, _ = stack[-1]
            raise MailwrightError(node.pos, f"{{% {kind} %}} is never closed with {{% end{kind} %}}")
        return root


def _after(tag: Tag, word: str) -> Pos:
    """Where the expression after ``{% word `` starts (made only for tags that hold one)."""
    at = tag.src_pos
    return Pos(at.path, at.line, at.col + len(word) + 1)


def _loop_fallback(src: str, pos: Pos) -> tuple[str, Var]:
    """What stands in for a loop whose header has an error: its variable, if it can be
    read, stays in scope (so its uses are not reported as unknown names too)."""
    m = re.match(r"\s*([A-Za-z_]\w*)\s+in\b", src)
    return (m.group(1) if m else "_"), Var("event", ("_",), pos)


def _raw_esp(esp: str, pos: Pos) -> str:
    known = _known_esps()
    if esp not in known:
        raise MailwrightError(pos, f"<mw-raw esp=\"{esp}\">: unknown ESP (installed: {', '.join(known)})")
    return esp


def _known_esps() -> dict:
    """The installed connectors by ESP name (read only: membership and the names)."""
    from .dialect import load_connectors

    return load_connectors()


def check_esp_names(e, pos: Pos) -> None:
    """``esp == 'klavyo'`` can never be true: say so rather than drop the branch."""
    from .expr import And, Cmp, Const, ListLit, Not, Or, Var

    if isinstance(e, (And, Or)):
        check_esp_names(e.left, pos)
        check_esp_names(e.right, pos)
    elif isinstance(e, Not):
        check_esp_names(e.expr, pos)
    elif isinstance(e, Cmp):
        for a, b in ((e.left, e.right), (e.right, e.left)):
            if isinstance(a, Var) and a.root == "esp":
                names = [b.value] if isinstance(b, Const) else list(b.values) if isinstance(b, ListLit) else []
                known = _known_esps()
                for n in names:
                    if n not in known:
                        raise MailwrightError(pos, f"unknown ESP '{n}' (installed: {', '.join(known)})")


def _as(el: Element, tag: str) -> Element:
    """A structural tag's children are checked as if they stood in its parent."""
    clone = Element(tag, el.pos, {}, el.children)
    return clone
