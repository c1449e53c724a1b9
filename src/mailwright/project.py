"""A user's project: ``mailwright.toml``, templates, components, themes, flows."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .compose import Component, Theme, _toml_pos, load_component, load_theme
from .errors import MailwrightError, Pos

CONFIG = "mailwright.toml"


@dataclass(frozen=True)
class Segment:
    name: str
    source: str
    pos: Pos


@dataclass
class Project:
    root: Path
    config_path: Path
    name: str
    esps: list[str]
    config: dict[str, Any]
    segments: dict[str, Segment]
    theme: Theme | None
    components: dict[str, Component]
    templates: dict[str, Path] = field(default_factory=dict)

    def esp_config(self, esp: str) -> dict[str, Any]:
        return self.config.get("esp", {}).get(esp, {})

    def pos_of_key(self, table: str, key: str) -> Pos:
        return _key_pos(self.config_path, table, key)


def builtin_dir(kind: str) -> Path:
    """Where the built-in components or themes live (shipped in the wheel)."""
    return Path(str(resources.files(f"mailwright_{kind}")))


def _key_pos(path: Path, table: str, key: str) -> Pos:
    """Line and column of ``key`` inside ``[table]`` (tomllib keeps no positions)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    current = None
    head = re.compile(r"\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    keyre = re.compile(r'\s*("?)' + re.escape(key) + r'\1\s*=')
    for i, line in enumerate(lines):
        m = head.match(line)
        if m:
            current = m.group(1).replace(" ", "")
            continue
        if current == table and keyre.match(line):
            col = len(line) - len(line.lstrip()) + 1
            val = line.find("=") + 1
            while val < len(line) and line[val] == " ":
                val += 1
            return Pos(str(path), i + 1, val + 1 if val < len(line) else col)
    return Pos(str(path), 1, 1)


def find_root(start: Path) -> Path:
    p = start.resolve()
    if p.is_file():
        p = p.parent
    for cand in (p, *p.parents):
        if (cand / CONFIG).exists():
            return cand
    raise MailwrightError(Pos(str(start)), f"no {CONFIG} here or in any parent directory")


def load_project(path: Path, available_esps: list[str]) -> Project:
    root = find_root(path)
    cfg_path = root / CONFIG
    try:
        config = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise MailwrightError(_toml_pos(str(cfg_path), e), f"invalid TOML: {e}") from None
    proj = config.get("project", {})
    name = proj.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name or ""):
        raise MailwrightError(_key_pos(cfg_path, "project", "name"),
                              "[project] name must be set: letters, digits, '-' or '_'")
    esps = proj.get("esps", available_esps)
    if not isinstance(esps, list):
        raise MailwrightError(_key_pos(cfg_path, "project", "esps"), "[project] esps must be a list")
    for e in esps:
        if e not in available_esps:
            raise MailwrightError(_key_pos(cfg_path, "project", "esps"),
                                  f"unknown ESP '{e}' (installed: {', '.join(available_esps)})")
    segments = {}
    for k, v in config.get("segments", {}).items():
        pos = _key_pos(cfg_path, "segments", k)
        if not isinstance(v, str):
            raise MailwrightError(pos, f"segment '{k}' must be a string expression")
        segments[k] = Segment(k, v, pos)

    components: dict[str, Component] = {}
    for d in (builtin_dir("components"), root / "components"):
        if d.is_dir():
            for f in sorted(d.glob("*.mjml")):
                components[f.stem] = load_component(f)  # the project's own win
    theme = None
    theme_name = proj.get("theme")
    if theme_name:
        for d in (root / "themes", builtin_dir("themes")):
            f = d / f"{theme_name}.toml"
            if f.exists():
                theme = load_theme(f)
                break
        else:
            raise MailwrightError(_key_pos(cfg_path, "project", "theme"), f"unknown theme '{theme_name}'")
    templates = {f.stem: f for f in sorted((root / "templates").glob("*.mjml"))}
    return Project(root, cfg_path, name, list(esps), config, segments, theme, components, templates)
