"""Routing: the seed demo's table and the Ingress v1 semantics of DESIGN.md."""

import os
import re

from conftest import (ROOT, get, ingress, path, route, rule, service,
                      endpoint_slice, svc_backend, svc_for, simple_route)

HERE = os.path.dirname(os.path.abspath(__file__))


def backends(backend, *names):
    return {n: backend(n) for n in names}


# ------------------------------------------------------------ seed demo

def demo_manifests(ports):
    """conf/demo/*.yaml with each EndpointSlice port replaced by ours."""
    out = {}
    ddir = os.path.join(ROOT, "conf", "demo")
    for name in sorted(os.listdir(ddir)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(ddir, name)) as f:
            text = f.read()
        for old, new in ports.items():
            text = re.sub(r"(\n  port: )%d\n" % old, r"\g<1>%d\n" % new, text)
        out[name] = text
    return out


def test_seed_demo_routing(ingressd, backend):
    b = backends(backend, "www-a", "www-b", "api", "test", "ui")
    m = demo_manifests({18081: b["www-a"].port, 18082: b["www-b"].port,
                        18083: b["api"].port, 18084: b["test"].port,
                        8580: b["ui"].port})
    d = ingressd(manifests=m, config={"ingress_class": "ingressd"})
    www = [route(d.port, "traefik.www.test.com", "/") for _ in range(6)]
    assert set(www) == {"www-a", "www-b"}, www
    assert route(d.port, "traefik.www.test.com", "/any/path?q=1") in ("www-a", "www-b")
    assert route(d.port, "traefik.api.test.com", "/v1/users") == "api"
    assert route(d.port, "test.com", "/") == "test"
    assert route(d.port, "traefik-ui.local", "/dashboard/") == "ui"
    assert route(d.port, "www.test.com", "/") == 404
    assert route(d.port, "test.com.evil", "/") == 404
    r = get(d.port, "traefik.api.test.com", "/v1/users?id=7")
    assert r.json()["target"] == "/v1/users?id=7"
    assert r.json()["headers"]["host"] == "traefik.api.test.com"


def test_seed_v1beta1_manifests(ingressd, backend):
    b = backends(backend, "www", "api", "test", "ui")
    with open(os.path.join(HERE, "fixtures", "seed_v1beta1.yaml")) as f:
        seed = f.read()
    extra = [service("test-www", (("http", 8080, 80),)),
             endpoint_slice("test-www", "test-www-1", b["www"].port),
             service("test-api", ((None, 8080, 80),)),
             endpoint_slice("test-api", "test-api-1", b["api"].port, port_name=None),
             endpoint_slice("test", "test-1", b["test"].port, port_name=None),
             endpoint_slice("traefik-web-ui", "ui-1", b["ui"].port,
                            port_name="web", ns="kube-system")]
    d = ingressd(manifests={"seed.yaml": seed, "endpoints.yaml": extra})
    assert route(d.port, "traefik.www.test.com") == "www"
    assert route(d.port, "traefik.api.test.com", "/x") == "api"
    assert route(d.port, "test.com") == "test"
    assert route(d.port, "traefik-ui.local") == "ui"
    assert route(d.port, "other.test.com") == 404


def test_networking_v1beta1_form(ingressd, backend):
    b = backend("old")
    ing = {"apiVersion": "networking.k8s.io/v1beta1", "kind": "Ingress",
           "metadata": {"name": "old", "namespace": "default"},
           "spec": {"rules": [{"host": "old.test", "http": {"paths": [
               {"path": "/", "backend": {"serviceName": "old",
                                         "servicePort": 80}}]}}]}}
    d = ingressd(manifests={"a.yaml": [ing] + svc_for("old", [b])})
    assert route(d.port, "old.test") == "old"


# ---------------------------------------------------------- path types

def test_path_types(ingressd, backend):
    b = backends(backend, "exact", "prefix", "impl", "root")
    ing = ingress("p", [rule("p.test",
                             path("/exact", "exact", path_type="Exact"),
                             path("/prefix", "prefix"),
                             path("/impl", "impl", path_type="ImplementationSpecific"),
                             path("/", "root"))])
    docs = [ing]
    for n in b:
        docs += svc_for(n, [b[n]])
    d = ingressd(manifests={"a.yaml": docs})
    p = d.port
    assert route(p, "p.test", "/exact") == "exact"
    assert route(p, "p.test", "/exact/") == "root"      # Exact is exact
    assert route(p, "p.test", "/exact/more") == "root"
    assert route(p, "p.test", "/exact?x=1") == "exact"  # query is not path
    assert route(p, "p.test", "/prefix") == "prefix"
    assert route(p, "p.test", "/prefix/") == "prefix"
    assert route(p, "p.test", "/prefix/a/b") == "prefix"
    assert route(p, "p.test", "/prefixed") == "root"    # element-wise
    assert route(p, "p.test", "/impl/x") == "impl"
    assert route(p, "p.test", "/other") == "root"


def test_prefix_is_element_wise_foo_vs_foobar(ingressd, backend):
    b = backends(backend, "foo", "foobar")
    docs = [ingress("f", [rule("f.test", path("/foo", "foo"),
                               path("/foobar", "foobar"))])]
    docs += svc_for("foo", [b["foo"]]) + svc_for("foobar", [b["foobar"]])
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "f.test", "/foo") == "foo"
    assert route(d.port, "f.test", "/foo/bar") == "foo"
    assert route(d.port, "f.test", "/foobar") == "foobar"
    assert route(d.port, "f.test", "/foobar/x") == "foobar"
    assert route(d.port, "f.test", "/foob") == 404
    assert route(d.port, "f.test", "/fo") == 404


def test_trailing_slash_in_rule_ignored(ingressd, backend):
    b = backend("s")
    docs = [ingress("t", [rule("t.test", path("/app/", "s"))])] + svc_for("s", [b])
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "t.test", "/app") == "s"
    assert route(d.port, "t.test", "/app/x") == "s"
    assert route(d.port, "t.test", "/apple") == 404


def test_longest_prefix_wins(ingressd, backend):
    b = backends(backend, "a", "ab", "abc")
    docs = [ingress("l", [rule("l.test", path("/a", "a"), path("/a/b/c", "abc"),
                               path("/a/b", "ab"))])]
    for n in b:
        docs += svc_for(n, [b[n]])
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "l.test", "/a/x") == "a"
    assert route(d.port, "l.test", "/a/b") == "ab"
    assert route(d.port, "l.test", "/a/b/x") == "ab"
    assert route(d.port, "l.test", "/a/b/c/d") == "abc"


def test_longest_prefix_across_ingresses(ingressd, backend):
    b = backends(backend, "short", "long")
    docs = [ingress("one", [rule("x.test", path("/", "short"))]),
            ingress("two", [rule("x.test", path("/api/v2", "long"))])]
    docs += svc_for("short", [b["short"]]) + svc_for("long", [b["long"]])
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "x.test", "/api/v2/x") == "long"
    assert route(d.port, "x.test", "/api/v1") == "short"


def test_exact_beats_prefix(ingressd, backend):
    b = backends(backend, "exact", "prefix")
    docs = [ingress("e", [rule("e.test", path("/login", "prefix"),
                               path("/login", "exact", path_type="Exact"))])]
    docs += svc_for("exact", [b["exact"]]) + svc_for("prefix", [b["prefix"]])
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "e.test", "/login") == "exact"
    assert route(d.port, "e.test", "/login/x") == "prefix"


# --------------------------------------------------------------- hosts

def test_wildcard_host_one_label(ingressd, backend):
    b = backends(backend, "wild", "exact", "nohost")
    docs = [ingress("w", [rule("*.w.test", path("/", "wild")),
                          rule("api.w.test", path("/", "exact")),
                          rule(None, path("/", "nohost"))])]
    for n in b:
        docs += svc_for(n, [b[n]])
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "foo.w.test") == "wild"
    assert route(d.port, "FOO.W.TEST") == "wild"
    assert route(d.port, "api.w.test") == "exact"       # exact beats wildcard
    assert route(d.port, "a.b.w.test") == "nohost"      # one label only
    assert route(d.port, "w.test") == "nohost"          # not the parent
    assert route(d.port, "elsewhere.test") == "nohost"


def test_hostless_rule_and_default_backend(ingressd, backend):
    b = backends(backend, "host", "nohost", "default")
    docs = [ingress("h", [rule("h.test", path("/only", "host")),
                          rule(None, path("/api", "nohost"))],
                    default_backend=svc_backend("default"))]
    for n in b:
        docs += svc_for(n, [b[n]])
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "h.test", "/only") == "host"
    assert route(d.port, "any.test", "/api/x") == "nohost"
    assert route(d.port, "any.test", "/zzz") == "default"
    # h.test has its host rule: /api is not under it, so it falls to the
    # defaultBackend (host-less rules serve hosts no host rule matches)
    assert route(d.port, "h.test", "/elsewhere") == "default"


def test_host_with_port_and_uppercase(ingressd, backend):
    b = backend("s")
    d = ingressd(manifests={"a.yaml": simple_route("case.test", "s", [b])})
    assert route(d.port, "CASE.Test:%d" % d.port) == "s"
    assert route(d.port, "case.test:1234") == "s"
    assert route(d.port, "case.test.") in ("s", 404)     # either is sane
    r = get(d.port, "Case.TEST:8080")
    assert r.json()["headers"]["host"] == "Case.TEST:8080"   # as sent


def test_absolute_form_target(ingressd, backend):
    b = backend("s")
    d = ingressd(manifests={"a.yaml": simple_route("abs.test", "s", [b])})
    r = get(d.port, "abs.test", "http://abs.test/x?y=1")
    assert r.status == 200 and r.json()["path"] == "/x"


def test_no_route_404_and_no_host(ingressd, backend):
    b = backend("s")
    d = ingressd(manifests={"a.yaml": simple_route("only.test", "s", [b])})
    r = get(d.port, "nothing.test", "/")
    assert r.status == 404
    assert r.header("Server") and r.header("Server").startswith("ingressd")
    assert r.body                                   # a short body
    # HTTP/1.1 without Host is a 400 (RFC 9112 3.2)
    r = get(d.port, None, "/")
    assert r.status == 400


# ------------------------------------------------------------- classes

def test_ingress_class_selection(ingressd, backend):
    b = backends(backend, "mine", "annot", "default", "theirs", "theirs2")
    icls = [{"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
             "metadata": {"name": "ingressd", "annotations": {
                 "ingressclass.kubernetes.io/is-default-class": "true"}},
             "spec": {"controller": "ingressd.io/ingress-controller"}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
             "metadata": {"name": "nginx"},
             "spec": {"controller": "k8s.io/ingress-nginx"}}]
    docs = icls + [
        ingress("mine", [rule("mine.test", path("/", "mine"))], cls="ingressd"),
        ingress("annot", [rule("annot.test", path("/", "annot"))],
                annotations={"kubernetes.io/ingress.class": "ingressd"}),
        ingress("default", [rule("default.test", path("/", "default"))]),
        ingress("theirs", [rule("theirs.test", path("/", "theirs"))], cls="nginx"),
        ingress("theirs2", [rule("theirs2.test", path("/", "theirs2"))],
                annotations={"kubernetes.io/ingress.class": "nginx"}),
    ]
    for n in b:
        docs += svc_for(n, [b[n]])
    d = ingressd(manifests={"a.yaml": docs}, config={"ingress_class": "ingressd"})
    assert route(d.port, "mine.test") == "mine"
    assert route(d.port, "annot.test") == "annot"
    assert route(d.port, "default.test") == "default"
    assert route(d.port, "theirs.test") == 404
    assert route(d.port, "theirs2.test") == 404
    # without the default-class annotation, class-less Ingresses are not ours
    icls[0]["metadata"].pop("annotations")
    d.apply({"a.yaml": docs})
    assert route(d.port, "default.test") == 404
    assert route(d.port, "mine.test") == "mine"


def test_no_ingress_class_configured_takes_classless(ingressd, backend):
    b = backends(backend, "free", "other")
    docs = [ingress("free", [rule("free.test", path("/", "free"))]),
            ingress("other", [rule("other.test", path("/", "other"))], cls="nginx")]
    docs += svc_for("free", [b["free"]]) + svc_for("other", [b["other"]])
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "free.test") == "free"
    assert route(d.port, "other.test") == 404


# ----------------------------------------------------------- conflicts

def test_conflict_oldest_wins(ingressd, backend):
    b = backends(backend, "old", "new")
    docs = [ingress("zzz-old", [rule("c.test", path("/", "old"))],
                    created="2020-01-01T00:00:00Z"),
            ingress("aaa-new", [rule("c.test", path("/", "new"))],
                    created="2024-01-01T00:00:00Z")]
    docs += svc_for("old", [b["old"]]) + svc_for("new", [b["new"]])
    d = ingressd(manifests={"a.yaml": docs})
    for _ in range(4):
        assert route(d.port, "c.test") == "old"


def test_conflict_same_age_namespace_name_order(ingressd, backend):
    b = backends(backend, "first", "second")
    ts = "2023-05-05T00:00:00Z"
    docs = [ingress("b", [rule("n.test", path("/", "second"))], created=ts),
            ingress("a", [rule("n.test", path("/", "first"))], created=ts)]
    docs += svc_for("first", [b["first"]]) + svc_for("second", [b["second"]])
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "n.test") == "first"


# ------------------------------------------------------------ services

def test_named_and_numbered_service_port(ingressd, backend):
    b = backends(backend, "web", "metrics")
    svc = service("multi", (("web", 80, 8080), ("metrics", 9100, 9100)))
    docs = [ingress("m", [rule("m.test", path("/", "multi", "web"),
                               path("/metrics", "multi", 9100))]), svc,
            endpoint_slice("multi", "multi-web", b["web"].port, port_name="web"),
            endpoint_slice("multi", "multi-metrics", b["metrics"].port,
                           port_name="metrics")]
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "m.test", "/") == "web"
    assert route(d.port, "m.test", "/metrics") == "metrics"


def test_not_ready_and_terminating_endpoints_excluded(ingressd, backend):
    b = backends(backend, "ready", "notready", "terminating")
    docs = [ingress("r", [rule("r.test", path("/", "s"))]),
            service("s"),
            endpoint_slice("s", "s-1", b["ready"].port),
            endpoint_slice("s", "s-2", b["notready"].port, ready=False),
            endpoint_slice("s", "s-3", b["terminating"].port, ready=False,
                           terminating=True)]
    d = ingressd(manifests={"a.yaml": docs})
    for _ in range(8):
        assert route(d.port, "r.test") == "ready"


def test_endpoints_v1_fallback(ingressd, backend):
    b = backend("legacy")
    eps = {"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": "s", "namespace": "default"},
           "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                        "ports": [{"name": "http", "port": b.port}]}]}
    docs = [ingress("e", [rule("e.test", path("/", "s"))]), service("s"), eps]
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "e.test") == "legacy"


def test_namespaces_are_separate(ingressd, backend):
    b = backends(backend, "ns-a", "ns-b")
    docs = [ingress("i", [rule("a.test", path("/", "s"))], ns="a"),
            ingress("i", [rule("b.test", path("/", "s"))], ns="b")]
    docs += svc_for("s", [b["ns-a"]], ns="a") + svc_for("s", [b["ns-b"]], ns="b")
    d = ingressd(manifests={"a.yaml": docs})
    assert route(d.port, "a.test") == "ns-a"
    assert route(d.port, "b.test") == "ns-b"


def test_503_no_ready_endpoint(ingressd, backend):
    b = backend("x")
    docs = [ingress("n", [rule("none.test", path("/", "none")),
                          rule("down.test", path("/", "down")),
                          rule("missing.test", path("/", "missing"))]),
            service("none"), service("down"),
            endpoint_slice("down", "down-1", b.port, ready=False)]
    none_slice = endpoint_slice("none", "none-1", b.port)
    none_slice["endpoints"] = []
    d = ingressd(manifests={"a.yaml": docs + [none_slice]})
    for host in ("none.test", "down.test", "missing.test"):
        r = get(d.port, host)
        assert r.status == 503, (host, r)
        assert r.header("Server") and r.header("Server").startswith("ingressd")
    assert b.requests == 0


def test_json_yml_and_other_files(ingressd, backend):
    import json
    b = backends(backend, "j", "y")
    jdocs = simple_route("j.test", "j", [b["j"]])
    d = ingressd(manifests={
        "j.json": json.dumps(jdocs[0], indent=1),       # one JSON object
        "j-svc.yaml": jdocs[1:],
        "y.yml": simple_route("y.test", "y", [b["y"]]),
        "ignored.txt": [ingress("t", [rule("txt.test", path("/", "y"))])]})
    assert route(d.port, "j.test") == "j"
    assert route(d.port, "y.test") == "y"
    assert route(d.port, "txt.test") == 404
