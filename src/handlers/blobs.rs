//! `GET` / `HEAD` / `DELETE /v2/<name>/blobs/<digest>`.

use http::{header, HeaderValue, Method, StatusCode};

use super::{
    bodiless_head, build_response, check_deletes, header_value, Ctx, HandlerResult,
    DOCKER_CONTENT_DIGEST,
};
use crate::error::{ErrorCode, RegistryError};
use crate::gc::touch_interval;
use crate::protocol::{ByteRange, DigestRef};
use crate::response_body::RegistryBody;
use crate::storage::{GetOptions, Span};
use crate::telemetry;

fn blob_unknown(digest: DigestRef<'_>) -> RegistryError {
    RegistryError::from_code(ErrorCode::BlobUnknown)
        .with_detail(serde_json::json!({ "digest": digest.as_str() }))
}

pub(super) async fn get(ctx: &Ctx<'_>, name: &str, digest: DigestRef<'_>) -> HandlerResult {
    let owned = digest.to_digest();
    // A Range header that does not parse is ignored, as RFC 9110 says; one that parses but
    // lies outside the blob is 416. Size, span and body come from storage in one call.
    let range = ctx.header(header::RANGE).and_then(ByteRange::parse);
    let head = *ctx.method == Method::HEAD;
    // A 200 tells the client it may reference the blob: refresh its touched time first
    // (rate-limited), so a collector keeps it for a grace period from now (see `crate::gc`).
    let interval = touch_interval(ctx.config.gc_grace);
    if ctx.shared.touches.should_touch(owned.as_str(), interval) {
        match ctx.storage().touch_blob(&owned).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Err(blob_unknown(digest)),
            Err(e) => return Err(e.into()),
        }
    }
    let found = match ctx
        .storage()
        .get_blob(name, &owned, GetOptions::range(range, head))
        .await
    {
        Ok(found) => found,
        Err(e) if e.is_not_found() => return Err(blob_unknown(digest)),
        Err(e) => return Err(e.into()),
    };
    let size = found.size;
    let (status, len) = match found.span {
        Span::Range { first, last } => (StatusCode::PARTIAL_CONTENT, last - first + 1),
        Span::Unsatisfiable => {
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
        _ => (StatusCode::OK, size),
    };
    let mut builder = http::Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, HeaderValue::from(len))
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )
        .header(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"))
        .header(DOCKER_CONTENT_DIGEST, header_value(digest.as_str())?)
        .header(
            header::ETAG,
            header_value(&format!("\"{}\"", digest.as_str()))?,
        );
    if let Span::Range { first, last } = found.span {
        builder = builder.header(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {first}-{last}/{size}"))?,
        );
    }
    let body = match found.body {
        Some(reader) if !head => {
            telemetry::blob_bytes_sent(len);
            RegistryBody::blob(reader)
        }
        _ => RegistryBody::empty(),
    };
    build_response(builder, body)
}

pub(super) async fn delete(ctx: &Ctx<'_>, name: &str, digest: DigestRef<'_>) -> HandlerResult {
    check_deletes(ctx)?;
    match ctx.storage().unlink_blob(name, &digest.to_digest()).await {
        Ok(()) => build_response(bodiless_head(StatusCode::ACCEPTED), RegistryBody::empty()),
        Err(e) if e.is_not_found() => Err(blob_unknown(digest)),
        Err(e) => Err(e.into()),
    }
}
