#!/usr/bin/env bash
# python-dxf (PyPI, "a Docker v2 registry client") through its `dxf` command line, as a new user
# would: push blobs (monolithic PUT with the file as body), name them with an alias (a schema-2
# manifest), list aliases and repositories, pull, mount, delete. Plus one streamed push through its
# Python API (final PUT with Transfer-Encoding: chunked, size unknown).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VENV="${INTEROP_VENV:-$REPO_ROOT/target/interop-venv}"
if ! [ -x "$VENV/bin/dxf" ]; then
    if [ "${CI:-}" = "true" ]; then
        fail "python-dxf is not installed in $VENV ($VENV/bin/pip install python-dxf)"
    fi
    echo "[$SUITE] SKIP: no dxf in $VENV ($VENV/bin/pip install python-dxf)" >&2
    exit 77
fi
make_scratch
export DXF_HOST="$REGISTRY" DXF_INSECURE=1
dxf() { "$VENV/bin/dxf" "$@"; }
repo="$NS/dxf"

head -c 70000 /dev/urandom >"$T/a"
head -c $((5 * 1024 * 1024 + 3)) /dev/urandom >"$T/b"
da="$(dxf push-blob "$repo" "$T/a" @one)"
db="$(dxf push-blob "$repo" "$T/b")"
assert_eq "digest of pushed blob a" "$da" "sha256:$(sha256_of "$T/a")"
assert_eq "digest of pushed blob b" "$db" "sha256:$(sha256_of "$T/b")"
dxf set-alias "$repo" two "$da" "$db" >/dev/null
ok "push-blob (with alias) + set-alias"

assert_eq "list-aliases" "$(dxf list-aliases "$repo" | sort | tr '\n' ' ')" "one two "
dxf list-repos | grep -qx "$repo" || fail "list-repos lacks $repo"
assert_eq "get-alias two" "$(dxf get-alias "$repo" two | tr '\n' ' ')" "$da $db "
assert_eq "blob-size of b" "$(dxf blob-size "$repo" "$db")" "$(stat -c %s "$T/b")"
assert_eq "blob-size of @two" "$(dxf blob-size "$repo" @two)" "$(($(stat -c %s "$T/a") + $(stat -c %s "$T/b")))"
ok "list-aliases, list-repos, get-alias, blob-size"

dxf pull-blob "$repo" "$db" >"$T/b.out"
cmp -s "$T/b" "$T/b.out" || fail "pull-blob b differs"
dxf pull-blob "$repo" @two >"$T/two.out"
cat "$T/a" "$T/b" | cmp -s - "$T/two.out" || fail "pull-blob @two differs from a+b"
ok "pull-blob by digest and by alias: bytes identical"

dxf mount-blob "$NS/dxf-mounted" "$repo" "$db" @m >/dev/null
dxf pull-blob "$NS/dxf-mounted" @m | cmp -s "$T/b" - || fail "mounted blob differs"
ok "mount-blob into another repository + alias there"

"$VENV/bin/python" - "$repo" "$T" <<'PYEOF' || fail "streamed push through the dxf Python API"
import hashlib, os, sys
import dxf
repo, tmp = sys.argv[1], sys.argv[2]
d = dxf.DXF(os.environ["DXF_HOST"], repo, insecure=True)
chunks = [os.urandom(1 << 20) for _ in range(3)] + [b"tail"]
digest = "sha256:" + hashlib.sha256(b"".join(chunks)).hexdigest()
# A generator body makes requests send the final PUT with Transfer-Encoding: chunked.
got = d.push_blob(data=iter(chunks), digest=digest)
assert got == digest, (got, digest)
it, size = d.pull_blob(digest, size=True)
assert size == sum(map(len, chunks)), size
assert b"".join(it) == b"".join(chunks)
print("[dxf] ok: streamed push (chunked PUT, unknown size) + pull")
PYEOF

dxf del-alias "$repo" one >/dev/null
assert_eq "list-aliases after del-alias" "$(dxf list-aliases "$repo" | tr '\n' ' ')" "two "
dxf del-blob "$repo" "$da"
if dxf pull-blob "$repo" "$da" >/dev/null 2>&1; then fail "blob $da still served after del-blob"; fi
ok "del-alias + del-blob"
