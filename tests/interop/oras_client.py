#!/usr/bin/env python3
"""oras-py (PyPI `oras`) round trips against REGISTRY (host:port, plain HTTP).

Pushes an artifact monolithically (POST + PUT ?digest=) and one with do_chunked=True (16 MiB PATCH
chunks with Content-Range, a 21 MiB file among them), lists tags, pulls both back and compares
bytes, deletes a tag. Every HTTP exchange is recorded, so a failure names the request.
"""

import hashlib
import os
import sys
import tempfile

import oras.client
from requests.structures import CaseInsensitiveDict

REGISTRY = os.environ["REGISTRY"]
NS = os.environ.get("INTEROP_NS", "interop")
REPO = f"{REGISTRY}/{NS}/oras"
MIB = 1024 * 1024
CHUNK = 16 * MIB


def log(msg):
    print(f"[oras] {msg}", flush=True)


def fail(msg):
    print(f"[oras] FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


class Recorder:
    """requests response hook: remembers (method, url, status, headers) of every exchange."""

    def __init__(self):
        self.seen = []

    def __call__(self, response, *args, **kwargs):
        req = response.request
        # Header names are case-insensitive (hyper sends them lowercase): keep requests' mapping.
        self.seen.append((req.method, req.url, response.status_code,
                          CaseInsensitiveDict(response.headers), CaseInsensitiveDict(req.headers)))

    def take(self):
        out, self.seen = self.seen, []
        return out


def describe(ex):
    method, url, status, _, req_headers = ex
    cr = req_headers.get("Content-Range")
    return f"{method} {url} -> {status}" + (f" (Content-Range {cr})" if cr else "")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check_upload_exchanges(exchanges, want_patches):
    """Upload requests must get exactly 202 (POST, PATCH) and 201 + Docker-Content-Digest (PUT)."""
    patches = [e for e in exchanges if e[0] == "PATCH"]
    if len(patches) < want_patches:
        fail(f"expected at least {want_patches} PATCH requests, saw: "
             + "; ".join(describe(e) for e in exchanges))
    for e in exchanges:
        method, url, status, headers, req_headers = e
        if "/blobs/uploads/" not in url:
            continue
        if method in ("POST", "PATCH") and status != 202:
            fail(f"{describe(e)}: want exactly 202")
        if method == "PATCH":
            cr = req_headers.get("Content-Range", "")
            end = cr.split("-")[-1]
            if headers.get("Range") != f"0-{end}":
                fail(f"{describe(e)}: Range header {headers.get('Range')!r}, want '0-{end}'")
        if method == "PUT":
            if status != 201:
                fail(f"{describe(e)}: want exactly 201")
            if not headers.get("Docker-Content-Digest"):
                fail(f"{describe(e)}: no Docker-Content-Digest on upload completion")


def main():
    with tempfile.TemporaryDirectory(prefix="interop-oras.", dir=os.environ.get("INTEROP_TMP")) as work:
        run(work)


def run(work):
    os.chdir(work)  # oras-py requires pushed paths under the working directory
    files = {
        "small.txt": b"hello oras\n" * 100,
        "medium.bin": os.urandom(3 * MIB + 17),
        "big.bin": os.urandom(21 * MIB + 12345),  # two 16 MiB chunks: 16 MiB + 5 MiB
        "chunk-small.txt": b"small file pushed in chunked mode\n",
    }
    for name, data in files.items():
        with open(name, "wb") as f:
            f.write(data)

    client = oras.client.OrasClient(hostname=REGISTRY, insecure=True)
    rec = Recorder()
    client.session.hooks["response"].append(rec)

    # 1. Monolithic push: POST, then PUT ?digest= holding the whole blob.
    resp = client.push(target=f"{REPO}:mono", files=["small.txt", "medium.bin:application/x-interop"])
    if resp.status_code != 201:
        fail(f"manifest PUT for :mono answered {resp.status_code}, want 201")
    ex = rec.take()
    check_upload_exchanges(ex, 0)
    mono_puts = [e for e in ex if e[0] == "PUT" and "/blobs/uploads/" in e[1]]
    if len(mono_puts) < 2:
        fail("monolithic push: expected a PUT ?digest= per blob, saw: "
             + "; ".join(describe(e) for e in ex))
    man_put = [e for e in ex if e[0] == "PUT" and "/manifests/" in e[1]]
    if not man_put or not man_put[-1][3].get("Docker-Content-Digest"):
        fail("manifest PUT without Docker-Content-Digest")
    log("ok: monolithic push (POST 202, PUT ?digest= 201, manifest PUT 201 + Docker-Content-Digest)")

    # 2. Chunked push: POST, PATCH with Content-Range per 16 MiB chunk, PUT ?digest=.
    resp = client.push(target=f"{REPO}:chunked", files=["big.bin", "chunk-small.txt"],
                       do_chunked=True, chunk_size=CHUNK)
    if resp.status_code != 201:
        fail(f"manifest PUT for :chunked answered {resp.status_code}, want 201")
    ex = rec.take()
    check_upload_exchanges(ex, 3)  # big.bin: 2 chunks, chunk-small.txt: 1
    log("ok: chunked push, 21 MiB in 16 MiB PATCH chunks (202, Range 0-<last>), PUT 201")

    # 3. Tags.
    tags = sorted(client.get_tags(f"{REPO}"))
    if tags != ["chunked", "mono"]:
        fail(f"get_tags: {tags}, want ['chunked', 'mono']")
    log(f"ok: get_tags {tags}")

    # 4. Pull both and compare bytes.
    for tag, names in (("mono", ["small.txt", "medium.bin"]), ("chunked", ["big.bin", "chunk-small.txt"])):
        out = os.path.join(work, "pulled-" + tag)
        got = client.pull(target=f"{REPO}:{tag}", outdir=out)
        if sorted(os.path.basename(p) for p in got) != sorted(names):
            fail(f"pull :{tag} gave {got}, want {names}")
        for name in names:
            if sha(os.path.join(out, name)) != hashlib.sha256(files[name]).hexdigest():
                fail(f"pull :{tag}: {name} differs from what was pushed")
    rec.take()
    log("ok: pull both artifacts, every file byte-identical")

    # 5. Delete a tag (HEAD for Docker-Content-Digest, DELETE by digest -> exactly 202).
    if not client.delete_tag(f"{REPO}", "mono"):
        fail("delete_tag :mono returned False")
    tags = sorted(client.get_tags(f"{REPO}"))
    if tags != ["chunked"]:
        fail(f"get_tags after delete: {tags}, want ['chunked']")
    try:
        client.get_manifest(f"{REPO}:mono")
    except Exception:  # oras raises on a 404 manifest
        pass
    else:
        fail(":mono still resolves after delete_tag")
    log("ok: delete_tag mono; tag gone, chunked untouched")


if __name__ == "__main__":
    main()
