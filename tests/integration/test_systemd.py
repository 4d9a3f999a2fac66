"""systemd readiness: ingressd run with NOTIFY_SOCKET pointing at a Python
datagram socket, as systemd runs a Type=notify service.  READY=1 comes only
once a request can be served, RELOADING=1 (with MONOTONIC_USEC) then
READY=1 around SIGHUP, STOPPING=1 on SIGTERM, WATCHDOG=1 pings at half
WATCHDOG_USEC, and the workers never see the variables."""

import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import (BIN, T, free_port, get, proc_alive, simple_route,
                      wait_until)


class NotifySocket:
    """What systemd listens on: one datagram per notification, each a set of
    KEY=VALUE lines.  Keeps (time received, {key: value}) in order."""

    def __init__(self, abstract=False):
        self.dir = tempfile.mkdtemp(prefix="ingn")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "\0ingressd-test-%d-%d" % (os.getpid(), id(self))
            self.sock.bind(name)
            self.env = "@" + name[1:]
        else:
            self.env = os.path.join(self.dir, "notify")
            self.sock.bind(self.env)
        self.sock.setblocking(False)
        self.msgs = []

    def poll(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.msgs
            kv = {}
            for line in data.decode().split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    kv[k] = v
            self.msgs.append((time.monotonic(), kv))

    def wait(self, key, value="1", since=0, timeout=None):
        """Index of the first message at or after <since> with key=value."""
        def probe():
            for i, (_, kv) in enumerate(self.poll()[since:], since):
                if kv.get(key) == value:
                    return i + 1    # truthy even for index 0
            return None
        return wait_until(probe, timeout, what="%s=%s from ingressd (got %s)"
                          % (key, value, [kv for _, kv in self.msgs])) - 1

    def count(self, key, since=0):
        return sum(1 for _, kv in self.poll()[since:] if key in kv)

    def close(self):
        self.sock.close()
        if not self.env.startswith("@"):
            os.unlink(self.env)
        os.rmdir(self.dir)


@pytest.fixture
def notify(monkeypatch):
    made = []

    def factory(abstract=False, watchdog_usec=None):
        n = NotifySocket(abstract)
        made.append(n)
        monkeypatch.setenv("NOTIFY_SOCKET", n.env)
        if watchdog_usec:
            monkeypatch.setenv("WATCHDOG_USEC", str(watchdog_usec))
        return n
    yield factory
    for n in made:
        n.close()


def launch(d):
    """Starts <d>'s ingressd without waiting for anything: READY=1 must be
    what tells that it serves."""
    d.port = free_port()
    d.write_config()
    with open(d.log_path, "wb") as logf:
        d.proc = subprocess.Popen(
            [BIN, "--config", d.config_path, "--foreground"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, cwd=d.base)


def test_ready_reloading_stopping(ingressd, backend, notify):
    b = backend("app")
    n = notify()
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 start=False)
    launch(d)
    i = n.wait("READY")
    # The first request after READY=1 is served, with no retry.
    assert get(d.port, "app.test").status == 200
    assert n.msgs[i][1]["STATUS"] == "serving generation 1, 2 workers"
    assert "MAINPID" not in n.msgs[i][1]     # --foreground: we are main
    assert n.count("RELOADING") == 0 and n.count("STOPPING") == 0
    d.initial_workers = d.wait_workers()

    since = len(n.poll())
    d.signal(signal.SIGHUP)
    r = n.wait("RELOADING", since=since)
    assert int(n.msgs[r][1]["MONOTONIC_USEC"]) > 0
    ready = n.wait("READY", since=r + 1)
    # READY=1 after the reload: its generation runs in every worker.
    assert n.msgs[ready][1]["STATUS"] == "serving generation 2, 2 workers"
    d.wait_generation(2)
    assert get(d.port, "app.test").status == 200

    # Workers inherit nothing of the protocol.
    for pid in d.worker_pids():
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = f.read()
        assert b"NOTIFY_SOCKET" not in env

    since = len(n.poll())
    d.stop()
    s = n.wait("STOPPING", since=since, timeout=1)
    assert n.count("READY", since=s) == 0


def test_refused_reload_is_ready_again(ingressd, backend, notify):
    """A configuration with errors on SIGHUP: RELOADING=1, then READY=1
    for the configuration that keeps running."""
    b = backend("app")
    n = notify()
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    n.wait("READY")
    d.write_config("listen: {http: [}\n")
    since = len(n.poll())
    d.signal(signal.SIGHUP)
    r = n.wait("RELOADING", since=since)
    ready = n.wait("READY", since=r + 1)
    d.wait_log(r"reload failed")
    assert n.msgs[ready][1]["STATUS"] == "serving generation 1, 2 workers"
    assert get(d.port, "app.test").status == 200


def test_daemonized_sends_mainpid(ingressd, backend, notify):
    """Without --foreground the process systemd started exits: READY=1
    names the daemon with MAINPID=, the pid in pid_file."""
    b = backend("app")
    n = notify()
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 start=False)
    pid_file = os.path.join(d.base, "ingressd.pid")
    d.overrides = {"pid_file": pid_file}
    d.port = free_port()
    d.write_config()
    r = subprocess.run([BIN, "--config", d.config_path], cwd=d.base,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=T)
    assert r.returncode == 0, r.stderr
    pid = None
    try:
        with open(pid_file) as f:
            pid = int(f.read())
        i = n.wait("READY")
        assert n.msgs[i][1]["MAINPID"] == str(pid)
        assert get(d.port, "app.test").status == 200
        since = len(n.poll())
        os.kill(pid, signal.SIGTERM)
        n.wait("STOPPING", since=since)
        wait_until(lambda: not os.path.exists(pid_file),
                   what="the daemon to stop")
        pid = None
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


def test_abstract_socket(ingressd, backend, notify):
    b = backend("app")
    n = notify(abstract=True)
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 start=False)
    launch(d)
    n.wait("READY")
    assert get(d.port, "app.test").status == 200
    d.initial_workers = d.wait_workers()


def test_ready_without_routes(ingressd, notify):
    """No routes yet: READY=1 once the workers run (they answer 404)."""
    n = notify()
    d = ingressd(start=False)
    launch(d)
    i = n.wait("READY")
    # An empty manifests dir compiles to an empty generation 1.
    assert n.msgs[i][1]["STATUS"] == "serving generation 1, 2 workers"
    assert get(d.port, "any.test").status == 404
    d.initial_workers = d.wait_workers()


def test_watchdog_pings(ingressd, backend, notify):
    b = backend("app")
    n = notify(watchdog_usec=200000)        # a ping every 100 ms
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])})
    n.wait("READY")
    wait_until(lambda: n.count("WATCHDOG") >= 2, what="watchdog pings")
    # About 10 a second: neither missing nor flooding.
    before = n.count("WATCHDOG")
    time.sleep(2)
    pings = n.count("WATCHDOG") - before
    assert 8 <= pings <= 30, pings
    assert get(d.port, "app.test").status == 200


def test_sigusr2_upgrade_names_the_new_master(ingressd, backend, notify):
    """A SIGUSR2 binary upgrade under systemd: the new master sends
    MAINPID= with its pid and READY=1 once it serves and before the old
    master exits (which sends no STOPPING=1: the service goes on)."""
    b = backend("app")
    n = notify()
    d = ingressd(manifests={"a.yaml": simple_route("app.test", "app", [b])},
                 start=False)
    launch(d)
    n.wait("READY")
    d.initial_workers = d.wait_workers()
    since = len(n.poll())
    off = d.log_offset()
    d.signal(signal.SIGUSR2)
    m = d.wait_log(r"as the new master, pid (\d+)", since=off)
    new_pid = int(m.group(1))
    d.successors.append(new_pid)
    i = n.wait("MAINPID", str(new_pid), since=since)
    assert n.msgs[i][1].get("READY") == "1"
    assert d.proc.wait(T + 5) == 0
    n.poll()
    assert n.count("STOPPING", since=since) == 0
    assert get(d.port, "app.test").status == 200
    # the new master is the one that stops the service now
    since = len(n.poll())
    os.kill(new_pid, signal.SIGTERM)
    n.wait("STOPPING", since=since)
    wait_until(lambda: not proc_alive(new_pid), what="the new master to exit")
