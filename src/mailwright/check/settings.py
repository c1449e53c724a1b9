"""What to check: ``[check]`` of mailwright.toml (clients, disable, disable_in) and a template's own
``<!-- mailwright: disable RULE … -->`` comment, each checked, every mistake at its place."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import Diagnostic, MailwrightError, MailwrightErrors, Pos
from .clients import client_keys
from .registry import RULES
from .source import Source

if TYPE_CHECKING:
    from ..project import Project

# The current versions of the big four, as the dataset's family.platform keys (docs/check.md).
DEFAULT_CLIENTS = [
    "gmail.desktop-webmail", "gmail.ios", "gmail.android",
    "apple-mail.macos", "apple-mail.ios",
    "outlook.windows", "outlook.macos", "outlook.outlook-com", "outlook.ios", "outlook.android",
    "yahoo.desktop-webmail", "yahoo.ios", "yahoo.android",
]
KEYS = ("clients", "disable", "disable_in")
_COMMENT = re.compile(r"<!--\s*mailwright\s*:(.*?)-->", re.S)


@dataclass
class Settings:
    clients: list[str]
    disable: set[str]
    disable_in: dict[str, set[str]] = field(default_factory=dict)  # template -> rules (or families) off there

    def enabled(self, rule: str, template: str | None = None, also: Iterable[str] = ()) -> bool:
        """Whether ``rule`` runs (for ``template``, with the rules its own comment disables in ``also``)."""
        off = [*self.disable, *(self.disable_in.get(template, ()) if template else ()), *also]
        known = RULES.get(rule)
        return (known is None or known.default) and not any(covers(d, rule) for d in off)


def covers(name: str, rule: str) -> bool:
    """A rule's own id, or its family's prefix ("a11y" covers every a11y-* rule)."""
    return rule == name or rule.startswith(name.rstrip("-*") + "-")


def unknown_rule(name: str) -> str | None:
    """None for a rule id or family; else the message, with the closest id."""
    if any(covers(name, r) for r in RULES):
        return None
    close = difflib.get_close_matches(name, list(RULES), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown rule '{name}': {hint}(rules: {', '.join(RULES)})"


def load_settings(project: Project) -> Settings:
    """``[check]`` of mailwright.toml, checked: every mistake at its place, all of them at once."""
    cfg = project.config.get("check", {})
    if not isinstance(cfg, dict):
        raise MailwrightError(Pos(str(project.config_path)), "[check] must be a table")
    errors: list[Diagnostic] = []

    def error(pos: Pos, msg: str) -> None:
        errors.append(Diagnostic(pos, msg))

    for key in cfg:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            error(project.pos_of_key("check", key), f"unknown setting '{key}' in [check]: {hint}"
                                                   f"(settings: {', '.join(KEYS)})")
    known = client_keys()
    clients = DEFAULT_CLIENTS
    if "clients" in cfg:
        raw = cfg["clients"]
        pos = project.pos_of_key("check", "clients")
        if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
            error(pos, '[check] clients must be a list of names such as "gmail" or "outlook.windows"')
            raw = []
        clients = []
        for pattern in raw:
            glob = pattern if "." in pattern else pattern + ".*"
            hits = [k for k in known if fnmatch.fnmatchcase(k, glob)]
            if not hits:
                families = sorted({k.split(".")[0] for k in known})
                error(pos, f"[check] clients: no client matches '{pattern}' "
                           f"(families: {', '.join(families)}; or family.platform)")
            clients += [h for h in hits if h not in clients]
    disable = cfg.get("disable", [])
    if not isinstance(disable, list) or not all(isinstance(d, str) for d in disable):
        error(project.pos_of_key("check", "disable"), "[check] disable must be a list of rule names")
        disable = []
    start = project.pos_of_key("check", "disable")
    for d in disable:
        if msg := unknown_rule(d):
            error(_written(project, start, d), f"[check] disable: {msg}")
    disable_in = _disable_in(project, cfg.get("disable_in", {}), error)
    if errors:
        raise MailwrightErrors(errors)
    return Settings(list(clients), set(disable), disable_in)


def _disable_in(project: Project, raw: object, error) -> dict[str, set[str]]:
    """``disable_in = { "a11y-contrast" = ["welcome", …] }``: rule -> templates, turned into template -> rules."""
    out: dict[str, set[str]] = {}
    here = project.pos_of_key("check", "disable_in")
    shape = '[check] disable_in must be a table of rule = [template names], e.g. { "a11y-contrast" = ["welcome"] }'
    if not isinstance(raw, dict):
        error(here, shape)
        return out
    names = list(project.templates)
    for rule, templates in raw.items():
        at = _written(project, here, rule, key=True)
        if msg := unknown_rule(rule):
            error(at, f"[check] disable_in: {msg}")
        if not isinstance(templates, list) or not all(isinstance(t, str) for t in templates):
            error(at, shape)
            continue
        for t in templates:
            if t not in names:
                close = difflib.get_close_matches(t, names, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                error(_written(project, at, t), f"[check] disable_in: no template '{t}' in templates/: {hint}"
                                                f"(templates: {', '.join(sorted(names)) or 'none'})")
            out.setdefault(t, set()).add(rule)
    return out


def _written(project: Project, start: Pos, name: str, key: bool = False) -> Pos:
    """Where ``name`` is written in mailwright.toml at or after ``start`` (quoted, or a bare key)."""
    try:
        text = project.config_path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    except (OSError, UnicodeDecodeError):
        return start
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    if not 1 <= start.line <= len(starts):
        return start
    pattern = rf"""(["']){re.escape(name)}\1""" + (rf"|(?<![\w-]){re.escape(name)}(?=\s*=)" if key else "")
    m = re.compile(pattern).search(text, starts[start.line - 1] + start.col - 1)
    if not m:
        return start
    line = text.count("\n", 0, m.start()) + 1
    return Pos(start.path, line, m.start() - starts[line - 1] + 1)


def template_disables(src: Source) -> tuple[set[str], list[Diagnostic]]:
    """The rules a template turns off for itself with ``<!-- mailwright: disable RULE, RULE -->``, and the
    mistakes in such comments (each at its word)."""
    path = src.t.path
    text, _ = src.file(path)
    off: set[str] = set()
    errors: list[Diagnostic] = []
    for m in _COMMENT.finditer(text):
        words = [(w.group(), m.start(1) + w.start()) for w in re.finditer(r"[^\s,]+", m.group(1))]
        if not words or words[0][0] != "disable":
            what, at = words[0] if words else ("", m.start())
            say = f"unknown mailwright comment '{what}'" if what else "an empty mailwright comment"
            errors.append(Diagnostic(src.pos_at(path, at), f"{say}: write <!-- mailwright: disable RULE --> "
                                                           f"(rules: {', '.join(RULES)})"))
            continue
        if len(words) == 1:
            errors.append(Diagnostic(src.pos_at(path, words[0][1]), "name the rules to disable: "
                                                                    "<!-- mailwright: disable a11y-contrast -->"))
        for name, at in words[1:]:
            if msg := unknown_rule(name):
                errors.append(Diagnostic(src.pos_at(path, at), msg))
            else:
                off.add(name)
    return off, errors
