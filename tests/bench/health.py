#!/usr/bin/env python3
"""tests/bench/health.py: detection time and failed requests when a backend
dies under load, ingressd beside HAProxy, in the same run.

  tests/bench/health.py [-d SECONDS] [-c CLIENTS] [-r ROUNDS]

Three backend processes (tests/integration/fixtures/health_backend.py)
serve both proxies.  Both probe GET /healthz every 200 ms, fall 2, rise 2
(ingressd: ingressd.io/health-* annotations; HAProxy: option httpchk,
check inter 200 fall 2 rise 2, retries 3, option redispatch).  CLIENTS
threads per proxy send GETs on fresh connections; after 2 s one backend is
SIGKILLed, after 5 s it is restarted.  Detection time is measured by
polling each proxy's own view (ingressctl backends; HAProxy's stats
socket) every 10 ms.  Not part of the test suite.  Every process started
here is stopped by PID on exit.  Needs haproxy and a built ingressd
($INGRESSD_BIN, default build/ingressd).
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("INGRESSD_BIN") or os.path.join(ROOT, "build", "ingressd")
CTL = os.path.join(os.path.dirname(BIN), "ingressctl")
BACKEND = os.path.join(ROOT, "tests", "integration", "fixtures",
                       "health_backend.py")
PY = "/usr/bin/python3"
INTER, FALL, RISE = 200, 2, 2


def freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Backend:
    def __init__(self, name):
        self.name, self.port, self.proc = name, freeport(), None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([PY, BACKEND, str(self.port), self.name],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.proc.stdout.readline()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def start_ingressd(tmp, backends, workers):
    port = freeport()
    sock = os.path.join(tmp, "c.sock")
    os.makedirs(os.path.join(tmp, "m"), exist_ok=True)
    ann = ("    ingressd.io/health-path: /healthz\n"
           "    ingressd.io/health-interval: %dms\n"
           "    ingressd.io/health-fall: \"%d\"\n"
           "    ingressd.io/health-rise: \"%d\"\n" % (INTER, FALL, RISE))
    docs = ["apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n"
            "  name: web\n  namespace: default\n  annotations:\n" + ann +
            "spec:\n  defaultBackend:\n    service:\n      name: app\n"
            "      port:\n        number: 80\n",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\n"
            "  namespace: default\nspec:\n  ports:\n  - name: http\n"
            "    port: 80\n    targetPort: 8080\n"]
    for i, b in enumerate(backends):
        docs.append("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                    "metadata:\n  name: app-%d\n  namespace: default\n"
                    "  labels:\n    kubernetes.io/service-name: app\n"
                    "addressType: IPv4\nports:\n- name: http\n  port: %d\n"
                    "endpoints:\n- addresses: [127.0.0.1]\n"
                    "  conditions: {ready: true}\n" % (i, b.port))
    with open(os.path.join(tmp, "m", "app.yaml"), "w") as f:
        f.write("".join("---\n" + d for d in docs))
    with open(os.path.join(tmp, "ingressd.yaml"), "w") as f:
        f.write("listen:\n  http: 127.0.0.1:%d\nworkers: %d\n"
                "provider:\n  kind: files\n  dir: m\n  debounce: 50ms\n"
                "control:\n  socket: %s\nlog:\n  level: warn\n" %
                (port, workers, sock))
    p = subprocess.Popen([BIN, "--config", os.path.join(tmp, "ingressd.yaml"),
                          "--foreground"], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, "ingressd.log"), "w"))
    return p, port, sock


def start_haproxy(tmp, backends, workers):
    port = freeport()
    stats = os.path.join(tmp, "haproxy.sock")
    cfg = os.path.join(tmp, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write("global\n  nbthread %d\n  stats socket %s\n"
                "defaults\n  mode http\n  timeout connect 1s\n"
                "  timeout client 10s\n  timeout server 10s\n  retries 3\n"
                "  option redispatch\n"
                "frontend fe\n  bind 127.0.0.1:%d\n  default_backend be\n"
                "backend be\n  balance leastconn\n"
                "  option httpchk GET /healthz\n" % (workers, stats, port))
        for b in backends:
            f.write("  server %s 127.0.0.1:%d check inter %d fall %d "
                    "rise %d\n" % (b.name, b.port, INTER, FALL, RISE))
    p = subprocess.Popen(["haproxy", "-f", cfg, "-db"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p, port, stats


def ingressd_down(sock, name_port):
    r = subprocess.run([CTL, "-s", sock, "backends"], capture_output=True)
    return ("127.0.0.1:%d (DOWN" % name_port) in r.stdout.decode()


def haproxy_down(stats, name):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(stats)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    finally:
        s.close()
    for line in data.decode().splitlines():
        f = line.split(",")
        if len(f) > 17 and f[0] == "be" and f[1] == name:
            return f[17].startswith("DOWN")
    return False


def load(port, stop, out):
    while not stop.is_set():
        t = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/")
            ok = c.getresponse().status == 200
            c.close()
        except OSError:
            ok = False
        out.append((t, ok))


def one_round(args, tmp):
    bs = [Backend("b%d" % i) for i in range(3)]
    procs = []
    try:
        ip, iport, isock = start_ingressd(tmp, bs, args.workers)
        procs.append(ip)
        hp, hport, hstats = start_haproxy(tmp, bs, args.workers)
        procs.append(hp)
        time.sleep(1.5)
        stop = threading.Event()
        res = {"ingressd": [], "haproxy": []}
        th = [threading.Thread(target=load, args=(p, stop, res[k]))
              for k, p in (("ingressd", iport), ("haproxy", hport))
              for _ in range(args.clients)]
        for t in th:
            t.start()
        time.sleep(2.0)
        victim = bs[1]
        t_kill = time.monotonic()
        victim.kill()
        det = {}
        while time.monotonic() - t_kill < 3 and len(det) < 2:
            now = time.monotonic() - t_kill
            if "ingressd" not in det and ingressd_down(isock, victim.port):
                det["ingressd"] = now
            if "haproxy" not in det and haproxy_down(hstats, victim.name):
                det["haproxy"] = now
            time.sleep(0.01)
        time.sleep(max(0.0, 3.0 - (time.monotonic() - t_kill)))
        victim.start()
        time.sleep(args.duration)
        stop.set()
        for t in th:
            t.join()
        out = {}
        for k in res:
            after = [ok for t, ok in res[k] if t >= t_kill]
            out[k] = {"requests": len(res[k]),
                      "failed": sum(1 for t, ok in res[k] if not ok),
                      "failed_after_kill": after.count(False),
                      "detect_ms": round(det[k] * 1000) if k in det else None}
        return out
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        for b in bs:
            if b.proc.poll() is None:
                b.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-d", "--duration", type=float, default=3.0)
    ap.add_argument("-c", "--clients", type=int, default=2)
    ap.add_argument("-r", "--rounds", type=int, default=1)
    ap.add_argument("-n", "--workers", type=int, default=2)
    args = ap.parse_args()
    rows = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            o = one_round(args, tmp)
        print(json.dumps({"round": r, **o}))
        rows.append(o)
    print("%-9s %10s %10s %12s" % ("proxy", "requests", "failed",
                                   "detect ms"))
    for k in ("ingressd", "haproxy"):
        for o in rows:
            print("%-9s %10d %10d %12s" % (k, o[k]["requests"],
                                           o[k]["failed"],
                                           o[k]["detect_ms"]))


if __name__ == "__main__":
    sys.exit(main())
