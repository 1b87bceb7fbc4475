#!/usr/bin/env bash
# Instructions per manifest GET by tag (valgrind --tool=callgrind), ours against ferro-oci-server
# 1.0.0 under the same client: instruction counts, unlike wall-clock rates, repeat on a busy
# machine. Each server runs under callgrind twice, over a fresh tmpfs directory, serving
# `oci-load manifest-get` (4 clients) first LOW then HIGH requests after the same setup; the
# difference of the two totals divided by HIGH - LOW is the cost of one request, start-up and
# setup cancelled out. Every thread of the server is counted (tokio workers, blocking pool).
#
#   bench/callgrind.sh [--no-ferro] [--no-build] [--low N] [--high N]
#
# ferro comes from target/bench-tools (bench/compare.sh installs it; $FERRO_BIN overrides).
# Needs valgrind, curl and python3. Servers bind to 127.0.0.1 on ports the OS picks and are
# stopped by their PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ferro=1 build=1 low=2000 high=12000
while [ $# -gt 0 ]; do
    case "$1" in
        --no-ferro) ferro=0 ;;
        --no-build) build=0 ;;
        --low) low=${2:?--low needs a count}; shift ;;
        --high) high=${2:?--high needs a count}; shift ;;
        *) echo "callgrind.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$high" -gt "$low" ] || { echo "callgrind.sh: --high must exceed --low" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }

if [ "$build" = 1 ]; then
    cargo build --release --example registry --example oci-load >/dev/null
fi
OURS=$ROOT/target/release/examples/registry
LOAD=$ROOT/target/release/examples/oci-load
FERRO_BIN=${FERRO_BIN:-$ROOT/target/bench-tools/bin/ferro-oci-server}
if [ "$ferro" = 1 ] && [ ! -x "$FERRO_BIN" ]; then
    echo "callgrind.sh: $FERRO_BIN missing (run bench/compare.sh once to install it, or --no-ferro)" >&2
    exit 2
fi

work=$(mktemp -d /dev/shm/oci-callgrind.XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# total_ir WHO COUNT: the callgrind total of one server serving COUNT manifest GETs.
total_ir() {
    local who=$1 count=$2 port dir out
    port=$(free_port)
    dir=$(mktemp -d "$work/run.XXXXXX")
    out=$dir/callgrind.out
    if [ "$who" = ferro ]; then
        FERRO_OCI_LISTEN=127.0.0.1:$port FERRO_OCI_STORAGE_DIR=$dir/data RUST_LOG=warn \
            valgrind --tool=callgrind --callgrind-out-file="$out" "$FERRO_BIN" >"$dir/log" 2>&1 &
    else
        RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" "$OURS" \
            --listen "127.0.0.1:$port" --root "$dir/data" --no-fsync >"$dir/log" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.2; done
    "$LOAD" manifest-get --url "http://127.0.0.1:$port" --clients 4 --threads 1 --count "$count" \
        --duration 600 --quiet --json >"$dir/load.json"
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    python3 - "$dir/load.json" "$count" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip().startswith("{")]
r = json.loads(lines[-1])
if r.get("ops") != int(sys.argv[2]) or r.get("errors"):
    sys.exit(f"callgrind.sh: load run incomplete: {r.get('ops')} ops, {r.get('errors')} errors")
EOF
    awk '/^totals:/ {print $2}' "$out"
}

per_request() {
    local who=$1 a b
    a=$(total_ir "$who" "$low")
    b=$(total_ir "$who" "$high")
    python3 -c "print(f'{\"$who\":<8} {($b - $a) / ($high - $low):>10.0f} instructions per manifest GET  (totals {$a} at $low, {$b} at $high)')"
}

echo "manifest GET by tag, 4 clients, instructions per request (callgrind, all threads):"
per_request ours
[ "$ferro" = 1 ] && per_request ferro
