"""Reading a user's files: every decoding, size, kind, depth and alias problem is a located error.

Everything a designer writes (mailwright.toml, templates, components, themes,
flows, samples) is read through here, so that no input can reach an internal
error: FIFOs, devices and folders are refused without being opened for a
blocking read, symlink loops are named, a UTF-8 BOM is accepted, UTF-16/32
with a BOM is decoded, invalid UTF-8 points at the byte, sizes are bounded,
YAML aliases have a budget and nesting has a depth limit.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import functools
import os
import re
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import MailwrightError, MailwrightErrors, Pos

if TYPE_CHECKING:
    import yaml

MAX_BYTES = 5 * 1024 * 1024
# Set by mailwright.cache while it records what a compile reads: every file read here, as (path, bytes).
reads: list[tuple[str, bytes]] | None = None
MAX_DEPTH = 100  # nesting of YAML/TOML collections; real files stay under 15
ALIAS_BUDGET = 100_000  # nodes that aliases may add when expanded (a "billion laughs" adds billions)

_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _os_error(path: str, what: str, e: OSError) -> MailwrightError:
    if e.errno == errno.ELOOP:
        return MailwrightError(Pos(path, 0), f"cannot read this {what}: a symbolic link loop")
    if e.errno == errno.ENOENT:
        msg = "it does not exist" + (" (a broken symbolic link)" if os.path.islink(path) else "")
        return MailwrightError(Pos(path, 0), f"cannot read this {what}: {msg}")
    if e.errno in (errno.EACCES, errno.EPERM):
        return MailwrightError(Pos(path, 0), f"cannot read this {what}: permission denied")
    return MailwrightError(Pos(path, 0), f"cannot read this {what}: {e.strerror or e}")


def read_bytes(path: Path | str, *, what: str = "file", max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of a user's regular file (symlinks followed), at most ``max_bytes``."""
    p = str(path)
    try:
        st = os.stat(p)  # follows symlinks; a loop is ELOOP
    except OSError as e:
        raise _os_error(p, what, e) from None
    if not stat.S_ISREG(st.st_mode):
        raise MailwrightError(Pos(p, 0), f"expected a {what}, found {_kind(st.st_mode)}")
    if st.st_size > max_bytes:
        raise _too_big(p, what, max_bytes)
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since the stat, opening must not hang
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise _os_error(p, what, e) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise MailwrightError(Pos(p, 0), f"expected a {what}, found {_kind(st.st_mode)}")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise _os_error(p, what, e) from None
    finally:
        os.close(fd)
    if size > max_bytes:
        raise _too_big(p, what, max_bytes)
    data = b"".join(chunks)
    if reads is not None:
        reads.append((p, data))
    return data


def _too_big(path: str, what: str, max_bytes: int) -> MailwrightError:
    return MailwrightError(Pos(path, 0), f"this {what} is larger than the limit of {_size(max_bytes)}")


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MB" if n >= 1 << 20 else f"{n} bytes"


def decode(data: bytes, path: Path | str) -> str:
    """Text from bytes: UTF-8 (a BOM is dropped), or UTF-16/UTF-32 announced by a BOM."""
    p = str(path)
    encoding, label, skip = "utf-8", "UTF-8", 0
    for bom, enc, lab in _BOMS:
        if data.startswith(bom):
            encoding, label, skip = enc, lab, len(bom)
            break
    body = data[skip:]
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as e:
        good = body[:e.start].decode(encoding, errors="replace")
        bad = body[e.start:e.end][:4].hex(" ").replace(" ", " 0x")
        raise MailwrightError(_pos_in(p, good, len(good)), f"not valid {label} (byte 0x{bad})") from None
    nul = text.find("\0")
    if nul >= 0:
        raise MailwrightError(_pos_in(p, text, nul), "a NUL character: this looks like a binary file, not text")
    return text


def _pos_in(path: str, text: str, index: int) -> Pos:
    line = text.count("\n", 0, index) + 1
    return Pos(path, line, index - (text.rfind("\n", 0, index) + 1) + 1)


def user_files(folder: Path, pattern: str, errors: list[MailwrightError]) -> list[Path]:
    """The files of a project folder matching ``pattern``, by name; hidden ones (an editor's lock file
    ``.#welcome.mjml``, a Mac's ``._welcome.mjml``) are not the user's. A file where the folder
    should be is an error."""
    if not folder.is_dir():
        if folder.exists() or folder.is_symlink():
            found = "a file" if folder.is_file() else "something else"
            errors.append(MailwrightError(Pos(str(folder), 0), f"expected a folder of {pattern} files, found {found}"))
        return []
    return sorted(f for f in folder.glob(pattern) if not f.name.startswith("."))


def read_text(path: Path | str, *, what: str = "file", max_bytes: int = MAX_BYTES) -> str:
    """A user's text file, decoded; any problem is ``PATH[:LINE:COL]: error: …``."""
    return decode(read_bytes(path, what=what, max_bytes=max_bytes), path)


# ---------------------------------------------------------------- TOML

_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


def load_toml(path: Path | str, text: str | None = None, *, what: str = "TOML file") -> dict[str, Any]:
    """A TOML file as a dict; syntax errors at their line:col, nesting bounded."""
    p = str(path)
    if text is None:
        text = read_text(path, what=what)
    text = text.removeprefix("\ufeff")
    deep = _too_deep_toml(text)
    if deep is not None:
        raise MailwrightError(_pos_in(p, text, deep), f"nested more than {MAX_DEPTH} levels deep")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _TOML_AT.search(msg)
        if m:
            pos = Pos(p, int(m.group(1)), int(m.group(2)))
        elif "end of document" in msg:
            pos = _pos_in(p, text, len(text))
        else:
            pos = Pos(p)
        raise MailwrightError(pos, f"invalid TOML: {_TOML_AT.sub('', msg).replace('(at end of document)', '').strip()}") from None
    except RecursionError:  # pragma: no cover - _too_deep_toml refuses such input first
        raise MailwrightError(Pos(p), f"nested more than {MAX_DEPTH} levels deep") from None


_TOML_STOP = re.compile(r"""["'#\[\]{}.=,\n]""")


def _too_deep_toml(text: str) -> int | None:
    """Index where nesting passes MAX_DEPTH (strings and comments skipped), else None.

    Nesting comes from ``[``/``{`` and from dotted keys and headers (``[a.b.c]``, ``a.b.c = 1``): a key
    of 200,000 parts is a dict 200,000 deep, which tomllib takes minutes to build (quadratic) and JSON
    cannot encode. A float's dot counts too: an over-estimate of one level."""
    if text.count("[") + text.count("{") + text.count(".") <= MAX_DEPTH:
        return None
    stack: list[int] = []  # for each open [ or { of a value: the dots of the key before it
    header = run = nested = 0  # dots of the current [table] header, of the key being read, sum(stack)
    in_header = after_eq = False
    i, n = 0, len(text)
    while True:
        m = _TOML_STOP.search(text, i)
        if m is None:
            return None
        i = m.start()
        c = text[i]
        if c in "\"'":
            triple = text.startswith(c * 3, i)
            end = text.find(c * 3 if triple else c, i + (3 if triple else 1))
            while end > 0 and c == '"' and not triple and _escaped(text, end):
                end = text.find(c, end + 1)
            i = n if end < 0 else end + (3 if triple else 1)
            continue
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == ".":
            run += 1
        elif c == "[" and not stack and not after_eq and not in_header:
            in_header, header, run = True, 0, 0
            if text.startswith("[[", i):
                i += 1
        elif c == "]" and in_header:
            in_header, header, run = False, run, 0
            if text.startswith("]]", i):
                i += 1
        elif c in "[{":
            stack.append(run)
            nested += run
            run = 0
        elif c in "]}":
            nested -= stack.pop() if stack else 0
            run = 0
        elif c == "=":
            after_eq = True
        else:  # newline or comma: the next key starts
            run = 0
            if c == "\n":
                after_eq = False
        if header + len(stack) + nested + run > MAX_DEPTH:
            return i
        i += 1


def _escaped(text: str, i: int) -> bool:
    k = i - 1
    while k >= 0 and text[k] == "\\":
        k -= 1
    return (i - 1 - k) % 2 == 1


# ---------------------------------------------------------------- YAML
# PyYAML is imported at the first YAML file read (≈ 9 ms a start; a project without flows reads none).

@functools.cache
def _loader_class() -> type:
    import yaml
    from yaml.events import AliasEvent

    class _Loader(yaml.SafeLoader):
        """Composes with a depth limit and an alias budget, and refuses recursive aliases."""

        def __init__(self, stream: str, path: str):
            super().__init__(stream)
            self._path = path
            self._depth = 0
            self._sizes: dict[int, int] = {}  # expanded size of each finished node
            self._added = 0  # nodes aliases add when expanded

        def compose_node(self, parent, index):  # noqa: ANN001, ANN201 - PyYAML's signature
            if self.check_event(AliasEvent):
                event = self.peek_event()
                target = self.anchors.get(event.anchor)
                if target is not None:
                    if target.end_mark is None:  # still being composed: the alias is inside its anchor
                        raise _located(self._path, event.start_mark, f"the alias *{event.anchor} refers to a "
                                       "collection that contains it (a recursive structure)")
                    self._added += self._sizes.get(id(target), 1)
                    if self._added > ALIAS_BUDGET:
                        raise _located(self._path, event.start_mark, f"aliases expand to more than {ALIAS_BUDGET:,} "
                                       "values (an alias bomb?); write the values out or use fewer aliases")
                return super().compose_node(parent, index)
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _located(self._path, self.peek_event().start_mark, f"nested more than {MAX_DEPTH} levels deep")
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            self._sizes[id(node)] = 1 + sum(self._size(c) for c in _children(node))
            return node

        def _size(self, node) -> int:  # noqa: ANN001
            return self._sizes.get(id(node), 1)

    return _Loader


def _children(node) -> list:  # noqa: ANN001
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    return []


def _yaml_message(e: yaml.MarkedYAMLError) -> str:  # noqa: F821 - a string (TYPE_CHECKING)
    return ", ".join(m for m in (e.context, e.problem) if m) or str(e)


def _located(path: str, mark, message: str) -> MailwrightError:  # noqa: ANN001
    return MailwrightError(Pos(path, mark.line + 1, mark.column + 1) if mark else Pos(path), message)


def compose_yaml(path: Path | str, text: str | None = None, *, what: str = "YAML file") -> yaml.Node | None:
    """The YAML node tree (with marks) of a single-document file; None when the file is empty."""
    import yaml

    p = str(path)
    if text is None:
        text = read_text(path, what=what)
    text = text.removeprefix("\ufeff")
    loader = None
    try:
        loader = _loader_class()(text, p)
        return loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise _located(p, mark, f"invalid YAML: {_yaml_message(e)}") from None
    except yaml.reader.ReaderError as e:
        what_char = f"character U+{e.character:04X}" if isinstance(e.character, int) else "byte"
        raise MailwrightError(_pos_in(p, text, e.position), f"invalid YAML: {what_char} not allowed ({e.reason})") from None
    except yaml.YAMLError as e:
        raise MailwrightError(Pos(p), f"invalid YAML: {e}") from None
    finally:
        if loader is not None:
            loader.dispose()


def construct(node: yaml.Node, path: Path | str) -> Any:
    """The plain value of a composed node (safe tags only); a bad scalar is a located error, and so is a
    key given twice in one mapping (PyYAML keeps the last and drops the first without a word)."""
    import yaml
    from yaml.constructor import SafeConstructor

    seen, todo, twice = set(), [node], []
    while todo:  # each scalar first on its own, so that a bad one is named at its place
        n = todo.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.ScalarNode):
            if n.tag != "tag:yaml.org,2002:merge":  # '<<' is read by the mapping that holds it
                construct_scalar(n, path)
        else:
            todo.extend(_children(n))
            if isinstance(n, yaml.MappingNode):
                twice += _keys_twice(n, str(path))
    if twice:
        twice.sort(key=lambda e: (e.diagnostic.pos.line, e.diagnostic.pos.col))
        raise twice[0] if len(twice) == 1 else MailwrightErrors([e.diagnostic for e in twice])
    with _constructing(path, node):
        return SafeConstructor().construct_document(node)


def _keys_twice(node: yaml.MappingNode, path: str) -> list[MailwrightError]:
    """Each scalar key of a mapping given again (merged '<<' keys may be overridden: that is what they are for)."""
    import yaml

    first: dict[Any, Any] = {}
    errors = []
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
            continue
        key = construct_scalar(k, path)
        try:
            other = first.setdefault(key, k)
        except TypeError:  # an unhashable key: PyYAML names it when it builds the mapping
            continue
        if other is not k:
            same = "given twice" if k.value == other.value else f"the same key as '{other.value}'"
            errors.append(_located(path, k.start_mark, f"'{k.value}' is {same}").with_note(
                Pos(path, other.start_mark.line + 1, other.start_mark.column + 1), "first given here"))
    return errors


def construct_scalar(node: yaml.Node, path: Path | str) -> Any:
    """One scalar's value (``!!int``, ``!!timestamp``, … resolved); a bad one is a located error."""
    from yaml.constructor import SafeConstructor

    with _constructing(path, node):
        return SafeConstructor().construct_object(node)


@contextlib.contextmanager
def _constructing(path: Path | str, node: yaml.Node) -> Iterator[None]:
    """PyYAML's constructors, their failures located in the user's file."""
    import yaml

    try:
        yield
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark or node.start_mark
        raise _located(str(path), mark, f"invalid YAML: {e.problem or e}") from None
    except Exception as e:  # PyYAML's constructors fail in many ways on odd scalars ('!!int ' is an IndexError)
        raise _located(str(path), node.start_mark, f"invalid YAML value: {e or type(e).__name__}") from None


def load_yaml(path: Path | str, text: str | None = None, *, what: str = "YAML file") -> tuple[Any, yaml.Node | None]:
    """A YAML file's value and its node tree (for positions); (None, None) when empty."""
    node = compose_yaml(path, text, what=what)
    if node is None:
        return None, None
    return construct(node, path), node


__all__ = ["MAX_BYTES", "MAX_DEPTH", "ALIAS_BUDGET", "read_bytes", "decode", "read_text",
           "load_toml", "compose_yaml", "construct", "construct_scalar", "load_yaml"]


def value_kind(value: Any, *, yaml: bool = False) -> str:
    """What a value from a user's file is, in words for a message ("a table", "a list", …):
    TOML's words by default, YAML's (mapping, text) with ``yaml``."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text" if yaml else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping" if yaml else "a table"
    return "a date or time"
