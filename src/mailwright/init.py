"""``mailwright init``: a small working project to start from.

It compiles and checks clean as written: one template with the footer, one
flow that sends it, one sample recipient, a theme to edit, a commented
``mailwright.toml`` and a ``.gitignore`` for the build.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from .project import builtin_dir

CONFIG = """\
# mailwright project: every key is described in docs/config.md.

[project]
name = "{name}"
esps = [{esps}]                # the ESPs every template and flow is compiled for
theme = "house"                # themes/house.toml (a copy of the built-in "clean"); or "clean", "bold"

# Who sends: the built-in components and the preview take these.
[brand]
company = "{company}"
{website_line}
help_url = "{help_url}"             # the footer's help link; "" for none

# Named conditions, used as segment.NAME in templates and flows.
[segments]
engaged = "event.session_time > 60"

# ---------------------------------------------------------------- Klaviyo
# Klaviyo emails read the triggering event directly; portable event -> Klaviyo metric
# (checkout_started is Klaviyo's own "Started Checkout": no mapping needed).
[esp.klaviyo.events]

# ---------------------------------------------------------------- HubSpot
# HubSpot emails only see contact properties: copy each event property the
# templates read onto the contact, and name it here.
[esp.hubspot.properties]
"event.checkout_url" = "last_checkout_url"
"event.session_time" = "last_session_seconds"

# Portable event -> your HubSpot custom behavioral event (pe<portal id>_<name>).
[esp.hubspot.events]
checkout_started = "pe0000000_checkout_started"
placed_order = "pe0000000_placed_order"

# ---------------------------------------------------------- ActiveCampaign
# ActiveCampaign emails only see contact fields (personalization tags).
[esp.activecampaign]
from_name = "{company}"
from_email = "hello@{domain}"
reply_to = "hello@{domain}"

[esp.activecampaign.fields]
"event.checkout_url" = "CHECKOUT_URL"
"event.session_time" = "SESSION_TIME"
"""

TEMPLATE = """\
<mjml lang="en" dir="ltr">
  <mj-head>
    <mj-title>Your checkout is saved</mj-title>
    <mw-subject>{{ profile.first_name | default("Hi") }}, your checkout is saved</mw-subject>
    <mj-preview>Pick up where you left off, whenever you are ready.</mj-preview>
  </mj-head>
  <mj-body>
    <x-text>
      <h1>Still deciding?</h1>
      <p>Hi {{ profile.first_name | default("there") }}, everything you picked is saved.</p>
    </x-text>
    <mw-if when="segment.engaged">
      <x-text><p>You spent a while with us today: thank you for taking the time.</p></x-text>
    </mw-if>
    <mw-if when="event.checkout_url is defined">
      <x-button url="{{ event.checkout_url }}" label="Return to checkout"/>
    </mw-if>
    <x-footer/>
  </mj-body>
</mjml>
"""

FLOW = """\
# A journey: trigger, audience, goals, limits and steps (docs/flows.md).
name: Checkout reminder
trigger:
  event: checkout_started
audience: "profile.email is defined"
exit_on: [placed_order]
steps:
  - wait: 1h
  - send: checkout-reminder
"""

SAMPLE = """\
# A recipient for `mailwright preview` and `mailwright send-test --sample first-visit`.
profile:
  first_name: Ada
  email: ada@example.org
event:
  session_time: 95
  checkout_url: https://{domain}/checkout
"""

GITIGNORE = "build/\n"


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--company", default=None, help="Your company's name, for the footer (default: from DIRECTORY).")
@click.option("--website", default=None, metavar="URL",
              help="Your website: the header's link, and its /help page the footer's help link (default: none).")
@click.option("--esp", "esps", multiple=True, metavar="ESP",
              help="An ESP to compile for (repeatable). Default: every installed ESP.")
def command(directory: Path, company: str | None, website: str | None, esps: tuple[str, ...]) -> None:
    """Start a project in DIRECTORY: a template, a flow, a sample and a theme that work.

    \b
    Then:
      mailwright compile DIRECTORY     # write every ESP's version into DIRECTORY/build
      mailwright preview DIRECTORY     # see every variant in the browser
      mailwright check DIRECTORY       # the CI gate
    Nothing is overwritten: the directory must be empty or new.
    """
    from .options import esp_option

    installed = esp_option(esps)
    if directory.exists() and any(directory.iterdir()):
        click.echo(f"{directory}: error: not empty; mailwright init starts a project in a new or empty folder",
                   err=True)
        sys.exit(1)
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", directory.resolve().name).strip("-_") or "emails"
    company = company or name.replace("-", " ").replace("_", " ").title()
    if website is not None and not re.match(r"https?://[^/\s]+", website):
        raise click.BadParameter("give a URL such as https://www.acme.com", param_hint="--website")
    website = (website or "").rstrip("/")
    domain = re.sub(r"^https?://", "", website).split("/")[0] if website else "example.org"
    website_line = (f'website = "{_toml(website)}"' if website
                    else '# website = "https://www.your-company.com"   # the header component\'s link')
    files = {
        "mailwright.toml": CONFIG.format(name=name, esps=", ".join(f'"{e}"' for e in (esps or installed)),
                                         company=_toml(company), website_line=website_line,
                                         help_url=_toml(f"{website}/help") if website else "", domain=domain),
        "templates/checkout-reminder.mjml": TEMPLATE,
        "flows/checkout-reminder.yaml": FLOW,
        "samples/first-visit.yaml": SAMPLE.format(domain=domain),
        "themes/house.toml": "# Your theme: tokens ([[ theme.NAME ]]), MJML defaults and CSS (docs/language.md).\n"
                             + (builtin_dir("themes") / "clean.toml").read_text(encoding="utf-8"),
        ".gitignore": GITIGNORE,
    }
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"created {path}")
    click.echo(f"\nNext: mailwright compile {directory}   (then preview, check; see README.md)")


def _toml(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')
