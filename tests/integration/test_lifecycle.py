"""Processes over time: worker respawn under load, reloads (inotify and
SIGHUP), graceful shutdown, manifests rewritten under load, bad input."""

import os
import pwd
import re
import signal
import threading
import time

import pytest

from conftest import (BIN, T, Conn, children_of, ctl, get, ingress, path,
                      proc_alive, route, rule, simple_route, wait_until,
                      yaml_docs)


class Load:
    """Bounded client loops in threads, no retries: one thread with a new
    connection per request, one keeping a connection alive (reconnecting
    only after a clean close).  Every request is recorded as
    (t_start, t_conn_opened, ok, detail)."""

    def __init__(self, port, host, max_requests=20000, max_seconds=None):
        self.port, self.host = port, host
        self.max_requests = max_requests
        self.deadline = time.monotonic() + (max_seconds or 6 * T)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results = []
        self.threads = [threading.Thread(target=self.new_conn_loop, daemon=True),
                        threading.Thread(target=self.keepalive_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def _done(self):
        return (self.stop.is_set() or time.monotonic() > self.deadline or
                len(self.results) >= self.max_requests)

    def _record(self, t0, topen, ok, detail):
        with self.lock:
            self.results.append((t0, topen, ok, detail))

    def new_conn_loop(self):
        while not self._done():
            t0 = time.monotonic()
            try:
                r = get(self.port, self.host, "/load")
                self._record(t0, t0, r.status == 200, r.status)
            except Exception as e:
                self._record(t0, t0, False, repr(e))

    def keepalive_loop(self):
        c = None
        while not self._done():
            t0 = time.monotonic()
            try:
                if c is None:
                    c = Conn(self.port)
                    topen = t0
                r = c.roundtrip("GET", "/load-ka", self.host)
                self._record(t0, topen, r.status == 200, r.status)
                if (r.header("Connection") or "").lower() == "close":
                    c.close()
                    c = None
            except Exception as e:
                self._record(t0, topen, False, repr(e))
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(T * 2)
        return self.results

    def failures(self):
        return [r for r in self.results if not r[2]]


# -------------------------------------------------------------- respawn

def test_worker_respawn_under_load(ingressd, backend):
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 allow_worker_restarts=True)
    before = d.worker_pids()
    assert len(before) == 2
    load = Load(d.port, "app.test")
    time.sleep(0.5)
    victim = before[0]
    kill_time = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()
    new = None
    deadline = time.monotonic() + T
    while time.monotonic() < deadline:
        now = d.worker_pids()
        if victim not in now and len(now) == 2:
            new = now
            break
        time.sleep(0.01)
    respawn = time.monotonic() - t0
    assert new is not None, "no replacement worker within %.0fs: %s" % (
        T, d.worker_pids())
    time.sleep(1.0)
    results = load.finish()
    ok_after = [r for r in results if r[0] > kill_time + respawn + 0.1 and r[2]]
    assert len(ok_after) > 10, "few requests served after the respawn"
    bad = [r for r in results if not r[2] and r[1] >= kill_time + 0.1]
    assert not bad, "%d requests failed on connections opened after the " \
        "kill (respawn took %.2fs): %s" % (len(bad), respawn, bad[:5])
    assert len(load.failures()) <= 4, load.failures()
    # the new worker serves
    pid_new = (set(new) - set(before)).pop()
    assert pid_new
    for _ in range(10):
        assert get(d.port, "app.test").status == 200
    assert respawn < max(1.0, T / 10), \
        "replacement worker took %.2fs (> 1s)" % respawn


def test_worker_pids_are_children_and_worker_mode(ingressd, backend):
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    pids = d.worker_pids()
    assert len(pids) == 2
    for p in pids:
        with open("/proc/%d/cmdline" % p, "rb") as f:
            argv = f.read().split(b"\0")
        assert b"--worker" in argv, argv


# -------------------------------------------------------------- reloads

def test_manifest_change_applies_via_inotify(ingressd, backend):
    b1, b2 = backend("one"), backend("two")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b1])})
    assert route(d.port, "app.test") == "one"
    d.apply({"a.yaml": simple_route("app.test", "app", [b2])})
    assert route(d.port, "app.test") == "two"
    d.apply({"b.yaml": simple_route("new.test", "new", [b1])})
    assert route(d.port, "new.test") == "one"
    d.apply({"b.yaml": None})
    assert route(d.port, "new.test") == 404


def test_sighup_reloads_config_and_manifests(ingressd, backend):
    b1, b2 = backend("one"), backend("two")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b1])},
                 config={"limits": {"max_body_size": "1k"}})
    assert route(d.port, "app.test") == "one"
    assert get(d.port, "app.test", method="POST", body=b"x" * 2000).status == 413
    # a second manifests dir only SIGHUP can reach (the config names it)
    other = os.path.join(d.base, "other")
    os.makedirs(other)
    with open(os.path.join(other, "a.yaml"), "w") as f:
        f.write(yaml_docs(simple_route("app.test", "app", [b2])))
    d.overrides = {"provider": {"dir": "other"},
                   "limits": {"max_body_size": "1m"}}
    d.write_config()
    g = d.generation()
    d.signal(signal.SIGHUP)
    d.wait_generation(g + 1, what="a generation after SIGHUP")
    assert route(d.port, "app.test") == "two"
    assert get(d.port, "app.test", method="POST", body=b"x" * 2000).status == 200
    assert sorted(d.worker_pids()) == sorted(d.initial_workers)


def test_bad_config_on_sighup_refused(ingressd, backend):
    """Under load: a broken config on SIGHUP is logged with file:line and
    changes nothing; no request fails; a good one is taken after."""
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    good = open(d.config_path).read()
    load = Load(d.port, "app.test")
    off = d.log_offset()
    d.write_config(good + "workers: [broken\n")
    d.signal(signal.SIGHUP)
    d.wait_log(re.escape(d.config_path) + r":\d+:\d+: ", since=off)
    time.sleep(0.3)
    assert d.proc.poll() is None, "master died on a bad config"
    results = load.finish()
    assert len(results) > 10 and not load.failures(), load.failures()[:5]
    for _ in range(5):
        assert route(d.port, "app.test") == "app"
    assert d.worker_pids() == d.initial_workers
    # a good config after that is taken again
    d.write_config(good)
    g = d.generation()
    d.signal(signal.SIGHUP)
    d.wait_generation(g + 1)
    assert route(d.port, "app.test") == "app"


def test_bad_manifest_skipped_and_reported(ingressd, backend):
    b1, b2 = backend("good"), backend("later")
    d = ingressd(manifests={
        "good.yaml": simple_route("good.test", "good", [b1]),
        "broken.yaml": "apiVersion: v1\nkind: Service\nmetadata: [unclosed\n"})
    d.wait_log(r"broken\.yaml doc 1 \(line \d+\): \S")
    assert route(d.port, "good.test") == "good"
    # a file whose second document is invalid: the first still applies
    off = d.log_offset()
    bad = ingress("bad", [rule("bad.test", path("/", "later"))])
    bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "Sometimes"
    d.apply({"mixed.yaml": simple_route("later.test", "later", [b2])[:1] + [bad] +
             simple_route("later.test", "later", [b2])[1:]})
    d.wait_log(r"mixed\.yaml doc 2 \(line \d+\): \S", since=off)
    assert route(d.port, "later.test") == "later"
    assert route(d.port, "good.test") == "good"
    assert route(d.port, "bad.test") == 404
    assert d.proc.poll() is None


def test_broken_rewrite_keeps_last_good(ingressd, backend):
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    off = d.log_offset()
    d.write_manifest("a.yaml", "kind: Ingress\n\t- not yaml: [\n")
    d.wait_log(r"a\.yaml doc 1 \(line \d+\)", since=off)
    time.sleep(0.3)
    for _ in range(5):
        assert route(d.port, "app.test") == "app"


def test_sighup_20_times_under_load(ingressd, backend):
    """Twenty SIGHUPs under load, changing a setting each time: every one
    is applied (a new generation), no worker is replaced, no request
    fails."""
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    load = Load(d.port, "app.test", max_seconds=8 * T)
    for i in range(20):
        g = d.generation()
        d.overrides = {"limits": {"max_body_size": "%dk" % (100 + i)}}
        d.write_config()
        d.signal(signal.SIGHUP)
        d.wait_generation(g + 1, what="generation after SIGHUP %d" % (i + 1))
    time.sleep(0.3)
    results = load.finish()
    assert len(results) >= 100, "too little load: %d requests" % len(results)
    fails = load.failures()
    assert not fails, "%d of %d requests failed: %s" % (
        len(fails), len(results), fails[:5])
    assert d.worker_pids() == d.initial_workers


def test_worker_count_up_and_down_under_load(ingressd, backend):
    """workers: 2 -> 4 -> 1 -> 2 by SIGHUP under load: the pool follows
    and no request fails, also on connections queued on the sockets of
    the workers that go (they are steered away and accepted first)."""
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 allow_worker_restarts=True)
    load = Load(d.port, "app.test", max_seconds=10 * T)
    for n in (4, 1, 2, 1, 3):
        off = d.log_offset()
        d.overrides = {"workers": n}
        d.write_config()
        d.signal(signal.SIGHUP)
        d.wait_log(r"reload done", since=off)
        if n < len(d.worker_pids()):
            d.wait_log(r"worker pool is now %d" % n, since=off)
        d.wait_workers(n)
        time.sleep(0.3)
    results = load.finish()
    assert len(results) >= 100, "too little load: %d requests" % len(results)
    fails = load.failures()
    assert not fails, "%d of %d requests failed: %s" % (
        len(fails), len(results), fails[:5])
    assert not re.search(r"killed by|exited with status [1-9]", d.log())
    for _ in range(5):
        assert route(d.port, "app.test") == "app"


# ----------------------------------------------------------- shutdown

def test_sigterm_lets_request_in_flight_finish(ingressd, backend):
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 config={"timeouts": {"shutdown_grace": "10s"}})
    out = {}

    def slow():
        try:
            out["r"] = get(d.port, "app.test", "/slow?delay=2")
        except Exception as e:
            out["e"] = e
    t = threading.Thread(target=slow)
    t.start()
    wait_until(lambda: b.requests >= 1, what="the slow request at the backend")
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    # no new connections once shutting down (refused, or answered and closed)
    time.sleep(0.3)
    t.join(T + 3)
    assert "e" not in out, "request in flight failed: %r" % out.get("e")
    assert out["r"].status == 200 and out["r"].json()["path"] == "/slow"
    rc = d.proc.wait(T + 3)
    assert rc == 0, d.log()[-2000:]
    assert time.monotonic() - t0 < 10, "exit waited for the whole grace"
    d.check_log_clean()
    assert d.worker_pids() == []


def test_sigterm_under_load_completes_long_requests(ingressd, backend):
    """SIGTERM under load with six long requests (1.5 s at a slow
    backend) in flight: each completes, no request begun before the
    signal fails, and the master exits 0 once they are done.  Requests
    begun after it may be refused: the listeners are closed."""
    fast, slow = backend("app"), backend("slow")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [fast]),
                            "s.yaml": simple_route("slow.test", "slow", [slow])},
                 config={"timeouts": {"shutdown_grace": "10s"}})
    load = Load(d.port, "app.test")
    out = []

    def long_request():
        try:
            out.append(get(d.port, "slow.test", "/slow?delay=1.5"))
        except Exception as e:
            out.append(e)
    threads = [threading.Thread(target=long_request) for _ in range(6)]
    for t in threads:
        t.start()
    wait_until(lambda: slow.requests >= 6, what="6 long requests in flight")
    time.sleep(0.2)
    t_sig = time.monotonic()
    d.signal(signal.SIGTERM)
    for t in threads:
        t.join(T + 3)
    assert len(out) == 6
    for r in out:
        assert not isinstance(r, Exception), "long request failed: %r" % r
        assert r.status == 200 and r.json()["path"] == "/slow"
    assert d.proc.wait(T + 3) == 0, d.log()[-2000:]
    results = load.finish()
    before = [r for r in results if r[0] < t_sig]
    assert len(before) > 10, "too little load before the signal"
    bad = [r for r in before if not r[2]]
    assert not bad, "%d requests begun before SIGTERM failed: %s" % (
        len(bad), bad[:5])
    d.check_log_clean()


def test_sigterm_idle_exits_promptly(ingressd, backend):
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 config={"timeouts": {"shutdown_grace": "30s"}})
    idle = Conn(d.port)          # an idle keep-alive client
    assert idle.roundtrip("GET", "/", "app.test").status == 200
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    rc = d.proc.wait(T + 3)
    assert rc == 0
    assert time.monotonic() - t0 < 5, "idle connection held shutdown"
    idle.close()


# ------------------------------------------------ change under load

def test_manifests_rewritten_50_times_under_load(ingressd, backend):
    b1, b2 = backend("one"), backend("two")
    d = ingressd(manifests={"stable.yaml": simple_route("app.test", "app", [b1, b2]),
                            "churn.yaml": simple_route("churn.test", "churn", [b1])})
    g0 = d.generation()
    load = Load(d.port, "app.test", max_seconds=8 * T)
    churn_backends = [[b1], [b2], [b1, b2]]
    for i in range(50):
        docs = simple_route("churn%d.test" % i, "churn", churn_backends[i % 3])
        if i % 5 == 0:
            # the live route itself changes: its endpoints are rewritten
            d.write_manifest("stable.yaml", simple_route(
                "app.test", "app", [b1, b2] if i % 10 else [b2, b1]))
        d.write_manifest("churn.yaml", docs)
        time.sleep(0.08)
    d.wait_generation(g0 + 1)
    time.sleep(0.5)
    results = load.finish()
    assert len(results) >= 100, "too little load: %d requests" % len(results)
    fails = load.failures()
    assert not fails, "%d of %d requests failed: %s" % (
        len(fails), len(results), fails[:5])
    wait_until(lambda: route(d.port, "churn49.test") in ("one", "two"),
               what="the last rewrite applied")
    assert route(d.port, "churn48.test") == 404
    # the load really ran across many live snapshot swaps
    assert d.generation() - g0 >= 10, \
        "only %d generations applied during the rewrites" % (d.generation() - g0)


def test_64_concurrent_connections(ingressd, backend):
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    conns = [Conn(d.port) for _ in range(64)]
    try:
        for c in conns:
            c.request("GET", "/", "app.test")
        for c in conns:
            assert c.read_response().status == 200
    finally:
        for c in conns:
            c.close()


def test_sigint_stops_gracefully(ingressd, backend):
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    assert route(d.port, "app.test") == "app"
    d.signal(signal.SIGINT)
    assert d.proc.wait(T + 3) == 0, d.log()[-2000:]
    d.check_log_clean()


# ------------------------------------------------------------- sandbox

def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def test_workers_are_confined(ingressd, backend):
    """Default sandbox (enforce): every worker runs under seccomp filter
    mode with no_new_privs, chrooted, and, when started as root, not as
    root; and it still proxies real traffic."""
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    for _ in range(3):
        assert route(d.port, "app.test") == "app"
    for pid in d.worker_pids():
        st = proc_status(pid)
        assert st.get("Seccomp") == "2", "worker %d Seccomp: %s" % (pid, st.get("Seccomp"))
        assert st.get("NoNewPrivs") == "1", "worker %d NoNewPrivs: %s" % (pid, st.get("NoNewPrivs"))


def test_workers_drop_to_the_user_in_an_empty_root(ingressd, backend):
    """Started as root: every worker runs as the configured user (uid and
    gid, real, effective, saved and fs; that group only), with no
    capability, no_new_privs and the seccomp filter, and its root
    directory is an empty one."""
    if os.geteuid() != 0:
        pytest.skip("needs root: only a master started as root changes "
                    "the workers' user and chroots them")
    user = pwd.getpwnam("nobody")
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 config={"user": "nobody"})
    assert route(d.port, "app.test") == "app"
    for pid in d.worker_pids():
        st = proc_status(pid)
        assert st["Uid"].split() == [str(user.pw_uid)] * 4, (pid, st["Uid"])
        assert st["Gid"].split() == [str(user.pw_gid)] * 4, (pid, st["Gid"])
        assert st["Groups"].split() in ([], [str(user.pw_gid)]), st["Groups"]
        for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
            assert int(st[cap], 16) == 0, (pid, cap, st[cap])
        assert st["NoNewPrivs"] == "1"
        assert st["Seccomp"] == "2"
        root = "/proc/%d/root" % pid
        assert os.readlink(root) != "/", "worker %d is not chrooted" % pid
        assert os.path.isdir(root + "/") and os.listdir(root + "/") == [], \
            "worker %d root %s is not empty" % (pid, os.readlink(root))


# The test hooks (./configure --enable-test-hooks, which deploy/dev.sh uses
# for the integration tests): a request header makes the worker that
# reads it attempt a system call.
TESTHOOK = "X-Ingressd-Test-Syscall"


def has_test_hooks():
    with open(BIN, "rb") as f:
        return TESTHOOK.encode() in f.read()


needs_test_hooks = pytest.mark.skipif(
    not has_test_hooks(), reason="%s was built without ./configure "
    "--enable-test-hooks (deploy/dev.sh test builds build-test with it)" % BIN)


@needs_test_hooks
def test_forbidden_syscalls_denied(ingressd, backend):
    """open() and a Unix socket fail with EACCES in a worker (without the
    filter, in its empty root, open would say ENOENT); the worker lives."""
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    r = get(d.port, "app.test", headers=[(TESTHOOK, "open")])
    assert r.body == b"open: Permission denied\n", r
    r = get(d.port, "app.test", headers=[(TESTHOOK, "unix-connect")])
    assert r.body == b"unix-connect: Permission denied\n", r
    assert route(d.port, "app.test") == "app"
    assert d.worker_pids() == d.initial_workers


@needs_test_hooks
def test_seccomp_kill_is_logged_and_restarted_under_load(ingressd, backend):
    """execve() in a worker: the filter kills it, the master logs it as a
    seccomp violation and starts a replacement; clients of the other
    worker, and connections opened after, see no failure."""
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 allow_worker_restarts=True)
    load = Load(d.port, "app.test")
    time.sleep(0.3)
    off = d.log_offset()
    with pytest.raises((ConnectionError, OSError, AssertionError, ValueError)):
        get(d.port, "app.test", headers=[(TESTHOOK, "execve")])
    t_kill = time.monotonic()       # the victim is dead: no answer came
    m = d.wait_log(r"worker (\d+) \(pid (\d+)\) killed by SIGSYS \(seccomp "
                   r"violation\); restarting", since=off)
    victim = int(m.group(2))
    assert victim in d.initial_workers
    wait_until(lambda: victim not in d.worker_pids() and
               len(d.worker_pids()) == 2, what="the replacement worker")
    d.wait_log(r"worker %s started" % m.group(1), since=off)
    time.sleep(0.5)
    results = load.finish()
    bad = [r for r in results if not r[2] and r[1] > t_kill]
    assert not bad, "requests failed on connections opened after the " \
        "kill: %s" % bad[:5]
    # only requests on connections the victim held may fail
    assert len(load.failures()) <= 2, load.failures()
    for _ in range(10):
        assert route(d.port, "app.test") == "app"


@needs_test_hooks
def test_sandbox_log_mode_logs_instead_of_killing(ingressd, backend):
    """sandbox: log lets a forbidden call through (the kernel logs it):
    the worker lives, and execve fails only because its root is empty."""
    if os.geteuid() != 0:
        pytest.skip("needs root: an unconfined worker's execve would run "
                    "/bin/sh outside a chroot")
    b = backend("app")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 config={"sandbox": "log"})
    r = get(d.port, "app.test", headers=[(TESTHOOK, "execve")])
    assert r.body == b"execve: No such file or directory\n", r
    assert route(d.port, "app.test") == "app"
    assert d.worker_pids() == d.initial_workers


# ------------------------------------------------------ binary upgrade

def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return None


def stop_successor(d, pid):
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not proc_alive(pid), T + 5,
               what="the new master to exit")
    d.check_log_clean()


def test_sigusr2_binary_upgrade_under_load(ingressd, backend, tmp_path):
    """SIGUSR2: a new master from the binary on disk takes the listening
    sockets over; the old one drains and exits once the new workers
    serve.  No request fails, the pid file names the new master, and a
    second SIGUSR2 during the upgrade is refused."""
    b = backend("app")
    pidfile = str(tmp_path / "ingressd.pid")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 config={"pid_file": pidfile})
    old_pid, old_workers = d.proc.pid, d.worker_pids()
    assert read_pid(pidfile) == old_pid
    load = Load(d.port, "app.test", max_seconds=8 * T)
    time.sleep(0.3)
    off = d.log_offset()
    d.signal(signal.SIGUSR2)
    m = d.wait_log(r"binary upgrade: started \S+ as the new master, pid "
                   r"(\d+)", since=off)
    new_pid = int(m.group(1))
    d.successors.append(new_pid)
    if d.proc.poll() is None:
        d.signal(signal.SIGUSR2)
        d.wait_log(r"SIGUSR2 ignored: (an upgrade is in progress|stopping)",
                   since=off)
    assert d.proc.wait(T + 5) == 0, d.log()[-3000:]
    t_exit = time.monotonic()
    assert read_pid(pidfile) == new_pid
    assert not os.path.exists(pidfile + ".oldbin")
    new_workers = wait_until(lambda: len(children_of(new_pid)) == 2 and
                             children_of(new_pid), what="2 new workers")
    assert not set(new_workers) & set(old_workers)
    assert not [p for p in old_workers if proc_alive(p)], "old workers left"
    time.sleep(0.5)
    results = load.finish()
    after = [r for r in results if r[0] > t_exit]
    assert len(after) > 10, "few requests after the old master exited"
    fails = load.failures()
    assert not fails, "%d of %d requests failed during the upgrade: %s" % (
        len(fails), len(results), fails[:5])
    # the new master is the whole service now
    for _ in range(5):
        assert route(d.port, "app.test") == "app"
    assert ctl(d)["pid"] == new_pid
    stop_successor(d, new_pid)
    assert not os.path.exists(pidfile)
    deaths = re.findall(r".*worker \d+ .*(?:killed by|exited with status "
                        r"[1-9]).*", d.log())
    assert not deaths, deaths


def test_sigusr2_failed_upgrade_keeps_old_master(ingressd, backend, tmp_path):
    """A new master that fails before it serves (here: a broken config)
    changes nothing: the old one logs why and keeps serving, with its pid
    file and control socket; the next SIGUSR2 can succeed."""
    b = backend("app")
    pidfile = str(tmp_path / "ingressd.pid")
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 config={"pid_file": pidfile})
    good = open(d.config_path).read()
    d.write_config(good + "workers: [broken\n")
    off = d.log_offset()
    d.signal(signal.SIGUSR2)
    d.wait_log(r"upgrade failed: the new master \(pid \d+\) exited with "
               r"status 1 before it served", since=off)
    d.wait_log(re.escape(d.config_path) + r":\d+:\d+: ", since=off)
    assert d.proc.poll() is None
    assert read_pid(pidfile) == d.proc.pid
    assert not os.path.exists(pidfile + ".oldbin")
    wait_until(lambda: os.path.exists(os.path.join(d.sockdir, "c.sock")),
               what="the control socket back")
    assert ctl(d)["pid"] == d.proc.pid
    for _ in range(5):
        assert route(d.port, "app.test") == "app"
    assert d.worker_pids() == d.initial_workers
    # fixed: the next one goes through
    d.write_config(good)
    off = d.log_offset()
    d.signal(signal.SIGUSR2)
    m = d.wait_log(r"as the new master, pid (\d+)", since=off)
    d.successors.append(int(m.group(1)))
    assert d.proc.wait(T + 5) == 0
    assert read_pid(pidfile) == int(m.group(1))
    assert route(d.port, "app.test") == "app"
    stop_successor(d, int(m.group(1)))
