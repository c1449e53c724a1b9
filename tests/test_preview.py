"""The preview in a real browser (Debian's chromium, headless, driven by Playwright), and its watcher."""

import os
import shutil
import time

import pytest

from mailwright.preview import Preview, Server
from tests.conftest import ROOT

CHROMIUM = os.environ.get("MAILWRIGHT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"),
                                   reason="no chromium here (CI installs it: apt-get install chromium)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
def shop(tmp_path):
    dst = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop", dst, ignore=shutil.ignore_patterns("build"))
    return dst


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM or "/usr/bin/chromium", args=ARGS)
        yield b
        b.close()


def open_page(browser, url):
    """A page that loads only from the preview server (the emails' fonts and images are remote)."""
    page = browser.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1")
               else route.abort())
    page.goto(url)
    return page


def tiles(page):
    out = []
    for t in page.locator("section.tile").all():
        frame = t.locator("iframe.mobile").first.content_frame
        out.append({"subject": t.locator(".subject").inner_text(), "email": frame.locator("body").inner_text(),
                    "frames": t.locator("iframe").count()})
    return out


@needs_browser
@pytest.mark.parametrize("esp", ["klaviyo", "hubspot", "activecampaign"])
def test_cart_reminder_tiles_in_the_browser(shop, browser, esp):
    server = Server(shop, port=0).start()
    try:
        page = open_page(browser, f"{server.url}t/cart-reminder?trigger=cart_abandoned&esp={esp}")
        got = tiles(page)
        assert all(t["frames"] == 4 for t in got)  # mobile and desktop, light and dark
        def has(subject, copy):
            return any(subject in t["subject"] and copy in t["email"] for t in got)
        assert has("15% off your cart", "CART15")  # high intent: the discount
        assert has("your cart ships free this week", "shipping is on us")  # medium intent
        assert has("you left something behind", "ship them free")  # everyone else
        assert has("Hey,", "Your cart misses you")  # no first name: the fallback
        assert has("Ada,", "Ada, your cart misses you")
        if esp == "klaviyo":  # only Klaviyo lists the items: an empty cart and a full one
            assert any("Return to my cart" in t["email"] and "Qty" not in t["email"] for t in got)
            assert any("Sample item 1" in t["email"] for t in got)
        else:
            assert any("We saved everything you picked out" in t["email"] for t in got)
    finally:
        server.stop()


@needs_browser
def test_a_saved_template_shows_without_a_manual_reload(shop, browser):
    server = Server(shop, port=0, interval=0.05).start()
    try:
        page = open_page(browser, f"{server.url}t/cart-reminder?trigger=cart_abandoned&esp=klaviyo")
        before = page.locator("body").get_attribute("data-version")
        f = shop / "templates" / "cart-reminder.mjml"
        f.write_text(f.read_text().replace("Good news: we've held on to everything", "Fresh copy: we kept everything"))
        page.wait_for_function(f"document.body && document.body.dataset.version !== '{before}'", timeout=10000)
        page.wait_for_load_state()
        assert any("Fresh copy: we kept everything" in t["email"] for t in tiles(page))
    finally:
        server.stop()


def test_saving_a_template_recompiles_only_that_template(shop):
    p = Preview(shop)
    others = {id(o) for o in p.result.outputs if o.name != "cart-reminder"}
    version = p.version
    f = shop / "templates" / "cart-reminder.mjml"
    time.sleep(0.01)
    f.write_text(f.read_text().replace("Good news", "Better news"))
    assert p.poll() and p.version == version + 1
    assert {id(o) for o in p.result.outputs if o.name != "cart-reminder"} == others  # untouched
    assert any("Better news" in o.html for o in p.result.outputs if o.name == "cart-reminder")
    (shop / "components" if (shop / "components").exists() else shop).mkdir(exist_ok=True)
    cfg = shop / "mailwright.toml"
    cfg.write_text(cfg.read_text() + "\n# touched\n")
    assert p.poll() and not {id(o) for o in p.result.outputs} & others  # configuration: everything again


def test_samples_show_beside_derived_variants(shop):
    (shop / "samples").mkdir()
    (shop / "samples" / "vip-shopper.yaml").write_text(
        "profile: {first_name: Grace, tier: gold}\nevent: {session_time: 500, cart_value: 250, items: []}\n")
    p = Preview(shop)
    labels = [t.label for t in p.tiles_for("cart-reminder", "cart_abandoned")]
    assert "sample: vip-shopper" in labels and any(label.startswith("derived") for label in labels)
    assert any(label.startswith("worst case") for label in labels)
    # every tile: each ESP's engine shows what the template means
    assert all(not t.unfaithful for t in p.tiles_for("cart-reminder", "cart_abandoned"))


def test_ctrl_c_stops_the_server_cleanly(shop):
    import signal
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "mailwright", "preview", str(shop), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("preview at http://127.0.0.1:"), line
        url = line.split()[2]
        assert b"cart-reminder" in urllib.request.urlopen(url, timeout=10).read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "stopped" in err and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()


KLAVIYO_TAGS = (
    "{% unsubscribe %}|{% unsubscribe 'Leave' %}|{% unsubscribe_link %}|{% web_view %}|{% web_view 'Open it' %}|"
    "{% web_view_link %}|{% manage_preferences %}|{% manage_preferences 'Prefs' %}|{% manage_preferences_link %}|"
    "{% current_day %}|{% current_weekday %}|{% current_month %}|{% current_month_name %}|{% current_year %}|"
    "{% today \"%Y-%m-%d\" as today %}{{ today }}|{% today \"%B\" as month %}{{ month }}|"
    "{% currency_format event|lookup:'$value' %}|{% currency_format event.missing|default:\"0\" %}|"
    "{% currency_format event.label %}")


def test_the_klaviyo_reference_knows_every_documented_tag():
    from mailwright.reference import render_klaviyo

    got = render_klaviyo(KLAVIYO_TAGS, {"profile": {}, "event": {"$value": 1234.5, "label": "$40"}}).split("|")
    assert got == [
        '<a href="https://klaviyo.example/unsub">Unsubscribe</a>', '<a href="https://klaviyo.example/unsub">Leave</a>',
        "https://klaviyo.example/unsub",
        '<a href="https://klaviyo.example/web-view">View in Your Browser</a>',
        '<a href="https://klaviyo.example/web-view">Open it</a>', "https://klaviyo.example/web-view",
        '<a href="https://klaviyo.example/manage-preferences">Manage Preferences</a>',
        '<a href="https://klaviyo.example/manage-preferences">Prefs</a>', "https://klaviyo.example/manage-preferences",
        # the preview clock: Friday 7 March 2025
        "7", "Friday", "3", "March", "2025", "2025-03-07", "March",
        "$1,234.50", "$0.00", "$40"]  # a string with its symbol stays as written
