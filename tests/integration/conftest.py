"""Integration fixtures: real ingressd processes, in-process backends.

Every test starts its own `ingressd --config X --foreground` on an ephemeral
127.0.0.1 port with a manifests directory written into tmp_path, in front of
Python HTTP/1.1 backends running as threads of the test process.  One knob,
INGRESSD_TEST_TIMEOUT (seconds, default 10), scales every wait.

Fixtures:
  ingressd  factory: ingressd(manifests={name: docs}, config={...}) -> Ingressd
  backend   factory: backend("name", behavior=..., ...) -> Backend
  fakeapi   a fake kube-apiserver (tests/fakeapi/fakeapi.py), started
Helpers (import from conftest): manifest builders (ingress, service,
endpoint_slice, svc_for), HTTP client (Conn, get), WebSocket framing,
ctl(d, cmd) for the control socket.
"""

import base64
import hashlib
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "fakeapi"))
from fakeapi import FakeAPI  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("INGRESSD_BIN") or os.path.join(ROOT, "build", "ingressd")
T = float(os.environ.get("INGRESSD_TEST_TIMEOUT", "10"))

APPLIED_RE = re.compile(r"generation (\d+) applied by all workers")
SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:")


def wait_until(pred, timeout=None, interval=0.02, what="condition"):
    """Polls <pred> until it returns a true value (returned) or fails."""
    deadline = time.monotonic() + (T if timeout is None else timeout)
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" %
                                 (T if timeout is None else timeout, what))
        time.sleep(interval)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port():
    """A port nothing listens on (bound once, then released)."""
    return free_port()


# ---------------------------------------------------------------- YAML

_PLAIN_RE = re.compile(r"^[A-Za-z/][A-Za-z0-9_./-]*$")
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


def _scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if _PLAIN_RE.match(s) and s.lower() not in _YAML_WORDS:
        return s                # plain, as people write it
    return json.dumps(s)        # a double-quoted YAML scalar


def to_yaml(v, indent=0):
    """Block-style YAML for dicts/lists/scalars (what people write)."""
    pad = "  " * indent
    out = []
    if isinstance(v, dict):
        if not v:
            return pad + "{}\n"
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                out.append("%s%s:\n%s" % (pad, k, to_yaml(x, indent + 1)))
            elif isinstance(x, (dict, list)):
                out.append("%s%s: %s\n" % (pad, k, "{}" if isinstance(x, dict) else "[]"))
            else:
                out.append("%s%s: %s\n" % (pad, k, _scalar(x)))
        return "".join(out)
    if isinstance(v, list):
        for x in v:
            if isinstance(x, (dict, list)) and x:
                inner = to_yaml(x, indent + 1)
                # put the first line after "- "
                first, rest = inner[len(pad) + 2:].split("\n", 1)
                out.append("%s- %s\n%s" % (pad, first, rest))
            else:
                out.append("%s- %s\n" % (pad, _scalar(x) if not isinstance(x, (dict, list))
                                          else ("{}" if isinstance(x, dict) else "[]")))
        return "".join(out)
    return pad + _scalar(v) + "\n"


def yaml_docs(docs):
    if isinstance(docs, str):
        return docs
    if isinstance(docs, dict):
        docs = [docs]
    return "".join("---\n" + to_yaml(d) for d in docs)


# ----------------------------------------------------------- manifests

def ingress(name, rules=(), ns="default", cls=None, annotations=None,
            default_backend=None, created=None, tls=None):
    meta = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = dict(annotations)
    if created:
        meta["creationTimestamp"] = created
    spec = {}
    if cls:
        spec["ingressClassName"] = cls
    if default_backend:
        spec["defaultBackend"] = default_backend
    if rules:
        spec["rules"] = list(rules)
    if tls:
        spec["tls"] = list(tls)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": meta, "spec": spec}


def svc_backend(svc, port=80):
    """An IngressBackend: port is a number or a port name."""
    p = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": svc, "port": p}}


def path(p, svc, port=80, path_type="Prefix"):
    return {"path": p, "pathType": path_type, "backend": svc_backend(svc, port)}


def rule(host, *paths):
    r = {"http": {"paths": list(paths)}}
    if host is not None:
        r = {"host": host, **r}
    return r


def service(name, ports=(("http", 80, 8080),), ns="default"):
    plist = []
    for pname, port, target in ports:
        p = {}
        if pname is not None:
            p["name"] = pname
        p["port"] = port
        p["targetPort"] = target
        p["protocol"] = "TCP"
        plist.append(p)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": plist}}


def endpoint_slice(svc, name, port, addresses=("127.0.0.1",), port_name="http",
                   ns="default", ready=True, terminating=None):
    cond = {"ready": ready}
    if terminating is not None:
        cond["terminating"] = terminating
    eps = [{"addresses": [a], "conditions": dict(cond)} for a in addresses]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": port_name if port_name is not None else "",
                       "port": port, "protocol": "TCP"}],
            "endpoints": eps}


def svc_for(name, backends, ns="default", port=80, port_name="http"):
    """A Service <name> (port <port>, named <port_name>) whose endpoints are
    the given backends (Backend objects or plain port numbers), one
    EndpointSlice each since every backend listens on its own port."""
    docs = [service(name, ((port_name, port, 8080),), ns=ns)]
    for i, b in enumerate(backends):
        bport = b if isinstance(b, int) else b.port
        docs.append(endpoint_slice(name, "%s-%d" % (name, i), bport,
                                   port_name=port_name, ns=ns))
    return docs


def simple_route(host, svc, backends, p="/", ns="default"):
    """Ingress host -> svc (Prefix p) plus the Service and its endpoints."""
    return [ingress("ing-" + svc, [rule(host, path(p, svc))], ns=ns)] + \
        svc_for(svc, backends, ns=ns)


# ------------------------------------------------------------- ingressd

def _merge(base, over):
    for k, v in over.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


def proc_ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    return int(s[s.rindex(")") + 2:].split()[1])


def proc_alive(pid):
    """<pid> runs (a zombie does not count: it may not be ours to reap)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2] != "Z"


def proc_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and proc_ppid(int(d)) == ppid:
            out.append(int(d))
    return sorted(out)


class Ingressd:
    def __init__(self, base, manifests=None, config=None, workers=2,
                 allow_worker_restarts=False):
        self.base = base
        os.makedirs(base, exist_ok=True)
        self.mdir = os.path.join(base, "manifests")
        os.makedirs(self.mdir, exist_ok=True)
        self.sockdir = tempfile.mkdtemp(prefix="ingd")   # short sun_path
        self.config_path = os.path.join(base, "ingressd.yaml")
        self.log_path = os.path.join(base, "ingressd.log")
        self.overrides = config or {}
        self.workers = workers
        self.allow_worker_restarts = allow_worker_restarts
        self.proc = None
        self.port = None
        self.initial_workers = []
        self.successors = []     # masters started by SIGUSR2 (not our children)
        self._log_pos = 0
        self._gens = []
        for name, docs in (manifests or {}).items():
            self.write_manifest(name, docs)

    # config ---------------------------------------------------------
    def config_dict(self, port=None):
        c = {
            "listen": {"http": "127.0.0.1:%d" % (port or self.port)},
            "workers": self.workers,
            "provider": {"kind": "files", "dir": "manifests",
                         "debounce": "50ms"},
            "control": {"socket": os.path.join(self.sockdir, "c.sock")},
            "log": {"level": "info"},
            "timeouts": {"shutdown_grace": "3s"},
        }
        return _merge(c, json.loads(json.dumps(self.overrides)))

    def write_config(self, text=None):
        if text is None:
            text = to_yaml(self.config_dict())
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.config_path)

    # manifests ------------------------------------------------------
    def write_manifest(self, name, docs):
        """Atomically (re)writes manifests/<name>; docs may be text."""
        text = yaml_docs(docs)
        tmp = os.path.join(self.base, "." + name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.mdir, name))

    def remove_manifest(self, name):
        os.unlink(os.path.join(self.mdir, name))

    def apply(self, files, timeout=None):
        """Writes (or, for None, removes) manifest files and waits for the
        next generation to be applied by all workers."""
        g = self.generation()
        for name, docs in files.items():
            if docs is None:
                self.remove_manifest(name)
            else:
                self.write_manifest(name, docs)
        return self.wait_generation(g + 1, timeout,
                                    what="a new generation after writing %s" %
                                    ", ".join(files))

    # log ------------------------------------------------------------
    def _scan_log(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_pos)
                data = f.read()
        except OSError:
            return
        cut = data.rfind(b"\n")
        if cut < 0:
            return
        self._log_pos += cut + 1
        for m in APPLIED_RE.finditer(data[:cut + 1].decode("utf-8", "replace")):
            self._gens.append(int(m.group(1)))

    def generation(self):
        self._scan_log()
        return max(self._gens) if self._gens else 0

    def wait_generation(self, gen, timeout=None, what=None):
        return wait_until(lambda: self.generation() >= gen and self.generation(),
                          timeout, what=what or "generation %d applied" % gen)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_offset(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def wait_log(self, regex, since=0, timeout=None):
        r = re.compile(regex)

        def probe():
            return r.search(self.log()[since:])
        try:
            return wait_until(probe, timeout, what="log line /%s/" % regex)
        except AssertionError:
            raise AssertionError("no log line /%s/ in:\n%s" %
                                 (regex, self.log()[since:][-3000:]))

    # processes ------------------------------------------------------
    def start(self):
        last = ""
        for attempt in range(5):
            self.port = free_port()
            self.write_config()
            self._log_pos, self._gens = 0, []
            logf = open(self.log_path, "wb")
            self.proc = subprocess.Popen(
                [BIN, "--config", self.config_path, "--foreground"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                cwd=self.base)
            logf.close()
            deadline = time.monotonic() + T
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                dead = re.search(r".*worker \d+ .*(?:killed by|crash-looping).*",
                                 self.log())
                if dead:
                    # fail fast: a worker dying at start fails every test
                    self._kill()
                    raise AssertionError(
                        "a worker died at start: %s\nlog:\n%s" % (
                            dead.group(0), self.log()[-3000:]))
                if (self.generation() >= 1 and
                        len(self.worker_pids()) == self.workers and
                        self._answers()):
                    self.initial_workers = self.worker_pids()
                    return self
                time.sleep(0.02)
            if self.proc.poll() is None:
                self._kill()
                raise AssertionError(
                    "ingressd not ready within %.0fs (no 'applied by all "
                    "workers' or port %d silent); log:\n%s" %
                    (T, self.port, self.log()[-4000:]))
            last = self.log()
            if "in use" not in last:
                break
        raise AssertionError("ingressd exited with %s at start; log:\n%s" %
                             (self.proc.returncode, last[-4000:]))

    def _answers(self):
        """A worker answers HTTP (the master alone holding the listening
        sockets accepts connections but never answers)."""
        try:
            with Conn(self.port, 0.5) as c:
                c.request("GET", "/__ingressd_test_ready", "ready.invalid",
                          [("Connection", "close")])
                c.read_head()
            return True
        except (OSError, ConnectionError, AssertionError, ValueError):
            return False

    def worker_pids(self):
        return children_of(self.proc.pid)

    def wait_workers(self, n=None, timeout=None):
        n = self.workers if n is None else n
        return wait_until(lambda: len(self.worker_pids()) == n and self.worker_pids(),
                          timeout, what="%d workers" % n)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def _kill(self):
        for pid in self.worker_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.kill()
        self.proc.wait()

    def check_log_clean(self):
        bad = SANITIZER_RE.search(self.log())
        assert not bad, "sanitizer report in the log:\n" + self.log()[-4000:]

    def stop(self, timeout=None):
        """SIGTERM; asserts a clean exit 0 and a log without sanitizer
        reports (and, unless allowed, no worker replaced during the test)."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        workers_now = self.worker_pids()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=(timeout or T) + 3)
        except subprocess.TimeoutExpired:
            self._kill()
            raise AssertionError("ingressd did not exit on SIGTERM; log:\n" +
                                 self.log()[-3000:])
        assert rc == 0, "ingressd exited %s on SIGTERM; log:\n%s" % (
            rc, self.log()[-3000:])
        self.check_log_clean()
        if not self.allow_worker_restarts:
            deaths = re.findall(r".*worker \d+ .*(?:killed by|exited with status [1-9]).*",
                                self.log())
            assert workers_now == self.initial_workers and not deaths, (
                "workers died during the test: %s -> %s:\n%s" % (
                    self.initial_workers, workers_now,
                    "\n".join(deaths[:10])))
        return rc

    def cleanup(self):
        if self.proc is not None and self.proc.returncode is None:
            self._kill()
        for pid in self.successors:
            for p in children_of(pid) + [pid]:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        try:
            for f in os.listdir(self.sockdir):
                os.unlink(os.path.join(self.sockdir, f))
            os.rmdir(self.sockdir)
        except OSError:
            pass


@pytest.fixture
def ingressd(tmp_path):
    if not os.access(BIN, os.X_OK):
        pytest.fail("INGRESSD_BIN %s is not an executable (build first)" % BIN)
    made = []

    def factory(manifests=None, config=None, workers=2, start=True, **kw):
        d = Ingressd(str(tmp_path / ("i%d" % len(made))), manifests, config,
                     workers, **kw)
        made.append(d)
        if start:
            d.start()
        return d
    yield factory
    errors = []
    for d in made:
        try:
            d.stop()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            d.cleanup()
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def fakeapi(tmp_path):
    """A fake kube-apiserver (tests/fakeapi) on 127.0.0.1, token
    "test-token"."""
    f = FakeAPI(str(tmp_path / "fakeapi-certs")).start()
    yield f
    f.stop()


def ctl(d, cmd="status"):
    """One control-socket request to ingressd <d>; the JSON answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(T)
    s.connect(os.path.join(d.sockdir, "c.sock"))
    s.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        x = s.recv(65536)
        if not x:
            break
        buf += x
    s.close()
    return json.loads(buf)


# -------------------------------------------------------------- backends

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHUNK = 64 * 1024


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_frame(opcode, payload, mask):
    hdr = bytearray([0x80 | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        hdr.append(m | n)
    elif n < 65536:
        hdr.append(m | 126)
        hdr += n.to_bytes(2, "big")
    else:
        hdr.append(m | 127)
        hdr += n.to_bytes(8, "big")
    if mask:
        key = os.urandom(4)
        hdr += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes(hdr) + payload


def ws_read_frame(read):
    """read(n) -> exactly n bytes.  Returns (opcode, payload)."""
    b0, b1 = read(2)
    n = b1 & 0x7f
    if n == 126:
        n = int.from_bytes(read(2), "big")
    elif n == 127:
        n = int.from_bytes(read(8), "big")
    key = read(4) if b1 & 0x80 else None
    data = read(n) if n else b""
    if key:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return b0 & 0x0f, data


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def process_request(self, request, client_address):
        b = self.backend
        with b.lock:
            b.connections += 1
        if b.behavior == "close":
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    def log_message(self, fmt, *args):
        pass

    def handle(self):
        b = self.server.backend
        if b.behavior in ("garbage", "raw"):
            self.request.settimeout(T)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    d = self.request.recv(4096)
                    if not d:
                        break
                    head += d
                with b.lock:
                    b.requests += 1
                self.request.sendall(b.raw if b.behavior == "raw" else
                                     b"this is \x00 not HTTP at all\r\n\r\n")
                if b.behavior == "raw":
                    time.sleep(0.2)     # let the proxy judge the bytes
            except OSError:
                pass
            return
        try:
            super().handle()
        except (OSError, ValueError):
            pass

    # the body ---------------------------------------------------------
    def _read_exact(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionError("short body")
        return data

    def _consume_body(self, hashit=True):
        h = hashlib.sha256() if hashit else None
        total = 0
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunked = True
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left:
                    d = self.rfile.read(min(left, CHUNK))
                    if not d:
                        raise ConnectionError("short chunk")
                    left -= len(d)
                    total += len(d)
                    if h:
                        h.update(d)
                self.rfile.readline(16)
        else:
            chunked = False
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                d = self.rfile.read(min(left, CHUNK))
                if not d:
                    raise ConnectionError("short body")
                left -= len(d)
                total += len(d)
                if h:
                    h.update(d)
        return total, (h.hexdigest() if h else None), chunked

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _start(self, code, headers=(), body=b""):
        """Writes the head and <body> in one send, as real servers do."""
        b = self.server.backend
        self.send_response_only(code)
        if b.server_header:
            self.send_header("Server", b.server_header)
        for k, v in headers:
            self.send_header(k, v)
        if (self.headers.get("Connection") or "").lower() == "close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self._headers_buffer.append(b"\r\n")
        self.wfile.write(b"".join(self._headers_buffer) + body)
        self._headers_buffer = []

    def _websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        self.send_response_only(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(key))
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        read = self._read_exact
        while True:
            op, data = ws_read_frame(read)
            if op == 8:
                self.wfile.write(ws_frame(8, data[:2], False))
                self.wfile.flush()
                return
            if op == 9:
                self.wfile.write(ws_frame(10, data, False))
            else:
                self.wfile.write(ws_frame(op, data, False))
            self.wfile.flush()

    def _dispatch(self):
        b = self.server.backend
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        with b.lock:
            b.requests += 1
            b.seen.append((self.command, self.path, dict(
                (k.lower(), v) for k, v in self.headers.items())))
        if (self.headers.get("Upgrade") or "").lower() == "websocket":
            return self._websocket()
        if b.behavior == "hang" or url.path == "/hang":
            b.stop.wait(120)
            self.close_connection = True
            return
        delay = float(q.get("delay", [b.delay])[0])
        if delay:
            time.sleep(delay)
        body_len, sha, chunked_in = self._consume_body(
            hashit="nohash" not in q)
        with b.lock:
            b.bytes_in += body_len
        head = self.command == "HEAD"

        if url.path.startswith("/status/"):
            code = int(url.path.split("/")[2])
            hdrs = [("X-Backend", b.name)]
            if code == 304:
                hdrs += [("ETag", '"x"'), ("Content-Length", "5")]
                self._start(code, hdrs)
            elif code in (204,) or code < 200:
                self._start(code, hdrs)
            else:
                body = ("status %d from %s\n" % (code, b.name)).encode()
                self._start(code, hdrs + [("Content-Length", str(len(body)))],
                            b"" if head else body)
            return

        if url.path == "/untilclose":
            # a response delimited by closing the connection (no length)
            n = int(q.get("n", ["0"])[0])
            self.send_response_only(200)
            self.send_header("X-Backend", b.name)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            block = b"u" * CHUNK
            left = n
            while left and not head:
                d = block[:min(left, CHUNK)]
                self.wfile.write(d)
                left -= len(d)
            return

        if url.path == "/download":
            n = int(q.get("n", ["0"])[0])
            chunked = "chunked" in q
            hdrs = [("Content-Type", "application/octet-stream"), ("X-Backend", b.name)]
            hdrs.append(("Transfer-Encoding", "chunked") if chunked
                        else ("Content-Length", str(n)))
            self._start(200, hdrs)
            if head:
                return
            block = bytes(range(256)) * (CHUNK // 256)
            left = n
            while left:
                d = block[:min(left, CHUNK)]
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(d), d))
                else:
                    self.wfile.write(d)
                left -= len(d)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            return

        extra = []
        for hv in q.get("h", []):
            k, v = hv.split(":", 1)
            extra.append((k, v))
        body = json.dumps({
            "name": b.name, "port": b.port, "method": self.command,
            "path": url.path, "query": url.query, "target": self.path,
            "headers": dict((k.lower(), v) for k, v in self.headers.items()),
            "raw_headers": [[k, v] for k, v in self.headers.items()],
            "version": self.request_version,
            "body_len": body_len, "body_sha256": sha,
            "body_chunked": chunked_in,
        }).encode()
        code = b.status
        if url.path == "/chunked":
            n = int(q.get("n", ["1000"])[0])
            self._start(code, [("Content-Type", "text/plain"),
                               ("Transfer-Encoding", "chunked"),
                               ("X-Backend", b.name)] + extra)
            if not head:
                data = (b"0123456789abcdef" * (n // 16 + 1))[:n]
                for i in range(0, n, 1000):
                    d = data[i:i + 1000]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(d), d))
                self.wfile.write(b"0\r\n\r\n")
            return
        self._start(code, [("Content-Type", "application/json"),
                           ("Content-Length", str(len(body))),
                           ("X-Backend", b.name)] + extra,
                    b"" if head else body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = \
        do_OPTIONS = _dispatch


class Backend:
    """A threaded HTTP/1.1 server on 127.0.0.1:0.

    behavior: "echo" (default: JSON description of the request; also the
    paths /status/N, /download?n=N[&chunked], /chunked?n=N, /hang,
    /untilclose?n=N (no length: the close ends the body),
    ?delay=S, ?h=Name:Value, WebSocket echo on Upgrade), "hang" (never
    answers), "close" (closes each connection at once), "garbage" (answers
    with bytes that are not HTTP), "raw" (answers any request with the bytes
    <raw>, then closes).  Counts connections and requests."""

    def __init__(self, name, behavior="echo", status=200, delay=0.0,
                 server_header="echo-backend", raw=b""):
        self.name = name
        self.raw = raw
        self.behavior = behavior
        self.status = status
        self.delay = delay
        self.server_header = server_header
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.connections = 0
        self.requests = 0
        self.bytes_in = 0
        self.seen = []
        self.srv = _Server(("127.0.0.1", 0), _Handler)
        self.srv.backend = self
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def backend():
    made = []

    def factory(name, **kw):
        b = Backend(name, **kw)
        made.append(b)
        return b
    yield factory
    for b in made:
        b.close()


# ---------------------------------------------------------------- client

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers      # [(name, value)] as received
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    @property
    def backend(self):
        """The backend's name, or the status for ingressd's own answers."""
        return self.header("X-Backend") or self.status

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class Conn:
    """A raw HTTP/1.1 client connection: send anything, parse responses."""

    def __init__(self, port, timeout=None):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             T if timeout is None else timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", path="/", host="example.test",
                headers=(), body=None, send=True):
        lines = ["%s %s HTTP/1.1" % (method, path)]
        if host is not None:
            lines.append("Host: " + host)
        for k, v in (headers.items() if isinstance(headers, dict) else headers):
            lines.append("%s: %s" % (k, v))
        if body is not None and not any(
                k.lower() in ("content-length", "transfer-encoding")
                for k, _ in (headers.items() if isinstance(headers, dict) else headers)):
            lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        if send:
            self.send(data)
        return data

    def _fill(self):
        d = self.sock.recv(256 * 1024)
        if not d:
            self.eof = True
            raise ConnectionError("connection closed by ingressd")
        self.buf += d

    def read_until(self, sep, limit=1 << 20):
        while sep not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError("no %r within %d bytes" % (sep, limit))
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n, sink=None):
        out = []
        while n:
            if not self.buf:
                self._fill()
            d, self.buf = self.buf[:n], self.buf[n:]
            n -= len(d)
            if sink:
                sink(d)
            else:
                out.append(d)
        return b"".join(out)

    def read_head(self):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1."), "bad status line %r" % lines[0]
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            if line:
                k, v = line.split(":", 1)
                headers.append((k.strip(), v.strip()))
        return status, reason, headers

    def read_response(self, method="GET", sink=None, interim=False):
        """Reads one response; 1xx interim responses are skipped unless
        <interim>.  <sink>(bytes) receives the body instead of memory."""
        while True:
            status, reason, headers = self.read_head()
            if status >= 200 or interim or status == 101:
                break
        r = Response(status, reason, headers, b"")
        if method == "HEAD" or status in (204, 304) or status < 200:
            return r
        te = (r.header("Transfer-Encoding") or "").lower()
        cl = r.header("Content-Length")
        parts = []
        keep = sink or parts.append
        if "chunked" in te:
            while True:
                line = self.read_until(b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.read_until(b"\r\n") != b"\r\n":
                        pass
                    break
                self.read_exact(size, keep)
                assert self.read_exact(2) == b"\r\n", "bad chunk end"
        elif cl is not None:
            self.read_exact(int(cl), keep)
        else:
            while True:
                try:
                    self._fill()
                except ConnectionError:
                    break
                keep(self.buf)
                self.buf = b""
        r.body = b"".join(parts)
        return r

    def roundtrip(self, method="GET", path="/", host="example.test",
                  headers=(), body=None):
        self.request(method, path, host, headers, body)
        return self.read_response(method)

    def closed_within(self, timeout=None):
        """True when ingressd closes (FIN or RST) within <timeout>; bytes
        still arriving before the close are skipped."""
        deadline = time.monotonic() + (T if timeout is None else timeout)
        self.buf = b""
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not d:
                return True
        return False


def get(port, host="example.test", path="/", method="GET", headers=(),
        body=None, timeout=None):
    """One request on a fresh connection (Connection: close)."""
    hdrs = list(headers.items() if isinstance(headers, dict) else headers)
    if not any(k.lower() == "connection" for k, _ in hdrs):
        hdrs.append(("Connection", "close"))
    with Conn(port, timeout) as c:
        return c.roundtrip(method, path, host, hdrs, body)


def route(port, host, p="/"):
    """The backend name a request reaches, or ingressd's status code."""
    return get(port, host, p).backend
