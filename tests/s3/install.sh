#!/usr/bin/env bash
# Installs the two S3 test servers under target/ (idempotent: skips what is already there):
#   moto[server] 5.2.5 in a venv at target/s3-venv   (in-memory S3; `moto_server`)
#   s3s-fs 0.14.1 under target/s3-tools               (S3 over a local directory; `s3s-fs`)
# and prints `export MOTO_SERVER=...` and `export S3S_FS=...` lines to eval:
#
#   eval "$(tests/s3/install.sh)"
#
# Progress goes to stderr, the export lines alone to stdout.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
mkdir -p "$target"
target="$(cd "$target" && pwd)"

MOTO_VERSION=5.2.5
S3S_FS_VERSION=0.14.1

venv="$target/s3-venv"
moto="$venv/bin/moto_server"
if [[ -x "$moto" ]] && "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    echo "s3 install: moto $MOTO_VERSION already in $venv" >&2
else
    echo "s3 install: moto[server]==$MOTO_VERSION into $venv" >&2
    rm -rf "$venv"
    # Debian's python3 needs python3-venv for ensurepip; .ci/run installs it.
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
fi

tools="$target/s3-tools"
s3s="$tools/bin/s3s-fs"
if [[ -x "$s3s" ]] && grep -q "s3s-fs $S3S_FS_VERSION" "$tools/.crates.toml" 2>/dev/null; then
    echo "s3 install: s3s-fs $S3S_FS_VERSION already in $tools" >&2
else
    echo "s3 install: cargo install s3s-fs $S3S_FS_VERSION into $tools" >&2
    cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked --root "$tools" --quiet >&2
fi

echo "export MOTO_SERVER=$moto"
echo "export S3S_FS=$s3s"
