import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# `pytest --hypothesis-profile=long`: the fuzz (tests/test_fuzz.py) with many more random examples.
settings.register_profile("long", max_examples=3000, deadline=None)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FOOTER = '<x-footer company="Acme"/>'


def make_project(dirpath: Path, templates: dict[str, str], toml: str = "", components: dict | None = None,
                 esps=("klaviyo", "hubspot", "activecampaign"), theme: str | None = "clean") -> Path:
    (dirpath / "templates").mkdir(parents=True, exist_ok=True)
    esp_list = ", ".join(f'"{e}"' for e in esps)
    theme_line = f'theme = "{theme}"\n' if theme else ""
    brand = "" if "[brand]" in toml else '[brand]\nhelp_url = "https://help.acme.test/"\n'
    (dirpath / "mailwright.toml").write_text(f'[project]\nname = "t"\nesps = [{esp_list}]\n{theme_line}{toml}\n{brand}')
    for name, src in templates.items():
        (dirpath / "templates" / f"{name}.mjml").write_text(src)
    for name, src in (components or {}).items():
        (dirpath / "components").mkdir(exist_ok=True)
        (dirpath / "components" / f"{name}.mjml").write_text(src)
    return dirpath


def email(body: str, subject: str = "Hello", head: str = "", footer: str = FOOTER) -> str:
    return (f"<mjml><mj-head><mw-subject>{subject}</mw-subject>{head}</mj-head>"
            f"<mj-body>{body}{footer}</mj-body></mjml>")


def text_email(copy: str, **kw) -> str:
    return email(f"<mj-section><mj-column><mj-text>{copy}</mj-text></mj-column></mj-section>", **kw)


def compile_sources(templates: dict[str, str], toml: str = "", components: dict | None = None,
                    esps=("klaviyo", "hubspot", "activecampaign"), theme: str | None = "clean"):
    from mailwright.compile import compile_project
    from mailwright.dialect import load_connectors
    from mailwright.project import load_project

    with tempfile.TemporaryDirectory() as d:
        root = make_project(Path(d), templates, toml, components, esps, theme)
        proj = load_project(root, list(load_connectors()))
        return compile_project(proj)


@pytest.fixture
def project_dir(tmp_path):
    def make(templates, toml="", components=None):
        return make_project(tmp_path / "proj", templates, toml, components)
    return make
