"""The admin listener: /metrics (parsed strictly as the Prometheus text
format 0.0.4), /api/status, /api/routes, /api/backends, the dashboard and
its headers, methods and unknown paths; counters that move with traffic;
the dashboard in a headless Chromium."""

import json
import math
import os
import re
import shutil
import subprocess

import pytest

from conftest import (T, closed_port, free_port, get, ingress, path, rule,
                      simple_route, svc_for, wait_until)

ART_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "artifacts")

# ------------------------------------------------- Prometheus text parser

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|\Z)')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _unescape(v):
    return re.sub(r"\\([\\\"n])",
                  lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def _labels(s):
    out, pos = {}, 0
    while pos < len(s):
        m = LABEL_RE.match(s, pos)
        assert m, "bad label set at %r" % s[pos:]
        assert m.group(1) not in out, "label %s twice" % m.group(1)
        out[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
        if m.group(3) == "":
            break
    return out


def _value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    return float(s)


def parse_prometheus(text):
    """Strict parse: {family: {"type", "help", "samples": [(name, labels,
    value)]}}.  Every sample belongs to a family with a TYPE seen before
    it; HELP/TYPE at most once per family; histogram buckets are
    cumulative, end in +Inf and +Inf equals _count."""
    fams = {}
    assert text.endswith("\n"), "exposition must end in a newline"
    for line in text.split("\n")[:-1]:
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert NAME_RE.match(name), line
                f = fams.setdefault(name, {"samples": []})
                key = parts[1].lower()
                assert key not in f, "%s twice for %s" % (parts[1], name)
                assert not f["samples"], "%s after samples: %s" % (parts[1], line)
                f[key] = parts[3] if len(parts) > 3 else ""
                if key == "type":
                    assert f[key] in TYPES, line
            continue
        assert line.strip(), "empty line"
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?\Z",
                     line)
        assert m, "bad sample line %r" % line
        name, labels, value = m.group(1), _labels(m.group(3) or ""), _value(m.group(4))
        fam = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and name[:-len(suf)] in fams and \
                    fams[name[:-len(suf)]].get("type") == "histogram":
                fam = name[:-len(suf)]
        assert fam in fams and "type" in fams[fam], \
            "sample %s without a TYPE" % name
        fams[fam]["samples"].append((name, labels, value))
    for fam, f in fams.items():
        if f["type"] == "counter":
            for n, _, v in f["samples"]:
                assert n == fam and fam.endswith("_total"), (fam, n)
                assert v >= 0
        if f["type"] == "histogram":
            _check_histogram(fam, f["samples"])
    return fams


def _check_histogram(fam, samples):
    series = {}
    for n, labels, v in samples:
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if n == fam + "_bucket":
            s["buckets"].append((_value(labels["le"]), v))
        elif n == fam + "_sum":
            s["sum"] = v
        elif n == fam + "_count":
            s["count"] = v
        else:
            raise AssertionError("%s in histogram %s" % (n, fam))
    for key, s in series.items():
        b = s["buckets"]
        assert b and b[-1][0] == math.inf, "%s%s: no +Inf bucket" % (fam, key)
        les = [le for le, _ in b]
        assert les == sorted(les) and len(set(les)) == len(les), les
        counts = [c for _, c in b]
        assert counts == sorted(counts), "%s not cumulative: %s" % (fam, counts)
        assert s["count"] == b[-1][1], "%s: +Inf %s != _count %s" % (
            fam, b[-1][1], s["count"])
        assert s["sum"] is not None and s["sum"] >= 0


def sample(fams, name, **labels):
    """The value of <name> with exactly these labels (le aside), or None."""
    fam = fams.get(name)
    if fam is None:
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf):
                fam = fams.get(name[:-len(suf)])
    if fam is None:
        return None
    for n, l, v in fam["samples"]:
        if n == name and l == labels:
            return v
    return None


def metrics(admin):
    r = get(admin, "admin", "/metrics")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4"), \
        r.header("Content-Type")
    return parse_prometheus(r.body.decode())


def api(admin, p):
    r = get(admin, "admin", p)
    assert r.status == 200, (p, r)
    assert r.header("Content-Type") == "application/json", r.header("Content-Type")
    assert r.header("Cache-Control") == "no-store"
    return r.json()


def test_parser_is_strict():
    """The parser above refuses what the format forbids (so the tests that
    use it can fail)."""
    good = ("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
            "h_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n")
    parse_prometheus(good)
    for bad in ("x 1\n",                                   # no TYPE
                good.replace("h_count 2", "h_count 3"),    # +Inf != count
                good.replace("} 1\n", "} 5\n", 1),         # not cumulative
                good.replace('h_bucket{le="+Inf"} 2\n', ""),
                "# TYPE c counter\nc 1\n",                 # counter w/o _total
                '# TYPE g gauge\ng{a="\\q"} 1\n'):         # bad escape
        with pytest.raises(AssertionError):
            parse_prometheus(bad)


# -------------------------------------------------------------- fixtures

HEALTH = {"ingressd.io/health-interval": "200ms",
          "ingressd.io/health-fall": "2",
          "ingressd.io/health-rise": "2"}


def start(ingressd, backend):
    """app.test -> a live backend; dead.test -> an endpoint nobody listens
    on, probed every 200 ms."""
    b = backend("app")
    admin = free_port()
    dead = closed_port()
    m = {"app.yaml": simple_route("app.test", "app", [b]),
         "dead.yaml": [ingress("ing-dead", [rule("dead.test", path("/", "dead"))],
                               annotations=HEALTH)] + svc_for("dead", [dead])}
    d = ingressd(manifests=m,
                 config={"listen": {"admin": "127.0.0.1:%d" % admin},
                         "health": {"passive_failures": 0}})
    # The first status document comes within a second of the start.
    wait_until(lambda: get(admin, "admin", "/api/status").status == 200,
               what="a status document")
    return d, b, admin, dead


def test_metrics_move_with_traffic(ingressd, backend):
    d, b, admin, dead = start(ingressd, backend)
    for _ in range(3):
        assert get(d.port, "app.test", "/").status == 200
    for _ in range(2):
        assert get(d.port, "app.test", "/status/404").status == 404
    assert get(d.port, "nowhere.test", "/").status == 404
    assert get(d.port, "dead.test", "/").status in (502, 503)

    def counted():
        f = metrics(admin)
        ok = (sample(f, "ingressd_host_requests_total", host="app.test",
                     status_class="2xx") == 3 and
              sample(f, "ingressd_host_requests_total", host="app.test",
                     status_class="4xx") == 2 and
              sample(f, "ingressd_backend_requests_total",
                     backend="default/app:80", status_class="2xx") == 3 and
              (sample(f, "ingressd_health_transitions_total", to="down") or 0) >= 1 and
              sample(f, "ingressd_endpoint_up", backend="default/dead:80",
                     endpoint="127.0.0.1:%d" % dead) == 0)
        return f if ok else None
    f = wait_until(counted, what="counters of the traffic sent")
    # No rule matched "nowhere.test": counted under "*".
    assert sample(f, "ingressd_host_requests_total", host="*",
                  status_class="4xx") >= 1
    assert sample(f, "ingressd_endpoint_requests_total",
                  backend="default/app:80",
                  endpoint="127.0.0.1:%d" % b.port) == 5
    assert sample(f, "ingressd_endpoint_up", backend="default/app:80",
                  endpoint="127.0.0.1:%d" % b.port) == 1
    assert sample(f, "ingressd_request_duration_seconds_count") >= 7
    assert sample(f, "ingressd_upstream_response_seconds_count") >= 5
    # The dead endpoint refused the one request that reached it, unless
    # its probes had taken it out first (then 503, no connect).
    errs = sample(f, "ingressd_upstream_connect_errors_total",
                  backend="default/dead:80")
    assert errs is not None
    assert sample(f, "ingressd_snapshot_generation") >= 1
    assert sample(f, "ingressd_snapshot_applied") == 1
    assert sample(f, "ingressd_provider_synced", kind="files") == 1
    assert sample(f, "ingressd_workers") == 2
    assert sample(f, "ingressd_build_info", version=f["ingressd_build_info"]
                  ["samples"][0][1]["version"]) == 1
    for w in ("0", "1"):
        assert sample(f, "ingressd_worker_restarts_total", worker=w) == 0
        assert sample(f, "ingressd_snapshot_apply_latency_seconds",
                      worker=w) >= 0
    assert sample(f, "ingressd_connections", state="idle") is not None
    for name, fam in f.items():
        assert name.startswith("ingressd_"), name
        assert fam.get("help"), name


def test_upstream_connect_errors_counted(ingressd, backend):
    """With the probes far apart, requests reach the dead endpoint and
    each refused connect is counted for its backend and endpoint."""
    admin = free_port()
    dead = closed_port()
    m = {"dead.yaml": [ingress("ing-dead", [rule("dead.test", path("/", "dead"))],
                               annotations={"ingressd.io/health-interval": "1h"})]
         + svc_for("dead", [dead])}
    d = ingressd(manifests=m, config={"listen": {"admin": "127.0.0.1:%d" % admin},
                                      "health": {"passive_failures": 0}})
    wait_until(lambda: get(admin, "admin", "/metrics").status == 200,
               what="a status document")
    for _ in range(3):
        assert get(d.port, "dead.test", "/").status == 502

    def counted():
        f = metrics(admin)
        return f if sample(f, "ingressd_upstream_connect_errors_total",
                           backend="default/dead:80") == 3 else None
    f = wait_until(counted, what="3 connect errors")
    assert sample(f, "ingressd_backend_requests_total", backend="default/dead:80",
                  status_class="5xx") == 3
    assert sample(f, "ingressd_endpoint_errors_total", backend="default/dead:80",
                  endpoint="127.0.0.1:%d" % dead) >= 3


def test_api_json(ingressd, backend):
    d, b, admin, dead = start(ingressd, backend)
    assert get(d.port, "app.test", "/").status == 200
    st = api(admin, "/api/status")
    assert re.match(r"\d+\.\d+\.\d+", st["version"])
    assert st["generation"] >= 1 and st["applied"] is True
    assert st["provider"]["kind"] == "files" and st["provider"]["synced"] is True
    assert len(st["workers"]) == 2
    for w in st["workers"]:
        assert w["pid"] in d.worker_pids()
        assert w["generation"] == st["generation"]
        assert w["restarts"] == 0 and w["uptime_s"] >= 0
        assert w["applied_at"] > 0 and w["apply_latency_ms"] >= 0
    rt = api(admin, "/api/routes")["routes"]
    assert {"host": "app.test", "path": "/", "type": "Prefix",
            "backend": "default/app:80", "source": "default/ing-app"} in rt
    assert any(r["host"] == "dead.test" for r in rt)

    def served():
        be = {x["name"]: x for x in api(admin, "/api/backends")["backends"]}
        app = be.get("default/app:80")
        if not app or app["details"][0]["requests"] < 1:
            return None
        if be["default/dead:80"]["details"][0]["up"]:
            return None
        return be
    be = wait_until(served, what="backend counters and the dead one down")
    e = be["default/app:80"]["details"][0]
    assert e["address"] == "127.0.0.1:%d" % b.port
    assert e["health"] == "up" and e["up"] is True
    assert e["requests"] == 1 and e["errors"] == 0 and e["in_flight"] == 0
    assert e["ejections"] == 0
    assert be["default/app:80"]["by_class"]["2xx"] == 1
    x = be["default/dead:80"]["details"][0]
    assert x["health"] != "up" and x["last_probe_ms"] > 0
    assert "connect" in x["last_probe"] or "refused" in x["last_probe"], x


def test_methods_paths_and_headers(ingressd, backend):
    d, b, admin, dead = start(ingressd, backend)
    r = get(admin, "admin", "/metrics", method="POST", body=b"x")
    assert r.status == 405 and r.header("Allow") == "GET, HEAD", r
    assert get(admin, "admin", "/api/nope").status == 404
    assert get(admin, "admin", "/api/status?pretty=1").status == 200
    r = get(admin, "admin", "/api/routes", method="HEAD")
    assert r.status == 200 and r.body == b""
    assert int(r.header("Content-Length")) > 0
    r = get(admin, "admin", "/")
    assert r.status == 200 and r.header("Content-Type").startswith("text/html")
    assert r.header("Cache-Control") == "no-store"
    csp = r.header("Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp, csp
    assert b'<table id="routes">' in r.body and b"/dashboard.js" in r.body
    for p, ct in (("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css")):
        r = get(admin, "admin", p)
        assert r.status == 200 and r.header("Content-Type").startswith(ct), (p, r)
    # The admin listener's own requests are not counted as traffic.
    f = metrics(admin)
    assert sample(f, "ingressd_requests_total") == 0


# ------------------------------------------------------------- browser

CHROMIUM = "/usr/bin/chromium"


def dead_down(admin):
    be = {x["name"]: x for x in api(admin, "/api/backends")["backends"]}
    return not be["default/dead:80"]["details"][0]["up"]


def test_dashboard_in_chromium(ingressd, backend, tmp_path):
    """Headless Chromium loads the dashboard, which fetches /api/* and
    fills its tables: the route rows and the backends' health."""
    assert os.access(CHROMIUM, os.X_OK), (
        "%s missing: deploy/dev.sh test installs the chromium package" % CHROMIUM)
    d, b, admin, dead = start(ingressd, backend)
    assert get(d.port, "app.test", "/").status == 200
    wait_until(lambda: dead_down(admin), what="the dead endpoint down")
    os.makedirs(ART_DIR, exist_ok=True)
    shot = os.path.join(ART_DIR, "dashboard.png")
    url = "http://127.0.0.1:%d/" % admin
    base = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--no-first-run", "--user-data-dir=%s" % (tmp_path / "chr"),
            "--virtual-time-budget=5000"]
    dom = ""
    for _ in range(5):      # bounded: a slow machine may miss a refresh
        p = subprocess.run(base + ["--dump-dom", url], capture_output=True,
                           text=True, timeout=T * 6)
        assert p.returncode == 0, p.stderr[-2000:]
        dom = p.stdout
        if 'data-refreshes="0"' not in dom:
            break
    assert 'id="refreshed" data-refreshes="0"' not in dom, dom[-3000:]
    assert re.search(r'<tr data-host="app.test" data-path="/" '
                     r'data-backend="default/app:80">', dom), dom[-3000:]
    assert re.search(r'<tr data-backend="default/app:80" data-endpoint='
                     r'"127.0.0.1:%d" data-health="up">' % b.port, dom), dom[-3000:]
    assert re.search(r'<tr data-backend="default/dead:80" data-endpoint='
                     r'"127.0.0.1:%d" data-health="down">' % dead, dom), dom[-3000:]
    assert re.search(r'<dd id="status-sync">synced</dd>', dom)
    p = subprocess.run(base + ["--window-size=1280,900",
                               "--screenshot=%s" % shot, url],
                       capture_output=True, text=True, timeout=T * 6)
    assert p.returncode == 0 and os.path.getsize(shot) > 0, p.stderr[-2000:]
    print("dashboard screenshot: %s" % shot)


# ------------------------------------------------------------- ingressctl

def ingressctl(*args):
    from conftest import BIN
    exe = os.path.join(os.path.dirname(BIN), "ingressctl")
    return subprocess.run([exe] + list(args), capture_output=True, text=True,
                          timeout=T)


def test_ingressctl_commands_both_outputs(ingressd, backend):
    d, b, admin, dead = start(ingressd, backend)
    assert get(d.port, "app.test", "/").status == 200
    sock = os.path.join(d.sockdir, "c.sock")
    wait_until(lambda: dead_down(admin), what="the dead endpoint down")

    def counted():
        r = ingressctl("-s", sock, "-o", "json", "backends")
        be = {x["name"]: x for x in json.loads(r.stdout)["backends"]}
        return be if be["default/app:80"]["details"][0]["requests"] == 1 \
            else None
    be = wait_until(counted, what="the request in ingressctl's backends")
    e = be["default/app:80"]["details"][0]
    assert e["address"] == "127.0.0.1:%d" % b.port and e["health"] == "up"
    for k in ("last_probe_ms", "last_probe", "in_flight", "errors",
              "ejections"):
        assert k in e, k
    r = ingressctl("-s", sock, "backends")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^BACKEND\s+ENDPOINT\s+HEALTH\s+LAST PROBE\s+IN-FLIGHT"
                     r"\s+REQUESTS\s+ERRORS\s+EJECTIONS$", r.stdout, re.M), r.stdout
    assert re.search(r"^default/app:80\s+127\.0\.0\.1:%d\s+up\s.*\s0\s+1\s+0\s+0$"
                     % b.port, r.stdout, re.M), r.stdout
    assert re.search(r"^default/dead:80\s+127\.0\.0\.1:%d\s+down: connect"
                     % dead, r.stdout, re.M), r.stdout

    r = ingressctl("-s", sock, "-o", "json", "status")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["provider"]["kind"] == "files" and len(st["workers"]) == 2
    assert all(w["applied_at"] > 0 for w in st["workers"])
    r = ingressctl("-s", sock, "status")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^generation:\s+%d \(applied by all workers\)$" %
                     st["generation"], r.stdout, re.M), r.stdout
    assert re.search(r"^provider:     files \S+, ready$", r.stdout, re.M), r.stdout
    assert re.search(r"^WORKER\s+PID\s+UPTIME\s+RESTARTS\s+GENERATION\s+"
                     r"APPLIED\s+CONNECTIONS\s+REQUESTS$", r.stdout, re.M)
    for w in st["workers"]:
        assert re.search(r"^%d\s+%d\s+\d+\S*\s+0\s+%d\s+\d\d:\d\d:\d\d "
                         r"\(\d+ ms\)" % (w["id"], w["pid"], st["generation"]),
                         r.stdout, re.M), r.stdout

    r = ingressctl("-s", sock, "-o", "json", "routes")
    assert r.returncode == 0, r.stderr
    assert {"host": "app.test", "path": "/", "type": "Prefix",
            "backend": "default/app:80", "source": "default/ing-app"} in \
        json.loads(r.stdout)["routes"]
    r = ingressctl("-s", sock, "routes")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^HOST\s+PATH\s+TYPE\s+BACKEND\s+SOURCE$", r.stdout, re.M)
    assert re.search(r"^app\.test\s+/\s+Prefix\s+default/app:80\s+default/ing-app$",
                     r.stdout, re.M), r.stdout


def test_ingressctl_without_daemon(tmp_path):
    """No socket, or a file nobody listens on: exit 1 and say so."""
    missing = str(tmp_path / "nope.sock")
    for fmt in ([], ["-o", "json"]):
        r = ingressctl("-s", missing, *fmt, "status")
        assert r.returncode == 1 and r.stdout == ""
        assert "cannot connect to %s" % missing in r.stderr, r.stderr
        assert "is ingressd running?" in r.stderr, r.stderr
    notsock = tmp_path / "plain"
    notsock.write_text("")
    r = ingressctl("-s", str(notsock), "routes")
    assert r.returncode == 1 and "cannot connect" in r.stderr, r.stderr


def test_ingressctl_counters_without_admin_listener(ingressd, backend):
    """The counters reach ingressctl even when no admin listener serves
    the status document."""
    b = backend("app")
    d = ingressd(manifests={"app.yaml": simple_route("app.test", "app", [b])})
    for _ in range(2):
        assert get(d.port, "app.test", "/").status == 200
    sock = os.path.join(d.sockdir, "c.sock")

    def counted():
        r = ingressctl("-s", sock, "-o", "json", "backends")
        assert r.returncode == 0, r.stderr
        (be,) = json.loads(r.stdout)["backends"]
        return be["details"][0]["requests"] == 2 and be["by_class"]["2xx"] == 2
    wait_until(counted, what="2 requests counted in ingressctl backends")
