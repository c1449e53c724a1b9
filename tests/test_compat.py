"""MJML written by others, unharmed: the compatibility suite (tests/compat/, see SOURCE.md).

Each corpus file gets a subject and the built-in footer, is compiled for all three ESPs in one run, and
each ESP's email (rendered by the reference renderer for an empty recipient) is compared with what the
engine alone renders from the file (tests/compat/engine.py): the visible text, the multiset of link and
image URLs, and the pixels above the footer in headless Chromium at 600 px (≤ 0.5% may differ). All
three comparisons for every ESP; Chromium runs offline, so remote images and fonts are absent on both sides.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from mailwright.reference import visible_text
from tests.compat.engine import engine_html
from tests.conftest import ROOT

COMPAT = ROOT / "tests" / "compat"
CORPUS = COMPAT / "corpus"
ESPS = ("klaviyo", "hubspot", "activecampaign")
CHROMIUM = "/usr/bin/chromium"
PIXEL_ESPS = ESPS
MAX_DIFF = 0.005  # share of differing pixels allowed above the footer
SUBJECT = "<mw-subject>Compatibility</mw-subject>"
FOOTER = '<x-footer company="Compat Co."/>'
# The footer needs theme tokens; a theme of tokens alone adds nothing to the file's own MJML.
THEME = """[tokens]
text = "#1f2328"
muted = "#6e7781"
border = "#d0d7de"
accent = "#fff8c5"
on_accent = "#1f2328"
heading_font = "Helvetica, Arial, sans-serif"
heading_size = "28px"
heading_weight = "700"
heading_transform = "none"
code_font = "'Courier New', Courier, monospace"
"""
FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.mjml"))
EXCLUDED = dict(re.findall(r"^- `([^`]+)`: (.*)$", (COMPAT / "EXCLUDED.md").read_text(), re.M))

# Files mailwright does not yet compile as the engine renders them, with the cause. A fix makes its
# files pass, and strict xfail then forces them off this list.
KNOWN_FAILING: dict[str, str] = {}


# ------------------------------------------------------------------ preparing a file

def with_subject_and_footer(src: str) -> str:
    """The file as a mailwright template: a subject in mj-head, the footer closing mj-body."""
    head = re.search(r"<mj-head(?=[\s>/])[^>]*?(/?)>", src)
    if head and head.group(1):  # <mj-head/>
        src = src[:head.start()] + f"<mj-head>{SUBJECT}</mj-head>" + src[head.end():]
    elif head:
        src = src[:head.end()] + SUBJECT + src[head.end():]
    else:
        root = re.search(r"<mjml(?=[\s>])[^>]*>", src)
        src = src[:root.end()] + f"<mj-head>{SUBJECT}</mj-head>" + src[root.end():]
    closing = list(re.finditer(r"</mj-body\s*>", src))
    if closing:
        at = closing[-1].start()
        return src[:at] + FOOTER + src[at:]
    empty = re.search(r"<mj-body(?=[\s/])([^>]*?)/>", src)
    if empty:
        return src[:empty.start()] + f"<mj-body{empty.group(1)}>{FOOTER}</mj-body>" + src[empty.end():]
    at = src.rindex("</mjml")
    return src[:at] + f"<mj-body>{FOOTER}</mj-body>" + src[at:]


def compile_all_esps(name: str, src: str) -> tuple[list[str], dict, dict]:
    """One mailwright run for the three ESPs: (errors, {esp: Output}, {esp: its config})."""
    from mailwright.compile import compile_project
    from mailwright.dialect import load_connectors
    from mailwright.project import load_project

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "templates").mkdir()
        (root / "themes").mkdir()
        (root / "themes" / "tokens.toml").write_text(THEME)
        esps = ", ".join(f'"{e}"' for e in ESPS)
        (root / "mailwright.toml").write_text(f'[project]\nname = "compat"\nesps = [{esps}]\ntheme = "tokens"\n'
                                              '[brand]\nhelp_url = "https://help.compat.test/"\n')
        (root / "templates" / f"{name}.mjml").write_bytes(src.encode("utf-8"))
        project = load_project(root, list(load_connectors()))
        result = compile_project(project)
        return ([d.format() for d in result.errors], {o.esp: o for o in result.outputs},
                {e: project.esp_config(e) for e in ESPS})


def for_empty_recipient(outputs: dict, configs: dict) -> dict[str, str]:
    """Each ESP's HTML through its reference renderer, for a recipient with no data: the tags vanish."""
    from mailwright.reference import renderers

    RENDERERS = renderers()
    empty = {"profile": {}, "event": {}}
    return {esp: RENDERERS[esp](o.html, empty, configs[esp]) for esp, o in outputs.items()}


def prettier_crlf(src: str) -> str:
    """The file as Prettier and Windows leave it: closing tags broken before '>', CRLF line ends."""
    return re.sub(r"</(mj-[a-z-]+|mjml)>", r"</\1\n  >", src).replace("\n", "\r\n")


# ------------------------------------------------------------------ what is compared

def without_footer(html: str) -> BeautifulSoup:
    soup = BeautifulSoup(html, "html.parser")
    footer = soup.find(class_="mw-footer")
    if footer is not None:
        footer.decompose()
    return soup


def urls(soup: BeautifulSoup) -> Counter:
    return Counter([("href", a["href"]) for a in soup.find_all("a", href=True)]
                   + [("src", i["src"]) for i in soup.find_all("img", src=True)])


# ------------------------------------------------------------------ pixels

COUNT_DIFFERENT = """async ([a, b, h]) => {
  const load = s => new Promise((ok, ko) => { const i = new Image(); i.onload = () => ok(i); i.onerror = ko;
                                              i.src = 'data:image/png;base64,' + s; });
  const imgs = await Promise.all([load(a), load(b)]);
  const w = 600;
  const data = imgs.map(img => { const c = document.createElement('canvas'); c.width = w; c.height = h;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0); return g.getImageData(0, 0, w, h).data; });
  let n = 0;
  for (let i = 0; i < data[0].length; i += 4)
    if (data[0][i] !== data[1][i] || data[0][i + 1] !== data[1][i + 1] || data[0][i + 2] !== data[1][i + 2]) n++;
  return n;
}"""
FOOTER_TOP = "() => { const f = document.querySelector('div.mw-footer'); return f ? f.getBoundingClientRect().top + scrollY : null; }"
CONTENT_BOTTOM = "() => Math.max(0, ...[...document.body.children].map(e => e.getBoundingClientRect().bottom + scrollY))"


class Pixels:
    """One page that renders emails (offline: every request is refused), one that compares screenshots."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 600, "height": 800}, device_scale_factor=1)
        self.page.route("**/*", lambda route: route.abort())
        self.diff = browser.new_page()

    def shoot(self, html: str, height_js: str) -> tuple[int, str]:
        """The height of the region that counts, and a screenshot of it (base64 PNG)."""
        self.page.set_content(html, wait_until="load")
        height = round(self.page.evaluate(height_js) or 0)
        if height == 0:
            return 0, ""
        png = self.page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": 600, "height": height})
        return height, base64.b64encode(png).decode()

    def differing(self, original: str, compiled: list[str]) -> list[tuple[int, int]]:
        """For each compiled email: (differing pixels, pixels compared) in the region above its footer."""
        h_orig, a = self.shoot(original, CONTENT_BOTTOM)
        found = []
        for html in compiled:
            h_comp, b = self.shoot(html, FOOTER_TOP)
            n = self.diff.evaluate(COUNT_DIFFERENT, [a, b, min(h_orig, h_comp)]) if min(h_orig, h_comp) else 0
            found.append((n + abs(h_orig - h_comp) * 600, max(h_orig, h_comp) * 600))
        return found


@pytest.fixture(scope="module")
def pixels():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield Pixels(browser)
        browser.close()


def differences(rel: str, pixels: Pixels | None) -> list[str]:
    """Every way mailwright's emails differ from the engine's for one corpus file (empty: none)."""
    src = (CORPUS / rel).read_bytes().decode("utf-8")
    expected_html = engine_html(src)
    errors, outputs, configs = compile_all_esps(Path(rel).stem, with_subject_and_footer(src))
    if errors:
        return [f"compile error: {e}" for e in errors]
    emails = for_empty_recipient(outputs, configs)
    found = []
    expected_text = visible_text(BeautifulSoup(expected_html, "html.parser"))
    expected_urls = urls(BeautifulSoup(expected_html, "html.parser"))
    for esp, html in emails.items():
        if visible_text(without_footer(html)) != expected_text:
            found.append(f"{esp}: visible text differs")
        got = urls(without_footer(html))
        if got != expected_urls:
            found.append(f"{esp}: URLs differ: missing {sorted((expected_urls - got).elements())}, "
                         f"extra {sorted((got - expected_urls).elements())}")
    if pixels is not None:
        for esp, (n, total) in zip(PIXEL_ESPS, pixels.differing(expected_html, [emails[e] for e in PIXEL_ESPS])):
            if n > MAX_DIFF * total:
                found.append(f"{esp}: {n} of {total} pixels differ above the footer")
    return found


# ------------------------------------------------------------------ the tests

COMPARED = [f for f in FILES if f not in EXCLUDED]


def test_the_corpus_is_large_and_licensed():
    assert len(COMPARED) >= 150
    assert (CORPUS / "mrml" / "LICENSE").is_file() and (CORPUS / "mjml" / "LICENSE.md").is_file()
    source = (COMPAT / "SOURCE.md").read_text()
    assert all(f"`corpus/{f}`" in source for f in FILES)


def test_excluded_is_exactly_what_the_engine_cannot_render():
    failing = set()
    for rel in FILES:
        try:
            engine_html((CORPUS / rel).read_bytes().decode("utf-8"))
        except Exception:  # whatever the engine raises
            failing.add(rel)
    assert failing == set(EXCLUDED)


def test_the_refresh_script_builds_the_corpus_from_local_clones(tmp_path):
    def clone(name: str, files: dict[str, str]) -> Path:
        d = tmp_path / name
        for path, text in files.items():
            (d / path).parent.mkdir(parents=True, exist_ok=True)
            (d / path).write_text(text)
        git = ["git", "-C", str(d), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "c"]):
            subprocess.run(git + args, check=True)
        return d

    ok = "<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>"
    mrml = clone("mrml", {"LICENSE": "MIT (mrml)", "packages/a/ok.mjml": ok,
                          "packages/a/same.mjml": ok.replace("><", ">\n  <"),
                          "packages/a/include.mjml": '<mjml><mj-body><mj-include path="x.mjml"/></mj-body></mjml>',
                          "packages/a/partial.mjml": "<mj-text>x</mj-text>",
                          "packages/a/bad.mjml": "<mjml><mj-head><mj-nope></mj-nope></mj-head><mj-body/></mjml>",
                          "elsewhere.mjml": ok.replace("Hi", "Elsewhere")})
    mjml = clone("mjml", {"LICENSE.md": "MIT (mjml)",
                          "doc/guide.md": f"Text\n```html\n{ok.replace('Hi', 'Doc')}\n```\n```js\nmjml()\n```\n"})
    spec = importlib.util.spec_from_file_location("refresh_compat", ROOT / "scripts" / "refresh_compat.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "out"
    assert script.main(["--mrml", str(mrml), "--mjml", str(mjml), "--out", str(out)]) == 0
    got = sorted(p.relative_to(out / "corpus").as_posix() for p in (out / "corpus").rglob("*") if p.is_file())
    assert got == ["mjml/LICENSE.md", "mjml/doc/guide-1.mjml", "mrml/LICENSE", "mrml/a/bad.mjml", "mrml/a/ok.mjml"]
    assert "Doc" in (out / "corpus" / "mjml" / "doc" / "guide-1.mjml").read_text()
    assert list(re.findall(r"^- `([^`]+)`", (out / "EXCLUDED.md").read_text(), re.M)) == ["mrml/a/bad.mjml"]
    assert "`corpus/mrml/a/ok.mjml` from `packages/a/ok.mjml`" in (out / "SOURCE.md").read_text()


def test_known_failing_lists_only_compared_files():
    assert set(KNOWN_FAILING) <= set(COMPARED)


@pytest.mark.parametrize("rel", [pytest.param(f, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILING[f]))
                                 if f in KNOWN_FAILING else f for f in COMPARED])
def test_compiles_as_the_engine_renders(rel, pixels):
    assert differences(rel, pixels) == []


@pytest.mark.parametrize("rel", [f for f in COMPARED if f not in KNOWN_FAILING])
def test_prettier_formatted_crlf_file_compiles_the_same(rel):
    src = with_subject_and_footer((CORPUS / rel).read_bytes().decode("utf-8"))
    errors, outputs, _ = compile_all_esps("t", src)
    errors_v, outputs_v, _ = compile_all_esps("t", prettier_crlf(src))
    assert errors_v == errors == []
    assert {e: (o.html, o.text, o.subject, o.preheader) for e, o in outputs_v.items()} == \
        {e: (o.html, o.text, o.subject, o.preheader) for e, o in outputs.items()}
