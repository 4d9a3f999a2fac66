"""Thousands of endpoints going down at once: no IPC message is lost.

Every endpoint of one Service is 127.0.x.y on a port nobody listens on, so
all of them fail their first probe together and every worker reports, and
the master broadcasts, thousands of transitions within one probe interval.
Afterwards every worker must have applied the latest generation (no
SNAPSHOT_ACK lost), every worker must route as if all endpoints were down
(no HEALTH_STATE lost), and the admin API served by the workers must agree
with the master.  Waits are wait-until with generous timeouts, never timed
assertions.
"""

import json
import os
import re
import subprocess

from conftest import (BIN, T, closed_port, endpoint_slice, free_port, get,
                      ingress, path, rule, service, simple_route, wait_until)

N_ENDPOINTS = int(os.environ.get("FLOOD_N", "3000"))
SLICE = 1000        # endpoints per EndpointSlice, the Kubernetes maximum
HOST = "flood.test"
FLOOD_PROBE = {"ingressd.io/health-interval": "1s",
               "ingressd.io/health-timeout": "1s",
               "ingressd.io/health-fall": "1",
               "ingressd.io/health-rise": "1"}
# What a message dropped on a full socket used to leave in the log.
LOST_RE = re.compile(r"send (?:HEALTH_STATE|HEALTH_REPORT|SNAPSHOT|"
                     r"SNAPSHOT_ACK|STATUS_DOC|STATS|METRICS)|"
                     r"not reading its IPC socket|master not reading")


def addresses(n):
    """<n> distinct loopback addresses, 127.0.1.1 upwards."""
    return ["127.0.%d.%d" % (1 + i // 250, 1 + i % 250) for i in range(n)]


def flood_manifest(port):
    docs = [ingress("flood", [rule(HOST, path("/", "flood"))],
                    annotations=FLOOD_PROBE),
            service("flood", (("http", 80, port),))]
    addrs = addresses(N_ENDPOINTS)
    for i in range(0, N_ENDPOINTS, SLICE):
        docs.append(endpoint_slice("flood", "flood-%d" % (i // SLICE), port,
                                   addresses=addrs[i:i + SLICE]))
    return docs


def ingressctl(d, *args):
    exe = os.path.join(os.path.dirname(BIN), "ingressctl")
    sock = d.config_dict()["control"]["socket"]
    r = subprocess.run([exe, "-s", sock, "-o", "json"] + list(args),
                       capture_output=True, timeout=T * 3)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def flood_backend(doc):
    for b in doc["backends"]:
        if b["name"] == "default/flood:80":
            return b
    return None


def all_down(doc):
    b = flood_backend(doc)
    return (b is not None and len(b["endpoints"]) == N_ENDPOINTS and
            b["available"] == 0 and
            all(h != "up" for h in b["health"]))


def test_mass_failure_loses_no_message(ingressd, backend):
    live = backend("live")
    admin = free_port()
    d = ingressd(manifests={"flood.yaml": flood_manifest(closed_port()),
                            "live.yaml": simple_route("live.test", "live",
                                                      [live])},
                 config={"listen": {"admin": "127.0.0.1:%d" % admin},
                         "health": {"all_down": "fail-closed"}},
                 workers=4)

    # The master saw every endpoint go down...
    wait_until(lambda: all_down(ingressctl(d, "backends")), T * 6,
               interval=0.5, what="all %d endpoints down" % N_ENDPOINTS)

    # ...and a generation published after the flood is acked by everyone.
    gen = d.generation()
    d.write_manifest("live2.yaml", simple_route("live2.test", "live2",
                                                [live]))

    def applied():
        st = ingressctl(d, "status")
        return (st["generation"] > gen and st["applied"] and
                len(st["workers"]) == 4 and
                all(w["generation"] == st["generation"] and w["pid"] > 0
                    for w in st["workers"]))
    wait_until(applied, T * 6, interval=0.2,
               what="every worker applied the generation after the flood")
    assert get(d.port, "live2.test").backend == "live"

    # Every worker routes as if all were down: fail-closed 503, never a
    # 502 from trying a refused endpoint it still thinks up.  Fresh
    # connections spread over the workers' REUSEPORT sockets.
    statuses = [get(d.port, HOST).status for _ in range(24)]
    assert statuses == [503] * 24, statuses

    # The admin API, served by whichever worker accepts, agrees with the
    # master once the next status document is out.
    def admin_agrees():
        for _ in range(12):
            r = get(admin, "admin", "/api/backends")
            if r.status != 200 or not all_down(r.json()):
                return False
        return True
    wait_until(admin_agrees, T * 6, interval=0.5,
               what="/api/backends showing every endpoint down")

    # Nothing was lost or refused on a full socket, no worker stuck.
    lost = LOST_RE.findall(d.log())
    assert not lost, "\n".join(
        l for l in d.log().splitlines() if LOST_RE.search(l))[:3000]
