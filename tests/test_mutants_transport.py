"""transport.py's small parts (pacing, shapes, messages, environment checks), pinned where
mutation testing found them unchecked (docs/testing.md). The HTTP behaviour is in
test_transport.py and test_hostile_transport.py."""

from types import SimpleNamespace

import pytest

from mailwright.errors import MailwrightError, Pos
from mailwright.transport import (
    Limit,
    LostResponse,
    Secret,
    Transport,
    _Bucket,
    _clip,
    _path_of,
    base_url,
    conforms,
    credential,
)


class Clock:
    def __init__(self):
        self.t, self.slept = 100.0, []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.slept.append(s)
        self.t += s


def test_a_bucket_lets_a_burst_through_then_waits_for_the_missing_part_of_a_token():
    clock = Clock()
    bucket = _Bucket(Limit(rate=2, per=4, burst=2), clock)  # half a token a second
    bucket.take(clock.sleep)
    bucket.take(clock.sleep)
    assert clock.slept == []
    clock.t += 1  # half a token back
    bucket.take(clock.sleep)
    assert clock.slept == [pytest.approx(1.0)]
    bucket.take(clock.sleep)
    assert clock.slept == [pytest.approx(1.0), pytest.approx(2.0)]


def test_a_secret_never_prints():
    assert repr(Secret("sk_1")) == str(Secret("sk_1")) == "Secret(***)"
    assert f"{Secret('sk_1')}" == "Secret(***)"


def test_a_lost_response_keeps_its_message_status_and_flight():
    e = LostResponse("Klaviyo: no answer", 502, in_flight=False)
    assert (str(e), e.status, e.in_flight) == ("Klaviyo: no answer", 502, False)
    assert LostResponse("m", in_flight=True).status is None


def test_an_optional_key_may_be_missing_and_the_rest_is_still_checked():
    shape = {"a?": int, "b": str, "c?": {"d": str}}
    assert conforms({"b": "x"}, shape) is None
    assert conforms({}, shape) == "b is missing"
    assert conforms({"b": "x", "c": {}}, shape) == "c.d is missing"
    assert conforms({"b": "x", "a": "1"}, shape) == "a is a string, not a number"


def test_a_value_of_an_unusual_type_is_named_by_its_type():
    assert conforms(3 + 4j, str) == "the body is complex, not a string"
    assert conforms([1.5], [str]) == "[0] is a number, not a string"


def test_an_empty_body_has_no_text():
    assert Transport._text(SimpleNamespace(content=b"", text="ignored")) == ""
    assert Transport._text(SimpleNamespace(content=b"x", text="x")) == "x"


def test_clip():
    assert _clip("a  b\n\t c ") == "a b c"
    assert _clip("x" * 400) == "x" * 400
    assert _clip("x" * 401) == "x" * 400 + "…"
    assert _clip("abcd", 3) == "abc…"


def test_path_of():
    assert _path_of("https://h.test/api/x?page=2") == "/api/x"


def cred_error(env):
    with pytest.raises(MailwrightError) as e:
        credential(env, "KLAVIYO_API_KEY", "Klaviyo")
    assert e.value.diagnostic.pos == Pos("KLAVIYO_API_KEY", 0, 0)
    return e.value.diagnostic.message


def test_a_credential_is_read_trimmed_and_printable():
    assert credential({"KLAVIYO_API_KEY": " pk_ab~ c "}, "KLAVIYO_API_KEY", "Klaviyo").reveal() == "pk_ab~ c"
    assert cred_error({}) == "Klaviyo needs a credential: set the environment variable KLAVIYO_API_KEY"
    assert cred_error({"KLAVIYO_API_KEY": "  "}) == cred_error({})


@pytest.mark.parametrize("value, what, at", [
    ("ab\ncd", "a control character (such as a line break)", 3), ("a\x7f", "a control character (such as a line "
                                                                            "break)", 2),
    ("a\x1fb", "a control character (such as a line break)", 2), ("abcé", "a character outside printable ASCII", 4),
    ("a\x80", "a character outside printable ASCII", 2)])
def test_a_credential_with_a_character_that_cannot_travel_is_refused(value, what, at):
    assert cred_error({"KLAVIYO_API_KEY": value}) == (f"the environment variable KLAVIYO_API_KEY holds {what} at "
                                                      f"position {at}: set it to the Klaviyo credential alone")


def url_error(value):
    with pytest.raises(MailwrightError) as e:
        base_url({"X_URL": value} if value is not None else {}, "X_URL", None, "https://a.test")
    assert e.value.diagnostic.pos == Pos("X_URL", 0, 0)
    return e.value.diagnostic.message


@pytest.mark.parametrize("value, problem", [
    ("https://h.test/a b", "holds a space, a control character or a character outside ASCII"),
    ("https://h.test/\x7f", "holds a space, a control character or a character outside ASCII"),
    ("ftp://h.test", "has no http:// or https:// scheme"), ("https://", "has no host"),
    ("https://u@h.test", "holds a user name or password (credentials go in their own variable)"),
    ("https://h.test?x=1", "has a query or a fragment"), ("https://h.test#top", "has a query or a fragment"),
    ("https://h.test:0", "has a port outside 1-65535"), ("https://h.test:65536", "has a port outside 1-65535"),
    ("https://h.test:http", "has a port outside 1-65535"),
])
def test_a_bad_base_url_says_what_is_wrong(value, problem):
    assert url_error(value) == f"the environment variable X_URL {problem}: set it to a URL such as https://a.test"


def test_a_missing_base_url_without_a_default_is_an_error():
    assert url_error(None) == "set the environment variable X_URL (e.g. https://a.test)"
    assert url_error("  ") == url_error(None)


@pytest.mark.parametrize("value", ["https://h.test:1/", "http://h.test:65535", "https://h.test/~me//",
                                   "https://h.test/BOX/"])
def test_a_good_base_url_loses_its_trailing_slashes(value):
    assert base_url({"X_URL": value}, "X_URL", None, "https://a.test") == value.rstrip("/")
    assert base_url({}, "X_URL", "https://d.test/", "https://a.test") == "https://d.test"
