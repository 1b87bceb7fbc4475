//! `GET` / `HEAD` / `PUT` / `DELETE /v2/<name>/manifests/<reference>`.

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body::Body;

use super::body::{read_limited, too_large};
use super::{check_deletes, empty, finish, header_value, Ctx, HandlerResult};
use crate::body::RegistryBody;
use crate::error::{ErrorCode, RegistryError};
use crate::manifest::{self, Manifest};
use crate::protocol::{name::is_valid_tag, Algorithm, Digest, Reference};
use crate::legacy_storage::{Referrer, Storage, StoredManifest};
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
    reference: Reference<'_>,
) -> Result<Option<Digest>, RegistryError> {
    Ok(match reference {
        Reference::Digest(d) => Some(d.to_digest()),
        Reference::Tag(tag) => storage.resolve_tag(name, tag).await?,
    })
}

pub(super) async fn get(ctx: &Ctx<'_>, name: &str, reference: Reference<'_>) -> HandlerResult {
    let storage = ctx.storage();
    let text = reference.as_str();
    let found = match resolve(storage, name, reference).await? {
        Some(digest) => storage
            .get_manifest(name, &digest)
            .await?
            .map(|m| (digest, m)),
        None => None,
    };
    let Some((digest, stored)) = found else {
        return Err(not_found(storage, name, text).await);
    };
    // No Accept filtering: the stored type is served whatever the client listed.
    let builder = http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, header_value(&stored.media_type)?)
        .header(
            header::CONTENT_LENGTH,
            HeaderValue::from(stored.bytes.len()),
        )
        .header("docker-content-digest", header_value(digest.as_str())?)
        .header(
            header::ETAG,
            header_value(&format!("\"{}\"", digest.as_str()))?,
        );
    let body = if ctx.method == Method::HEAD {
        RegistryBody::empty()
    } else {
        RegistryBody::full(stored.bytes)
    };
    finish(builder, body)
}

/// Every config, layer and child the manifest names must be in the repository.
async fn check_references(
    storage: &dyn Storage,
    name: &str,
    manifest: &Manifest,
) -> Result<(), RegistryError> {
    for reference in &manifest.references {
        let present = if reference.external {
            true
        } else if reference.is_manifest {
            storage
                .get_manifest(name, &reference.digest)
                .await?
                .is_some()
        } else {
            storage.blob_size(name, &reference.digest).await?.is_some()
        };
        if !present {
            return Err(RegistryError::from_code(ErrorCode::ManifestBlobUnknown)
                .with_detail(serde_json::json!({ "digest": reference.digest.as_str() })));
        }
    }
    Ok(())
}

pub(super) async fn put<B>(
    ctx: &Ctx<'_>,
    body: B,
    name: &str,
    reference: Reference<'_>,
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
        Reference::Digest(_) => ctx.params("tag")?,
        Reference::Tag(_) => Vec::new(),
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
        Reference::Digest(d) => d.algorithm(),
        Reference::Tag(_) => Algorithm::Sha256,
    };
    let digest = Digest::of(algorithm, &bytes);
    if let Reference::Digest(claimed) = reference {
        if digest != claimed {
            return Err(
                RegistryError::from_code(ErrorCode::DigestInvalid).with_detail(serde_json::json!({
                    "expected": claimed.as_str(),
                    "actual": digest.as_str(),
                })),
            );
        }
    }
    let storage = ctx.shared.storage.as_ref();
    check_references(storage, name, &manifest).await?;

    let size = bytes.len() as u64;
    storage
        .put_manifest(
            name,
            &digest,
            StoredManifest {
                media_type: manifest.media_type.clone(),
                bytes,
            },
        )
        .await?;
    if let Some(subject) = &manifest.subject {
        let referrer = Referrer {
            digest: digest.clone(),
            media_type: manifest.media_type.clone(),
            size,
            artifact_type: manifest.artifact_type.clone(),
            annotations: manifest.annotations.clone(),
        };
        storage.add_referrer(name, subject, referrer).await?;
    }
    match reference {
        Reference::Tag(tag) => storage.set_tag(name, tag, &digest).await?,
        Reference::Digest(_) => {
            for tag in &extra_tags {
                storage.set_tag(name, tag, &digest).await?;
            }
        }
    }

    let mut builder = empty(StatusCode::CREATED)
        .header(
            header::LOCATION,
            header_value(&format!("/v2/{name}/manifests/{digest}"))?,
        )
        .header("docker-content-digest", header_value(digest.as_str())?);
    if let Some(subject) = &manifest.subject {
        builder = builder.header("oci-subject", header_value(subject.as_str())?);
    }
    for tag in extra_tags {
        builder = builder.header("oci-tag", header_value(&tag)?);
    }
    finish(builder, RegistryBody::empty())
}

pub(super) async fn delete(ctx: &Ctx<'_>, name: &str, reference: Reference<'_>) -> HandlerResult {
    check_deletes(ctx)?;
    let storage = ctx.storage();
    let deleted = match reference {
        Reference::Tag(tag) => storage.delete_tag(name, tag).await?,
        Reference::Digest(d) => {
            let digest = d.to_digest();
            match storage.get_manifest(name, &digest).await? {
                None => false,
                Some(stored) => {
                    let subject = manifest::parse(&stored.bytes, Some(&stored.media_type))
                        .ok()
                        .and_then(|m| m.subject);
                    let deleted = storage.delete_manifest(name, &digest).await?;
                    if let Some(subject) = subject {
                        storage.remove_referrer(name, &subject, &digest).await?;
                    }
                    deleted
                }
            }
        }
    };
    if deleted {
        finish(empty(StatusCode::ACCEPTED), RegistryBody::empty())
    } else {
        Err(not_found(storage, name, reference.as_str()).await)
    }
}
