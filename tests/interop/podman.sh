#!/usr/bin/env bash
# podman round trips (no daemon; private storage under a temp dir, vfs driver): import + push in
# OCI and Docker v2s2 formats, remove locally, pull back; a two-platform manifest list pushed with
# `manifest push --all` as an OCI index, fetched back and checked child by child.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd podman curl
make_scratch
mkdir -p "$T/tmp"
P=(podman --root "$T/storage" --runroot "$T/run" --storage-driver vfs --tmpdir "$T/tmp"
    --events-backend file --cgroup-manager cgroupfs)
R="$REGISTRY/$NS/podman"
NOTLS=(--tls-verify=false)
trap '"${P[@]}" system reset --force >/dev/null 2>&1 || true; [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$T"' EXIT

ocilayout rootfs-tar "$T/rootfs.tar" --seed 21 --size 400000
"${P[@]}" import --quiet --change 'CMD ["/data/hello.txt"]' "$T/rootfs.tar" "$R:v1" >/dev/null
id="$("${P[@]}" image inspect --format '{{.Id}}' "$R:v1")"
ok "podman import -> local image $id"

"${P[@]}" push --quiet "${NOTLS[@]}" --format oci --digestfile "$T/oci.digest" "$R:v1"
"${P[@]}" push --quiet "${NOTLS[@]}" --format v2s2 --digestfile "$T/v2s2.digest" "$R:v1" "docker://$R:v1-docker"
oci_digest="$(cat "$T/oci.digest")"
v2_digest="$(cat "$T/v2s2.digest")"
ct="$(curl -sS -o "$T/m.json" -w '%{content_type}' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "$BASE/v2/$NS/podman/manifests/v1-docker")"
assert_eq "Content-Type of the v2s2 manifest" "$ct" "application/vnd.docker.distribution.manifest.v2+json"
assert_eq "digest of the v2s2 manifest" "sha256:$(sha256_of "$T/m.json")" "$v2_digest"
ok "push --format oci ($oci_digest) and --format v2s2 ($v2_digest)"

"${P[@]}" rmi --force "$R:v1" >/dev/null
"${P[@]}" image exists "$R:v1" && fail "image still present after rmi"
"${P[@]}" pull --quiet "${NOTLS[@]}" "$R:v1" >/dev/null
assert_eq "image id after pull" "$("${P[@]}" image inspect --format '{{.Id}}' "$R:v1")" "$id"
assert_eq "repo digest after pull" "$("${P[@]}" image inspect --format '{{.Digest}}' "$R:v1")" "$oci_digest"
"${P[@]}" pull --quiet "${NOTLS[@]}" "$R:v1-docker" >/dev/null
rd="$("${P[@]}" image inspect --format '{{range .RepoDigests}}{{.}} {{end}}' "$R:v1-docker")"
case " $rd " in *" $R@$v2_digest "*) ;; *) fail "pulled v2s2 image: RepoDigests '$rd' lack $R@$v2_digest" ;; esac
ok "rmi + pull: same image id and digests"

# Second platform: another rootfs imported as linux/arm64.
ocilayout rootfs-tar "$T/rootfs-arm.tar" --seed 22 --size 200000
"${P[@]}" import --quiet --arch arm64 --os linux "$T/rootfs-arm.tar" "$R:arm64" >/dev/null
assert_eq "arch of the arm64 image" "$("${P[@]}" image inspect --format '{{.Architecture}}' "$R:arm64")" "arm64"
"${P[@]}" push --quiet "${NOTLS[@]}" --format oci "$R:arm64"

L="$REGISTRY/$NS/podman-list:v1"
"${P[@]}" manifest create "$L" >/dev/null
"${P[@]}" manifest add "${NOTLS[@]}" "$L" "docker://$R:v1" >/dev/null
"${P[@]}" manifest add "${NOTLS[@]}" "$L" "docker://$R:arm64" >/dev/null
"${P[@]}" manifest push --quiet "${NOTLS[@]}" --all --format oci --digestfile "$T/list.digest" "$L" "docker://$L"
list_digest="$(cat "$T/list.digest")"
ok "manifest create + add (amd64, arm64) + push --all ($list_digest)"

accept='application/vnd.oci.image.index.v1+json'
ct="$(curl -sS -o "$T/index.json" -w '%{content_type}' -H "Accept: $accept" "$BASE/v2/$NS/podman-list/manifests/v1")"
assert_eq "Content-Type of the pushed index" "$ct" "$accept"
assert_eq "digest of the pushed index" "sha256:$(sha256_of "$T/index.json")" "$list_digest"
"$PY" - "$T/index.json" "$BASE/v2/$NS/podman-list" <<'EOF' || fail "index children"
import json, sys, urllib.request
index = json.load(open(sys.argv[1]))
plats = sorted(f'{m["platform"]["os"]}/{m["platform"]["architecture"]}' for m in index["manifests"])
assert plats == ["linux/amd64", "linux/arm64"], f"platforms {plats}"
for m in index["manifests"]:
    req = urllib.request.Request(f'{sys.argv[2]}/manifests/{m["digest"]}', headers={"Accept": m["mediaType"]})
    with urllib.request.urlopen(req) as r:
        body = r.read()
        assert r.headers["Docker-Content-Digest"] == m["digest"], f'{m["digest"]}: header {r.headers["Docker-Content-Digest"]}'
        assert len(body) == m["size"], f'{m["digest"]}: {len(body)} bytes, descriptor says {m["size"]}'
        assert r.headers["Content-Type"] == m["mediaType"], f'{m["digest"]}: Content-Type {r.headers["Content-Type"]}'
    child = json.loads(body)
    for d in [child["config"]] + child["layers"]:
        head = urllib.request.Request(f'{sys.argv[2]}/blobs/{d["digest"]}', method="HEAD")
        with urllib.request.urlopen(head) as r:
            assert int(r.headers["Content-Length"]) == d["size"], f'blob {d["digest"]} size'
EOF
ok "index fetched back: two children (linux/amd64, linux/arm64), each manifest and blob present"

"${P[@]}" rmi --force "$R:arm64" >/dev/null
"${P[@]}" pull --quiet "${NOTLS[@]}" --arch arm64 "$L" >/dev/null
assert_eq "arch pulled from the list" "$("${P[@]}" image inspect --format '{{.Architecture}}' "$L")" "arm64"
ok "pull --arch arm64 through the index"
