#!/usr/bin/env bash
# deploy/dev.sh: build, demo and test ingressd on a Debian 12 machine.
#
#   deploy/dev.sh deps       install the missing Debian packages (apt-get)
#   deploy/dev.sh build      autoreconf if needed, configure in ./build, make
#   deploy/dev.sh demo       the seed article's demo on http://127.0.0.1:8080
#   deploy/dev.sh test       unit tests, fuzz replays, ASan/UBSan unit tests,
#                            man page lint, integration tests (pytest, on
#                            a --enable-test-hooks build in build-test)
#   deploy/dev.sh distcheck  make distcheck
#   deploy/dev.sh fuzz       libFuzzer runs (FUZZ_SECONDS per target)
#   deploy/dev.sh bench      tests/bench/run (wrk: ingressd, nginx, HAProxy)
#
# Works from any directory: it changes to the repository root first.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PY=/usr/bin/python3	# the PATH python3 may be a pyenv build without pytest
NPROC=$(nproc 2>/dev/null || echo 2)

# openssl: the TLS integration tests make their certificates with it.
# systemd: only for `systemd-analyze verify` of the unit (harmless in a
# container: nothing is started).
BASE_PKGS="build-essential autoconf automake libtool pkg-config libev-dev
libcurl4-openssl-dev libjson-c-dev libyaml-dev libssl-dev libseccomp-dev check
python3 python3-pytest python3-yaml curl clang mandoc netcat-openbsd systemd
openssl"
BENCH_PKGS="wrk nginx-light haproxy"
# kubectl for the fake API server's client test; a kubectl from another
# package (a cloud SDK's, say) conflicts with it and serves as well.
KUBE_PKGS="kubernetes-client openssl"
# The dashboard's browser test loads it in a headless Chromium.
TEST_PKGS="chromium"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'dev.sh: %s\n' "$*" >&2; exit 1; }

have_pkg() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null |
	    grep -q 'install ok installed'
}

# install_pkgs PKG...: installs those not yet installed; apt-get update runs
# only when something is missing, so a ready machine needs no network.
install_pkgs() {
	local missing=() p sudo=
	command -v dpkg-query >/dev/null 2>&1 ||
	    die "dpkg-query not found: this script expects Debian 12"
	for p in "$@"; do
		have_pkg "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 ||
		    die "need root to install: ${missing[*]}"
		sudo=sudo
	fi
	say "installing: ${missing[*]}"
	$sudo apt-get update
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y \
	    --no-install-recommends "${missing[@]}"
}

cmd_deps() {
	# shellcheck disable=SC2086
	install_pkgs $BASE_PKGS
	# Any kubectl will do; Debian's package only when there is none.
	if ! command -v kubectl >/dev/null 2>&1; then
		# shellcheck disable=SC2086
		install_pkgs $KUBE_PKGS
	fi
}

# configure_in DIR [VAR=VALUE...] [--option...]: configures out of tree in
# DIR unless it already holds a Makefile (make then reruns config.status).
configure_in() {
	local dir=$1 a vars=() opts=(); shift
	for a in "$@"; do
		case $a in
		--*) opts+=("$a") ;;
		*) vars+=("$a") ;;
		esac
	done
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		say "configure in $dir"
		(cd "$dir" && env ${vars[@]+"${vars[@]}"} "$ROOT/configure" -q \
		    ${opts[@]+"${opts[@]}"})
	fi
}

cmd_build() {
	if [ ! -x configure ] || [ configure.ac -nt configure ] ||
	    [ Makefile.am -nt configure ]; then
		say "autoreconf -fi"
		autoreconf -fi
	fi
	configure_in build
	say "make in build"
	make -C build -j"$NPROC"
}

# The demo backends: one Python process, one thread per port, each answering
# with its Service name and "pod" address.  The ports are the ones the
# EndpointSlices in conf/demo name.
DEMO_BACKENDS="test-www:18081 test-www:18082 test-api:18083 test:18084"

start_demo_backends() {
	# shellcheck disable=SC2086
	"$PY" - $DEMO_BACKENDS <<'EOF' &
import http.server, json, socketserver, sys, threading

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = json.dumps({
            "service": self.server.svc,
            "pod": "127.0.0.1:%d" % self.server.server_address[1],
            "host": self.headers.get("Host"),
            "path": self.path,
            "x-forwarded-for": self.headers.get("X-Forwarded-For"),
            "x-request-id": self.headers.get("X-Request-Id"),
        }, indent=1).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    do_HEAD = do_GET
    do_POST = do_GET
    def log_message(self, fmt, *args):
        sys.stderr.write("backend %s:%d: %s\n" % (self.server.svc,
            self.server.server_address[1], fmt % args))

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

threads = []
for arg in sys.argv[1:]:
    svc, port = arg.split(":")
    s = Server(("127.0.0.1", int(port)), Handler)
    s.svc = svc
    t = threading.Thread(target=s.serve_forever, daemon=True)
    t.start()
    threads.append(t)
for t in threads:
    t.join()
EOF
	BACKENDS_PID=$!
}

cmd_demo() {
	cmd_deps
	cmd_build
	BACKENDS_PID=
	trap '[ -n "$BACKENDS_PID" ] && kill "$BACKENDS_PID" 2>/dev/null; wait 2>/dev/null || true' EXIT
	start_demo_backends
	cat <<'EOF'

ingressd demo: the seed article's Ingresses on http://127.0.0.1:8080
(backends on 127.0.0.1:18081-18084, admin on 127.0.0.1:8580). Try:

  curl -H 'Host: traefik.www.test.com' http://127.0.0.1:8080/
  curl -H 'Host: traefik.www.test.com' http://127.0.0.1:8080/   # again: two pods, round-robin
  curl -H 'Host: traefik.api.test.com' http://127.0.0.1:8080/users
  curl -H 'Host: test.com' http://127.0.0.1:8080/
  curl -H 'Host: traefik-ui.local' http://127.0.0.1:8080/healthz   # the admin listener (the article's UI port)
  curl -i -H 'Host: unknown.test.com' http://127.0.0.1:8080/    # 404

Edit conf/demo/*.yaml while it runs: routes change without a restart.
Ctrl-C stops everything.

EOF
	build/ingressd --config conf/demo.yaml --foreground
}

cmd_test() {
	local failed=() rc=0
	cmd_deps
	# shellcheck disable=SC2086
	install_pkgs $TEST_PKGS
	cmd_build

	say "make check (unit tests, fuzz corpus replay)"
	make -C build -j"$NPROC" check || failed+=("make check")

	say "make check under ASan+UBSan in build-asan"
	local san="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer"
	if configure_in build-asan CFLAGS="$san" LDFLAGS="$san" \
	    --with-Werror &&
	    make -C build-asan -j"$NPROC"; then
		# Sanitized code on a shared machine: more time per Check test.
		CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-3} \
		ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		    make -C build-asan -j"$NPROC" check ||
		    failed+=("asan make check")
	else
		failed+=("asan build")
	fi

	# -Wwarning: style notes such as "referenced manual not found" for our
	# own not yet installed pages are not failures.
	say "mandoc -Tlint man/*"
	mandoc -Tlint -Wwarning man/*.[0-9] || failed+=("mandoc lint")

	# The tarball builds and passes its own make check from a read-only
	# source tree: what `make dist` ships is complete.
	say "make distcheck"
	make -C build distcheck >build/distcheck.log 2>&1 ||
	    { tail -40 build/distcheck.log; failed+=("make distcheck"); }

	if [ ${#failed[@]} -gt 0 ]; then
		say "FAILED before integration tests: ${failed[*]}"
		rc=1
	fi
	# The integration tests run a build of their own with the test hooks
	# (a request header that makes a worker try forbidden system calls);
	# build/ stays what ./configure makes by default.
	say "make in build-test (--enable-test-hooks)"
	if ! { configure_in build-test --enable-test-hooks &&
	    make -C build-test -j"$NPROC"; }; then
		say "FAILED: test-hooks build"
		return 1
	fi
	say "integration tests (pytest)"
	PYTHONDONTWRITEBYTECODE=1 INGRESSD_BIN="$ROOT/build-test/ingressd" \
	    "$PY" -m pytest -q \
	    -p no:cacheprovider tests/integration || rc=1
	return $rc
}

cmd_distcheck() {
	cmd_deps
	cmd_build
	make -C build distcheck
}

cmd_fuzz() {
	cmd_deps
	cmd_build
	make -C build fuzz
}

cmd_bench() {
	cmd_deps
	# shellcheck disable=SC2086
	install_pkgs $BENCH_PKGS
	cmd_build
	INGRESSD_BIN="$ROOT/build/ingressd" tests/bench/run "$@"
}

usage() {
	sed -n '2,13s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case $cmd in
deps)		cmd_deps ;;
build)		cmd_deps; cmd_build ;;
demo)		cmd_demo ;;
test)		cmd_test ;;
distcheck)	cmd_distcheck ;;
fuzz)		cmd_fuzz ;;
bench)		cmd_bench "$@" ;;
*)		usage ;;
esac
