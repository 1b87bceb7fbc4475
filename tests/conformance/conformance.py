#!/usr/bin/env python3
"""Black-box conformance suite for the OCI Distribution Specification.

Written from the specification text alone (the copy in the project's reference folder, which is
newer than 1.1.0: it includes `digest-algorithm`, tags as query parameters on a manifest PUT by
digest, and the `ns` query parameter). Standard library only.

    python3 tests/conformance/conformance.py --url http://127.0.0.1:5000 \
        [--namespace conformance/test] [--crossmount-namespace conformance/crossmount] \
        [--allow-skip] [--verbose]

Every check prints one line: `PASS name`, `FAIL name: why` or `SKIP name: why`. The last line is
`N passed, N failed, N skipped`; the exit status is 1 when any check failed.

The suite expects every optional API to be switched on (single-POST uploads, cross-repository
mounting, the referrers API with filtering, tag query parameters, Range requests, deletion, the
catalog). A missing optional feature is a FAIL unless `--allow-skip` is given, which turns exactly
those checks into SKIP lines with the reason. Nothing is skipped silently.

Every run uses fresh random content and run-specific tags, so the suite may be run repeatedly
against the same registry.
"""

import argparse
import hashlib
import http.client
import json
import os
import re
import sys
import threading
import time
import traceback
import urllib.parse

# ---------------------------------------------------------------------------------------------
# Constants from the specifications
# ---------------------------------------------------------------------------------------------

SPEC_ERROR_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
}
# "The client MAY encounter error codes targeting Docker schema1 manifests, such as
# `TAG_INVALID`, or `MANIFEST_UNVERIFIED`." These are tolerated in error bodies.
LEGACY_ERROR_CODES = {"TAG_INVALID", "MANIFEST_UNVERIFIED"}

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_EMPTY = "application/vnd.oci.empty.v1+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ACCEPT_ALL = ", ".join(
    [
        MT_MANIFEST,
        MT_INDEX,
        MT_DOCKER_MANIFEST,
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "*/*",
    ]
)
EMPTY_JSON = b"{}"
NAME_RE = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
RANGE_RE = re.compile(r"^0-([0-9]+)$")
MIB = 1024 * 1024


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data):
    return "sha512:" + hashlib.sha512(data).hexdigest()


def rand_bytes(n):
    return os.urandom(n)


def descriptor(media_type, data, digest=None, **extra):
    d = {"mediaType": media_type, "digest": digest or sha256(data), "size": len(data)}
    d.update(extra)
    return d


def dumps(obj, indent=None):
    return json.dumps(obj, indent=indent).encode()


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


class Response:
    def __init__(self, method, url, status, reason, headers, body):
        self.method = method
        self.url = url
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage (case-insensitive, multi-valued)
        self.body = body
        self.incomplete = None

    def header(self, name):
        return self.headers.get(name)

    def header_all(self, name):
        return self.headers.get_all(name) or []

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def describe(self):
        text = "%s %s -> %d" % (self.method, self.url, self.status)
        if self.body and self.status >= 400:
            text += " %r" % self.body[:200]
        if self.incomplete:
            text += " (%s)" % self.incomplete
        return text


class Client:
    """One connection per request; follows nothing (redirects are reported as they are)."""

    def __init__(self, base_url, timeout, verbose):
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https"):
            raise SystemExit("--url must start with http:// or https://")
        self.scheme = parsed.scheme
        self.netloc = parsed.netloc
        self.timeout = timeout
        self.verbose = verbose
        self.log = []

    def _connection(self, scheme, netloc):
        if scheme == "https":
            return http.client.HTTPSConnection(netloc, timeout=self.timeout)
        return http.client.HTTPConnection(netloc, timeout=self.timeout)

    def request(self, method, target, body=None, headers=None, params=None, chunked=False):
        """`target` is a path (with optional query) or an absolute URL (e.g. a Location)."""
        parsed = urllib.parse.urlsplit(target)
        scheme = parsed.scheme or self.scheme
        netloc = parsed.netloc or self.netloc
        path = parsed.path or "/"
        query = parsed.query
        if params:
            extra = urllib.parse.urlencode(params, safe=":/")
            query = query + "&" + extra if query else extra
        path_query = path + ("?" + query if query else "")
        hdrs = dict(headers or {})
        if method in ("POST", "PUT", "PATCH") and body is None:
            body = b""
        conn = self._connection(scheme, netloc)
        try:
            if chunked:
                # Transfer-Encoding: chunked, as streaming clients send it.
                pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
                conn.request(method, path_query, body=iter(pieces), headers=hdrs, encode_chunked=True)
            else:
                conn.request(method, path_query, body=body, headers=hdrs)
            raw = conn.getresponse()
            incomplete = None
            try:
                data = raw.read()
            except http.client.IncompleteRead as err:
                # Report it as a check failure, not as a crash of the whole group.
                data = err.partial
                incomplete = "body ended after %d bytes, %s more expected" % (len(err.partial), err.expected)
            resp = Response(method, path_query, raw.status, raw.reason, raw.headers, data)
            resp.incomplete = incomplete
        finally:
            conn.close()
        self.log.append(resp)
        if self.verbose:
            print("    %s %s -> %d %s" % (method, path_query, resp.status, dict(resp.headers.items())))
        return resp

    def get(self, target, **kw):
        return self.request("GET", target, **kw)

    def head(self, target, **kw):
        return self.request("HEAD", target, **kw)

    def delete(self, target, **kw):
        return self.request("DELETE", target, **kw)


def error_body_problem(resp):
    """None if the body is a spec-shaped error JSON, else the reason it is not."""
    try:
        doc = resp.json()
    except (ValueError, UnicodeDecodeError):
        return "body is not JSON: %r" % resp.body[:120]
    if not isinstance(doc, dict) or not isinstance(doc.get("errors"), list) or not doc["errors"]:
        return "body lacks a non-empty `errors` array: %r" % resp.body[:200]
    for err in doc["errors"]:
        if not isinstance(err, dict) or not isinstance(err.get("code"), str):
            return "error entry without a string `code`: %r" % (err,)
        if err["code"] not in SPEC_ERROR_CODES | LEGACY_ERROR_CODES:
            return "code %r is not one of the spec's error codes" % err["code"]
        if "message" in err and not isinstance(err["message"], str):
            return "`message` is not a string: %r" % (err,)
    return None


def error_codes(resp):
    try:
        return [e.get("code") for e in resp.json().get("errors", []) if isinstance(e, dict)]
    except (ValueError, UnicodeDecodeError, AttributeError):
        return []


def is_json_body(resp):
    try:
        resp.json()
        return True
    except (ValueError, UnicodeDecodeError):
        return False


def link_next(resp):
    """The target of a `Link: <...>; rel="next"` header, or None."""
    for value in resp.header_all("Link"):
        for part in value.split(","):
            m = re.match(r'\s*<([^>]*)>\s*;\s*rel="?next"?\s*$', part)
            if m:
                return m.group(1)
    return None


def oci_tags(resp):
    tags = []
    for value in resp.header_all("OCI-Tag"):
        tags.extend(t.strip() for t in value.split(",") if t.strip())
    return tags


def is_sorted_lexically(items):
    return items == sorted(items) or items == sorted(items, key=lambda s: (s.lower(), s))


# ---------------------------------------------------------------------------------------------
# Check bookkeeping
# ---------------------------------------------------------------------------------------------


class Prerequisite(Exception):
    """A step other checks depend on failed; the group stops with one FAIL line."""


class Suite:
    def __init__(self, args):
        self.args = args
        self.c = Client(args.url, args.timeout, args.verbose)
        self.ns = args.namespace
        self.cm = args.crossmount_namespace
        self.run = os.urandom(4).hex()
        self.unknown_repo = "%s/unknown-%s" % (self.ns, self.run)
        self.passed = self.failed = self.skipped = 0
        self.chunk_min = 0

    # -- reporting --------------------------------------------------------------------------

    def _emit(self, word, name, detail=""):
        line = "%s %s" % (word, name)
        if detail:
            line += ": " + detail.replace("\n", " ")
        print(line, flush=True)

    def ok(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            self._emit("PASS", name)
        else:
            self.failed += 1
            self._emit("FAIL", name, detail)
        return bool(cond)

    def fail(self, name, detail):
        return self.ok(name, False, detail)

    def optional(self, name, cond, reason, detail=""):
        """A check for behaviour the spec lets a registry refuse: FAIL, or SKIP with --allow-skip."""
        if cond:
            return self.ok(name, True)
        if self.args.allow_skip:
            self.skipped += 1
            self._emit("SKIP", name, reason + ("; " + detail if detail else ""))
        else:
            self.failed += 1
            self._emit("FAIL", name, "%s%s (optional behaviour; --allow-skip reports SKIP)" % (reason, "; " + detail if detail else ""))
        return False

    # -- common assertions ------------------------------------------------------------------

    def status(self, name, resp, *codes):
        return self.ok(name, resp.status in codes, "expected %s, got %s" % ("/".join(map(str, codes)), resp.describe()))

    def error(self, name, resp, statuses, codes):
        """`resp` has one of `statuses` and an error body naming one of `codes`."""
        if resp.status not in statuses:
            return self.fail(name, "expected %s, got %s" % ("/".join(map(str, statuses)), resp.describe()))
        if resp.method == "HEAD":
            return self.ok(name, True)
        problem = error_body_problem(resp)
        if problem:
            return self.fail(name, "%s (%s)" % (problem, resp.describe()))
        got = error_codes(resp)
        return self.ok(name, any(c in codes for c in got), "expected code %s, got %s (%s)" % ("/".join(sorted(codes)), got, resp.describe()))

    def content_headers(self, prefix, resp, digest, data):
        """The MUST headers of GET/HEAD of a blob or manifest whose content is `data`.
        Checked only on a 200 (the status has its own check)."""
        if resp.status != 200:
            return
        dcd = resp.header("Docker-Content-Digest")
        name = "%s: Docker-Content-Digest is %s" % (prefix, digest[:19] + "...")
        if dcd == digest:
            self.ok(name, True)
        elif dcd in (sha256(data), sha512(data)):
            # "returns the digest of the uploaded blob which MAY differ from the provided digest"
            self.optional(name, False, "Docker-Content-Digest is a digest of the content in another algorithm (allowed: MAY differ)", "got %s" % dcd)
        else:
            self.fail(name, "got %r, which is not a digest of the content" % dcd)
        self.ok(
            "%s: Content-Length is %d" % (prefix, len(data)),
            resp.header("Content-Length") == str(len(data)),
            "got %r" % resp.header("Content-Length"),
        )
        if resp.method == "HEAD":
            self.ok("%s: HEAD response has no body" % prefix, resp.body == b"", "got %d bytes" % len(resp.body))

    # -- paths ------------------------------------------------------------------------------

    def repo_path(self, repo, rest):
        return "/v2/%s/%s" % (repo, rest)

    # -- helpers that set state up (raise Prerequisite on failure) ---------------------------

    def push_blob(self, repo, data, algorithm="sha256"):
        digest = sha512(data) if algorithm == "sha512" else sha256(data)
        params = {"digest-algorithm": algorithm} if algorithm != "sha256" else None
        post = self.c.request("POST", self.repo_path(repo, "blobs/uploads/"), params=params)
        if post.status != 202 or not post.header("Location"):
            raise Prerequisite("cannot start an upload: %s" % post.describe())
        put = self.c.request(
            "PUT",
            post.header("Location"),
            body=data,
            headers={"Content-Type": "application/octet-stream"},
            params={"digest": digest},
        )
        if put.status != 201:
            raise Prerequisite("cannot upload blob %s: %s" % (digest, put.describe()))
        return digest

    def push_manifest(self, repo, ref, body, media_type=MT_MANIFEST, params=None):
        return self.c.request(
            "PUT",
            self.repo_path(repo, "manifests/" + ref),
            body=body,
            headers={"Content-Type": media_type},
            params=params,
        )

    def must_push_manifest(self, repo, ref, body, media_type=MT_MANIFEST):
        r = self.push_manifest(repo, ref, body, media_type)
        if r.status != 201:
            raise Prerequisite("cannot push manifest %s: %s" % (ref, r.describe()))
        return r

    def image(self, repo, annotations=None, layer_size=64, **extra):
        """Pushes a config and a layer blob; returns the bytes of an image manifest using them."""
        config = dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "run": self.run, "nonce": os.urandom(8).hex()})
        layer = rand_bytes(layer_size)
        self.push_blob(repo, config)
        self.push_blob(repo, layer)
        doc = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": descriptor(MT_CONFIG, config),
            "layers": [descriptor(MT_LAYER, layer)],
        }
        if annotations:
            doc["annotations"] = annotations
        doc.update(extra)
        return dumps(doc)

    def start_upload(self, repo, params=None, name=None):
        r = self.c.request("POST", self.repo_path(repo, "blobs/uploads/"), params=params)
        if name:
            self.status(name, r, 202)
        if r.status != 202 or not r.header("Location"):
            raise Prerequisite("cannot start an upload: %s" % r.describe())
        return r

    # =========================================================================================
    # Groups
    # =========================================================================================

    def t_base(self):
        r = self.c.get("/v2/")
        self.status("end-1 GET /v2/ returns 200", r, 200)

    # -- pull of unknown content, unknown repositories -------------------------------------

    def t_unknown(self):
        # The repository has to exist for MANIFEST_UNKNOWN/BLOB_UNKNOWN (else NAME_UNKNOWN fits).
        self.push_blob(self.ns, rand_bytes(16))
        missing = sha256(rand_bytes(32))
        r = self.c.get(self.repo_path(self.ns, "blobs/" + missing))
        self.error("end-2 GET unknown blob returns 404 BLOB_UNKNOWN", r, [404], {"BLOB_UNKNOWN"})
        r = self.c.head(self.repo_path(self.ns, "blobs/" + missing))
        self.status("end-2 HEAD unknown blob returns 404", r, 404)
        r = self.c.get(self.repo_path(self.ns, "manifests/" + missing), headers={"Accept": ACCEPT_ALL})
        self.error("end-3 GET unknown manifest digest returns 404 MANIFEST_UNKNOWN", r, [404], {"MANIFEST_UNKNOWN"})
        r = self.c.get(self.repo_path(self.ns, "manifests/no-such-tag-" + self.run), headers={"Accept": ACCEPT_ALL})
        self.error("end-3 GET unknown tag returns 404 MANIFEST_UNKNOWN", r, [404], {"MANIFEST_UNKNOWN"})
        r = self.c.head(self.repo_path(self.ns, "manifests/no-such-tag-" + self.run))
        self.status("end-3 HEAD unknown tag returns 404", r, 404)

        u = self.unknown_repo
        r = self.c.get(self.repo_path(u, "manifests/latest"), headers={"Accept": ACCEPT_ALL})
        self.error("unknown repository: GET manifest returns 404 (NAME_UNKNOWN/MANIFEST_UNKNOWN)", r, [404], {"NAME_UNKNOWN", "MANIFEST_UNKNOWN"})
        r = self.c.head(self.repo_path(u, "manifests/latest"))
        self.status("unknown repository: HEAD manifest returns 404", r, 404)
        r = self.c.get(self.repo_path(u, "blobs/" + missing))
        self.error("unknown repository: GET blob returns 404 (NAME_UNKNOWN/BLOB_UNKNOWN)", r, [404], {"NAME_UNKNOWN", "BLOB_UNKNOWN"})
        r = self.c.get(self.repo_path(u, "tags/list"))
        self.error("unknown repository: GET tags/list returns 404 NAME_UNKNOWN", r, [404], {"NAME_UNKNOWN"})
        r = self.c.delete(self.repo_path(u, "manifests/" + missing))
        self.error("unknown repository: DELETE manifest returns 404", r, [404], {"NAME_UNKNOWN", "MANIFEST_UNKNOWN"})
        r = self.c.delete(self.repo_path(u, "blobs/" + missing))
        self.error("unknown repository: DELETE blob returns 404", r, [404], {"NAME_UNKNOWN", "BLOB_UNKNOWN"})

    # -- monolithic blob push (end-4a, end-6), pull (end-2) --------------------------------

    def t_blob_post_put(self):
        data = rand_bytes(1000)
        digest = sha256(data)
        post = self.start_upload(self.ns, name="end-4a POST /blobs/uploads/ returns 202")
        loc = post.header("Location")
        self.ok("end-4a POST response has a Location", bool(loc))
        # "The <blob-push-location> MUST contain a UUID representing a unique session ID"
        self.ok(
            "end-4a Location contains a UUID",
            re.search(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}", loc or "") is not None,
            "got %r" % loc,
        )
        other = self.start_upload(self.ns)
        self.ok(
            "end-4a each upload session has its own Location",
            other.header("Location") != loc,
            "both %r" % loc,
        )
        r = self.c.get(other.header("Location"))
        self.ok("end-13 GET status of a fresh upload session returns 204 with a Location", r.status == 204 and bool(r.header("Location")), r.describe())
        self.c.delete(other.header("Location"), body=b"")

        put = self.c.request("PUT", loc, body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": digest})
        self.status("end-6 PUT <location>?digest= with the whole blob returns 201", put, 201)
        if put.status != 201:
            raise Prerequisite("monolithic upload failed")
        blob_loc = put.header("Location")
        if self.ok("end-6 PUT response has a Location", bool(blob_loc)):
            r = self.c.get(blob_loc)
            self.ok("end-6 Location of the uploaded blob is pullable", r.status == 200 and r.body == data, r.describe())

        r = self.c.get(self.repo_path(self.ns, "blobs/" + digest))
        self.status("end-2 GET blob returns 200", r, 200)
        self.ok("end-2 GET blob returns the uploaded bytes", r.body == data, "got %d bytes" % len(r.body))
        self.content_headers("end-2 GET blob", r, digest, data)
        r = self.c.head(self.repo_path(self.ns, "blobs/" + digest))
        self.status("end-2 HEAD blob returns 200", r, 200)
        self.content_headers("end-2 HEAD blob", r, digest, data)
        r = self.c.get(self.repo_path(self.ns, "blobs/" + digest), headers={"Accept-Encoding": "gzip"})
        self.ok(
            "end-2 GET blob with Accept-Encoding: gzip still returns the exact bytes",
            r.status == 200 and r.body == data and r.header("Content-Encoding") in (None, "identity"),
            "%s Content-Encoding=%r" % (r.describe(), r.header("Content-Encoding")),
        )

        r = self.c.get(loc)
        self.error("end-13 GET of a completed upload session returns 404 BLOB_UPLOAD_UNKNOWN", r, [404], {"BLOB_UPLOAD_UNKNOWN"})
        r = self.c.request("PUT", loc, body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": digest})
        self.error("end-6 PUT to a completed upload session returns 404 BLOB_UPLOAD_UNKNOWN", r, [404], {"BLOB_UPLOAD_UNKNOWN"})

        # Uploading content that already exists is fine (de-duplication).
        again = self.start_upload(self.ns)
        r = self.c.request("PUT", again.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": digest})
        self.status("end-6 re-uploading an existing blob returns 201", r, 201)

        # The empty blob.
        empty = self.start_upload(self.ns)
        r = self.c.request("PUT", empty.header("Location"), body=b"", headers={"Content-Type": "application/octet-stream"}, params={"digest": sha256(b"")})
        self.status("end-6 uploading the empty blob returns 201", r, 201)
        r = self.c.get(self.repo_path(self.ns, "blobs/" + sha256(b"")))
        self.ok("end-2 GET the empty blob returns 200 and no bytes", r.status == 200 and r.body == b"", r.describe())
        r = self.c.head(self.repo_path(self.ns, "blobs/" + sha256(b"")))
        self.content_headers("end-2 HEAD empty blob", r, sha256(b""), b"")

    def t_blob_put_errors(self):
        data = rand_bytes(200)
        post = self.start_upload(self.ns)
        r = self.c.request("PUT", post.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": sha256(b"something else")})
        self.error("end-6 PUT with a digest that does not match the content returns 400 DIGEST_INVALID", r, [400], {"DIGEST_INVALID"})
        r = self.c.head(self.repo_path(self.ns, "blobs/" + sha256(data)))
        self.status("end-6 content with a mismatched digest was not stored", r, 404)

        post = self.start_upload(self.ns)
        r = self.c.request("PUT", post.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": "sha256:1234"})
        self.error("end-6 PUT with a malformed digest returns 400 DIGEST_INVALID", r, [400], {"DIGEST_INVALID"})

        post = self.start_upload(self.ns)
        r = self.c.request("PUT", post.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": "md5:" + hashlib.md5(data).hexdigest()})
        self.error("end-6 PUT with an unsupported digest algorithm returns 400", r, [400], {"DIGEST_INVALID", "UNSUPPORTED"})

        post = self.start_upload(self.ns)
        r = self.c.request("PUT", post.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"})
        self.error("end-6 PUT without a digest parameter returns 400", r, [400], {"DIGEST_INVALID", "BLOB_UPLOAD_INVALID"})

    # -- single POST (end-4b) ----------------------------------------------------------------

    def t_blob_single_post(self):
        data = rand_bytes(500)
        digest = sha256(data)
        r = self.c.request("POST", self.repo_path(self.ns, "blobs/uploads/"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": digest})
        if r.status == 202 and r.header("Location"):
            self.optional("end-4b single POST ?digest= upload returns 201", False, "registry answered 202 (single-POST uploads not supported)")
            # "clients SHOULD proceed with a subsequent PUT request"
            r = self.c.request("PUT", r.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": digest})
            self.status("end-4b fallback PUT after 202 returns 201", r, 201)
        else:
            self.status("end-4b single POST ?digest= upload returns 201", r, 201)
            if r.status == 201:
                loc = r.header("Location")
                if self.ok("end-4b response has a Location", bool(loc)):
                    g = self.c.get(loc)
                    self.ok("end-4b Location is a pullable blob URL", g.status == 200 and g.body == data, g.describe())
        g = self.c.get(self.repo_path(self.ns, "blobs/" + digest))
        self.ok("end-4b blob is pullable after single POST", g.status == 200 and g.body == data, g.describe())

        r = self.c.request("POST", self.repo_path(self.ns, "blobs/uploads/"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": "sha256:abc"})
        self.error("end-4b single POST with a malformed digest returns 400 DIGEST_INVALID", r, [400], {"DIGEST_INVALID"})

        bad = rand_bytes(100)
        r = self.c.request("POST", self.repo_path(self.ns, "blobs/uploads/"), body=bad, headers={"Content-Type": "application/octet-stream"}, params={"digest": sha256(b"not the content")})
        if r.status == 202:
            self.optional("end-4b single POST with a wrong digest returns 400 DIGEST_INVALID", False, "single-POST uploads not supported")
            self.c.delete(r.header("Location") or "/", body=b"")
        else:
            self.error("end-4b single POST with a wrong digest returns 400 DIGEST_INVALID", r, [400], {"DIGEST_INVALID"})

    # -- chunked uploads (end-5, end-13, end-6 with final chunk) ------------------------------

    def chunk_size(self, post):
        raw = post.header("OCI-Chunk-Min-Length")
        if raw is not None:
            self.ok("end-4a OCI-Chunk-Min-Length is a non-negative integer", raw.isdigit(), "got %r" % raw)
            if raw.isdigit():
                self.chunk_min = int(raw)
        return min(max(self.chunk_min, 4096), 64 * MIB)

    def patch(self, loc, data, start, content_range=True):
        headers = {"Content-Type": "application/octet-stream"}
        if content_range:
            headers["Content-Range"] = "%d-%d" % (start, start + len(data) - 1)
        return self.c.request("PATCH", loc, body=data, headers=headers)

    def check_range(self, name, resp, end):
        self.ok(name, resp.header("Range") == "0-%d" % end, "expected Range 0-%d, got %r (%s)" % (end, resp.header("Range"), resp.describe()))

    def t_blob_chunked(self):
        post = self.c.request("POST", self.repo_path(self.ns, "blobs/uploads/"), headers={"Content-Length": "0"})
        self.status("end-4a POST with Content-Length: 0 starts a chunked upload (202)", post, 202)
        if post.status != 202 or not post.header("Location"):
            raise Prerequisite("cannot start upload: %s" % post.describe())
        size = self.chunk_size(post)
        data = rand_bytes(2 * size + 123)
        c1, c2, c3 = data[:size], data[size : 2 * size], data[2 * size :]
        final_range = {"Content-Type": "application/octet-stream", "Content-Range": "%d-%d" % (2 * size, 2 * size + len(c3) - 1)}

        # In-order upload: PATCH, status, PATCH, PUT with the final chunk.
        loc = post.header("Location")
        r = self.patch(loc, c1, 0)
        self.status("end-5 PATCH first chunk returns 202", r, 202)
        if r.status != 202:
            raise Prerequisite("chunk upload failed")
        self.ok("end-5 PATCH response has a Location", bool(r.header("Location")))
        self.check_range("end-5 PATCH response has Range: 0-<end>", r, size - 1)
        loc = r.header("Location") or loc
        r = self.c.get(loc)
        self.status("end-13 GET upload status returns 204", r, 204)
        self.ok("end-13 upload status has a Location", bool(r.header("Location")))
        self.check_range("end-13 upload status has Range: 0-<end>", r, size - 1)
        loc = r.header("Location") or loc
        r = self.patch(loc, c2, size)
        self.status("end-5 PATCH second chunk returns 202", r, 202)
        self.check_range("end-5 second PATCH response has Range: 0-<end>", r, 2 * size - 1)
        loc = r.header("Location") or loc
        r = self.c.request("PUT", loc, body=c3, headers=final_range, params={"digest": sha256(data)})
        self.status("end-6 PUT with the final chunk and the whole-blob digest returns 201", r, 201)
        self.ok("end-6 closing PUT has a Location", bool(r.header("Location")))
        g = self.c.get(self.repo_path(self.ns, "blobs/" + sha256(data)))
        self.ok("end-2 chunked blob is pullable and byte-exact", g.status == 200 and g.body == data, g.describe())

        # Out-of-order chunks are refused with 416 and the session survives them.
        data = rand_bytes(2 * size + 321)
        c1, c2, c3 = data[:size], data[size : 2 * size], data[2 * size :]
        final_range = {"Content-Type": "application/octet-stream", "Content-Range": "%d-%d" % (2 * size, 2 * size + len(c3) - 1)}
        post = self.start_upload(self.ns)
        r = self.patch(post.header("Location"), c1, 0)
        loc = r.header("Location") or post.header("Location")
        r = self.patch(loc, c2, size + 7)
        self.error("end-5 PATCH out of order (gap) returns 416", r, [416], SPEC_ERROR_CODES)
        r = self.patch(loc, c1, 0)
        self.error("end-5 PATCH out of order (overlap) returns 416", r, [416], SPEC_ERROR_CODES)
        r = self.c.get(loc)
        self.status("end-13 upload status after a 416 returns 204", r, 204)
        self.check_range("end-13 upload status after a 416 still reports the stored range", r, size - 1)
        loc = r.header("Location") or loc
        r = self.patch(loc, c2, size)
        self.status("end-5 PATCH in order after a 416 returns 202", r, 202)
        loc = r.header("Location") or loc
        bad_range = {"Content-Type": "application/octet-stream", "Content-Range": "%d-%d" % (2 * size + 1, 2 * size + len(c3))}
        r = self.c.request("PUT", loc, body=c3, headers=bad_range, params={"digest": sha256(data)})
        self.error("end-6 PUT with an out-of-order final chunk returns 416", r, [416], SPEC_ERROR_CODES)
        r = self.c.get(loc)
        self.check_range("end-13 upload status after a 416 on PUT still reports the stored range", r, 2 * size - 1)
        loc = r.header("Location") or loc
        r = self.c.request("PUT", loc, body=c3, headers=final_range, params={"digest": sha256(data)})
        self.status("end-6 PUT with the right final chunk after a 416 returns 201", r, 201)
        g = self.c.get(self.repo_path(self.ns, "blobs/" + sha256(data)))
        self.ok("end-2 blob uploaded around 416s is byte-exact", g.status == 200 and g.body == data, g.describe())

        # "The first chunk's range MUST begin with `0`." (on a session of its own)
        post = self.start_upload(self.ns)
        r = self.patch(post.header("Location"), c2, size)
        self.error("end-5 first PATCH not starting at 0 returns 416", r, [416], SPEC_ERROR_CODES)
        self.c.delete(post.header("Location"), body=b"")

        # All chunks by PATCH, closing PUT without a body.
        data = rand_bytes(size + 99)
        post = self.start_upload(self.ns)
        r = self.patch(post.header("Location"), data[:size], 0)
        r = self.patch(r.header("Location") or post.header("Location"), data[size:], size)
        self.status("end-5 PATCH final chunk returns 202", r, 202)
        self.check_range("end-5 final PATCH has Range: 0-<size-1>", r, len(data) - 1)
        r = self.c.request("PUT", r.header("Location") or post.header("Location"), params={"digest": sha256(data)})
        self.status("end-6 closing PUT without a body returns 201", r, 201)
        g = self.c.get(self.repo_path(self.ns, "blobs/" + sha256(data)))
        self.ok("end-2 blob uploaded by PATCH-only chunks is byte-exact", g.status == 200 and g.body == data, g.describe())

        # Streamed PATCH without Content-Range (exercised by the official conformance suite).
        data = rand_bytes(3000)
        post = self.start_upload(self.ns)
        r = self.patch(post.header("Location"), data, 0, content_range=False)
        self.status("end-5 PATCH without Content-Range (streamed) returns 202", r, 202)
        r = self.c.request("PUT", r.header("Location") or post.header("Location"), params={"digest": sha256(data)})
        self.status("end-6 closing PUT after a streamed PATCH returns 201", r, 201)
        g = self.c.get(self.repo_path(self.ns, "blobs/" + sha256(data)))
        self.ok("end-2 streamed blob is byte-exact", g.status == 200 and g.body == data, g.describe())

    def t_upload_cancel(self):
        post = self.start_upload(self.ns)
        loc = post.header("Location")
        r = self.patch(loc, b"partial", 0)
        loc = r.header("Location") or loc
        r = self.c.delete(loc, body=b"")
        self.status("end-14 DELETE <upload location> cancels with 204", r, 204)
        r = self.c.get(loc)
        self.error("end-13 GET of a cancelled upload returns 404 BLOB_UPLOAD_UNKNOWN", r, [404], {"BLOB_UPLOAD_UNKNOWN"})
        r = self.patch(loc, b"more", 7)
        self.error("end-5 PATCH to a cancelled upload returns 404 BLOB_UPLOAD_UNKNOWN", r, [404], {"BLOB_UPLOAD_UNKNOWN"})
        r = self.c.request("PUT", loc, body=b"x", headers={"Content-Type": "application/octet-stream"}, params={"digest": sha256(b"partialx")})
        self.error("end-6 PUT to a cancelled upload returns 404 BLOB_UPLOAD_UNKNOWN", r, [404], {"BLOB_UPLOAD_UNKNOWN"})
        r = self.c.delete(loc, body=b"")
        self.error("end-14 DELETE of an unknown upload returns 404 BLOB_UPLOAD_UNKNOWN", r, [404], {"BLOB_UPLOAD_UNKNOWN"})

    def t_transfer_encoding(self):
        """Bodies sent with `Transfer-Encoding: chunked` (no Content-Length), as streaming clients
        do; every HTTP/1.1 server must parse them (RFC 9112, section 7.1)."""
        data = rand_bytes(5000)
        post = self.start_upload(self.ns)
        r = self.c.request("PATCH", post.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"}, chunked=True)
        self.status("end-5 PATCH with a chunked transfer-encoded body returns 202", r, 202)
        self.check_range("end-5 chunked transfer-encoded PATCH reports Range: 0-4999", r, len(data) - 1)
        r = self.c.request("PUT", r.header("Location") or post.header("Location"), params={"digest": sha256(data)})
        self.status("end-6 closing PUT after a chunked transfer-encoded PATCH returns 201", r, 201)
        g = self.c.get(self.repo_path(self.ns, "blobs/" + sha256(data)))
        self.ok("end-2 blob sent with chunked transfer-encoding is byte-exact", g.status == 200 and g.body == data, g.describe())

        data = rand_bytes(3000)
        post = self.start_upload(self.ns)
        r = self.c.request("PUT", post.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": sha256(data)}, chunked=True)
        self.status("end-6 monolithic PUT with a chunked transfer-encoded body returns 201", r, 201)

        body = self.image(self.ns, annotations={"kind": "chunked-te", "run": self.run})
        r = self.c.request("PUT", self.repo_path(self.ns, "manifests/te-" + self.run), body=body, headers={"Content-Type": MT_MANIFEST}, chunked=True)
        self.status("end-7a manifest PUT with a chunked transfer-encoded body returns 201", r, 201)
        g = self.c.get(self.repo_path(self.ns, "manifests/te-" + self.run), headers={"Accept": ACCEPT_ALL})
        self.ok("end-3 manifest sent with chunked transfer-encoding is byte-exact", g.status == 200 and g.body == body, g.describe())

    def t_isolation(self):
        """Content is per repository: "If the blob is not found in the repository, the response
        code MUST be 404 Not Found" (likewise for manifests)."""
        a, b = self.ns, self.cm
        self.push_blob(b, rand_bytes(8))  # make sure the other repository exists
        data = rand_bytes(300)
        digest = self.push_blob(a, data)
        r = self.c.get(self.repo_path(b, "blobs/" + digest))
        self.error("isolation: a blob pushed to one repository is 404 BLOB_UNKNOWN in another", r, [404], {"BLOB_UNKNOWN"})
        r = self.c.head(self.repo_path(b, "blobs/" + digest))
        self.status("isolation: HEAD of another repository's blob returns 404", r, 404)
        body = self.image(a, annotations={"kind": "isolation", "run": self.run})
        self.must_push_manifest(a, "iso-" + self.run, body)
        r = self.c.get(self.repo_path(b, "manifests/" + sha256(body)), headers={"Accept": ACCEPT_ALL})
        self.error("isolation: a manifest pushed to one repository is 404 MANIFEST_UNKNOWN in another", r, [404], {"MANIFEST_UNKNOWN"})
        r = self.c.get(self.repo_path(b, "manifests/iso-" + self.run), headers={"Accept": ACCEPT_ALL})
        self.error("isolation: a tag pushed to one repository is 404 MANIFEST_UNKNOWN in another", r, [404], {"MANIFEST_UNKNOWN"})
        # The same blob in two repositories; deleting it from one leaves the other.
        self.push_blob(b, data)
        r = self.c.delete(self.repo_path(a, "blobs/" + digest))
        if self.status("isolation: DELETE a blob present in two repositories returns 202", r, 202):
            self.status("isolation: the blob is gone from the repository it was deleted from", self.c.head(self.repo_path(a, "blobs/" + digest)), 404)
            g = self.c.get(self.repo_path(b, "blobs/" + digest))
            self.ok("isolation: the blob stays in the other repository", g.status == 200 and g.body == data, g.describe())

    def t_keyword_names(self):
        """Repository names made of path keywords (`blobs`, `uploads`, `manifests`, `tags`,
        `list`, `referrers`) are valid names; the path must be parsed from its endpoint suffix."""
        for repo in ["%s/blobs/uploads" % self.ns, "%s/manifests" % self.ns, "%s/tags/list" % self.ns, "%s/referrers" % self.ns]:
            try:
                data = rand_bytes(40)
                digest = self.push_blob(repo, data)
                g = self.c.get(self.repo_path(repo, "blobs/" + digest))
                body = self.image(repo, annotations={"kind": "keyword", "run": self.run})
                m = self.push_manifest(repo, "kw-" + self.run, body)
                t = self.c.get(self.repo_path(repo, "tags/list"))
                tags = t.json() if t.status == 200 else {}
                ok = g.status == 200 and g.body == data and m.status == 201 and tags.get("name") == repo and "kw-" + self.run in (tags.get("tags") or [])
                self.ok("names: repository %r works for blobs, manifests and tags/list" % repo, ok, "blob %s; manifest %s; tags %s" % (g.describe(), m.describe(), t.describe()))
            except Prerequisite as err:
                self.fail("names: repository %r works for blobs, manifests and tags/list" % repo, str(err))

    def t_concurrent_patch(self):
        """Eight PATCHes of the same first chunk at once: only one can be in order; the others
        are out of order by the time they apply ("MUST respond with a 416"). A registry that
        moves the session to a new Location may answer 404 for the stale one."""
        post = self.start_upload(self.ns)
        loc = post.header("Location")
        chunk = rand_bytes(max(self.chunk_min, 256 * 1024))
        results, accepted_loc = [], []

        def send():
            client = Client(self.args.url, self.args.timeout, False)
            try:
                r = client.request("PATCH", loc, body=chunk, headers={"Content-Type": "application/octet-stream", "Content-Range": "0-%d" % (len(chunk) - 1)})
                results.append(r.status)
                if r.status == 202:
                    accepted_loc.append(r.header("Location"))
            except (OSError, http.client.HTTPException) as err:
                results.append(repr(err))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.args.timeout)
        accepted = results.count(202)
        refused = results.count(416) + results.count(404)
        self.ok("end-5 concurrent PATCHes of the same chunk: exactly one 202, the rest 416", accepted == 1 and refused == 7, "got %r" % sorted(map(str, results)))
        loc = (accepted_loc and accepted_loc[0]) or loc
        st = self.c.get(loc)
        self.check_range("end-13 after concurrent PATCHes the session holds the chunk once", st, len(chunk) - 1)
        r = self.c.request("PUT", st.header("Location") or loc, params={"digest": sha256(chunk)})
        self.status("end-6 the session completes with the chunk's digest (201)", r, 201)

    # -- sha512 (end-4c) ---------------------------------------------------------------------

    def t_sha512_blobs(self):
        data = rand_bytes(777)
        digest = sha512(data)
        post = self.c.request("POST", self.repo_path(self.ns, "blobs/uploads/"), params={"digest-algorithm": "sha512"})
        self.status("end-4c POST ?digest-algorithm=sha512 returns 202", post, 202)
        if post.status not in (201, 202) or not post.header("Location"):
            raise Prerequisite("sha512 upload session failed")
        r = self.c.request("PUT", post.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": digest})
        self.status("end-4c PUT ?digest=sha512:... returns 201", r, 201)
        r = self.c.get(self.repo_path(self.ns, "blobs/" + digest))
        self.ok("end-4c GET sha512 blob returns 200 and the bytes", r.status == 200 and r.body == data, r.describe())
        self.content_headers("end-4c GET sha512 blob", r, digest, data)
        r = self.c.head(self.repo_path(self.ns, "blobs/" + digest))
        self.status("end-4c HEAD sha512 blob returns 200", r, 200)
        self.content_headers("end-4c HEAD sha512 blob", r, digest, data)

        # chunked sha512
        data = rand_bytes(5000)
        post = self.start_upload(self.ns, params={"digest-algorithm": "sha512"})
        r = self.patch(post.header("Location"), data[:3000], 0)
        self.status("end-4c sha512 chunked PATCH returns 202", r, 202)
        loc = r.header("Location") or post.header("Location")
        r = self.c.request("PUT", loc, body=data[3000:], headers={"Content-Type": "application/octet-stream", "Content-Range": "3000-4999"}, params={"digest": sha512(data)})
        self.status("end-4c sha512 chunked closing PUT returns 201", r, 201)
        g = self.c.get(self.repo_path(self.ns, "blobs/" + sha512(data)))
        self.ok("end-4c sha512 chunked blob is byte-exact", g.status == 200 and g.body == data, g.describe())

        # sha512 chunks uploaded without ?digest-algorithm= (clients SHOULD send it, not MUST),
        # closed by PUT ?digest=sha512:... (the official conformance suite does this)
        data = rand_bytes(5000)
        post = self.start_upload(self.ns)
        r = self.patch(post.header("Location"), data[:3000], 0)
        self.status("end-4c sha512 upload started without digest-algorithm: PATCH returns 202", r, 202)
        loc = r.header("Location") or post.header("Location")
        r = self.patch(loc, data[3000:], 3000)
        loc = r.header("Location") or loc
        r = self.c.request("PUT", loc, params={"digest": sha512(data)})
        self.status("end-4c sha512 upload started without digest-algorithm: closing PUT ?digest=sha512 returns 201", r, 201)
        g = self.c.get(self.repo_path(self.ns, "blobs/" + sha512(data)))
        self.ok("end-4c that sha512 blob is byte-exact", g.status == 200 and g.body == data, g.describe())

        # single POST with a sha512 digest
        data = rand_bytes(321)
        r = self.c.request("POST", self.repo_path(self.ns, "blobs/uploads/"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": sha512(data)})
        if r.status == 202:
            self.optional("end-4b single POST with a sha512 digest returns 201", False, "single-POST uploads not supported")
            self.c.delete(r.header("Location") or "/", body=b"")
        else:
            self.status("end-4b single POST with a sha512 digest returns 201", r, 201)

        # wrong sha512 digest
        post = self.start_upload(self.ns, params={"digest-algorithm": "sha512"})
        r = self.c.request("PUT", post.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": sha512(b"other")})
        self.error("end-4c PUT with a mismatched sha512 digest returns 400 DIGEST_INVALID", r, [400], {"DIGEST_INVALID"})

        r = self.c.request("POST", self.repo_path(self.ns, "blobs/uploads/"), params={"digest-algorithm": "nosuchalgo"})
        self.error("end-4c POST with an unsupported digest-algorithm returns 400", r, [400], {"DIGEST_INVALID", "UNSUPPORTED", "BLOB_UPLOAD_INVALID"})

    def t_large_blob(self):
        """An 8 MiB blob in chunks of at least 3 MiB (or the registry's minimum)."""
        post = self.start_upload(self.ns)
        size = max(self.chunk_min, 3 * MIB)
        data = rand_bytes(8 * MIB + 5)
        loc, offset = post.header("Location"), 0
        while offset < len(data):
            piece = data[offset : offset + size]
            r = self.patch(loc, piece, offset)
            if r.status != 202:
                break
            loc, offset = r.header("Location") or loc, offset + len(piece)
        self.ok("end-5 an 8 MiB blob is accepted in %d-byte chunks" % size, offset == len(data), r.describe())
        r = self.c.request("PUT", loc, params={"digest": sha256(data)})
        self.status("end-6 closing an 8 MiB upload returns 201", r, 201)
        g = self.c.get(self.repo_path(self.ns, "blobs/" + sha256(data)))
        self.ok("end-2 the 8 MiB blob is byte-exact", g.status == 200 and g.body == data, "%s, %d bytes" % (g.describe(), len(g.body)))
        a, b = 3 * MIB - 8, 3 * MIB + 7
        g = self.c.get(self.repo_path(self.ns, "blobs/" + sha256(data)), headers={"Range": "bytes=%d-%d" % (a, b)})
        self.ok("Range across a chunk boundary returns 206 and the right bytes", g.status == 206 and g.body == data[a : b + 1], g.describe())

    def t_manifest_limit(self):
        """ "A registry SHOULD enforce some limit on the maximum manifest size ... SHOULD respond
        ... with a response code 413 Payload Too Large." Tries 32 MiB."""
        config = dumps({"run": self.run, "huge": True})
        self.push_blob(self.ns, config)
        doc = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": descriptor(MT_CONFIG, config), "layers": [], "annotations": {"pad": "x" * (32 * MIB)}}
        body = dumps(doc)
        r = self.send_large("PUT", self.repo_path(self.ns, "manifests/huge-" + self.run), body, {"Content-Type": MT_MANIFEST})
        if r is None:
            self.fail("end-7a a 32 MiB manifest is refused with 413", "connection closed without a response")
        elif r.status == 201:
            self.optional("end-7a a 32 MiB manifest is refused with 413", False, "accepted: no manifest size limit (SHOULD)")
        else:
            self.status("end-7a a 32 MiB manifest is refused with 413", r, 413)

    def send_large(self, method, path, body, headers):
        """Like Client.request, but tolerates the server answering before reading the body."""
        conn = self.c._connection(self.c.scheme, self.c.netloc)
        try:
            conn.putrequest(method, path)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            try:
                for i in range(0, len(body), 1 << 16):
                    conn.send(body[i : i + (1 << 16)])
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                raw = conn.getresponse()
                data = raw.read()
            except (http.client.HTTPException, OSError):
                return None
            resp = Response(method, path, raw.status, raw.reason, raw.headers, data)
            self.c.log.append(resp)
            return resp
        finally:
            conn.close()

    # -- Range requests ---------------------------------------------------------------------

    def t_range(self):
        data = rand_bytes(100)
        digest = self.push_blob(self.ns, data)
        path = self.repo_path(self.ns, "blobs/" + digest)
        r = self.c.get(path, headers={"Range": "bytes=10-19"})
        if r.status == 200:
            self.optional("Range: bytes=10-19 returns 206", False, "registry ignores Range (spec: SHOULD support)")
            return
        self.status("Range: bytes=10-19 returns 206", r, 206)
        self.ok("Range: bytes=10-19 body is bytes 10..19", r.body == data[10:20], "got %r" % r.body[:40])
        self.ok("Range: bytes=10-19 Content-Range is bytes 10-19/100", r.header("Content-Range") == "bytes 10-19/100", "got %r" % r.header("Content-Range"))
        self.ok("Range: bytes=10-19 Content-Length is 10", r.header("Content-Length") == "10", "got %r" % r.header("Content-Length"))
        r = self.c.get(path, headers={"Range": "bytes=90-"})
        self.ok("Range: bytes=90- returns 206 with the tail", r.status == 206 and r.body == data[90:] and r.header("Content-Range") == "bytes 90-99/100", r.describe() + " " + repr(r.header("Content-Range")))
        r = self.c.get(path, headers={"Range": "bytes=-5"})
        self.ok("Range: bytes=-5 returns 206 with the last 5 bytes", r.status == 206 and r.body == data[-5:] and r.header("Content-Range") == "bytes 95-99/100", r.describe() + " " + repr(r.header("Content-Range")))
        r = self.c.get(path, headers={"Range": "bytes=95-500"})
        self.ok("Range: bytes=95-500 is clamped to bytes 95-99/100", r.status == 206 and r.body == data[95:] and r.header("Content-Range") == "bytes 95-99/100", r.describe() + " " + repr(r.header("Content-Range")))
        r = self.c.get(path, headers={"Range": "bytes=100-"})
        self.status("Range: bytes=100- (past the end) returns 416", r, 416)
        self.ok("416 for an unsatisfiable Range has Content-Range: bytes */100", r.header("Content-Range") == "bytes */100", "got %r" % r.header("Content-Range"))
        r = self.c.get(path, headers={"Range": "bytes=200-300"})
        self.ok("Range: bytes=200-300 returns 416 with bytes */100", r.status == 416 and r.header("Content-Range") == "bytes */100", r.describe() + " " + repr(r.header("Content-Range")))
        r = self.c.get(path, headers={"Range": "bytes=50-0"})
        self.ok("Range: bytes=50-0 (last before first) returns 416 with bytes */100, as the official suite expects", r.status == 416 and r.header("Content-Range") == "bytes */100", r.describe() + " " + repr(r.header("Content-Range")))
        r = self.c.head(path, headers={"Range": "bytes=10-19"})
        self.ok("HEAD with Range answers 200 or 206 without a body", r.status in (200, 206) and r.body == b"", r.describe())

    # -- manifests (end-3, end-7a) -----------------------------------------------------------

    def pull_manifest_checks(self, label, ref, body, media_type):
        digest = sha256(body)
        r = self.c.get(self.repo_path(self.ns, "manifests/" + ref), headers={"Accept": ACCEPT_ALL})
        self.status("end-3 GET manifest by %s returns 200" % label, r, 200)
        self.ok("end-3 GET manifest by %s is byte-exact" % label, r.body == body, "got %d bytes, pushed %d" % (len(r.body), len(body)))
        self.ok(
            "end-3 GET manifest by %s has the pushed Content-Type" % label,
            r.header("Content-Type") == media_type,
            "pushed %r, got %r" % (media_type, r.header("Content-Type")),
        )
        self.content_headers("end-3 GET manifest by %s" % label, r, digest, body)
        r = self.c.head(self.repo_path(self.ns, "manifests/" + ref), headers={"Accept": ACCEPT_ALL})
        self.status("end-3 HEAD manifest by %s returns 200" % label, r, 200)
        self.content_headers("end-3 HEAD manifest by %s" % label, r, digest, body)

    def t_manifests(self):
        # Unusual but valid JSON formatting: the registry must not re-serialise.
        doc = json.loads(self.image(self.ns, annotations={"org.example.note": "caf\u00e9 \u2603", "run": self.run}))
        text = json.dumps(doc, indent="\t", ensure_ascii=False, separators=(" ,", " : ")) + "\n\n"
        body = text.encode("utf-8")
        digest = sha256(body)
        tag = "manifest-" + self.run

        r = self.push_manifest(self.ns, tag, body)
        self.status("end-7a PUT manifest by tag returns 201", r, 201)
        if r.status != 201:
            raise Prerequisite("manifest push failed")
        self.ok("end-7a PUT manifest response has a Location", bool(r.header("Location")))
        self.ok("end-7a PUT manifest Docker-Content-Digest equals the digest of the bytes", r.header("Docker-Content-Digest") == digest, "got %r, want %s" % (r.header("Docker-Content-Digest"), digest))
        if r.header("Location"):
            g = self.c.get(r.header("Location"), headers={"Accept": ACCEPT_ALL})
            self.ok("end-7a Location is a pullable manifest URL", g.status == 200 and g.body == body, g.describe())
        self.pull_manifest_checks("tag", tag, body, MT_MANIFEST)
        self.pull_manifest_checks("digest", digest, body, MT_MANIFEST)

        # push by digest
        body2 = self.image(self.ns, annotations={"kind": "by-digest", "run": self.run})
        d2 = sha256(body2)
        r = self.push_manifest(self.ns, d2, body2)
        self.status("end-7a PUT manifest by digest returns 201", r, 201)
        self.ok("end-7a PUT by digest Docker-Content-Digest equals the provided digest", r.header("Docker-Content-Digest") == d2, "got %r" % r.header("Docker-Content-Digest"))
        self.pull_manifest_checks("pushed digest", d2, body2, MT_MANIFEST)

        r = self.push_manifest(self.ns, sha256(b"not this"), body2)
        self.error("end-7a PUT manifest with a digest not matching the body returns 400", r, [400], {"DIGEST_INVALID", "MANIFEST_INVALID"})

        # tag overwrite
        r = self.push_manifest(self.ns, tag, body2)
        self.status("end-7a PUT another manifest to an existing tag returns 201", r, 201)
        g = self.c.get(self.repo_path(self.ns, "manifests/" + tag), headers={"Accept": ACCEPT_ALL})
        self.ok("end-3 an overwritten tag resolves to the new manifest", g.body == body2 and g.header("Docker-Content-Digest") == d2, g.describe())
        g = self.c.get(self.repo_path(self.ns, "manifests/" + digest), headers={"Accept": ACCEPT_ALL})
        self.ok("end-3 the previous manifest stays pullable by digest", g.status == 200 and g.body == body, g.describe())

        # image index
        index = dumps(
            {
                "schemaVersion": 2,
                "mediaType": MT_INDEX,
                "manifests": [
                    descriptor(MT_MANIFEST, body, platform={"architecture": "amd64", "os": "linux"}),
                    descriptor(MT_MANIFEST, body2, platform={"architecture": "arm64", "os": "linux"}),
                ],
            },
            indent=2,
        )
        r = self.push_manifest(self.ns, "index-" + self.run, index, MT_INDEX)
        self.status("end-7a PUT image index returns 201", r, 201)
        self.pull_manifest_checks("index tag", "index-" + self.run, index, MT_INDEX)

        # Docker schema 2 manifest: Content-Type must round-trip.
        config = dumps({"architecture": "amd64", "os": "linux", "run": self.run, "n": os.urandom(4).hex()})
        layer = rand_bytes(50)
        self.push_blob(self.ns, config)
        self.push_blob(self.ns, layer)
        docker = dumps({"schemaVersion": 2, "mediaType": MT_DOCKER_MANIFEST, "config": descriptor(MT_DOCKER_CONFIG, config), "layers": [descriptor(MT_DOCKER_LAYER, layer)]}, indent=3)
        r = self.push_manifest(self.ns, "docker-" + self.run, docker, MT_DOCKER_MANIFEST)
        self.status("end-7a PUT Docker schema 2 manifest returns 201", r, 201)
        self.pull_manifest_checks("docker tag", "docker-" + self.run, docker, MT_DOCKER_MANIFEST)

        # Content-Type parameters: "The registry SHOULD ignore parameters on the Content-Type
        # header" and "The registry SHOULD NOT include parameters on the Content-Type header."
        body3 = self.image(self.ns, annotations={"kind": "ct-params", "run": self.run})
        r = self.push_manifest(self.ns, "params-" + self.run, body3, MT_MANIFEST + "; charset=utf-8")
        self.status("end-7a PUT with parameters on Content-Type returns 201", r, 201)
        g = self.c.get(self.repo_path(self.ns, "manifests/params-" + self.run), headers={"Accept": ACCEPT_ALL})
        self.ok("end-3 Content-Type is returned without parameters", g.header("Content-Type") == MT_MANIFEST, "got %r" % g.header("Content-Type"))

        # ns query parameter: a registry MAY ignore it; if it uses it, it echoes OCI-Namespace.
        g = self.c.get(self.repo_path(self.ns, "manifests/" + digest), headers={"Accept": ACCEPT_ALL}, params={"ns": "registry.example.com"})
        echoed = g.header("OCI-Namespace")
        self.ok(
            "end-3 GET with ?ns= is served (ignored, or echoed in OCI-Namespace)",
            g.status == 200 and g.body == body and echoed in (None, "registry.example.com"),
            "%s OCI-Namespace=%r" % (g.describe(), echoed),
        )
        g = self.c.get(self.repo_path(self.ns, "blobs/" + sha256(config)), params={"ns": "registry.example.com"})
        self.ok("end-2 GET blob with ?ns= is served", g.status == 200 and g.body == config, g.describe())

    def t_manifest_rejections(self):
        # Missing referenced blob: MAY be rejected, and then with MANIFEST_BLOB_UNKNOWN.
        ghost = rand_bytes(40)
        config = dumps({"run": self.run, "ghost": True})
        self.push_blob(self.ns, config)
        doc = dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": descriptor(MT_CONFIG, config), "layers": [descriptor(MT_LAYER, ghost)]})
        r = self.push_manifest(self.ns, "ghost-" + self.run, doc)
        if r.status == 201:
            self.ok("end-7a manifest referencing an unknown blob: accepted (allowed) or MANIFEST_BLOB_UNKNOWN", True)
        else:
            self.error("end-7a manifest referencing an unknown blob: accepted (allowed) or MANIFEST_BLOB_UNKNOWN", r, [400, 404], {"MANIFEST_BLOB_UNKNOWN"})

        r = self.push_manifest(self.ns, "broken-" + self.run, b'{"schemaVersion": 2, "mediaType": ')
        if r.status == 201:
            self.optional("end-7a malformed JSON manifest is rejected with 400 MANIFEST_INVALID", False, "registry stores manifests without validating them")
        else:
            self.error("end-7a malformed JSON manifest is rejected with 400 MANIFEST_INVALID", r, [400], {"MANIFEST_INVALID"})

    def t_large_manifest(self):
        """ "Client and registry implementations SHOULD expect to be able to support manifest
        pushes of at least 4 megabytes." Pushes one of exactly 4 MiB (> 4 MB)."""
        config = dumps({"run": self.run, "large": True})
        layer = rand_bytes(10)
        self.push_blob(self.ns, config)
        self.push_blob(self.ns, layer)
        doc = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": descriptor(MT_CONFIG, config), "layers": [descriptor(MT_LAYER, layer)], "annotations": {"pad": ""}}
        base = len(dumps(doc))
        doc["annotations"]["pad"] = "x" * (4 * MIB - base)
        body = dumps(doc)
        assert len(body) == 4 * MIB
        r = self.push_manifest(self.ns, "large-" + self.run, body)
        self.status("end-7a a 4 MiB manifest is accepted (201)", r, 201)
        if r.status == 201:
            g = self.c.get(self.repo_path(self.ns, "manifests/large-" + self.run), headers={"Accept": ACCEPT_ALL})
            self.ok("end-3 the 4 MiB manifest is returned byte-exact", g.status == 200 and g.body == body, g.describe())

    # -- sha512 manifests --------------------------------------------------------------------

    def t_sha512_manifest(self):
        config = dumps({"run": self.run, "sha512": True})
        layer = rand_bytes(99)
        cd = self.push_blob(self.ns, config, "sha512")
        ld = self.push_blob(self.ns, layer, "sha512")
        body = dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": descriptor(MT_CONFIG, config, cd), "layers": [descriptor(MT_LAYER, layer, ld)]})
        digest = sha512(body)
        r = self.push_manifest(self.ns, digest, body)
        self.status("end-7a PUT manifest by sha512 digest returns 201", r, 201)
        self.ok("end-7a sha512 PUT Docker-Content-Digest equals the sha512 digest", r.header("Docker-Content-Digest") == digest, "got %r" % r.header("Docker-Content-Digest"))
        g = self.c.get(self.repo_path(self.ns, "manifests/" + digest), headers={"Accept": ACCEPT_ALL})
        self.ok("end-3 GET manifest by sha512 digest returns 200 byte-exact", g.status == 200 and g.body == body, g.describe())
        self.content_headers("end-3 GET sha512 manifest", g, digest, body)
        h = self.c.head(self.repo_path(self.ns, "manifests/" + digest))
        self.status("end-3 HEAD manifest by sha512 digest returns 200", h, 200)
        self.content_headers("end-3 HEAD sha512 manifest", h, digest, body)
        r = self.push_manifest(self.ns, sha512(b"nope"), body)
        self.error("end-7a PUT with a mismatched sha512 digest returns 400", r, [400], {"DIGEST_INVALID", "MANIFEST_INVALID"})

    # -- tags in query parameters (end-7b) ---------------------------------------------------

    def t_tag_params(self):
        body = self.image(self.ns, annotations={"kind": "tag-params", "run": self.run})
        digest = sha256(body)
        tags = ["qp-%s-%d" % (self.run, i) for i in range(10)]
        r = self.push_manifest(self.ns, digest, body, params=[("tag", t) for t in tags])
        self.status("end-7b PUT manifest by digest with 10 ?tag= parameters returns 201", r, 201)
        got = oci_tags(r)
        if not got:
            self.optional("end-7b response carries OCI-Tag headers", False, "no OCI-Tag header: tag query parameters not supported (MAY)")
            return
        self.ok("end-7b OCI-Tag headers list exactly the 10 requested tags", sorted(got) == sorted(tags), "got %r" % got)
        for t in got:
            h = self.c.head(self.repo_path(self.ns, "manifests/" + t), headers={"Accept": ACCEPT_ALL})
            if not self.ok("end-7b tag %s from OCI-Tag resolves to the manifest" % t, h.status == 200 and h.header("Docker-Content-Digest") == digest, h.describe()):
                break
        r = self.push_manifest(self.ns, digest, body, params=[("tag", "single-" + self.run)])
        self.ok("end-7b single ?tag= echoes OCI-Tag", r.status == 201 and oci_tags(r) == ["single-" + self.run], "%s OCI-Tag=%r" % (r.describe(), r.header_all("OCI-Tag")))
        r = self.push_manifest(self.ns, digest, body, params=[("tag", "ok-" + self.run), ("tag", "-invalid")])
        if r.status == 201:
            self.ok("end-7b an invalid ?tag= value is not created", "-invalid" not in oci_tags(r), "OCI-Tag=%r" % r.header_all("OCI-Tag"))
        else:
            self.error("end-7b an invalid ?tag= value is rejected with 400", r, [400], {"MANIFEST_INVALID", "TAG_INVALID", "NAME_INVALID"})

    # -- validation: names, tags, digests ----------------------------------------------------

    def t_validation(self):
        for bad in ["UPPER/case", "bad..dots", "-leading", "trailing-", "tri___under", "dot./x", "a/-b"]:
            r = self.c.request("POST", "/v2/%s/blobs/uploads/" % bad)
            self.error("invalid name %r: POST upload returns 400 NAME_INVALID" % bad, r, [400], {"NAME_INVALID"})
            if r.status == 202 and r.header("Location"):
                self.c.delete(r.header("Location"), body=b"")
        r = self.c.request("PUT", "/v2/Bad_Name/manifests/latest", body=b"{}", headers={"Content-Type": MT_MANIFEST})
        self.error("invalid name: PUT manifest returns 400 NAME_INVALID", r, [400], {"NAME_INVALID"})
        r = self.c.get("/v2/Bad_Name/manifests/latest", headers={"Accept": ACCEPT_ALL})
        self.strict_400("invalid name: GET manifest returns 400 NAME_INVALID", r, {"NAME_INVALID"})
        r = self.c.get("/v2/Bad_Name/tags/list")
        self.strict_400("invalid name: GET tags/list returns 400 NAME_INVALID", r, {"NAME_INVALID"})

        for good in ["%s/a__b" % self.ns, "%s/a---b.c_d" % self.ns, "%s/x/y/z0" % self.ns]:
            assert NAME_RE.match(good)
            r = self.c.request("POST", "/v2/%s/blobs/uploads/" % good)
            self.status("valid name %r: POST upload returns 202" % good, r, 202)
            if r.header("Location"):
                self.c.delete(r.header("Location"), body=b"")

        body = self.image(self.ns, annotations={"kind": "tags", "run": self.run})
        for bad in ["-dash", ".dot", "has+plus", "x" * 129]:
            r = self.push_manifest(self.ns, bad, body)
            label = bad if len(bad) < 20 else "%d chars" % len(bad)
            self.error("invalid tag %r: PUT manifest returns 400" % label, r, [400], {"MANIFEST_INVALID", "TAG_INVALID", "DIGEST_INVALID", "NAME_INVALID"})
        for good in ["_under", "X" + "y" * 127, "v1.0-rc_1"]:
            r = self.push_manifest(self.ns, good, body)
            label = good if len(good) < 20 else "%d chars" % len(good)
            self.status("valid tag %r: PUT manifest returns 201" % label, r, 201)

        r = self.c.get(self.repo_path(self.ns, "manifests/has+plus"), headers={"Accept": ACCEPT_ALL})
        self.strict_400("invalid reference 'has+plus': GET manifest returns 400", r, {"MANIFEST_INVALID", "TAG_INVALID", "DIGEST_INVALID", "NAME_INVALID"})
        r = self.c.get(self.repo_path(self.ns, "manifests/sha256:abc"), headers={"Accept": ACCEPT_ALL})
        self.strict_400("invalid digest 'sha256:abc': GET manifest returns 400 DIGEST_INVALID", r, {"DIGEST_INVALID", "MANIFEST_INVALID"})
        r = self.push_manifest(self.ns, "sha256:abc", body)
        self.error("invalid digest 'sha256:abc': PUT manifest returns 400", r, [400], {"DIGEST_INVALID", "MANIFEST_INVALID"})
        for bad in ["sha256:abc", "sha256:" + "A" * 64, "sha256" + "a" * 64, "md5:" + "a" * 32]:
            r = self.c.get(self.repo_path(self.ns, "blobs/" + bad))
            self.strict_400("invalid digest %r: GET blob returns 400 DIGEST_INVALID" % bad[:16], r, {"DIGEST_INVALID", "UNSUPPORTED"})
        r = self.c.delete(self.repo_path(self.ns, "blobs/sha256:abc"))
        self.strict_400("invalid digest: DELETE blob returns 400 DIGEST_INVALID", r, {"DIGEST_INVALID"})

    def strict_400(self, name, resp, codes):
        """400 is what the brief asks for; the spec's endpoint table lists only 404 for these
        GET endpoints, so a 404 is a legitimate (SKIP-able) answer."""
        if resp.status == 404:
            if self.args.allow_skip:
                self.skipped += 1
                self._emit("SKIP", name, "registry answered 404 (the endpoint table lists only 404 for this request)")
            else:
                self.failed += 1
                self._emit("FAIL", name, "expected 400, got %s (404 is allowed by the endpoint table; --allow-skip reports SKIP)" % resp.describe())
            return False
        return self.error(name, resp, [400], codes)

    # -- tag listing (end-8a, end-8b) --------------------------------------------------------

    def t_tags(self):
        body = self.image(self.ns, annotations={"kind": "list", "run": self.run})
        mine = ["list-%s-%s" % (self.run, s) for s in ["a", "b", "c", "d", "e", "f"]] + ["List-%s-Upper" % self.run]
        for t in mine:
            self.must_push_manifest(self.ns, t, body)
        r = self.c.get(self.repo_path(self.ns, "tags/list"))
        self.status("end-8a GET tags/list returns 200", r, 200)
        try:
            doc = r.json()
        except ValueError:
            raise Prerequisite("tags/list is not JSON: %s" % r.describe())
        self.ok("end-8a tags/list has `name` equal to the repository", doc.get("name") == self.ns, "got %r" % doc.get("name"))
        full = doc.get("tags")
        if not isinstance(full, list):
            raise Prerequisite("tags/list `tags` is not a list: %r" % (full,))
        self.ok("end-8a tags/list contains every pushed tag", set(mine) <= set(full), "missing %r" % sorted(set(mine) - set(full)))
        self.ok("end-8a tags are in lexical or ASCIIbetical order", is_sorted_lexically(full), "order: %r" % full[:20])
        self.ok("end-8a tags are unique", len(full) == len(set(full)))

        n = 2
        r = self.c.get(self.repo_path(self.ns, "tags/list"), params={"n": n})
        self.status("end-8b tags/list?n=2 returns 200", r, 200)
        page = r.json().get("tags") or []
        nxt = link_next(r)
        self.ok(
            "end-8b tags/list?n=2 returns 2 tags, or fewer only with a Link header",
            len(page) == n or (len(page) < n and nxt is not None),
            "got %r, Link %r" % (page, r.header_all("Link")),
        )
        self.ok("end-8b tags/list?n=2 starts at the beginning of the list", page == full[: len(page)], "got %r, full starts %r" % (page, full[:2]))
        if r.header_all("Link"):
            self.ok("end-8b Link header uses rel=\"next\" (RFC 5988)", nxt is not None, "got %r" % r.header_all("Link"))
        else:
            self.optional("end-8b tags/list?n=2 carries a Link header when more tags exist", False, "no Link header (MAY)")

        # Follow Link headers to the end; pages must concatenate to the full list.
        collected = list(page)
        pages = 1
        while nxt and pages < 200:
            r = self.c.get(nxt)
            if r.status != 200:
                break
            collected.extend(r.json().get("tags") or [])
            nxt = link_next(r)
            pages += 1
        if pages > 1:
            self.ok("end-8b following Link headers yields the full list in order", collected == full, "got %d tags over %d pages, want %d" % (len(collected), pages, len(full)))

        idx = full.index(mine[1])
        r = self.c.get(self.repo_path(self.ns, "tags/list"), params={"n": n, "last": mine[1]})
        got = r.json().get("tags") if r.status == 200 else None
        self.ok("end-8b tags/list?n=2&last=<tag> returns the 2 tags after <tag>", got == full[idx + 1 : idx + 1 + n], "got %r, want %r (%s)" % (got, full[idx + 1 : idx + 1 + n], r.describe()))
        r = self.c.get(self.repo_path(self.ns, "tags/list"), params={"last": mine[1]})
        got = r.json().get("tags") if r.status == 200 else None
        self.ok("end-8b tags/list?last=<tag> without n returns the tags after <tag>", got == full[idx + 1 :], "got %r (%s)" % (got and got[:5], r.describe()))
        key = (lambda t: t) if full == sorted(full) else (lambda t: (t.lower(), t))
        absent = mine[1] + "0"
        want = [t for t in full if key(t) > key(absent)][:n]
        r = self.c.get(self.repo_path(self.ns, "tags/list"), params={"n": n, "last": absent})
        got = r.json().get("tags") if r.status == 200 else None
        self.ok("end-8b tags/list?last=<tag that does not exist> continues after its position", got == want, "got %r, want %r (%s)" % (got, want, r.describe()))
        r = self.c.get(self.repo_path(self.ns, "tags/list"), params={"n": 5, "last": full[-1]})
        got = r.json().get("tags") if r.status == 200 else None
        self.ok("end-8b tags/list?last=<final tag> returns an empty list", got in ([], None) and r.status == 200, "got %r (%s)" % (got, r.describe()))

        r = self.c.get(self.repo_path(self.ns, "tags/list"), params={"n": 0})
        got = r.json().get("tags") if r.status == 200 else None
        self.ok("end-8b tags/list?n=0 returns 200 and an empty list", r.status == 200 and got == [], "got %r (%s)" % (got if not isinstance(got, list) else got[:5], r.describe()))
        self.ok("end-8b tags/list?n=0 has no Link header", not r.header_all("Link"), "got %r" % r.header_all("Link"))

        r = self.c.get(self.repo_path(self.ns, "tags/list"), params={"n": len(full) + 10})
        got = r.json().get("tags") if r.status == 200 else None
        self.ok("end-8b tags/list?n=<more than all> returns the full list", got == full, "got %d tags, want %d" % (len(got or []), len(full)))

    # -- referrers (end-12a, end-12b) --------------------------------------------------------

    def t_referrers(self):
        ns = self.ns
        self.push_blob(ns, EMPTY_JSON)
        payload = rand_bytes(30)
        self.push_blob(ns, payload)
        b_config = dumps({"b": self.run})
        self.push_blob(ns, b_config)
        empty_desc = descriptor(MT_EMPTY, EMPTY_JSON)

        subject_body = self.image(ns, annotations={"kind": "subject", "run": self.run})
        s_digest = sha256(subject_body)
        subject = {"mediaType": MT_MANIFEST, "digest": s_digest, "size": len(subject_body)}
        type_a = "application/vnd.conformance.a.v1+json"
        type_c = "application/vnd.conformance.c.v1"
        b_config_type = "application/vnd.conformance.b.config.v1+json"

        def manifest(**fields):
            doc = {"schemaVersion": 2, "mediaType": MT_MANIFEST}
            doc.update(fields)
            return dumps(doc)

        refs = {}
        refs["A"] = (manifest(artifactType=type_a, config=empty_desc, layers=[descriptor("application/vnd.conformance.payload", payload)], subject=subject, annotations={"org.conformance.key": "A", "org.opencontainers.image.created": "2024-01-01T00:00:00Z"}), MT_MANIFEST, type_a)
        refs["A2"] = (manifest(artifactType=type_a, config=empty_desc, layers=[empty_desc], subject=subject, annotations={"org.conformance.key": "A2"}), MT_MANIFEST, type_a)
        refs["B"] = (manifest(config=descriptor(b_config_type, b_config), layers=[empty_desc], subject=subject, annotations={"org.conformance.key": "B"}), MT_MANIFEST, b_config_type)
        refs["C"] = (dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "artifactType": type_c, "manifests": [], "subject": subject, "annotations": {"org.conformance.key": "C"}}), MT_INDEX, type_c)
        refs["D"] = (dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [], "subject": subject, "annotations": {"org.conformance.key": "D"}}), MT_INDEX, None)
        # "If the artifactType is empty or missing in the image manifest, the value of
        # artifactType MUST be set to the config descriptor mediaType value." No annotations.
        e_config = dumps({"e": self.run})
        e_config_type = "application/vnd.conformance.e.config.v1+json"
        self.push_blob(ns, e_config)
        refs["E"] = (manifest(artifactType="", config=descriptor(e_config_type, e_config), layers=[empty_desc], subject=subject), MT_MANIFEST, e_config_type)

        # A is pushed before its subject exists.
        body, mt, _ = refs["A"]
        r = self.push_manifest(ns, sha256(body), body, mt)
        self.status("push: manifest whose subject does not exist yet is accepted (201)", r, 201)
        self.ok("push: OCI-Subject header names the subject digest", r.header("OCI-Subject") == s_digest, "got %r" % r.header("OCI-Subject"))

        r = self.c.get(self.repo_path(ns, "referrers/" + s_digest))
        self.status("end-12a referrers of a subject that does not exist yet returns 200", r, 200)
        if r.status == 404:
            raise Prerequisite("referrers API not available (404)")
        listed = [m.get("digest") for m in (r.json().get("manifests") or [])] if r.status == 200 else []
        self.ok("end-12a referrers of a missing subject lists the referrer pushed first", sha256(body) in listed, "got %r" % listed)

        self.must_push_manifest(ns, "subject-" + self.run, subject_body)
        for key in ["A2", "B", "C", "D", "E"]:
            body, mt, _ = refs[key]
            ref = "referrer-b-" + self.run if key == "B" else sha256(body)  # B is pushed by tag
            r = self.push_manifest(ns, ref, body, mt)
            if key == "E" and r.status == 400:
                self.optional("push: referrer E with an empty artifactType returns 201", False, "rejected (image-spec wants a media type in artifactType)", r.describe())
                del refs["E"]
                continue
            self.status("push: referrer %s (%s, by %s) returns 201" % (key, mt.split(".")[-2], "tag" if key == "B" else "digest"), r, 201)
            self.ok("push: referrer %s response has OCI-Subject" % key, r.header("OCI-Subject") == s_digest, "got %r" % r.header("OCI-Subject"))

        # A referrer of the same subject in another repository must not show up here.
        self.push_blob(self.cm, EMPTY_JSON)
        foreign = manifest(artifactType=type_a, config=empty_desc, layers=[empty_desc], subject=subject, annotations={"org.conformance.key": "foreign"})
        self.must_push_manifest(self.cm, sha256(foreign), foreign)

        # An unrelated referrer of another subject must not show up.
        other_subject = {"mediaType": MT_MANIFEST, "digest": sha256(b"other" + self.run.encode()), "size": 5}
        other = manifest(artifactType=type_a, config=empty_desc, layers=[empty_desc], subject=other_subject)
        self.must_push_manifest(ns, sha256(other), other)

        r = self.c.get(self.repo_path(ns, "referrers/" + s_digest))
        self.status("end-12a GET referrers returns 200", r, 200)
        self.ok("end-12a Content-Type is application/vnd.oci.image.index.v1+json", r.header("Content-Type") == MT_INDEX, "got %r" % r.header("Content-Type"))
        self.ok("end-12a no OCI-Filters-Applied header when no filter was requested", r.header("OCI-Filters-Applied") in (None, ""), "got %r" % r.header("OCI-Filters-Applied"))
        doc = r.json()
        self.ok("end-12a body is an image index (schemaVersion 2, mediaType index)", doc.get("schemaVersion") == 2 and doc.get("mediaType") == MT_INDEX, "got %r" % {k: doc.get(k) for k in ("schemaVersion", "mediaType")})
        by_digest = {m.get("digest"): m for m in doc.get("manifests") or []}
        want = {sha256(b): k for k, (b, _, _) in refs.items()}
        self.ok("end-12a the list holds exactly the %d referrers" % len(want), set(by_digest) == set(want), "got %r, want %r" % (sorted(by_digest), sorted(want)))
        self.ok("end-12a a referrer of another subject is not listed", sha256(other) not in by_digest)
        self.ok("end-12a a referrer in another repository is not listed", sha256(foreign) not in by_digest)
        r = self.c.get(self.repo_path(self.cm, "referrers/" + s_digest))
        got = [m.get("digest") for m in r.json().get("manifests") or []] if r.status == 200 else None
        self.ok("end-12a referrers are scoped to the repository queried", got == [sha256(foreign)], "got %r (%s)" % (got, r.describe()))
        for digest, key in sorted(want.items(), key=lambda kv: kv[1]):
            entry = by_digest.get(digest)
            if entry is None:
                continue
            body, mt, atype = refs[key]
            ann = json.loads(body).get("annotations")
            self.ok("end-12a %s: descriptor mediaType and size" % key, entry.get("mediaType") == mt and entry.get("size") == len(body), "got %r" % entry)
            if key in ("B", "E"):
                how = "missing" if key == "B" else "empty"
                self.ok("end-12a %s: %s artifactType falls back to the config mediaType" % (key, how), entry.get("artifactType") == atype, "got %r" % entry.get("artifactType"))
            elif key == "D":
                self.ok("end-12a D: index without artifactType has artifactType omitted", "artifactType" not in entry, "got %r" % entry.get("artifactType"))
            else:
                self.ok("end-12a %s: artifactType copied from the manifest" % key, entry.get("artifactType") == atype, "got %r" % entry.get("artifactType"))
            self.ok("end-12a %s: annotations copied from the manifest" % key, entry.get("annotations") == ann or (ann is None and entry.get("annotations") == {}), "got %r, want %r" % (entry.get("annotations"), ann))

        r = self.c.get(self.repo_path(ns, "referrers/" + s_digest), params={"artifactType": type_a})
        self.status("end-12b GET referrers?artifactType= returns 200", r, 200)
        applied = r.header("OCI-Filters-Applied")
        got = sorted(m.get("digest") for m in r.json().get("manifests") or [])
        if applied is None:
            self.optional("end-12b artifactType filter applied (OCI-Filters-Applied: artifactType)", False, "filtering not supported (SHOULD)")
        else:
            self.ok("end-12b OCI-Filters-Applied is artifactType", [s.strip() for s in applied.split(",")] == ["artifactType"], "got %r" % applied)
            self.ok("end-12b filter returns only manifests of that artifactType", got == sorted([sha256(refs["A"][0]), sha256(refs["A2"][0])]), "got %r" % got)
        r = self.c.get(self.repo_path(ns, "referrers/" + s_digest), params={"artifactType": b_config_type})
        got = [m.get("digest") for m in r.json().get("manifests") or []]
        self.ok("end-12b filter matches the config-mediaType fallback", r.status == 200 and (r.header("OCI-Filters-Applied") is None or got == [sha256(refs["B"][0])]), "got %r" % got)
        r = self.c.get(self.repo_path(ns, "referrers/" + s_digest), params={"artifactType": "application/vnd.conformance.none"})
        got = r.json().get("manifests") if r.status == 200 else None
        self.ok("end-12b filter without matches returns 200 and an empty list", r.status == 200 and (got == [] or r.header("OCI-Filters-Applied") is None), "got %r (%s)" % (got, r.describe()))

        r = self.c.get(self.repo_path(ns, "referrers/" + sha256(rand_bytes(16))))
        got = r.json().get("manifests") if r.status == 200 else None
        self.ok("end-12a referrers of a digest without referrers: 200 and an empty list", r.status == 200 and got == [], "got %r (%s)" % (got, r.describe()))
        self.ok("end-12a empty referrers response has Content-Type image index", r.header("Content-Type") == MT_INDEX, "got %r" % r.header("Content-Type"))
        r = self.c.get(self.repo_path(ns, "referrers/sha256:abc"))
        self.error("end-12a referrers with an invalid digest returns 400", r, [400], {"DIGEST_INVALID"})

        # sha512 subject
        s512 = self.image(ns, annotations={"kind": "subject512", "run": self.run})
        s512_digest = sha512(s512)
        self.must_push_manifest(ns, s512_digest, s512)
        ref512 = manifest(artifactType=type_a, config=empty_desc, layers=[empty_desc], subject={"mediaType": MT_MANIFEST, "digest": s512_digest, "size": len(s512)})
        r = self.push_manifest(ns, sha256(ref512), ref512)
        self.ok("push: referrer of a sha512 subject has OCI-Subject", r.status == 201 and r.header("OCI-Subject") == s512_digest, "%s OCI-Subject=%r" % (r.describe(), r.header("OCI-Subject")))
        r = self.c.get(self.repo_path(ns, "referrers/" + s512_digest))
        got = [m.get("digest") for m in r.json().get("manifests") or []] if r.status == 200 else None
        self.ok("end-12a referrers of a sha512 subject", got == [sha256(ref512)], "got %r (%s)" % (got, r.describe()))

        # Deleting a referrer removes it from the list.
        a2 = sha256(refs["A2"][0])
        d = self.c.delete(self.repo_path(ns, "manifests/" + a2))
        if d.status == 202:
            r = self.c.get(self.repo_path(ns, "referrers/" + s_digest))
            got = [m.get("digest") for m in r.json().get("manifests") or []]
            self.ok("end-12a a deleted referrer is no longer listed", a2 not in got and len(got) == len(want) - 1, "got %r" % got)
        else:
            self.optional("end-12a a deleted referrer is no longer listed", False, "manifest deletion refused: %s" % d.describe())

        # Referrers are scoped to the repository.
        r = self.c.get(self.repo_path(self.unknown_repo, "referrers/" + s_digest))
        if r.status == 404:
            self.optional("end-12a referrers in a repository without content: 200, empty", False, "404 ('Assuming a repository is found' vs 'MUST NOT return a 404')")
        else:
            got = r.json().get("manifests") if r.status == 200 else None
            self.ok("end-12a referrers in a repository without content: 200, empty", r.status == 200 and got == [], "got %r (%s)" % (got, r.describe()))

    # -- cross-repository mount (end-11) -----------------------------------------------------

    def mount(self, name, params, target, digest, data, expect_mount=True):
        r = self.c.request("POST", self.repo_path(target, "blobs/uploads/"), params=params)
        if r.status == 202 and expect_mount is not True:
            return r
        if r.status == 202:
            self.optional(name, False, "registry answered 202 (did not mount)")
            if r.header("Location"):
                self.c.delete(r.header("Location"), body=b"")
            return r
        self.status(name, r, 201)
        if r.status == 201:
            self.ok("%s: Location header" % name, bool(r.header("Location")))
            dcd = r.header("Docker-Content-Digest")
            self.ok("%s: Docker-Content-Digest (if sent) is the digest" % name, dcd in (None, digest), "got %r" % dcd)
            h = self.c.head(self.repo_path(target, "blobs/" + digest))
            self.ok("%s: blob is present in the target repository" % name, h.status == 200 and h.header("Content-Length") == str(len(data)), h.describe())
            if r.header("Location"):
                g = self.c.get(r.header("Location"))
                self.ok("%s: Location is pullable" % name, g.status == 200 and g.body == data, g.describe())
        return r

    def t_mount(self):
        src, dst = self.ns, self.cm
        blobs = [rand_bytes(123 + i) for i in range(3)]
        digests = [self.push_blob(src, b) for b in blobs]
        for d in digests:
            h = self.c.head(self.repo_path(dst, "blobs/" + d))
            if h.status != 404:
                raise Prerequisite("fresh blob already visible in the target repository: %s" % h.describe())
        self.mount("end-11 mount=<digest>&from=<repo> returns 201", [("mount", digests[0]), ("from", src)], dst, digests[0], blobs[0])
        self.mount("end-11 from=<repo>&mount=<digest> (reversed order) returns 201", [("from", src), ("mount", digests[1])], dst, digests[1], blobs[1])
        self.mount("end-11 mount=<digest> without from returns 201", [("mount", digests[2])], dst, digests[2], blobs[2])

        y = rand_bytes(77)
        yd = self.push_blob(src, y, "sha512")
        self.mount("end-11 mount of a sha512 blob returns 201", [("mount", yd), ("from", src)], dst, yd, y)

        missing = sha256(rand_bytes(20))
        r = self.c.request("POST", self.repo_path(dst, "blobs/uploads/"), params=[("mount", missing), ("from", src)])
        self.ok("end-11 mount of an unknown blob falls back to an upload session (202 + Location)", r.status == 202 and bool(r.header("Location")), r.describe())
        if r.status == 202 and r.header("Location"):
            data = rand_bytes(20)
            p = self.c.request("PUT", r.header("Location"), body=data, headers={"Content-Type": "application/octet-stream"}, params={"digest": sha256(data)})
            self.status("end-11 the fallback upload session accepts a PUT (201)", p, 201)
        r = self.c.request("POST", self.repo_path(dst, "blobs/uploads/"), params=[("mount", "sha256:zzz"), ("from", src)])
        self.ok("end-11 mount with a malformed digest is refused or falls back (400/202)", r.status in (400, 202), r.describe())
        if r.status == 202 and r.header("Location"):
            self.c.delete(r.header("Location"), body=b"")
        elif r.status == 400:
            self.error("end-11 mount with a malformed digest: error body", r, [400], {"DIGEST_INVALID"})

    # -- deletion (end-9, end-10) ------------------------------------------------------------

    def t_delete(self):
        body = self.image(self.ns, annotations={"kind": "delete", "run": self.run})
        digest = sha256(body)
        t1, t2 = "del1-" + self.run, "del2-" + self.run
        self.must_push_manifest(self.ns, t1, body)
        self.must_push_manifest(self.ns, t2, body)

        r = self.c.delete(self.repo_path(self.ns, "manifests/" + t1))
        if r.status in (400, 405):
            self.optional("end-9 DELETE tag returns 202", False, "tag deletion disabled (%d)" % r.status)
        else:
            self.status("end-9 DELETE tag returns 202", r, 202)
            g = self.c.get(self.repo_path(self.ns, "manifests/" + t1), headers={"Accept": ACCEPT_ALL})
            self.error("end-9 GET deleted tag returns 404 MANIFEST_UNKNOWN", g, [404], {"MANIFEST_UNKNOWN"})
            g = self.c.head(self.repo_path(self.ns, "manifests/" + t2))
            self.status("end-9 deleting a tag leaves other tags of the manifest", g, 200)
            g = self.c.head(self.repo_path(self.ns, "manifests/" + digest))
            self.status("end-9 deleting a tag leaves the manifest pullable by digest", g, 200)
            tags = self.c.get(self.repo_path(self.ns, "tags/list")).json().get("tags") or []
            self.ok("end-9 deleted tag is gone from tags/list", t1 not in tags and t2 in tags)

        r = self.c.delete(self.repo_path(self.ns, "manifests/" + digest))
        self.status("end-9 DELETE manifest by digest returns 202", r, 202)
        g = self.c.get(self.repo_path(self.ns, "manifests/" + digest), headers={"Accept": ACCEPT_ALL})
        self.error("end-9 GET deleted manifest by digest returns 404 MANIFEST_UNKNOWN", g, [404], {"MANIFEST_UNKNOWN"})
        g = self.c.head(self.repo_path(self.ns, "manifests/" + digest))
        self.status("end-9 HEAD deleted manifest returns 404", g, 404)
        g = self.c.get(self.repo_path(self.ns, "manifests/" + t2), headers={"Accept": ACCEPT_ALL})
        self.error("end-9 GET a tag that pointed at the deleted manifest returns 404", g, [404], {"MANIFEST_UNKNOWN"})
        tags = self.c.get(self.repo_path(self.ns, "tags/list")).json().get("tags") or []
        self.ok("end-9 tags of a deleted manifest are gone from tags/list", t1 not in tags and t2 not in tags, "still listed: %r" % [t for t in (t1, t2) if t in tags])
        r = self.c.delete(self.repo_path(self.ns, "manifests/" + digest))
        self.error("end-9 DELETE an already deleted manifest returns 404 MANIFEST_UNKNOWN", r, [404], {"MANIFEST_UNKNOWN"})
        r = self.c.delete(self.repo_path(self.ns, "manifests/never-" + self.run))
        self.error("end-9 DELETE an unknown tag returns 404 MANIFEST_UNKNOWN", r, [404], {"MANIFEST_UNKNOWN"})

        # sha512 manifest deletion
        m512 = self.image(self.ns, annotations={"kind": "delete512", "run": self.run})
        r = self.push_manifest(self.ns, sha512(m512), m512)
        if self.status("end-9 (setup) PUT manifest by sha512 digest returns 201", r, 201):
            r = self.c.delete(self.repo_path(self.ns, "manifests/" + sha512(m512)))
            self.status("end-9 DELETE manifest by sha512 digest returns 202", r, 202)
            g = self.c.head(self.repo_path(self.ns, "manifests/" + sha512(m512)))
            self.status("end-9 deleted sha512 manifest returns 404", g, 404)

        data = rand_bytes(222)
        bd = self.push_blob(self.ns, data)
        r = self.c.delete(self.repo_path(self.ns, "blobs/" + bd))
        self.status("end-10 DELETE blob returns 202", r, 202)
        g = self.c.get(self.repo_path(self.ns, "blobs/" + bd))
        self.error("end-10 GET deleted blob returns 404 BLOB_UNKNOWN", g, [404], {"BLOB_UNKNOWN"})
        g = self.c.head(self.repo_path(self.ns, "blobs/" + bd))
        self.status("end-10 HEAD deleted blob returns 404", g, 404)
        r = self.c.delete(self.repo_path(self.ns, "blobs/" + bd))
        self.error("end-10 DELETE an already deleted blob returns 404 BLOB_UNKNOWN", r, [404], {"BLOB_UNKNOWN"})

        d512 = rand_bytes(50)
        bd = self.push_blob(self.ns, d512, "sha512")
        r = self.c.delete(self.repo_path(self.ns, "blobs/" + bd))
        self.status("end-10 DELETE sha512 blob returns 202", r, 202)
        g = self.c.head(self.repo_path(self.ns, "blobs/" + bd))
        self.status("end-10 deleted sha512 blob returns 404", g, 404)

    # -- catalog (Docker Registry HTTP API V2 `/v2/_catalog`, not in the OCI spec) -------------

    def t_catalog(self):
        r = self.c.get("/v2/_catalog")
        if r.status == 404:
            self.optional("catalog: GET /v2/_catalog returns 200", False, "no /v2/_catalog (not part of the OCI spec)")
            return
        self.status("catalog: GET /v2/_catalog returns 200", r, 200)
        repos = r.json().get("repositories")
        if not isinstance(repos, list):
            raise Prerequisite("`repositories` is not a list: %r" % r.body[:200])
        self.ok("catalog: lists the test repositories", self.ns in repos and self.cm in repos, "got %r" % repos[:20])
        self.ok("catalog: repositories are sorted", repos == sorted(repos), "got %r" % repos[:20])
        self.ok("catalog: repositories are unique", len(repos) == len(set(repos)))
        self.ok("catalog: every entry is a valid repository name", all(NAME_RE.match(x) for x in repos), "got %r" % [x for x in repos if not NAME_RE.match(x)])
        r = self.c.get("/v2/_catalog", params={"n": 1})
        page = r.json().get("repositories") or []
        nxt = link_next(r)
        self.ok("catalog: ?n=1 returns one repository and a Link when more exist", page == repos[:1] and (nxt is not None or len(repos) == 1), "got %r, Link %r" % (page, r.header_all("Link")))
        collected, pages = list(page), 1
        while nxt and pages < 500:
            r = self.c.get(nxt)
            if r.status != 200:
                break
            collected.extend(r.json().get("repositories") or [])
            nxt = link_next(r)
            pages += 1
        self.ok("catalog: following Link headers yields the full list", collected == repos, "got %d over %d pages, want %d" % (len(collected), pages, len(repos)))
        i = repos.index(self.ns)
        r = self.c.get("/v2/_catalog", params={"n": 2, "last": self.ns})
        got = r.json().get("repositories") if r.status == 200 else None
        self.ok("catalog: ?n=2&last=<repo> returns the repositories after it", got == repos[i + 1 : i + 3], "got %r, want %r" % (got, repos[i + 1 : i + 3]))

    # -- global checks over every response seen -----------------------------------------------

    def t_global(self):
        bad_json, non_json, bad_warn = [], [], []
        for resp in self.c.log:
            if 400 <= resp.status < 500 and resp.method != "HEAD":
                if is_json_body(resp):
                    problem = error_body_problem(resp)
                    if problem:
                        bad_json.append("%s (%s)" % (resp.describe(), problem))
                else:
                    non_json.append(resp.describe())
            for w in resp.header_all("Warning"):
                if not re.match(r'^299 - "[^"]*"$', w.strip()):
                    bad_warn.append(w)
        broken = [r.describe() for r in self.c.log if r.incomplete]
        self.ok("http: every response body has the length its Content-Length announced", not broken, "; ".join(broken[:5]))
        fourxx = sum(1 for r in self.c.log if 400 <= r.status < 500 and r.method != "HEAD")
        self.ok("errors: every JSON 4xx body (%d responses) has the {\"errors\":[{\"code\",...}]} format with spec codes" % fourxx, not bad_json, "; ".join(bad_json[:5]) + (" ... (%d in all)" % len(bad_json) if len(bad_json) > 5 else ""))
        self.optional("errors: every 4xx response (except HEAD) carries a JSON error body", not non_json, "a 4XX body MAY be in any format", "; ".join(non_json[:5]) + (" ... (%d in all)" % len(non_json) if len(non_json) > 5 else ""))
        self.ok("warnings: every Warning header is `299 - \"text\"`", not bad_warn, "got %r" % bad_warn[:5])

    # =========================================================================================

    GROUPS = [
        ("base", "t_base"),
        ("unknown content", "t_unknown"),
        ("blob POST+PUT", "t_blob_post_put"),
        ("blob PUT errors", "t_blob_put_errors"),
        ("blob single POST", "t_blob_single_post"),
        ("blob chunked", "t_blob_chunked"),
        ("upload cancel", "t_upload_cancel"),
        ("transfer-encoding", "t_transfer_encoding"),
        ("isolation", "t_isolation"),
        ("keyword names", "t_keyword_names"),
        ("concurrent patch", "t_concurrent_patch"),
        ("sha512 blobs", "t_sha512_blobs"),
        ("range", "t_range"),
        ("large blob", "t_large_blob"),
        ("manifests", "t_manifests"),
        ("manifest rejections", "t_manifest_rejections"),
        ("large manifest", "t_large_manifest"),
        ("manifest size limit", "t_manifest_limit"),
        ("sha512 manifests", "t_sha512_manifest"),
        ("tag query parameters", "t_tag_params"),
        ("validation", "t_validation"),
        ("tags list", "t_tags"),
        ("referrers", "t_referrers"),
        ("mount", "t_mount"),
        ("delete", "t_delete"),
        ("catalog", "t_catalog"),
        ("global", "t_global"),
    ]

    def run_all(self, only=None):
        started = time.monotonic()
        for label, method in self.GROUPS:
            if only and label not in only and method not in only:
                continue
            try:
                getattr(self, method)()
            except Prerequisite as err:
                self.fail("%s: group aborted" % label, str(err))
            except (OSError, http.client.HTTPException) as err:
                self.fail("%s: group aborted" % label, "connection error: %r" % err)
            except Exception as err:  # a surprise in the registry's answer (bad JSON, ...)
                detail = traceback.format_exception_only(type(err), err)[-1].strip()
                self.fail("%s: group aborted" % label, "unexpected response led to %s" % detail)
                if self.args.verbose:
                    traceback.print_exc()
        summary = "%d passed, %d failed" % (self.passed, self.failed)
        if self.skipped:
            summary += ", %d skipped" % self.skipped
        print("# %d requests in %.1fs" % (len(self.c.log), time.monotonic() - started))
        print(summary)
        return 1 if self.failed else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="OCI Distribution conformance checks (black-box).")
    parser.add_argument("--url", required=True, help="registry base URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--namespace", default="conformance/test", help="repository to test in")
    parser.add_argument("--crossmount-namespace", default="conformance/crossmount", help="repository blobs are mounted into")
    parser.add_argument("--allow-skip", action="store_true", help="report optional features the registry refuses as SKIP instead of FAIL")
    parser.add_argument("--only", action="append", help="run only this group (label or method name); repeatable")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in seconds")
    parser.add_argument("--verbose", action="store_true", help="print every request and response head")
    args = parser.parse_args(argv)
    for repo in (args.namespace, args.crossmount_namespace):
        if not NAME_RE.match(repo):
            parser.error("invalid repository name %r" % repo)
    if args.namespace == args.crossmount_namespace:
        parser.error("--namespace and --crossmount-namespace must differ")
    return Suite(args).run_all(args.only)


if __name__ == "__main__":
    sys.exit(main())
