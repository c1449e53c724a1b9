"""Every HubL file we write is accepted by HubSpot's own HubL parser.

The parser is the npm package @hubspot/prettier-plugin-hubl (pinned in
tests/hubl/package-lock.json, installed by `npm ci` into tests/hubl/node_modules);
tests/hubl/parse.js runs it on many files in one node process.  The recipient
must still see the copy exactly: the Jinja2 reference engine renders the same files.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from mailwright.compile import Output, compile_project
from mailwright.dialect import load_connectors
from mailwright.project import load_project
from tests.conftest import FOOTER, ROOT, compile_sources, email
from tests.engines import render_hubspot, visible_text
from tests.fakes.hubspot import template_problems

HUBL = ROOT / "tests" / "hubl"
PLUGIN = HUBL / "node_modules" / "@hubspot" / "prettier-plugin-hubl"
CORPUS = ROOT / "tests" / "compat" / "corpus"


@pytest.fixture(scope="module")
def hubl_check():
    """``check(files, format=False) -> {name: error}`` for the files the parser rejects."""
    problem = _install()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)

    def check(files: dict[str, str], format: bool = False) -> dict[str, str]:
        with tempfile.TemporaryDirectory() as d:
            paths = {}
            for i, (name, text) in enumerate(files.items()):
                paths[name] = Path(d) / f"{i}.html"
                paths[name].write_text(text, encoding="utf-8")
            args = ["node", str(HUBL / "parse.js"), *(["--format"] if format else []), *map(str, paths.values())]
            run = subprocess.run(args, capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, run.stderr
            verdict = json.loads(run.stdout)
        return {name: verdict[str(p)] for name, p in paths.items() if verdict[str(p)] is not None}

    return check


def _install() -> str | None:
    """None when the parser is ready; otherwise why it is not."""
    if not shutil.which("node"):
        return "node is not on PATH: HubSpot's HubL parser (npm) cannot run; install Node.js (apt-get install nodejs npm)"
    if PLUGIN.is_dir():
        return None
    if not shutil.which("npm"):
        return "npm is not on PATH: cannot install HubSpot's HubL parser into tests/hubl (apt-get install npm)"
    run = subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=HUBL,
                         capture_output=True, text=True, timeout=300)
    if run.returncode != 0 or not PLUGIN.is_dir():
        return f"`npm ci` in tests/hubl failed: {run.stderr.strip()[-500:]}"
    return None


def hubl_files(outputs: list[Output]) -> dict[str, str]:
    """Every HubL text of the HubSpot outputs: page, plain text, subject, preheader."""
    files = {}
    for o in outputs:
        if o.esp == "hubspot":
            for part in ("html", "text", "subject", "preheader"):
                files[f"{o.stem} {part}"] = getattr(o, part)
    return files


# ---------------------------------------------------------------- the example

@pytest.mark.parametrize("esps", [None, ["hubspot"]], ids=["all-esps", "hubspot-alone"])
def test_example_is_accepted(hubl_check, esps):
    project = load_project(ROOT / "examples" / "shop", list(load_connectors()))
    result = compile_project(project, esps)
    assert not result.errors, [d.format() for d in result.errors]
    files = hubl_files(result.outputs)
    assert len(files) >= 4 * 8
    assert hubl_check(files) == {}


# ---------------------------------------------------------------- copy holding delimiters

# (source copy as the designer writes it, what the recipient sees); the tags quote with
# ' so that the same source can stand in an attribute (where '"' is written &quot;)
COPY = [
    ("{{ '{{' }} name }}", "{{ name }}"),
    ("{{ '{%' }} if x %}", "{% if x %}"),
    ("{{ '{#' }} not a comment", "{# not a comment"),
    ("a #} b", "a #} b"),
    ("{{ '{#' }} c #} d", "{# c #} d"),
    ("x %} y }} z", "x %} y }} z"),
    ("{{ '{{ \\'{{\\' }}' }}", "{{ '{{' }}"),
    ("{{ '{% endraw %}' }} and {{ '{% raw %}' }}", "{% endraw %} and {% raw %}"),
    ("{{ '{{{' }}{{ '{' }}", "{{{{"),
    ("back\\slash \\' it's \"q\" {{ '{{' }}\\}}", "back\\slash \\' it's \"q\" {{\\}}"),
    ("{{ '{' }}{{ profile.first_name }}", "{Ada"),
    ("#{{ profile.first_name }}#}", "#Ada#}"),
]


def delimiter_templates() -> dict[str, str]:
    out = {}
    for i, (src, _) in enumerate(COPY):
        attr = src.replace('"', "&quot;")
        body = (f'<mj-section><mj-column><mj-text>«{src}»</mj-text>'
                f'<mj-image src="https://img.example/{i}.png" alt="«{attr}»" href="https://shop.example/?q={attr}"/>'
                f'<mj-button href="https://shop.example/b?q={attr}">«{src}»</mj-button>'
                f'</mj-column></mj-section>')
        out[f"t{i}"] = email(body, subject=f"«{src}»", head=f"<mj-preview>«{src}»</mj-preview>")
    return out


@pytest.fixture(scope="module")
def delimiter_outputs() -> list[Output]:
    result = compile_sources(delimiter_templates())
    assert not result.errors, [d.format() for d in result.errors]
    return result.outputs


def test_copy_with_delimiters_is_accepted(hubl_check, delimiter_outputs):
    files = hubl_files(delimiter_outputs)
    assert len(files) == 4 * len(COPY)
    # the whole formatter too (its own delimiter patterns run before the parser)
    assert hubl_check(files, format=True) == {}
    # and the fake HubSpot's validator of the push tests, which models jinjava's raw
    assert {n: template_problems("t.html", t) for n, t in files.items() if n.endswith(" html")
            if template_problems("t.html", t)} == {}


@pytest.mark.parametrize("i", range(len(COPY)))
def test_copy_with_delimiters_shows_as_written(delimiter_outputs, i):
    want = "«" + COPY[i][1] + "»"
    out = next(o for o in delimiter_outputs if o.esp == "hubspot" and o.name == f"t{i}")
    recipient = {"profile": {"first_name": "Ada"}}
    page = render_hubspot(out.html, recipient)
    assert want in " ".join(visible_text(page).split())
    assert html.unescape(render_hubspot(out.subject, recipient)) == want
    assert html.unescape(render_hubspot(out.preheader, recipient)) == want
    assert want in render_hubspot(out.text, recipient)
    # the attributes hold the copy too (entities decoded as a browser would), but for
    # backslashes: mjml-python doubles them in attribute values, for every ESP alike
    attrs = [html.unescape(v).replace("\\\\", "\\") for v in re.findall(r'(?:alt|href)="([^"]*)"', page)]
    assert f"«{COPY[i][1]}»" in attrs
    assert f"https://shop.example/?q={COPY[i][1]}" in attrs


def test_the_parser_rejects_what_hubl_cannot_read(hubl_check):
    """The check can fail: a comment end outside a comment, an unclosed tag."""
    bad = {"stray comment end": "<p>a #} b</p>", "open tag": "<p>{% if contact.x %}</p>",
           "quoted delimiter": "<p>{{ '{{' }}</p>", "raw": "<p>{% raw %}{{ x }}{% endraw %}</p>"}
    assert set(hubl_check(bad)) == {"stray comment end", "open tag"}


# ---------------------------------------------------------------- the compatibility corpus

@pytest.mark.skipif(not CORPUS.is_dir(), reason="tests/compat/corpus is absent")
def test_corpus_is_accepted(hubl_check, tmp_path):
    sources = sorted(CORPUS.rglob("*.mjml"))
    assert sources, "tests/compat/corpus holds no .mjml file"
    templates = {}
    for i, p in enumerate(sources):
        templates[f"c{i:03d}"] = _with_subject_and_footer(p.read_text(encoding="utf-8", errors="replace"))
    names = {f"c{i:03d}": p.relative_to(CORPUS).as_posix() for i, p in enumerate(sources)}
    project = tmp_path / "corpus"
    (project / "templates").mkdir(parents=True)
    (project / "mailwright.toml").write_text(
        '[project]\nname = "corpus"\nesps = ["klaviyo", "hubspot", "activecampaign"]\ntheme = "clean"\n'
        '[brand]\nhelp_url = "https://help.corpus.test/"\n')
    for name, src in templates.items():
        (project / "templates" / f"{name}.mjml").write_text(src, encoding="utf-8")
    result = compile_project(load_project(project, list(load_connectors())))
    files = hubl_files(result.outputs)
    compiled = {o.name for o in result.outputs if o.esp == "hubspot"}
    assert compiled, [d.format() for d in result.errors][:5]
    rejected = hubl_check(files)
    assert rejected == {}, {names[k.split()[0]] + " " + k.split()[1]: v for k, v in rejected.items()}


def _with_subject_and_footer(src: str) -> str:
    """A corpus file as a template: a subject in its head, our footer at the end of its body."""
    subject = "<mw-subject>Corpus</mw-subject>"
    if re.search(r"<mj-head\b[^>]*>", src):
        src = re.sub(r"(<mj-head\b[^>]*>)", lambda m: m.group(1) + subject, src, count=1)
    else:
        src = re.sub(r"(<mjml\b[^>]*>)", lambda m: m.group(1) + f"<mj-head>{subject}</mj-head>", src, count=1)
    i = src.rfind("</mj-body")
    return src[:i] + FOOTER + src[i:] if i >= 0 else src
