#!/usr/bin/env bash
# Compares tower-oci's example registry ("ours") with Debian's docker-registry, the CNCF
# distribution 2.8 ("theirs"), on the same machine, the same storage medium and the same load
# generator (examples/oci-load). Prints ours/theirs ratios per workload, each server's peak RSS
# (VmHWM) and the in-memory sha256 rate of one core.
#
#   bench/compare.sh                 tmpfs storage, ours run with --no-fsync (see below)
#   bench/compare.sh --quick         small counts: a smoke test in about a minute
#   bench/compare.sh --theirs-twice  docker-registry in both slots: checks the script itself
#   bench/compare.sh --only theirs   only docker-registry
#
# Options:
#   --disk            storage in a directory on disk (${TMPDIR:-/var/tmp}) instead of tmpfs
#   --fsync           run ours without --no-fsync. distribution never fsyncs blobs, so the default
#                     (ours with --no-fsync) is the like-for-like comparison; --fsync shows the
#                     cost of durability
#   --only ours|theirs
#   --theirs-twice    run docker-registry as "ours" too (before examples/registry exists)
#   --quick           fewer and smaller operations
#   --no-build        use the release binaries already built
#   --out DIR         where to keep the JSON lines and logs [target/oci-compare-<time>]
#
# Neither server logs per request: distribution runs with its access log disabled and log level
# error, ours with RUST_LOG=warn (override with OURS_RUST_LOG).
#
# Each workload runs on a freshly started server over an empty storage directory, alternating
# theirs/ours, so neither inherits the other's leftovers and slow drift in background load hits
# both alike. Every server is stopped by its PID. Each load run has its own time limit and the
# script skips what is left once it has used 9 minutes, so it ends in under 10 minutes after the
# build. Needs curl. Both servers and the load generator share the machine's cores: on a busy
# machine the figures are noisy; the load average is printed before and after.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

disk=0 fsync=0 only="" theirs_twice=0 quick=0 build=1 out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --disk) disk=1 ;;
        --fsync) fsync=1 ;;
        --only) only=${2:?--only needs ours or theirs}; shift ;;
        --theirs-twice) theirs_twice=1 ;;
        --quick) quick=1 ;;
        --no-build) build=0 ;;
        --out) out=${2:?--out needs a directory}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$only" in ""|ours|theirs) ;; *) echo "compare.sh: --only takes ours or theirs" >&2; exit 2 ;; esac

THEIRS_BIN=${THEIRS_BIN:-/usr/bin/docker-registry}
LOAD=$ROOT/target/release/examples/oci-load
OURS_BIN=$ROOT/target/release/examples/registry
BUDGET=540 # seconds of load runs before the rest is skipped
SECONDS=0

need_ours=1 need_theirs=1
[ "$only" = theirs ] && need_ours=0
[ "$only" = ours ] && need_theirs=0
if [ "$need_theirs" = 1 ] || [ "$theirs_twice" = 1 ]; then
    [ -x "$THEIRS_BIN" ] || { echo "compare.sh: $THEIRS_BIN not found (apt-get install docker-registry)" >&2; exit 1; }
fi
command -v curl >/dev/null || { echo "compare.sh: needs curl" >&2; exit 1; }

if [ "$build" = 1 ]; then
    examples=(--example oci-load)
    [ "$need_ours" = 1 ] && [ "$theirs_twice" = 0 ] && examples+=(--example registry)
    nice -n 10 cargo build --release "${examples[@]}"
fi
[ -x "$LOAD" ] || { echo "compare.sh: $LOAD missing (drop --no-build)" >&2; exit 1; }
if [ "$need_ours" = 1 ] && [ "$theirs_twice" = 0 ] && [ ! -x "$OURS_BIN" ]; then
    echo "compare.sh: $OURS_BIN missing; use --only theirs or --theirs-twice until it exists" >&2
    exit 1
fi
build_seconds=$SECONDS
SECONDS=0

out=${out:-$ROOT/target/oci-compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
: > "$out/ours.jsonl"
: > "$out/theirs.jsonl"
: > "$out/rss.txt"

# Storage: a private tmpfs mount if we may mount, else /dev/shm, or disk with --disk.
mounted=""
if [ "$disk" = 1 ]; then
    store=$(mktemp -d "${TMPDIR:-/var/tmp}/oci-compare.XXXXXX")
    medium="disk ($(df -P "$store" | awk 'NR==2 {print $1}'))"
else
    store=$(mktemp -d /tmp/oci-compare.XXXXXX)
    if mount -t tmpfs -o size=6g,mode=0700 tmpfs "$store" 2>/dev/null; then
        mounted=$store
        medium="tmpfs (private mount, 6 GiB)"
    else
        rmdir "$store"
        store=$(mktemp -d /dev/shm/oci-compare.XXXXXX)
        medium="tmpfs (/dev/shm)"
    fi
fi

server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$mounted" ]; then
        umount "$mounted" 2>/dev/null || true
    fi
    rm -rf "$store"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pick_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "compare.sh: no free port found" >&2
    return 1
}

# start_server ours|theirs DATA_DIR PORT LOG: starts in the background, sets server_pid.
start_server() {
    local who=$1 data=$2 port=$3 log=$4
    mkdir -p "$data"
    if [ "$who" = theirs ] || [ "$theirs_twice" = 1 ]; then
        cat > "$data.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
EOF
        "$THEIRS_BIN" serve "$data.yml" > "$log" 2>&1 &
    else
        local args=(--listen "127.0.0.1:$port" --root "$data")
        [ "$fsync" = 0 ] && args+=(--no-fsync)
        # No per-request log lines on either side: distribution's access log is off above.
        RUST_LOG=${OURS_RUST_LOG:-warn} "$OURS_BIN" "${args[@]}" > "$log" 2>&1 &
    fi
    server_pid=$!
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "compare.sh: $who server exited at startup; its log:" >&2
            cat "$log" >&2
            [ "$who" = ours ] && [ "$fsync" = 0 ] && echo "(does examples/registry take --no-fsync yet? try --fsync)" >&2
            server_pid=""
            return 1
        fi
        sleep 0.1
    done
    echo "compare.sh: $who server did not answer /v2/ within 10 s; its log:" >&2
    head -c 2000 "$log" >&2
    stop_server
    return 1
}

stop_server() {
    local pid=$server_pid
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    server_pid=""
}

# Peak resident set of the running server, in KiB (the kernel keeps the high-water mark).
peak_rss_kib() {
    awk '/^VmHWM:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0
}

# label | oci-load arguments. Counts cap the bytes stored per workload (a fresh server and
# directory each) at about 2 GiB; --duration caps the time.
if [ "$quick" = 1 ]; then
    WORKLOADS=(
        "push-256MiB-x1|push --size 256MiB --clients 1 --count 2 --duration 10"
        "push-64MiB-x2|push --size 64MiB --clients 2 --count 4 --duration 10"
        "push-single-256MiB-x1|push --mode single --size 256MiB --clients 1 --count 2 --duration 10"
        "pull-256MiB-x1|pull --size 256MiB --clients 1 --count 4 --duration 10 --verify bytes"
        "pull-range-1MiB-x2|pull-range --size 256MiB --range-size 1MiB --clients 2 --count 200 --duration 5 --verify bytes"
        "chunked-64MiB-8MiB-x1|push-chunked --size 64MiB --chunk-size 8MiB --clients 1 --count 2 --duration 10"
        "push-1KiB-x16|push-small --size 1KiB --clients 16 --count 1000 --duration 5"
        "manifest-get-tag-x32|manifest-get --clients 32 --count 2000 --duration 5"
        "manifest-head-tag-x32|manifest-head --clients 32 --count 2000 --duration 5"
        "tags-list-100-x4|tags-list --tags 100 --clients 4 --count 500 --duration 5"
    )
else
    WORKLOADS=(
        "push-256MiB-x1|push --size 256MiB --clients 1 --count 8 --duration 25"
        "push-64MiB-x2|push --size 64MiB --clients 2 --count 32 --duration 25"
        "push-single-256MiB-x1|push --mode single --size 256MiB --clients 1 --count 8 --duration 25"
        "pull-256MiB-x1|pull --size 256MiB --clients 1 --count 60 --duration 12 --verify bytes"
        "pull-range-1MiB-x2|pull-range --size 256MiB --range-size 1MiB --clients 2 --count 20000 --duration 8 --verify bytes"
        "chunked-64MiB-8MiB-x1|push-chunked --size 64MiB --chunk-size 8MiB --clients 1 --count 24 --duration 25"
        "push-1KiB-x16|push-small --size 1KiB --clients 16 --count 20000 --duration 12"
        "manifest-get-tag-x32|manifest-get --clients 32 --count 50000 --duration 12"
        "manifest-head-tag-x32|manifest-head --clients 32 --count 50000 --duration 10"
        "tags-list-100-x4|tags-list --tags 100 --clients 4 --count 20000 --duration 8"
    )
fi

sides=()
[ "$need_theirs" = 1 ] && sides+=(theirs)
[ "$need_ours" = 1 ] && sides+=(ours)
ours_name="tower-oci examples/registry"
[ "$theirs_twice" = 1 ] && ours_name="docker-registry (in the ours slot: --theirs-twice)"

echo "storage: $medium; ours: $ours_name$([ "$fsync" = 0 ] && [ "$theirs_twice" = 0 ] && echo ' --no-fsync'); theirs: $("$THEIRS_BIN" --version 2>/dev/null | awk '{print $NF}')"
echo "cores: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg); results: $out"

"$LOAD" hash-rate --json >> "$out/ours.jsonl"
failed=0 start_failures=0
for entry in "${WORKLOADS[@]}"; do
    label=${entry%%|*}
    read -r -a args <<< "${entry#*|}"
    for who in "${sides[@]}"; do
        if [ "$SECONDS" -ge "$BUDGET" ]; then
            echo "compare.sh: time budget used up, skipping $label on $who" >&2
            continue
        fi
        data=$store/$who-$label
        port=$(pick_port)
        if ! start_server "$who" "$data" "$port" "$out/$who-$label.log"; then
            failed=1
            rm -rf "$data" "$data.yml"
            start_failures=$((start_failures + 1))
            if [ "$start_failures" -ge 2 ]; then
                echo "compare.sh: a server failed to start twice; giving up" >&2
                break 2
            fi
            continue
        fi
        rc=0
        timeout 120 "$LOAD" "${args[@]}" --url "http://127.0.0.1:$port" --label "$label" --json \
            >> "$out/$who.jsonl" 2> >(sed "s/^/  [$who] /" >&2) || rc=$?
        rss=$(peak_rss_kib)
        echo "$label $who $rss" >> "$out/rss.txt"
        stop_server
        rm -rf "$data" "$data.yml"
        if [ "$rc" != 0 ]; then
            echo "  [$who] $label: oci-load exited $rc (errors are in the table)" >&2
            [ "$rc" = 124 ] && failed=1
        fi
    done
done

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); load runs took ${SECONDS}s (build ${build_seconds}s)"
echo
"$LOAD" table "$out/ours.jsonl" "$out/theirs.jsonl"
echo
echo "peak RSS (VmHWM, MiB) per workload, fresh server each:"
awk '
    { rss[$1 " " $2] = $3; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
    END {
        printf "%-26s %10s %10s\n", "workload", "ours", "theirs"
        for (i = 0; i < n; i++) {
            w = order[i]; o = rss[w " ours"]; t = rss[w " theirs"]
            if (o > mo) mo = o; if (t > mt) mt = t
            printf "%-26s %10s %10s\n", w, (o == "" ? "-" : sprintf("%.1f", o / 1024)), (t == "" ? "-" : sprintf("%.1f", t / 1024))
        }
        printf "%-26s %10.1f %10.1f\n", "max", mo / 1024, mt / 1024
    }' "$out/rss.txt"
exit "$failed"
