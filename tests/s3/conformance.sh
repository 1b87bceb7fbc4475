#!/usr/bin/env bash
# The conformance suite against `examples/registry --storage s3://conformance/<run>` on a moto S3
# server (started here on a free 127.0.0.1 port, stopped on exit). Needs MOTO_SERVER (from
# `eval "$(tests/s3/install.sh)"`); passes its arguments on to tests/conformance/run.sh.
#
# CARGO_PROFILE=debug (the default here: `cargo test --features object-store` has built it)
# or release picks the registry build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
: "${MOTO_SERVER:?MOTO_SERVER is unset: eval \"\$(tests/s3/install.sh)\"}"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp "${TMPDIR:-/tmp}/moto.XXXXXX")"
"$MOTO_SERVER" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto=$!
cleanup() {
    kill "$moto" 2>/dev/null || true
    wait "$moto" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT

endpoint="http://127.0.0.1:$port"
up=""
for _ in $(seq 1 150); do
    if curl -sf -o /dev/null "$endpoint/"; then up=1; break; fi
    kill -0 "$moto" 2>/dev/null || break
    sleep 0.2
done
if [[ -z "$up" ]]; then
    echo "moto did not answer on $endpoint:" >&2
    cat "$log" >&2
    exit 2
fi
bucket=conformance
curl -sf -o /dev/null -X PUT "$endpoint/$bucket"

export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
export CARGO_FEATURES="${CARGO_FEATURES:-object-store}" CARGO_PROFILE="${CARGO_PROFILE:-debug}"
export REGISTRY_ARGS="--storage s3://$bucket/run-$$ ${REGISTRY_ARGS:-}"
"$repo/tests/conformance/run.sh" "$@"
