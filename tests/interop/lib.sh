# Shared helpers for the interop suites. Source it; do not run it.
#
# Every suite reads the registry address from REGISTRY (host:port, plain HTTP, e.g. 127.0.0.1:5000)
# and creates its own scratch directory under INTEROP_TMP (or a fresh mktemp dir).

set -euo pipefail

INTEROP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INTEROP_DIR/../.." && pwd)"
: "${REGISTRY:?set REGISTRY=host:port of the registry under test}"
BASE="http://$REGISTRY"

SUITE="${SUITE:-$(basename "$0" .sh)}"
# Repositories are created under a fresh namespace per run, so a suite can be re-run against a
# registry that still holds an earlier run's content (blob-exists short cuts would hide mounts).
NS="${INTEROP_NS:-interop$(date +%s)$RANDOM}"

log() { printf '[%s] %s\n' "$SUITE" "$*"; }
fail() {
    printf '[%s] FAIL: %s\n' "$SUITE" "$*" >&2
    exit 1
}
ok() { printf '[%s] ok: %s\n' "$SUITE" "$*"; }

# A client that is missing fails in CI (CI=true) and is reported as skipped elsewhere
# (exit code 77, which run.sh counts as skipped, never as passed).
require_cmd() {
    local c
    for c in "$@"; do
        if ! command -v "$c" >/dev/null 2>&1; then
            if [ "${CI:-}" = "true" ]; then
                fail "required client '$c' is not installed (CI=true: missing clients fail; .ci/run installs them)"
            fi
            printf '[%s] SKIP: client %s is not installed (would FAIL under CI=true)\n' "$SUITE" "$c" >&2
            exit 77
        fi
    done
}

# make_scratch: creates the suite's scratch directory in T (removed on exit unless KEEP_TMP=1).
# Call it in the suite's own shell, not in $(...), so the EXIT trap belongs to the suite.
make_scratch() {
    T="$(mktemp -d "${INTEROP_TMP:-${TMPDIR:-/tmp}}/interop-$SUITE.XXXXXX")"
    if [ "${KEEP_TMP:-0}" != 1 ]; then
        trap 'rm -rf "$T"' EXIT
    fi
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# assert_eq WHAT GOT WANT
assert_eq() {
    if [ "$2" != "$3" ]; then
        fail "$1: got '$2', want '$3'"
    fi
}

# Python used for JSON and for building OCI layouts (stdlib only).
PY="${PYTHON:-python3}"
ocilayout() { "$PY" "$INTEROP_DIR/ocilayout.py" "$@"; }
jget() { "$PY" -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]:
    d = d[int(k)] if isinstance(d, list) else d[k]
print(d if not isinstance(d,(dict,list)) else json.dumps(d))' "$@"; }
