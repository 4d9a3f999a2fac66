#!/usr/bin/env python3
"""Helpers for tests/bench/run: /proc accounting, idle connections, report.

  bench.py freeport                       an unused 127.0.0.1 port
  bench.py cpu PID                        CPU seconds (utime+stime) of PID
                                          and its children
  bench.py rss PID                        RSS KiB: total, and of the children
  bench.py record K=V... --wrk FILE       one JSON result line from wrk output
  bench.py idle PORT HOST N PID           worker RSS idle and with N idle
                                          keep-alive client connections
  bench.py report RESULTS.jsonl           the table, ratios to nginx
"""

import json
import os
import re
import resource
import socket
import statistics
import sys
import time

TCK = os.sysconf("SC_CLK_TCK")


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            s = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        if int(s[s.rindex(")") + 2:].split()[1]) == ppid:
            out.append(int(d))
    return out


def cpu_ticks(pid):
    try:
        s = open("/proc/%d/stat" % pid).read()
    except OSError:
        return 0
    f = s[s.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])     # utime, stime (fields 14, 15)


def rss_kib(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmd_cpu(pid):
    pid = int(pid)
    t = cpu_ticks(pid) + sum(cpu_ticks(c) for c in children(pid))
    print("%.3f" % (t / TCK))


def cmd_rss(pid):
    pid = int(pid)
    kids = children(pid)
    wr = [rss_kib(c) for c in kids] or [rss_kib(pid)]
    print(json.dumps({"rss_total_kib": rss_kib(pid) + sum(rss_kib(c) for c in kids),
                      "rss_worker_max_kib": max(wr)}))


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(text):
    r = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    r["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % pct, text, re.M)
        r["p" + pct + "_ms"] = ms(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", text)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    return r


def cmd_record(args):
    rec = {}
    i = 0
    while i < len(args):
        if args[i] == "--wrk":
            rec.update(parse_wrk(open(args[i + 1]).read()))
            i += 2
            continue
        k, v = args[i].split("=", 1)
        try:
            v = json.loads(v)
        except ValueError:
            pass
        if isinstance(v, dict):
            rec.update(v)
        else:
            rec[k] = v
        i += 1
    print(json.dumps(rec))


def cmd_idle(port, host, n, pid):
    port, n, pid = int(port), int(n), int(pid)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            sys.exit("RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    workers = children(pid)
    time.sleep(0.5)
    idle = [rss_kib(w) for w in workers]
    req = ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode()
    conns = []
    failed = 0
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), 10)
            s.sendall(req)
            data = b""
            while b"\r\n\r\n" not in data:
                d = s.recv(4096)
                if not d:
                    raise ConnectionError("closed")
                data += d
            conns.append(s)
        except OSError:
            failed += 1
    time.sleep(1.0)
    loaded = [rss_kib(w) for w in workers]
    alive = len(conns)
    for s in conns:
        s.close()
    out = {"workers": len(workers), "idle_rss_kib": idle,
           "loaded_rss_kib": loaded, "connections": alive,
           "failed": failed,
           "kib_per_conn": (sum(loaded) - sum(idle)) / alive if alive else None}
    print(json.dumps(out))


def cmd_report(path, idle_path=None):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    variants = []
    for r in rows:
        if r["variant"] not in variants:
            variants.append(r["variant"])
    proxies = ["ingressd", "nginx", "haproxy"]
    print("%-14s %-9s %10s %9s %9s %12s %11s %11s %10s %7s" % (
        "variant", "proxy", "req/s", "p50 ms", "p99 ms", "CPU us/req",
        "RSS KiB", "worker KiB", "wrk errors", "rounds"))
    summary = {}
    for v in variants:
        for p in proxies:
            rs = [r for r in rows if r["variant"] == v and r["proxy"] == p]
            if not rs:
                continue
            reqs = sum(r.get("requests", 0) for r in rs)
            cpu = sum(r["cpu1"] - r["cpu0"] for r in rs)
            s = {
                "rps": statistics.median(r["rps"] for r in rs),
                "p50": statistics.median(r["p50_ms"] or 0 for r in rs),
                "p99": statistics.median(r["p99_ms"] or 0 for r in rs),
                "cpu_us": 1e6 * cpu / reqs if reqs else float("nan"),
                "rss": max(r.get("rss_total_kib", 0) for r in rs),
                "wrss": max(r.get("rss_worker_max_kib", 0) for r in rs),
                "errors": sum(r.get("socket_errors", 0) + r.get("non2xx", 0)
                              for r in rs),
                "n": len(rs),
            }
            summary[(v, p)] = s
            print("%-14s %-9s %10.0f %9.2f %9.2f %12.1f %11d %11d %10d %7d" % (
                v, p, s["rps"], s["p50"], s["p99"], s["cpu_us"], s["rss"],
                s["wrss"], s["errors"], s["n"]))
    print()
    print("ratios to nginx (req/s: higher is better; CPU/req and p99: lower)")
    print("%-14s %-9s %10s %12s %9s" % ("variant", "proxy", "req/s", "CPU/req", "p99"))
    for v in variants:
        base = summary.get((v, "nginx"))
        if not base:
            continue
        for p in proxies:
            s = summary.get((v, p))
            if not s or p == "nginx":
                continue

            def ratio(a, b):
                return a / b if b else float("nan")
            print("%-14s %-9s %10.2f %12.2f %9.2f" % (
                v, p, ratio(s["rps"], base["rps"]),
                ratio(s["cpu_us"], base["cpu_us"]), ratio(s["p99"], base["p99"])))
    if idle_path and os.path.exists(idle_path):
        i = json.load(open(idle_path))
        print()
        print("ingressd idle memory: worker RSS idle %s KiB; with %d idle "
              "keep-alive connections %s KiB; %.2f KiB per connection%s" % (
                  i["idle_rss_kib"], i["connections"], i["loaded_rss_kib"],
                  i["kib_per_conn"] or float("nan"),
                  " (%d connections failed)" % i["failed"] if i["failed"] else ""))


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    cmd = a.pop(0)
    if cmd == "freeport":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    elif cmd == "cpu":
        cmd_cpu(*a)
    elif cmd == "rss":
        cmd_rss(*a)
    elif cmd == "record":
        cmd_record(a)
    elif cmd == "idle":
        cmd_idle(*a)
    elif cmd == "report":
        cmd_report(*a)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
