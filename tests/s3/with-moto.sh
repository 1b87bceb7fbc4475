#!/usr/bin/env bash
# Runs a command with a moto S3 server up on a free 127.0.0.1 port (stopped on exit):
#
#   tests/s3/with-moto.sh BUCKET COMMAND [ARGS...]
#
# creates BUCKET (3+ characters) and exports AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP=true, S3_BUCKET, and
# TOWER_OCI_TEST_STORAGE_URL=s3://BUCKET/kit (the object backend's remote test-kit run).
# Needs MOTO_SERVER (from `eval "$(tests/s3/install.sh)"`). Exits with COMMAND's status.
set -euo pipefail
: "${MOTO_SERVER:?MOTO_SERVER is unset: eval \"\$(tests/s3/install.sh)\"}"
[[ $# -ge 2 ]] || { echo "usage: $0 BUCKET COMMAND [ARGS...]" >&2; exit 2; }
bucket="$1"
shift

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
curl -sf -o /dev/null -X PUT "$endpoint/$bucket"
echo "with-moto: $endpoint, bucket $bucket (moto pid $moto)"

export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true S3_BUCKET="$bucket" \
    TOWER_OCI_TEST_STORAGE_URL="s3://$bucket/kit"
status=0
"$@" || status=$?
exit $status
