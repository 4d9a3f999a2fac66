#!/usr/bin/env python3
"""Control-plane benchmark: ingressd's kube provider against the fake API
server (tests/fakeapi) holding N Ingresses, N Services and N
EndpointSlices (E endpoints each).  Not part of the test suite.

  tests/bench/kube_bench.py [-n 10000] [-e 5] [-c 200] [-w 2] [-d 10ms]
                            [-t 600] [--probe-interval 1h] [--admin]
                            [--idle 10]

Measures, and prints as text and as one JSON line:
  sync_ms      ingressd start -> first snapshot applied by every worker
  change_p50/p99/max_ms  one EndpointSlice changed -> its generation
               applied by every worker, from the moment the fake server
               wrote the watch event (wall clocks of one machine; log
               timestamps have millisecond resolution)
  event_to_published_p50_ms  the part until the master sent the snapshot
  rss_kib      master RSS after the sync and after the changes
  master_cpu_ms  CPU time (user+system) of the master for the sync and,
               per change, its mean: steadier than wall clocks on a
               shared machine
  master_idle_cpu_ms_per_s  after the changes, the master's CPU per
               second of wall clock over --idle seconds: with --admin
               (an admin listener) it includes rendering the status
               document; with probes on, handling their reports
  ipc_trouble  log lines of IPC messages refused or queues over their
               bound (should be 0), and health transitions logged
  loadavg      the 1-minute load average before the sync and at the end:
               read the wall clocks with it
Targets (issue 3): sync <= 3000 ms, change p99 <= 100 ms, RSS <= 150 MiB.
Every process started here is stopped by PID on exit; the whole run is
bounded by -t seconds (the changes stop early, and say so, past it).
"""

import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakeapi"))
from fakeapi import FakeAPI  # noqa: E402

BIN = os.environ.get("INGRESSD_BIN") or os.path.join(ROOT, "build",
                                                     "ingressd")
APPLIED = re.compile(r"^(\S+) .*generation (\d+) applied by all workers",
                     re.M)
PUBLISHED = re.compile(r"^(\S+) .*master info: generation (\d+): ", re.M)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ms(pid):
    """utime + stime of <pid> in milliseconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 // os.sysconf(
        "SC_CLK_TCK")


def ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def objects(n, e):
    for i in range(n):
        yield {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "i%d" % i, "namespace": "bench"},
               "spec": {"rules": [{"host": "h%d.bench.test" % i, "http": {
                   "paths": [{"path": "/", "pathType": "Prefix",
                              "backend": {"service": {
                                  "name": "s%d" % i,
                                  "port": {"number": 80}}}}]}}]}}
        yield {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "s%d" % i, "namespace": "bench"},
               "spec": {"ports": [{"name": "http", "port": 80,
                                   "targetPort": 8080}]}}
        yield endpoint_slice(i, e, 0)


def endpoint_slice(i, e, gen):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "s%d-0" % i, "namespace": "bench",
                         "labels": {"kubernetes.io/service-name":
                                    "s%d" % i}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.%d.%d.%d" % (
                (i >> 8) & 255, i & 255, (k + gen) % 250 + 1)],
                "conditions": {"ready": True}} for k in range(e)]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("-e", type=int, default=5)
    ap.add_argument("-c", type=int, default=200)
    ap.add_argument("-w", type=int, default=2)
    ap.add_argument("-d", default="10ms")
    ap.add_argument("-t", type=float, default=600,
                    help="bound on the whole run, seconds")
    ap.add_argument("--probe-interval", default="1h",
                    help="health.interval: the benchmark's endpoints do "
                    "not exist, and probing 50,000 of them every 2 s "
                    "measures the probes, not the control plane")
    ap.add_argument("--admin", action="store_true",
                    help="configure an admin listener: the master then "
                    "renders the status document for the workers")
    ap.add_argument("--idle", type=float, default=10,
                    help="seconds of idle master CPU measured at the end")
    a = ap.parse_args()

    deadline = time.monotonic() + a.t
    tmp = tempfile.mkdtemp(prefix="ingressd-kbench")
    print("work dir %s" % tmp, file=sys.stderr)
    api = FakeAPI(os.path.join(tmp, "certs")).start()
    t0 = time.monotonic()
    api.apply(*objects(a.n, a.e))
    api.compact()                    # no history for watches to scan
    # One write past the compaction point: the fake server expires a
    # continue token at it (410), which made every first list page twice.
    api.apply({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "bench-rv", "namespace": "bench"},
               "spec": {}})
    print("fake API: %d objects loaded in %.1f s" % (3 * a.n,
          time.monotonic() - t0), file=sys.stderr)
    kc = api.kubeconfig(os.path.join(tmp, "kubeconfig"))
    s = __import__("socket").socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = os.path.join(tmp, "ingressd.yaml")
    listen = {"http": "127.0.0.1:%d" % port}
    if a.admin:
        s = __import__("socket").socket()
        s.bind(("127.0.0.1", 0))
        listen["admin"] = "127.0.0.1:%d" % s.getsockname()[1]
        s.close()
    with open(conf, "w") as f:
        json.dump({"listen": listen,
                   "workers": a.w,
                   "provider": {"kind": "kube", "kubeconfig": kc,
                                "debounce": a.d},
                   "control": {"socket": os.path.join(tmp, "c.sock")},
                   "health": {"interval": a.probe_interval},
                   "log": {"level": "info"}}, f)
    logp = os.path.join(tmp, "ingressd.log")
    logf = open(logp, "wb")
    load0 = os.getloadavg()[0]
    start = time.time()
    proc = subprocess.Popen([BIN, "--config", conf, "--foreground"],
                            stdout=logf, stderr=logf, cwd=tmp)
    out = {"objects": 3 * a.n, "endpoints": a.n * a.e, "workers": a.w,
           "debounce": a.d, "probe_interval": a.probe_interval,
           "admin": a.admin}
    try:
        def log():
            with open(logp) as f:
                return f.read()

        def applied(gen, timeout=120):
            dl = min(time.monotonic() + timeout, deadline)
            while time.monotonic() < dl:
                for m in APPLIED.finditer(log()):
                    if int(m.group(2)) >= gen:
                        return ts(m.group(1)), int(m.group(2))
                if proc.poll() is not None:
                    sys.exit("ingressd exited:\n" + log()[-3000:])
                time.sleep(0.005)
            sys.exit("timeout waiting for generation %d:\n%s" % (
                gen, log()[-3000:]))
        t1, gen = applied(1)
        out["sync_ms"] = round((t1 - start) * 1000)
        m = re.search(r"kube: synced (\d+) objects .* in (\d+) ms", log())
        out["list_ms"] = int(m.group(2)) if m else None
        out["master_cpu_sync_ms"] = cpu_ms(proc.pid)
        time.sleep(0.5)
        out["rss_kib_synced"] = rss_kib(proc.pid)
        lat, pub = [], []
        cpu0 = cpu_ms(proc.pid)
        for k in range(a.c):
            if time.monotonic() > deadline - 10:
                print("time bound reached after %d changes" % k,
                      file=sys.stderr)
                break
            # Apart, so that no two changes share a debounce window.
            time.sleep(0.02)
            i = (k * 7919) % a.n
            api.apply(endpoint_slice(i, a.e, k + 1))
            rv = api.rv
            tapp, gen = applied(gen + 1)
            dl = time.monotonic() + 5
            while rv not in api.emitted and time.monotonic() < dl:
                time.sleep(0.001)
            lat.append((tapp - api.emitted[rv]) * 1000)
            for m in PUBLISHED.finditer(log()):
                if int(m.group(2)) == gen:
                    pub.append((ts(m.group(1)) - api.emitted[rv]) * 1000)
        out["changes"] = len(lat)
        out["master_cpu_per_change_ms"] = round(
            (cpu_ms(proc.pid) - cpu0) / max(1, len(lat)), 1)
        lat.sort()
        pub.sort()
        out["event_to_published_p50_ms"] = round(pub[len(pub) // 2], 1)
        out["change_p50_ms"] = round(lat[len(lat) // 2], 1)
        out["change_p99_ms"] = round(lat[min(len(lat) - 1,
                                             int(len(lat) * 0.99))], 1)
        out["change_max_ms"] = round(lat[-1], 1)
        c0, w0 = cpu_ms(proc.pid), time.monotonic()
        time.sleep(max(0.0, min(a.idle, deadline - time.monotonic())))
        out["master_idle_cpu_ms_per_s"] = round(
            (cpu_ms(proc.pid) - c0) / max(0.001, time.monotonic() - w0), 1)
        text = log()
        out["ipc_trouble"] = len(re.findall(
            r"send (?:HELLO|SNAPSHOT|SNAPSHOT_ACK|DRAIN|HEALTH_STATE|"
            r"HEALTH_REPORT|STATS|METRICS|STATUS_DOC|LOG_REOPEN|TLS_KEYS)|"
            r"not reading", text))
        out["health_transitions"] = len(re.findall(r" is (?:DOWN|UP): ",
                                                   text))
        out["rss_kib_end"] = rss_kib(proc.pid)
        out["loadavg_start"] = round(load0, 2)
        out["loadavg_end"] = round(os.getloadavg()[0], 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        api.stop()
    print("first sync to applied snapshot: %s ms (lists took %s ms)" % (
        out["sync_ms"], out["list_ms"]))
    print("EndpointSlice change -> applied by all workers: p50 %s ms, "
          "p99 %s ms, max %s ms (%d changes, debounce %s)" % (
              out["change_p50_ms"], out["change_p99_ms"],
              out["change_max_ms"], out["changes"], a.d))
    print("  of which event -> snapshot built and sent (debounce, "
          "compile, encode): p50 %s ms" % out["event_to_published_p50_ms"])
    print("master RSS: %.1f MiB synced, %.1f MiB after the changes" % (
        out["rss_kib_synced"] / 1024, out["rss_kib_end"] / 1024))
    print("master CPU: %s ms to the first sync, %s ms per change" % (
        out["master_cpu_sync_ms"], out["master_cpu_per_change_ms"]))
    print("master idle CPU: %s ms per second (admin listener: %s, probe "
          "interval %s)" % (out["master_idle_cpu_ms_per_s"], a.admin,
                            a.probe_interval))
    print("IPC trouble in the log: %d lines; health transitions: %d" % (
        out["ipc_trouble"], out["health_transitions"]))
    print("load average (1 min): %s at the start, %s at the end (%d CPUs)"
          % (out["loadavg_start"], out["loadavg_end"], os.cpu_count()))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
