"""Fuzz: no input a designer can write reaches an internal error (issue 11).

Random bytes, BOMs, deep nesting and malformed TOML / YAML / MJML written into a
small project's mailwright.toml, template, flow and sample must only ever give
exit 0 or 1, with every error as ``PATH:LINE:COL: error:`` (or ``PATH: error:``
for a whole file) — never exit 70, never a traceback.

In CI: a fixed seed and a bounded number of examples (the whole file in seconds).
Longer: ``python -m pytest tests/test_fuzz.py --hypothesis-profile=long``.
"""

import re
import shutil
import tempfile
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailwright.cli import main
from mailwright.errors import MailwrightError
from tests.conftest import make_project, text_email

LONG = settings.default.max_examples == settings.get_profile("long").max_examples
FUZZ = settings(settings.default if LONG else settings(derandomize=True, max_examples=60, database=None),
                deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

EVENTS = ('[esp.klaviyo.events]\ncart_abandoned = "Cart"\n[esp.hubspot.events]\ncart_abandoned = "pe1_cart"\n'
          '[esp.hubspot.properties]\n"event.cart_value" = "cart_value"\n'
          '[esp.activecampaign.fields]\n"event.cart_value" = "CART_VALUE"\n')
TEMPLATE = text_email("Hi {{ profile.first_name | default('there') }}{% if segment.vip %} VIP{% endif %}")
FLOW = ("name: Cart\ntrigger:\n  event: cart_abandoned\n  where: \"event.cart_value > 0\"\nreentry: 3d\n"
        "limits:\n  max_emails: 1\n  per: 24h\n  quiet_hours: \"21:00-08:00\"\nsteps:\n  - wait: 30m\n"
        "  - branch:\n      when: \"segment.vip\"\n      then:\n        - send: t\n      else:\n        - send: t\n")
SAMPLE = "profile:\n  first_name: Ada\n  tier: gold\nevent:\n  cart_value: 12.5\n"
SEGMENTS = '[segments]\nvip = \'profile.tier in ["gold", "vip"]\'\n'

TOKENS = {  # pieces that matter to each format's parser
    "toml": ["[", "]", "[[", "{", "}", "=", '"', "'", '"""', "\n", "#", ",", ".", "1", "true", "1979-05-27",
             "[project]", "[esp.klaviyo]", "name", "esps", "theme", "\ufeff", "\\", "inf", "[]", "{}"],
    "yaml": ["&a ", "*a", "<<: ", "- ", ": ", "[", "]", "{", "}", "\n", "  ", '"', "'", "!!int ", "!!binary ",
             "!!python/object ", "!!float ", "!!timestamp ", "!!bool ", "!!binary", "---\n", "? ", "|", ">", "%YAML 1.1\n", "~", "1e999", "2020-13-45", "\t", "\x85"],
    "mjml": ["<", ">", "</", "/>", "<mj-section>", "<mj-column>", "<mj-text>", "<mj-include path=\"x\"/>",
             "{{", "}}", "{%", "%}", "if ", "endif", "for x in ", "[[", "]]", "<x-footer/>", "\"", "&", "&#0;",
             "<!--", "-->", "<![CDATA[", "|", "default(", ")", "'"],
}


def project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="mw-fuzz-"))
    make_project(root, {"t": TEMPLATE}, SEGMENTS + EVENTS)
    (root / "flows").mkdir()
    (root / "flows" / "cart.yaml").write_text(FLOW)
    (root / "samples").mkdir()
    (root / "samples" / "s.yaml").write_text(SAMPLE)
    return root


FILES = {"toml": "mailwright.toml", "mjml": "templates/t.mjml", "yaml": "flows/cart.yaml", "sample": "samples/s.yaml"}
DIAG = re.compile(r"^(?P<path>[^\n]+?)(?::\d+:\d+)?: (?:error|warning|note): ")


def mutated(kind: str) -> st.SearchStrategy[bytes]:
    """A valid file of this kind with random edits: pieces of its syntax, any text, bytes."""
    tokens = TOKENS["yaml" if kind == "sample" else kind]
    piece = st.one_of(st.sampled_from(tokens), st.text(max_size=8), st.binary(max_size=4).map(
        lambda b: b.decode("latin-1")))
    edit = st.tuples(st.floats(0, 1), st.integers(0, 6), st.lists(piece, max_size=4).map("".join))
    return st.lists(edit, min_size=1, max_size=5).map(lambda edits: _apply(kind, edits))


def _apply(kind: str, edits) -> bytes:
    base = {"toml": None, "mjml": TEMPLATE, "yaml": FLOW, "sample": SAMPLE}[kind]
    text = base if base is not None else ""
    for at, cut, insert in edits:
        i = int(at * len(text))
        text = text[:i] + insert + text[i + cut:]
    return text.encode("utf-8", "surrogatepass") if kind != "toml" else text.encode("utf-8", "surrogatepass")


def nested(kind: str) -> st.SearchStrategy[bytes]:
    opens = {"toml": ("a = ", "[", "]"), "yaml": ("steps: ", "[", "]"), "sample": ("profile: ", "{a: ", "}"),
             "mjml": ("", "<mj-section><mj-column>", "</mj-column></mj-section>")}[kind]
    depth = st.one_of(st.sampled_from([99, 100, 101, 400, 1000, 5000]), st.integers(1, 5000))
    return depth.map(lambda n: (opens[0] + opens[1] * n + opens[2] * (n % 3 == 0) * n).encode())


def typed(kind: str) -> st.SearchStrategy[bytes]:
    """Well-formed YAML of the wrong shapes and types (where a string belongs: a list, a number, …)."""
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=10),
                     st.sampled_from(["cart_abandoned", "t", "30m", "21:00-08:00", "event.cart_value > 0", ""]))
    keys = st.sampled_from(["name", "trigger", "event", "where", "steps", "wait", "send", "branch", "when",
                            "then", "else", "split", "percent", "limits", "per", "max_emails", "quiet_hours",
                            "reentry", "exit_on", "audience", "profile", "duration", "until", "a"])
    tree = st.recursive(leaf, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                     st.dictionaries(keys, kids, max_size=4)), max_leaves=20)
    return tree.map(lambda v: yaml.safe_dump(v, allow_unicode=True).encode())


def content(kind: str) -> st.SearchStrategy[bytes]:
    boms = st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"])
    body = [st.binary(max_size=200), mutated(kind), nested(kind)]
    if kind in ("yaml", "sample"):
        body.append(typed(kind))
    return st.tuples(boms, st.one_of(*body)).map(lambda t: t[0] + t[1])


def run_compile(root: Path) -> None:
    r = CliRunner().invoke(main, ["compile", str(root), "--out", str(root / "build")])
    assert r.exception is None or isinstance(r.exception, SystemExit), (r.output, r.exception)
    assert r.exit_code in (0, 1), r.output
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    for line in r.stderr.splitlines():
        if ": error: " in line.split("\n")[0] and not line.startswith(" "):
            m = DIAG.match(line)
            assert m, line
            assert m.group("path") != "." and not m.group("path").startswith("<"), line


def fuzz_one(kind: str, data: bytes) -> None:
    root = project()
    try:
        (root / FILES[kind]).write_bytes(data)
        if kind == "sample":
            from mailwright.sendtest import load_sample

            try:
                load_sample(root, "s")
            except MailwrightError as e:
                for d in e.diagnostics:
                    assert d.pos.path.startswith(str(root)), d.format()
        else:
            run_compile(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@FUZZ
@given(content("toml"))
def test_fuzz_config(data):
    fuzz_one("toml", data)


@FUZZ
@given(content("mjml"))
def test_fuzz_template(data):
    fuzz_one("mjml", data)


@FUZZ
@given(content("yaml"))
def test_fuzz_flow(data):
    fuzz_one("yaml", data)


@FUZZ
@given(content("sample"))
def test_fuzz_sample(data):
    fuzz_one("sample", data)


def test_the_base_project_compiles():
    """The fuzz starts from a valid project: a test that cannot pass by everything being an error."""
    root = project()
    try:
        r = CliRunner().invoke(main, ["compile", str(root), "--out", str(root / "build")])
        assert r.exit_code == 0, r.output
        from mailwright.sendtest import load_sample

        assert load_sample(root, "s").source is not None
    finally:
        shutil.rmtree(root, ignore_errors=True)
