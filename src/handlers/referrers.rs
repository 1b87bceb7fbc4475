//! `GET /v2/<name>/referrers/<digest>[?artifactType=]`: the manifests whose subject is `digest`,
//! as an image index of their stored descriptors, paged with `Link` like tag lists.
//!
//! Descriptors were serialized when the referring manifest was pushed; a page concatenates
//! them without parsing anything, and is bounded in entries and in bytes.

use bytes::{BufMut, BytesMut};
use http::{header, HeaderValue, StatusCode};

use super::{build_response, header_value, Ctx, HandlerResult};
use crate::error::{ErrorCode, RegistryError};
use crate::manifest::OCI_INDEX;
use crate::protocol::{Digest, DigestRef};
use crate::response_body::RegistryBody;
use crate::storage::{ListOptions, ReferrerListOptions};

/// Descriptor bytes one page holds at most (one larger descriptor still goes out alone).
const PAGE_BYTES: usize = 4 << 20;

pub(super) async fn list(ctx: &Ctx<'_>, name: &str, digest: DigestRef<'_>) -> HandlerResult {
    let filter = ctx.param("artifactType")?;
    let last = match ctx.param("last")? {
        Some(raw) => Some(Digest::parse(&raw).map_err(|_| {
            RegistryError::new(ErrorCode::Unsupported, "`last` must be a digest")
                .with_status(StatusCode::BAD_REQUEST)
        })?),
        None => None,
    };
    let limit = ctx.config.page_cap.max(1);
    let options = ReferrerListOptions::new(
        ListOptions::new(last.map(|d| d.as_str().to_owned()), limit),
        filter.as_deref().map(str::to_owned),
        PAGE_BYTES,
    );
    // An unknown repository or subject has no referrers: 200 with an empty index, never 404.
    let page = ctx
        .storage()
        .list_referrers(name, &digest.to_digest(), options)
        .await?;
    let head = format!("{{\"schemaVersion\":2,\"mediaType\":\"{OCI_INDEX}\",\"manifests\":[");
    let size = head.len()
        + 2
        + page
            .items
            .iter()
            .map(|e| e.descriptor.len() + 1)
            .sum::<usize>();
    let mut body = BytesMut::with_capacity(size);
    body.put_slice(head.as_bytes());
    for (i, entry) in page.items.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&entry.descriptor);
    }
    body.put_slice(b"]}");
    let mut builder = http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX))
        .header(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if filter.is_some() {
        builder = builder.header(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    if page.more {
        if let Some(last) = page.items.last() {
            let mut next = format!(
                "</v2/{name}/referrers/{}?last={}",
                digest.as_str(),
                last.digest.as_str()
            );
            if let Some(filter) = &filter {
                next.push_str("&artifactType=");
                next.push_str(&percent_encode(filter));
            }
            next.push_str(">; rel=\"next\"");
            builder = builder.header(header::LINK, header_value(&next)?);
        }
    }
    build_response(builder, RegistryBody::full(body.freeze()))
}

/// Percent-encodes everything but unreserved characters (for a query value in a `Link`).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
