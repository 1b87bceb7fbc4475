//! `GET` / `HEAD` / `PUT` / `DELETE /v2/<name>/manifests/<reference>`.

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body::Body;

use super::request_body::{read_limited, too_large};
use super::{
    bodiless_head, build_response, check_deletes, header_value, Ctx, HandlerResult,
    DOCKER_CONTENT_DIGEST, OCI_SUBJECT, OCI_TAG,
};
use crate::error::{ErrorCode, RegistryError};
use crate::manifest::{self, Manifest};
use crate::protocol::{name::is_valid_tag, Algorithm, Digest, TagOrDigest};
use crate::response_body::RegistryBody;
use crate::storage::{GetOptions, ManifestPut, ReferrerEntry, Storage, StoredManifest};
use crate::BoxError;

/// The most `?tag=` values one PUT may carry; more is 414.
const MAX_TAGS_PER_PUT: usize = 100;

fn manifest_unknown(reference: &str) -> RegistryError {
    RegistryError::from_code(ErrorCode::ManifestUnknown)
        .with_detail(serde_json::json!({ "reference": reference }))
}

fn name_unknown(name: &str) -> RegistryError {
    RegistryError::from_code(ErrorCode::NameUnknown)
        .with_detail(serde_json::json!({ "name": name }))
}

/// 404 with `NAME_UNKNOWN` when the repository does not exist, else `MANIFEST_UNKNOWN`.
async fn not_found(storage: &dyn Storage, name: &str, reference: &str) -> RegistryError {
    match storage.repository_exists(name).await {
        Ok(false) => name_unknown(name),
        Ok(true) => manifest_unknown(reference),
        Err(e) => e.into(),
    }
}

/// The digest a reference names, if any.
async fn resolve(
    storage: &dyn Storage,
    name: &str,
    reference: TagOrDigest<'_>,
) -> Result<Option<Digest>, RegistryError> {
    match reference {
        TagOrDigest::Digest(d) => Ok(Some(d.to_digest())),
        TagOrDigest::Tag(tag) => match storage.get_tag(name, tag).await {
            Ok(digest) => Ok(Some(digest)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        },
    }
}

/// `Ok(None)` for absence, so callers can answer 404 with the right code.
fn found<T>(result: crate::storage::Result<T>) -> Result<Option<T>, RegistryError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn get(ctx: &Ctx<'_>, name: &str, reference: TagOrDigest<'_>) -> HandlerResult {
    let storage = ctx.storage();
    let text = reference.as_str();
    let Some(digest) = resolve(storage, name, reference).await? else {
        return Err(not_found(storage, name, text).await);
    };
    // HEAD reads only the metadata; GET the bytes with their media type.
    let (media_type, len, body) = if ctx.method == Method::HEAD {
        match found(storage.manifest_meta(name, &digest).await)? {
            Some(meta) => (meta.media_type, meta.size, RegistryBody::empty()),
            None => return Err(not_found(storage, name, text).await),
        }
    } else {
        match found(storage.get_manifest(name, &digest).await)? {
            Some(stored) => (
                stored.media_type,
                stored.bytes.len() as u64,
                RegistryBody::full(stored.bytes),
            ),
            None => return Err(not_found(storage, name, text).await),
        }
    };
    // No Accept filtering: the stored type is served whatever the client listed.
    let builder = http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, header_value(&media_type)?)
        .header(header::CONTENT_LENGTH, HeaderValue::from(len))
        .header(DOCKER_CONTENT_DIGEST, header_value(digest.as_str())?)
        .header(header::ETAG, header_value(&quoted(digest.as_str()))?);
    build_response(builder, body)
}

/// `"text"`: an entity tag (cheaper than `format!`, which pads every argument).
fn quoted(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    quoted.push_str(text);
    quoted.push('"');
    quoted
}

/// Every config, layer and child the manifest names must be in the repository. Each distinct
/// reference is touched (its content's last-touched time refreshed), then checked once,
/// children by existence (never by reading them): the order a collector's safety rests on
/// (see `crate::gc`).
async fn check_references(
    storage: &dyn Storage,
    name: &str,
    manifest: &Manifest,
) -> Result<(), RegistryError> {
    let mut seen = std::collections::HashSet::new();
    for reference in &manifest.references {
        if reference.external || !seen.insert(&reference.digest) {
            continue;
        }
        let present = match storage.touch_blob(&reference.digest).await {
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(e.into()),
            Ok(()) if reference.is_manifest => {
                found(storage.manifest_meta(name, &reference.digest).await)?.is_some()
            }
            Ok(()) => found(
                storage
                    .get_blob(name, &reference.digest, GetOptions::head())
                    .await,
            )?
            .is_some(),
        };
        if !present {
            return Err(blob_unknown(&reference.digest));
        }
    }
    Ok(())
}

fn blob_unknown(digest: &Digest) -> RegistryError {
    RegistryError::from_code(ErrorCode::ManifestBlobUnknown)
        .with_detail(serde_json::json!({ "digest": digest.as_str() }))
}

/// Touches every blob the manifest names again (before storing it, when checking took long).
async fn touch_references(storage: &dyn Storage, manifest: &Manifest) -> Result<(), RegistryError> {
    for reference in manifest.references.iter().filter(|r| !r.external) {
        match storage.touch_blob(&reference.digest).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Err(blob_unknown(&reference.digest)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// After a store that took longer than half the grace: every blob is touched and must still
/// be there (a collector that started before the store may not have marked the manifest),
/// else the manifest is taken back out.
async fn recheck_references(
    storage: &dyn Storage,
    name: &str,
    digest: &Digest,
    manifest: &Manifest,
) -> Result<(), RegistryError> {
    for reference in manifest.references.iter().filter(|r| !r.external) {
        match storage.touch_blob(&reference.digest).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {
                tracing::warn!(repo = name, %digest, "a slow manifest put lost a blob to garbage collection; the manifest is removed");
                let _ = storage.delete_manifest(name, digest).await;
                return Err(blob_unknown(&reference.digest));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The descriptor a referrers list serves for this manifest, serialized once, here.
fn referrer_descriptor(
    manifest: &Manifest,
    digest: &Digest,
    size: u64,
) -> Result<Bytes, RegistryError> {
    let json = |text: &str| serde_json::to_string(text).map_err(|e| RegistryError::internal(&e));
    let mut out = format!(
        "{{\"mediaType\":{},\"digest\":{},\"size\":{size}",
        json(&manifest.media_type)?,
        json(digest.as_str())?,
    );
    if let Some(artifact_type) = &manifest.artifact_type {
        out.push_str(",\"artifactType\":");
        out.push_str(&json(artifact_type)?);
    }
    if let Some(annotations) = &manifest.annotations {
        // Already JSON object text, serialized by the manifest parser.
        out.push_str(",\"annotations\":");
        out.push_str(annotations);
    }
    out.push('}');
    Ok(Bytes::from(out))
}

pub(super) async fn put<B>(
    ctx: &Ctx<'_>,
    body: B,
    name: &str,
    reference: TagOrDigest<'_>,
) -> HandlerResult
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let limit = ctx.config.max_manifest_size;
    if ctx.content_length()?.is_some_and(|len| len > limit) {
        return Err(too_large(limit));
    }
    // Tags from `?tag=` (only with a digest reference) are checked before the body is read.
    let extra_tags = match reference {
        TagOrDigest::Digest(_) => ctx.params("tag")?,
        TagOrDigest::Tag(_) => Vec::new(),
    };
    if extra_tags.len() > MAX_TAGS_PER_PUT {
        return Err(RegistryError::new(
            ErrorCode::Unsupported,
            format!("at most {MAX_TAGS_PER_PUT} tags per request"),
        )
        .with_status(StatusCode::URI_TOO_LONG));
    }
    if let Some(bad) = extra_tags.iter().find(|t| !is_valid_tag(t)) {
        return Err(
            RegistryError::new(ErrorCode::ManifestInvalid, "invalid tag in ?tag=")
                .with_detail(serde_json::json!({ "tag": bad })),
        );
    }
    let bytes = read_limited(body, limit).await?;
    let manifest = manifest::parse(&bytes, ctx.header(header::CONTENT_TYPE))
        .map_err(|e| RegistryError::new(ErrorCode::ManifestInvalid, e.0))?;

    let algorithm = match reference {
        TagOrDigest::Digest(d) => d.algorithm(),
        TagOrDigest::Tag(_) => Algorithm::Sha256,
    };
    let digest = Digest::of(algorithm, &bytes);
    if let TagOrDigest::Digest(claimed) = reference {
        if digest != claimed {
            return Err(
                RegistryError::from_code(ErrorCode::DigestInvalid).with_detail(serde_json::json!({
                    "expected": claimed.as_str(),
                    "actual": digest.as_str(),
                })),
            );
        }
    }
    let storage = ctx.storage();
    let checked = std::time::Instant::now();
    check_references(storage, name, &manifest).await?;

    let size = bytes.len() as u64;
    let tags = match reference {
        TagOrDigest::Tag(tag) => vec![tag.to_owned()],
        TagOrDigest::Digest(_) => extra_tags.iter().map(|t| t.to_string()).collect(),
    };
    let mut put = ManifestPut::new(
        digest.clone(),
        StoredManifest::new(manifest.media_type.clone(), bytes),
    )
    .with_tags(tags);
    if let Some(subject) = &manifest.subject {
        let entry = ReferrerEntry::new(
            digest.clone(),
            manifest.artifact_type.clone(),
            referrer_descriptor(&manifest, &digest, size)?,
        );
        put = put.with_referrer(subject.clone(), entry);
    }
    let grace = ctx.config.gc_grace;
    if checked.elapsed() >= grace / 2 {
        touch_references(storage, &manifest).await?;
    }
    let storing = std::time::Instant::now();
    storage.put_manifest(name, &put).await?;
    if storing.elapsed() >= grace / 2 {
        recheck_references(storage, name, &digest, &manifest).await?;
    }

    let mut builder = bodiless_head(StatusCode::CREATED)
        .header(
            header::LOCATION,
            header_value(&format!("/v2/{name}/manifests/{digest}"))?,
        )
        .header(DOCKER_CONTENT_DIGEST, header_value(digest.as_str())?);
    if let Some(subject) = &manifest.subject {
        builder = builder.header(OCI_SUBJECT, header_value(subject.as_str())?);
    }
    for tag in extra_tags {
        builder = builder.header(OCI_TAG, header_value(&tag)?);
    }
    build_response(builder, RegistryBody::empty())
}

pub(super) async fn delete(ctx: &Ctx<'_>, name: &str, reference: TagOrDigest<'_>) -> HandlerResult {
    check_deletes(ctx)?;
    let storage = ctx.storage();
    // Deleting by digest takes the manifest's tags and referrers entry with it, in storage.
    let result = match reference {
        TagOrDigest::Tag(tag) => storage.delete_tag(name, tag).await,
        TagOrDigest::Digest(d) => storage.delete_manifest(name, &d.to_digest()).await,
    };
    match result {
        Ok(()) => build_response(bodiless_head(StatusCode::ACCEPTED), RegistryBody::empty()),
        Err(e) if e.is_not_found() => Err(not_found(storage, name, reference.as_str()).await),
        Err(e) => Err(e.into()),
    }
}
