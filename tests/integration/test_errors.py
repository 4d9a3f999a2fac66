"""Every error status, and request smuggling shapes rejected with 400 and
the connection closed, without the backend ever seeing them."""

import time

import pytest

from conftest import T, Conn, get, simple_route

GOOD = b"GET / HTTP/1.1\r\nHost: app.test\r\n"


def one_route(ingressd, backend, config=None, **kw):
    b = backend("app", **kw)
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 config=config)
    return d, b


def send_raw(port, data):
    """Sends <data>, returns (first response or None, closed afterwards)."""
    with Conn(port) as c:
        c.send(data)
        try:
            r = c.read_response()
        except ConnectionError:
            return None, True
        return r, c.closed_within()


MALFORMED = {
    "no_version": b"GET /\r\nHost: app.test\r\n\r\n",
    "junk_request_line": b"GET / HTTP/1.1 extra\r\nHost: app.test\r\n\r\n",
    "bad_version": b"GET / HTTP/9.x\r\nHost: app.test\r\n\r\n",
    "space_in_target": b"GET /a b HTTP/1.1\r\nHost: app.test\r\n\r\n",
    "control_in_target": b"GET /a\x01b HTTP/1.1\r\nHost: app.test\r\n\r\n",
    "bad_header_name": GOOD + b"Bad Header: x\r\n\r\n",
    "space_before_colon": GOOD + b"X-A : x\r\n\r\n",
    "header_without_colon": GOOD + b"NoColonHere\r\n\r\n",
    "obs_fold": GOOD + b"X-A: 1\r\n  continued\r\n\r\n",
    "bare_lf_in_headers": GOOD + b"X-A: 1\nX-B: 2\r\n\r\n",
    "bare_cr_in_headers": GOOD + b"X-A: 1\rX-B: 2\r\n\r\n",
    "nul_in_value": GOOD + b"X-A: a\x00b\r\n\r\n",
    "two_hosts": GOOD + b"Host: other.test\r\n\r\n",
    "cl_and_te": (b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "duplicate_differing_cl": (b"POST / HTTP/1.1\r\nHost: app.test\r\n"
                               b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    "cl_list_differing": (b"POST / HTTP/1.1\r\nHost: app.test\r\n"
                          b"Content-Length: 5, 6\r\n\r\nhello!"),
    "negative_cl": b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: -1\r\n\r\n",
    "plus_cl": b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: +5\r\n\r\nhello",
    "te_not_chunked_last": (b"POST / HTTP/1.1\r\nHost: app.test\r\n"
                            b"Transfer-Encoding: chunked, gzip\r\n\r\n"),
    "te_unknown": (b"POST / HTTP/1.1\r\nHost: app.test\r\n"
                   b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    "bad_chunk_size": (b"POST / HTTP/1.1\r\nHost: app.test\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    "chunk_size_overflow": (b"POST / HTTP/1.1\r\nHost: app.test\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n"
                            b"10000000000000000000001\r\nx\r\n"),
    "chunk_missing_crlf": (b"POST / HTTP/1.1\r\nHost: app.test\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_400_and_closed(ingressd, backend, name):
    d, b = one_route(ingressd, backend)
    r, closed = send_raw(d.port, MALFORMED[name])
    want = (400, 501) if name == "te_unknown" else (400,)
    assert r is not None and r.status in want, "%s: got %r" % (name, r)
    assert closed, "%s: connection left open after 400" % name
    # requests whose head is bad never reach the backend
    if not name.startswith("chunk") and name != "bad_chunk_size":
        assert b.requests == 0, "%s reached the backend" % name
    # and the worker is fine afterwards
    assert get(d.port, "app.test").status == 200


def test_smuggled_second_request_not_forwarded(ingressd, backend):
    d, b = one_route(ingressd, backend)
    smuggle = (b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 44\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
               b"GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n")
    r, closed = send_raw(d.port, smuggle)
    assert r is not None and r.status == 400 and closed
    time.sleep(0.2)
    assert all("/smuggled" not in p for _, p, _ in b.seen), b.seen


def test_413_body_too_large(ingressd, backend):
    d, b = one_route(ingressd, backend, config={"limits": {"max_body_size": "1k"}})
    r = get(d.port, "app.test", "/", method="POST", body=b"x" * 1024)
    assert r.status == 200
    with Conn(d.port) as c:
        c.request("POST", "/", "app.test", [("Content-Length", "2000")])
        r = c.read_response()
        assert r.status == 413
    chunks = b"".join(b"400\r\n" + b"y" * 1024 + b"\r\n" for _ in range(3))
    with Conn(d.port) as c:
        c.request("POST", "/", "app.test", [("Transfer-Encoding", "chunked")])
        try:
            c.send(chunks + b"0\r\n\r\n")
        except OSError:
            pass
        r = c.read_response()
        assert r.status == 413
        assert c.closed_within()


def test_431_header_too_large(ingressd, backend):
    d, b = one_route(ingressd, backend,
                     config={"limits": {"max_header_size": "4k"}})
    assert get(d.port, "app.test", headers={"X-Big": "a" * 3000}).status == 200
    r, closed = send_raw(d.port, GOOD + b"X-Big: " + b"a" * 8000 + b"\r\n\r\n")
    assert r is not None and r.status == 431 and closed, r
    r, closed = send_raw(d.port, b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\n"
                         b"Host: app.test\r\n\r\n")
    assert r is not None and r.status in (414, 431) and closed, r


def test_431_too_many_headers(ingressd, backend):
    d, b = one_route(ingressd, backend, config={"limits": {"max_headers": 20}})
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(40))
    r, closed = send_raw(d.port, GOOD + many + b"\r\n")
    assert r is not None and r.status == 431 and closed, r


def test_502_backend_garbage(ingressd, backend):
    d, b = one_route(ingressd, backend, behavior="garbage")
    r = get(d.port, "app.test")
    assert r.status == 502 and r.header("Server").startswith("ingressd")


def test_502_backend_closes_at_once(ingressd, backend):
    d, b = one_route(ingressd, backend, behavior="close")
    r = get(d.port, "app.test")
    assert r.status == 502


def test_502_nothing_listening(ingressd, backend):
    from conftest import closed_port
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app",
                                                   [closed_port()])})
    assert get(d.port, "app.test").status in (502, 503)


def test_504_upstream_response_timeout(ingressd, backend):
    d, b = one_route(ingressd, backend, behavior="hang",
                     config={"timeouts": {"upstream_response": "1s"}})
    t0 = time.monotonic()
    r = get(d.port, "app.test")
    took = time.monotonic() - t0
    assert r.status == 504
    assert 0.8 <= took < 1 + T, took


def test_client_header_timeout_closes(ingressd, backend):
    d, b = one_route(ingressd, backend,
                     config={"timeouts": {"client_header": "1s"}})
    with Conn(d.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: app")
        t0 = time.monotonic()
        assert c.closed_within(1 + T)
        assert time.monotonic() - t0 >= 0.8
    assert b.requests == 0


def test_client_idle_timeout_closes_keepalive(ingressd, backend):
    d, b = one_route(ingressd, backend,
                     config={"timeouts": {"client_idle": "1s"}})
    with Conn(d.port) as c:
        assert c.roundtrip("GET", "/", "app.test").status == 200
        assert c.closed_within(1 + T)


def test_errors_keep_connection_when_safe(ingressd, backend):
    """404 and 503 are answers, not protocol errors: keep-alive survives."""
    d, b = one_route(ingressd, backend)
    with Conn(d.port) as c:
        assert c.roundtrip("GET", "/", "nope.test").status == 404
        assert c.roundtrip("GET", "/", "app.test").status == 200


BAD_RESPONSES = {
    "cl_and_te": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "differing_cl": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                     b"Content-Length: 7\r\n\r\nhello"),
    "bad_status_line": b"HTTP/1.1 two hundred OK\r\nContent-Length: 0\r\n\r\n",
    "bad_header": b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 0\r\n\r\n",
    "negative_cl": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
    "truncated_head": b"HTTP/1.1 200 OK\r\nContent-Len",
}


def test_502_bad_backend_responses(ingressd, backend):
    docs = []
    for name, raw in BAD_RESPONSES.items():
        b = backend(name, behavior="raw", raw=raw)
        docs += simple_route(name.replace("_", "-") + ".test",
                             name.replace("_", "-"), [b])
    d = ingressd(manifests={"a.yaml": docs})
    for name in BAD_RESPONSES:
        r = get(d.port, name.replace("_", "-") + ".test")
        assert r.status == 502, "%s: %r" % (name, r)
