#!/usr/bin/env bash
# Docker Engine (Debian docker.io) and containerd's ctr, as a new user would use them: a private
# dockerd (vfs storage, no bridge, no iptables, own socket and roots under a temp dir) is started
# and stopped by PID. docker: import, push, push to a second repository (cross-repository mount),
# rmi, pull by tag and by digest, manifest inspect. ctr (the dockerd-managed containerd): pull,
# push to a third repository, digests compared.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd dockerd docker ctr curl
make_scratch
# Unix socket paths are limited to 108 bytes: keep the daemon's directories short.
D="$(mktemp -d /tmp/idk.XXXXXX)"
DOCKERD_PID=""
stop_dockerd() {
    if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        kill "$DOCKERD_PID"
        local i
        for i in $(seq 1 50); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    fi
    # vfs layers are plain directories; the daemon is gone, so they can be removed.
    rm -rf "$D"
    [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$T"
}
trap stop_dockerd EXIT

dockerd --iptables=false --ip6tables=false --ip-masq=false --bridge=none --storage-driver=vfs \
    --data-root "$D/data" --exec-root "$D/x" --pidfile "$D/pid" -H "unix://$D/sock" \
    >"$T/dockerd.log" 2>&1 &
DOCKERD_PID=$!
DK=(docker -H "unix://$D/sock")
for _ in $(seq 1 100); do
    "${DK[@]}" version >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 30 "$T/dockerd.log"; fail "dockerd exited at startup"; }
    sleep 0.3
done
"${DK[@]}" version >/dev/null 2>&1 || { tail -n 30 "$T/dockerd.log"; fail "dockerd did not come up in 30 s"; }
ok "private dockerd up (pid $DOCKERD_PID)"

R="$REGISTRY/$NS/docker"
ocilayout rootfs-tar "$T/rootfs.tar" --seed 31 --size 600000
"${DK[@]}" import --change 'CMD ["/data/hello.txt"]' "$T/rootfs.tar" "$R:v1" >/dev/null
id="$("${DK[@]}" image inspect --format '{{.Id}}' "$R:v1")"

# 127.0.0.0/8 registries are plain-HTTP by default for docker: no daemon flag needed.
"${DK[@]}" push "$R:v1" | tee "$T/push.log"
digest="$(grep -o 'digest: sha256:[0-9a-f]*' "$T/push.log" | cut -d' ' -f2)"
[ -n "$digest" ] || fail "docker push printed no digest"
code="$(curl -s -o "$T/m" -w '%{http_code}' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "$BASE/v2/$NS/docker/manifests/v1")"
assert_eq "GET the pushed manifest" "$code" 200
assert_eq "digest of the pushed manifest" "sha256:$(sha256_of "$T/m")" "$digest"
ok "docker push ($digest)"

"${DK[@]}" tag "$R:v1" "$REGISTRY/$NS/docker-copy:v1"
"${DK[@]}" push "$REGISTRY/$NS/docker-copy:v1" | tee "$T/push2.log"
grep -q "Mounted from $NS/docker" "$T/push2.log" || fail "docker push to a second repository did not mount the layer (no 'Mounted from $NS/docker')"
ok "docker push to a second repository: layer mounted"

"${DK[@]}" rmi "$R:v1" "$REGISTRY/$NS/docker-copy:v1" >/dev/null
"${DK[@]}" image inspect "$id" >/dev/null 2>&1 && fail "image still present after rmi"
"${DK[@]}" pull "$R:v1" >/dev/null
assert_eq "image id after pull" "$("${DK[@]}" image inspect --format '{{.Id}}' "$R:v1")" "$id"
"${DK[@]}" pull "$REGISTRY/$NS/docker-copy@$digest" >/dev/null
ok "rmi + pull by tag and by digest: same image id"

"${DK[@]}" manifest inspect --insecure "$R:v1" >"$T/inspect.json"
assert_eq "docker manifest inspect: layer count" "$(jget layers <"$T/inspect.json" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')" 1
ok "docker manifest inspect"

# containerd's own client against the daemon's managed containerd.
CTR=(ctr --address "$D/x/containerd/containerd.sock" --namespace interop)
"${CTR[@]}" images pull --plain-http "$R:v1" >/dev/null
"${CTR[@]}" images push --plain-http "$REGISTRY/$NS/ctr:v1" "$R:v1" >/dev/null
code="$(curl -s -o "$T/m2" -w '%{http_code}' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' "$BASE/v2/$NS/ctr/manifests/v1")"
assert_eq "GET manifest pushed by ctr" "$code" 200
assert_eq "digest of the manifest pushed by ctr" "sha256:$(sha256_of "$T/m2")" "$digest"
"${CTR[@]}" images rm "$R:v1" >/dev/null
"${CTR[@]}" content prune references >/dev/null 2>&1 || true
"${CTR[@]}" images pull --plain-http "$REGISTRY/$NS/ctr:v1" >/dev/null
"${CTR[@]}" images check | grep -q "$NS/ctr:v1.*complete" || fail "ctr pull of $NS/ctr:v1 is incomplete"
ok "ctr pull + push to a third repository + pull back (digest $digest)"
