#!/usr/bin/env bash
# The OFFICIAL OCI distribution-spec conformance suite (the Go module
# github.com/opencontainers/distribution-spec/conformance, pinned below) against
# `examples/registry` on local disk, with every API and data set the suite has switched on.
#
#   tests/oci-conformance/run.sh
#
# Steps: install Go with apt-get if `go` is missing; build the suite's test binary into
# target/oci-conformance/ (skipped when the binary for the pinned version is already there; the
# Go module and build caches live there too); build the debug registry and start it on a free
# 127.0.0.1 port over a temporary directory; run the suite; stop that registry (by its PID);
# print `oci-conformance: N passed, N failed, N skipped` from the suite's junit.xml; exit
# non-zero on any failure or skip (a disabled test counts as skipped).
#
# Needs the Go module proxy (the module and, when the suite needs a newer Go than the local one,
# the approved toolchain go1.27.3, fetched by the go command with GOTOOLCHAIN). Nothing is fetched
# from anywhere else: GOPROXY has no `direct` fallback.
#
# Settings (environment):
#   OCI_SUITE_VERSION  module version (default: the pinned one below)
#   OCI_SUITE_BIN      use this already-built suite binary instead of building one
#   REGISTRY_LOG       keep the registry log at this path
# The suite's report (stdout, junit.xml, report.html, results.yaml) is kept in
# target/oci-conformance/last-run/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

module=github.com/opencontainers/distribution-spec/conformance
version="${OCI_SUITE_VERSION:-v0.0.0-20260831232431-97274622c111}"
# The one Go toolchain we may fetch (from the module proxy) when the suite needs a newer Go.
approved_toolchain=go1.27.3

target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
work="$target_dir/oci-conformance"
mkdir -p "$work"
export GOPATH="$work/gopath" GOMODCACHE="$work/gopath/pkg/mod" GOCACHE="$work/gocache"
export GOFLAGS=-modcacherw GOPROXY=https://proxy.golang.org GOTOOLCHAIN=local
t0=$(date +%s)
say() { printf 'oci-conformance: %s (+%ss)\n' "$*" "$(($(date +%s) - t0))"; }

# "go1.22.4" -> 1022004, "1.24" -> 1024000, for comparisons.
go_num() {
    local v="${1#go}" a b c
    IFS=. read -r a b c <<<"$v"
    c="${c%%[!0-9]*}"
    echo $((a * 1000000 + ${b:-0} * 1000 + ${c:-0}))
}

build_suite() {
    if ! command -v go >/dev/null; then
        say "installing Go (Debian golang-go)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq golang-go >/dev/null
    fi
    local local_go need
    local_go="$(go env GOVERSION)"
    say "fetching $module@$version ($local_go, GOPROXY=$GOPROXY)"
    local info
    if ! info="$(go mod download -json "$module@$version" 2>&1)" || grep -q '"Error"' <<<"$info"; then
        echo "$info" >&2
        echo "oci-conformance: cannot fetch $module@$version from the Go module proxy;" \
            "this machine must reach $GOPROXY" >&2
        return 3
    fi
    local gomod dir
    gomod="$(python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["GoMod"])' <<<"$info")"
    dir="$(python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["Dir"])' <<<"$info")"
    need="$(awk '$1 == "go" { print $2; exit }' "$gomod")"
    if [[ -n "$need" ]] && (($(go_num "$need") > $(go_num "$local_go"))); then
        if (($(go_num "$local_go") < $(go_num 1.21))); then
            echo "oci-conformance: the suite needs Go $need; $local_go cannot switch toolchains" \
                "(GOTOOLCHAIN needs Go >= 1.21), and $approved_toolchain is the only other Go we use" >&2
            return 3
        fi
        say "the suite needs Go $need: GOTOOLCHAIN=$approved_toolchain"
        export GOTOOLCHAIN="$approved_toolchain"
    fi
    # A throwaway module that requires the suite, so `go test -c` can build it with its test deps.
    rm -rf "$work/mod"
    mkdir -p "$work/mod"
    (
        cd "$work/mod"
        go mod init tower-oci.test/oci-conformance >/dev/null 2>&1
        go get -t "$module@$version"
        go test -c -o "$work/conformance.test" "$module"
    )
    echo "$version" >"$work/conformance.test.version"
    # Which configuration the suite reads: the newer runner has config.go (OCI_REGISTRY, OCI_API_*,
    # OCI_DATA_*); the older ginkgo suite only OCI_ROOT_URL, OCI_TEST_* and friends.
    if [[ -f "$dir/config.go" ]]; then echo config >"$work/conformance.test.style"; else echo legacy >"$work/conformance.test.style"; fi
    say "built $work/conformance.test ($(go version | awk '{print $3}'))"
}

if [[ -n "${OCI_SUITE_BIN:-}" ]]; then
    suite="$OCI_SUITE_BIN"
    style="${OCI_SUITE_STYLE:-config}"
else
    suite="$work/conformance.test"
    if [[ ! -x "$suite" || "$(cat "$work/conformance.test.version" 2>/dev/null)" != "$version" ]]; then
        build_suite
    else
        say "suite binary for $version is cached"
    fi
    style="$(cat "$work/conformance.test.style")"
fi

cargo build --example registry
say "registry built"

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
# The built binary itself, not `cargo run`, so that $pid is the server.
NO_COLOR=1 "$target_dir/debug/examples/registry" --listen "127.0.0.1:$port" --root "$tmp/data" >"$log" 2>&1 &
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

results="$work/last-run"
rm -rf "$results"
mkdir -p "$results"
suite_env=(OCI_RESULTS_DIR="$results" OCI_REPORT_DIR="$results")
if [[ "$style" == config ]]; then
    # Every API and data set on. OCI_VERSION=dev turns on the APIs that 1.1 leaves off (upload
    # cancel, Docker-Content-Digest on every response, ?tag= on manifest PUT); the rest are on by
    # default and are set here so the list is explicit.
    # Left off, the one thing the registry does not do: OCI_DATA_SPARSE (manifests whose layers or
    # children were never pushed). The spec lets a registry refuse those with
    # MANIFEST_BLOB_UNKNOWN, and this one does, so that nothing it serves names content it lacks.
    # A data set that is off runs no test, so it counts neither as skipped nor as disabled.
    suite_env+=(
        OCI_REGISTRY="127.0.0.1:$port" OCI_TLS=disabled
        OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/crossmount
        OCI_VERSION=dev OCI_LOG=warn
        OCI_API_PING=true OCI_API_PULL=true OCI_API_PUSH=true OCI_API_REFERRER=true
        OCI_API_BLOBS_ATOMIC=true OCI_API_BLOBS_DELETE=true OCI_API_BLOBS_DIGEST_HEADER=true
        OCI_API_BLOBS_MOUNT_ANONYMOUS=true OCI_API_BLOBS_UPLOAD_CANCEL=true
        OCI_API_MANIFESTS_ATOMIC=true OCI_API_MANIFESTS_DELETE=true
        OCI_API_MANIFESTS_DIGEST_HEADER=true OCI_API_MANIFESTS_TAG_PARAM=true
        OCI_API_TAGS_ATOMIC=true OCI_API_TAGS_DELETE=true OCI_API_TAGS_LIST=true
        OCI_DATA_IMAGE=true OCI_DATA_INDEX=true OCI_DATA_INDEX_LIST=true OCI_DATA_ARTIFACT=true
        OCI_DATA_SUBJECT=true OCI_DATA_SUBJECT_MISSING=true OCI_DATA_ARTIFACT_LIST=true
        OCI_DATA_SUBJECT_LIST=true OCI_DATA_DATA_FIELD=true OCI_DATA_NONDISTRIBUTABLE=true
        OCI_DATA_CUSTOM_FIELDS=true OCI_DATA_NO_LAYERS=true OCI_DATA_EMPTY_BLOB=true
        OCI_DATA_SHA512=true OCI_DATA_SPARSE=false
    )
else
    # The older ginkgo suite: every workflow on; `POST ?mount=` without `from` mounts here.
    suite_env+=(
        OCI_ROOT_URL="$url" OCI_NAMESPACE=conformance/repo1
        OCI_CROSSMOUNT_NAMESPACE=conformance/crossmount OCI_AUTOMATIC_CROSSMOUNT=1
        OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1
        OCI_DELETE_MANIFEST_BEFORE_BLOBS=1 OCI_HIDE_SKIPPED_WORKFLOWS=0 OCI_DEBUG=0
    )
fi
say "running $(basename "$suite") ($style configuration) against $url"
status=0
(cd "$results" && env "${suite_env[@]}" "$suite" -test.timeout 20m) >"$results/output.txt" 2>&1 || status=$?
# The suite's own summary: counts, errors, per-API and per-data-set results.
sed -n '/^OCI Conformance Result/,$p' "$results/output.txt"
say "suite exited with $status"

junit="$results/junit.xml"
if [[ ! -s "$junit" ]]; then
    tail -n 60 "$results/output.txt"
    echo "oci-conformance: the suite wrote no $junit"
    echo "oci-conformance: 0 passed, 1 failed, 0 skipped"
    exit 1
fi
# Counts from junit.xml: per <testsuite>, the larger of its attributes and its <testcase>
# children (the two suite generations fill in different ones); disabled counts as skipped.
summary="$(python3 - "$junit" <<'EOF'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
tests = failed = skipped = 0
for s in suites:
    cases = s.findall(".//testcase")
    attr = lambda k: int(float(s.get(k, 0) or 0))
    c_failed = c_skipped = 0
    for c in cases:
        if c.find("failure") is not None or c.find("error") is not None:
            c_failed += 1
        elif c.find("skipped") is not None:
            c_skipped += 1
    tests += max(attr("tests"), len(cases))
    failed += max(attr("failures") + attr("errors"), c_failed)
    skipped += max(attr("skipped") + attr("disabled"), c_skipped)
print(tests - failed - skipped, failed, skipped)
EOF
)"
read -r passed failed skipped <<<"$summary"
if [[ $status -ne 0 || $failed -ne 0 || $skipped -ne 0 ]]; then
    echo "--- report: $results (output.txt, junit.xml, report.html)"
    if [[ -z "${REGISTRY_LOG:-}" ]]; then
        echo "--- last 40 lines of the registry log ---"
        tail -n 40 "$log"
    fi
fi
echo "oci-conformance: $passed passed, $failed failed, $skipped skipped"
if [[ $failed -ne 0 || $skipped -ne 0 || $passed -eq 0 ]]; then
    exit 1
fi
exit $status
