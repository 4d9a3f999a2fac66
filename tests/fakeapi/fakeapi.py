"""A protocol-faithful fake Kubernetes API server, for tests only.

Not part of the product.  Python 3 standard library only (http.server,
socketserver, ssl) plus the openssl command line tool, which makes a
throw-away CA and a server certificate for 127.0.0.1/localhost in a
directory of the caller's choosing.

What it speaks, as the real kube-apiserver does:
  - HTTPS (HTTP/1.1, keep-alive) with its own CA; bearer-token auth: no or
    an unknown token is 401 with a Status body.  With client_certs=True,
    also client-certificate auth (mTLS) with a second CA of its own, as
    kube-apiserver's --client-ca-file: a certificate it did not sign fails
    the TLS handshake; a signed one authenticates its subject CN as the
    user (401 when cert_users is a set without it).  Requests without a
    certificate still need a token.
  - Discovery (/api, /apis, /api/v1, /apis/G/V) for the resources below,
    enough for kubectl.
  - Resources: ingresses, ingressclasses (cluster), services,
    endpointslices, endpoints, secrets (fieldSelector type=... honoured),
    leases; namespaced (/namespaces/NS/...) and cluster-wide paths.
  - GET list with limit/continue paging (items carry no kind/apiVersion, as
    real lists); a continue token whose resourceVersion was compacted is
    410 Gone (reason Expired).  Accept: ...;as=Table gets a meta.k8s.io/v1
    Table (kubectl's server-side printing).
  - GET ?watch=1 from a resourceVersion: chunked transfer encoding, one JSON
    event per line; events come from the resourceVersion history; a version
    older than the compaction point gets an ERROR event with a 410 Status
    (or, with http_410 set, an HTTP 410 reply); BOOKMARK events when
    allowWatchBookmarks=true (every bookmark_interval seconds);
    timeoutSeconds ends the stream.  Chunking is configurable: by default
    pending events are coalesced into one chunk; split=N cuts the bytes
    into chunks of 1..N bytes at random offsets.
  - PUT .../ingresses/NAME/status, POST/PUT/GET leases: applied to the store
    (409 on a stale metadata.resourceVersion) and recorded.

Control API (methods on FakeAPI, called by the tests in-process):
  create/update/apply/delete/get, compact(), watch_error_410(),
  close_watches(), fail(n, status), drop(n), stall(on), stop()/start()
  (same port), tokens (set of accepted tokens), status_writes and
  lease_writes (recorded), requests (method, path) log, emitted
  (resourceVersion -> wall-clock time its watch event was written),
  client_cert(cn) (a client certificate and key signed by the client CA,
  or with other_ca=True by a CA the server does not know), cert_users and
  users (who was authenticated by certificate, in order).
"""

import base64
import bisect
import copy
import http.server
import json
import os
import random
import socket
import socketserver
import ssl
import subprocess
import threading
import time
import urllib.parse

# resource -> (group/version, kind, namespaced)
RESOURCES = {
    "ingresses": ("networking.k8s.io/v1", "Ingress", True),
    "ingressclasses": ("networking.k8s.io/v1", "IngressClass", False),
    "services": ("v1", "Service", True),
    "endpointslices": ("discovery.k8s.io/v1", "EndpointSlice", True),
    "endpoints": ("v1", "Endpoints", True),
    "secrets": ("v1", "Secret", True),
    "leases": ("coordination.k8s.io/v1", "Lease", True),
}
SHORT = {"ingresses": ["ing"], "services": ["svc"], "endpoints": ["ep"]}
KIND_TO_RESOURCE = {v[1]: k for k, v in RESOURCES.items()}


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca(d, name):
    """A throw-away EC CA <name> in <d>; returns (crt, key) paths."""
    os.makedirs(d, exist_ok=True)
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", crt, "-days", "2", "-subj", "/CN=fakeapi-" + name)
    return crt, key


def make_client_cert(d, name, cn, ca):
    """A client certificate for <cn> signed by <ca> (crt, key), in <d>;
    returns (crt, key) paths."""
    key, csr, crt = (os.path.join(d, name + x) for x in
                     (".key", ".csr", ".crt"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature\n"
                "extendedKeyUsage=clientAuth\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", csr, "-subj", "/O=system:masters/CN=" + cn)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
             "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return crt, key


def make_certs(d):
    """CA and server certificate (SAN 127.0.0.1, ::1, localhost) in <d>;
    returns (ca.crt, server.crt, server.key) paths."""
    os.makedirs(d, exist_ok=True)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in
                     ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key,
        "-out", ca_crt, "-days", "2", "-subj", "/CN=fakeapi-ca")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=fakeapi")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
        "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


def status_body(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason,
            "code": code}


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class FakeAPI:
    def __init__(self, certdir, tokens=("test-token",), port=0,
                 client_certs=False):
        self.ca, self.crt, self.key = make_certs(certdir)
        self.certdir = certdir
        self.client_ca = make_ca(certdir, "client-ca") if client_certs \
            else None
        self.cert_users = None      # None: any CN the client CA signed
        self.users = []             # CNs authenticated by certificate
        self.tokens = set(tokens)
        self.port = port
        self.lock = threading.Condition()
        self.objects = {}           # (resource, ns, name) -> object
        self.rv = 100
        self.history = []           # (rv, resource, type, object)
        self.compacted = 0          # events with rv <= this are gone
        self.http_410 = False
        self.split = 0              # >0: random chunks of 1..split bytes
        self.bookmark_interval = 1.0
        self.faults = []            # [kind, status, match] consumed in order
        self.stalled = False
        self.watch_gen = 0          # close_watches() bumps it
        self.error_gen = 0          # watch_error_410() bumps it
        self.status_writes = []
        self.lease_writes = []
        self.requests = []
        self.emitted = {}           # resourceVersion -> time.time() sent
        self.paths_404 = set()      # e.g. {"endpointslices"}: not served
        self.list_cache = {}        # query -> (rv, sorted names, keys)
        self.server = None
        self.thread = None
        self.conns = set()

    # -- lifecycle ----------------------------------------------------
    def start(self):
        srv = _Server(("127.0.0.1", self.port), self._handler_class())
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.crt, self.key)
        ctx.set_alpn_protocols(["http/1.1"])
        if self.client_ca is not None:
            # Asked for, not required (tokens still work); one that does
            # not verify fails the handshake, as with kube-apiserver.
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(self.client_ca[0])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
        srv.fake = self
        self.port = srv.server_address[1]
        self.server = srv
        self.thread = threading.Thread(target=srv.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Closes the listener and every connection (watches included)."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            conns = list(self.conns)
            self.watch_gen += 1
            self.lock.notify_all()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server = None

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def client_cert(self, cn, other_ca=False):
        """A client certificate for user <cn>: (crt, key) paths, signed by
        the client CA, or with <other_ca> by a CA this server does not
        trust."""
        if other_ca:
            ca = make_ca(self.certdir, "other-client-ca")
        else:
            assert self.client_ca is not None, "client_certs=True needed"
            ca = self.client_ca
        return make_client_cert(self.certdir, "client-" + cn +
                                ("-other" if other_ca else ""), cn, ca)

    def kubeconfig(self, path, token="test-token", ca="file", namespace=None,
                   token_file=None, cert=None, cert_data=False):
        """Writes a kubeconfig for this server; ca is "file", "data" or
        "insecure".  <cert> (crt, key paths): client-certificate auth
        instead of a token, as client-certificate/-key or, with
        <cert_data>, as client-certificate-data/-key-data."""
        cluster = {"server": self.url}
        if ca == "file":
            cluster["certificate-authority"] = self.ca
        elif ca == "data":
            with open(self.ca, "rb") as f:
                cluster["certificate-authority-data"] = \
                    base64.b64encode(f.read()).decode()
        else:
            cluster["insecure-skip-tls-verify"] = True
        user = {"tokenFile": token_file} if token_file else {"token": token}
        if cert is not None and cert_data:
            user = {}
            for k, p in (("client-certificate-data", cert[0]),
                         ("client-key-data", cert[1])):
                with open(p, "rb") as f:
                    user[k] = base64.b64encode(f.read()).decode()
        elif cert is not None:
            user = {"client-certificate": cert[0], "client-key": cert[1]}
        ctx = {"cluster": "fake", "user": "fake"}
        if namespace:
            ctx["namespace"] = namespace
        doc = {"apiVersion": "v1", "kind": "Config",
               "current-context": "fake",
               "clusters": [{"name": "fake", "cluster": cluster}],
               "users": [{"name": "fake", "user": user}],
               "contexts": [{"name": "fake", "context": ctx}]}
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)   # JSON is YAML
        return path

    # -- objects (control API) ----------------------------------------
    def _key(self, obj):
        res = KIND_TO_RESOURCE[obj["kind"]]
        md = obj.setdefault("metadata", {})
        ns = md.get("namespace", "default") if RESOURCES[res][2] else ""
        if RESOURCES[res][2]:
            md["namespace"] = ns
        return res, ns, md["name"]

    def _record(self, res, typ, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append((self.rv, res, typ, copy.deepcopy(obj)))
        self.lock.notify_all()

    def apply(self, *objs):
        """Creates or replaces each object (ADDED or MODIFIED)."""
        with self.lock:
            for o in objs:
                o = copy.deepcopy(o)
                k = self._key(o)
                md = o["metadata"]
                old = self.objects.get(k)
                md.setdefault("uid", old["metadata"]["uid"] if old else
                              "uid-%d" % random.getrandbits(48))
                md.setdefault("creationTimestamp", old["metadata"].get(
                    "creationTimestamp") if old else time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                md.setdefault("managedFields", [{"manager": "fakeapi",
                              "operation": "Update", "fieldsV1": {
                                  "f:metadata": {"f:padding": "x" * 200}}}])
                self._record(k[0], "MODIFIED" if old else "ADDED", o)
                self.objects[k] = o

    create = update = apply

    def delete(self, kind, name, ns="default"):
        with self.lock:
            res = KIND_TO_RESOURCE[kind]
            k = (res, ns if RESOURCES[res][2] else "", name)
            o = self.objects.pop(k, None)
            if o is not None:
                self._record(res, "DELETED", o)
            return o is not None

    def get(self, kind, name, ns="default"):
        res = KIND_TO_RESOURCE[kind]
        with self.lock:
            o = self.objects.get((res, ns if RESOURCES[res][2] else "", name))
            return copy.deepcopy(o)

    def compact(self):
        """Forgets all history: every older resourceVersion is now 410."""
        with self.lock:
            self.compacted = self.rv
            self.history = []

    def watch_error_410(self):
        """Compacts and sends an ERROR 410 event into every open watch."""
        with self.lock:
            self.compacted = self.rv
            self.history = []
            self.error_gen += 1
            self.lock.notify_all()

    def close_watches(self):
        """Ends every open watch stream cleanly (terminating chunk)."""
        with self.lock:
            self.watch_gen += 1
            self.lock.notify_all()

    def fail(self, n=1, status=500, match=None):
        """The next <n> requests (whose path contains <match>) get
        <status>."""
        with self.lock:
            self.faults += [["status", status, match] for _ in range(n)]

    def drop(self, n=1, match=None):
        """The next <n> requests lose their connection unanswered."""
        with self.lock:
            self.faults += [["drop", 0, match] for _ in range(n)]

    def stall(self, on=True):
        """While on, requests hang unanswered and watches send nothing."""
        with self.lock:
            self.stalled = on
            self.lock.notify_all()

    def count(self, method, part):
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and part in p)

    # -- HTTP ---------------------------------------------------------
    def _handler_class(self):
        return _Handler


def _route(path):
    """/api/v1/namespaces/NS/RES/NAME/SUB -> (gv, ns, res, name, sub) or
    None."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        gv, rest = "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        gv, rest = parts[1] + "/" + parts[2], parts[3:]
    else:
        return None
    ns = None
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    res = rest[0]
    if res not in RESOURCES or RESOURCES[res][0] != gv:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return gv, ns, res, name, sub


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    def setup(self):
        self.fake = self.server.fake
        try:
            self.request.do_handshake()
        except (OSError, ssl.SSLError):
            self.request.close()
            raise
        with self.fake.lock:
            self.fake.conns.add(self.request)
        super().setup()

    def finish(self):
        with self.fake.lock:
            self.fake.conns.discard(self.request)
        try:
            super().finish()
        except (OSError, ssl.SSLError):
            pass

    def handle(self):
        try:
            super().handle()
        except (OSError, ssl.SSLError):
            pass

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, body, ctype="application/json"):
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code, reason, message):
        self._send(code, status_body(code, reason, message))

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def _prelude(self):
        """Auth, faults, stall; False when the request was answered."""
        f = self.fake
        with f.lock:
            f.requests.append((self.command, self.path))
            fault = None
            for i, x in enumerate(f.faults):
                if x[2] is None or x[2] in self.path:
                    fault = f.faults.pop(i)
                    break
            while f.stalled:
                f.lock.wait(0.1)
        if fault and fault[0] == "drop":
            self.close_connection = True
            self.request.shutdown(socket.SHUT_RDWR)
            return False
        if fault:
            self._status(fault[1], "InternalError", "injected fault")
            return False
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in f.tokens:
            return True
        cn = self._cert_user()
        if cn is not None and (f.cert_users is None or cn in f.cert_users):
            with f.lock:
                f.users.append(cn)
            return True
        self._status(401, "Unauthorized", "Unauthorized")
        return False

    def _cert_user(self):
        """The CN of a client certificate the client CA signed, or None
        (the handshake already refused any other)."""
        if self.fake.client_ca is None:
            return None
        try:
            cert = self.request.getpeercert()
        except (ValueError, OSError):
            return None
        for rdn in (cert or {}).get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def do_GET(self):
        if not self._prelude():
            return
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if self._discovery(u.path):
            return
        r = _route(u.path)
        if r is None or r[2] in self.fake.paths_404:
            self._status(404, "NotFound", "the server could not find the "
                         "requested resource")
            return
        gv, ns, res, name, sub = r
        if name is not None:
            o = self.fake.get(RESOURCES[res][1], name, ns or "")
            if o is None:
                self._status(404, "NotFound", '%s "%s" not found' %
                             (res, name))
            else:
                self._send(200, o)
            return
        if q.get("watch") in ("1", "true"):
            self._watch(res, ns, q)
        else:
            self._list(res, ns, q)

    def _discovery(self, path):
        if path == "/api":
            self._send(200, {"kind": "APIVersions", "versions": ["v1"],
                             "serverAddressByClientCIDRs": [{
                                 "clientCIDR": "0.0.0.0/0",
                                 "serverAddress": "127.0.0.1"}]})
            return True
        groups = {}
        for res, (gv, kind, nsd) in RESOURCES.items():
            groups.setdefault(gv, []).append({
                "name": res, "singularName": kind.lower(), "namespaced": nsd,
                "kind": kind, "verbs": ["get", "list", "watch", "create",
                                        "update", "delete"],
                "shortNames": SHORT.get(res, [])})
            if res == "ingresses":
                groups[gv].append({"name": "ingresses/status",
                                   "singularName": "", "namespaced": True,
                                   "kind": kind, "verbs": ["get", "update"]})
        if path == "/apis":
            out = []
            for gv in sorted(groups):
                if gv == "v1":
                    continue
                g, v = gv.split("/")
                out.append({"name": g, "versions": [{"groupVersion": gv,
                            "version": v}], "preferredVersion": {
                                "groupVersion": gv, "version": v}})
            self._send(200, {"kind": "APIGroupList", "apiVersion": "v1",
                             "groups": out})
            return True
        gv = "v1" if path == "/api/v1" else path[len("/apis/"):] \
            if path.startswith("/apis/") else None
        if gv in groups:
            self._send(200, {"kind": "APIResourceList", "apiVersion": "v1",
                             "groupVersion": gv, "resources": groups[gv]})
            return True
        return False

    def _match(self, res, ns, q, k, o):
        if k[0] != res or (ns is not None and k[1] != ns):
            return False
        fs = q.get("fieldSelector")
        if fs:
            for term in fs.split(","):
                key, _, val = term.partition("=")
                val = val.lstrip("=")
                if key == "type" and o.get("type") != val:
                    return False
                if key == "metadata.name" and o["metadata"]["name"] != val:
                    return False
        return True

    def _table(self, items):
        rows = []
        for o in items:
            md = o["metadata"]
            rows.append({"cells": [md["name"], md.get("creationTimestamp")],
                         "object": {"kind": "PartialObjectMetadata",
                                    "apiVersion": "meta.k8s.io/v1",
                                    "metadata": {k: md[k] for k in md
                                                 if k != "managedFields"}}})
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": str(self.fake.rv)},
                "columnDefinitions": [
                    {"name": "Name", "type": "string", "format": "name",
                     "description": "", "priority": 0},
                    {"name": "Created At", "type": "date", "format": "",
                     "description": "", "priority": 0}],
                "rows": rows}

    def _list(self, res, ns, q):
        f = self.fake
        gv, kind, _ = RESOURCES[res]
        limit = int(q.get("limit") or 0)
        start, rv = "", None
        with f.lock:
            if q.get("continue"):
                try:
                    tok = json.loads(base64.b64decode(q["continue"]))
                    rv, start = int(tok["rv"]), tok["start"]
                except (ValueError, KeyError, TypeError):
                    self._status(400, "BadRequest", "invalid continue token")
                    return
                if rv <= f.compacted:
                    self._status(410, "Expired", "The provided continue "
                                 "parameter is too old to display a "
                                 "consistent list result.")
                    return
                # the list as it was at rv: current objects minus later
                # changes is close enough here; serve current state
            # Sorted by the "ns/name" the continue token holds, and kept
            # while nothing changes: the pages of one list then cost a
            # bisection each, not a scan and sort of every object (which
            # made a 10,000-object list quadratic in its page count).
            ck = (res, ns, q.get("fieldSelector"), q.get("labelSelector"))
            hit = f.list_cache.get(ck)
            if hit is None or hit[0] != f.rv:
                names = sorted(("/".join(k[1:]), k)
                               for k, o in f.objects.items()
                               if self._match(res, ns, q, k, o))
                hit = (f.rv, [n for n, _ in names], [k for _, k in names])
                f.list_cache[ck] = hit
            keys = hit[2][bisect.bisect_right(hit[1], start):]
            # Stored objects are never changed in place (every write
            # stores a new copy), so shallow copies serialize safely.
            more = len(keys) - limit if limit and len(keys) > limit else 0
            if more:
                keys = keys[:limit]
            items = [{x: v for x, v in f.objects[k].items()
                      if x not in ("kind", "apiVersion")} for k in keys]
            list_rv = rv if rv is not None else f.rv
        md = {"resourceVersion": str(list_rv)}
        if more:
            last = items[-1]["metadata"]
            md["continue"] = base64.b64encode(json.dumps({
                "rv": list_rv, "start": "%s/%s" % (
                    last.get("namespace", ""), last["name"])}).encode()
            ).decode()
            md["remainingItemCount"] = more
        if "as=Table" in self.headers.get("Accept", ""):
            self._send(200, self._table(items))
            return
        self._send(200, {"kind": kind + "List", "apiVersion": gv,
                         "metadata": md, "items": items})

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _emit(self, data):
        """Writes <data> as one chunk, or split at random offsets."""
        split = self.fake.split
        if split <= 0:
            self._chunk(data)
            return
        i = 0
        while i < len(data):
            n = random.randint(1, split)
            self._chunk(data[i:i + n])
            i += n

    def _event(self, typ, obj, table):
        if table and typ in ("ADDED", "MODIFIED", "DELETED"):
            obj = self._table([obj])
        return json.dumps({"type": typ, "object": obj}).encode() + b"\n"

    def _watch(self, res, ns, q):
        f = self.fake
        gv, kind, _ = RESOURCES[res]
        table = "as=Table" in self.headers.get("Accept", "")
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        timeout = int(q.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        with f.lock:
            rv_s = q.get("resourceVersion", "")
            pending = []
            if rv_s in ("", "0"):
                rv = f.rv
                for k in sorted(f.objects):
                    if self._match(res, ns, q, k, f.objects[k]):
                        pending.append(self._event("ADDED", f.objects[k],
                                                   table))
            else:
                try:
                    rv = int(rv_s)
                except ValueError:
                    self._status(400, "BadRequest", "invalid resourceVersion")
                    return
                if rv < f.compacted and f.http_410:
                    self._status(410, "Expired", "too old resource version: "
                                 "%d (%d)" % (rv, f.compacted))
                    return
            expired = rv < f.compacted
            gen, egen = f.watch_gen, f.error_gen
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        if expired:
            self._emit(self._event("ERROR", status_body(
                410, "Expired", "too old resource version: %d (%d)" %
                (rv, f.compacted)), False))
            self._chunk(b"")
            return
        last_bm = time.monotonic()
        while True:
            with f.lock:
                while True:
                    now = time.monotonic()
                    if (f.watch_gen != gen or now >= deadline or
                            f.error_gen != egen):
                        break
                    new = [h for h in f.history if h[0] > rv and h[1] == res
                           and (ns is None or
                                h[3]["metadata"].get("namespace") == ns)
                           and self._match(res, ns, q, (res, h[3][
                               "metadata"].get("namespace", ""), ""), h[3])]
                    if (new or pending) and not f.stalled:
                        break
                    if (bookmarks and not f.stalled and
                            now - last_bm >= f.bookmark_interval):
                        break
                    f.lock.wait(0.05)
                closed = f.watch_gen != gen or time.monotonic() >= deadline
                error = f.error_gen != egen
                stalled = f.stalled
                for h in new:
                    pending.append(self._event(h[2], h[3], table))
                    rv = h[0]
                sent_rv = rv if new else None
                if (bookmarks and not pending and not stalled and
                        time.monotonic() - last_bm >= f.bookmark_interval):
                    if not table:
                        pending.append(self._event("BOOKMARK", {
                            "kind": kind, "apiVersion": gv,
                            "metadata": {"resourceVersion": str(f.rv)}},
                            False))
                        rv = max(rv, f.rv)
                    last_bm = time.monotonic()
            if error:
                pending.append(self._event("ERROR", status_body(
                    410, "Expired", "too old resource version"), False))
            try:
                if pending and not stalled:
                    self._emit(b"".join(pending))
                    pending = []
                    if sent_rv is not None:
                        f.emitted[sent_rv] = time.time()
                if closed or error:
                    self._chunk(b"")
                    return
            except (OSError, ssl.SSLError):
                self.close_connection = True
                return

    def do_POST(self):
        if not self._prelude():
            return
        r = _route(urllib.parse.urlsplit(self.path).path)
        if r is None or r[2] != "leases" or r[3] is not None:
            self._status(405, "MethodNotAllowed", "not supported here")
            return
        self._write(r, self._body(), create=True)

    def do_PUT(self):
        if not self._prelude():
            return
        r = _route(urllib.parse.urlsplit(self.path).path)
        if r is None or r[3] is None or not (
                r[2] == "leases" or (r[2] == "ingresses" and r[4] == "status")):
            self._status(405, "MethodNotAllowed", "not supported here")
            return
        self._write(r, self._body(), create=False)

    def _write(self, r, body, create):
        f = self.fake
        gv, ns, res, name, sub = r
        kind = RESOURCES[res][1]
        md = body.setdefault("metadata", {})
        name = name or md.get("name")
        with f.lock:
            k = (res, ns or "", name)
            old = f.objects.get(k)
            if create and old is not None:
                self._status(409, "AlreadyExists", '%s "%s" already exists' %
                             (res, name))
                return
            if not create and old is None:
                self._status(404, "NotFound", '%s "%s" not found' %
                             (res, name))
                return
            if (not create and md.get("resourceVersion") and
                    md["resourceVersion"] != old["metadata"]["resourceVersion"]):
                self._status(409, "Conflict", "the object has been "
                             "modified; please apply your changes to the "
                             "latest version and try again")
                return
            if sub == "status":
                o = copy.deepcopy(old)
                o["status"] = body.get("status", {})
                f.status_writes.append((ns, name, copy.deepcopy(o["status"]),
                                        self.headers.get("User-Agent", "")))
            else:
                o = copy.deepcopy(body)
                o["kind"], o["apiVersion"] = kind, gv
                o["metadata"]["namespace"] = ns or "default"
                o["metadata"]["name"] = name
                f.lease_writes.append(("create" if create else "update", ns,
                                       name, copy.deepcopy(o.get("spec", {}))))
            o["metadata"].pop("resourceVersion", None)
            if old is not None:
                o["metadata"]["uid"] = old["metadata"]["uid"]
            else:
                o["metadata"]["uid"] = "uid-%d" % random.getrandbits(48)
            f._record(res, "ADDED" if old is None else "MODIFIED", o)
            f.objects[k] = o
            out = copy.deepcopy(o)
        self._send(201 if create else 200, out)


def main():
    """python3 fakeapi.py DIR [PORT]: serves until interrupted, with the
    token "test-token"; writes DIR/kubeconfig."""
    import sys
    d = sys.argv[1]
    f = FakeAPI(d, port=int(sys.argv[2]) if len(sys.argv) > 2 else 0).start()
    f.kubeconfig(os.path.join(d, "kubeconfig"))
    print("fakeapi on %s, kubeconfig %s" % (f.url,
          os.path.join(d, "kubeconfig")), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        f.stop()


if __name__ == "__main__":
    main()
