#!/usr/bin/env bash
# skopeo round trips: OCI layout -> registry -> OCI layout, inspect, list-tags, cross-repository
# copy (blob mount), zstd push (unknown size: streamed PATCH), delete.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd skopeo
make_scratch
R="$REGISTRY/$NS/skopeo"
SK=(skopeo --insecure-policy --tmpdir "$T")
NOTLS=(--src-tls-verify=false --dest-tls-verify=false)

want="$(ocilayout build "$T/src" v1 --seed 11 --size 700000)"
ocilayout build "$T/src" v2 --seed 12 --size 300000 >/dev/null
log "built OCI layout, v1 manifest $want"

"${SK[@]}" copy "${NOTLS[@]}" "oci:$T/src:v1" "docker://$R:v1"
"${SK[@]}" copy "${NOTLS[@]}" "oci:$T/src:v2" "docker://$R:v2"
ok "copy oci layout -> registry (v1, v2)"

got="$("${SK[@]}" inspect --tls-verify=false --format '{{.Digest}}' "docker://$R:v1")"
assert_eq "inspect digest of v1" "$got" "$want"
raw="$("${SK[@]}" inspect --tls-verify=false --raw "docker://$R:v1")"
assert_eq "sha256 of inspect --raw" "sha256:$(printf '%s' "$raw" | sha256sum | cut -d' ' -f1)" "$want"
assert_eq "raw manifest equals the layout's bytes" "$raw" "$(cat "$T/src/blobs/sha256/${want#sha256:}")"
ok "inspect: digest and raw bytes match the pushed manifest"

tags="$("${SK[@]}" list-tags --tls-verify=false "docker://$R" | jget Tags)"
assert_eq "list-tags" "$tags" '["v1", "v2"]'
ok "list-tags: $tags"

"${SK[@]}" copy "${NOTLS[@]}" "docker://$R:v1" "oci:$T/back:v1"
ocilayout verify "$T/back" >/dev/null
assert_eq "blobs copied back" "$(ocilayout image-blobs "$T/back" v1)" "$(ocilayout image-blobs "$T/src" v1)"
assert_eq "manifest digest copied back" "$(ocilayout manifest-digest "$T/back" v1)" "$want"
ok "copy registry -> oci layout: every blob digest matches"

# Cross-repository copy: skopeo tries POST ...?mount=<digest>&from=$NS/skopeo for each blob.
"${SK[@]}" --debug copy "${NOTLS[@]}" "docker://$R:v1" "docker://$REGISTRY/$NS/skopeo-mounted:v1" >"$T/mount.log" 2>&1 ||
    { cat "$T/mount.log"; fail "copy between repositories"; }
# c/image logs "... mount OK" only when the mount POST answered 201 Created.
grep -q 'mount OK' "$T/mount.log" || { grep -i 'mount\|POST' "$T/mount.log" | tail -n 20; fail "no cross-repository mount was honoured (POST ?mount=&from= did not answer 201)"; }
got="$("${SK[@]}" inspect --tls-verify=false --format '{{.Digest}}' "docker://$REGISTRY/$NS/skopeo-mounted:v1")"
assert_eq "digest in mount target" "$got" "$want"
"${SK[@]}" copy "${NOTLS[@]}" "docker://$REGISTRY/$NS/skopeo-mounted:v1" "oci:$T/mounted:v1"
assert_eq "blobs from mount target" "$(ocilayout image-blobs "$T/mounted" v1)" "$(ocilayout image-blobs "$T/src" v1)"
ok "copy between repositories (blob mount) round trip"

# zstd recompression: the compressed size is unknown up front, so skopeo streams the blob with
# a chunked PATCH (Transfer-Encoding: chunked) and finishes with PUT ?digest=. A layer never pushed
# before is used: skopeo 1.9 would otherwise reuse (mount) the known gzip blob instead of recompressing.
ocilayout build "$T/src" v3 --seed "$RANDOM$RANDOM" --size 900000 >/dev/null
"${SK[@]}" --debug copy "${NOTLS[@]}" --dest-compress --dest-compress-format zstd \
    "oci:$T/src:v3" "docker://$REGISTRY/$NS/skopeo-zstd:v1" >"$T/zstd.log" 2>&1 ||
    { tail -n 40 "$T/zstd.log"; fail "zstd push"; }
zraw="$("${SK[@]}" inspect --tls-verify=false --raw "docker://$REGISTRY/$NS/skopeo-zstd:v1")"
mt="$(printf '%s' "$zraw" | jget layers 0 mediaType)"
assert_eq "zstd layer media type" "$mt" "application/vnd.oci.image.layer.v1.tar+zstd"
"${SK[@]}" copy "${NOTLS[@]}" "docker://$REGISTRY/$NS/skopeo-zstd:v1" "oci:$T/zstd:v1"
ocilayout verify "$T/zstd" >/dev/null
zdigest="$(printf '%s' "$zraw" | jget layers 0 digest)"
[ -f "$T/zstd/blobs/sha256/${zdigest#sha256:}" ] || fail "zstd layer $zdigest not copied back"
grep -q 'PATCH http' "$T/zstd.log" || fail "skopeo did not upload the zstd layer with PATCH"
ok "push with --dest-compress-format zstd (streamed upload), pulled back and verified"

"${SK[@]}" delete --tls-verify=false "docker://$R:v1"
if "${SK[@]}" inspect --tls-verify=false --raw "docker://$REGISTRY/$NS/skopeo@$want" >/dev/null 2>&1; then
    fail "manifest $want still served after skopeo delete"
fi
if "${SK[@]}" inspect --tls-verify=false --raw "docker://$R:v1" >/dev/null 2>&1; then
    fail "tag v1 still resolves after skopeo delete"
fi
tags="$("${SK[@]}" list-tags --tls-verify=false "docker://$R" | jget Tags)"
assert_eq "tags after delete" "$tags" '["v2"]'
ok "delete: manifest and tag gone, v2 untouched"
