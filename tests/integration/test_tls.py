"""TLS termination on listen.https: certificates from kubernetes.io/tls
Secrets, SNI, ALPN, session tickets across workers, ssl-redirect, HSTS,
X-Forwarded-Proto, the handshake timeout.

Certificates are made at test time with the openssl CLI (no private key is
committed); clients are the openssl s_client and curl binaries and Python's
ssl module.
"""

import base64
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import (T, free_port, get, ingress, path, rule, svc_for,
                      wait_until)


def openssl(*args, stdin=b"", timeout=None):
    return subprocess.run(["openssl"] + list(args), input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout or T)


def make_cert(dirpath, name, cn, kind="rsa", days=2):
    """A self-signed certificate for <cn> (also its SAN); (crt, key) paths."""
    crt = os.path.join(dirpath, name + ".crt")
    key = os.path.join(dirpath, name + ".key")
    if kind == "rsa":
        newkey = ["-newkey", "rsa:2048"]
    else:
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    r = openssl("req", "-x509", *newkey, "-nodes", "-keyout", key,
                "-out", crt, "-days", str(days), "-subj", "/CN=" + cn,
                "-addext", "subjectAltName=DNS:" + cn)
    assert r.returncode == 0, r.stdout.decode()
    return crt, key


def read(p):
    with open(p, "rb") as f:
        return f.read()


def secret(name, crt, key, ns="default", string_data=False):
    """A kubernetes.io/tls Secret from PEM bytes (data: base64, or
    stringData: text)."""
    doc = {"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "namespace": ns},
           "type": "kubernetes.io/tls"}
    if string_data:
        doc["stringData"] = {"tls.crt": crt.decode(), "tls.key": key.decode()}
    else:
        doc["data"] = {"tls.crt": base64.b64encode(crt).decode(),
                       "tls.key": base64.b64encode(key).decode()}
    return doc


def tls_config(extra=None):
    c = {"listen": {"https": "127.0.0.1:%d" % free_port()}}
    for k, v in (extra or {}).items():
        c[k] = v
    return c


def https_port(d):
    return int(d.config_dict()["listen"]["https"].rsplit(":", 1)[1])


def s_client(port, servername=None, extra=(), stdin=b""):
    args = ["s_client", "-connect", "127.0.0.1:%d" % port]
    if servername:
        args += ["-servername", servername]
    r = openssl(*(args + list(extra)), stdin=stdin)
    return r.stdout.decode("utf-8", "replace")


def subject_cn(out):
    m = re.search(r"subject=.*?CN\s*=\s*([^,/\n]+)", out)
    return m.group(1).strip() if m else None


def peer_cn(port, name):
    """The CN of the certificate ingressd shows for SNI <name>."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=T) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            der = t.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der).encode()
    r = openssl("x509", "-noout", "-subject", stdin=pem)
    return subject_cn(r.stdout.decode())


def curl(args):
    r = subprocess.run(["curl", "-sS", "--max-time", str(int(T))] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=T + 5)
    return r


@pytest.fixture
def site(ingressd, backend, tmp_path):
    """ingressd with an RSA certificate for a.test, an ECDSA wildcard for
    *.w.test, both routed to one echo backend; plain HTTP and HTTPS."""
    def factory(annotations=None, config=None, workers=2, extra_docs=()):
        be = backend("web")
        a = make_cert(str(tmp_path), "a", "a.test", "rsa")
        w = make_cert(str(tmp_path), "w", "*.w.test", "ec")
        docs = [
            secret("a-tls", read(a[0]), read(a[1])),
            secret("w-tls", read(w[0]), read(w[1]), string_data=True),
            ingress("web", [rule("a.test", path("/", "web")),
                            rule("x.w.test", path("/", "web")),
                            rule("open.test", path("/", "web"))],
                    annotations=annotations,
                    tls=[{"hosts": ["a.test"], "secretName": "a-tls"},
                         {"hosts": ["*.w.test"], "secretName": "w-tls"}]),
        ] + svc_for("web", [be]) + list(extra_docs)
        d = ingressd(manifests={"site.yaml": docs},
                     config=tls_config(config), workers=workers)
        d.ca = {"a": a[0], "w": w[0]}
        d.docs = docs
        d.https = https_port(d)
        d.backend = be
        d.tmp = str(tmp_path)
        return d
    return factory


def test_sni_exact_wildcard_default(site):
    d = site()
    assert peer_cn(d.https, "a.test") == "a.test"
    assert peer_cn(d.https, "A.Test") == "a.test"
    assert peer_cn(d.https, "x.w.test") == "*.w.test"
    assert peer_cn(d.https, "other.w.test") == "*.w.test"
    # one label only: two labels, or the parent itself, get the default
    assert peer_cn(d.https, "a.b.w.test") == "ingressd default"
    assert peer_cn(d.https, "w.test") == "ingressd default"
    assert peer_cn(d.https, "unknown.test") == "ingressd default"
    # no SNI at all: the default certificate
    out = s_client(d.https, None, ["-noservername"])
    assert subject_cn(out) == "ingressd default", out
    assert "self-signed certificate made at start" in d.log()


def test_rsa_and_ecdsa_verified_with_curl(site):
    d = site()
    for host, ca, alg in (("a.test", d.ca["a"], "RSA"),
                          ("x.w.test", d.ca["w"], "ECDSA")):
        r = curl(["--cacert", ca, "--resolve", "%s:%d:127.0.0.1" %
                  (host, d.https), "https://%s:%d/p?q=1" % (host, d.https)])
        assert r.returncode == 0, r.stderr
        body = __import__("json").loads(r.stdout)
        assert body["target"] == "/p?q=1"
        assert body["headers"]["x-forwarded-proto"] == "https"
        assert body["headers"]["x-forwarded-port"] == str(d.https)
        out = s_client(d.https, host, ["-tls1_2"])
        assert re.search(r"Cipher is ECDHE-%s-" % alg, out), out
    for ver in ("-tls1_2", "-tls1_3"):
        out = s_client(d.https, "a.test", [ver])
        assert "Verification" in out or "Cipher is" in out
        assert re.search(r"(New|Reused), TLSv1\.[23]", out), out


def test_alpn_http11_only(site):
    d = site()
    out = s_client(d.https, "a.test", ["-alpn", "h2,http/1.1"])
    assert "ALPN protocol: http/1.1" in out, out
    out = s_client(d.https, "a.test", ["-alpn", "h2"])
    assert "No ALPN negotiated" in out, out


def test_http_and_https_same_backend(site):
    d = site(annotations={"ingressd.io/ssl-redirect": "false"})
    r = get(d.port, "a.test", "/x")
    assert r.status == 200
    assert r.json()["headers"]["x-forwarded-proto"] == "http"
    r = curl(["--cacert", d.ca["a"], "--resolve", "a.test:%d:127.0.0.1" %
              d.https, "https://a.test:%d/x" % d.https])
    assert r.returncode == 0, r.stderr
    assert b'"x-forwarded-proto": "https"' in r.stdout
    seen = [h.get("x-forwarded-proto") for _, _, h in d.backend.seen]
    assert "http" in seen and "https" in seen


def test_ssl_redirect_and_hsts(site):
    d = site(annotations={"ingressd.io/hsts": "true",
                          "ingressd.io/hsts-max-age": "3600s",
                          "ingressd.io/hsts-include-subdomains": "true"})
    r = get(d.port, "a.test", "/p/q?x=1&y=2")
    assert r.status == 308
    assert r.header("Location") == "https://a.test:%d/p/q?x=1&y=2" % d.https
    r = get(d.port, "x.w.test:%d" % d.port, "/")
    assert r.status == 308
    assert r.header("Location") == "https://x.w.test:%d/" % d.https
    # a host without TLS is proxied as before, without HSTS
    r = get(d.port, "open.test", "/")
    assert r.status == 200 and r.header("Strict-Transport-Security") is None
    r = curl(["-i", "--cacert", d.ca["a"], "--resolve",
              "a.test:%d:127.0.0.1" % d.https, "https://a.test:%d/" % d.https])
    assert r.returncode == 0, r.stderr
    assert (b"Strict-Transport-Security: max-age=3600; includeSubDomains\r\n"
            in r.stdout), r.stdout[:400]


def test_ssl_redirect_off(site):
    d = site(annotations={"ingressd.io/ssl-redirect": "false"})
    r = get(d.port, "a.test", "/")
    assert r.status == 200 and r.backend == "web"
    r = curl(["-i", "--cacert", d.ca["a"], "--resolve",
              "a.test:%d:127.0.0.1" % d.https, "https://a.test:%d/" % d.https])
    assert b"Strict-Transport-Security" not in r.stdout


def test_invalid_secrets_fall_back_and_are_logged(site, tmp_path):
    o = make_cert(str(tmp_path), "o", "other.test", "ec")
    a = make_cert(str(tmp_path), "a2", "b.test", "rsa")
    docs = [
        secret("bad-pem", b"-----BEGIN CERTIFICATE-----\nnope\n"
               b"-----END CERTIFICATE-----\n", read(a[1])),
        secret("mismatch", read(a[0]), read(o[1])),
        ingress("bad", [rule("b.test", path("/", "web")),
                        rule("c.test", path("/", "web"))],
                annotations={"ingressd.io/ssl-redirect": "false"},
                tls=[{"hosts": ["b.test"], "secretName": "bad-pem"},
                     {"hosts": ["c.test"], "secretName": "mismatch"}]),
    ]
    d = site(extra_docs=docs)
    d.wait_log(r"Ingress default/bad .*TLS Secret default/bad-pem: tls\.crt: "
               r"no PEM certificate.*default certificate")
    d.wait_log(r"Ingress default/bad .*TLS Secret default/mismatch: tls\.key "
               r"does not match")
    assert peer_cn(d.https, "b.test") == "ingressd default"
    assert peer_cn(d.https, "c.test") == "ingressd default"
    # nothing else changed: the good Secrets still serve, requests route
    assert peer_cn(d.https, "a.test") == "a.test"
    assert get(d.port, "c.test", "/").backend == "web"


def test_handshake_timeout_closes_idle_tls(site):
    d = site(config={"timeouts": {"tls_handshake": "300ms"}})
    with socket.create_connection(("127.0.0.1", d.https), timeout=T) as s:
        s.settimeout(T)
        # no ClientHello: the server closes without a word
        assert s.recv(100) == b""
    # a connection that does its handshake is served
    assert peer_cn(d.https, "a.test") == "a.test"


# A request read to the end: a TLS 1.3 ticket comes after the handshake,
# so s_client must not hang up before the server is done.
REQ = b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"


def test_session_resumption_across_workers(site):
    d = site(workers=2, annotations={"ingressd.io/ssl-redirect": "false"})
    for ver in ("-tls1_2", "-tls1_3"):
        sess = os.path.join(d.tmp, "sess" + ver)
        out = s_client(d.https, "a.test", [ver, "-ign_eof", "-sess_out",
                                           sess], stdin=REQ)
        assert "New, TLSv1." in out and "HTTP/1.1 200" in out, out
        # SO_REUSEPORT spreads the connections over both workers: a
        # ticket from one must resume on the other too.
        reused = 0
        for _ in range(12):
            out = s_client(d.https, "a.test", [ver, "-ign_eof", "-sess_in",
                                               sess], stdin=REQ)
            reused += "Reused, TLSv1." in out
        assert reused == 12, "%s: %d of 12 resumed" % (ver, reused)


def test_ticket_resumes_with_rotation_configured(site):
    # tls.ticket_key_rotation is read and a ticket resumes; the rotation
    # itself (at least a minute) is not waited for here.
    d = site(config={"tls": {"ticket_key_rotation": "1m"}},
             annotations={"ingressd.io/ssl-redirect": "false"})
    sess = os.path.join(d.tmp, "sess")
    out = s_client(d.https, "a.test", ["-tls1_2", "-ign_eof", "-sess_out",
                                       sess], stdin=REQ)
    assert "New, TLSv1.2" in out
    out = s_client(d.https, "a.test", ["-tls1_2", "-ign_eof", "-sess_in",
                                       sess], stdin=REQ)
    assert "Reused, TLSv1.2" in out, out


def test_rotation_under_load_no_failure(site, tmp_path):
    d = site(annotations={"ingressd.io/ssl-redirect": "false"},
             config={"log": {"level": "debug"}})
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    stop = threading.Event()
    results = {"ok": 0, "fail": [], "serials": set()}

    def loop():
        deadline = time.monotonic() + 4 * T
        n = 0
        while not stop.is_set() and n < 2000 and time.monotonic() < deadline:
            n += 1
            try:
                with socket.create_connection(("127.0.0.1", d.https),
                                              timeout=T) as s:
                    with ctx.wrap_socket(s, server_hostname="a.test") as t:
                        der = t.getpeercert(binary_form=True)
                        t.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n"
                                  b"Connection: close\r\n\r\n")
                        data = b""
                        while True:
                            chunk = t.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                if not data.startswith(b"HTTP/1.1 200"):
                    results["fail"].append(data[:100])
                else:
                    results["ok"] += 1
                    results["serials"].add(der)
            except (OSError, ssl.SSLError) as e:
                results["fail"].append(repr(e))

    th = threading.Thread(target=loop)
    th.start()
    try:
        wait_until(lambda: results["ok"] >= 20, what="20 requests")
        b2 = make_cert(str(tmp_path), "a-new", "a.test", "ec")
        g = d.generation()
        docs = list(d.docs)
        docs[0] = secret("a-tls", read(b2[0]), read(b2[1]))
        d.write_manifest("site.yaml", docs)     # atomic: one rename
        d.wait_generation(g + 1)
        # each worker rebuilt the rotated context only: the wildcard's and
        # the default's were taken over
        d.wait_log(r"worker 0 debug: tls: generation %d: 1 contexts built, "
                   r"2 reused" % (g + 1))
        d.wait_log(r"worker 1 debug: tls: generation %d: 1 contexts built, "
                   r"2 reused" % (g + 1))
        wait_until(lambda: len(results["serials"]) >= 2,
                   what="the new certificate served")
        n = results["ok"]
        wait_until(lambda: results["ok"] >= n + 20, what="20 more requests")
    finally:
        stop.set()
        th.join(T * 5)
    assert not results["fail"], results["fail"][:5]
    assert peer_cn(d.https, "a.test") == "a.test"
