//! `manifest::parse`: never panics, and what it accepts is consistent with the document.
//!
//! The first byte picks the `Content-Type` the manifest is pushed with (none, a generic one, or
//! each of the accepted types), the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_oci::manifest::{self, Kind, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use tower_oci::protocol::DigestRef;

const TYPES: [Option<&str>; 7] = [
    None,
    Some("application/json"),
    Some(OCI_MANIFEST),
    Some(OCI_INDEX),
    Some(DOCKER_MANIFEST),
    Some(DOCKER_MANIFEST_LIST),
    Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let content_type = TYPES[usize::from(pick) % TYPES.len()];
    let Ok(m) = manifest::parse(body, content_type) else {
        return;
    };
    // Only the four accepted types come out, and the kind matches the type.
    let kind = match m.media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => Kind::Image,
        OCI_INDEX | DOCKER_MANIFEST_LIST => Kind::Index,
        other => panic!("accepted unsupported media type {other:?}"),
    };
    assert_eq!(m.kind, kind);
    // A specific Content-Type is never overridden.
    if let Some(ct) = content_type.map(manifest::essence) {
        if ct != "application/json" {
            assert_eq!(m.media_type, ct);
        }
    }
    // The document really is UTF-8 JSON with schemaVersion 2, and a mediaType field agrees.
    // (A full `Value` refuses lone surrogate escapes, which the registry accepts as Go does.)
    let text = std::str::from_utf8(body).expect("accepted non-UTF-8");
    serde_json::from_str::<serde::de::IgnoredAny>(text).expect("accepted non-JSON");
    if let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) {
        assert_eq!(doc["schemaVersion"], 2);
        if let Some(field) = doc["mediaType"].as_str().filter(|s| !s.is_empty()) {
            assert_eq!(field, m.media_type);
        }
    }
    // Every reference is a valid digest of a registered algorithm; an image has its config first.
    for r in &m.references {
        assert!(DigestRef::parse(r.digest.as_str()).is_ok());
        assert_eq!(r.is_manifest, kind == Kind::Index);
    }
    if kind == Kind::Image {
        assert!(!m.references.is_empty());
    }
    if let Some(subject) = &m.subject {
        assert!(DigestRef::parse(subject.as_str()).is_ok());
    }
    // Pushing the same bytes again with the type it was stored under gives the same answer.
    assert_eq!(manifest::parse(body, Some(&m.media_type)).as_ref(), Ok(&m));
});
