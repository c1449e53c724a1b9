"""`mailwright send-test` against a local SMTP server on 127.0.0.1 (aiosmtpd, in a thread)."""

from __future__ import annotations

import asyncio
import base64
import email
import shutil
import smtplib
import ssl
import subprocess
import threading
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from click.testing import CliRunner

from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.project import load_project
from mailwright.sendtest import command
from mailwright.variants import derive
from tests.conftest import ROOT

SHOP = ROOT / "examples" / "shop"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
TO = "designer@example.com"
PASSWORD = "s3cr3t-Pa55!word"


class Server:
    """What the test SMTP server received; ``refuse`` decides which messages it rejects at DATA."""

    def __init__(self, refuse=None, accept_login=None, echo_refusal=False):
        self.refuse = refuse
        self.accept_login = accept_login  # (user, password) it accepts; None: no AUTH at all
        self.echo_refusal = echo_refusal  # refuse every login, quoting the credentials back
        self.port = 0
        self.connections = 0
        self.logins: list[str] = []
        self.messages: list[tuple[list[str], EmailMessage]] = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        if self.echo_refusal:
            blob = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            return AuthResult(success=False, handled=False,
                              message=f"535 5.7.8 password {password} ({blob}) is wrong for {user}")
        if (user, password) == self.accept_login:
            self.logins.append(user)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        if self.refuse and self.refuse(msg):
            return "554 5.6.0 message refused by the test server"
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 2.0.0 OK"


@contextmanager
def smtp_server(tls: str | None = None, cert: tuple[str, str] | None = None, **kw):
    """An SMTP server on 127.0.0.1, any free port; ``tls``: None, "starttls" (offered and required) or "ssl"."""
    handler = Server(**kw)
    loop = asyncio.new_event_loop()
    auth = kw.get("accept_login") is not None or kw.get("echo_refusal")
    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*cert)

    def factory():
        handler.connections += 1
        return SMTP(handler, hostname="mx.test", loop=loop, auth_required=bool(auth),
                    authenticator=handler.authenticate if auth else None,
                    auth_require_tls=tls == "starttls", require_starttls=tls == "starttls",
                    tls_context=context if tls == "starttls" else None)

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0,
                                                        ssl=context if tls == "ssl" else None))
    handler.port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield handler
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.close()
        loop.run_until_complete(server.wait_closed())
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def env_for(server: Server, **extra) -> dict[str, str]:
    env = {"MAILWRIGHT_SMTP_HOST": "127.0.0.1", "MAILWRIGHT_SMTP_PORT": str(server.port),
           "MAILWRIGHT_SMTP_FROM": "Design team <design@fernhill.example>", "MAILWRIGHT_SMTP_TLS": "none",
           "MAILWRIGHT_SMTP_USER": "", "MAILWRIGHT_SMTP_PASSWORD": "", "MAILWRIGHT_TIMEOUT": "5"}
    env.update(extra)
    return env


@pytest.fixture
def shop(tmp_path):
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns("build"))
    return root


def run(args, env):
    return CliRunner().invoke(command, args, env=env)


def parts(msg: EmailMessage) -> tuple[str, str]:
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def derived_count(esp: str) -> int:
    result = compile_project(load_project(SHOP, list(load_connectors())), [esp])
    (out,) = [o for o in result.outputs if o.name == "cart-reminder"]
    people, _ = derive([out.rendered.page, out.rendered.subject], {"esp": esp, "trigger": out.trigger})
    return len(people)


def test_one_email_per_derived_variant(shop):
    with smtp_server() as server:
        r = run(["cart-reminder", "--to", TO, "--project", str(shop)], env_for(server))
    assert r.exit_code == 0, r.output
    n = derived_count("klaviyo")
    assert n >= 3 and len(server.messages) == n
    subjects = [m["Subject"] for _, m in server.messages]
    assert [s.split("]")[0] for s in subjects] == [f"[test cart-reminder · variant {i}/{n}" for i in range(1, n + 1)]
    htmls, texts = [], []
    for rcpt, m in server.messages:
        assert rcpt == [TO] and m["To"] == TO and m["From"] == "Design team <design@fernhill.example>"
        assert m.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in m.iter_parts()] == ["text/plain", "text/html"]
        assert m["X-Mailwright-Variant"] and m["Message-ID"]
        text, html = parts(m)
        assert html.lstrip().lower().startswith("<!doctype html") and "<table" in html
        assert "<table" not in text and "Questions about sizing" in text
        assert "{% unsubscribe %}" in html  # Klaviyo's own tag, left as written
        htmls.append(html)
        texts.append(text)
    # the intent tier decides the offer: each branch reaches the inbox
    assert any("15% off your whole cart" in h for h in htmls)
    assert any("shipping is on us" in h for h in htmls)
    assert any("ship them free" in h for h in htmls)
    assert not any("15% off your whole cart" in h and "ship them free" in h for h in htmls)
    assert any("here's 15% off your cart" in s for s in subjects) and any("ships free" in s for s in subjects)
    named = [m for _, m in server.messages if "profile.first_name=" in m["X-Mailwright-Variant"]]
    assert named and all("] Hey, " not in m["Subject"] for m in named)  # default() both ways
    assert any("] Hey, " in s for s in subjects)
    assert any("event.session_time=301" in m["X-Mailwright-Variant"] for _, m in server.messages)
    assert f"1/{n} sent" in r.stderr and f"sent {n} of {n}" in r.stderr


def test_the_esp_decides_the_branches_and_passthrough(shop):
    with smtp_server() as server:
        r = run(["cart-reminder", "--to", TO, "--project", str(shop), "--esp", "activecampaign"], env_for(server))
    assert r.exit_code == 0, r.output
    assert len(server.messages) == derived_count("activecampaign")
    htmls = [parts(m)[1] for _, m in server.messages]
    assert all("%UNSUBSCRIBELINK%" in h and "{% unsubscribe %}" not in h for h in htmls)
    # `esp in ["klaviyo", "hubspot"]` folds: ActiveCampaign shows the plain value, never money()
    assert any("Your cart comes to $100 before" in h for h in htmls)
    assert "X-Mailwright-Template" in server.messages[0][1] and "esp=activecampaign" in server.messages[0][1][
        "X-Mailwright-Template"]


def test_a_named_sample_sends_exactly_one(shop):
    (shop / "samples").mkdir()
    (shop / "samples" / "vip.yaml").write_text(
        "profile:\n  first_name: Ada\n  tier: gold\n"
        "event:\n  session_time: 420\n  cart_value: 180.5\n  cart_url: https://shop.example.com/c/1\n"
        "  items:\n    - {name: Linen apron, price: 34.5, quantity: 1, url: 'https://shop.example.com/a',"
        " image: 'https://i.example/a.png'}\n")
    (shop / "samples" / "browser.yaml").write_text("profile: {}\nevent:\n  session_time: 30\n")
    with smtp_server() as server:
        r = run(["cart-reminder", "--to", TO, "--project", str(shop), "--sample", "vip"], env_for(server))
        assert r.exit_code == 0, r.output
        ((rcpt, m),) = server.messages
        assert m["Subject"] == "[test cart-reminder · variant 1/1 · sample vip] Ada, here's 15% off your cart"
        assert m["X-Mailwright-Variant"].startswith("sample vip: profile.first_name=\"Ada\"")
        text, html = parts(m)
        assert "Linen apron" in html and "15% off your whole cart" in text and "$180.50" in html

        r = run(["cart-reminder", "--to", TO, "--project", str(shop), "--sample", "vip", "--sample", "browser"],
                env_for(server))
        assert r.exit_code == 0, r.output
        assert len(server.messages) == 3 and "ship them free" in parts(server.messages[2][1])[1]


def test_a_sample_that_is_missing_or_malformed_is_an_input_error(shop):
    (shop / "samples").mkdir()
    (shop / "samples" / "bad.yaml").write_text("profile:\n  first_name: Ada\nevent:\n  - session_time\n")
    (shop / "samples" / "typo.yaml").write_text("profil:\n  first_name: Ada\n")
    with smtp_server() as server:
        r = run(["cart-reminder", "--to", TO, "--project", str(shop), "--sample", "nope"], env_for(server))
        assert r.exit_code == 1 and "no sample 'nope'" in r.stderr and "bad, typo" in r.stderr
        r = run(["cart-reminder", "--to", TO, "--project", str(shop), "--sample", "bad"], env_for(server))
        assert r.exit_code == 1 and "samples/bad.yaml:4:3: error: 'event' must be a mapping" in r.stderr
        assert "nothing was sent" in r.stderr
        assert server.connections == 0 and server.messages == []
        r = run(["cart-reminder", "--to", TO, "--project", str(shop), "--sample", "typo"], env_for(server))
        assert r.exit_code == 0 and "typo.yaml:1:1: warning: 'profil' is ignored" in r.stderr
        assert "] Hey, " in server.messages[0][1]["Subject"]


def test_a_sample_with_invalid_utf8_is_a_located_error(shop):
    (shop / "samples").mkdir()
    (shop / "samples" / "latin1.yaml").write_bytes(b"profile:\n  first_name: Zo\xeb\n")
    with smtp_server() as server:
        r = run(["cart-reminder", "--to", TO, "--project", str(shop), "--sample", "latin1"], env_for(server))
    assert r.exit_code == 1, r.output
    assert "samples/latin1.yaml:2:17: error: not valid UTF-8 (byte 0xeb)" in r.stderr
    assert "internal error" not in r.output and "nothing was sent" in r.stderr and server.connections == 0


def test_samples_of_the_wrong_shape_are_errors_before_sending(shop):
    (shop / "samples").mkdir()
    (shop / "samples" / "numbers.yaml").write_text("profile: 3\nevent: [1]\n")
    # the cart-items component loops over event.items and reads each item's fields (Klaviyo)
    (shop / "samples" / "shapes.yaml").write_text(
        "profile:\n  first_name: [Ada, Grace]\nevent:\n  cart_url: https://shop.example.com/c/1\n"
        "  items: {name: Linen apron}\n")
    (shop / "samples" / "items.yaml").write_text("event:\n  items:\n    - [Linen apron, 34.5]\n")
    with smtp_server() as server:
        r = run(["cart-reminder", "--to", TO, "--project", str(shop), "--sample", "numbers", "--sample", "shapes",
                 "--sample", "items"], env_for(server))
        assert r.exit_code == 1, r.output
        assert server.connections == 0 and server.messages == []
    err = r.stderr
    # every sample's problems in one pass, each at its place in the sample, with where the template reads it
    assert "samples/numbers.yaml:1:10: error: 'profile' must be a mapping" in err
    assert "samples/numbers.yaml:2:8: error: 'event' must be a mapping" in err
    assert ("samples/shapes.yaml:2:15: error: profile.first_name is a list, but the template prints it: "
            "give a single value") in err
    assert "templates/cart-reminder.mjml:12:61: note: cart-reminder reads profile.first_name here" in err
    assert "samples/shapes.yaml:5:10: error: event.items is a mapping, but the template loops over it" in err
    assert ("samples/items.yaml:3:7: error: event.items[0] is a list, but the template reads event.items[0].") in err
    assert "nothing was sent" in err and "internal error" not in r.output


def test_a_missing_host_or_sender_stops_before_connecting(shop, monkeypatch):
    def no_connection(*a, **kw):
        raise AssertionError("send-test connected")

    monkeypatch.setattr(smtplib, "SMTP", no_connection)
    monkeypatch.setattr(smtplib, "SMTP_SSL", no_connection)
    base = {"MAILWRIGHT_SMTP_FROM": "design@fernhill.example", "MAILWRIGHT_SMTP_PASSWORD": PASSWORD,
            "MAILWRIGHT_SMTP_USER": "design"}
    r = run(["cart-reminder", "--to", TO, "--project", str(shop)], {**base, "MAILWRIGHT_SMTP_HOST": ""})
    assert r.exit_code == 1, r.output
    assert "error: send-test needs your SMTP server: set MAILWRIGHT_SMTP_HOST" in r.stderr
    assert "nothing was sent" in r.stderr and PASSWORD not in r.output
    r = run(["cart-reminder", "--to", TO, "--project", str(shop)],
            {**base, "MAILWRIGHT_SMTP_HOST": "127.0.0.1", "MAILWRIGHT_SMTP_FROM": ""})
    assert r.exit_code == 1 and "set MAILWRIGHT_SMTP_FROM" in r.stderr
    r = run(["cart-reminder", "--to", TO, "--project", str(shop)],
            {**base, "MAILWRIGHT_SMTP_HOST": "127.0.0.1", "MAILWRIGHT_SMTP_TLS": "tls"})
    assert r.exit_code == 1 and "MAILWRIGHT_SMTP_TLS must be one of starttls, ssl, none" in r.stderr


def test_the_password_never_appears_when_the_login_is_refused(shop):
    with smtp_server(echo_refusal=True) as server:
        env = env_for(server, MAILWRIGHT_SMTP_USER="design", MAILWRIGHT_SMTP_PASSWORD=PASSWORD)
        r = run(["cart-reminder", "--to", TO, "--project", str(shop)], env)
        assert r.exit_code == 3, r.output
        blob = base64.b64encode(f"\0design\0{PASSWORD}".encode()).decode()
        for shown in (r.output, r.stderr, r.stdout, repr(r.exception)):
            assert PASSWORD not in shown and blob not in shown
        assert "the SMTP server refused the login (535 5.7.8 password *** (***) is wrong" in r.stderr
        assert "MAILWRIGHT_SMTP_PASSWORD" in r.stderr and server.messages == []

        odd = "pä55wörd"  # smtplib cannot send it: a clear error, not a traceback holding it
        r = run(["cart-reminder", "--to", TO, "--project", str(shop)], {**env, "MAILWRIGHT_SMTP_PASSWORD": odd})
        assert r.exit_code == 3 and "must be ASCII" in r.stderr and odd not in r.output
        assert r.exception is None or isinstance(r.exception, SystemExit)


def test_a_login_that_is_accepted(shop):
    with smtp_server(accept_login=("design", PASSWORD)) as server:
        env = env_for(server, MAILWRIGHT_SMTP_USER="design", MAILWRIGHT_SMTP_PASSWORD=PASSWORD)
        r = run(["cart-reminder", "--to", TO, "--project", str(shop)], env)
        assert r.exit_code == 0, r.output
        assert server.logins == ["design"] and len(server.messages) == derived_count("klaviyo")
        assert server.connections == 1  # one session for every message
        assert "unencrypted" in r.stderr and PASSWORD not in r.output

        r = run(["cart-reminder", "--to", TO, "--project", str(shop)],
                {**env, "MAILWRIGHT_SMTP_PASSWORD": "wrong"})
        assert r.exit_code == 3 and "refused the login (535 5.7.8 Authentication credentials invalid)" in r.stderr


def test_starttls_is_the_default_and_is_not_skipped(shop):
    with smtp_server(accept_login=("design", PASSWORD)) as server:
        env = env_for(server, MAILWRIGHT_SMTP_USER="design", MAILWRIGHT_SMTP_PASSWORD=PASSWORD)
        env["MAILWRIGHT_SMTP_TLS"] = None  # unset: the default applies
        r = run(["cart-reminder", "--to", TO, "--project", str(shop)], env)
    assert r.exit_code == 3, r.output
    assert "does not offer STARTTLS" in r.stderr and server.logins == [] and server.messages == []


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: the client trusts it through SSL_CERT_FILE, as it would a
    company's own CA."""
    d = tmp_path_factory.mktemp("tls")
    key, crt = str(d / "key.pem"), str(d / "cert.pem")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"openssl cannot make a test certificate: {e}")
    return crt, key


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_modes_log_in_over_tls_only(shop, cert, mode):
    with smtp_server(tls=mode, cert=cert, accept_login=("design", PASSWORD)) as server:
        env = env_for(server, MAILWRIGHT_SMTP_USER="design", MAILWRIGHT_SMTP_PASSWORD=PASSWORD,
                      MAILWRIGHT_SMTP_TLS=mode, SSL_CERT_FILE=cert[0])
        r = run(["cart-reminder", "--to", TO, "--project", str(shop), "--sample", "none"], env)
        assert r.exit_code == 1  # no samples/: an input error, before connecting
        assert server.connections == 0
        r = run(["cart-reminder", "--to", TO, "--project", str(shop)], env)
        assert r.exit_code == 0, r.output
        assert server.logins == ["design"] and len(server.messages) == derived_count("klaviyo")
        assert "unencrypted" not in r.stderr
        # a certificate the client does not trust: nothing is sent, the password is not offered
        r = run(["cart-reminder", "--to", TO, "--project", str(shop)], {**env, "SSL_CERT_FILE": "/nonexistent"})
        assert r.exit_code == 3 and "CERTIFICATE_VERIFY_FAILED" in r.stderr and server.logins == ["design"]
        assert PASSWORD not in r.output


def test_refused_messages_do_not_stop_the_others(shop):
    with smtp_server(refuse=lambda m: "variant 2/" in m["Subject"]) as server:
        r = run(["cart-reminder", "--to", TO, "--project", str(shop)], env_for(server))
    n = derived_count("klaviyo")
    assert r.exit_code == 3, r.output
    assert len(server.messages) == n - 1
    assert f"2/{n} not sent: refused: 554 5.6.0 message refused by the test server" in r.stderr
    assert f"sent {n - 1} of {n}; 1 not sent" in r.stderr


def test_an_unreachable_server_is_exit_3(shop):
    with smtp_server() as server:
        port = server.port
    r = run(["cart-reminder", "--to", TO, "--project", str(shop)],
            {**env_for(server), "MAILWRIGHT_SMTP_PORT": str(port)})
    assert r.exit_code == 3 and "cannot reach the SMTP server" in r.stderr


def test_unknown_template_and_bad_address(shop):
    with smtp_server() as server:
        r = run(["cart-remind", "--to", TO, "--project", str(shop)], env_for(server))
        assert r.exit_code == 1 and "no template 'cart-remind'" in r.stderr and "cart-reminder" in r.stderr
        r = run(["cart-reminder", "--to", "a@b.example, c@d.example", "--project", str(shop)], env_for(server))
        assert r.exit_code == 1 and "not one email address" in r.stderr
        r = run(["cart-reminder", "--to", TO, "--project", str(shop), "--esp", "mailchimp"], env_for(server))
        assert r.exit_code == 2 and "unknown ESP 'mailchimp'" in r.output
    assert server.connections == 0


def test_help_has_examples():
    r = CliRunner().invoke(command, ["--help"])
    assert r.exit_code == 0
    for word in ("--to", "--sample", "--esp", "--project", "MAILWRIGHT_SMTP_HOST", "MAILWRIGHT_SMTP_TLS",
                 "Examples:", "mailwright send-test cart-reminder --to"):
        assert word in r.output


def test_every_example_template_builds_for_every_esp():
    """No SMTP: the messages for every template, trigger and ESP, from the same compilation as `compile`."""
    from mailwright.sendtest import Variant, build_messages, compile_template

    proj = load_project(SHOP, list(load_connectors()))
    compiled = {(o.esp, o.name, o.trigger): o for o in compile_project(proj).outputs}
    for (esp, name, trigger), want in compiled.items():
        out = compile_template(proj, name, esp, trigger, warn=lambda d: None)
        assert (out.html, out.text, out.subject) == (want.html, want.text, want.subject), (esp, name, trigger)
        people, unreachable = derive([out.rendered.page, out.rendered.subject], {"esp": esp, "trigger": trigger})
        assert unreachable == []
        msgs = build_messages(out, [Variant(p) for p in people], esp, "d@fernhill.example", [TO])
        assert len(msgs) == len(people)
        for o in msgs:
            assert o.message["Subject"].startswith(f"[test {name} · variant {o.index}/{len(people)}] ")
            assert o.message.get_body(("html",)) is not None and o.message.get_body(("plain",)) is not None


def test_a_template_with_two_triggers(shop):
    with smtp_server() as server:
        r = run(["cart-free-shipping", "--to", TO, "--project", str(shop), "--trigger", "placed_order"],
                env_for(server))
        assert r.exit_code == 0, r.output
        assert "trigger placed_order" in r.stderr
        assert all("cart-free-shipping--placed_order" in m["X-Mailwright-Template"] for _, m in server.messages)
        r = run(["cart-free-shipping", "--to", TO, "--project", str(shop), "--trigger", "page_visit"],
                env_for(server))
        assert r.exit_code == 1 and "is sent for cart_abandoned, placed_order; not for 'page_visit'" in r.stderr
