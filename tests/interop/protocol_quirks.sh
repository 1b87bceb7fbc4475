#!/usr/bin/env bash
# The protocol details real clients were seen to depend on, exercised directly with curl/python.
# Each check prints the request, what was expected and what came back when it fails.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd curl
make_scratch
N="$NS/quirks"
baseline=0
[ "${REGISTRY_KIND:-}" = docker-registry ] && baseline=1
failures=0

# req METHOD PATH_OR_URL [curl args...]: sets CODE, writes $T/h (headers) and $T/b (body).
req() {
    local m="$1" u="$2"
    shift 2
    case "$u" in http*) ;; *) u="$BASE$u" ;; esac
    LAST="$m $u"
    CODE="$(curl -sS -X "$m" -D "$T/h" -o "$T/b" -w '%{http_code}' "$@" "$u")"
}
hdr() { grep -i "^$1:" "$T/h" | tail -n1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
# check WHAT GOT WANT: records a failure but keeps going, so one run lists every deviation.
check() {
    if [ "$2" != "$3" ]; then
        printf '[%s] FAIL: %s\n    request:  %s\n    expected: %s\n    got:      %s\n' "$SUITE" "$1" "$LAST" "$3" "$2" >&2
        if [ -s "$T/b" ]; then printf '    body:     %s\n' "$(head -c 300 "$T/b")" >&2; fi
        failures=$((failures + 1))
        return 1
    fi
}
# Location may be absolute or relative to the registry root.
loc() {
    local l
    l="$(hdr Location)"
    case "$l" in http*) printf '%s' "$l" ;; *) printf '%s%s' "$BASE" "$l" ;; esac
}
# Append a query parameter to an upload URL that may already hold one.
with_q() { case "$1" in *\?*) printf '%s&%s' "$1" "$2" ;; *) printf '%s?%s' "$1" "$2" ;; esac; }

head -c 300000 /dev/urandom >"$T/blob1"
head -c 123457 /dev/urandom >"$T/blob2"
head -c 1000 /dev/urandom >"$T/blob3"
d1="sha256:$(sha256_of "$T/blob1")"
d2="sha256:$(sha256_of "$T/blob2")"
d3="sha256:$(sha256_of "$T/blob3")"

# 1. Version check.
req GET /v2/
check "GET /v2/ status" "$CODE" 200 && ok "GET /v2/ -> 200"

# 2. A TLS ClientHello on the plain-HTTP port must be answered (error or close), not left hanging:
#    clients probe https first and fall back to http only once the handshake fails.
if "$PY" - "$REGISTRY" <<'EOF'; then ok "TLS ClientHello on the plain port: prompt error answer"; else failures=$((failures + 1)); fi
import socket, ssl, sys, time
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
try:
    obj.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = out.read()
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(hello)
t0 = time.monotonic()
try:
    got = s.recv(200)
except socket.timeout:
    print(f"[protocol_quirks] FAIL: TLS ClientHello probe\n    request:  {len(hello)}-byte ClientHello on {sys.argv[1]}\n"
          "    expected: an HTTP error answer or a closed connection within 5 s\n    got:      nothing (hang)", file=sys.stderr)
    sys.exit(1)
print(f"[protocol_quirks] ClientHello answered after {time.monotonic()-t0:.2f}s with {got[:40]!r}")
if got and not got.startswith(b"HTTP/1."):
    print(f"[protocol_quirks] FAIL: TLS ClientHello probe answered with non-HTTP bytes {got[:40]!r}", file=sys.stderr)
    sys.exit(1)
EOF

# 3. POST with a tiny JSON body `null` (as some clients send) starts a session: exactly 202,
#    Location, and a Range header.
req POST "/v2/$N/blobs/uploads/" -H 'Content-Type: application/json' --data-binary 'null'
check "POST uploads with body null: status" "$CODE" 202
check "POST 202 has Location" "$([ -n "$(hdr Location)" ] && echo yes)" yes
check "POST 202 Range header" "$(hdr Range | grep -cE '^(bytes=)?0-[0-9]+$')" 1
u="$(loc)"
ok "POST (json null body) -> 202, Location, Range $(hdr Range)"

# 4. PATCH with Transfer-Encoding: chunked (no Content-Length, no Content-Range), then a second
#    PATCH with Content-Range, then an empty PUT ?digest=.
head -c 200000 "$T/blob1" >"$T/part1"
tail -c +200001 "$T/blob1" >"$T/part2"
req PATCH "$u" -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/octet-stream' --data-binary @"$T/part1"
check "PATCH (chunked transfer-encoding): status" "$CODE" 202
check "PATCH Range" "$(hdr Range)" "0-199999"
u="$(loc)"
req PATCH "$u" -H 'Content-Range: 200000-299999' -H 'Content-Type: application/octet-stream' --data-binary @"$T/part2"
check "second PATCH with Content-Range: status" "$CODE" 202
check "second PATCH Range" "$(hdr Range)" "0-299999"
u="$(loc)"
req GET "$u"
check "GET upload status: status" "$CODE" 204
check "GET upload status: Range" "$(hdr Range)" "0-299999"
u2="$(loc)"; [ "$u2" = "$BASE" ] || u="$u2"
req PUT "$(with_q "$u" "digest=$d1")"
check "final PUT ?digest= (empty body): status" "$CODE" 201
check "final PUT Docker-Content-Digest" "$(hdr Docker-Content-Digest)" "$d1"
req HEAD "/v2/$N/blobs/$d1" -I
check "HEAD uploaded blob" "$CODE" 200
check "HEAD blob Content-Length" "$(hdr Content-Length)" 300000
check "HEAD blob Docker-Content-Digest" "$(hdr Docker-Content-Digest)" "$d1"
ok "chunked-encoding PATCH + Content-Range PATCH + empty PUT ?digest= -> 202/202/201"

# 5. One PATCH holding the whole blob, no Content-Range, then an empty PUT ?digest=.
req POST "/v2/$N/blobs/uploads/"
check "POST uploads (no body): status" "$CODE" 202
u="$(loc)"
req PATCH "$u" -H 'Content-Type: application/octet-stream' --data-binary @"$T/blob2"
check "single PATCH without Content-Range: status" "$CODE" 202
check "single PATCH Range" "$(hdr Range)" "0-123456"
u="$(loc)"
req PUT "$(with_q "$u" "digest=$d2")" -H 'Content-Length: 0'
check "empty PUT after whole-blob PATCH: status" "$CODE" 201
check "PUT Docker-Content-Digest" "$(hdr Docker-Content-Digest)" "$d2"
ok "whole-blob PATCH without Content-Range + empty PUT ?digest= -> 202/201"

# 5b. Query values percent-encoded, as Go (net/url), Python (urlencode) and Rust (url) clients send
#     them: digest=sha256%3A<hex> on the closing PUT.
head -c 4321 /dev/urandom >"$T/blob4"
d4="sha256:$(sha256_of "$T/blob4")"
req POST "/v2/$N/blobs/uploads/"
u="$(loc)"
req PATCH "$u" -H 'Content-Type: application/octet-stream' --data-binary @"$T/blob4"
u="$(loc)"
req PUT "$(with_q "$u" "digest=sha256%3A${d4#sha256:}")" -H 'Content-Length: 0'
check "closing PUT with percent-encoded ?digest=sha256%3A...: status" "$CODE" 201 &&
    ok "closing PUT with ?digest=sha256%3A<hex> (percent-encoded colon) -> 201"

# 6. Monolithic POST ?digest= with the blob as body.
req POST "/v2/$N/blobs/uploads/?digest=$d3" -H 'Content-Type: application/octet-stream' --data-binary @"$T/blob3"
if [ "$CODE" = 202 ]; then
    # Allowed by the spec: the registry may ignore the monolithic POST and open a session.
    u="$(loc)"
    req PUT "$(with_q "$u" "digest=$d3")" -H 'Content-Type: application/octet-stream' --data-binary @"$T/blob3"
fi
check "monolithic upload of blob3: final status" "$CODE" 201
check "monolithic upload Docker-Content-Digest" "$(hdr Docker-Content-Digest)" "$d3"
ok "monolithic upload -> 201"

# 7. Cross-repository mount with the query parameters in both orders: exactly 201.
req POST "/v2/$NS/quirks-m1/blobs/uploads/?mount=$d1&from=$N"
check "mount (mount= then from=): status" "$CODE" 201
check "mount Docker-Content-Digest" "$(hdr Docker-Content-Digest)" "$d1"
req POST "/v2/$NS/quirks-m2/blobs/uploads/?from=$N&mount=$d2"
check "mount (from= then mount=): status" "$CODE" 201
req HEAD "/v2/$NS/quirks-m2/blobs/$d2" -I
check "mounted blob present in target" "$CODE" 200
ok "mount in both query orders -> 201"
req POST "/v2/$NS/quirks-m3/blobs/uploads/?from=${NS}%2Fquirks&mount=sha256%3A${d2#sha256:}"
check "mount with percent-encoded from=ns%2Frepo&mount=sha256%3A...: status" "$CODE" 201 &&
    ok "mount with percent-encoded query values -> 201"

# 8. Manifests: PUT 201 + Docker-Content-Digest; HEAD with Docker-Content-Digest.
printf '{}' >"$T/cfg"
dc="sha256:$(sha256_of "$T/cfg")"
req POST "/v2/$N/blobs/uploads/?digest=$dc" -H 'Content-Type: application/octet-stream' --data-binary @"$T/cfg"
if [ "$CODE" = 202 ]; then u="$(loc)"; req PUT "$(with_q "$u" "digest=$dc")" -H 'Content-Type: application/octet-stream' --data-binary @"$T/cfg"; fi
check "upload of config {}" "$CODE" 201
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":300000}]}' "$dc" "$d1" >"$T/manifest"
dm="sha256:$(sha256_of "$T/manifest")"
mt='application/vnd.oci.image.manifest.v1+json'
req PUT "/v2/$N/manifests/v1" -H "Content-Type: $mt" --data-binary @"$T/manifest"
check "manifest PUT: status" "$CODE" 201
check "manifest PUT Docker-Content-Digest" "$(hdr Docker-Content-Digest)" "$dm"
req HEAD "/v2/$N/manifests/v1" -I -H "Accept: $mt"
check "manifest HEAD: status" "$CODE" 200
check "manifest HEAD Docker-Content-Digest" "$(hdr Docker-Content-Digest)" "$dm"
check "manifest HEAD Content-Length" "$(hdr Content-Length)" "$(stat -c %s "$T/manifest")"
check "manifest HEAD Content-Type" "$(hdr Content-Type)" "$mt"
ok "manifest PUT 201 / HEAD 200 with Docker-Content-Digest"

# 9. Accept lists that omit the stored type still get the manifest (clients send Docker types only,
#    or nothing); the Content-Type says what it is.
for accept in "application/vnd.docker.distribution.manifest.v2+json" "" "*/*" \
    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"; do
    if [ -n "$accept" ]; then req GET "/v2/$N/manifests/v1" -H "Accept: $accept"; else req GET "/v2/$N/manifests/v1"; fi
    got="$CODE $(hdr Content-Type) sha256:$(sha256_of "$T/b")"
    if [ "$baseline" = 1 ]; then
        # Known deviation of CNCF distribution 2.8: an OCI manifest is 404 unless Accept names OCI.
        [ "$CODE" = 404 ] && { log "baseline: Accept '$accept' -> 404 (distribution 2.8 behaviour, tolerated for the baseline only)"; tolerated=1; continue; }
    fi
    check "GET manifest with Accept '${accept:-<none>}'" "$got" "200 $mt $dm"
done
if [ "${tolerated:-0}" = 1 ]; then
    log "tolerated: GET manifest whose Accept omits the stored type (baseline answers 404)"
else
    ok "GET manifest whose Accept omits the stored type -> 200 with the manifest"
fi

# 10. Absolute-form request targets (as sent through proxies): GET http://host/v2/... on the wire.
req GET "$BASE/v2/$N/manifests/$dm" --request-target "$BASE/v2/$N/manifests/$dm" -H "Accept: $mt"
check "absolute-form GET manifest" "$CODE $(sha256_of "$T/b")" "200 ${dm#sha256:}"
req GET "$BASE/v2/$N/blobs/$d3" --request-target "$BASE/v2/$N/blobs/$d3"
check "absolute-form GET blob" "$CODE $(sha256_of "$T/b")" "200 ${d3#sha256:}"
req GET "$BASE/v2/" --request-target "$BASE/v2/"
check "absolute-form GET /v2/" "$CODE" 200
ok "absolute-form request targets"

# 11. Range GET on a blob -> 206 with exactly those bytes.
req GET "/v2/$N/blobs/$d1" -H 'Range: bytes=1000-1999'
check "Range GET status" "$CODE" 206
check "Range GET bytes" "$(sha256_of "$T/b")" "$(tail -c +1001 "$T/blob1" | head -c 1000 | sha256sum | cut -d' ' -f1)"
check "Range GET Content-Range" "$(hdr Content-Range)" "bytes 1000-1999/300000"
ok "Range GET -> 206"

# 11b. Catalog pagination; the `last` value is a repository name, percent-encoded by clients.
req GET "/v2/_catalog?n=1"
first="$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))["repositories"]; print(r[0] if len(r)==1 else "count=%d" % len(r))' "$T/b" 2>/dev/null || echo "bad json")"
check "GET /v2/_catalog?n=1: one repository" "$CODE $(case "$first" in count=* | "bad json") echo "$first" ;; *) echo one ;; esac)" "200 one"
enc="$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$first")"
req GET "/v2/_catalog?n=1&last=$enc"
next="$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))["repositories"]; print(r[0] if r else "")' "$T/b" 2>/dev/null || echo "bad json")"
check "GET /v2/_catalog?n=1&last=<percent-encoded name> returns the next name" "$CODE $([ -n "$next" ] && [[ "$next" > "$first" ]] && echo after-last)" "200 after-last" &&
    ok "catalog pagination with percent-encoded last=$enc"

# 12. Deletes: exactly 202 for manifests (by digest) and blobs; an upload session cancel is 204.
req POST "/v2/$N/blobs/uploads/"
u="$(loc)"
req DELETE "$u"
check "DELETE upload session: status" "$CODE" 204
req DELETE "/v2/$N/manifests/$dm"
check "DELETE manifest by digest: status" "$CODE" 202
req GET "/v2/$N/manifests/$dm" -H "Accept: $mt"
check "GET deleted manifest" "$CODE" 404
req DELETE "/v2/$N/blobs/$d3"
check "DELETE blob: status" "$CODE" 202
req HEAD "/v2/$N/blobs/$d3" -I
check "HEAD deleted blob" "$CODE" 404
ok "DELETE manifest/blob -> 202, upload cancel -> 204"

if [ "$failures" -gt 0 ]; then
    fail "$failures protocol check(s) failed (details above)"
fi
