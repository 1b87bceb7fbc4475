#!/usr/bin/env bash
# Compares tower-oci's example registry ("ours") with two peers: Debian's docker-registry, the CNCF
# distribution 2.8 ("theirs"), and ferro-oci-server 1.0.0 ("ferro", a Rust registry crate), on the
# same machine, the same storage medium and the same load generator (examples/oci-load). Prints
# ours/theirs ratios per workload, then ours / best peer, each server's peak RSS (VmHWM) and the
# in-memory sha256 rate of one core (measured before and after the load runs; the lower is used).
#
#   bench/compare.sh                 tmpfs storage, ours run with --no-fsync (see below)
#   bench/compare.sh --quick         small counts: a smoke test in about a minute
#   bench/compare.sh --theirs-twice  docker-registry in both slots: checks the script itself
#   bench/compare.sh --only theirs   only docker-registry
#   bench/compare.sh --no-ferro      without ferro-oci-server
#
# Options:
#   --disk            storage in a directory on disk (${TMPDIR:-/var/tmp}) instead of tmpfs
#   --fsync           run ours without --no-fsync. distribution never fsyncs blobs, so the default
#                     (ours with --no-fsync) is the like-for-like comparison; --fsync shows the
#                     cost of durability
#   --only ours|theirs|ferro
#   --no-ferro        skip ferro-oci-server. Otherwise it is installed once with
#                     `cargo install ferro-oci-server --version 1.0.0 --locked` under
#                     target/bench-tools (a few minutes' compile; $FERRO_BIN overrides) and run with
#                     FERRO_OCI_LISTEN=127.0.0.1:PORT, FERRO_OCI_STORAGE_DIR=<dir on the same medium>
#                     and RUST_LOG=warn (override with FERRO_RUST_LOG). Not run with --storage-s3.
#   --theirs-twice    run docker-registry as "ours" too (before examples/registry exists)
#   --quick           fewer and smaller operations
#   --no-build        use the release binaries already built
#   --out DIR         where to keep the JSON lines and logs [target/oci-compare-<time>]
#   --storage-s3      both servers on object storage: one s3s-fs (tests/s3/install.sh, $S3S_FS)
#                     per run over a private directory on the tmpfs, a fresh bucket per workload;
#                     ours with --storage s3://BUCKET/ours (built with --features object-store),
#                     theirs with distribution's S3 driver (rootdirectory /theirs, redirects off).
#                     Its own, smaller workload list (push, pull, chunked, 1 KiB push, manifest GET);
#                     also prints the CPU seconds each server and the S3 server used per workload.
#                     --fsync/--disk do not apply, nor does ferro (it has no S3 storage).
#   --s3-server s3s-fs|moto  [s3s-fs] with moto ($MOTO_SERVER, in memory) a fresh moto_server per
#                     workload instead. Distribution 2.8's S3 driver cannot push to s3s-fs 0.14.1:
#                     it resumes every upload with ListMultipartUploads, which s3s-fs answers 501,
#                     so every blob PUT/PATCH of theirs fails there; moto implements it.
#
# No server logs per request: distribution runs with its access log disabled and log level
# error, ours with RUST_LOG=warn (override with OURS_RUST_LOG), ferro with RUST_LOG=warn. ferro's
# blob store (ferro-blob-store 1.0.0) does not fsync either.
#
# Each workload runs on a freshly started server over an empty storage directory, alternating
# theirs/ours/ferro, so none inherits another's leftovers and slow drift in background load hits
# all alike. Every server is stopped by its PID. Each load run has its own time limit and the
# script skips what is left once it has used 9 minutes, so it ends in under 10 minutes after the
# build (and ferro's one-time install). Needs curl, and python3 for the best-peer table. The
# servers and the load generator share the machine's cores: on a busy
# machine the figures are noisy; the load average is printed before and after.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

disk=0 fsync=0 only="" theirs_twice=0 quick=0 build=1 out="" s3=0 s3_server=s3s-fs no_ferro=0
while [ $# -gt 0 ]; do
    case "$1" in
        --disk) disk=1 ;;
        --fsync) fsync=1 ;;
        --only) only=${2:?--only needs ours, theirs or ferro}; shift ;;
        --no-ferro) no_ferro=1 ;;
        --theirs-twice) theirs_twice=1 ;;
        --quick) quick=1 ;;
        --no-build) build=0 ;;
        --out) out=${2:?--out needs a directory}; shift ;;
        --storage-s3) s3=1 ;;
        --s3-server) s3_server=${2:?--s3-server needs s3s-fs or moto}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$only" in ""|ours|theirs|ferro) ;; *) echo "compare.sh: --only takes ours, theirs or ferro" >&2; exit 2 ;; esac
if [ "$only" = ferro ] && { [ "$no_ferro" = 1 ] || [ "$s3" = 1 ]; }; then
    echo "compare.sh: --only ferro does not go with --no-ferro or --storage-s3" >&2
    exit 2
fi

THEIRS_BIN=${THEIRS_BIN:-/usr/bin/docker-registry}
LOAD=$ROOT/target/release/examples/oci-load
OURS_BIN=$ROOT/target/release/examples/registry
FERRO_VERSION=1.0.0
FERRO_ROOT=$ROOT/target/bench-tools
FERRO_BIN=${FERRO_BIN:-$FERRO_ROOT/bin/ferro-oci-server}
BUDGET=${BUDGET:-540} # seconds of load runs before the rest is skipped (env BUDGET overrides)
SECONDS=0

need_ours=1 need_theirs=1 need_ferro=1
[ "$only" = theirs ] && need_ours=0 && need_ferro=0
[ "$only" = ours ] && need_theirs=0 && need_ferro=0
[ "$only" = ferro ] && need_ours=0 && need_theirs=0
{ [ "$no_ferro" = 1 ] || [ "$s3" = 1 ]; } && need_ferro=0
if [ "$need_theirs" = 1 ] || [ "$theirs_twice" = 1 ]; then
    [ -x "$THEIRS_BIN" ] || { echo "compare.sh: $THEIRS_BIN not found (apt-get install docker-registry)" >&2; exit 1; }
fi
command -v curl >/dev/null || { echo "compare.sh: needs curl" >&2; exit 1; }

if [ "$build" = 1 ]; then
    examples=(--example oci-load)
    [ "$need_ours" = 1 ] && [ "$theirs_twice" = 0 ] && examples+=(--example registry)
    [ "$s3" = 1 ] && examples+=(--features object-store)
    nice -n 10 cargo build --release "${examples[@]}"
    if [ "$need_ferro" = 1 ] && [ "$FERRO_BIN" = "$FERRO_ROOT/bin/ferro-oci-server" ] &&
        ! { [ -x "$FERRO_BIN" ] && grep -q "ferro-oci-server $FERRO_VERSION" "$FERRO_ROOT/.crates.toml" 2>/dev/null; }; then
        echo "compare.sh: cargo install ferro-oci-server $FERRO_VERSION into $FERRO_ROOT (a few minutes; --no-ferro skips it)" >&2
        nice -n 10 cargo install ferro-oci-server --version "$FERRO_VERSION" --locked --root "$FERRO_ROOT" --quiet
    fi
fi
if [ "$need_ferro" = 1 ] && [ ! -x "$FERRO_BIN" ]; then
    echo "compare.sh: $FERRO_BIN missing (drop --no-build to install it, or --no-ferro)" >&2
    exit 1
fi
if [ "$s3" = 1 ]; then
    case "$s3_server" in s3s-fs|moto) ;; *) echo "compare.sh: --s3-server takes s3s-fs or moto" >&2; exit 2 ;; esac
    if [ -z "${S3S_FS:-}" ] || [ -z "${MOTO_SERVER:-}" ]; then
        eval "$(tests/s3/install.sh)"
    fi
    [ -x "$S3S_FS" ] || { echo "compare.sh: s3s-fs not found at $S3S_FS (tests/s3/install.sh)" >&2; exit 1; }
    [ -x "$MOTO_SERVER" ] || { echo "compare.sh: moto_server not found at $MOTO_SERVER (tests/s3/install.sh)" >&2; exit 1; }
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
: > "$out/ferro.jsonl"
: > "$out/hash-rate.jsonl"
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

server_pid="" s3_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$s3_pid" ] && kill -0 "$s3_pid" 2>/dev/null; then
        kill "$s3_pid" 2>/dev/null || true
        wait "$s3_pid" 2>/dev/null || true
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
        # Below Linux's ephemeral range (32768-60999 by default): a port held by an outgoing
        # connection (to the S3 server, say) passes the probe but fails the bind.
        p=$((20000 + RANDOM % 12000))
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
    if [ "$who" = ferro ]; then
        # Configured by environment only; RUST_LOG=info would log every request.
        FERRO_OCI_LISTEN=127.0.0.1:$port FERRO_OCI_STORAGE_DIR=$data \
            RUST_LOG=${FERRO_RUST_LOG:-warn} "$FERRO_BIN" > "$log" 2>&1 &
    elif [ "$who" = theirs ] || [ "$theirs_twice" = 1 ]; then
        local storage_yml="  filesystem:
    rootdirectory: $data"
        if [ "$s3" = 1 ]; then
            # chunksize: the multipart part size (5 MiB, the S3 minimum). Distribution 2.8
            # uses path-style requests whenever regionendpoint is set.
            storage_yml="  s3:
    accesskey: $S3_AK
    secretkey: $S3_SK
    region: us-east-1
    regionendpoint: http://127.0.0.1:$s3_port
    bucket: $bucket
    rootdirectory: /theirs
    secure: false
    v4auth: true
    chunksize: 5242880
  redirect:
    disable: true"
        fi
        cat > "$data.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
$storage_yml
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
EOF
        # aws-sdk-go refuses a custom CA bundle (AWS_CA_BUNDLE) on its HTTP transport; the
        # endpoint is plain HTTP anyway.
        env -u AWS_CA_BUNDLE "$THEIRS_BIN" serve "$data.yml" > "$log" 2>&1 &
    elif [ "$s3" = 1 ]; then
        AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port AWS_ACCESS_KEY_ID=$S3_AK \
            AWS_SECRET_ACCESS_KEY=$S3_SK AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true \
            RUST_LOG=${OURS_RUST_LOG:-warn} \
            "$OURS_BIN" --listen "127.0.0.1:$port" --storage "s3://$bucket/ours" > "$log" 2>&1 &
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

# CPU time (user + system) of process $1 so far, in clock ticks.
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# label | oci-load arguments. Counts cap the bytes stored per workload (a fresh server and
# directory each) at about 2 GiB; --duration caps the time.
if [ "$s3" = 1 ] && [ "$quick" = 1 ]; then
    WORKLOADS=(
        "push-256MiB-x1|push --size 256MiB --clients 1 --count 1 --duration 10"
        "pull-256MiB-x1|pull --size 256MiB --clients 1 --count 2 --duration 10 --verify bytes"
        "chunked-64MiB-8MiB-x1|push-chunked --size 64MiB --chunk-size 8MiB --clients 1 --count 1 --duration 10"
        "push-1KiB-x16|push-small --size 1KiB --clients 16 --count 200 --duration 5"
        "manifest-get-tag-x32|manifest-get --clients 32 --count 500 --duration 5"
    )
elif [ "$s3" = 1 ]; then
    # Smaller counts than on tmpfs: every byte goes through s3s-fs too.
    WORKLOADS=(
        "push-256MiB-x1|push --size 256MiB --clients 1 --count 4 --duration 25"
        "push-64MiB-x2|push --size 64MiB --clients 2 --count 16 --duration 25"
        "pull-256MiB-x1|pull --size 256MiB --clients 1 --count 20 --duration 12 --verify bytes"
        "chunked-64MiB-8MiB-x1|push-chunked --size 64MiB --chunk-size 8MiB --clients 1 --count 8 --duration 25"
        "push-1KiB-x16|push-small --size 1KiB --clients 16 --count 5000 --duration 10"
        "manifest-get-tag-x32|manifest-get --clients 32 --count 20000 --duration 8"
    )
elif [ "$quick" = 1 ]; then
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
[ "$need_ferro" = 1 ] && sides+=(ferro)
ours_name="tower-oci examples/registry"
[ "$theirs_twice" = 1 ] && ours_name="docker-registry (in the ours slot: --theirs-twice)"

# start_s3: starts the S3 server in the background (s3s-fs over $s3_root, or moto in memory),
# sets s3_pid and s3_port and waits until it answers.
start_s3() {
    s3_port=$(pick_port)
    if [ "$s3_server" = s3s-fs ]; then
        "$S3S_FS" --host 127.0.0.1 --port "$s3_port" --access-key "$S3_AK" --secret-key "$S3_SK" \
            "$s3_root" >> "$out/s3s-fs.log" 2>&1 &
    else
        "$MOTO_SERVER" -H 127.0.0.1 -p "$s3_port" >> "$out/moto.log" 2>&1 &
    fi
    s3_pid=$!
    for _ in $(seq 1 200); do
        if [ "$s3_server" = s3s-fs ]; then
            (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && return 0
        else
            curl -fsS -o /dev/null "http://127.0.0.1:$s3_port/" 2>/dev/null && return 0
        fi
        kill -0 "$s3_pid" 2>/dev/null || { echo "compare.sh: $s3_server exited at startup; see $out" >&2; exit 1; }
        sleep 0.1
    done
    echo "compare.sh: $s3_server did not answer within 20 s" >&2
    exit 1
}
stop_s3() {
    [ -n "$s3_pid" ] || return 0
    kill "$s3_pid" 2>/dev/null || true
    wait "$s3_pid" 2>/dev/null || true
    s3_pid=""
}
# make_bucket NAME: a fresh, empty bucket.
make_bucket() {
    if [ "$s3_server" = s3s-fs ]; then
        mkdir -p "$s3_root/$1"
    else
        curl -fsS -o /dev/null -X PUT "http://127.0.0.1:$s3_port/$1" # moto checks no signature
    fi
}

if [ "$s3" = 1 ]; then
    S3_AK=benchaccess S3_SK=benchsecret-$RANDOM$RANDOM
    if [ "$s3_server" = s3s-fs ]; then
        # One s3s-fs for the whole run, over its own directory on the same medium.
        s3_root=$store/s3s-fs
        mkdir -p "$s3_root"
        start_s3
        medium="s3s-fs $("$S3S_FS" --version 2>/dev/null | awk '{print $NF}') on 127.0.0.1 over $medium"
    else
        medium="moto_server $("$(dirname "$MOTO_SERVER")/python" -c 'import moto; print(moto.__version__)') on 127.0.0.1 (in memory; a fresh one per workload)"
    fi
    ours_name="$ours_name --storage s3://BUCKET/ours"
    : > "$out/cpu.txt"
    fsync=1 # not a flag of ours on object storage; keeps --no-fsync out of the header
fi
echo "storage: $medium; ours: $ours_name$([ "$fsync" = 0 ] && [ "$theirs_twice" = 0 ] && echo ' --no-fsync'); theirs: $("$THEIRS_BIN" --version 2>/dev/null | awk '{print $NF}')$([ "$need_ferro" = 1 ] && echo "; ferro: ferro-oci-server $FERRO_VERSION")"
echo "cores: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg); results: $out"

"$LOAD" hash-rate --json >> "$out/hash-rate.jsonl"
failed=0 start_failures=0 n=0
for entry in "${WORKLOADS[@]}"; do
    label=${entry%%|*}
    read -r -a args <<< "${entry#*|}"
    n=$((n + 1))
    bucket=""
    if [ "$s3" = 1 ]; then
        # A fresh bucket per workload (a directory of s3s-fs's root); ours and theirs each
        # under their own prefix, each removed after its run.
        bucket=$(printf 'w%02d-%s' "$n" "$label" | tr 'A-Z' 'a-z')
        if [ "$s3_server" = moto ]; then
            stop_s3
            start_s3
        fi
        make_bucket "$bucket"
    fi
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
        if [ "$s3" = 1 ]; then
            c0=$(cpu_ticks "$server_pid") s0=$(cpu_ticks "$s3_pid") t0=$(date +%s.%N)
        fi
        timeout 120 "$LOAD" "${args[@]}" --url "http://127.0.0.1:$port" --label "$label" --json \
            >> "$out/$who.jsonl" 2> >(sed "s/^/  [$who] /" >&2) || rc=$?
        rss=$(peak_rss_kib)
        echo "$label $who $rss" >> "$out/rss.txt"
        if [ "$s3" = 1 ]; then
            # Includes oci-load's setup (e.g. the pushes before a pull), like the wall time.
            echo "$label $who $(( $(cpu_ticks "$server_pid") - c0 )) $(( $(cpu_ticks "$s3_pid") - s0 )) $(echo "$(date +%s.%N) - $t0" | bc)" >> "$out/cpu.txt"
        fi
        stop_server
        rm -rf "$data" "$data.yml"
        [ "$s3" = 1 ] && [ "$s3_server" = s3s-fs ] && rm -rf "${s3_root:?}/$bucket/$( [ "$who" = theirs ] && echo theirs || echo ours)"
        if [ "$rc" != 0 ]; then
            echo "  [$who] $label: oci-load exited $rc (errors are in the table)" >&2
            [ "$rc" = 124 ] && failed=1
        fi
    done
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg) load_seconds=$SECONDS
"$LOAD" hash-rate --json >> "$out/hash-rate.jsonl"
# The lower of the two sha256 rates goes into ours.jsonl, where `oci-load table` reads it.
hash_line=$(awk -F'"sha256_mb_per_s":' 'NF > 1 { split($2, v, /[,}]/); if (best == "" || v[1] + 0 < low) { low = v[1] + 0; best = $0 } } END { print best }' "$out/hash-rate.jsonl")
[ -n "$hash_line" ] && echo "$hash_line" >> "$out/ours.jsonl"
echo
echo "load average after: $load_after; load runs took ${load_seconds}s (build ${build_seconds}s)"
echo "one-core sha256 rate before and after the load runs: $(awk -F'"sha256_mb_per_s":' 'NF > 1 { split($2, v, /[,}]/); printf "%s%.0f", (n++ ? ", " : ""), v[1] }' "$out/hash-rate.jsonl") MB/s (the tables use the lower)"
echo
"$LOAD" table "$out/ours.jsonl" "$out/theirs.jsonl"
if [ "$need_ferro" = 1 ]; then
    echo
    echo "ours / best peer (theirs = docker-registry, ferro = ferro-oci-server $FERRO_VERSION):"
    python3 bench/peers.py "$out/ours.jsonl" theirs="$out/theirs.jsonl" ferro="$out/ferro.jsonl" ||
        echo "compare.sh: bench/peers.py failed (needs python3)" >&2
fi
echo
echo "peak RSS (VmHWM, MiB) per workload, fresh server each:"
awk -v ferro="$need_ferro" '
    { rss[$1 " " $2] = $3; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
    function mib(k) { return (k == "" ? "-" : sprintf("%.1f", k / 1024)) }
    END {
        printf "%-26s %10s %10s", "workload", "ours", "theirs"; if (ferro) printf " %10s", "ferro"; printf "\n"
        for (i = 0; i < n; i++) {
            w = order[i]; o = rss[w " ours"]; t = rss[w " theirs"]; f = rss[w " ferro"]
            if (o > mo) mo = o; if (t > mt) mt = t; if (f > mf) mf = f
            printf "%-26s %10s %10s", w, mib(o), mib(t); if (ferro) printf " %10s", mib(f); printf "\n"
        }
        printf "%-26s %10.1f %10.1f", "max", mo / 1024, mt / 1024; if (ferro) printf " %10.1f", mf / 1024; printf "\n"
    }' "$out/rss.txt"
if [ "$s3" = 1 ]; then
    echo
    echo "CPU seconds (user+sys) per workload, from server start to end of load (setup included); s3 = $s3_server:"
    awk -v hz="$(getconf CLK_TCK)" '
        { reg[$1 " " $2] = $3 / hz; s3[$1 " " $2] = $4 / hz; wall[$1 " " $2] = $5
          if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
        END {
            printf "%-24s %8s %8s %8s %8s %8s %8s\n", "workload", "ours", "s3", "wall", "theirs", "s3", "wall"
            for (i = 0; i < n; i++) {
                w = order[i]; o = w " ours"; t = w " theirs"
                printf "%-24s %8s %8s %8s %8s %8s %8s\n", w,
                    (o in reg ? sprintf("%.1f", reg[o]) : "-"), (o in s3 ? sprintf("%.1f", s3[o]) : "-"), (o in wall ? sprintf("%.1f", wall[o]) : "-"),
                    (t in reg ? sprintf("%.1f", reg[t]) : "-"), (t in s3 ? sprintf("%.1f", s3[t]) : "-"), (t in wall ? sprintf("%.1f", wall[t]) : "-")
            }
        }' "$out/cpu.txt"
    stop_s3
fi
exit "$failed"
