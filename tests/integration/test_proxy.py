"""The worker data path: headers, keep-alive, pipelining, bodies, upgrades,
streaming without buffering, upstream pooling and balancing."""

import base64
import hashlib
import os
import socket
import threading
import time

from conftest import (T, Conn, closed_port, get, ingress, path, proc_rss_kib, route, rule,
                      simple_route, ws_accept, ws_frame, ws_read_frame)

GiB = 1 << 30
RSS_LIMIT_KIB = 64 * 1024


def one_route(ingressd, backend, host="app.test", name="app", config=None, **kw):
    b = backend(name, **kw)
    d = ingressd(manifests={"a.yaml": simple_route(host, name, [b])},
                 config=config)
    return d, b


# ------------------------------------------------------------- headers

def test_x_forwarded_headers(ingressd, backend):
    d, b = one_route(ingressd, backend)
    j = get(d.port, "app.test", "/h").json()["headers"]
    assert j["x-forwarded-for"] == "127.0.0.1"
    assert j["x-forwarded-proto"] == "http"
    assert j["x-forwarded-host"] == "app.test"
    assert j["x-forwarded-port"] == str(d.port)
    j = get(d.port, "app.test", "/h",
            headers={"X-Forwarded-For": "203.0.113.7"}).json()["headers"]
    assert j["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"


def test_x_request_id_generated_and_preserved(ingressd, backend):
    d, b = one_route(ingressd, backend)
    ids = {get(d.port, "app.test").json()["headers"].get("x-request-id")
           for _ in range(5)}
    assert None not in ids and "" not in ids and len(ids) == 5, ids
    j = get(d.port, "app.test", headers={"X-Request-Id": "abc-123"}).json()
    assert j["headers"]["x-request-id"] == "abc-123"


def test_host_path_query_method_as_sent(ingressd, backend):
    d, b = one_route(ingressd, backend)
    r = get(d.port, "App.Test:%d" % d.port, "/a/b%20c/../d?x=1&y=%2F",
            method="PATCH", body=b"data")
    j = r.json()
    assert j["headers"]["host"] == "App.Test:%d" % d.port
    assert j["target"] == "/a/b%20c/../d?x=1&y=%2F"
    assert j["method"] == "PATCH"
    assert j["body_len"] == 4


def test_via_added(ingressd, backend):
    """RFC 9110 7.6.3: a gateway adds Via to what it forwards."""
    d, b = one_route(ingressd, backend)
    j = get(d.port, "app.test", "/v").json()
    assert j["headers"]["via"] == "1.1 ingressd"
    j = get(d.port, "app.test", "/v", headers={"Via": "1.1 edge"}).json()
    vias = [v for k, v in j["raw_headers"] if k.lower() == "via"]
    assert ", ".join(vias) == "1.1 edge, 1.1 ingressd"


def test_absolute_form_goes_upstream_as_origin_form(ingressd, backend):
    """RFC 9112 3.2.2: route by the target's authority, send origin-form
    with Host made from it, never the stale Host the client sent."""
    d, b = one_route(ingressd, backend)
    with Conn(d.port) as c:
        c.send(b"GET http://app.test/abs?q=1 HTTP/1.1\r\n"
               b"Host: stale.example\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r
    j = r.json()
    assert j["target"] == "/abs?q=1"
    assert j["headers"]["host"] == "app.test"


def test_own_responses_carry_date(ingressd, backend):
    """RFC 9110 6.6.1: ingressd's own answers carry Date, as IMF-fixdate."""
    import email.utils
    d, b = one_route(ingressd, backend)
    r = get(d.port, "nothing.test", "/")
    assert r.status == 404
    when = email.utils.parsedate_to_datetime(r.header("Date"))
    assert abs(when.timestamp() - time.time()) < 5
    assert r.header("Date").endswith(" GMT")


def test_server_header(ingressd, backend):
    b1 = backend("with", server_header="echo-backend/1.0")
    b2 = backend("without", server_header=None)
    d = ingressd(manifests={"a.yaml": simple_route("with.test", "with", [b1]) +
                            simple_route("without.test", "without", [b2])})
    assert get(d.port, "with.test").all("Server") == ["echo-backend/1.0"]
    srv = get(d.port, "without.test").all("Server")
    assert len(srv) == 1 and srv[0].startswith("ingressd"), srv
    srv = get(d.port, "nowhere.test").all("Server")
    assert len(srv) == 1 and srv[0].startswith("ingressd"), srv


def test_hop_by_hop_headers_removed(ingressd, backend):
    d, b = one_route(ingressd, backend)
    r = get(d.port, "app.test",
            "/h?h=Connection:X-Bar&h=X-Bar:1&h=Keep-Alive:timeout%3D99&h=X-Kept:yes",
            headers=[("Connection", "close, X-Foo"), ("X-Foo", "1"),
                     ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
                     ("X-Other", "stays")])
    j = r.json()["headers"]
    assert "x-foo" not in j and "keep-alive" not in j and "proxy-connection" not in j, j
    assert j["x-other"] == "stays"
    assert r.header("X-Bar") is None, r.headers
    assert "99" not in (r.header("Keep-Alive") or ""), r.headers
    assert r.header("X-Kept") == "yes"


# ---------------------------------------------------- connection reuse

def test_keep_alive_many_requests_one_connection(ingressd, backend):
    d, b = one_route(ingressd, backend)
    with Conn(d.port) as c:
        for i in range(30):
            r = c.roundtrip("GET", "/n%d" % i, "app.test")
            assert r.status == 200 and r.json()["path"] == "/n%d" % i
        r = c.roundtrip("POST", "/last", "app.test", body=b"x" * 1000)
        assert r.json()["body_len"] == 1000
        assert not c.closed_within(0.2)


def test_pipelining_in_order(ingressd, backend):
    d, b = one_route(ingressd, backend)
    with Conn(d.port) as c:
        data = b"".join(c.request("GET", p, "app.test", send=False)
                        for p in ("/one?delay=0.3", "/two", "/three"))
        c.send(data)
        got = [c.read_response().json()["path"] for _ in range(3)]
        assert got == ["/one", "/two", "/three"]
        # pipelined with bodies and a HEAD in the middle
        data = (c.request("POST", "/p1", "app.test", body=b"a" * 10, send=False) +
                c.request("HEAD", "/p2", "app.test", send=False) +
                c.request("POST", "/p3", "app.test", body=b"b" * 20, send=False))
        c.send(data)
        r1, r2, r3 = c.read_response(), c.read_response("HEAD"), c.read_response()
        assert r1.json()["body_len"] == 10 and r2.status == 200
        assert r3.json()["path"] == "/p3" and r3.json()["body_len"] == 20


def test_upstream_keepalive_reuse(ingressd, backend):
    d, b = one_route(ingressd, backend)
    n = 40
    for i in range(n):
        assert get(d.port, "app.test", "/k%d" % i).status == 200
    assert b.requests == n
    assert b.connections <= n // 4, \
        "backend saw %d connections for %d requests" % (b.connections, n)


# --------------------------------------------------------------- bodies

def test_chunked_request_body(ingressd, backend):
    d, b = one_route(ingressd, backend)
    parts = [b"hello ", b"chunked " * 1000, b"world"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    with Conn(d.port) as c:
        r = c.roundtrip("POST", "/up", "app.test",
                        [("Transfer-Encoding", "chunked")], body)
        whole = b"".join(parts)
        assert r.json()["body_len"] == len(whole)
        assert r.json()["body_sha256"] == hashlib.sha256(whole).hexdigest()
        # chunk extensions and trailers are fine too
        body = b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
        r = c.roundtrip("POST", "/up2", "app.test",
                        [("Transfer-Encoding", "chunked")], body)
        assert r.json()["body_len"] == 3
        assert c.roundtrip("GET", "/after", "app.test").status == 200


def test_chunked_response_body(ingressd, backend):
    d, b = one_route(ingressd, backend)
    with Conn(d.port) as c:
        r = c.roundtrip("GET", "/chunked?n=100000", "app.test")
        assert r.status == 200 and len(r.body) == 100000
        assert r.body[:16] == b"0123456789abcdef"
        assert c.roundtrip("GET", "/next", "app.test").json()["path"] == "/next"


def test_expect_100_continue(ingressd, backend):
    d, b = one_route(ingressd, backend)
    with Conn(d.port) as c:
        c.request("POST", "/e", "app.test",
                  [("Expect", "100-continue"), ("Content-Length", "10")])
        status, _, _ = c.read_head()
        assert status == 100, status
        c.send(b"0123456789")
        r = c.read_response()
        assert r.status == 200 and r.json()["body_len"] == 10


def test_head_and_bodiless_statuses(ingressd, backend):
    d, b = one_route(ingressd, backend)
    with Conn(d.port) as c:
        r = c.roundtrip("HEAD", "/download?n=5000", "app.test")
        assert r.status == 200 and r.header("Content-Length") == "5000"
        r = c.roundtrip("GET", "/status/204", "app.test")
        assert r.status == 204 and r.header("Content-Length") in (None, "0")
        r = c.roundtrip("GET", "/status/304", "app.test")
        assert r.status == 304
        # nothing left over from the three: the next response parses
        r = c.roundtrip("GET", "/next", "app.test")
        assert r.status == 200 and r.json()["path"] == "/next"
        assert c.buf == b""


def test_backend_error_status_passed_through(ingressd, backend):
    d, b = one_route(ingressd, backend)
    r = get(d.port, "app.test", "/status/418")
    assert r.status == 418 and r.header("X-Backend") == "app"


def test_websocket_echo(ingressd, backend):
    d, b = one_route(ingressd, backend)
    key = base64.b64encode(os.urandom(16)).decode()
    with Conn(d.port) as c:
        c.request("GET", "/ws", "app.test",
                  [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")])
        r = c.read_response()
        assert r.status == 101, r
        assert r.header("Sec-WebSocket-Accept") == ws_accept(key)
        assert (r.header("Upgrade") or "").lower() == "websocket"
        read = c.read_exact
        c.send(ws_frame(1, b"hello", True))
        assert ws_read_frame(read) == (1, b"hello")
        big = os.urandom(70000)
        c.send(ws_frame(2, big, True))
        assert ws_read_frame(read) == (2, big)
        c.send(ws_frame(9, b"p", True))
        assert ws_read_frame(read) == (10, b"p")
        c.send(ws_frame(8, b"\x03\xe8", True))
        assert ws_read_frame(read)[0] == 8
        assert c.closed_within()


# ----------------------------------------------- streaming, flat memory

class RssWatch:
    """Samples the VmRSS of the workers every 50 ms."""

    def __init__(self, d):
        self.d = d
        self.pids = d.worker_pids()
        self.max = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            for p in self.pids:
                self.max = max(self.max, proc_rss_kib(p))
            time.sleep(0.05)

    def done(self):
        self.stop.set()
        self.t.join()
        return self.max


def test_1gib_upload_streamed(ingressd, backend):
    d, b = one_route(ingressd, backend, config={"limits": {"max_body_size": 0}})
    w = RssWatch(d)
    block = os.urandom(256 * 1024)
    with Conn(d.port, timeout=6 * T) as c:
        c.request("PUT", "/upload?nohash=1", "app.test",
                  [("Content-Length", str(GiB))])
        for _ in range(GiB // len(block)):
            c.send(block)
        r = c.read_response()
    peak = w.done()
    assert r.status == 200, r
    assert r.json()["body_len"] == GiB
    assert peak < RSS_LIMIT_KIB, "worker RSS reached %d KiB" % peak


def test_1gib_download_streamed(ingressd, backend):
    d, b = one_route(ingressd, backend)
    w = RssWatch(d)
    got = [0]

    def sink(data):
        got[0] += len(data)
    with Conn(d.port, timeout=6 * T) as c:
        c.request("GET", "/download?n=%d" % GiB, "app.test")
        r = c.read_response(sink=sink)
    peak = w.done()
    assert r.status == 200 and got[0] == GiB
    assert peak < RSS_LIMIT_KIB, "worker RSS reached %d KiB" % peak


def test_slow_reader_does_not_buffer(ingressd, backend):
    """A client that reads nothing: the worker must stop reading from the
    backend instead of buffering the whole response."""
    d, b = one_route(ingressd, backend)
    n = 256 << 20
    c = Conn(d.port)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.request("GET", "/download?n=%d" % n, "app.test")
        time.sleep(1.5)
        peak = max(proc_rss_kib(p) for p in d.worker_pids())
        assert peak < RSS_LIMIT_KIB, "worker RSS %d KiB with a stalled client" % peak
    finally:
        c.close()


# --------------------------------------------------------- balancing

def test_round_robin_two_endpoints(ingressd, backend):
    b1, b2 = backend("one"), backend("two")
    d = ingressd(manifests={"a.yaml": simple_route("rr.test", "rr", [b1, b2])})
    seen = [route(d.port, "rr.test") for _ in range(20)]
    assert seen.count("one") >= 6 and seen.count("two") >= 6, seen


def test_dead_endpoint_skipped(ingressd, backend):
    live = backend("live")
    dead = closed_port()
    d = ingressd(manifests={"a.yaml": simple_route("dead.test", "s", [dead, live])})
    for _ in range(10):
        r = get(d.port, "dead.test")
        assert r.status == 200 and r.backend == "live", r


def test_connection_close_and_http10(ingressd, backend):
    d, b = one_route(ingressd, backend)
    with Conn(d.port) as c:
        r = c.roundtrip("GET", "/", "app.test", [("Connection", "close")])
        assert r.status == 200 and c.closed_within()
    with Conn(d.port) as c:
        c.send(b"GET /ten HTTP/1.0\r\nHost: app.test\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/ten"
        assert c.closed_within()


def test_response_until_close(ingressd, backend):
    d, b = one_route(ingressd, backend)
    got = [0]

    def sink(data):
        got[0] += len(data)
    with Conn(d.port) as c:
        c.request("GET", "/untilclose?n=3000000", "app.test")
        r = c.read_response(sink=sink)
        assert r.status == 200 and got[0] == 3000000
        if (r.header("Transfer-Encoding") or "").lower() == "chunked":
            # re-framed for the client: the connection may live on
            assert c.roundtrip("GET", "/after", "app.test").status == 200


def test_external_name_service(ingressd, backend):
    b = backend("ext")
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "ext", "namespace": "default"},
           "spec": {"type": "ExternalName", "externalName": "localhost"}}
    ing = ingress("ext", [rule("ext.test", path("/", "ext", b.port))])
    d = ingressd(manifests={"a.yaml": [ing, svc]})
    r = get(d.port, "ext.test")
    assert r.status == 200 and r.backend == "ext", r


def test_admin_healthz_and_readyz(ingressd, backend, tmp_path):
    """The admin listener, served by the workers: /healthz while a worker
    answers, /readyz once it serves a complete sync's routes; HEAD gets
    no body; other paths are 404."""
    from conftest import free_port
    admin = free_port()
    d, b = one_route(ingressd, backend,
                     config={"listen": {"admin": "127.0.0.1:%d" % admin}})
    for p, want, body in (("/healthz", 200, b"ok\n"), ("/readyz", 200, b"ready\n"),
                          ("/metricsz", 404, None)):
        r = get(admin, "anything", p)
        assert r.status == want, (p, r)
        if body is not None:
            assert r.body == body, (p, r.body)
    with Conn(admin) as c:
        c.send(b"HEAD /readyz HTTP/1.1\r\nHost: a\r\n\r\n")
        r = c.read_response(method="HEAD")
        assert r.status == 200 and r.body == b""

