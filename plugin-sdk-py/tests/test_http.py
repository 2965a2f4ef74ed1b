"""Outbound HTTP over the fake host's wasi:http: requests as sent, responses as read, and
failures mapped to the Rust SDK's codes."""

import pytest

from fake_host import HTTP_ERROR, HttpResponse
from plughost_sdk import Conn, RpcError, _plugin, http, rpc
from plughost_sdk.http import HttpError

USERS = "http://127.0.0.1:8000/users/42"


def test_get_returns_status_headers_and_body(host):
    host.serve(USERS, body='{"id": "42", "name": "Ann"}', headers=[("Content-Type", "application/json")])
    response = http.get(USERS)
    assert (response.status, response.ok) == (200, True)
    assert response.header("content-type") == response.header("CONTENT-TYPE") == "application/json"
    assert response.headers == [("content-type", b"application/json")]
    assert response.json() == {"id": "42", "name": "Ann"}
    assert response.text() == '{"id": "42", "name": "Ann"}'
    seen = host.requests[0]
    assert (seen.method, seen.url, seen.body, seen.timeouts) == ("GET", USERS, b"", None)


def test_a_status_that_is_not_2xx_is_a_response_not_an_error(host):
    host.serve("http://api.test/moved", status=302, headers=[("location", "http://elsewhere.test/")])
    response = http.get("http://api.test/moved")
    assert (response.status, response.ok, response.header("location")) == (302, False, "http://elsewhere.test/")
    # Unlisted in the fake: 404.
    assert http.get("http://api.test/none").status == 404


def test_post_sends_json_with_its_type_and_length(host):
    host.routes["https://api.test/items"] = lambda req: HttpResponse(201, body=req.body)
    response = http.post("https://api.test/items", json={"name": "x", "n": [1, 2]}, headers={"X-Trace": "t1"})
    assert response.status == 201
    seen = host.requests[0]
    assert (seen.method, seen.url) == ("POST", "https://api.test/items")
    assert seen.body == b'{"name":"x","n":[1,2]}' == response.body
    assert seen.headers == [("X-Trace", b"t1"), ("content-type", b"application/json"),
                            ("content-length", b"22")]


def test_request_streams_a_large_body_in_chunks_the_host_accepts(host):
    body = bytes(range(256)) * 100  # 25600 bytes: more than one 4096-byte write
    http.request("PUT", "http://api.test/blob", body=body, headers=[("content-type", "application/octet-stream")])
    seen = host.requests[0]
    assert (seen.method, seen.body) == ("PUT", body)
    assert ("content-length", b"25600") in seen.headers
    http.request("PROPFIND", "http://api.test/dav", body="text")
    assert (host.requests[1].method, host.requests[1].body) == ("PROPFIND", b"text")


def test_a_large_response_body_is_read_whole(host):
    host.serve("http://api.test/big", body=b"x" * 200_000)
    assert len(http.get("http://api.test/big").body) == 200_000


def test_urls_split_as_the_rust_sdk_splits_them(host):
    for url, sent in [
        ("http://127.0.0.1:8000/users/42?x=1#frag", "http://127.0.0.1:8000/users/42?x=1"),
        ("HTTPS://api.example.com", "https://api.example.com/"),
        ("https://api.example.com?q", "https://api.example.com/?q"),
    ]:
        http.get(url)
        assert host.requests[-1].url == sent
    for url in ["ftp://example.com/", "example.com/users", "http:///path"]:
        with pytest.raises(HttpError) as e:
            http.get(url)
        assert (e.value.code, e.value.kind) == (1007, "Other")
        assert url not in e.value.message
    assert len(host.requests) == 3


def test_timeout_is_sent_as_the_request_options(host):
    http.get(USERS, timeout=1.5)
    assert host.requests[0].timeouts == (1_500_000_000,) * 3


@pytest.mark.parametrize("case, code, temporary, kind", [
    ("HttpRequestDenied", 1003, False, "Denied"),
    ("DestinationIpProhibited", 1003, False, "Denied"),
    ("HttpResponseTimeout", 1008, True, "Timeout"),
    ("ConnectionTimeout", 1008, True, "Timeout"),
    ("ConnectionLimitReached", 1008, True, "Timeout"),
    ("ConnectionRefused", 1008, True, "Unavailable"),
    ("DestinationNotFound", 1008, True, "Unavailable"),
    ("HttpRequestUriInvalid", 1007, False, "Other"),
    ("HttpProtocolError", 1007, False, "Other"),
])
def test_host_failures_map_to_the_rust_sdks_codes(host, case, code, temporary, kind):
    host.fail("http", HTTP_ERROR[case]())
    with pytest.raises(HttpError) as e:
        http.get(USERS)
    assert (e.value.code, e.value.temporary, e.value.kind) == (code, temporary, kind)
    assert isinstance(e.value, RpcError)
    assert "127.0.0.1" not in e.value.message


def test_size_caps_are_1009_and_the_message_matches_the_rust_sdk(host):
    host.fail("http", HTTP_ERROR["HttpResponseBodySize"](10))
    with pytest.raises(HttpError) as e:
        http.get(USERS)
    assert (e.value.code, e.value.temporary) == (1009, False)
    assert e.value.message == "outbound HTTP too large: HttpResponseBodySize(10)"
    host.fail("http", HTTP_ERROR["HttpRequestDenied"]())
    with pytest.raises(HttpError) as e:
        http.get(USERS)
    assert e.value.message == "outbound HTTP denied: HttpRequestDenied"


@pytest.mark.parametrize("failure, code, kind", [
    (HTTP_ERROR["HttpResponseBodySize"](1024), 1009, "TooLarge"),
    ("response body size exceeds limit", 1009, "TooLarge"),
    ("body read timeout", 1008, "Timeout"),
    ("connection reset", 1008, "Unavailable"),
])
def test_a_body_that_breaks_off_is_classified(host, failure, code, kind):
    host.serve(USERS, body=b"partial", body_error=failure)
    with pytest.raises(HttpError) as e:
        http.get(USERS)
    assert (e.value.code, e.value.kind) == (code, kind)


def test_forbidden_and_malformed_headers_are_refused_before_sending(host):
    for name in ["Host", "bad name"]:
        with pytest.raises(HttpError) as e:
            http.get(USERS, headers={name: "x"})
        assert e.value.code == 1007
    assert host.requests == []


def test_json_errors_do_not_quote_the_body(host):
    host.serve(USERS, body='{"name": "secret-value"')
    with pytest.raises(HttpError) as e:
        http.get(USERS).json()
    assert e.value.code == 1007
    assert "secret" not in e.value.message and "line 1" in e.value.message


def test_body_and_json_together_are_refused(host):
    with pytest.raises(HttpError):
        http.post(USERS, body=b"x", json={"a": 1})


def test_an_uncaught_http_error_answers_the_call(host):
    @rpc("t.profile")
    def profile(conn) -> dict:
        return http.get(f"http://127.0.0.1:8000/users/{conn.user}").json()

    host.serve(USERS, body='{"id": "42"}')
    assert _plugin.run_method(Conn(user="42"), "t.profile", b"") == b'{"id":"42"}'
    host.fail("http", HTTP_ERROR["HttpRequestDenied"]())
    with pytest.raises(RpcError) as e:
        _plugin.run_method(Conn(user="42"), "t.profile", b"")
    assert (e.value.code, e.value.temporary) == (1003, False)
