//! `GET` / `HEAD` / `DELETE /v2/<name>/blobs/<digest>`.

use http::{header, HeaderValue, Method, StatusCode};

use super::{check_deletes, empty, finish, header_value, Ctx, HandlerResult};
use crate::body::RegistryBody;
use crate::error::{ErrorCode, RegistryError};
use crate::protocol::{ByteRange, Digest, DigestRef};
use crate::legacy_storage::{BlobReader, Error as StorageError};

fn blob_unknown(digest: DigestRef<'_>) -> RegistryError {
    RegistryError::from_code(ErrorCode::BlobUnknown)
        .with_detail(serde_json::json!({ "digest": digest.as_str() }))
}

/// Opens blob `digest` of `name`, the whole of it or bytes `span`.
async fn open(
    ctx: &Ctx<'_>,
    name: &str,
    digest: DigestRef<'_>,
    owned: &Digest,
    span: Option<(u64, u64)>,
) -> Result<BlobReader, RegistryError> {
    match ctx.storage().read_blob(name, owned, span).await {
        Ok(reader) => Ok(reader),
        Err(StorageError::NotFound) => Err(blob_unknown(digest)),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn get(ctx: &Ctx<'_>, name: &str, digest: DigestRef<'_>) -> HandlerResult {
    let owned = digest.to_digest();
    let range = ctx.header(header::RANGE).and_then(ByteRange::parse);
    // A whole-blob GET (every layer pull) opens the blob once: its length is the size. HEAD
    // and Range requests need the size before anything is opened.
    let mut whole = None;
    let size = if range.is_none() && *ctx.method != Method::HEAD {
        let reader = open(ctx, name, digest, &owned, None).await?;
        let size = reader.len();
        whole = Some(reader);
        size
    } else {
        ctx.storage()
            .blob_size(name, &owned)
            .await?
            .ok_or_else(|| blob_unknown(digest))?
    };

    // A Range header that does not parse is ignored, as RFC 9110 says; one that parses but
    // lies outside the blob is 416.
    let (status, span) = match range {
        None => (StatusCode::OK, None),
        Some(range) => match range.resolve(size) {
            Some(span) => (StatusCode::PARTIAL_CONTENT, Some(span)),
            None => {
                return Err(RegistryError::new(
                    ErrorCode::Unsupported,
                    "requested range not satisfiable",
                )
                .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
                .with_header(
                    header::CONTENT_RANGE,
                    header_value(&format!("bytes */{size}"))?,
                ));
            }
        },
    };
    let len = span.map_or(size, |(first, last)| last - first + 1);
    let mut builder = http::Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, HeaderValue::from(len))
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )
        .header(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"))
        .header("docker-content-digest", header_value(digest.as_str())?)
        .header(
            header::ETAG,
            header_value(&format!("\"{}\"", digest.as_str()))?,
        );
    if let Some((first, last)) = span {
        builder = builder.header(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {first}-{last}/{size}"))?,
        );
    }
    if ctx.method == Method::HEAD {
        return finish(builder, RegistryBody::empty());
    }
    let reader = match whole {
        Some(reader) => reader,
        // Deleted between the size check and the open: BLOB_UNKNOWN all the same.
        None => open(ctx, name, digest, &owned, span).await?,
    };
    finish(builder, RegistryBody::blob(reader))
}

pub(super) async fn delete(ctx: &Ctx<'_>, name: &str, digest: DigestRef<'_>) -> HandlerResult {
    check_deletes(ctx)?;
    if ctx.storage().delete_blob(name, &digest.to_digest()).await? {
        finish(empty(StatusCode::ACCEPTED), RegistryBody::empty())
    } else {
        Err(blob_unknown(digest))
    }
}
