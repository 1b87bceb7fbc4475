#!/usr/bin/env bash
# Raw s3s-fs throughput, for context to `bench/compare.sh --storage-s3`: one PUT and one GET of
# a 256 MiB object with curl (SigV4, UNSIGNED-PAYLOAD: no client-side hashing), repeated, over
# the same kind of s3s-fs (tests/s3/install.sh) on a private tmpfs directory. No registry in
# between: this is the ceiling s3s-fs plus one HTTP stream give on this machine.
#
#   bench/s3-raw.sh [--moto] [SIZE_MIB [REPEATS]]      [256 3]
#
# --moto: the same against moto_server (in memory, no signature check) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
server=s3s-fs
[ "${1:-}" = --moto ] && { server=moto; shift; }
size_mib=${1:-256} reps=${2:-3}
{ [ -n "${S3S_FS:-}" ] && [ -n "${MOTO_SERVER:-}" ]; } || eval "$(tests/s3/install.sh)"

dir=$(mktemp -d /dev/shm/s3-raw.XXXXXX)
s3_pid=""
cleanup() {
    if [ -n "$s3_pid" ]; then kill "$s3_pid" 2>/dev/null || true; wait "$s3_pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/root/raw-bench"
head -c "$((size_mib << 20))" /dev/urandom > "$dir/object"
ak=rawaccess sk=rawsecret-$RANDOM
port=$((20000 + RANDOM % 12000))
if [ "$server" = s3s-fs ]; then
    "$S3S_FS" --host 127.0.0.1 --port "$port" --access-key "$ak" --secret-key "$sk" "$dir/root" > "$dir/s3s-fs.log" 2>&1 &
    s3_pid=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    version="s3s-fs $("$S3S_FS" --version 2>/dev/null | awk '{print $NF}')"
else
    "$MOTO_SERVER" -H 127.0.0.1 -p "$port" > "$dir/moto.log" 2>&1 &
    s3_pid=$!
    for _ in $(seq 1 200); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done
    curl -fsS -o /dev/null -X PUT "http://127.0.0.1:$port/raw-bench"
    version="moto_server $("$(dirname "$MOTO_SERVER")/python" -c 'import moto; print(moto.__version__)')"
fi

url=http://127.0.0.1:$port/raw-bench/object
sig=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$ak:$sk" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$s3_pid/stat"; }
hz=$(getconf CLK_TCK)
echo "$version, ${size_mib} MiB object, curl; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$reps"); do
    for op in PUT GET; do
        c0=$(ticks)
        if [ "$op" = PUT ]; then
            t=$(curl -fsS "${sig[@]}" -T "$dir/object" -o /dev/null -w '%{time_total}' "$url")
        else
            t=$(curl -fsS "${sig[@]}" -o /dev/null -w '%{time_total}' "$url")
        fi
        c=$(( $(ticks) - c0 ))
        awk -v op="$op" -v i="$i" -v t="$t" -v m="$size_mib" -v c="$c" -v hz="$hz" \
            'BEGIN { printf "%s #%d: %.2f s, %.0f MiB/s, server CPU %.2f s\n", op, i, t, m / t, c / hz }'
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
