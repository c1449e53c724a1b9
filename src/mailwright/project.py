"""A user's project: ``mailwright.toml``, templates, components, themes, flows."""

from __future__ import annotations

import difflib
import importlib
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compose import Component, Theme, load_component, load_theme
from .errors import MailwrightError, MailwrightErrors, Pos
from .inputs import _escaped, load_toml, read_text, user_files, value_kind
from .root import CONFIG, locate

# Every key mailwright.toml may hold: a key not listed is a typo (issue 12). None: any key (a mapping's own
# names); a dict: the known keys below it. Add a key here when a feature starts reading it.
TABLE, TEXT, TEXTS, MAPPING = "a table", "a string", "a list of strings", "a table of strings"
SCHEMA: dict[str, Any] = {
    "project": {"name": TEXT, "esps": TEXTS, "theme": TEXT},
    "segments": MAPPING,
    "esp": TABLE,  # checked per ESP with the schema its connector declares (Connector.config)
    "compile": {"include_paths": TEXTS, "accept": TEXTS},
    "check": TABLE,  # check.py checks its own settings
    "brand": MAPPING,  # [[ brand.KEY ]] in components (compose.py)
    "signals": TABLE,  # signals/config.py checks these three itself
    "scoring": TABLE,
    "triggers": TABLE,
}


@dataclass(frozen=True)
class Segment:
    name: str
    source: str
    pos: Pos


class Components(Mapping[str, Component]):
    """The components by name: the project's own read when it loads (a mistake in one is the project's
    error), the built-in ones (shipped, read by the tests) when a template first uses one."""

    def __init__(self, builtin: list[Path], own: list[Component]):
        self._files = {f.stem: f for f in builtin}
        self._files.update((c.name, Path(c.path)) for c in own)  # the project's own win
        self._loaded = {c.name: c for c in own}

    def __getitem__(self, name: str) -> Component:
        c = self._loaded.get(name)
        if c is None:
            c = self._loaded[name] = load_component(self._files[name])
        return c

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


@dataclass
class Project:
    root: Path
    config_path: Path
    name: str
    esps: list[str]
    config: dict[str, Any]
    segments: dict[str, Segment]
    theme: Theme | None
    components: Mapping[str, Component]
    templates: dict[str, Path] = field(default_factory=dict)
    places: dict[tuple[str, ...], tuple[Pos, Pos]] = field(default_factory=dict, repr=False)

    def esp_config(self, esp: str) -> dict[str, Any]:
        return self.config.get("esp", {}).get(esp, {})

    def pos_of_key(self, table: str, key: str) -> Pos:
        """Where the value of ``key`` in ``[table]`` stands (its table's header when not found)."""
        return _find(self.places, self.config_path, (*table.split("."), key) if table else (key,))[1]


def builtin_dir(kind: str) -> Path:
    """Where the built-in components or themes live (shipped in the wheel).

    Their package's folder, which is what ``importlib.resources.files`` gives for a package installed
    as files, without importing importlib.resources (≈ 1.3 ms a start, with zipfile)."""
    return Path(importlib.import_module(f"mailwright_{kind}").__file__).parent


_KEY_PART = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")


def _key_path(text: str) -> tuple[tuple[str, ...], int] | None:
    """The dotted key at the start of ``text`` and where it ends, or None."""
    parts, i = [], 0
    while True:
        m = _KEY_PART.match(text, i)
        if not m or m.end() == i:
            return None
        basic, literal, bare = m.groups()
        parts.append(_unescape(basic) if basic is not None else literal if literal is not None else bare)
        i = m.end()
        if i < len(text) and text[i] == ".":
            i += 1
            continue
        return tuple(parts), i


_QUOTE_OR_COMMENT = re.compile(r"[\"'#]")


def _unescape(key: str) -> str:
    """A quoted key's name as tomllib reads it ("a\\"b" is a"b, "\\u00fc" is ü)."""
    if "\\" not in key:
        return key
    try:
        return tomllib.loads(f'k = "{key}"')["k"]
    except tomllib.TOMLDecodeError:
        return key


def _open_string(line: str, delim: str | None) -> str | None:
    """The multi-line string delimiter (three double or three single quotes) still open at the end of a TOML
    line, given the one open at its start; quotes inside one-line strings and comments do not count."""
    i, n = 0, len(line)
    while i < n:
        if delim is not None:
            j = line.find(delim, i)
            while j > 0 and delim == '"""' and _escaped(line, j):
                j = line.find(delim, j + 1)
            if j < 0:
                return delim
            i = j + 3
            while i < n and line[i] == delim[0]:  # up to two more quotes are content
                i += 1
            delim = None
            continue
        m = _QUOTE_OR_COMMENT.search(line, i)
        if m is None or m.group() == "#":
            return None
        c, i = m.group(), m.start()
        if line.startswith(c * 3, i):
            delim, i = c * 3, i + 3
            continue
        j = line.find(c, i + 1)
        while j > 0 and c == '"' and _escaped(line, j):
            j = line.find(c, j + 1)
        if j < 0:
            return None  # an unclosed string: tomllib has said so already
        i = j + 1
    return delim


def key_places(path: str, text: str) -> dict[tuple[str, ...], tuple[Pos, Pos]]:
    """Each key path of a TOML text -> (where the key stands, where its value starts); tomllib keeps none."""
    places: dict[tuple[str, ...], tuple[Pos, Pos]] = {}
    table: tuple[str, ...] = ()
    open_string: str | None = None
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines: U+2028, U+0085 … end no TOML line
        line = line.removesuffix("\r")
        inside, open_string = open_string is not None, _open_string(line, open_string)
        if inside:  # the line starts inside a multi-line string: no key starts on it
            continue
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if stripped.startswith("["):
            inner = stripped[2:] if stripped.startswith("[[") else stripped[1:]
            parsed = _key_path(inner)
            if parsed and inner[parsed[1]:].startswith("]"):
                table = parsed[0]
                here = Pos(path, n, indent + 1 + (len(stripped) - len(inner)) + (len(inner) - len(inner.lstrip())))
                for k in range(1, len(table) + 1):
                    places.setdefault(table[:k], (here, here))
            continue
        parsed = _key_path(line)
        if not parsed or not line[parsed[1]:].startswith("="):
            continue
        keys, end = parsed
        val = end + 1
        while val < len(line) and line[val] in " \t":
            val += 1
        key_pos, val_pos = Pos(path, n, indent + 1), Pos(path, n, val + 1 if val < len(line) else indent + 1)
        for k in range(1, len(keys)):
            places.setdefault((*table, *keys[:k]), (key_pos, key_pos))
        places.setdefault((*table, *keys), (key_pos, val_pos))
    return places


def _find(places: dict, path: Path, keys: tuple[str, ...]) -> tuple[Pos, Pos]:
    for k in range(len(keys), 0, -1):
        if keys[:k] in places:
            return places[keys[:k]]
    return Pos(str(path)), Pos(str(path))


def find_root(start: Path) -> Path:
    p, root = locate(start)
    if root is not None:
        return root
    raise MailwrightError(Pos(str(p), 0), f"no {CONFIG} in this folder or any folder above it "
                                         "(a project is a folder with mailwright.toml and templates/)")




def _fits(value: Any, want: str) -> bool:
    if want == TEXT:
        return isinstance(value, str)
    if want == TEXTS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if want == MAPPING:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return isinstance(value, dict)


def _unknown(what: str, name: str, known: list[str], where: str = "") -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {what} '{name}'{where}: {hint}(known: {', '.join(known)})"


def check_config(config: dict[str, Any], places: dict, path: Path, available_esps: list[str]) -> list[MailwrightError]:
    """Every unknown key and wrong type of mailwright.toml, each at its place (all of them, in one pass)."""
    errors: list[MailwrightError] = []

    def at(keys: tuple[str, ...], key: bool = False) -> Pos:
        return _find(places, path, keys)[0 if key else 1]

    def check_table(table: dict, schema: dict[str, Any], prefix: tuple[str, ...]) -> None:
        what, where = ("key", f" in [{'.'.join(prefix)}]") if prefix else ("section", "")
        for k, v in table.items():
            keys = (*prefix, k)
            if k not in schema:
                errors.append(MailwrightError(at(keys, key=True), _unknown(what, k, list(schema), where)))
            elif isinstance(schema[k], dict):
                if not isinstance(v, dict):
                    errors.append(MailwrightError(at(keys), f"[{'.'.join(keys)}] is a table, not {value_kind(v)}"))
                else:
                    check_table(v, schema[k], keys)
            elif schema[k] == MAPPING and isinstance(v, dict):
                for name, x in v.items():  # each entry at its own line
                    if not isinstance(x, str):
                        errors.append(MailwrightError(at((*keys, name)), f"{name} in [{'.'.join(keys)}] must be "
                                                                         f"a string, not {value_kind(x)}"))
            elif schema[k] == TEXTS and isinstance(v, list):
                if not all(isinstance(x, str) for x in v):
                    bad = next(x for x in v if not isinstance(x, str))
                    errors.append(MailwrightError(at(keys), f"{'.'.join(keys)} must be {TEXTS}; it holds "
                                                            f"{value_kind(bad)}"))
            elif not _fits(v, schema[k]):
                errors.append(MailwrightError(at(keys), f"{'.'.join(keys)} must be {schema[k]}, not {value_kind(v)}"))

    check_table(config, SCHEMA, ())
    esp = config.get("esp")
    if isinstance(esp, dict):
        for name, table in esp.items():
            keys = ("esp", name)
            if name not in available_esps:
                errors.append(MailwrightError(at(keys, key=True), _unknown("ESP", name, available_esps)))
            elif not isinstance(table, dict):
                errors.append(MailwrightError(at(keys), f"[esp.{name}] is a table, not {value_kind(table)}"))
            else:
                schema = _esp_schema(name)
                if schema is not None:
                    check_table(table, schema, keys)
    return errors


def _esp_schema(name: str) -> dict[str, str] | None:
    """What ``[esp.NAME]`` may hold, as the ESP's connector declares it (None: not declared)."""
    from .dialect import load_connectors

    conn = load_connectors().get(name)
    return dict(conn.config) if conn is not None and conn.config else None


def load_project(path: Path, available_esps: list[str]) -> Project:
    root = find_root(path)
    cfg_path = root / CONFIG
    text = read_text(cfg_path, what="configuration file").removeprefix("\ufeff")
    config = load_toml(cfg_path, text)
    places = key_places(str(cfg_path), text)
    errors = check_config(config, places, cfg_path, available_esps)

    def at(*keys: str) -> Pos:
        return _find(places, cfg_path, keys)[1]

    proj = config.get("project", {}) if isinstance(config.get("project"), dict) else {}
    name = proj.get("name")
    if isinstance(config.get("project"), dict | None) and name is None:
        errors.append(MailwrightError(at("project"), '[project] name must be set, as name = "shop" '
                                                     "(letters, digits, '-' or '_')"))
    elif isinstance(name, str) and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        errors.append(MailwrightError(at("project", "name"), f"[project] name '{name}': use letters, digits, "
                                                             "'-' or '_' (it names what push creates)"))
    esps = proj.get("esps", available_esps)
    if isinstance(esps, list) and all(isinstance(e, str) for e in esps):
        if not esps:
            errors.append(MailwrightError(at("project", "esps"), "[project] esps is empty: name at least one ESP "
                                                                 f"({', '.join(available_esps)})"))
        for e in esps:
            if e not in available_esps:
                errors.append(MailwrightError(at("project", "esps"), _unknown("ESP", e, available_esps)))
    segments = {}
    if isinstance(config.get("segments"), dict):
        for k, v in config["segments"].items():
            if not k.isidentifier():
                errors.append(MailwrightError(_find(places, cfg_path, ("segments", k))[0], f"segment name '{k}': "
                                              "use letters, digits and '_' (it is written segment.NAME)"))
            elif isinstance(v, str):
                segments[k] = Segment(k, v, at("segments", k))
    errors += _segment_errors(segments)
    theme_name = proj.get("theme")

    own = []
    for f in user_files(root / "components", "*.mjml", errors):
        try:
            own.append(load_component(f))
        except MailwrightError as e:  # every component's mistakes, with the config's, in one pass
            errors.append(e)
    components = Components(sorted(builtin_dir("components").glob("*.mjml")), own)
    theme = None
    if isinstance(theme_name, str) and theme_name:
        for d in (root / "themes", builtin_dir("themes")):
            f = d / f"{theme_name}.toml"
            if f.exists():
                try:
                    theme = load_theme(f)
                except MailwrightError as e:
                    errors.append(e)
                break
        else:
            errors.append(MailwrightError(at("project", "theme"), f"unknown theme '{theme_name}'"))
    templates = {f.stem: f for f in user_files(root / "templates", "*.mjml", errors)}
    if errors:
        raise errors[0] if len(errors) == 1 else MailwrightErrors([d for e in errors for d in e.diagnostics])
    return Project(root, cfg_path, name, list(esps), config, segments, theme, components, templates, places)


MAX_SEGMENT_DEPTH = 50  # segments using segments: each level is a few frames of expr's recursive reader
MAX_SEGMENT_USES = 10_000  # a segment is written out at each use: s2 = "segment.s1 and segment.s1" … doubles
_SEGMENT_USE = re.compile(r"\bsegment\s*\.\s*([A-Za-z_]\w*)")


def _segment_errors(segments: dict[str, Segment]) -> list[MailwrightError]:
    """Every segment is read when the project loads, used or not: a bad one is the config's error even
    before a template uses it. A cycle is reported once, at the first of its segments; a chain of
    segments deeper than MAX_SEGMENT_DEPTH once, at its top, and so the largest expansion past
    MAX_SEGMENT_USES (segments doubling at each level take 2^N reads: a "billion laughs")."""
    if not segments:
        return []
    from .expr import Scope, parse_condition

    errors: list[MailwrightError] = []
    depth, below, size = _segment_depths(segments)
    deepest = max(depth, key=depth.__getitem__)
    if depth[deepest] > MAX_SEGMENT_DEPTH:
        chain: list[str | None] = [deepest]
        while chain[-1] is not None:
            chain.append(below[chain[-1]])
        shown = " -> ".join(map(str, chain[:3] + ["…", chain[-2]]))
        errors.append(MailwrightError(segments[deepest].pos, f"segments use one another {depth[deepest]} deep "
                                      f"(at most {MAX_SEGMENT_DEPTH}): {shown}"))
    largest = max(size, key=size.__getitem__)
    if size[largest] > MAX_SEGMENT_USES and depth[largest] <= MAX_SEGMENT_DEPTH:
        errors.append(MailwrightError(segments[largest].pos, f"segment '{largest}' expands to more than "
                                      f"{MAX_SEGMENT_USES:,} segment uses (each use is written out in full): "
                                      "use fewer segments inside segments"))
    seen: set[tuple[Pos, str]] = set()
    cycles: set[frozenset[str]] = set()
    for name, seg in segments.items():
        if depth[name] > MAX_SEGMENT_DEPTH or size[name] > MAX_SEGMENT_USES:
            continue
        try:
            parse_condition(seg.source, seg.pos, Scope(segments, (), (name,)))
        except RecursionError:  # a backstop: at MAX_SEGMENT_DEPTH expr has over twice the stack it needs
            errors.append(MailwrightError(seg.pos, f"segment '{name}' nests too deeply"))
        except MailwrightError as e:
            for d in e.diagnostics:
                if d.message.startswith("segment cycle: "):
                    members = frozenset(d.message.removeprefix("segment cycle: ").split(" -> "))
                    if members in cycles:
                        continue
                    cycles.add(members)
                if (d.pos, d.message) not in seen:
                    seen.add((d.pos, d.message))
                    errors.append(MailwrightError(d.pos, d.message, d.notes))
    return errors


def _segment_depths(segments: dict[str, Segment]) -> tuple[dict[str, int], dict[str, str | None], dict[str, int]]:
    """Each segment's longest chain of segments it uses (1: none), the next segment on that chain, and
    how many segments its expansion reads (itself included, capped past MAX_SEGMENT_USES); cycles cut.
    Without recursion, since the chains may be as long as the file."""
    uses = {n: [u for u in _SEGMENT_USE.findall(s.source) if u in segments] for n, s in segments.items()}
    depth: dict[str, int] = {}
    below: dict[str, str | None] = {}
    size: dict[str, int] = {}
    for start in segments:
        if start in depth:
            continue
        stack, on_path = [(start, iter(uses[start]))], {start}
        while stack:
            name, todo = stack[-1]
            u = next(todo, None)
            if u is None:
                stack.pop()
                on_path.discard(name)
                done = [v for v in uses[name] if v in depth]
                below[name] = max(done, key=depth.__getitem__, default=None)
                depth[name] = 1 + (depth[below[name]] if below[name] else 0)
                size[name] = min(1 + sum(size[v] for v in uses[name] if v in size), MAX_SEGMENT_USES + 1)
            elif u not in depth and u not in on_path:
                stack.append((u, iter(uses[u])))
                on_path.add(u)
    return depth, below, size
