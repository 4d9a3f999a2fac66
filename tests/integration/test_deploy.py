"""deploy/: the systemd unit, the Kubernetes manifests, the Dockerfile and
the `make install DESTDIR=` tree.

- The unit's keys are checked with a parser, always; `systemd-analyze
  verify` runs on it as well (deploy/dev.sh installs Debian's `systemd`,
  which is harmless in a container: only the tool is used, nothing is
  started).
- Every manifest of deploy/kubernetes parses (python3-yaml) and they
  reference each other consistently; the ConfigMap's ingressd.yaml passes
  `ingressd --check`.
- No docker engine runs here: the Dockerfile is checked statically
  (stages, order, package names known to apt, libraries the binary needs).
"""

import configparser
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import BIN, ROOT

DEPLOY = os.path.join(ROOT, "deploy")
KUBE = os.path.join(DEPLOY, "kubernetes")
UNIT_IN = os.path.join(DEPLOY, "systemd", "ingressd.service.in")
BUILD = os.path.dirname(os.path.abspath(BIN))

# What the master and its workers need, and nothing else (ingressd(8)).
CAPS = {"NET_BIND_SERVICE", "SETUID", "SETGID", "SYS_CHROOT", "KILL"}
# rbac.yaml belongs to the Kubernetes API provider's work (ServiceAccount
# ingressd in namespace ingressd, ClusterRole/ClusterRoleBinding ingressd);
# it is checked when present.
OWNED_ELSEWHERE = {"rbac.yaml"}


def version():
    with open(os.path.join(ROOT, "configure.ac")) as f:
        return re.search(r"AC_INIT\(\[ingressd\], \[([^]]+)\]", f.read()).group(1)


def controller_name():
    with open(os.path.join(ROOT, "master", "compile.c")) as f:
        return re.search(r'#define COMPILE_CONTROLLER\s+"([^"]+)"',
                         f.read()).group(1)


# ------------------------------------------------------------ systemd

def unit_text(sbindir="/usr/sbin", sysconfdir="/etc"):
    with open(UNIT_IN) as f:
        return (f.read().replace("@sbindir@", sbindir)
                .replace("@sysconfdir@", sysconfdir))


def parse_unit(text):
    """{section: {key: [values]}}: systemd keys may repeat."""
    units = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            section = units.setdefault(m.group(1), {})
            continue
        assert section is not None and "=" in line, line
        k, v = line.split("=", 1)
        section.setdefault(k.strip(), []).append(v.strip())
    return units


def test_unit_keys():
    u = parse_unit(unit_text())
    s = u["Service"]
    one = {k: v[-1] for k, v in s.items()}
    assert one["Type"] == "notify"
    # the new master of a SIGUSR2 upgrade sends MAINPID=: not the main pid
    assert one["NotifyAccess"] == "all"
    assert one["ExecStart"] == ("/usr/sbin/ingressd --config "
                                "/etc/ingressd/ingressd.yaml --foreground")
    assert s["ExecReload"][-1] == "/bin/kill -HUP $MAINPID"
    assert one["KillMode"] == "mixed"
    assert one["Restart"] == "on-failure"
    assert one["WatchdogSec"] == "30s"
    # Beyond shutdown_grace (60s) plus the master's 5s kill slack.
    assert int(one["TimeoutStopSec"].rstrip("s")) > 65
    for k, v in {"ProtectSystem": "strict", "ProtectHome": "yes",
                 "PrivateTmp": "yes", "PrivateDevices": "yes",
                 "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
                 "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
                 "RestrictNamespaces": "yes", "LockPersonality": "yes",
                 "MemoryDenyWriteExecute": "yes", "RestrictRealtime": "yes",
                 "SystemCallArchitectures": "native",
                 "RuntimeDirectory": "ingressd",
                 "ConfigurationDirectory": "ingressd"}.items():
        assert one.get(k) == v, (k, one.get(k))
    assert set(one["RestrictAddressFamilies"].split()) == {
        "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
    assert set(one["CapabilityBoundingSet"].split()) == {
        "CAP_" + c for c in CAPS}
    assert "AmbientCapabilities" not in s and "User" not in s
    # The control socket and the chroot live in the RuntimeDirectory.
    with open(os.path.join(ROOT, "conf", "ingressd.yaml")) as f:
        conf = yaml.safe_load(f)
    assert conf["control"]["socket"].startswith("/run/ingressd/")
    assert u["Install"]["WantedBy"] == ["multi-user.target"]
    # systemd's own reading of it agrees with ours on the sections.
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read_string(re.sub(r"(?m)^(\w+)=(.*)$", r"\1 = \2",
                          unit_text().replace("%", "%%")))
    assert set(cp.sections()) == {"Unit", "Service", "Install"}


def test_unit_systemd_analyze_verify(tmp_path):
    """`systemd-analyze verify`, with ExecStart= naming the built binary
    (verify insists that it exists); any complaint fails."""
    tool = shutil.which("systemd-analyze")
    assert tool, ("systemd-analyze not found: deploy/dev.sh installs "
                  "Debian's systemd package for this test")
    unit = tmp_path / "ingressd.service"
    unit.write_text(unit_text(sbindir=BUILD))
    r = subprocess.run([tool, "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "ingressd.service" not in out, out


def test_make_install_destdir(tmp_path):
    """`make install DESTDIR=` lays out binaries, configuration, manifests
    dir, man pages and the unit with this build's paths."""
    assert os.path.exists(os.path.join(BUILD, "Makefile")), (
        "INGRESSD_BIN is not in a configured build tree: %s" % BUILD)
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "-C", BUILD, "install",
                        "DESTDIR=%s" % dest], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    files = {os.path.relpath(os.path.join(d, f), dest)
             for d, _, fs in os.walk(dest) for f in fs}
    sbin = [f for f in files if f.endswith("sbin/ingressd")]
    assert len(sbin) == 1, sorted(files)
    prefix = "/" + os.path.dirname(os.path.dirname(sbin[0]))
    unit = os.path.join(prefix, "lib/systemd/system/ingressd.service")[1:]
    assert unit in files, sorted(files)
    u = parse_unit((dest / unit).read_text())
    start = u["Service"]["ExecStart"][0].split()
    assert start[0] == os.path.join(prefix, "sbin/ingressd")
    conf = start[start.index("--config") + 1]
    assert "@" not in (dest / unit).read_text()
    for f in (start[0][1:], os.path.join(prefix, "sbin/ingressctl")[1:]):
        assert os.access(dest / f, os.X_OK), f
    assert conf[1:] in files
    mdir = dest / os.path.dirname(conf)[1:] / "manifests"
    assert mdir.is_dir() and not os.listdir(mdir)
    for page in ("man8/ingressd.8", "man8/ingressctl.8",
                 "man5/ingressd.yaml.5"):
        assert any(f.endswith("/man/" + page) for f in files), page
    # The installed pair works: version, and the packaged configuration.
    r = subprocess.run([str(dest / start[0][1:]), "--version"],
                       capture_output=True, text=True)
    assert r.stdout.strip() == "ingressd " + version()
    r = subprocess.run([str(dest / start[0][1:]), "--check", "--config",
                        str(dest / conf[1:])], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# --------------------------------------------------------- kubernetes

def kube_docs():
    """{file: [documents]} for every manifest the kustomization lists."""
    with open(os.path.join(KUBE, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    assert k["kind"] == "Kustomization"
    docs = {}
    for res in k["resources"]:
        p = os.path.join(KUBE, res)
        if res in OWNED_ELSEWHERE and not os.path.exists(p):
            continue
        with open(p) as f:
            docs[res] = [d for d in yaml.safe_load_all(f) if d]
    return k, docs


def by_kind(docs):
    out = {}
    for ds in docs.values():
        for d in ds:
            out.setdefault(d["kind"], []).append(d)
    return out


def test_kustomization_lists_every_manifest():
    k, docs = kube_docs()
    present = {f for f in os.listdir(KUBE) if f.endswith(".yaml")}
    assert set(k["resources"]) == (present | OWNED_ELSEWHERE) - {
        "kustomization.yaml"}
    for ds in docs.values():
        for d in ds:
            assert d.get("apiVersion") and d.get("kind"), d
            assert d["metadata"]["name"], d


def test_manifests_reference_each_other():
    _, docs = kube_docs()
    kinds = by_kind(docs)
    ns = kinds["Namespace"][0]["metadata"]["name"]
    assert ns == "ingressd"
    for kind, ds in kinds.items():
        for d in ds:
            if kind not in ("Namespace", "IngressClass", "ClusterRole",
                            "ClusterRoleBinding"):
                assert d["metadata"].get("namespace") == ns, d["metadata"]

    (ic,) = kinds["IngressClass"]
    assert ic["metadata"]["name"] == "ingressd"
    assert ic["spec"]["controller"] == controller_name()
    assert ic["metadata"]["annotations"][
        "ingressclass.kubernetes.io/is-default-class"] == "true"

    (ds,) = kinds["DaemonSet"]
    spec = ds["spec"]["template"]["spec"]
    sas = {s["metadata"]["name"] for s in kinds["ServiceAccount"]}
    assert spec["serviceAccountName"] in sas
    sel = ds["spec"]["selector"]["matchLabels"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    assert sel.items() <= labels.items()
    assert spec["terminationGracePeriodSeconds"] > 65

    (c,) = spec["containers"]
    assert c["image"] == "ingressd:" + version()
    assert c["args"] == ["--config", "/etc/ingressd/ingressd.yaml",
                         "--foreground"]
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "status.hostIP"
    ports = {p["name"]: p for p in c["ports"]}
    assert ports["http"]["containerPort"] == 80
    assert ports["https"]["containerPort"] == 443
    assert ports["admin"]["containerPort"] == 8580
    if spec.get("hostNetwork"):
        assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    else:
        assert ports["http"]["hostPort"] == 80
        assert ports["https"]["hostPort"] == 443
        assert "hostPort" not in ports["admin"]
    # Prometheus' pod discovery scrapes the admin port's /metrics.
    ann = ds["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert int(ann["prometheus.io/port"]) == ports["admin"]["containerPort"]
    assert ann["prometheus.io/path"] == "/metrics"
    for probe in ("livenessProbe", "readinessProbe"):
        g = c[probe]["httpGet"]
        assert g["port"] in ("admin", 8580) and g["path"] in (
            "/healthz", "/readyz"), (probe, g)
    res = c["resources"]
    assert res["requests"] == {"cpu": "100m", "memory": "32Mi"}
    assert res["limits"] == {"cpu": "500m", "memory": "128Mi"}
    sc = c["securityContext"]
    assert sc["runAsUser"] == 0 and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(sc["capabilities"]["add"]) == CAPS

    # Volumes: the ConfigMap as /etc/ingressd, an emptyDir as /run/ingressd.
    vols = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    cms = {m["metadata"]["name"]: m for m in kinds["ConfigMap"]}
    cmvol = vols[mounts["/etc/ingressd"]]["configMap"]
    assert cmvol["name"] in cms
    assert "ingressd.yaml" in cms[cmvol["name"]]["data"]
    assert "emptyDir" in vols[mounts["/run/ingressd"]]

    # The admin Service selects the DaemonSet's pods on the admin port.
    (svc,) = kinds["Service"]
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert svc["spec"]["selector"].items() <= labels.items()
    (sp,) = svc["spec"]["ports"]
    assert sp["port"] == 8580 and sp["targetPort"] in ("admin", 8580)

    # The ConfigMap's listeners are the container's ports.
    conf = yaml.safe_load(cms[cmvol["name"]]["data"]["ingressd.yaml"])
    assert conf["listen"] == {"http": "0.0.0.0:80", "https": "0.0.0.0:443",
                              "admin": "0.0.0.0:8580"}
    assert conf["provider"]["kind"] == "kube"
    assert conf["ingress_class"] == ic["metadata"]["name"]
    assert conf["control"]["socket"].startswith("/run/ingressd/")
    assert conf["user"] == "ingressd"       # made by deploy/Dockerfile

    # rbac.yaml, once there, binds the ServiceAccount the pods use.
    for b in kinds.get("ClusterRoleBinding", []):
        assert b["roleRef"]["name"] in {
            r["metadata"]["name"] for r in kinds["ClusterRole"]}
        assert {"kind": "ServiceAccount", "name": spec["serviceAccountName"],
                "namespace": ns} in b["subjects"]


def test_configmap_passes_check(tmp_path):
    """The ConfigMap's ingressd.yaml passes `ingressd --check`.  A dummy
    kubeconfig stands in for the in-cluster credentials, which --check must
    not need; while provider.kind kube is not built in, the same file is
    checked with a manifests directory in its place."""
    _, docs = kube_docs()
    (cm,) = by_kind(docs)["ConfigMap"]
    conf = yaml.safe_load(cm["data"]["ingressd.yaml"])
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {
            "server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
        "users": [{"name": "x", "user": {"token": "dummy"}}]}))
    conf["provider"]["kubeconfig"] = str(kc)
    path = tmp_path / "ingressd.yaml"
    path.write_text(yaml.safe_dump(conf))
    r = subprocess.run([BIN, "--check", "--config", str(path)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and "kube is not implemented yet" in r.stderr:
        (tmp_path / "manifests").mkdir()
        conf["provider"] = {"kind": "files",
                            "dir": str(tmp_path / "manifests")}
        path.write_text(yaml.safe_dump(conf))
        r = subprocess.run([BIN, "--check", "--config", str(path)],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration OK" in r.stdout


# ---------------------------------------------------------- Dockerfile

def dockerfile():
    """[(stage name, [(instruction, arguments)])], continuations joined."""
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", args.strip(), re.I)
            stages.append((m.group(2), m.group(1), []))
        else:
            stages[-1][2].append((instr, " ".join(args.split())))
    return stages


def apt_packages(cmds):
    pkgs = []
    for instr, args in cmds:
        for m in re.finditer(r"apt-get install ((?:-\S+\s+)*)([^&]+)", args):
            pkgs += [p for p in m.group(2).split() if not p.startswith("-")]
    return pkgs


def unknown_to_apt(pkgs):
    """Those of <pkgs> that apt-cache policy knows neither installed nor
    as a candidate (one call: each takes seconds)."""
    r = subprocess.run(["apt-cache", "policy"] + sorted(set(pkgs)),
                       capture_output=True, text=True)
    known = set()
    for block in re.split(r"(?m)^(?=\S)", r.stdout):
        m = re.match(r"(\S+):\n", block)
        if m and any(v != "(none)" for v in re.findall(
                r"(?:Installed|Candidate): (\S+)", block)):
            known.add(m.group(1))
    return set(pkgs) - known


def dev_sh_packages():
    with open(os.path.join(DEPLOY, "dev.sh")) as f:
        m = re.search(r'BASE_PKGS="([^"]*)"', f.read())
    return set(m.group(1).split())


def test_dockerfile_stages_and_user():
    stages = dockerfile()
    names = [s[0] for s in stages]
    assert names == ["build", "runtime"], names
    assert all(s[1] == "debian:12" for s in stages)
    build, runtime = stages[0][2], stages[1][2]
    run_build = " ".join(a for i, a in build if i == "RUN")
    assert "./configure" in run_build and "--prefix=/usr" in run_build
    assert "--sysconfdir=/etc" in run_build and "--runstatedir=/run" in run_build
    assert "make install DESTDIR=/out" in run_build
    # Build dependencies are deploy/dev.sh's (minus its test tools).
    assert set(apt_packages(build)) <= dev_sh_packages()
    # Only the binaries and data of the install tree cross over.
    for i, a in runtime:
        if i == "COPY":
            assert a.startswith("--from=build /out/"), a
    # The workers' user is created before anything names it.
    made = next(n for n, (i, a) in enumerate(runtime)
                if i == "RUN" and re.search(r"useradd .*\bingressd$", a))
    named = [n for n, (i, a) in enumerate(runtime)
             if "user: ingressd" in a or (i == "USER")]
    assert named and all(n > made for n in named)
    assert not any(i == "USER" for i, _ in runtime)     # master is root
    expose = [a for i, a in runtime if i == "EXPOSE"]
    assert expose == ["80 443 8580"]
    (entry,) = [a for i, a in runtime if i == "ENTRYPOINT"]
    assert entry == '["/usr/sbin/ingressd", "--foreground"]'


def test_dockerfile_packages_exist_and_suffice():
    """Every package the Dockerfile installs is one apt knows, and the
    runtime stage has the package of every library the binary needs."""
    stages = dockerfile()
    pkgs = [p for _, _, cmds in stages for p in apt_packages(cmds)]
    assert not unknown_to_apt(pkgs), "apt-cache policy: unknown packages"
    runtime = set(apt_packages(stages[1][2]))
    assert runtime == {"libev4", "libcurl4", "libjson-c5", "libyaml-0-2",
                       "libssl3", "libseccomp2"}
    r = subprocess.run(["readelf", "-d", BIN], capture_output=True, text=True)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", r.stdout)
    assert needed, r.stdout + r.stderr
    needed = [n for n in needed if not re.match(r"lib(asan|ubsan)", n)]
    # "libev4: /lib/x86_64-linux-gnu/libev.so.4", one line per match.
    r = subprocess.run(["dpkg", "-S"] + ["*/" + n for n in needed],
                       capture_output=True, text=True)
    owners = {}
    for line in r.stdout.splitlines():
        pk, _, f = line.partition(": ")
        for p in pk.split(","):
            owners.setdefault(os.path.basename(f), set()).add(
                p.strip().split(":")[0])
    for lib in needed:
        assert owners.get(lib), "no package owns %s: %s" % (lib, r.stderr)
        assert owners[lib] & (runtime | {"libc6"}), (lib, owners[lib])
