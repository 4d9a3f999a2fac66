"""Active health probes with real backend processes (issue 4).

Each backend is a separate python process (fixtures/health_backend.py) so
it can be SIGKILLed and restarted on the same port.  Probe intervals are
short (200-300 ms) to keep the tests fast; every wait is bounded by T.
"""

import http.client
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import (BIN, HERE, T, free_port, get, ingress, path, rule,
                      svc_for, wait_until)

SCRIPT = os.path.join(HERE, "fixtures", "health_backend.py")
HOST = "health.test"


class Proc:
    """A backend process on a fixed port; kill() and start() again."""

    def __init__(self, name):
        self.name = name
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, SCRIPT, str(self.port), self.name],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL)
        assert self.proc.stdout.readline().strip() == b"ready"

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(T)

    def ctl(self, what):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=T)
        try:
            c.request("GET", what)
            return c.getresponse().read().decode()
        finally:
            c.close()

    def set(self, **kw):
        self.ctl("/_set?" + "&".join("%s=%s" % kv for kv in kw.items()))

    def hits(self):
        return int(self.ctl("/_count"))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(T)
        self.proc.stdout.close()


@pytest.fixture
def procs():
    made = []

    def factory(*names):
        out = [Proc(n) for n in names]
        made.extend(out)
        return out
    yield factory
    for p in made:
        p.close()


def manifests(backends, annotations=None):
    return {"app.yaml": [ingress("web", [rule(HOST, path("/", "app"))],
                                 annotations=annotations)] +
            svc_for("app", [b.port for b in backends])}


HTTP_PROBE = {"ingressd.io/health-path": "/healthz",
              "ingressd.io/health-interval": "200ms",
              # generous: a loaded test machine must not turn a slow
              # python backend into a probe timeout
              "ingressd.io/health-timeout": "1s",
              "ingressd.io/health-fall": "3",
              "ingressd.io/health-rise": "2"}


def ctl(d, *args):
    """ingressctl against <d>'s control socket: its standard output."""
    exe = os.path.join(os.path.dirname(BIN), "ingressctl")
    sock = d.config_dict()["control"]["socket"]
    r = subprocess.run([exe, "-s", sock] + list(args), capture_output=True,
                       timeout=T)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def spread(port, n):
    seen = {}
    for _ in range(n):
        b = get(port, HOST).backend
        seen[b] = seen.get(b, 0) + 1
    return seen


def test_failing_health_path_leaves_and_returns(ingressd, procs):
    a, b, c = procs("a", "b", "c")
    d = ingressd(manifests=manifests([a, b, c], HTTP_PROBE))
    assert set(spread(d.port, 12)) == {"a", "b", "c"}
    since = d.log_offset()
    t0 = time.monotonic()
    b.set(health=500)
    d.wait_log(r"endpoint 127\.0\.0\.1:%d of default/app:80 is DOWN: "
               r"HTTP 500 \(3/3\)" % b.port, since=since)
    took = time.monotonic() - t0
    # interval x fall, plus one interval of phase and some slack
    assert took < 0.2 * 3 + 0.2 + T / 5, took
    time.sleep(0.2)   # the broadcast reaches every worker
    assert set(spread(d.port, 30)) == {"a", "c"}
    out = ctl(d, "backends")
    assert "127.0.0.1:%d (DOWN: HTTP 500)" % b.port in out, out
    assert "127.0.0.1:%d (DOWN" % a.port not in out, out
    since = d.log_offset()
    b.set(health=200)
    d.wait_log(r"endpoint 127\.0\.0\.1:%d of default/app:80 is UP: ok "
               r"\(2/2\)" % b.port, since=since)
    time.sleep(0.2)
    assert set(spread(d.port, 30)) == {"a", "b", "c"}
    # Logged once per transition, by the master only.
    assert len(re.findall(r"127\.0\.0\.1:%d of default/app:80 is DOWN" %
                          b.port, d.log())) == 1


@pytest.mark.parametrize("workers", [1, 4])
def test_one_probe_per_endpoint_per_interval(ingressd, procs, workers):
    bs = procs("a", "b", "c")
    ann = dict(HTTP_PROBE, **{"ingressd.io/health-interval": "300ms"})
    d = ingressd(manifests=manifests(bs, ann), workers=workers)
    time.sleep(0.5)
    t0 = time.monotonic()
    before = [b.hits() for b in bs]
    time.sleep(3.0)
    n = [b.hits() - x for b, x in zip(bs, before)]
    want = (time.monotonic() - t0) / 0.3
    # One probe per 300 ms (+-5% jitter) each, not one per worker: four
    # workers each probing would give 4x.  A loaded machine only fires
    # timers late (fewer probes), never early, so the bounds are wide
    # below and tight above.
    for b, k in zip(bs, n):
        assert k <= want * 1.5 + 2, (workers, b.name, n, want)
        assert k >= want / 3, (workers, b.name, n, want)


@pytest.mark.parametrize("mode,want", [("fail-closed", 503),
                                       ("fail-open", 200)])
def test_all_down(ingressd, procs, mode, want):
    a, b = procs("a", "b")
    d = ingressd(manifests=manifests([a, b], HTTP_PROBE),
                 config={"health": {"all_down": mode}})
    since = d.log_offset()
    a.set(health=503)
    b.set(health=503)
    d.wait_log(r"backend default/app:80: all 2 endpoint\(s\) down, %s" %
               ("failing closed" if mode == "fail-closed" else
                "failing open"), since=since)
    time.sleep(0.2)
    for _ in range(6):
        assert get(d.port, HOST).status == want
    assert "[all down: %s]" % mode in ctl(d, "backends")
    j = ctl(d, "-o", "json", "backends")
    assert '"available": 0' in j or '"available":0' in j, j


def test_hanging_backend_ejected_by_probe_timeout(ingressd, procs):
    a, b, c = procs("a", "b", "c")
    d = ingressd(manifests=manifests([a, b, c], HTTP_PROBE),
                 config={"timeouts": {"upstream_response": "1s"}})
    since = d.log_offset()
    b.set(hang=1)
    d.wait_log(r"endpoint 127\.0\.0\.1:%d of default/app:80 is DOWN: "
               r"timeout \(3/3\)" % b.port, since=since)
    time.sleep(0.2)
    t0 = time.monotonic()
    assert set(spread(d.port, 20)) == {"a", "c"}
    assert time.monotonic() - t0 < 5


def test_sigkill_under_load_no_failed_requests(ingressd, procs):
    bs = procs("a", "b", "c")
    ann = {"ingressd.io/health-interval": "200ms",
           "ingressd.io/health-fall": "2",
           "ingressd.io/health-rise": "2"}
    d = ingressd(manifests=manifests(bs, ann))
    victim = bs[1]
    failures, total, seen = [], 0, set()
    killed = restarted = None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 6.0 and total < 5000:
        el = time.monotonic() - t0
        if killed is None and el > 1.0:
            victim.kill()
            killed = el
        if restarted is None and el > 3.5:
            victim.start()
            restarted = el
        r = get(d.port, HOST)
        total += 1
        if r.status != 200:
            failures.append((round(el, 2), r.status))
        elif restarted is not None and el > restarted + 1.5:
            seen.add(r.backend)
    assert not failures, (total, failures[:10])
    assert total > 20
    assert "b" in seen      # it came back into rotation
    assert re.search(r"127\.0\.0\.1:%d of default/app:80 is DOWN: connect"
                     % victim.port, d.log())


def test_passive_ejection_of_5xx_endpoint(ingressd, procs):
    """Probes say b is fine, but its answers are 500: each worker ejects
    it after passive_failures in a row, for a backoff."""
    a, b = procs("a", "b")
    d = ingressd(manifests=manifests([a, b], HTTP_PROBE),
                 config={"health": {"passive_failures": 3}})
    b.set(fail=500)
    since = d.log_offset()
    t0 = time.monotonic()
    got = [get(d.port, HOST).status for _ in range(40)]
    took = time.monotonic() - t0
    # 3 per worker (2 workers) per ejection window, instead of about half
    # of the 40 without ejection
    windows = 1 + int(took)
    assert 3 <= got.count(500) <= min(6 * windows, 14), (took, got)
    d.wait_log(r"endpoint 127\.0\.0\.1:%d ejected for 1 s after 3 failed "
               r"requests in a row \(ejection 1\)" % b.port, since=since)
    # after the backoff it is tried again, and ejected for longer
    time.sleep(1.2)
    for _ in range(20):
        get(d.port, HOST)
    d.wait_log(r"ejected for 2 s .*\(ejection 2\)", since=since)


def test_reset_before_response_retried_elsewhere(ingressd, backend):
    """An endpoint that accepts and closes at once: idempotent requests go
    to the other endpoint, a POST with a body is not replayed."""
    good = backend("good")
    bad = backend("bad", behavior="close")
    d = ingressd(manifests={"app.yaml": [
        ingress("web", [rule(HOST, path("/", "app"))])] +
        svc_for("app", [good, bad])},
        config={"health": {"passive_failures": 0}})
    # 16 requests, about 8 retries: within the budget's burst (10 per
    # worker) even if one worker gets them all.
    got = [get(d.port, HOST).status for _ in range(16)]
    assert got == [200] * 16, got
    assert bad.connections >= 4         # it was tried, and retried past
    posts = [get(d.port, HOST, method="POST", body=b"x" * 10).status
             for _ in range(20)]
    assert set(posts) == {200, 502}, posts


def test_retry_budget_bounds_retries(ingressd, backend):
    """Every endpoint resets: retries stay within the budget (per worker
    10 at once, 20% of the requests, 3/s), not 3 tries per request."""
    bs = [backend("x%d" % i, behavior="close") for i in range(3)]
    d = ingressd(manifests={"app.yaml": [
        ingress("web", [rule(HOST, path("/", "app"))])] +
        svc_for("app", bs)},
        config={"health": {"passive_failures": 0, "interval": "1h"}})
    before = sum(b.connections for b in bs)
    t0 = time.monotonic()
    n = 60
    got = [get(d.port, HOST).status for _ in range(n)]
    took = time.monotonic() - t0
    assert set(got) == {502}, got
    conns = sum(b.connections for b in bs) - before
    workers = 2
    bound = n + workers * 10 + 0.2 * n + workers * 3 * (took + 1)
    assert n <= conns <= bound, (conns, bound, took)
    assert conns < 3 * n


def policy_app(procs_or_backends, policy, extra=None):
    ann = {"ingressd.io/load-balance": policy}
    ann.update(extra or {})
    return manifests(procs_or_backends, ann)


def test_policy_round_robin(ingressd, procs):
    bs = procs("a", "b", "c")
    d = ingressd(manifests=policy_app(bs, "round-robin"), workers=1)
    seen = spread(d.port, 30)
    assert seen == {"a": 10, "b": 10, "c": 10}, seen


def test_policy_least_request_default(ingressd, procs):
    """No annotation: least-request; every endpoint gets a fair share of
    sequential requests, and a slow one gets fewer of concurrent ones."""
    bs = procs("a", "b", "c")
    d = ingressd(manifests=manifests(bs), workers=1)
    seen = spread(d.port, 60)
    assert set(seen) == {"a", "b", "c"} and min(seen.values()) >= 8, seen
    assert "default/app:80  least-request" in ctl(d, "backends")


@pytest.mark.parametrize("policy,how", [
    ("hash-header:X-User", lambda u: {"X-User": u}),
    ("hash-cookie:sid", lambda u: {"Cookie": "a=1; sid=%s; b=2" % u}),
])
def test_policy_hash_key(ingressd, procs, policy, how):
    bs = procs("a", "b", "c")
    d = ingressd(manifests=policy_app(
        bs, policy, {"ingressd.io/health-interval": "200ms"}))
    where = {}
    for rnd in range(3):
        for i in range(30):
            u = "user%d" % i
            b = get(d.port, HOST, headers=how(u)).backend
            assert where.setdefault(u, b) == b, (u, where[u], b)
    assert len(set(where.values())) == 3, where
    # Without the key: least-request, still served.
    assert get(d.port, HOST).status == 200
    # An endpoint going down moves only its own keys.
    since = d.log_offset()
    victim = bs[0]
    victim.kill()
    d.wait_log(r"127\.0\.0\.1:%d of default/app:80 is DOWN" % victim.port,
               since=since)
    time.sleep(0.2)
    for i in range(30):
        u = "user%d" % i
        b = get(d.port, HOST, headers=how(u)).backend
        if where[u] != victim.name:
            assert b == where[u], (u, where[u], b)
        else:
            assert b != victim.name


def test_policy_hash_source(ingressd, procs):
    bs = procs("a", "b", "c")
    d = ingressd(manifests=policy_app(bs, "hash-source"))
    assert len(spread(d.port, 20)) == 1     # one client address


def test_policy_sticky_cookie(ingressd, procs):
    bs = procs("a", "b", "c")
    d = ingressd(manifests=policy_app(bs, "sticky-cookie", HTTP_PROBE))
    r = get(d.port, HOST)
    cookie = r.header("Set-Cookie")
    assert cookie and re.match(r"ingressd_sticky=[0-9a-f]{16}; Path=/; "
                               r"HttpOnly$", cookie), cookie
    first = r.backend
    value = cookie.split(";")[0]
    for _ in range(20):
        r = get(d.port, HOST, headers={"Cookie": value})
        assert r.backend == first
        assert r.header("Set-Cookie") is None
    # Its endpoint goes down: another one, and a new cookie.
    since = d.log_offset()
    [p for p in bs if p.name == first][0].set(health=500)
    d.wait_log(r"of default/app:80 is DOWN", since=since)
    time.sleep(0.2)
    r = get(d.port, HOST, headers={"Cookie": value})
    assert r.backend != first
    assert r.header("Set-Cookie").split(";")[0] != value


def test_health_survives_worker_restart_and_new_snapshot(ingressd, procs):
    """A DOWN endpoint stays out after its worker is SIGKILLed and
    respawned, and after a new snapshot, without waiting for probes."""
    a, b = procs("a", "b")
    ann = dict(HTTP_PROBE, **{"ingressd.io/health-interval": "1s",
                              "ingressd.io/health-fall": "2",
                              "ingressd.io/health-rise": "10"})
    d = ingressd(manifests=manifests([a, b], ann), workers=1,
                 allow_worker_restarts=True)
    since = d.log_offset()
    b.set(health=500)
    d.wait_log(r"127\.0\.0\.1:%d of default/app:80 is DOWN" % b.port,
               since=since)
    time.sleep(0.2)
    # /healthz keeps failing, but the other paths of b answer 200: any
    # request reaching b would show.
    assert set(spread(d.port, 10)) == {"a"}
    victim = d.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: (lambda p: len(p) == 1 and victim not in p)(
        d.worker_pids()), what="a new worker")
    wait_until(lambda: get(d.port, HOST).status == 200, what="answers")
    assert set(spread(d.port, 10)) == {"a"}
    d.apply({"other.yaml": [ingress("other", [rule("other.test",
                                                   path("/", "app"))])]})
    assert set(spread(d.port, 10)) == {"a"}


@pytest.mark.parametrize("kw,down", [
    ({"behavior": "raw", "raw": b"HTTP/1.1 100 Continue\r\n\r\n"
      b"HTTP/1.1 204 No Content\r\n\r\n"}, None),
    ({"behavior": "raw", "raw": b"HTTP/1.1 100 Continue\r\n\r\n"
      b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"}, r"HTTP 500"),
    ({"behavior": "garbage"}, r"bad response"),
    ({"behavior": "close"}, r"closed before a response"),
    ({"behavior": "hang"}, r"timeout"),
])
def test_probe_results(ingressd, backend, kw, down):
    """What an HTTP probe makes of each kind of answer (expect 200-299)."""
    good = backend("good")
    b = backend("b", **kw)
    ann = dict(HTTP_PROBE, **{"ingressd.io/health-expect": "200-299",
                              "ingressd.io/health-fall": "2"})
    d = ingressd(manifests={"app.yaml": [
        ingress("web", [rule(HOST, path("/", "app"))], annotations=ann)] +
        svc_for("app", [good, b])})
    pat = r"endpoint 127\.0\.0\.1:%d of default/app:80 is DOWN: " % b.port
    if down is None:
        time.sleep(1.0)
        assert not re.search(pat, d.log())
    else:
        d.wait_log(pat + down + r" \(2/2\)")
