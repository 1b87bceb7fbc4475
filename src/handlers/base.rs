//! `GET /v2/`: tells clients this is an OCI Distribution registry.

use http::{header, HeaderValue, Method, StatusCode};

use super::{build_response, Ctx, HandlerResult};
use crate::response_body::RegistryBody;

const BODY: &[u8] = b"{}";

pub(super) fn get(ctx: &Ctx<'_>) -> HandlerResult {
    let builder = http::Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )
        .header(header::CONTENT_LENGTH, HeaderValue::from(BODY.len()));
    let body = if ctx.method == Method::HEAD {
        RegistryBody::empty()
    } else {
        RegistryBody::full(BODY)
    };
    build_response(builder, body)
}
