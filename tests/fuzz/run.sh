#!/bin/sh
# tests/fuzz/run.sh SRCDIR BUILDDIR TARGET...: libFuzzer runs (`make fuzz`).
#
# For each TARGET, builds SRCDIR/tests/fuzz/fuzz_TARGET.c with the decoder
# sources it may reach (common/*.c and the pure master/worker modules) under
# -fsanitize=fuzzer,address,undefined, then runs it for FUZZ_SECONDS
# (default 60) on a scratch copy of SRCDIR/tests/fuzz/corpus/TARGET, so new
# inputs never land in the tree.  Exits nonzero on the first crash, leak,
# sanitizer report or build failure; crash inputs are kept and named.
#
# Environment: FUZZ_CC (default clang), CFLAGS_EXTRA, LIBS_EXTRA (include
# flags and libraries of the dependencies, passed by `make fuzz`),
# FUZZ_SECONDS.
set -eu

if [ $# -lt 3 ]; then
	echo "usage: $0 SRCDIR BUILDDIR TARGET..." >&2
	exit 2
fi
src=$1 build=$2
shift 2
cc=${FUZZ_CC:-clang}
secs=${FUZZ_SECONDS:-60}
san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

command -v "$cc" >/dev/null 2>&1 ||
    { echo "$0: $cc not found (apt-get install clang)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ingressd-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

sources="$src/common/*.c $src/master/objects.c $src/master/manifest.c \
$src/master/store.c $src/master/compile.c $src/master/control.c \
$src/worker/router.c $src/master/kube_stream.c $src/master/kubeconfig.c \
$src/master/tls_certs.c"

status=0
for t in "$@"; do
	harness=$src/tests/fuzz/fuzz_$t.c
	if [ ! -f "$harness" ]; then
		echo "fuzz $t: $harness missing" >&2
		status=1
		continue
	fi
	bin=$work/fuzz_$t
	echo "fuzz $t: building" >&2
	# shellcheck disable=SC2086
	if ! "$cc" -g -O1 -fno-omit-frame-pointer $san \
	    -I "$src" -I "$build" ${CFLAGS_EXTRA:-} \
	    -o "$bin" "$harness" $sources ${LIBS_EXTRA:-}; then
		echo "fuzz $t: build failed" >&2
		status=1
		continue
	fi
	corpus=$work/corpus_$t
	mkdir -p "$corpus"
	if [ -d "$src/tests/fuzz/corpus/$t" ]; then
		cp -R "$src/tests/fuzz/corpus/$t/." "$corpus/"
	fi
	crashes=$build/fuzz-crashes/$t
	mkdir -p "$crashes"
	echo "fuzz $t: running ${secs}s" >&2
	if ! (cd "$work" && "$bin" -max_total_time="$secs" \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$crashes/" "$corpus"); then
		echo "fuzz $t: FAILED, inputs in $crashes" >&2
		status=1
	else
		rmdir "$crashes" 2>/dev/null || true
		echo "fuzz $t: ok" >&2
	fi
done
exit $status
