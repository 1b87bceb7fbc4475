#!/usr/bin/env bash
# Builds the example registry, starts it on a free 127.0.0.1 port over a temporary directory,
# runs the conformance suite against it, stops it, and exits with the suite's status.
#
#   tests/conformance/run.sh [conformance.py options, e.g. --allow-skip --verbose]
#
# REGISTRY_LOG=path keeps the server log (default: a file in the temporary directory, printed
# on failure).
# REGISTRY_ARGS="--storage s3://bucket/prefix ..." adds registry flags (split on spaces); with a
# --storage flag in it the temporary --root is left out. CARGO_FEATURES="object-store" builds the
# registry with those features; CARGO_PROFILE=debug uses a debug build (default: release).
# tests/s3/conformance.sh runs this against a moto S3 server.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

profile="${CARGO_PROFILE:-release}"
build=(cargo build --example registry)
[[ "$profile" == release ]] && build+=(--release)
[[ -n "${CARGO_FEATURES:-}" ]] && build+=(--features "$CARGO_FEATURES")
"${build[@]}"
read -r -a extra_args <<<"${REGISTRY_ARGS:-}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/oci-conformance.XXXXXX")"
log="${REGISTRY_LOG:-$tmp/registry.log}"
pid=""
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
url="http://127.0.0.1:$port"

# Start the built binary directly (not through `cargo run`) so that $pid is the server itself.
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
storage_args=(--root "$tmp/data")
for a in "${extra_args[@]}"; do
    [[ "$a" == --storage || "$a" == --storage=* ]] && storage_args=()
done
echo "conformance: registry ${storage_args[*]} ${extra_args[*]}"
NO_COLOR=1 "$target_dir/$profile/examples/registry" --listen "127.0.0.1:$port" \
    "${storage_args[@]}" "${extra_args[@]}" >"$log" 2>&1 &
pid=$!

ready=""
for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "registry exited during startup:" >&2
        cat "$log" >&2
        exit 2
    fi
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/v2/", timeout=1)' "$url" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.1
done
if [[ -z "$ready" ]]; then
    echo "registry did not answer $url/v2/ within 10 s" >&2
    cat "$log" >&2
    exit 2
fi

status=0
python3 "$here/conformance.py" --url "$url" "$@" || status=$?
if [[ $status -ne 0 && -z "${REGISTRY_LOG:-}" ]]; then
    echo "--- last 40 lines of the registry log ---"
    tail -n 40 "$log"
fi
exit $status
