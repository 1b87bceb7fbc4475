//! A regex oracle for the request parsers: the spec's grammar written as plainly as possible,
//! to judge the hand-written parsers against. Shared by tests/parser_props.rs and the fuzz
//! targets (via `#[path]`).
#![allow(dead_code)]

use std::sync::LazyLock;

use regex::Regex;
use tower_oci::protocol::{ByteRange, ContentRange, DigestError, Endpoint, PathError, TagOrDigest};

const NAME_COMPONENT: &str = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*";
const TAG: &str = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}";
const REGISTERED_DIGEST: &str = r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}";
const DIGEST_GRAMMAR: &str = r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+";
const UPLOAD_ID: &str = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

fn whole(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).expect("oracle regex")
}

static NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| whole(&format!("{NAME_COMPONENT}(?:/{NAME_COMPONENT})*")));
static TAG_RE: LazyLock<Regex> = LazyLock::new(|| whole(TAG));
static REGISTERED_RE: LazyLock<Regex> = LazyLock::new(|| whole(REGISTERED_DIGEST));
static DIGEST_GRAMMAR_RE: LazyLock<Regex> = LazyLock::new(|| whole(DIGEST_GRAMMAR));
static REGISTERED_ALG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:sha256|sha512):").expect("oracle regex"));
static UPLOAD_ID_RE: LazyLock<Regex> = LazyLock::new(|| whole(UPLOAD_ID));

/// Accepted endpoints, one strict regex each. `(?s)` so that `.`-free patterns stay exact
/// even on inputs with newlines (none of these use `.` unescaped anyway).
static STRICT: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    let name = format!("(?P<name>{NAME_COMPONENT}(?:/{NAME_COMPONENT})*)");
    vec![
        ("base", whole("/v2/?")),
        ("catalog", whole("/v2/_catalog")),
        ("tags", whole(&format!("/v2/{name}/tags/list"))),
        (
            "manifest-tag",
            whole(&format!("/v2/{name}/manifests/(?P<part>{TAG})")),
        ),
        (
            "manifest-digest",
            whole(&format!(
                "/v2/{name}/manifests/(?P<part>{REGISTERED_DIGEST})"
            )),
        ),
        (
            "blob",
            whole(&format!("/v2/{name}/blobs/(?P<part>{REGISTERED_DIGEST})")),
        ),
        (
            "upload-start",
            whole(&format!("/v2/{name}/blobs/uploads/?")),
        ),
        (
            "upload",
            whole(&format!("/v2/{name}/blobs/uploads/(?P<part>{UPLOAD_ID})")),
        ),
        (
            "referrers",
            whole(&format!(
                "/v2/{name}/referrers/(?P<part>{REGISTERED_DIGEST})"
            )),
        ),
    ]
});

/// Endpoint shapes with anything for the name and the last part. The greedy `.*` makes the
/// name as long as possible, which is what parsing from the right means. Order matters only
/// for `<name>/blobs/uploads`, which is an upload start before it is a blob.
static LOOSE: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    vec![
        ("tags", whole("(?s)/v2/(?P<name>.*)/tags/list")),
        (
            "manifest",
            whole("(?s)/v2/(?P<name>.*)/manifests/(?P<part>[^/]*)"),
        ),
        (
            "upload-start",
            whole("(?s)/v2/(?P<name>.*)/blobs/uploads/?"),
        ),
        (
            "upload",
            whole("(?s)/v2/(?P<name>.*)/blobs/uploads/(?P<part>[^/]*)"),
        ),
        ("blob", whole("(?s)/v2/(?P<name>.*)/blobs/(?P<part>[^/]*)")),
        (
            "referrers",
            whole("(?s)/v2/(?P<name>.*)/referrers/(?P<part>[^/]*)"),
        ),
    ]
});

/// What a path means, as plain data: (kind, name, last part), all borrowed from the path.
pub type Parts<'a> = (&'static str, Option<&'a str>, Option<&'a str>);

/// The parser's answer in the oracle's terms.
pub fn endpoint_parts(endpoint: Endpoint<'_>) -> Parts<'_> {
    match endpoint {
        Endpoint::Base => ("base", None, None),
        Endpoint::Catalog => ("catalog", None, None),
        Endpoint::Tags { name } => ("tags", Some(name), None),
        Endpoint::Manifest {
            name,
            reference: TagOrDigest::Tag(t),
        } => ("manifest-tag", Some(name), Some(t)),
        Endpoint::Manifest {
            name,
            reference: TagOrDigest::Digest(d),
        } => ("manifest-digest", Some(name), Some(d.as_str())),
        Endpoint::Blob { name, digest } => ("blob", Some(name), Some(digest.as_str())),
        Endpoint::UploadStart { name } => ("upload-start", Some(name), None),
        Endpoint::Upload { name, id } => ("upload", Some(name), Some(id)),
        Endpoint::Referrers { name, digest } => ("referrers", Some(name), Some(digest.as_str())),
        // `Endpoint` is non-exhaustive: a new endpoint needs a regex here first.
        other => panic!("the oracle does not know {other:?}"),
    }
}

pub fn name_ok(name: &str) -> bool {
    name.len() <= 255 && NAME_RE.is_match(name)
}

pub fn tag_ok(tag: &str) -> bool {
    TAG_RE.is_match(tag)
}

pub fn upload_id_ok(id: &str) -> bool {
    UPLOAD_ID_RE.is_match(id)
}

pub fn digest(text: &str) -> Result<(), DigestError> {
    if REGISTERED_RE.is_match(text) {
        Ok(())
    } else if DIGEST_GRAMMAR_RE.is_match(text) && !REGISTERED_ALG_RE.is_match(text) {
        Err(DigestError::Unsupported)
    } else {
        Err(DigestError::Invalid)
    }
}

fn reference(text: &str) -> Result<(), PathError> {
    if tag_ok(text) {
        return Ok(());
    }
    match digest(text) {
        Ok(()) => Ok(()),
        Err(DigestError::Unsupported) => Err(PathError::Digest(DigestError::Unsupported)),
        Err(DigestError::Invalid) if REGISTERED_ALG_RE.is_match(text) => {
            Err(PathError::Digest(DigestError::Invalid))
        }
        Err(DigestError::Invalid) => Err(PathError::ReferenceInvalid),
        Err(other) => panic!("the oracle does not know {other:?}"),
    }
}

/// The oracle's verdict on a path.
pub fn endpoint(path: &str) -> Result<Parts<'_>, PathError> {
    let accepted: Vec<Parts<'_>> = STRICT
        .iter()
        .filter_map(|(kind, re)| {
            let caps = re.captures(path)?;
            let name = caps.name("name").map(|m| m.as_str());
            if name.is_some_and(|n| n.len() > 255) {
                return None;
            }
            Some((*kind, name, caps.name("part").map(|m| m.as_str())))
        })
        .collect();
    assert!(
        accepted.len() <= 1,
        "oracle ambiguity on {path:?}: {accepted:?}"
    );
    if let Some(parts) = accepted.first() {
        return Ok(*parts);
    }
    // Rejected: find the most helpful error.
    if !(path == "/v2" || path.starts_with("/v2/")) {
        return Err(PathError::NotRegistry);
    }
    let Some((kind, caps)) = LOOSE
        .iter()
        .find_map(|(kind, re)| re.captures(path).map(|c| (*kind, c)))
    else {
        return Err(PathError::NotFound);
    };
    let name = caps.name("name").map_or("", |m| m.as_str());
    if !name_ok(name) {
        return Err(PathError::NameInvalid);
    }
    let part = caps.name("part").map_or("", |m| m.as_str());
    match kind {
        "manifest" => reference(part).and(Err(PathError::NotFound)),
        "blob" | "referrers" => Err(digest(part)
            .err()
            .map_or(PathError::NotFound, PathError::Digest)),
        "upload" if !upload_id_ok(part) => Err(PathError::UploadInvalid),
        _ => Err(PathError::NotFound),
    }
}

/// Renders parsed parts back into the canonical path.
pub fn render(parts: Parts<'_>) -> String {
    let (kind, name, part) = parts;
    let name = name.unwrap_or("");
    let part = part.unwrap_or("");
    match kind {
        "base" => "/v2/".to_owned(),
        "catalog" => "/v2/_catalog".to_owned(),
        "tags" => format!("/v2/{name}/tags/list"),
        "manifest-tag" | "manifest-digest" => format!("/v2/{name}/manifests/{part}"),
        "blob" => format!("/v2/{name}/blobs/{part}"),
        "upload-start" => format!("/v2/{name}/blobs/uploads/"),
        "upload" => format!("/v2/{name}/blobs/uploads/{part}"),
        "referrers" => format!("/v2/{name}/referrers/{part}"),
        other => panic!("unknown kind {other}"),
    }
}

/// True when an accepted path is its canonical rendering, or one of the two accepted
/// alternative spellings (`/v2`, `/v2/<name>/blobs/uploads`).
pub fn round_trips(path: &str, parts: Parts<'_>) -> bool {
    let canonical = render(parts);
    canonical == path
        || (matches!(parts.0, "base" | "upload-start") && canonical.strip_suffix('/') == Some(path))
}

/// True when `inner` lies inside `outer`'s memory: a borrowed slice, not a copy.
pub fn within(outer: &str, inner: &str) -> bool {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    i >= o && i + inner.len() <= o + outer.len()
}

static PAIR_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new("[^&]+").expect("oracle regex"));
static KEY_VALUE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("(?s)^(?P<key>[^=]*)(?:=(?P<value>.*))?$").expect("oracle regex"));

/// Every `(key, value)` pair of a query string.
pub fn query_pairs(raw: &str) -> Vec<(&str, &str)> {
    PAIR_RE
        .find_iter(raw)
        .map(|m| {
            let caps = KEY_VALUE_RE.captures(m.as_str()).expect("matches any pair");
            let key = caps.name("key").map_or("", |k| k.as_str());
            (key, caps.name("value").map_or("", |v| v.as_str()))
        })
        .collect()
}

static RANGE_RE: LazyLock<Regex> = LazyLock::new(|| {
    whole(r"[ \t]*[bB][yY][tT][eE][sS]=[ \t]*(?P<first>[0-9]*)-(?P<last>[0-9]*)[ \t]*")
});
static CONTENT_RANGE_RE: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"[ \t]*(?:[bB][yY][tT][eE][sS] (?P<f1>[0-9]+)-(?P<l1>[0-9]+)/(?P<len>\*|[0-9]+)|(?P<f2>[0-9]+)-(?P<l2>[0-9]+))[ \t]*",
    )
});

pub fn byte_range(header: &str) -> Option<ByteRange> {
    let caps = RANGE_RE.captures(header)?;
    let first = &caps["first"];
    let last = &caps["last"];
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => last.parse().ok().map(ByteRange::Suffix),
        (false, true) => first.parse().ok().map(ByteRange::From),
        (false, false) => {
            let (a, b): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
            Some(ByteRange::FromTo(a, b))
        }
    }
}

pub fn content_range(header: &str) -> Option<ContentRange> {
    let caps = CONTENT_RANGE_RE.captures(header)?;
    let first = caps.name("f1").or(caps.name("f2"))?.as_str().parse().ok()?;
    let last = caps.name("l1").or(caps.name("l2"))?.as_str().parse().ok()?;
    if first > last {
        return None;
    }
    match caps.name("len").map(|m| m.as_str()) {
        None | Some("*") => {}
        Some(len) => {
            let len: u64 = len.parse().ok()?;
            if last >= len {
                return None;
            }
        }
    }
    ContentRange::new(first, last)
}

/// `resolve` by brute force over a small blob: the first and last byte the range covers.
pub fn resolve_small(range: ByteRange, size: u64) -> Option<(u64, u64)> {
    let covered = |i: u64| match range {
        ByteRange::FromTo(a, b) => a <= i && i <= b,
        ByteRange::From(a) => a <= i,
        ByteRange::Suffix(n) => size - i <= n,
        other => panic!("the oracle does not know {other:?}"),
    };
    let mut hits = (0..size).filter(|&i| covered(i));
    let first = hits.next()?;
    Some((first, hits.next_back().unwrap_or(first)))
}
