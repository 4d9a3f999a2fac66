"""The command line: --version, --check, a bad config at start."""

import os
import re
import subprocess

from conftest import BIN, T, Ingressd, free_port, to_yaml


def run(*args, cwd=None):
    return subprocess.run([BIN] + list(args), capture_output=True,
                          text=True, timeout=T, cwd=cwd)


def good_config(tmp_path):
    d = Ingressd(str(tmp_path / "cli"))
    d.port = free_port()
    d.write_config()
    return d


def test_version():
    p = run("--version")
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert "ingressd" in out and re.search(r"\d+\.\d+\.\d+", out), out


def test_check_good_config(tmp_path):
    d = good_config(tmp_path)
    try:
        p = run("--check", "--config", d.config_path)
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        d.cleanup()


def test_check_demo_config():
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    p = run("--check", "--config", os.path.join(root, "conf", "demo.yaml"))
    assert p.returncode == 0, p.stdout + p.stderr


BAD_CONFIGS = [
    # (text, line of the error)
    ("listen:\n  http: 127.0.0.1:1\nworkers: banana\n", 3),
    ("listen:\n  http: 127.0.0.1:1\ntimeouts:\n  client_header: 10 parsecs\n", 4),
    ("listen:\n  http: 127.0.0.1:99999\n", 2),
    ("listen:\n  http: 127.0.0.1:1\nno_such_key: 1\n", 3),
    ("listen:\n  http: 127.0.0.1:1\nlimits:\n  max_header_size: -3k\n", 4),
    ("listen:\n  http: 127.0.0.1:1\nsandbox: maybe\n", 3),
    # YAML syntax error: libyaml marks where it noticed (line 2 or EOF)
    ("listen:\n  http: [127.0.0.1:1\n", (2, 3)),
]


def test_check_bad_configs_name_file_line_col(tmp_path):
    for i, (text, lines) in enumerate(BAD_CONFIGS):
        lines = lines if isinstance(lines, tuple) else (lines,)
        path = str(tmp_path / ("bad%d.yaml" % i))
        with open(path, "w") as f:
            f.write(text)
        p = run("--check", "--config", path)
        out = p.stdout + p.stderr
        assert p.returncode == 1, "exit %d for %r: %s" % (p.returncode, text, out)
        assert re.search(re.escape(path) + r":(%s):\d+: \S" %
                         "|".join(map(str, lines)), out), \
            "no %s:%s:COL: reason for %r in %r" % (path, lines, text, out)


def test_check_invalid_manifest_fails_naming_file_and_line(tmp_path):
    """--check is for operators about to deploy: an invalid manifest fails
    it, naming the file, the document and the line; a route problem (a
    Service that does not exist yet) is only a warning."""
    d = good_config(tmp_path)
    try:
        with open(os.path.join(d.mdir, "bad.yaml"), "w") as f:
            f.write("apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
                    "metadata: {name: x}\nspec:\n  rules:\n"
                    "  - host: a.test\n    http:\n      paths:\n"
                    "      - path: /\n        pathType: Regex\n"
                    "        backend: {service: {name: s, port: {number: 80}}}\n")
        p = run("--check", "--config", d.config_path)
        out = p.stdout + p.stderr
        assert p.returncode == 1, out
        assert re.search(r"bad\.yaml doc 1 \(line \d+\): .*pathType", out), out
        os.unlink(os.path.join(d.mdir, "bad.yaml"))
        with open(os.path.join(d.mdir, "ok.yaml"), "w") as f:
            f.write("apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
                    "metadata: {name: x}\nspec:\n  rules:\n"
                    "  - host: a.test\n    http:\n      paths:\n"
                    "      - path: /\n        pathType: Prefix\n"
                    "        backend: {service: {name: s, port: {number: 80}}}\n")
        p = run("--check", "--config", d.config_path)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "warning" in p.stderr
    finally:
        d.cleanup()


def test_check_missing_file(tmp_path):
    p = run("--check", "--config", str(tmp_path / "nope.yaml"))
    assert p.returncode != 0
    assert "nope.yaml" in p.stdout + p.stderr


def test_bad_config_at_start_exits_nonzero(tmp_path):
    path = str(tmp_path / "bad.yaml")
    with open(path, "w") as f:
        f.write(to_yaml({"listen": {"http": "127.0.0.1:%d" % free_port()},
                         "workers": 2, "provider": {"kind": "files",
                                                    "dir": "."}}))
        f.write("limits:\n  max_headers: lots\n")
    p = run("--config", path, "--foreground")
    assert p.returncode != 0
    assert re.search(re.escape(path) + r":\d+:\d+: ", p.stdout + p.stderr), \
        p.stdout + p.stderr
