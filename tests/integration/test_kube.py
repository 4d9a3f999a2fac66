"""provider.kind kube against the fake API server (tests/fakeapi): the same
routes as from manifests, kept through API trouble."""

import json
import os
import re
import signal
import subprocess
import time

from conftest import (BIN, T, ctl, free_port, get, ingress, path, route,
                      rule, svc_for, endpoint_slice, simple_route,
                      wait_until)


def start(ingressd, fakeapi, tmp_path, objects=(), config=None, **kc):
    fakeapi.apply(*objects)
    kpath = fakeapi.kubeconfig(str(tmp_path / "kubeconfig"), **kc)
    cfg = {"provider": {"kind": "kube", "kubeconfig": kpath, "dir": None,
                        "debounce": "50ms"}}
    for k, v in (config or {}).items():
        if isinstance(v, dict):
            cfg.setdefault(k, {}).update(v)
        else:
            cfg[k] = v
    return ingressd(config=cfg)


def wait_route(d, host, want, p="/", timeout=None):
    return wait_until(lambda: route(d.port, host, p) == want, timeout,
                      what="%s%s -> %s" % (host, p, want))


def test_routes_follow_objects(ingressd, fakeapi, backend, tmp_path):
    a, b = backend("a"), backend("b")
    d = start(ingressd, fakeapi, tmp_path,
              simple_route("app.test", "app", [a]))
    assert route(d.port, "app.test") == "a"
    st = ctl(d)
    assert st["ready"] is True
    p = st["provider"]
    assert p["kind"] == "kube" and p["synced"] is True
    assert {r["resource"] for r in p["resources"]} == {
        "ingresses", "ingressclasses", "services", "endpointslices",
        "secrets"}
    out = subprocess.run([os.path.join(os.path.dirname(BIN), "ingressctl"),
                          "-s", os.path.join(d.sockdir, "c.sock"),
                          "status"], capture_output=True, text=True,
                         timeout=T)
    assert out.returncode == 0, out.stderr
    assert "synced (ready)" in out.stdout
    assert re.search(r"endpointslices\s+watching\s+yes\s+1 ", out.stdout), \
        out.stdout
    # EndpointSlice change: the endpoints move.
    fakeapi.apply(endpoint_slice("app", "app-0", b.port))
    wait_route(d, "app.test", "b")
    # A second Ingress appears, then the first goes.
    fakeapi.apply(*simple_route("two.test", "two", [a]))
    wait_route(d, "two.test", "a")
    fakeapi.delete("Ingress", "ing-app")
    wait_route(d, "app.test", 404)
    assert route(d.port, "two.test") == "a"
    # Only the fields compile needs are kept: managedFields never matter.
    assert "managedFields" not in str(ctl(d, "routes"))


def test_relist_after_410_converges(ingressd, fakeapi, backend, tmp_path):
    a, b = backend("a"), backend("b")
    d = start(ingressd, fakeapi, tmp_path,
              simple_route("x.test", "x", [a]) +
              simple_route("y.test", "y", [a]))
    assert route(d.port, "x.test") == "a"
    # Changes the watch will not deliver as events: the history is
    # compacted and an ERROR 410 ends every watch.
    fakeapi.stall(True)
    time.sleep(0.3)
    fakeapi.delete("Ingress", "ing-y")
    fakeapi.apply(endpoint_slice("x", "x-0", b.port))
    fakeapi.apply(*simple_route("z.test", "z", [b]))
    fakeapi.watch_error_410()
    fakeapi.stall(False)
    wait_route(d, "y.test", 404)
    wait_route(d, "x.test", "b")
    wait_route(d, "z.test", "b")
    # Same routes as a fresh start from the same objects.
    fresh = ingressd(config=d.overrides)
    for h in ("x.test", "y.test", "z.test"):
        assert route(fresh.port, h) == route(d.port, h)
    assert d.log().count("relisting") >= 1
    rel = sum(r["relists"] for r in ctl(d)["provider"]["resources"])
    assert rel >= 1


def test_watch_http_410_and_early_close(ingressd, fakeapi, backend,
                                        tmp_path):
    a, b = backend("a"), backend("b")
    d = start(ingressd, fakeapi, tmp_path, simple_route("x.test", "x", [a]))
    fakeapi.http_410 = True
    fakeapi.stall(True)
    time.sleep(0.3)
    fakeapi.apply(endpoint_slice("x", "x-0", b.port))
    fakeapi.compact()
    fakeapi.close_watches()         # reconnects from a compacted version
    fakeapi.stall(False)
    wait_route(d, "x.test", "b", timeout=3 * T)
    d.wait_log(r"410 Gone")


def test_outage_keeps_routes(ingressd, fakeapi, backend, tmp_path):
    a, b = backend("a"), backend("b")
    d = start(ingressd, fakeapi, tmp_path, simple_route("x.test", "x", [a]))
    gen = d.generation()
    # Errors, dropped connections, then the server gone altogether.
    fakeapi.fail(20, 503)
    fakeapi.drop(5)
    fakeapi.close_watches()
    time.sleep(0.5)
    assert route(d.port, "x.test") == "a"
    fakeapi.stop()
    for _ in range(10):
        assert route(d.port, "x.test") == "a"
        time.sleep(0.1)
    fakeapi.start()                  # same port
    fakeapi.faults = []
    fakeapi.apply(endpoint_slice("x", "x-0", b.port))
    wait_route(d, "x.test", "b", timeout=3 * T)
    assert d.generation() > gen
    # A stalled server: routes still served.
    fakeapi.stall(True)
    for _ in range(5):
        assert route(d.port, "x.test") == "b"
        time.sleep(0.1)
    fakeapi.stall(False)
    st = ctl(d)
    assert st["ready"] is True


def test_token_rotation(ingressd, fakeapi, backend, tmp_path):
    a, b = backend("a"), backend("b")
    tok = tmp_path / "token"
    tok.write_text("token-1\n")
    fakeapi.tokens = {"token-1"}
    d = start(ingressd, fakeapi, tmp_path, simple_route("x.test", "x", [a]),
              token_file=str(tok))
    # The server now accepts only the new token, and ends the watches.
    tok.write_text("token-2-rotated\n")
    fakeapi.tokens = {"token-2-rotated"}
    fakeapi.close_watches()
    fakeapi.apply(endpoint_slice("x", "x-0", b.port))
    wait_route(d, "x.test", "b")
    d.wait_log(r"changed: using the new token")


def test_unauthorized_and_forbidden_logged(ingressd, fakeapi, backend,
                                           tmp_path):
    a = backend("a")
    fakeapi.apply(*simple_route("x.test", "x", [a]))
    fakeapi.fail(2, 403, match="/ingresses")
    d = start(ingressd, fakeapi, tmp_path)
    assert route(d.port, "x.test") == "a"
    d.wait_log(r'list ingresses\.networking\.k8s\.io at cluster scope: 403 '
               r'Forbidden: RBAC does not allow "list"')
    off = d.log_offset()
    fakeapi.tokens = {"other"}
    fakeapi.close_watches()
    d.wait_log(r"401 Unauthorized: the API server refused the token", off)
    assert route(d.port, "x.test") == "a"
    fakeapi.tokens = {"test-token"}


def test_namespace_scope(ingressd, fakeapi, backend, tmp_path):
    a, b = backend("a"), backend("b")
    d = start(ingressd, fakeapi, tmp_path,
              simple_route("mine.test", "m", [a], ns="mine") +
              simple_route("other.test", "o", [b], ns="other"),
              config={"provider": {"namespace": "mine"}})
    assert route(d.port, "mine.test") == "a"
    assert route(d.port, "other.test") == 404
    paths = [p for m, p in fakeapi.requests
             if "/ingressclasses" not in p and m == "GET"]
    assert paths and all("/namespaces/mine/" in p for p in paths), paths
    assert ctl(d)["provider"]["namespace"] == "mine"


def test_class_filtering(ingressd, fakeapi, backend, tmp_path):
    a, b = backend("a"), backend("b")
    objs = [ingress("ours", [rule("ours.test", path("/", "a"))],
                    cls="ingressd"),
            ingress("theirs", [rule("theirs.test", path("/", "b"))],
                    cls="nginx"),
            {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
             "metadata": {"name": "ingressd"},
             "spec": {"controller": "ingressd.io/ingress-controller"}}]
    objs += svc_for("a", [a]) + svc_for("b", [b])
    d = start(ingressd, fakeapi, tmp_path, objs,
              config={"ingress_class": "ingressd"})
    assert route(d.port, "ours.test") == "a"
    assert route(d.port, "theirs.test") == 404
    # Moved into our class: routed.
    fakeapi.apply(ingress("theirs", [rule("theirs.test", path("/", "b"))],
                          cls="ingressd"))
    wait_route(d, "theirs.test", "b")


def test_watch_split_at_odd_offsets(ingressd, fakeapi, backend, tmp_path):
    a, b = backend("a"), backend("b")
    d = start(ingressd, fakeapi, tmp_path, simple_route("x.test", "x", [a]))
    for split in (1, 3, 7, 4096):
        fakeapi.split = split
        want = b if split != 3 else a
        fakeapi.apply(endpoint_slice("x", "x-0", want.port),
                      *simple_route("s%d.test" % split, "s%d" % split, [a]))
        wait_route(d, "x.test", want.name)
        wait_route(d, "s%d.test" % split, "a")


def test_endpoints_fallback(ingressd, fakeapi, backend, tmp_path):
    a = backend("a")
    fakeapi.paths_404 = {"endpointslices"}
    objs = [ingress("ing", [rule("ep.test", path("/", "ep"))])]
    objs += svc_for("ep", [a])[:1]
    objs.append({"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": "ep", "namespace": "default"},
                 "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                              "ports": [{"name": "http", "port": a.port}]}]})
    d = start(ingressd, fakeapi, tmp_path, objs)
    assert route(d.port, "ep.test") == "a"
    d.wait_log(r"watching v1 Endpoints instead")


def _rbac_rules():
    """(group, resource) -> verbs from deploy/kubernetes/rbac.yaml (its
    rules are written as flow lists, one key per line)."""
    import re
    from conftest import ROOT
    with open(os.path.join(ROOT, "deploy", "kubernetes", "rbac.yaml")) as f:
        text = f.read()
    rules = {}
    for m in re.finditer(r'- apiGroups: \[(.*?)\]\n\s+resources: \[(.*?)\]'
                         r'\n\s+verbs: \[(.*?)\]', text):
        groups, res, verbs = (re.findall(r'"([^"]*)"', x) for x in
                              m.groups())
        for g in groups:
            for r in res:
                rules[(g, r)] = set(verbs)
    return rules


def test_rbac_yaml_matches_requests(ingressd, fakeapi, backend, tmp_path):
    import urllib.parse
    a = backend("a")
    fakeapi.paths_404 = {"endpointslices"}      # Endpoints are used too
    d = start(ingressd, fakeapi, tmp_path, simple_route("x.test", "x", [a]),
              config={"publish": {"address": "192.0.2.7"}})
    fakeapi.paths_404 = set()
    d.wait_log(r"watching v1 Endpoints instead")
    wait_until(lambda: fakeapi.status_writes, what="a status write")
    wait_until(lambda: fakeapi.count("PUT", "/leases/"), what="a renewal")
    used = {}
    for method, p in list(fakeapi.requests):
        u = urllib.parse.urlsplit(p)
        parts = [x for x in u.path.split("/") if x]
        group, rest = ("", parts[2:]) if parts[0] == "api" else \
            (parts[1], parts[3:])
        if rest[0] == "namespaces":
            rest = rest[2:]
        res = "/".join([rest[0]] + rest[2:])
        q = urllib.parse.parse_qs(u.query)
        verb = {"PUT": "update", "POST": "create"}.get(method) or (
            "get" if len(rest) > 1 else "watch" if q.get("watch") else
            "list")
        used.setdefault((group, res), set()).add(verb)
    used[("discovery.k8s.io", "endpointslices")] = {"list", "watch"}
    assert used == _rbac_rules()


def test_in_cluster_config(ingressd, fakeapi, backend, tmp_path,
                           monkeypatch):
    import shutil
    a = backend("a")
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    shutil.copy(fakeapi.ca, str(sa / "ca.crt"))
    (sa / "token").write_text("test-token")
    (sa / "namespace").write_text("ingressd\n")
    monkeypatch.setenv("INGRESSD_SERVICEACCOUNT_DIR", str(sa))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(fakeapi.port))
    fakeapi.apply(*simple_route("x.test", "x", [a]))
    d = ingressd(config={"provider": {"kind": "kube", "dir": None,
                                      "debounce": "50ms"}})
    assert route(d.port, "x.test") == "a"
    out = subprocess.run([BIN, "--check", "--config", d.config_path],
                         capture_output=True, text=True, timeout=T)
    assert out.returncode == 0 and "https://127.0.0.1:%d" % fakeapi.port \
        in out.stdout, out
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    out = subprocess.run([BIN, "--check", "--config", d.config_path],
                         capture_output=True, text=True, timeout=T)
    assert out.returncode == 1 and "KUBERNETES_SERVICE_HOST" in out.stderr


def _lb(fakeapi, name):
    o = fakeapi.get("Ingress", name) or {}
    return [x.get("ip") or x.get("hostname") for x in
            o.get("status", {}).get("loadBalancer", {}).get("ingress", [])]


def _written(fakeapi, addr):
    return [(n, s) for ns, n, s, ua in list(fakeapi.status_writes)
            if addr in json.dumps(s)]


def _class_objs(a):
    cls = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
           "metadata": {"name": "ingressd"},
           "spec": {"controller": "ingressd.io/ingress-controller"}}
    theirs = ingress("theirs", [rule("theirs.test", path("/", "a"))],
                     cls="nginx")
    theirs["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}
    return [cls, theirs,
            ingress("ours", [rule("ours.test", path("/", "a"))],
                    cls="ingressd")] + svc_for("a", [a])


def test_status_one_writer_and_takeover(ingressd, fakeapi, backend,
                                        tmp_path, monkeypatch):
    monkeypatch.setenv("INGRESSD_TEST_LEASE_MS", "1500,1000,200")
    a = backend("a")
    cfg = {"ingress_class": "ingressd"}
    da = start(ingressd, fakeapi, tmp_path, _class_objs(a),
               config=dict(cfg, publish={"address": "192.0.2.1"}))
    # The leader writes ours and clears the one that is not ours.
    wait_until(lambda: _lb(fakeapi, "ours") == ["192.0.2.1"],
               what="status of ours")
    wait_until(lambda: _lb(fakeapi, "theirs") == [], what="theirs cleared")
    assert ctl(da)["provider"]["status"]["leader"] is True
    db = ingressd(config=dict(da.overrides,
                              publish={"address": "192.0.2.2"}))
    fakeapi.apply(ingress("late", [rule("late.test", path("/", "a"))],
                          cls="ingressd"))
    wait_until(lambda: _lb(fakeapi, "late") == ["192.0.2.1"],
               what="status of late by the leader")
    time.sleep(1)
    assert _written(fakeapi, "192.0.2.2") == []
    sb = ctl(db)["provider"]["status"]
    assert sb["leader"] is False and sb["holder"] == \
        ctl(da)["provider"]["status"]["identity"]
    # The leader stops (and releases the Lease): the other takes over.
    da.stop()
    wait_until(lambda: _lb(fakeapi, "ours") == ["192.0.2.2"] and
               _lb(fakeapi, "late") == ["192.0.2.2"], what="takeover")
    assert ctl(db)["provider"]["status"]["leader"] is True
    db.wait_log(r"leader \(Lease default/ingressd-ingressd")
    holders = [spec.get("holderIdentity") for op, ns, n, spec in
               fakeapi.lease_writes]
    assert "" in holders                    # released on stop
    assert route(db.port, "ours.test") == "a"


def test_lease_expiry_takeover(ingressd, fakeapi, backend, tmp_path,
                               monkeypatch):
    monkeypatch.setenv("INGRESSD_TEST_LEASE_MS", "1500,1000,200")
    a = backend("a")
    cfg = {"ingress_class": "ingressd"}
    da = start(ingressd, fakeapi, tmp_path, _class_objs(a),
               config=dict(cfg, publish={"address": "192.0.2.1"}))
    wait_until(lambda: _lb(fakeapi, "ours") == ["192.0.2.1"],
               what="status of ours")
    da._kill()                              # no release: the lease expires
    t0 = time.monotonic()
    db = ingressd(config=dict(da.overrides,
                              publish={"address": "192.0.2.2"}))
    wait_until(lambda: _lb(fakeapi, "ours") == ["192.0.2.2"],
               what="takeover after expiry")
    assert time.monotonic() - t0 >= 1.0     # waited for the expiry
    db.wait_log(r"expired: taking over")


def test_reload_switches_namespace(ingressd, fakeapi, backend, tmp_path):
    a, b = backend("a"), backend("b")
    d = start(ingressd, fakeapi, tmp_path,
              simple_route("a.test", "x", [a], ns="one") +
              simple_route("b.test", "x", [b], ns="two"),
              config={"provider": {"namespace": "one"}})
    assert route(d.port, "a.test") == "a"
    assert route(d.port, "b.test") == 404
    d.overrides["provider"]["namespace"] = "two"
    d.write_config()
    d.signal(signal.SIGHUP)
    wait_route(d, "b.test", "b")
    wait_route(d, "a.test", 404)
    d.wait_log(r"reloaded provider synced and took over")
    assert ctl(d)["provider"]["namespace"] == "two"
    # And back to the files provider.
    d.write_manifest("m.yaml", simple_route("f.test", "f", [a]))
    d.overrides["provider"] = {"kind": "files", "dir": "manifests"}
    d.write_config()
    d.signal(signal.SIGHUP)
    wait_route(d, "f.test", "a")
    assert ctl(d)["provider"]["kind"] == "files"


def test_invalid_update_keeps_route_delete_removes(ingressd, fakeapi,
                                                   backend, tmp_path):
    a = backend("a")
    d = start(ingressd, fakeapi, tmp_path, simple_route("x.test", "x", [a]))
    bad = ingress("ing-x", [])          # neither rules nor defaultBackend
    fakeapi.apply(bad)
    d.wait_log(r"ingresses: invalid object skipped")
    assert route(d.port, "x.test") == "a"
    fakeapi.delete("Ingress", "ing-x")
    wait_route(d, "x.test", 404)


def test_kubeconfig_ca_data_and_insecure(ingressd, fakeapi, backend,
                                         tmp_path):
    a = backend("a")
    fakeapi.apply(*simple_route("x.test", "x", [a]))
    for ca in ("data", "insecure"):
        kpath = fakeapi.kubeconfig(str(tmp_path / ("kc-" + ca)), ca=ca)
        d = ingressd(config={"provider": {"kind": "kube", "dir": None,
                                          "kubeconfig": kpath,
                                          "debounce": "50ms"}})
        assert route(d.port, "x.test") == "a"
        d.stop()
    # A CA that did not sign the server's certificate: no sync, and why.
    from fakeapi import make_certs
    other = make_certs(str(tmp_path / "other"))[0]
    kpath = fakeapi.kubeconfig(str(tmp_path / "kc-bad"))
    with open(kpath) as f:
        text = f.read().replace(fakeapi.ca, str(other))
    with open(kpath, "w") as f:
        f.write(text)
    d = ingressd(config={"provider": {"kind": "kube", "dir": None,
                                      "kubeconfig": kpath}}, start=False)
    d.port = free_port()
    d.write_config()
    d.proc = subprocess.Popen([BIN, "--config", d.config_path,
                               "--foreground"], stdout=open(d.log_path, "wb"),
                              stderr=subprocess.STDOUT, cwd=d.base)
    d.wait_log(r"list ingresses\.networking\.k8s\.io at cluster scope: .*"
               r"(certificate|SSL)")
    assert d.generation() == 0
    d.initial_workers = d.wait_workers()    # waiting for a snapshot


def _client_cert_api(tmp_path):
    from fakeapi import FakeAPI
    return FakeAPI(str(tmp_path / "mtls-certs"), tokens=(),
                   client_certs=True).start()


def test_kubeconfig_client_certificate(ingressd, backend, tmp_path):
    # No token is accepted: only the client certificate authenticates,
    # given inline (-data) and as files.
    api = _client_cert_api(tmp_path)
    try:
        a, b = backend("a"), backend("b")
        api.apply(*simple_route("x.test", "x", [a]))
        cert = api.client_cert("ingressd-node")
        for data in (True, False):
            kpath = api.kubeconfig(str(tmp_path / ("kc-%s" % data)),
                                   cert=cert, cert_data=data)
            with open(kpath) as f:
                text = f.read()
            assert ("client-certificate-data" in text) == data
            assert "token" not in text
            d = ingressd(config={"provider": {"kind": "kube", "dir": None,
                                              "kubeconfig": kpath,
                                              "debounce": "50ms"}})
            assert route(d.port, "x.test") == "a"
            # The watch is authenticated too: changes still arrive.
            api.apply(endpoint_slice("x", "x-0", b.port))
            wait_route(d, "x.test", "b")
            api.apply(endpoint_slice("x", "x-0", a.port))
            wait_route(d, "x.test", "a")
            d.stop()
        assert api.users and set(api.users) == {"ingressd-node"}
    finally:
        api.stop()


def _start_unsynced(ingressd, kpath):
    """ingressd on <kpath> that is expected never to sync."""
    d = ingressd(config={"provider": {"kind": "kube", "dir": None,
                                      "kubeconfig": kpath}}, start=False)
    d.port = free_port()
    d.write_config()
    d.proc = subprocess.Popen([BIN, "--config", d.config_path,
                               "--foreground"], stdout=open(d.log_path, "wb"),
                              stderr=subprocess.STDOUT, cwd=d.base)
    return d


def test_kubeconfig_wrong_client_certificate(ingressd, backend, tmp_path):
    api = _client_cert_api(tmp_path)
    try:
        a = backend("a")
        api.apply(*simple_route("x.test", "x", [a]))
        # Signed by a CA the server does not trust: the handshake fails.
        bad = api.client_cert("intruder", other_ca=True)
        d = _start_unsynced(ingressd, api.kubeconfig(
            str(tmp_path / "kc-other-ca"), cert=bad, cert_data=True))
        what = (r"list ingresses\.networking\.k8s\.io at cluster scope: "
                r".*alert unknown ca.*\(the API server refused the client "
                r"certificate\)")
        d.wait_log(what)
        # ... and it keeps trying (backoff), without a snapshot.  With TLS
        # 1.3 the client learns of the refusal only when it reads, so a
        # retry may fail earlier in its own words (a write error): any
        # further failed list counts.
        failed = (r"list ingresses\.networking\.k8s\.io at cluster scope: "
                  r".*retrying in")
        seen = len(re.findall(failed, d.log()))
        wait_until(lambda: len(re.findall(failed, d.log())) > seen,
                   timeout=30, what="another failed list")
        assert d.generation() == 0
        d.initial_workers = d.wait_workers()    # waiting for a snapshot
        d.stop()

        # Signed by the right CA but not a user the server accepts: 401.
        api.cert_users = {"ingressd-node"}
        d = _start_unsynced(ingressd, api.kubeconfig(
            str(tmp_path / "kc-other-user"),
            cert=api.client_cert("someone-else"), cert_data=True))
        what = r"401 Unauthorized: the API server refused the client "
        what += r"certificate"
        d.wait_log(what)
        wait_until(lambda: len(re.findall(what, d.log())) >= 2,
                   what="a second 401")
        assert d.generation() == 0
        d.initial_workers = d.wait_workers()
        d.stop()
    finally:
        api.stop()
