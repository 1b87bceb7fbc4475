#!/usr/bin/env python3
"""Build and check OCI image layouts for the interop suites (stdlib only).

  ocilayout.py build DIR TAG [--seed N] [--size BYTES] [--arch ARCH]
      Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) holding one image:
      a config and one gzip layer (a tar with a pseudo-random file). Prints the manifest digest.
  ocilayout.py rootfs-tar FILE [--seed N] [--size BYTES]
      Writes the uncompressed layer tar alone (for `podman import`).
  ocilayout.py verify DIR
      Checks that every blob's sha256 matches its file name; prints one digest per line, sorted.
  ocilayout.py manifest-digest DIR TAG
      Prints the digest of the manifest tagged TAG in DIR's index.json.
  ocilayout.py image-blobs DIR TAG
      Prints the manifest, config and layer digests reachable from TAG, sorted.
"""

import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def rootfs_tar(seed, size):
    rnd = random.Random(seed)
    payload = rnd.randbytes(size)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo("data")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        d.mtime = 1700000000
        tar.addfile(d)
        for name, data in (
            ("data/random.bin", payload),
            ("data/hello.txt", f"hello from interop seed {seed}\n".encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put_blob(root, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256", digest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest


def build(root, tag, seed, size, arch):
    os.makedirs(root, exist_ok=True)
    tar = rootfs_tar(seed, size)
    layer = gzip.compress(tar, mtime=0)
    layer_digest = put_blob(root, layer)
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/data/hello.txt"], "Labels": {"interop.seed": str(seed)}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
        "history": [{"created_by": "tests/interop/ocilayout.py"}],
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    config_digest = put_blob(root, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": MT_LAYER_GZ, "digest": layer_digest, "size": len(layer)}],
    }
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    manifest_digest = put_blob(root, manifest_bytes)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    index_path = os.path.join(root, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"] = [
        m for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
    ]
    index["manifests"].append({
        "mediaType": MT_MANIFEST,
        "digest": manifest_digest,
        "size": len(manifest_bytes),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    })
    with open(index_path, "w") as f:
        json.dump(index, f)
    print(manifest_digest)


def verify(root):
    base = os.path.join(root, "blobs", "sha256")
    out = []
    for name in sorted(os.listdir(base)):
        with open(os.path.join(base, name), "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        if got != name:
            sys.exit(f"blob {name} in {root} has sha256 {got}")
        out.append("sha256:" + name)
    print("\n".join(out))


def manifest_for(root, tag):
    with open(os.path.join(root, "index.json")) as f:
        index = json.load(f)
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m["digest"]
    sys.exit(f"tag {tag} not in {root}/index.json")


def read_blob(root, digest):
    algo, hexd = digest.split(":", 1)
    with open(os.path.join(root, "blobs", algo, hexd), "rb") as f:
        return f.read()


def image_blobs(root, tag):
    digest = manifest_for(root, tag)
    manifest = json.loads(read_blob(root, digest))
    out = [digest, manifest["config"]["digest"]] + [l["digest"] for l in manifest["layers"]]
    print("\n".join(sorted(out)))


def opt(args, name, default):
    if name in args:
        i = args.index(name)
        return args[i + 1]
    return default


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    seed = int(opt(args, "--seed", "1"))
    size = int(opt(args, "--size", str(512 * 1024)))
    if cmd == "build":
        build(args[0], args[1], seed, size, opt(args, "--arch", "amd64"))
    elif cmd == "rootfs-tar":
        with open(args[0], "wb") as f:
            f.write(rootfs_tar(seed, size))
    elif cmd == "verify":
        verify(args[0])
    elif cmd == "manifest-digest":
        print(manifest_for(args[0], args[1]))
    elif cmd == "image-blobs":
        image_blobs(args[0], args[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
