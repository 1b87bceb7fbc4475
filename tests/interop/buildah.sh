#!/usr/bin/env bash
# buildah round trips (no daemon; private storage, vfs): build from scratch, push as OCI and as
# Docker v2s2, remove, pull back, compare image ids, digests and file contents.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd buildah curl
make_scratch
B=(buildah --root "$T/storage" --runroot "$T/run" --storage-driver vfs)
export TMPDIR="$T"
R="$REGISTRY/$NS/buildah"
trap '"${B[@]}" rm --all >/dev/null 2>&1 || true; "${B[@]}" rmi --all --force >/dev/null 2>&1 || true; [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$T"' EXIT

head -c 1500000 /dev/urandom >"$T/payload.bin"
want="$(sha256_of "$T/payload.bin")"
c="$("${B[@]}" from scratch)"
"${B[@]}" copy "$c" "$T/payload.bin" /payload.bin >/dev/null
"${B[@]}" config --cmd '["/payload.bin"]' --label interop=buildah "$c"
id="$("${B[@]}" commit --quiet --format oci "$c" "$R:v1")"
"${B[@]}" rm "$c" >/dev/null
ok "buildah from scratch + copy + commit -> $id"

"${B[@]}" push --quiet --tls-verify=false --digestfile "$T/oci.digest" "$R:v1" "docker://$R:v1"
"${B[@]}" push --quiet --tls-verify=false --format docker --digestfile "$T/v2.digest" "$R:v1" "docker://$R:v1-docker"
for t in v1:oci v1-docker:v2; do
    tag="${t%%:*}" f="${t##*:}"
    code="$(curl -s -o "$T/m" -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' "$BASE/v2/$NS/buildah/manifests/$tag")"
    assert_eq "GET manifest $tag" "$code" 200
    assert_eq "digest of manifest $tag" "sha256:$(sha256_of "$T/m")" "$(cat "$T/$f.digest")"
done
ok "push --format oci and --format docker; manifests served with the pushed digests"

"${B[@]}" rmi --force "$R:v1" >/dev/null
"${B[@]}" pull --quiet --tls-verify=false "$R:v1" >/dev/null
assert_eq "image id after pull" "$("${B[@]}" inspect --type image --format '{{.FromImageID}}' "$R:v1")" "$id"
c="$("${B[@]}" from --pull-never "$R:v1")"
mnt="$("${B[@]}" mount "$c")"
assert_eq "payload after pull" "$(sha256_of "$mnt/payload.bin")" "$want"
"${B[@]}" umount "$c" >/dev/null
"${B[@]}" rm "$c" >/dev/null
"${B[@]}" pull --quiet --tls-verify=false "$R:v1-docker" >/dev/null
ok "rmi + pull: same image id, payload byte-identical"
