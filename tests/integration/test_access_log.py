"""The access log: one line per request in JSON or combined format, written
by the workers to the fd the master opened (a file, or stdout), reopened on
SIGUSR1 (log rotation), batched, and complete when ingressd stops."""

import json
import os
import re
import signal
import socket
import threading

from conftest import T, Conn, get, simple_route, svc_for, ingress, rule, \
    path, wait_until

UA = "test-agent/1.0"


def raw_exchange(port, data):
    """Sends <data> on a new connection; returns every byte received until
    ingressd closes it (the request should say Connection: close)."""
    s = socket.create_connection(("127.0.0.1", port), T)
    try:
        s.sendall(data)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    finally:
        s.close()


def request(method, target, host, headers=()):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: " + host,
             "Connection: close"]
    lines += ["%s: %s" % h for h in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_lines(p):
    try:
        with open(p, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    assert data == b"" or data.endswith(b"\n"), "a line was cut: %r" % data[-200:]
    return data.splitlines()


def wait_lines(p, pred, what):
    """Polls file <p> until one of its lines satisfies <pred>; returns it."""
    def probe():
        for line in read_lines(p):
            if pred(line):
                return line
        return None
    return wait_until(probe, what=what)


def json_lines(p):
    return [json.loads(line) for line in read_lines(p)]


def wait_json(p, **want):
    """The first JSON line whose fields equal <want>."""
    line = wait_lines(p, lambda line: all(
        json.loads(line).get(k) == v for k, v in want.items()),
        "an access log line with %r in %s" % (want, p))
    return json.loads(line)


def start(ingressd, backend, tmp_path, fmt="json", docs=None, **kw):
    b = backend("app")
    logp = str(tmp_path / "access.log")
    manifests = {"a.yaml": simple_route("app.test", "app", [b])}
    if docs:
        manifests["b.yaml"] = docs
    d = ingressd(manifests=manifests, config={
        "access_log": {"format": fmt, "path": logp}}, **kw)
    return d, b, logp


def test_json_proxied_200(ingressd, backend, tmp_path):
    d, b, logp = start(ingressd, backend, tmp_path)
    resp = raw_exchange(d.port, request(
        "GET", "/a/b?x=1&y=2", "app.test",
        [("User-Agent", UA), ("Referer", "http://ref.test/p")]))
    head, body = resp.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ")
    seen = json.loads(body)
    e = wait_json(logp, path="/a/b?x=1&y=2")
    assert e["client"] == "127.0.0.1"
    assert e["method"] == "GET"
    assert e["host"] == "app.test"
    assert e["protocol"] == "HTTP/1.1"
    assert e["status"] == 200
    assert e["bytes_sent"] == len(resp)
    assert e["body_bytes_sent"] == len(body)
    assert e["upstream_addr"] == "127.0.0.1:%d" % b.port
    assert isinstance(e["upstream_time"], float)
    assert 0 <= e["upstream_time"] <= e["duration"]
    # the id the backend got is the one logged
    assert re.fullmatch(r"[0-9a-f]{32}", e["request_id"]), e
    assert e["request_id"] == seen["headers"]["x-request-id"]
    assert e["user_agent"] == UA
    assert e["referer"] == "http://ref.test/p"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"])


def test_json_client_request_id_kept(ingressd, backend, tmp_path):
    d, b, logp = start(ingressd, backend, tmp_path)
    r = get(d.port, "app.test", "/rid", headers=[("X-Request-Id", "abc-123")])
    assert r.json()["headers"]["x-request-id"] == "abc-123"
    assert wait_json(logp, path="/rid")["request_id"] == "abc-123"
    # ingressd's own answers log the client's id too, and no upstream
    assert get(d.port, "nope.test", "/rid404",
               headers=[("X-Request-Id", "id-404")]).status == 404
    e = wait_json(logp, path="/rid404")
    assert e["request_id"] == "id-404" and e["upstream_addr"] is None


def test_json_ingressd_errors(ingressd, backend, tmp_path):
    bad = backend("bad", behavior="garbage")
    docs = (simple_route("bad.test", "bad", [bad]) +
            [ingress("ing-empty", [rule("empty.test", path("/", "empty"))])] +
            svc_for("empty", []))
    d, b, logp = start(ingressd, backend, tmp_path, docs=docs)

    assert get(d.port, "nope.test", "/missing").status == 404
    e = wait_json(logp, path="/missing")
    assert e["status"] == 404 and e["host"] == "nope.test"
    assert e["upstream_addr"] is None and e["upstream_time"] is None
    assert e["request_id"] is None

    assert get(d.port, "empty.test", "/noendpoints").status == 503
    e = wait_json(logp, path="/noendpoints")
    assert e["status"] == 503 and e["upstream_addr"] is None

    assert get(d.port, "bad.test", "/garbage").status == 502
    e = wait_json(logp, path="/garbage")
    # a failed exchange names the endpoint that failed
    assert e["status"] == 502
    assert e["upstream_addr"] == "127.0.0.1:%d" % bad.port
    assert e["upstream_time"] is not None

    # a head that does not parse: 400, no method, path or protocol
    r = raw_exchange(d.port, b"GET /a\x01b HTTP/1.1\r\nHost: app.test\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 400 ")
    e = wait_json(logp, status=400)
    assert e["method"] is None and e["path"] is None
    assert e["protocol"] is None and e["client"] == "127.0.0.1"


def test_json_escaping(ingressd, backend, tmp_path):
    d, b, logp = start(ingressd, backend, tmp_path)
    target = '/q"uo\\te?a="b"'
    agent = b'tab\there "q" back\\slash \xff\xfe \xc3\xa9 \xed\xa0\x80'
    data = (b"GET " + target.encode() + b" HTTP/1.1\r\nHost: app.test\r\n"
            b"Connection: close\r\nUser-Agent: " + agent + b"\r\n\r\n")
    assert raw_exchange(d.port, data).startswith(b"HTTP/1.1 200 ")
    raw = wait_lines(logp, lambda line: b'"status":200' in line and
                     b"uo" in line, "the escaped line")
    raw.decode("utf-8")            # valid UTF-8 whatever the client sent
    assert b"\t" not in raw and b'\\t' in raw
    assert b'\\u00ff\\u00fe' in raw          # not UTF-8: one escape a byte
    assert "\u00e9".encode() in raw          # valid UTF-8 kept as it is
    assert b'\\u00ed\\u00a0\\u0080' in raw   # a surrogate is not UTF-8
    e = json.loads(raw)
    assert e["path"] == target
    assert e["user_agent"] == ('tab\there "q" back\\slash \u00ff\u00fe '
                               '\u00e9 \u00ed\u00a0\u0080')


def test_json_long_fields_cut(ingressd, backend, tmp_path):
    d, b, logp = start(ingressd, backend, tmp_path)
    long_path = "/long/" + "p" * 3000
    assert get(d.port, "app.test", long_path,
               headers=[("User-Agent", "u" * 900)]).status == 200
    e = wait_json(logp, status=200, method="GET")
    assert e["path"] == long_path[:2048] + "..."
    assert e["user_agent"] == "u" * 512 + "..."


COMBINED_RE = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)" (?P<duration>\d+\.\d{3}) '
    r'"(?P<host>[^"]*)" (?P<upstream>\S+) (?P<uptime>\S+) (?P<reqid>\S+)$')


def test_combined_format(ingressd, backend, tmp_path):
    d, b, logp = start(ingressd, backend, tmp_path, fmt="combined")
    resp = raw_exchange(d.port, request(
        "GET", '/c?q="1"', "app.test",
        [("User-Agent", 'say "hi"\there'), ("X-Request-Id", "rid-7")]))
    assert resp.startswith(b"HTTP/1.1 200 ")
    assert get(d.port, "nope.test", "/c404").status == 404
    line = wait_lines(logp, lambda l: b"/c404" in l, "the 404 line")
    m = COMBINED_RE.match(line.decode())
    assert m, line
    assert m["request"] == "GET /c404 HTTP/1.1" and m["status"] == "404"
    assert m["referer"] == "-" and m["host"] == "nope.test"
    assert (m["upstream"], m["uptime"], m["reqid"]) == ("-", "-", "-")

    line = wait_lines(logp, lambda l: b"rid-7" in l, "the 200 line")
    m = COMBINED_RE.match(line.decode())
    assert m, line
    # quotes and controls as nginx escapes them: \xXX
    assert m["request"] == r'GET /c?q=\x221\x22 HTTP/1.1'
    assert m["agent"] == r'say \x22hi\x22\x09here'   # nginx: upper case
    # nginx's combined logs $body_bytes_sent: the body alone
    assert m["status"] == "200"
    assert int(m["bytes"]) == len(resp.split(b"\r\n\r\n", 1)[1])
    assert m["upstream"] == "127.0.0.1:%d" % b.port
    assert re.fullmatch(r"\d+\.\d{3}", m["uptime"])
    assert m["reqid"] == "rid-7" and m["host"] == "app.test"


def test_default_is_combined_on_stdout(ingressd, backend):
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    assert get(d.port, "app.test", "/to-stdout").status == 200
    m = d.wait_log(r'(?m)^127\.0\.0\.1 - - .*"GET /to-stdout HTTP/1\.1".*$')
    e = COMBINED_RE.match(m.group(0))
    assert e, m.group(0)
    assert e["status"] == "200" and e["host"] == "app.test"
    assert e["upstream"] == "127.0.0.1:%d" % b.port


def test_off_writes_nothing(ingressd, backend, tmp_path):
    b = backend("app")
    logp = str(tmp_path / "off.log")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 config={"access_log": {"enabled": False, "path": logp}})
    for i in range(5):
        assert get(d.port, "app.test", "/off-%d" % i).status == 200
    assert get(d.port, "nope.test", "/off-404").status == 404
    d.stop()
    assert not os.path.exists(logp)
    assert "/off-" not in d.log()


def test_lines_without_more_traffic(ingressd, backend, tmp_path):
    """A quiet worker still writes its batch (the flush timer)."""
    d, b, logp = start(ingressd, backend, tmp_path)
    assert get(d.port, "app.test", "/lonely").status == 200
    wait_json(logp, path="/lonely")


def test_nothing_lost_at_sigterm(ingressd, backend, tmp_path):
    d, b, logp = start(ingressd, backend, tmp_path)
    n = 30
    with Conn(d.port) as c:
        for i in range(n):
            assert c.roundtrip("GET", "/burst-%d" % i, "app.test").status == 200
    # one still in flight when the stop comes: the drain finishes it
    got = {}

    def slow():
        got["r"] = get(d.port, "app.test", "/slow?delay=1")
    t = threading.Thread(target=slow)
    t.start()
    wait_until(lambda: b.requests >= n + 1, what="the slow request")
    d.stop()
    t.join(T)
    assert got["r"].status == 200
    paths = [e["path"] for e in json_lines(logp)]
    for i in range(n):
        assert "/burst-%d" % i in paths
    assert "/slow?delay=1" in paths


def test_sigusr1_reopens(ingressd, backend, tmp_path):
    d, b, logp = start(ingressd, backend, tmp_path)
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(logp).st_mode & 0o777 == 0o640 & ~mask
    for i in range(5):
        assert get(d.port, "app.test", "/before-%d" % i).status == 200
    # logrotate: move the file, then USR1; lines still buffered in the
    # workers go to the moved file
    os.rename(logp, logp + ".1")
    since = d.log_offset()
    d.signal(signal.SIGUSR1)
    d.wait_log(r"access log reopened", since=since)
    assert os.path.exists(logp)
    for i in range(5):
        assert get(d.port, "app.test", "/after-%d" % i).status == 200
    for i in range(5):
        wait_json(logp, path="/after-%d" % i)
    d.stop()
    old = [e["path"] for e in json_lines(logp + ".1")]
    new = [e["path"] for e in json_lines(logp)]
    for i in range(5):
        assert "/before-%d" % i in old and "/before-%d" % i not in new
        assert "/after-%d" % i in new and "/after-%d" % i not in old


def test_reload_changes_format(ingressd, backend, tmp_path):
    d, b, logp = start(ingressd, backend, tmp_path)
    assert get(d.port, "app.test", "/as-json").status == 200
    wait_json(logp, path="/as-json")
    d.overrides["access_log"]["format"] = "combined"
    d.write_config()
    since = d.log_offset()
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload done", since=since)
    assert get(d.port, "app.test", "/as-combined").status == 200
    line = wait_lines(logp, lambda l: b"/as-combined" in l, "combined line")
    assert COMBINED_RE.match(line.decode()), line


def test_respawned_worker_logs(ingressd, backend, tmp_path):
    d, b, logp = start(ingressd, backend, tmp_path, workers=1,
                       allow_worker_restarts=True)
    old = d.worker_pids()
    os.kill(old[0], signal.SIGKILL)
    wait_until(lambda: d.worker_pids() and d.worker_pids() != old,
               what="a new worker")
    wait_until(lambda: get(d.port, "app.test", "/respawned").status == 200,
               what="the new worker answering")
    wait_json(logp, path="/respawned")
