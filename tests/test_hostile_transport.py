"""The transport against a hostile server (a real HTTP server on 127.0.0.1): redirects, wrong
shapes, bodies that are not JSON, Retry-After oddities, echoed keys. Nothing may be followed,
assumed done, or leak the credential."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mailwright.errors import MailwrightError
from mailwright.transport import BadAnswer, LostResponse, RemoteError, Secret, Transport, base_url, credential

SECRET = "ac_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


class Hostile:
    """A server that answers each request with the next scripted (status, headers, raw body)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        hostile = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _answer(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                hostile.seen.append((self.command, self.path, dict(self.headers.items()), self.rfile.read(n)))
                status, headers, body = hostile.answers.pop(0) if hostile.answers else (200, {}, b"{}")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if "Content-Length" in headers:  # a lying length: cut the connection short
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, status: int, body: bytes | object = b"", **headers: str) -> Hostile:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, raw))
        return self

    def everything_received(self) -> str:
        return "\n".join(f"{m} {p} {h} {b!r}" for m, p, h, b in self.seen)


@pytest.fixture
def servers() -> Iterator[list[Hostile]]:
    made: list[Hostile] = []
    yield made
    for s in made:
        s.server.shutdown()
        s.server.server_close()


@pytest.fixture
def hostile(servers: list[Hostile]) -> Hostile:
    servers.append(Hostile())
    return servers[-1]


@pytest.fixture
def other(servers: list[Hostile]) -> Hostile:
    """A second origin (another port): it must never see the credential."""
    servers.append(Hostile())
    return servers[-1]


def transport(server: Hostile, **kw: object) -> tuple[Transport, list[float]]:
    slept: list[float] = []
    t = Transport(server.url, {"Api-Token": SECRET, "Authorization": f"Bearer {SECRET}"}, Secret(SECRET),
                  label="ESP", sleep=slept.append, timeout=2, retries=3, backoff=0.5, base_var="ESP_BASE_URL",
                  **kw)  # type: ignore[arg-type]
    return t, slept


def no_secret(text: str) -> None:
    assert SECRET not in text and SECRET[:8] not in text and SECRET[-8:] not in text, text


# ---------------------------------------------------------------- redirects
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_on_a_write_is_a_failure_never_a_get(hostile: Hostile, other: Hostile, status: int) -> None:
    hostile.answer(status, Location=f"{other.url}/api/3/messages")
    t, _ = transport(hostile)
    with pytest.raises(BadAnswer) as e:
        t.request("POST", "/messages", json={"message": {"name": "x"}}, creates=True)
    assert "redirect" in str(e.value) and "ESP_BASE_URL" in str(e.value)
    assert [m for m, *_ in hostile.seen] == ["POST"]  # not repeated, not turned into a GET
    assert other.seen == []  # the other origin never heard of us, so never saw the key
    no_secret(str(e.value))


def test_a_same_origin_redirect_and_a_redirect_loop_are_reported_not_followed(hostile: Hostile) -> None:
    hostile.answer(302, Location=f"{hostile.url}/elsewhere").answer(302, Location=f"{hostile.url}/x")
    t, _ = transport(hostile)
    for path in ("/x", "/x"):
        with pytest.raises(BadAnswer, match="redirect"):
            t.request("GET", path)
    assert len(hostile.seen) == 2


def test_a_next_page_link_to_another_origin_is_not_followed(hostile: Hostile, other: Hostile) -> None:
    t, _ = transport(hostile)
    with pytest.raises(BadAnswer, match="another address"):
        t.request("GET", f"{other.url}/api/templates?page=2")
    assert other.seen == [] and hostile.seen == []


# ---------------------------------------------------------------- answers that are not what the API documents
@pytest.mark.parametrize("status, body, headers, words", [
    (200, b"", {}, "empty body"),
    (201, b"<html><body>Welcome to nginx</body></html>", {"Content-Type": "text/html"}, "text/html that is not JSON"),
    (200, b'{"data": {"id": "abc"', {}, "not JSON"),
    (200, b'[{"id": "abc"}]', {}, "a list, not an object"),
    (201, b'{"data": {"id": null}}', {}, "data.id is null, not a string"),
    (201, b'{"data": null}', {}, "data is null"),
    (201, b'{"data": {}}', {}, "data.id is missing"),
])
def test_an_unexpected_2xx_body_is_a_failure(hostile: Hostile, status: int, body: bytes, headers: dict,
                                             words: str) -> None:
    hostile.answer(status, body, **headers)
    t, _ = transport(hostile)
    with pytest.raises(BadAnswer) as e:
        t.request("POST", "/api/templates", json={}, creates=True, shape={"data": {"id": str}})
    assert "the ESP answered POST /api/templates" in str(e.value) and words in str(e.value), str(e.value)


def test_a_body_cut_short_is_a_lost_answer_on_a_create_and_retried_on_a_read(hostile: Hostile) -> None:
    hostile.answer(201, b'{"data": {"id": "ab', Content_Length="200")
    t, _ = transport(hostile)
    with pytest.raises(LostResponse):
        t.request("POST", "/api/templates", json={}, creates=True, shape={"data": {"id": str}})
    hostile.answer(200, b'{"data": [', Content_Length="200").answer(200, {"data": []})
    assert t.request("GET", "/api/templates", shape={"data": [dict]}) == {"data": []}


def test_a_5xx_on_a_create_is_a_lost_answer_never_a_retry(hostile: Hostile) -> None:
    hostile.answer(502, b"<html>Bad gateway</html>").answer(201, {"data": {"id": "second"}})
    t, slept = transport(hostile)
    with pytest.raises(LostResponse) as e:
        t.request("POST", "/api/templates", json={"name": "a"}, creates=True, shape={"data": {"id": str}})
    assert not e.value.in_flight and len(hostile.seen) == 1 and slept == []
    hostile.answers.clear()
    hostile.answer(504, b"gateway timeout")
    with pytest.raises(LostResponse) as e:
        t.request("POST", "/api/templates", json={"name": "a"}, creates=True)
    assert e.value.in_flight  # a gateway timeout: the write may still be running


def test_an_update_is_retried_after_a_5xx(hostile: Hostile) -> None:
    hostile.answer(500, {"error": "x"}).answer(200, {"ok": True})
    t, slept = transport(hostile)
    assert t.request("PATCH", "/api/templates/1", json={}) == {"ok": True}
    assert len(hostile.seen) == 2 and len(slept) == 1


# ---------------------------------------------------------------- Retry-After and backoff
@pytest.mark.parametrize("header, expect", [
    ("7", 7.0), ("-5", 0.0), ("1e12", 300.0), ("inf", 300.0), ("0.25", 0.25),
    ("Wed, 01 Jan 2031 00:00:10 GMT", 10.0),  # an HTTP date, 10 s after "now"
    ("Wed, 01 Jan 2020 00:00:00 GMT", 0.0),   # a date in the past
])
def test_retry_after_is_bounded(hostile: Hostile, header: str, expect: float) -> None:
    hostile.answer(429, {}, Retry_After=header).answer(200, {"id": 1})
    t, slept = transport(hostile, now=lambda: 1924992000.0)  # 2031-01-01T00:00:00Z
    assert t.request("GET", "/x") == {"id": 1}
    assert slept == [pytest.approx(expect)]


@pytest.mark.parametrize("header", ["nan", "soon", "", "Thu, 99 Foo 2031 25:61:61 GMT"])
def test_a_meaningless_retry_after_falls_back_to_backoff(hostile: Hostile, header: str) -> None:
    hostile.answer(429, {}, Retry_After=header).answer(200, {"id": 1})
    t, slept = transport(hostile)
    assert t.request("GET", "/x") == {"id": 1}
    assert len(slept) == 1 and 0.25 <= slept[0] <= 0.5


def test_backoff_doubles(hostile: Hostile) -> None:
    for _ in range(4):
        hostile.answer(503, {})
    t, slept = transport(hostile)
    with pytest.raises(RemoteError):
        t.request("GET", "/x")
    assert len(slept) == 3
    for n, s in enumerate(slept):  # 0.5 * 2**n, less up to half of it (jitter)
        assert 0.5 * 2 ** n / 2 <= s <= 0.5 * 2 ** n, slept


# ---------------------------------------------------------------- the credential
def test_an_echoed_key_is_redacted_before_the_body_is_cut(hostile: Hostile) -> None:
    for pad in (380, 390, 396, 399):  # the key straddles the 400-character cut
        hostile.answer(400, ("x" * pad + SECRET).encode())
    t, _ = transport(hostile)
    for _ in range(4):
        with pytest.raises(RemoteError) as e:
            t.request("GET", "/x")
        no_secret(str(e.value))


def test_an_escaped_key_in_a_redirect_or_a_body_is_redacted(hostile: Hostile) -> None:
    weird = 'k"ey\\with/slash+plus'
    hostile.answer(400, {"echo": weird}).answer(302, Location=f"http://evil.example/?k={weird.replace('/', '%2F')}")
    t = Transport(hostile.url, {"Authorization": "Bearer x"}, Secret(weird), label="ESP", sleep=lambda s: None)
    for _ in range(2):
        with pytest.raises(RemoteError) as e:
            t.request("GET", "/x")
        assert "slash" not in str(e.value), str(e.value)


@pytest.mark.parametrize("value", [f"{SECRET}\r\nX-Evil: 1", f"{SECRET[:9]}\n{SECRET[9:]}", f"ab\x00{SECRET}", f"{SECRET}\u00e9"])
def test_a_credential_with_control_characters_is_refused_without_showing_it(value: str) -> None:
    with pytest.raises(MailwrightError) as e:
        credential({"ESP_API_KEY": value}, "ESP_API_KEY", "ESP")
    text = str(e.value)
    assert "ESP_API_KEY" in text and "position" in text
    no_secret(text)


@pytest.mark.parametrize("value, words", [
    ("a.klaviyo.com", "no http:// or https:// scheme"),
    ("https://a.klaviyo.com:99999", "port outside 1-65535"),
    ("https://a.klaviyo.com:0", "port outside 1-65535"),
    ("https://:443", "no host"),
    ("https://user:pw@a.klaviyo.com", "user name or password"),
    ("https://a.klaviyo.com/?x=1", "query"),
    ("https://a.klaviyo.com\r\nHost: evil", "control character"),
    ("ftp://a.klaviyo.com", "scheme"),
])
def test_a_bad_base_url_is_a_located_error(value: str, words: str) -> None:
    with pytest.raises(MailwrightError) as e:
        base_url({"KLAVIYO_BASE_URL": value}, "KLAVIYO_BASE_URL", "https://a.klaviyo.com", "https://a.klaviyo.com")
    assert str(e.value).startswith("KLAVIYO_BASE_URL: error: the environment variable KLAVIYO_BASE_URL")
    assert words in str(e.value)
    assert "pw" not in str(e.value)


def test_a_good_base_url_passes() -> None:
    assert base_url({}, "X_URL", "https://a.klaviyo.com/", "e") == "https://a.klaviyo.com"
    assert base_url({"X_URL": " http://127.0.0.1:8080 "}, "X_URL", None, "e") == "http://127.0.0.1:8080"
