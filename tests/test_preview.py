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
        assert all(t["frames"] == 4 for t in got)  # mobile and desktop, light and dark (a toggle shows them)
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
    assert "sample: vip-shopper · high_intent ✓ · 0 items" in labels
    assert "high_intent ✓ · first name missing · items missing" in labels  # derived: what makes it different
    assert labels[-3:] == ["worst case: long names and titles", "worst case: non-Latin text",
                           "worst case: right-to-left text"]
    # every tile: each ESP's engine shows what the template means
    assert all(not t.unfaithful for t in p.tiles_for("cart-reminder", "cart_abandoned"))


def test_ctrl_c_stops_the_server_cleanly(shop):
    import queue
    import signal
    import subprocess
    import sys
    import threading
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "mailwright", "preview", str(shop), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        # wait on conditions (the line, the answer, the exit), each with a deadline generous enough for a busy machine
        line = lines.get(timeout=120)
        assert line.startswith("preview at http://127.0.0.1:"), line
        url = line.split()[2]
        assert b"cart-reminder" in urllib.request.urlopen(url, timeout=60).read()
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()  # until the process closes it: it has exited
        assert proc.wait(timeout=60) == 0 and "stopped" in err and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

KLAVIYO_TAGS = (
    "{% unsubscribe %}|{% unsubscribe 'Leave' %}|{% unsubscribe_link %}|{% web_view %}|{% web_view 'Open it' %}|"
    "{% web_view_link %}|{% manage_preferences %}|{% manage_preferences 'Prefs' %}|{% manage_preferences_link %}|"
    "{% current_day %}|{% current_weekday %}|{% current_month %}|{% current_month_name %}|{% current_year %}|"
    "{% today \"%Y-%m-%d\" as today %}{{ today }}|{% today \"%B\" as month %}{{ month }}|"
    "{% currency_format event|lookup:'$value' %}|{% currency_format event.missing|default:\"0\" %}|"
    "{% currency_format event.label %}")


def test_the_klaviyo_reference_knows_every_documented_tag():
    from mailwright_connectors.klaviyo.reference import render as render_klaviyo

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


def with_raw(shop, name, raw):
    """Put a Klaviyo <mw-raw> paragraph before the footer of templates/NAME.mjml; the line:col of <mw-raw."""
    f = shop / "templates" / f"{name}.mjml"
    src = f.read_text()
    at = src.index("    <x-footer")
    f.write_text(src[:at] + f'    <x-text><p><mw-raw esp="klaviyo">{raw}</mw-raw></p></x-text>\n' + src[at:])
    return f"{src[:at].count(chr(10)) + 1}:16"


def get(url):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


CART = "t/cart-reminder?trigger=cart_abandoned"


def test_a_template_using_every_klaviyo_tag_previews(shop):
    with_raw(shop, "cart-reminder", KLAVIYO_TAGS)
    server = Server(shop, port=0).start()
    try:
        status, page = get(f"{server.url}{CART}&esp=klaviyo")
        assert status == 200 and "cannot show this email" not in page
        status, doc = get(f"{server.url}render/cart-reminder?trigger=cart_abandoned&esp=klaviyo&v=0")
        assert status == 200
        assert '<a href="https://klaviyo.example/web-view">View in Your Browser</a>' in doc
        assert '<a href="https://klaviyo.example/manage-preferences">Prefs</a>' in doc
        assert "|7|Friday|3|March|2025|2025-03-07|March||$0.00|" in doc  # no $value, no label: nothing
    finally:
        server.stop()


def test_a_tile_that_fails_to_render_is_an_error_tile_and_the_server_keeps_serving(shop):
    place = with_raw(shop, "cart-reminder", "{% web_view %} {% no_such_tag %}")
    server = Server(shop, port=0).start()
    try:
        status, page = get(f"{server.url}{CART}&esp=klaviyo")
        assert status == 200 and page.count("cannot show this email") >= 3  # every Klaviyo tile, the page loads
        assert (f"templates/cart-reminder.mjml:{place}: error: the klaviyo reference renderer cannot render this "
                "&lt;mw-raw&gt;: Invalid block tag on line 1: &#x27;no_such_tag&#x27;") in page
        status, doc = get(f"{server.url}render/cart-reminder?trigger=cart_abandoned&esp=klaviyo&v=0")
        assert status == 422 and f"cart-reminder.mjml:{place}: error:" in doc
        # the other ESPs of the same template, and the server itself, carry on
        status, page = get(f"{server.url}{CART}&esp=hubspot")
        assert status == 200 and "cannot show this email" not in page and page.count("<iframe") >= 12
        assert get(server.url)[0] == 200 and get(f"{server.url}{CART}&esp=klaviyo")[0] == 200
    finally:
        server.stop()


def test_bad_requests_get_400_or_404_with_a_reason(shop):
    server = Server(shop, port=0).start()
    try:
        render = f"{server.url}render/cart-reminder?trigger=cart_abandoned&esp=klaviyo"
        assert get(f"{render}&v=abc") == (400, "v must be a tile number (0, 1, …), not 'abc'\n")
        status, why = get(f"{render}&v=999")
        assert status == 404 and why.startswith("no tile 999: 'cart-reminder' has ")
        assert get(f"{server.url}t/no-such-template") == (404, "no template 'no-such-template' in this project\n")
        assert get(f"{server.url}render/no-such-template?esp=klaviyo&v=0")[0] == 404
        status, why = get(f"{server.url}render/cart-reminder?trigger=cart_abandoned&esp=mailchimp&v=0")
        assert status == 404 and "has no mailchimp output" in why
        assert get(f"{server.url}favicon.ico")[0] == 404
        assert get(f"{render}&v=0")[0] == 200  # and it still serves
    finally:
        server.stop()


def test_a_malformed_sample_is_an_error_tile_and_the_others_still_show(shop):
    samples = shop / "samples"
    samples.mkdir()
    (samples / "good.yaml").write_text("profile: {first_name: Grace}\nevent: {session_time: 500}\n")
    (samples / "list.yaml").write_text("profile:\n  first_name: Ada\nevent:\n  - session_time\n")
    (samples / "broken.yaml").write_text("profile: {first_name: [Ada}\n")
    (samples / "latin1.yaml").write_bytes(b"profile: {first_name: Zo\xeb}\n")
    (samples / "shape.yaml").write_text("event:\n  items: {name: Linen apron}\n")
    p = Preview(shop)
    tiles = {t.label.split(" · ")[0]: t for t in p.tiles_for("cart-reminder", "cart_abandoned")}
    assert "samples/list.yaml:4:3: error: 'event' must be a mapping" in tiles["sample: list"].error
    assert "samples/broken.yaml:1:" in tiles["sample: broken"].error
    assert "samples/latin1.yaml:1:25: error: not valid UTF-8" in tiles["sample: latin1"].error
    # a sample that reads but does not fit the template: shown, with the problem on its tile
    assert not tiles["sample: shape"].error and any(
        "samples/shape.yaml:2:10: error: event.items is a mapping, but the template loops over it" in m
        for m in tiles["sample: shape"].problems)
    assert tiles["sample: good"].per_esp["klaviyo"]["subject"].startswith("Grace")
    assert any("✓" in label for label in tiles) and any(label.startswith("worst") for label in tiles)
    server = Server(shop, port=0).start()
    try:
        for name in ("cart-reminder?trigger=cart_abandoned", "browse-abandonment?trigger=product_viewed"):
            status, page = get(f"{server.url}t/{name}")
            assert status == 200 and "samples/list.yaml:4:3: error:" in page and "<iframe" in page
    finally:
        server.stop()


def read_event(resp) -> dict:
    import json

    data = None
    while True:
        line = resp.fp.readline().decode()
        assert line, "the event stream ended"
        if line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "\n" and data is not None:
            return data


def test_a_build_that_breaks_is_pushed_to_open_pages(shop, monkeypatch):
    import http.client

    import mailwright.preview.model as preview_module

    server = Server(shop, port=0, interval=0.05).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.httpd.server_port, timeout=30)
    try:
        conn.request("GET", "/events")
        resp = conn.getresponse()
        first = read_event(resp)
        assert first["errors"] == []
        f = shop / "templates" / "cart-reminder.mjml"
        good = f.read_text()
        f.write_text(good.replace("<mj-body>", "<mj-body><mw-if when='profile.'>", 1))
        broken = read_event(resp)  # the watcher saw the save: the page hears of it, with the error
        assert broken["version"] > first["version"]
        assert any("templates/cart-reminder.mjml:" in e and ": error: " in e for e in broken["errors"])
        # the last outputs that compiled stay on show beside the error
        status, page = get(f"{server.url}{CART}&esp=klaviyo")
        assert status == 200 and "<iframe" in page and "templates/cart-reminder.mjml:" in page

        def crash(*args, **kwargs):  # a bug in the compiler, injected: the page must hear of it too
            raise ZeroDivisionError("division by zero")

        monkeypatch.setattr(preview_module, "compile_project", crash)
        cfg = shop / "mailwright.toml"
        cfg.write_text(cfg.read_text() + "\n# touched\n")
        deadline = time.monotonic() + 40
        event = read_event(resp)
        while event["version"] == broken["version"]:  # a keep-alive repeats the version: wait for the change
            assert time.monotonic() < deadline, "the internal error never reached the page"
            event = read_event(resp)
        assert "internal error: ZeroDivisionError" in event["errors"][0]
        assert get(f"{server.url}{CART}&esp=klaviyo")[0] == 200
    finally:
        conn.close()
        server.stop()


@needs_browser
def test_the_cart_tiles_name_each_intent_tier_in_the_browser(shop, browser):
    server = Server(shop, port=0).start()
    try:
        page = open_page(browser, f"{server.url}{CART}&esp=klaviyo")
        labels = page.locator("section.tile h3 .label").all_inner_texts()
        tiers = {label.split(" · ")[0] if "✓" in label else " · ".join(label.split(" · ")[:2]) for label in labels
                 if "intent" in label}
        assert tiers == {"high_intent ✓", "medium_intent ✓", "high_intent ✗ · medium_intent ✗"}, labels
        assert "high_intent ✗ · medium_intent ✗ · first name missing · session time missing · cart value missing · " \
               "4 items" in labels
        assert not any(label.startswith("derived") for label in labels)
        # the recipient's data is a toggle away, not on the tile
        page.locator("section.tile details summary", has_text="Recipient data").first.click()
        assert '"profile"' in page.locator("section.tile pre.data").first.inner_text()
        # the view toggle: mobile only, then dark only
        page.locator("button[data-width=mobile]").click()
        page.locator("button[data-mode=dark]").click()
        first = page.locator("section.tile").first
        assert [f.is_visible() for f in first.locator("figure").all()] == [False, True, False, False]
    finally:
        server.stop()


def test_samples_apply_to_the_templates_and_triggers_they_name(shop):
    samples = shop / "samples"
    samples.mkdir()
    (samples / "cart-only.yaml").write_text("templates: [cart-reminder]\nprofile: {first_name: Grace}\n")
    (samples / "orders.yaml").write_text("triggers: placed_order\nprofile: {first_name: Ada}\n")
    (samples / "bad.yaml").write_text("templates: {a: 1}\n")
    p = Preview(shop)

    def names(template, trigger):
        return {t.label.split(" · ")[0] for t in p.tiles_for(template, trigger) if t.label.startswith("sample")}

    assert names("cart-reminder", "cart_abandoned") == {"sample: cart-only", "sample: bad"}
    assert names("cart-free-shipping", "placed_order") == {"sample: orders", "sample: bad"}
    assert names("cart-free-shipping", "cart_abandoned") == {"sample: bad"}
    bad = next(t for t in p.tiles_for("cart-reminder", "cart_abandoned") if t.label == "sample: bad")
    assert "samples/bad.yaml:1:12: error: 'templates' is a name or a list of names, as templates: [cart-reminder]" \
        in bad.error


def test_differs_between_esps_is_about_the_copy_not_the_compliance_tokens(shop):
    p = Preview(shop)
    # browse-abandonment: the same copy everywhere; the footer's address and unsubscribe are each ESP's own
    assert all(not t.differs for t in p.tiles_for("browse-abandonment", "product_viewed"))
    # cart-reminder: only Klaviyo lists the cart's items (an esp branch): the copy differs
    assert all(t.differs == ["hubspot", "activecampaign"] for t in p.tiles_for("cart-reminder", "cart_abandoned"))


def test_the_index_shows_each_templates_flows_and_check_findings_and_survives_a_failing_check(shop, monkeypatch):
    import mailwright.check as check

    server = Server(shop, port=0).start()
    try:
        status, page = get(server.url)
        assert status == 200
        cart = page[page.index("data-template='cart-discount'"):]
        cart = cart[:cart.index("</section>")]
        assert "sent by <a href='/flows#cart-abandonment'>Cart abandonment</a> on <code>cart_abandoned</code>" in cart
        assert "check: " in cart

        def broken(*args, **kwargs):
            raise RuntimeError("check is being refactored")

        monkeypatch.setattr(check, "check_project", broken)
        server.preview._cache.clear()
        status, page = get(server.url)
        assert status == 200 and "check could not run: mailwright: internal error: RuntimeError: check is being " \
                                  "refactored" in page and "sent by" in page
    finally:
        server.stop()


def test_the_flows_page_draws_each_flow_for_every_esp(shop):
    server = Server(shop, port=0).start()
    try:
        status, page = get(f"{server.url}flows")
        assert status == 200
        flow = page[page.index("<h2 id='cart-abandonment'>"):]
        flow = flow[:flow.index("<h2", 5)]
        for esp in ("klaviyo", "hubspot", "activecampaign"):
            assert f"data-esp='{esp}'" in flow
        assert "<div class='fv-node fv-branch' data-kind='branch'>trigger-split on the event:<br>" in flow
        assert "<div class='fv-node fv-split' data-kind='split'>A/B test branch 50% / 50%</div>" in flow
        assert "<div class='fv-node fv-send' data-kind='send'>Send email<br>shop: cart-reminder--cart_abandoned</div>" \
            in flow
    finally:
        server.stop()


def test_snapshot_files_are_named_after_the_variant():
    from mailwright.preview import Tile, tile_names

    tiles = [Tile("high_intent ✓ · first name missing · 0 items", {}), Tile("sample: vip · Zoë", {}),
             Tile("high_intent ✓ · first name missing · 0 items", {})]
    assert tile_names(tiles) == ["high_intent-first-name-missing-0-items", "sample-vip-zoe",
                                 "high_intent-first-name-missing-0-items-2"]
