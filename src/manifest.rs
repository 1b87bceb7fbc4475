//! Manifest validation: which media types are accepted, what a manifest references, and the
//! referrer descriptor it contributes to its subject.
//!
//! The bytes are only read here, never re-serialized: the registry stores what the client sent.

use std::fmt;

use serde::Deserialize;

use crate::protocol::{Digest, DigestRef};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list, schema 2.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Whether a manifest lists images (an index) or is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// OCI image manifest or Docker schema 2 manifest: a config and layers.
    Image,
    /// OCI image index or Docker manifest list: child manifests.
    Index,
}

fn kind_of(media_type: &str) -> Option<Kind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Image),
        OCI_INDEX | DOCKER_MANIFEST_LIST => Some(Kind::Index),
        _ => None,
    }
}

/// Why a manifest was refused; the message goes to the client as is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

/// A content descriptor the manifest names.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Descriptor {
    /// The referenced digest.
    pub digest: Digest,
    /// True for a child manifest of an index; false for a config or layer blob.
    pub is_manifest: bool,
    /// True for a non-distributable layer (see [`is_non_distributable`]) with a non-empty `urls`:
    /// its bytes live elsewhere, so it need not be in the registry.
    pub external: bool,
}

/// What the registry needs to know of a valid manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Manifest {
    /// The media type it is stored and served with.
    pub media_type: String,
    /// Image or index.
    pub kind: Kind,
    /// Config, layers, or child manifests, in order.
    pub references: Vec<Descriptor>,
    /// The `subject` digest, if any.
    pub subject: Option<Digest>,
    /// `artifactType`, or for an image manifest without one, the config's media type.
    pub artifact_type: Option<String>,
    /// The `annotations` object as JSON text.
    pub annotations: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor<'a> {
    #[serde(borrow)]
    media_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    digest: std::borrow::Cow<'a, str>,
    size: i64,
    #[serde(default, borrow)]
    urls: Option<Vec<std::borrow::Cow<'a, str>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest<'a> {
    schema_version: Option<i64>,
    #[serde(borrow)]
    media_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    artifact_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    config: Option<RawDescriptor<'a>>,
    #[serde(borrow)]
    layers: Option<Vec<RawDescriptor<'a>>>,
    #[serde(borrow)]
    manifests: Option<Vec<RawDescriptor<'a>>>,
    #[serde(borrow)]
    subject: Option<RawDescriptor<'a>>,
    annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

fn descriptor(raw: &RawDescriptor<'_>, what: &str) -> Result<Digest, Invalid> {
    if raw.size < 0 {
        return Err(invalid(format!("{what}: size must not be negative")));
    }
    match raw.media_type.as_deref() {
        Some(mt) if !mt.is_empty() => {}
        _ => return Err(invalid(format!("{what}: mediaType is required"))),
    }
    DigestRef::parse(&raw.digest)
        .map(|d| d.to_digest())
        .map_err(|e| invalid(format!("{what}: {e} `{}`", raw.digest)))
}

/// Strips parameters (`; charset=...`) and whitespace from a `Content-Type`.
pub fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// Validates manifest `bytes` pushed with `content_type` (the request's, if any).
///
/// Accepts the OCI image manifest and index and the Docker schema 2 manifest and manifest list.
/// The `mediaType` field, when present, must equal the `Content-Type`; without a usable
/// `Content-Type` the field decides, and without either the shape does (`manifests` means an
/// index, otherwise an image manifest).
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, Invalid> {
    // JSON is UTF-8 (RFC 8259). Checked up front: serde skips unknown fields without looking
    // inside their strings, and a manifest clients cannot parse must not be stored.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| invalid(format!("a manifest must be UTF-8 JSON: {e}")))?;
    // First, so a case variant of a required key is named as such.
    check_key_case(text)?;
    let raw: RawManifest<'_> = serde_json::from_str(text)
        .map_err(|e| invalid(format!("not a valid manifest document: {e}")))?;
    let header = content_type
        .map(essence)
        .filter(|ct| kind_of(ct).is_some() || !is_generic(ct));
    let field = raw.media_type.as_deref().filter(|s| !s.is_empty());
    let media_type = match (header, field) {
        (Some(h), Some(f)) if h != f => {
            return Err(invalid(format!(
                "Content-Type `{h}` does not match the mediaType field `{f}`"
            )))
        }
        (Some(h), _) => h.to_owned(),
        (None, Some(f)) => f.to_owned(),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    };
    let kind = kind_of(&media_type).ok_or_else(|| {
        invalid(format!(
            "unsupported manifest media type `{media_type}`; accepted: {OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, {DOCKER_MANIFEST_LIST}"
        ))
    })?;
    if raw.schema_version != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }

    let mut references = Vec::new();
    let mut config_media_type = None;
    match kind {
        Kind::Image => {
            if raw.manifests.is_some() {
                return Err(invalid("an image manifest has no `manifests` field"));
            }
            let config = raw
                .config
                .as_ref()
                .ok_or_else(|| invalid("config is required"))?;
            references.push(Descriptor {
                digest: descriptor(config, "config")?,
                is_manifest: false,
                external: false,
            });
            config_media_type = config.media_type.as_deref().map(str::to_owned);
            let layers = raw
                .layers
                .as_ref()
                .ok_or_else(|| invalid("layers is required"))?;
            for (i, layer) in layers.iter().enumerate() {
                references.push(Descriptor {
                    digest: descriptor(layer, &format!("layers[{i}]"))?,
                    is_manifest: false,
                    external: layer.urls.as_ref().is_some_and(|u| !u.is_empty())
                        && layer
                            .media_type
                            .as_deref()
                            .is_some_and(is_non_distributable),
                });
            }
        }
        Kind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(invalid("an index has no `config` or `layers` field"));
            }
            let children = raw
                .manifests
                .as_ref()
                .ok_or_else(|| invalid("manifests is required"))?;
            for (i, child) in children.iter().enumerate() {
                references.push(Descriptor {
                    digest: descriptor(child, &format!("manifests[{i}]"))?,
                    is_manifest: true,
                    external: false,
                });
            }
        }
    }
    let subject = raw
        .subject
        .as_ref()
        .map(|s| descriptor(s, "subject"))
        .transpose()?;
    let artifact_type = raw
        .artifact_type
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or(match kind {
            Kind::Image => config_media_type,
            Kind::Index => None,
        });
    let annotations = match raw.annotations {
        Some(map) => {
            if map.values().any(|v| !v.is_string()) {
                return Err(invalid("annotation values must be strings"));
            }
            Some(serde_json::Value::Object(map).to_string())
        }
        None => None,
    };
    Ok(Manifest {
        media_type,
        kind,
        references,
        subject,
        artifact_type,
        annotations,
    })
}

/// Layer media types whose bytes may be kept out of registries (fetched from their `urls`):
/// the OCI non-distributable layers (deprecated, still written) and Docker's foreign layers.
/// Only these may name a blob the registry does not hold.
pub fn is_non_distributable(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.nondistributable.v1.tar")
        || media_type == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
}

/// Fields of the manifest and index documents, as validation reads them.
const DOCUMENT_KEYS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "manifests",
    "subject",
    "annotations",
];
/// Fields of a descriptor.
const DESCRIPTOR_KEYS: &[&str] = &[
    "mediaType",
    "digest",
    "size",
    "urls",
    "annotations",
    "data",
    "artifactType",
    "platform",
];

/// Refuses a key that a case-insensitive JSON reader would take for a known field but that is
/// not spelt exactly so (`"LAYERS"` beside `"layers"`), in the document and in each descriptor
/// the registry validates. Go's `encoding/json` (docker, containerd, distribution) matches keys
/// case-insensitively, so such a manifest would list references the registry never checked.
fn check_key_case(text: &str) -> Result<(), Invalid> {
    use serde_json::{Map, Value};
    fn keys(object: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), Invalid> {
        for key in object.keys() {
            let folded = fold(key);
            if let Some(field) = known.iter().find(|k| folded == k.to_ascii_lowercase()) {
                if key != field {
                    return Err(invalid(format!(
                        "{what}: key `{key}` differs from `{field}` only in case"
                    )));
                }
            }
        }
        Ok(())
    }
    let Ok(Value::Object(document)) = serde_json::from_str::<Value>(text) else {
        return Ok(()); // the typed parse already refused it
    };
    keys(&document, DOCUMENT_KEYS, "manifest")?;
    for field in ["config", "subject"] {
        if let Some(Value::Object(descriptor)) = document.get(field) {
            keys(descriptor, DESCRIPTOR_KEYS, field)?;
        }
    }
    for field in ["layers", "manifests"] {
        if let Some(Value::Array(list)) = document.get(field) {
            for (i, item) in list.iter().enumerate() {
                if let Value::Object(descriptor) = item {
                    keys(descriptor, DESCRIPTOR_KEYS, &format!("{field}[{i}]"))?;
                }
            }
        }
    }
    Ok(())
}

/// A key as Go's case-insensitive match sees it: ASCII case folded, plus the two non-ASCII
/// letters that fold onto ASCII ones (`ſ` onto `s`, the Kelvin sign onto `k`).
fn fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Content types that say nothing about the manifest (curl's default, for instance).
fn is_generic(ct: &str) -> bool {
    matches!(
        ct,
        "" | "application/json"
            | "application/octet-stream"
            | "application/x-www-form-urlencoded"
            | "text/plain"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.example.config","digest":"{D1}","size":0}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D1}","size":0,"urls":["https://example.com/l"]}}]{extra}}}"#
        )
    }

    #[test]
    fn image_manifest_references_and_artifact_type() {
        let m = parse(image("").as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.kind, Kind::Image);
        assert_eq!(m.references.len(), 2);
        assert!(!m.references[0].external);
        // `urls` on a distributable layer type: the blob must still be in the registry.
        assert!(!m.references[1].external);
        let foreign = image("").replace(
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        );
        assert!(parse(foreign.as_bytes(), None).unwrap().references[1].external);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.example.config")
        );
        assert_eq!(m.subject, None);
    }

    #[test]
    fn subject_annotations_and_explicit_artifact_type() {
        let extra = format!(
            r#","artifactType":"application/vnd.example.sbom","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":3}},"annotations":{{"a":"b"}}"#
        );
        let m = parse(
            image(&extra).as_bytes(),
            Some(&format!("{OCI_MANIFEST}; charset=utf-8")),
        )
        .unwrap();
        assert_eq!(m.subject.unwrap().as_str(), D1);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.example.sbom")
        );
        assert_eq!(m.annotations.as_deref(), Some(r#"{"a":"b"}"#));
    }

    #[test]
    fn media_type_must_agree_with_content_type() {
        let err = parse(image("").as_bytes(), Some(OCI_INDEX)).unwrap_err();
        assert!(err.0.contains("does not match"), "{err}");
        // A generic Content-Type defers to the field.
        assert_eq!(
            parse(image("").as_bytes(), Some("application/json"))
                .unwrap()
                .media_type,
            OCI_MANIFEST
        );
    }

    #[test]
    fn rejects_unknown_types_and_bad_shapes() {
        let schema1 = br#"{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]}"#;
        assert!(parse(
            schema1,
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws")
        )
        .is_err());
        assert!(parse(b"not json", Some(OCI_MANIFEST)).is_err());
        assert!(parse(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
            None
        )
        .is_err());
        let bad_digest = image("").replace(D1, "sha256:abc");
        assert!(parse(bad_digest.as_bytes(), None)
            .unwrap_err()
            .0
            .contains("config"));
        let index_with_layers = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[],"layers":[]}}"#
        );
        assert!(parse(index_with_layers.as_bytes(), None).is_err());
    }

    #[test]
    fn rejects_bytes_that_are_not_utf8_json_even_in_unknown_fields() {
        // Found by the `manifest` fuzz target: serde skipped the unknown field's bad bytes.
        let mut body = br#"{"schemaVersion":2,"x":"a"#.to_vec();
        body.push(0xcd);
        body.extend_from_slice(br#"b","manifests":[]}"#);
        assert!(parse(&body, Some(OCI_INDEX))
            .unwrap_err()
            .0
            .contains("UTF-8"));
        // A lone surrogate escape is grammatical JSON; like Go's decoder (docker, containerd),
        // the registry takes it and stores the bytes as sent.
        let lone_surrogate = br#"{"schemaVersion":2,"x":"\ud800","manifests":[]}"#;
        assert!(parse(lone_surrogate, Some(OCI_INDEX)).is_ok());
    }

    #[test]
    fn index_children_are_manifests_and_shape_decides_without_types() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":1}}]}}"#
        );
        let m = parse(body.as_bytes(), None).unwrap();
        assert_eq!((m.kind, m.media_type.as_str()), (Kind::Index, OCI_INDEX));
        assert!(m.references[0].is_manifest);
        assert_eq!(m.artifact_type, None);
    }

    #[test]
    fn urls_must_be_strings_and_count_only_for_non_distributable_layers() {
        let foreign = |urls: &str| {
            image("")
                .replace(
                    "application/vnd.oci.image.layer.v1.tar",
                    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                )
                .replace(r#"["https://example.com/l"]"#, urls)
        };
        assert!(parse(foreign("[1]").as_bytes(), None).is_err());
        assert!(parse(foreign(r#"[{"u":"v"}]"#).as_bytes(), None).is_err());
        assert!(parse(foreign(r#""https://example.com/l""#).as_bytes(), None).is_err());
        let empty = parse(foreign("[]").as_bytes(), None).unwrap();
        assert!(!empty.references[1].external);
        assert!(parse(foreign("null").as_bytes(), None).is_ok());
    }

    #[test]
    fn keys_differing_only_in_case_are_refused() {
        let other = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
        let cases = [
            // Go clients would read these layers; the registry checked the empty list.
            image("").replace(r#""layers":["#, r#""layers":[],"LAYERS":["#),
            image("").replace(r#""config":"#, r#""Config":"#),
            image(r#","SUBJECT":{}"#),
            image("").replace(r#""digest":"#, r#""Digest":"#),
            image("").replace(r#""urls":"#, r#""URLs":"#),
            image("").replace(
                r#""mediaType":"application/vnd.oci.image.layer"#,
                r#""mediatype":"application/vnd.oci.image.layer"#,
            ),
            // `ſ` folds onto `s` in Go's matching.
            image("").replace(r#""size":0,"urls""#, r#""ſize":0,"urls""#),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[],"Manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{other}","size":1}}]}}"#
            ),
        ];
        for body in cases {
            let err = parse(body.as_bytes(), None).expect_err(&body);
            assert!(err.0.contains("only in case"), "{body}: {err}");
        }
        // Unknown keys and keys at levels nothing validates (platform, annotations) are free.
        assert!(parse(
            image(r#","annotations":{"Layers":"x"},"x-Config":1"#).as_bytes(),
            None
        )
        .is_ok());
    }
}
