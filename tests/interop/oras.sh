#!/usr/bin/env bash
# oras-py round trips (tests/interop/oras_client.py), run with the Python of INTEROP_VENV
# (default: target/interop-venv, which .ci/run creates with `pip install oras`; target/ is git-ignored).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VENV="${INTEROP_VENV:-$REPO_ROOT/target/interop-venv}"
if ! "$VENV/bin/python" -c 'import oras.client' 2>/dev/null; then
    if [ "${CI:-}" = "true" ]; then
        fail "oras (PyPI) is not importable from $VENV; create it with: python3 -m venv $VENV && $VENV/bin/pip install oras"
    fi
    echo "[$SUITE] SKIP: no venv with oras at $VENV (python3 -m venv $VENV && $VENV/bin/pip install oras)" >&2
    exit 77
fi
INTEROP_NS="$NS" "$VENV/bin/python" "$INTEROP_DIR/oras_client.py"
