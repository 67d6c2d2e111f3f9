"""The decoding helpers and the gate's decisions, without a server."""
from __future__ import annotations

import pytest
from twisted.web.http_headers import Headers

from ipv8.REST.guard import GuardPolicy, host_allowed, normalize_host_entry, normalize_origin, screen, split_host
from ipv8.REST.inputs import InputError, check_path, json_depth_exceeds, parse_json, parse_query, split_query


def test_parse_query_is_strict() -> None:
    assert parse_query(b"a=1&b=x+y&a=%C3%A9&flag&&c=") == {"a": ["1", "é"], "b": ["x y"], "flag": [""], "c": [""]}
    for raw, message in ((b"x=%ff", "not valid UTF-8"), (b"%fe=1", "not valid UTF-8"), (b"x=%zz", "percent-escape"),
                         (b"x=%", "percent-escape"), (b"x=%4", "percent-escape")):
        with pytest.raises(InputError, match=message):
            parse_query(raw)


def test_split_query_never_fails() -> None:
    assert split_query(b"apikey=%ff%zz&x") == [(b"apikey", b"\xff%zz"), (b"x", b"")]


def test_check_path() -> None:
    check_path(b"/network/a%20b/%C3%A9")
    for path in (b"/network/%ff", b"/a%2", b"/%e2%82"):
        with pytest.raises(InputError):
            check_path(path)


def test_parse_json() -> None:
    assert parse_json(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert parse_json(b"[" * 64 + b"]" * 64) is not None
    for raw in (b"[" * 65 + b"]" * 65, b"[" * 50_000 + b"]" * 50_000, b"{\"a\":" * 5000, b"NaN", b"Infinity",
                b"\xff", b"1" * 5000, b"", b"{", b"[1e400]", b"-1E999"):
        with pytest.raises(InputError):
            parse_json(raw)
    assert not json_depth_exceeds([[], {"a": [1]}], 3)
    assert json_depth_exceeds([[], {"a": [[1]]}], 3)


def test_origins_and_hosts() -> None:
    assert normalize_origin("HTTP://App.Example") == "http://app.example:80"
    assert normalize_origin("https://[::1]:8443") == "https://[::1]:8443"
    assert normalize_origin("null") == "null"
    for bad in ("*", "app.example", "http://app.example/x", "http://u@app.example", "http://app.example:99999"):
        with pytest.raises(ValueError):
            normalize_origin(bad)
    assert split_host("[::1]:80") == ("[::1]", "80")
    assert split_host("localhost") == ("localhost", None)
    assert normalize_host_entry("Node.LAN:0080") == "node.lan:80"
    for bad in ("", "a b", "x:0", "x:http", "u@x"):
        with pytest.raises(ValueError):
            normalize_host_entry(bad)
    policy = GuardPolicy.build(None, (), ("node.lan",), 10, True)
    assert [host_allowed(policy, host) for host in (b"node.lan:5", b"127.1.2.3", b"[::1]", b"::1", b"[::2]",
                                                    b"localhost:0", b"\xff")] == [True, True, True, False, False,
                                                                                  False, False]


def verdict(policy: GuardPolicy, method: bytes = b"GET", uri: bytes = b"/network", length: int | None = 0,
            **headers: str) -> str | None:
    raw = Headers({name.replace("_", "-").encode(): [value.encode()] for name, value in headers.items()})
    error = screen(policy, method, uri, raw, length, secure=False)
    return None if error is None else f"{error.status} {error.code}"


def test_screen_order_and_options() -> None:
    keyed = GuardPolicy.build("k", (), (), 100, listening_on_loopback=True)
    assert verdict(keyed, Host="evil.example", Origin="http://evil.example") == "421 MisdirectedRequest"
    assert verdict(keyed, Host="localhost", Origin="http://evil.example") == "403 Forbidden"
    assert verdict(keyed, Host="localhost") == "401 Unauthorized"
    assert verdict(keyed, b"POST", length=10**9, Host="localhost", X_Api_Key="k") == "413 PayloadTooLarge"
    assert verdict(keyed, b"POST", length=None, Host="localhost", X_Api_Key="k") == "415 UnsupportedMediaType"
    assert verdict(keyed, b"POST", b"/x?apikey=k", length=5, Host="localhost", Content_Type="application/json") is None
    # Listening on all interfaces without allowed hosts: any Host (nothing to compare with).
    open_policy = GuardPolicy.build(None, (), (), 100, listening_on_loopback=False)
    assert verdict(open_policy, Host="node.example:8085") is None
    assert verdict(GuardPolicy.build(None, (), ("node.example",), 100, False), Host="other.example") \
        == "421 MisdirectedRequest"
    # Several Host headers are refused outright.
    raw = Headers({b"Host": [b"localhost", b"evil.example"]})
    assert screen(open_policy, b"GET", b"/", raw, 0, False).status == 400
    for arguments, error in ((("k", "http://a.example", (), 100, True), TypeError),
                             (("k", (), (), 0, True), ValueError), ((b"k", (), (), 1, True), TypeError),
                             (("k", (), (), True, True), TypeError)):
        with pytest.raises(error):
            GuardPolicy.build(*arguments)
