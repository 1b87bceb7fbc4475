#!/usr/bin/env bash
# Interop driver: starts a registry on a free loopback port with a temporary root, runs every client
# suite against it, stops it by PID, and exits non-zero if any suite failed.
#
#   tests/interop/run.sh                                  # build + start examples/registry (default)
#   tests/interop/run.sh --registry-cmd docker-registry   # baseline: Debian's CNCF distribution 2.8
#   tests/interop/run.sh --registry 127.0.0.1:5000        # use a registry that is already running
#   tests/interop/run.sh --suites skopeo,oras             # run only some suites
#   tests/interop/run.sh --keep                           # keep temp dirs and logs for inspection
#   tests/interop/run.sh --profile dev                    # use the debug build of examples/registry
#   tests/interop/run.sh --features object-store --storage s3://bucket/prefix
#                                                         # registry on object storage (AWS_* env;
#                                                         # tests/s3/interop.sh runs it on moto)
#
# Like tests/conformance/run.sh, REGISTRY_ARGS="..." adds registry flags (split on spaces; a
# --storage flag in it replaces the temporary --root) and CARGO_FEATURES="..." builds with features.
# Under CI=true a client that is not installed fails its suite; elsewhere it is reported as skipped.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ALL_SUITES="protocol_quirks skopeo podman buildah oras oci_client docker dxf"

registry_cmd=examples
registry_addr=""
suites="$ALL_SUITES"
keep=0
profile=release
features="${CARGO_FEATURES:-}"
read -r -a registry_args <<<"${REGISTRY_ARGS:-}"
while [ $# -gt 0 ]; do
    case "$1" in
    --registry-cmd) registry_cmd="$2"; shift 2 ;;
    --registry) registry_addr="$2"; shift 2 ;;
    --suites) suites="${2//,/ }"; shift 2 ;;
    --keep) keep=1; shift ;;
    --profile) profile="$2"; shift 2 ;;
    --features) features="$2"; shift 2 ;;
    --storage) registry_args+=(--storage "$2"); shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/interop-run.XXXXXX")"
export INTEROP_TMP="$WORK"
REG_PID=""
storage=""

cleanup() {
    if [ -n "$REG_PID" ] && kill -0 "$REG_PID" 2>/dev/null; then
        kill "$REG_PID" 2>/dev/null || true
        # Graceful shutdown lets open connections finish: give it 10 s, then SIGKILL.
        for _ in $(seq 1 50); do kill -0 "$REG_PID" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$REG_PID" 2>/dev/null; then
            echo "interop: registry (pid $REG_PID) still running 10 s after SIGTERM; sending SIGKILL" >&2
            kill -9 "$REG_PID" 2>/dev/null || true
        fi
        wait "$REG_PID" 2>/dev/null || true
    fi
    if [ "$keep" = 1 ]; then
        echo "interop: kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_registry() {
    local port bin
    port="$(free_port)"
    mkdir -p "$WORK/root"
    case "$registry_cmd" in
    examples)
        local build=(cargo build --profile "$profile" --example registry) a
        [ -n "$features" ] && build+=(--features "$features")
        echo "interop: building examples/registry ($profile profile${features:+, features $features})"
        (cd "$ROOT" && nice -n 10 "${build[@]}")
        local dir=$profile
        [ "$profile" = dev ] && dir=debug
        bin="${CARGO_TARGET_DIR:-$ROOT/target}/$dir/examples/registry"
        local storage_args=(--root "$WORK/root")
        for a in ${registry_args[@]+"${registry_args[@]}"}; do
            if [ "$a" = --storage ] || [[ "$a" == --storage=* ]]; then storage_args=(); fi
        done
        storage="$(echo ${storage_args[@]+"${storage_args[@]}"} ${registry_args[@]+"${registry_args[@]}"})"
        "$bin" --listen "127.0.0.1:$port" ${storage_args[@]+"${storage_args[@]}"} \
            ${registry_args[@]+"${registry_args[@]}"} >"$WORK/registry.log" 2>&1 &
        REG_PID=$!
        ;;
    docker-registry)
        [ "${#registry_args[@]}" = 0 ] || { echo "interop: --storage/REGISTRY_ARGS apply to examples/registry only" >&2; exit 2; }
        storage="--root $WORK/root"
        command -v docker-registry >/dev/null || { echo "interop: docker-registry is not installed (apt-get install docker-registry)" >&2; exit 1; }
        cat >"$WORK/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $WORK/root
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
        docker-registry serve "$WORK/config.yml" >"$WORK/registry.log" 2>&1 &
        REG_PID=$!
        ;;
    *) echo "interop: --registry-cmd must be 'examples' or 'docker-registry'" >&2; exit 2 ;;
    esac
    for _ in $(seq 1 100); do
        if ! kill -0 "$REG_PID" 2>/dev/null; then
            echo "interop: registry exited at startup; log:" >&2
            tail -n 50 "$WORK/registry.log" >&2
            exit 1
        fi
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)" = 200 ]; then
            registry_addr="127.0.0.1:$port"
            echo "interop: $registry_cmd listening on $registry_addr (pid $REG_PID, $storage)"
            return 0
        fi
        sleep 0.2
    done
    echo "interop: registry did not answer GET /v2/ with 200 within 20 s; log:" >&2
    tail -n 50 "$WORK/registry.log" >&2
    exit 1
}

if [ -z "$registry_addr" ]; then
    start_registry
    kind="$registry_cmd"
else
    kind=external
fi
export REGISTRY="$registry_addr" REGISTRY_KIND="$kind"

passed=0 failed=0 skipped=0
failed_names="" skipped_names=""
t_all=$(date +%s)
for s in $suites; do
    script="$HERE/$s.sh"
    [ -f "$script" ] || { echo "interop: no suite $s ($script)" >&2; failed=$((failed + 1)); failed_names="$failed_names $s"; continue; }
    echo "===== interop suite: $s ====="
    t0=$(date +%s)
    set +e
    SUITE="$s" bash "$script" 2>&1 | tee "$WORK/$s.log"
    rc=${PIPESTATUS[0]}
    set -e
    dt=$(($(date +%s) - t0))
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1)); echo "===== $s: PASS (${dt}s)"
    elif [ "$rc" = 77 ]; then
        skipped=$((skipped + 1)); skipped_names="$skipped_names $s"; echo "===== $s: SKIPPED, client missing (${dt}s)"
    else
        failed=$((failed + 1)); failed_names="$failed_names $s"; echo "===== $s: FAIL rc=$rc (${dt}s)"
    fi
    if [ -n "$REG_PID" ] && ! kill -0 "$REG_PID" 2>/dev/null; then
        echo "interop: the registry process died during suite $s; log tail:" >&2
        tail -n 50 "$WORK/registry.log" >&2
        REG_PID=""
        break
    fi
done

if [ "$failed" -gt 0 ] && [ -f "$WORK/registry.log" ]; then
    echo "----- registry log (last 40 lines) -----"
    tail -n 40 "$WORK/registry.log"
fi
echo "interop against $kind ($registry_addr) took $(($(date +%s) - t_all))s; failed:${failed_names:- none}; skipped:${skipped_names:- none}"
echo "interop: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
