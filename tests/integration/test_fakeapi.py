"""The fake API server (tests/fakeapi) against real clients: kubectl and
raw HTTP, so that what the kube provider tests rely on is the protocol the
real kube-apiserver speaks."""

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request

import pytest

from conftest import T, ingress, rule, path, wait_until

def _get(f, p, token="test-token"):
    ctx = ssl.create_default_context(cafile=f.ca)
    req = urllib.request.Request(f.url + p)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=T) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_auth_paging_and_410(fakeapi):
    for i in range(5):
        fakeapi.apply(ingress("i%d" % i, [rule("h%d.test" % i,
                                               path("/", "s"))]))
    assert _get(fakeapi, "/apis/networking.k8s.io/v1/ingresses",
                token=None)[0] == 401
    assert _get(fakeapi, "/apis/networking.k8s.io/v1/ingresses",
                token="wrong")[0] == 401
    names, cont = [], ""
    for _ in range(10):
        st, body = _get(fakeapi, "/apis/networking.k8s.io/v1/namespaces/"
                        "default/ingresses?limit=2" +
                        ("&continue=" + cont if cont else ""))
        assert st == 200
        doc = json.loads(body)
        assert doc["kind"] == "IngressList"
        assert all("kind" not in i for i in doc["items"])
        names += [i["metadata"]["name"] for i in doc["items"]]
        cont = doc["metadata"].get("continue")
        if not cont:
            break
    assert names == ["i0", "i1", "i2", "i3", "i4"]
    st, body = _get(fakeapi, "/apis/networking.k8s.io/v1/ingresses?limit=2")
    cont = json.loads(body)["metadata"]["continue"]
    fakeapi.compact()
    st, body = _get(fakeapi, "/apis/networking.k8s.io/v1/ingresses?limit=2"
                    "&continue=" + cont)
    assert st == 410 and json.loads(body)["reason"] == "Expired"


def test_kubectl_get_and_watch(fakeapi, tmp_path):
    assert shutil.which("kubectl"), "kubectl missing: run deploy/dev.sh deps"
    kc = fakeapi.kubeconfig(str(tmp_path / "kubeconfig"))
    env = dict(os.environ, KUBECONFIG=kc, HOME=str(tmp_path))
    fakeapi.apply(ingress("web", [rule("web.test", path("/", "web"))],
                          ns="shop"))
    out = subprocess.run(["kubectl", "get", "ingress", "-A"], env=env,
                         capture_output=True, text=True, timeout=3 * T)
    assert out.returncode == 0, out.stderr
    assert "shop" in out.stdout and "web" in out.stdout
    w = subprocess.Popen(["kubectl", "get", "ingress", "-A", "--watch"],
                         env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        fakeapi.split = 7       # the new object arrives in pieces
        fakeapi.apply(ingress("late", [rule("late.test", path("/", "x"))],
                              ns="shop"))
        lines = []
        deadline = time.monotonic() + 3 * T
        while time.monotonic() < deadline:
            line = w.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "late" in line:
                break
        assert any("late" in x for x in lines), (lines, w.stderr)
    finally:
        w.kill()
        w.wait()
