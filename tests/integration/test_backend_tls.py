"""TLS toward backends: ingressd.io/backend-protocol: HTTPS (issue 6).

The backends are the in-process echo servers of conftest, their sockets
wrapped by Python's ssl module, with certificates made at test time by
the openssl command: a CA, and a server certificate it signs for the
Service's cluster name (the default server name ingressd verifies).  The
workers run sandboxed (the default, enforce): the CA reaches them in the
snapshot, never from a file.
"""

import os
import re
import shutil
import ssl
import subprocess
import threading

import pytest

from conftest import (Backend, Conn, T, _Handler, _Server, get, ingress,
                      path, rule, svc_for, wait_until)

HOST = "tls.test"
SVC = "secure"
SVC_NAME = "secure.default.svc"     # the default name checked and sent

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="needs the openssl command")


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=T * 3)


class Certs:
    """A CA and certificates it signs, in <d>; EC keys (fast to make)."""

    def __init__(self, d, cn="ingressd test CA"):
        os.makedirs(d, exist_ok=True)
        self.d = d
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=" + cn, "-keyout", "ca.key", "-out", "ca.crt",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        self.ca = os.path.join(d, "ca.crt")

    def ca_pem(self):
        with open(self.ca) as f:
            return f.read()

    def issue(self, name, sans):
        """A server certificate for <sans>; (certfile, keyfile)."""
        ext = os.path.join(self.d, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" %
                    ",".join(sans))
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                "/CN=" + name, "-keyout", name + ".key", "-out",
                name + ".csr", cwd=self.d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt",
                "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                "-extfile", ext, "-out", name + ".crt", cwd=self.d)
        return (os.path.join(self.d, name + ".crt"),
                os.path.join(self.d, name + ".key"))


def self_signed(d, name, sans):
    os.makedirs(d, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=" + name, "-keyout", "self.key", "-out",
            "self.crt", "-addext", "subjectAltName=" + ",".join(sans),
            cwd=d)
    return os.path.join(d, "self.crt"), os.path.join(d, "self.key")


class _TLSHandler(_Handler):
    """The echo handler after a TLS handshake it records."""

    def setup(self):
        b = self.server.backend
        self.request.settimeout(T)
        try:
            self.request.do_handshake()
        except (OSError, ValueError):
            with b.lock:
                b.tls_failed += 1
            raise
        with b.lock:
            b.tls_ok += 1
            b.alpn.append(self.request.selected_alpn_protocol())
            b.sni.append(getattr(self.request, "sni", None))
            if self.request.session_reused:
                b.resumed += 1
        self.request.settimeout(None)
        super().setup()

    def _start(self, code, headers=(), body=b""):
        if self.server.backend.close_each:
            # one request per connection: the next one needs a new
            # connection, and so a resumed session
            headers = list(headers) + [("Connection", "close")]
            self.close_connection = True
        super()._start(code, headers, body)


class TLSBackend(Backend):
    """conftest's echo Backend speaking TLS with <cert>/<key>.  Counts TCP
    connections (connections), completed and failed handshakes, resumed
    sessions; keeps the ALPN and SNI each handshake saw.  stop() closes
    the listener, listen() opens it again on the same port."""

    def __init__(self, name, cert, key, close_each=False):
        self.name = name
        self.raw = b""
        self.behavior = "echo"
        self.status = 200
        self.delay = 0.0
        self.server_header = "tls-backend"
        self.lock = threading.Lock()
        self.stop_ev = self.stop = threading.Event()
        self.connections = self.requests = self.bytes_in = 0
        self.tls_ok = self.tls_failed = self.resumed = 0
        self.alpn, self.sni, self.seen = [], [], []
        self.close_each = close_each
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.set_alpn_protocols(["http/1.1"])

        def on_sni(sock, server_name, ctx):
            sock.sni = server_name
        self.ctx.sni_callback = on_sni
        self.port = 0
        self.listen()

    def listen(self):
        self.srv = _Server(("127.0.0.1", self.port), _TLSHandler)
        self.srv.backend = self
        # the handshake runs in the handler's thread, not the acceptor's
        self.srv.socket = self.ctx.wrap_socket(
            self.srv.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def stop_listening(self):
        self.srv.shutdown()
        self.srv.server_close()

    def close(self):
        self.stop_ev.set()
        try:
            self.stop_listening()
        except OSError:
            pass


@pytest.fixture
def tls_backends():
    made = []

    def factory(name, cert, key, **kw):
        b = TLSBackend(name, cert, key, **kw)
        made.append(b)
        return b
    yield factory
    for b in made:
        b.close()


def ca_secret(name, pem, ns="default"):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": ns},
            "stringData": {"ca.crt": pem}}


def tls_route(backends, annotations, svc=SVC, host=HOST):
    return [ingress("ing-" + svc, [rule(host, path("/", svc))],
                    annotations=annotations)] + svc_for(svc, backends)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    c = Certs(str(tmp_path_factory.mktemp("pki")))
    c.server = c.issue("server", ["DNS:" + SVC_NAME])
    c.other = Certs(str(tmp_path_factory.mktemp("pki-other")),
                    cn="some other CA")
    return c


HTTPS = {"ingressd.io/backend-protocol": "HTTPS"}
# no probe during the test: the first comes at a random point of the hour
QUIET = {"ingressd.io/health-interval": "1h"}


def test_ca_from_secret(ingressd, tls_backends, certs):
    """(a) The backend's chain leads to the CA of a Secret: 200, and the
    backend saw the request over TLS, with SNI and ALPN http/1.1."""
    b = tls_backends("tls-a", *certs.server)
    d = ingressd(manifests={"app.yaml": tls_route([b], dict(
        HTTPS, **{"ingressd.io/backend-ca-secret": "default/backend-ca"})) +
        [ca_secret("backend-ca", certs.ca_pem())]})
    r = get(d.port, HOST, "/hello?x=1")
    assert r.status == 200, r
    j = r.json()
    assert j["target"] == "/hello?x=1" and j["headers"]["host"] == HOST
    assert b.requests == 1 and b.tls_ok >= 1
    assert b.alpn[0] == "http/1.1"
    assert b.sni[0] == SVC_NAME


def test_wrong_ca_is_502_and_logged(ingressd, tls_backends, certs):
    """(b) A chain that does not lead to the trusted CA (the system store,
    or another CA's Secret) fails the handshake: 502, a log line naming
    the endpoint and OpenSSL's reason, and the request never reaches the
    backend."""
    b = tls_backends("tls-b", *certs.server)
    d = ingressd(manifests={"app.yaml": tls_route([b], dict(
        HTTPS, **{"ingressd.io/backend-ca-secret": "other-ca"})) +
        [ca_secret("other-ca", certs.other.ca_pem())] +
        tls_route([b], HTTPS, svc="sys", host="sys.test")})
    since = d.log_offset()
    r = get(d.port, HOST)
    assert r.status == 502, r
    d.wait_log(r"backend default/secure:80: TLS to endpoint 127\.0\.0\.1:%d "
               r"failed: certificate verify failed: unable to get local "
               r"issuer certificate" % b.port, since=since)
    # the system store does not know the test CA either
    assert get(d.port, "sys.test").status == 502
    d.wait_log(r"backend default/sys:80: TLS to endpoint 127\.0\.0\.1:%d "
               r"failed: certificate verify failed" % b.port, since=since)
    assert b.requests == 0 and b.tls_failed >= 2


def test_failed_handshake_goes_to_another_endpoint(ingressd, tls_backends,
                                                   certs):
    """A handshake failure is a connect failure: the request goes to
    another endpoint of the backend, so every request is answered by the
    good one, and the bad one never sees a request."""
    bad_cert = certs.other.issue("bad", ["DNS:" + SVC_NAME])
    bad = tls_backends("tls-bad", *bad_cert)
    good = tls_backends("tls-good", *certs.server)
    d = ingressd(manifests={"app.yaml": tls_route([bad, good], dict(
        HTTPS, **QUIET, **{"ingressd.io/backend-ca-secret": "backend-ca",
                           "ingressd.io/load-balance": "round-robin"})) +
        [ca_secret("backend-ca", certs.ca_pem())]})
    # one client connection: one worker, whose round-robin alternates
    with Conn(d.port) as c:
        for _ in range(6):
            r = c.roundtrip("GET", "/", HOST)
            assert r.status == 200 and r.header("X-Backend") == "tls-good", r
    assert bad.tls_failed >= 1 and bad.requests == 0
    assert good.requests == 6


def test_wrong_name_is_502(ingressd, tls_backends, certs):
    """The chain is good but the certificate does not name the server
    name ingressd.io/backend-tls-server-name asks for: 502."""
    b = tls_backends("tls-n", *certs.server)
    d = ingressd(manifests={"app.yaml": tls_route([b], dict(
        HTTPS, **{"ingressd.io/backend-ca-secret": "backend-ca",
                  "ingressd.io/backend-tls-server-name": "elsewhere.test"})) +
        [ca_secret("backend-ca", certs.ca_pem())]})
    since = d.log_offset()
    assert get(d.port, HOST).status == 502
    d.wait_log(r"TLS to endpoint 127\.0\.0\.1:%d failed: certificate verify "
               r"failed: [Hh]ostname mismatch" % b.port, since=since)
    assert b.requests == 0


def test_verify_off(ingressd, tls_backends, tmp_path):
    """(c) Verification off: a self-signed backend answers 200, and the
    compile warns about the backend."""
    cert = self_signed(str(tmp_path / "self"), "self", ["DNS:self.example"])
    b = tls_backends("tls-c", *cert)
    d = ingressd(manifests={"app.yaml": tls_route([b], dict(
        HTTPS, **{"ingressd.io/backend-tls-verify": "off"}))})
    d.wait_log(r"backend default/secure:80: TLS certificate verification is "
               r"off")
    r = get(d.port, HOST)
    assert r.status == 200, r
    assert r.header("X-Backend") == "tls-c" and b.requests == 1


def test_plain_backend_unaffected(ingressd, backend, tls_backends, certs):
    """(d) A plain HTTP backend next to an HTTPS one still gets plain
    HTTP (an HTTPS annotation on one Ingress changes nothing else)."""
    plain = backend("plain")
    b = tls_backends("tls-d", *certs.server)
    d = ingressd(manifests={"app.yaml": tls_route([b], dict(
        HTTPS, **{"ingressd.io/backend-ca-secret": "backend-ca"})) +
        [ca_secret("backend-ca", certs.ca_pem())] +
        [ingress("plain", [rule("plain.test", path("/", "plain"))])] +
        svc_for("plain", [plain])})
    for _ in range(3):
        assert get(d.port, "plain.test").header("X-Backend") == "plain"
        assert get(d.port, HOST).header("X-Backend") == "tls-d"
    assert plain.requests == 3 and b.requests == 3


def test_connections_are_reused(ingressd, tls_backends, certs):
    """(e) Pooled TLS connections keep serving: many requests, few TLS
    connections (at most one per worker, as the requests go one at a
    time)."""
    b = tls_backends("tls-e", *certs.server)
    d = ingressd(manifests={"app.yaml": tls_route([b], dict(
        HTTPS, **QUIET, **{"ingressd.io/backend-ca-secret": "backend-ca"})) +
        [ca_secret("backend-ca", certs.ca_pem())]})
    n = 40
    with Conn(d.port) as c:
        for i in range(n):
            r = c.roundtrip("GET", "/r%d" % i, HOST)
            assert r.status == 200 and r.json()["path"] == "/r%d" % i
    for _ in range(10):
        assert get(d.port, HOST).status == 200
    assert b.requests == n + 10
    assert b.connections <= d.workers, (b.connections, b.requests)


def test_sessions_are_resumed(ingressd, tls_backends, certs):
    """New connections resume a cached TLS session: a backend that closes
    after each response sees full handshakes at most once per worker."""
    b = tls_backends("tls-r", *certs.server, close_each=True)
    d = ingressd(manifests={"app.yaml": tls_route([b], dict(
        HTTPS, **QUIET, **{"ingressd.io/backend-ca-secret": "backend-ca"})) +
        [ca_secret("backend-ca", certs.ca_pem())]})
    n = 8
    for _ in range(n):
        assert get(d.port, HOST).status == 200
    wait_until(lambda: b.tls_ok >= n, what="%d handshakes" % n)
    assert b.tls_ok - b.resumed <= d.workers, (b.tls_ok, b.resumed)


def test_health_probe_over_tls(ingressd, tls_backends, certs):
    """(f) HTTP probes of an HTTPS backend speak TLS (a plain probe would
    fail the backend's handshake), mark the endpoint down when it stops
    listening and up again when it is back."""
    b = tls_backends("tls-f", *certs.server)
    d = ingressd(manifests={"app.yaml": tls_route([b], dict(
        HTTPS, **{"ingressd.io/backend-ca-secret": "backend-ca",
                  "ingressd.io/health-path": "/healthz",
                  "ingressd.io/health-interval": "200ms",
                  "ingressd.io/health-timeout": "1s",
                  "ingressd.io/health-fall": "2",
                  "ingressd.io/health-rise": "2"})) +
        [ca_secret("backend-ca", certs.ca_pem())]})
    wait_until(lambda: sum(1 for s in b.seen if s[1] == "/healthz") >= 3,
               what="3 probes over TLS")
    assert b.tls_failed == 0
    assert not re.search(r"of default/secure:80 is DOWN", d.log())
    since = d.log_offset()
    b.stop_listening()
    d.wait_log(r"endpoint 127\.0\.0\.1:%d of default/secure:80 is DOWN" %
               b.port, since=since)
    assert get(d.port, HOST).status == 503
    since = d.log_offset()
    b.listen()
    d.wait_log(r"endpoint 127\.0\.0\.1:%d of default/secure:80 is UP" %
               b.port, since=since)
    assert get(d.port, HOST).status == 200
