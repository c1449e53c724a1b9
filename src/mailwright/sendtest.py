"""``mailwright send-test``: every variant of one template, through your own SMTP server, to a real inbox.

Each recipient (derived to reach every branch, see :mod:`mailwright.variants`, or a
designer's named sample in ``samples/NAME.yaml``) gets one email: the reference
rendering of the compiled template (:func:`mailwright.semantics.interpret`) as HTML
with a plain-text alternative. Vendor passthrough (``<mw-raw>``) stays ESP syntax.

SMTP settings come from the environment (``MAILWRIGHT_SMTP_*``) and are never
printed; the password is redacted from every message and exception.
"""

from __future__ import annotations

import base64
import json
import os
import re
import smtplib
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import click

from .errors import Diagnostic, MailwrightError, MailwrightErrors, Pos
from .options import esp_option
from .transport import Secret

ENV_PREFIX = "MAILWRIGHT_SMTP_"
TLS_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 587}
EXIT_OK, EXIT_INPUT, EXIT_SMTP = 0, 1, 3
_ENV = Pos("mailwright", 0, 0)  # not a place in a file: the environment


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. ``repr`` shows no credential."""

    host: str = field(repr=False)
    port: int
    tls: str
    sender: str = field(repr=False)  # the From header, as given
    envelope_from: str = field(repr=False)  # its address
    user: str | None = field(default=None, repr=False)
    password: Secret | None = field(default=None, repr=False)
    timeout: float = 30.0

    def secrets(self) -> list[str]:
        """Every form in which the password could come back in a server's answer."""
        if self.password is None or not self.password.reveal():
            return []
        pw = self.password.reveal()
        forms = {pw, repr(pw)[1:-1], repr(pw.encode())[2:-1]}
        for raw in (pw, f"\0{self.user or ''}\0{pw}", f"{self.user or ''}\0{self.user or ''}\0{pw}"):
            forms.add(base64.b64encode(raw.encode()).decode("ascii"))
        return sorted((f for f in forms if f), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for s in self.secrets():
            text = text.replace(s, "***")
        return text


def smtp_settings(env: Mapping[str, str]) -> SmtpSettings:
    """The SMTP settings from ``env``, or a clear input error before any connection."""

    def get(name: str) -> str:
        return env.get(ENV_PREFIX + name, "").strip()

    host, sender = get("HOST"), get("FROM")
    if not host:
        raise MailwrightError(_ENV, f"send-test needs your SMTP server: set {ENV_PREFIX}HOST (and {ENV_PREFIX}FROM, "
                                    f"{ENV_PREFIX}USER, {ENV_PREFIX}PASSWORD)")
    if not sender:
        raise MailwrightError(_ENV, f"send-test needs a sender: set {ENV_PREFIX}FROM to an address your SMTP server "
                                    "may send from, e.g. 'Design team <design@example.com>'")
    envelope_from = parseaddr(sender)[1]
    if "@" not in envelope_from or any(c in sender for c in "\r\n"):
        raise MailwrightError(_ENV, f"{ENV_PREFIX}FROM is not an email address")
    tls = get("TLS").lower() or "starttls"
    if tls not in TLS_MODES:
        raise MailwrightError(_ENV, f"{ENV_PREFIX}TLS must be one of {', '.join(TLS_MODES)} (not '{tls}')")
    port_text = get("PORT")
    try:
        port = int(port_text) if port_text else DEFAULT_PORTS[tls]
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise MailwrightError(_ENV, f"{ENV_PREFIX}PORT must be a port number (1-65535)")
    user = get("USER") or None
    password_text = env.get(ENV_PREFIX + "PASSWORD", "")
    if user and not password_text:
        raise MailwrightError(_ENV, f"{ENV_PREFIX}USER is set but {ENV_PREFIX}PASSWORD is not")
    if password_text and not user:
        raise MailwrightError(_ENV, f"{ENV_PREFIX}PASSWORD is set but {ENV_PREFIX}USER is not")
    timeout_text = env.get("MAILWRIGHT_TIMEOUT", "").strip()
    try:
        timeout = float(timeout_text) if timeout_text else 30.0
    except ValueError:
        raise MailwrightError(_ENV, "MAILWRIGHT_TIMEOUT must be a number of seconds") from None
    return SmtpSettings(host, port, tls, sender, envelope_from, user,
                        Secret(password_text) if password_text else None, timeout)


# ---------------------------------------------------------------- what to send


@dataclass
class Variant:
    """One recipient's data, and what it is called in the inbox."""

    data: dict[str, Any]
    sample: str | None = None  # the sample's name, or None when derived
    source: Any = field(default=None, repr=False, compare=False)  # the variants.Sample it was read from

    def describe(self, limit: int = 300) -> str:
        """The recipient's data in one short line (the ``X-Mailwright-Variant`` header)."""
        parts = [f"{k}={_brief(v)}" for k, v in _flatten(self.data)]
        text = "; ".join(parts) if parts else "no profile or event data"
        if self.sample:
            text = f"sample {self.sample}: {text}"
        text = re.sub(r"[\x00-\x1f\x7f]", " ", text)
        return text if len(text) <= limit else text[: limit - 1] + "…"


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        keys = sorted(data, key=lambda k: (k not in ("profile", "event"), k != "profile", str(k)))
        out: list[tuple[str, Any]] = []
        for k in keys:
            out += _flatten(data[k], f"{prefix}{k}.")
        return out
    return [(prefix[:-1], data)]


def _brief(v: Any) -> str:
    if isinstance(v, list):
        return f"[{len(v)} item{'s' * (len(v) != 1)}]"
    if isinstance(v, str):
        return json.dumps(v if len(v) <= 40 else v[:39] + "…", ensure_ascii=False)
    return json.dumps(v) if v is None or isinstance(v, bool) else str(v)


def load_sample(root: Path, name: str, warn: Callable[[Diagnostic], None] | None = None) -> Variant:
    """``samples/NAME.yaml``: a mapping with ``profile:`` and ``event:`` mappings (other keys are ignored)."""
    from .variants import SAMPLE_NAME, read_sample, sample_files

    folder = root / "samples"
    if not SAMPLE_NAME.fullmatch(name):
        raise MailwrightError(Pos(str(folder), 0), f"'{name}' is not a sample name (samples/NAME.yaml)")
    path = next((p for p in (folder / f"{name}.yaml", folder / f"{name}.yml") if p.exists()), None)
    if path is None:
        have = [p.stem for p in sample_files(root)]
        listing = f"samples/ has: {', '.join(have)}" if have else "there are no samples/*.yaml yet"
        raise MailwrightError(Pos(str(folder / f"{name}.yaml"), 0), f"no sample '{name}' ({listing})")
    sample = read_sample(path)
    for w in sample.warnings:
        if warn:
            warn(w)
    return Variant(sample.data, name, sample)


def load_samples(root: Path, names: list[str], out: Any, template: str,
                 warn: Callable[[Diagnostic], None]) -> list[Variant]:
    """The named samples, each checked against what the compiled template reads; every problem in one pass."""
    from .variants import shape_problems

    variants, problems = [], []
    for name in dict.fromkeys(names):
        try:
            v = load_sample(root, name, warn)
        except MailwrightError as e:
            problems += e.diagnostics
            continue
        r = out.rendered
        problems += shape_problems(v.source, [r.page, r.text, r.subject, r.preheader], template)
        variants.append(v)
    if problems:
        raise MailwrightErrors(problems)
    return variants


class CompileErrors(MailwrightErrors):
    """The template does not compile for the ESP: every error, as `mailwright compile` reports them."""


def compile_template(project: Any, name: str, esp: str, trigger: str | None,
                     warn: Callable[[Diagnostic], None]) -> Any:
    """Compile one template of ``project`` for ``esp`` (and a trigger) as ``mailwright compile`` does.

    Returns the :class:`mailwright.compile.Output`; an error in the template is a
    :class:`MailwrightError` (the other templates are not compiled).
    """
    from .compile import Result, compile_one, parse_template, triggers_by_template
    from .compose import theme_head
    from .dialect import load_connectors
    from .flows import load_flows

    if name.endswith(".mjml"):
        name = Path(name).stem
    if name not in project.templates:
        have = ", ".join(project.templates) or "none"
        raise MailwrightError(Pos(str(project.root / "templates"), 0),
                              f"no template '{name}' in templates/*.mjml (have: {have})")
    connectors = load_connectors()
    flows, flow_errors = load_flows(project.root, set(project.templates), dict(project.segments))
    for e in flow_errors:
        d = e.diagnostic
        warn(Diagnostic(d.pos, f"{d.message} (this flow is ignored by send-test)", "warning", d.notes))
    triggers = triggers_by_template(flows).get(name, [None])
    if trigger is None:
        trigger = triggers[0]
    elif trigger not in triggers:
        sent_for = (f"is sent for {', '.join(str(t) for t in triggers)}" if triggers != [None]
                    else "is sent by no flow (it has no trigger)")
        raise MailwrightError(Pos(str(project.templates[name]), 0), f"'{name}' {sent_for}; not for '{trigger}'")
    t = parse_template(project, name)
    head = theme_head(project.theme) if project.theme else ""
    result = Result()
    compile_one(project, t, trigger, {esp: connectors[esp].dialect}, head, result)
    for d in result.diagnostics:
        if d.severity != "error":
            warn(d)
    if result.errors:
        raise CompileErrors(result.errors)
    (out,) = result.outputs
    return out


@dataclass
class Outgoing:
    """One email, ready to send."""

    index: int
    total: int
    variant: Variant
    message: EmailMessage


def build_messages(out: Any, variants: list[Variant], esp: str, sender: str, to: list[str]) -> list[Outgoing]:
    """One multipart/alternative email per variant: the reference rendering for that recipient."""
    from .semantics import interpret

    domain = parseaddr(sender)[1].rpartition("@")[2] or "mailwright.invalid"
    total = len(variants)
    msgs: list[Outgoing] = []
    for i, v in enumerate(variants, 1):
        r = out.rendered
        html = interpret(r.page, v.data, esp, out.trigger)
        text = interpret(r.text, v.data, esp, out.trigger, context="text")
        subject = " ".join(interpret(r.subject, v.data, esp, out.trigger, "text").split())
        tag = f"[test {out.name} · variant {i}/{total}" + (f" · sample {v.sample}]" if v.sample else "]")
        m = EmailMessage()
        m["Subject"] = f"{tag} {subject}".rstrip()
        m["From"] = sender
        m["To"] = ", ".join(to)
        m["Date"] = formatdate(localtime=True)
        m["Message-ID"] = make_msgid("mailwright", domain=domain)
        m["X-Mailwright-Variant"] = v.describe()
        m["X-Mailwright-Template"] = f"{out.stem}; esp={esp}"
        m.set_content(text)
        m.add_alternative(html, subtype="html")
        msgs.append(Outgoing(i, total, v, m))
    return msgs


# ---------------------------------------------------------------- sending


class SmtpFailure(Exception):
    """The SMTP server could not be reached, refused the login or a message. Messages are redacted."""

    def __init__(self, message: str, fatal: bool = False):
        super().__init__(message)
        self.fatal = fatal  # no further message can be sent on this server


def _answer(e: smtplib.SMTPResponseException) -> str:
    err = e.smtp_error
    text = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
    return f"{e.smtp_code} {' '.join(text.split())}"


class Mailer:
    """One SMTP session, opened on first use and again after the server drops it."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.conn: smtplib.SMTP | None = None

    def _fail(self, message: str, fatal: bool) -> SmtpFailure:
        return SmtpFailure(self.settings.redact(message), fatal)

    def connect(self) -> None:
        s = self.settings
        try:
            if s.tls == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                      context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        except (OSError, smtplib.SMTPException) as e:
            raise self._fail(f"cannot reach the SMTP server ({ENV_PREFIX}HOST, port {s.port}, TLS {s.tls}): "
                             f"{type(e).__name__}: {e}", True) from None
        self.conn = conn
        try:
            conn.ehlo()
            if s.tls == "starttls":
                if not conn.has_extn("starttls"):
                    raise self._fail(f"the SMTP server does not offer STARTTLS: set {ENV_PREFIX}TLS=ssl (usually "
                                     f"port 465), or {ENV_PREFIX}TLS=none for a server on your own machine", True)
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if s.user and s.password is not None:
                conn.login(s.user, s.password.reveal())
        except SmtpFailure:
            self.close()
            raise
        except smtplib.SMTPAuthenticationError as e:
            self.close()
            raise self._fail(f"the SMTP server refused the login ({_answer(e)}): check {ENV_PREFIX}USER and "
                             f"{ENV_PREFIX}PASSWORD", True) from None
        except smtplib.SMTPNotSupportedError:
            self.close()
            how = "" if s.tls != "none" else f" without TLS (try {ENV_PREFIX}TLS=starttls or ssl)"
            raise self._fail(f"the SMTP server offers no login (AUTH){how}; unset {ENV_PREFIX}USER and "
                             f"{ENV_PREFIX}PASSWORD if it needs none", True) from None
        except smtplib.SMTPResponseException as e:
            self.close()
            raise self._fail(f"the SMTP server refused the session: {_answer(e)}", True) from None
        except (OSError, smtplib.SMTPException) as e:  # ssl.SSLError is an OSError
            self.close()
            raise self._fail(f"the SMTP session failed: {type(e).__name__}: {e}", True) from None
        except UnicodeEncodeError:  # smtplib sends the login as ASCII
            self.close()
            raise self._fail(f"{ENV_PREFIX}USER and {ENV_PREFIX}PASSWORD must be ASCII for SMTP login", True) from None
        except Exception as e:  # anything else: still never the password
            self.close()
            raise self._fail(f"the SMTP session failed: {type(e).__name__}: {e}", True) from None

    def send(self, msg: EmailMessage, to: list[str]) -> None:
        """Send one message; a refusal is an :class:`SmtpFailure` (``fatal`` when nothing more can be sent)."""
        if self.conn is None:
            self.connect()
        assert self.conn is not None
        try:
            refused = self.conn.send_message(msg, from_addr=self.settings.envelope_from, to_addrs=to)
        except smtplib.SMTPRecipientsRefused as e:
            why = "; ".join(f"{addr}: {code} {_text(resp)}" for addr, (code, resp) in e.recipients.items())
            raise self._fail(f"recipient refused ({why})", False) from None
        except smtplib.SMTPResponseException as e:  # sender refused, data refused
            raise self._fail(f"refused: {_answer(e)}", False) from None
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            self.close()  # the next message reconnects
            raise self._fail(f"the connection was lost: {type(e).__name__}: {e}", False) from None
        except (smtplib.SMTPException, ValueError, UnicodeError) as e:  # e.g. a non-ASCII address, no SMTPUTF8
            raise self._fail(f"not sent: {type(e).__name__}: {e}", False) from None
        except Exception as e:  # anything else: stop, and still never the password
            self.close()
            raise self._fail(f"not sent: {type(e).__name__}: {e}", True) from None
        if refused:
            why = "; ".join(f"{addr}: {code} {_text(resp)}" for addr, (code, resp) in refused.items())
            raise self._fail(f"sent, but some recipients were refused ({why})", False)

    def close(self) -> None:
        if self.conn is None:
            return
        conn, self.conn = self.conn, None
        try:
            conn.quit()
        except Exception:  # closing anyway
            try:
                conn.close()
            except Exception:
                pass


def _text(resp: Any) -> str:
    return " ".join((resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)).split())


def send_all(messages: list[Outgoing], settings: SmtpSettings, to: list[str],
             log: Callable[[str], None]) -> tuple[int, list[tuple[Outgoing, str]]]:
    """Send every message, continuing past refusals. Returns how many were sent and the failures."""
    mailer = Mailer(settings)
    sent, failed = 0, []
    try:
        for k, o in enumerate(messages):
            head = f"  {o.index}/{o.total}"
            try:
                mailer.send(o.message, to)
            except SmtpFailure as e:
                failed.append((o, str(e)))
                log(f"{head} not sent: {e}")
                if e.fatal:
                    for rest in messages[k + 1:]:
                        failed.append((rest, "not sent (the SMTP server is unavailable)"))
                    if messages[k + 1:]:
                        log(f"  stopping: {len(messages) - k - 1} more not sent")
                    break
                continue
            sent += 1
            log(f"{head} sent  {o.variant.describe(120)}")
    finally:
        mailer.close()
    return sent, failed


# ---------------------------------------------------------------- the command


def _report(d: Diagnostic, settings: SmtpSettings | None = None) -> None:
    text = d.format()
    click.echo(settings.redact(text) if settings else text, err=True)


@click.command("send-test", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("template")
@click.option("--to", "to", multiple=True, required=True, metavar="ADDRESS",
              help="Send to this address (repeatable: every address gets every variant).")
@click.option("--sample", "samples", multiple=True, metavar="NAME",
              help="Send the named sample PROJECT/samples/NAME.yaml instead of every derived variant (repeatable).")
@click.option("--esp", "esp", default=None, metavar="ESP",
              help="Show the branches this ESP's output takes (default: the project's first ESP).")
@click.option("--trigger", "trigger", default=None, metavar="EVENT",
              help="For a template sent by flows with different triggers: which one (default: the first).")
@click.option("--project", "project", default=".", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path), help="The project folder.")
def command(template: str, to: tuple[str, ...], samples: tuple[str, ...], esp: str | None, trigger: str | None,
            project: Path) -> None:
    """Email every variant of TEMPLATE to ADDRESS through your own SMTP server.

    \b
    One email per recipient that reaches a branch of the template (the same
    recipients `mailwright compile` checks every ESP with), or per --sample:
    the HTML and plain text every ESP must show that recipient, subject
    prefixed "[test TEMPLATE · variant N/M]", header X-Mailwright-Variant
    naming the recipient's data. ESP tags in <mw-raw> (unsubscribe links,
    sender address) are left as written.
    \b
    SMTP settings come from the environment and are never printed:
      MAILWRIGHT_SMTP_HOST      your server (required)
      MAILWRIGHT_SMTP_FROM      the sender address (required)
      MAILWRIGHT_SMTP_PORT      default 587 (465 with TLS ssl)
      MAILWRIGHT_SMTP_USER, MAILWRIGHT_SMTP_PASSWORD   the login, if any
      MAILWRIGHT_SMTP_TLS       starttls (default), ssl or none
    \b
    Exit status: 0 all sent, 1 an input or settings error (nothing sent),
    2 usage, 3 the SMTP server refused some or all messages (the rest are sent).
    \b
    Examples:
      mailwright send-test cart-reminder --to me@example.com --project examples/shop
      mailwright send-test cart-reminder --to me@example.com --esp hubspot
      mailwright send-test cart-reminder --to me@example.com --sample vip --sample new-customer
    """
    from .project import load_project
    from .variants import derive

    def say(message: str) -> None:
        click.echo(message, err=True)

    settings: SmtpSettings | None = None
    try:
        settings = smtp_settings(os.environ)
        recipients = _recipients(to)
        proj = load_project(project, esp_option([esp]))
        esp = esp or proj.esps[0]
        out = compile_template(proj, template, esp, trigger, lambda d: _report(d, settings))
        if samples:
            variants = load_samples(proj.root, list(samples), out, out.name, lambda d: _report(d, settings))
        else:
            people, unreachable = derive([out.rendered.page, out.rendered.subject],
                                         {"esp": esp, "trigger": out.trigger})
            if unreachable:
                say(f"{out.name}: warning: no recipient reaches {len(unreachable)} branch(es) "
                    f"({', '.join(unreachable)}): contradicting conditions, or a default() that can never apply")
            variants = [Variant(p) for p in people] or [Variant({"profile": {}, "event": {}})]
        messages = build_messages(out, variants, esp, settings.sender, recipients)
    except MailwrightError as e:
        for d in e.diagnostics:
            _report(d, settings)
        say("nothing was sent")
        sys.exit(EXIT_INPUT)
    what = f"{len(messages)} {'sample' if samples else 'variant'}{'s' * (len(messages) != 1)}"
    on = f"{esp}" + (f", trigger {out.trigger}" if out.trigger else "")
    say(f"sending {what} of {out.name} ({on}) to {', '.join(recipients)} …")
    if settings.tls == "none" and settings.user:
        say(f"warning: {ENV_PREFIX}TLS=none: the login goes over the network unencrypted")
    sent, failed = send_all(messages, settings, recipients, say)
    if failed:
        say(f"sent {sent} of {len(messages)}; {len(failed)} not sent (see above)")
        sys.exit(EXIT_SMTP)
    say(f"sent {sent} of {len(messages)}: check the inbox of {', '.join(recipients)}")
    sys.exit(EXIT_OK)


def _recipients(to: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for a in to:
        addr = parseaddr(a)[1]
        if "@" not in addr or any(c in a for c in "\r\n,") or addr != a.strip():
            raise MailwrightError(Pos("--to", 0), f"'{a}' is not one email address (repeat --to for more)")
        if addr not in out:
            out.append(addr)
    return out
