#!/usr/bin/env bash
# Peak RSS of examples/registry (fsync on, the default) while 2 clients each push a 1 GiB blob and
# then pull it back. Storage on /dev/shm; the server is stopped by its PID.
#   bench/peak-rss.sh [--size 1GiB]
set -euo pipefail
cd "$(dirname "$0")/.."
size=1GiB
[ "${1:-}" = "--size" ] && size=${2:?--size needs a value}
cargo build --release --example registry --example oci-load >/dev/null
BIN=target/release/examples/registry
LOAD=target/release/examples/oci-load
dir=$(mktemp -d /dev/shm/oci-rss.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUST_LOG=warn "$BIN" --listen "127.0.0.1:$port" --root "$dir/data" >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:$port
"$LOAD" push --url "$url" --size "$size" --clients 2 --count 2 --quiet --label "push-$size-x2"
"$LOAD" pull --url "$url" --size "$size" --clients 2 --count 2 --verify bytes --quiet --label "pull-$size-x2" | tail -1
grep VmHWM "/proc/$pid/status"
