//! Request handlers, one module per endpoint family. [`handle`] is the only router: it parses
//! the path with [`Endpoint::parse`] and dispatches on the method.

mod base;
mod blobs;
mod body;
pub(crate) mod guard;
mod manifests;
mod referrers;
mod tags;
mod uploads;

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;

use crate::body::RegistryBody;
use crate::error::{ErrorCode, RegistryError};
use crate::protocol::{path::redact_upload_id, query::percent_decode, Endpoint, Query};
use crate::settings::{BrowserGuard, Config};
use crate::storage::Storage;
use crate::uploads::Sessions;
use crate::BoxError;

/// State shared by every clone of the service.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) uploads: Arc<Sessions>,
}

impl Shared {
    pub(crate) fn new(storage: Arc<dyn Storage>) -> Self {
        Shared {
            storage,
            uploads: Arc::new(Sessions::default()),
        }
    }
}

/// What every handler returns.
pub(crate) type HandlerResult = Result<Response<RegistryBody>, RegistryError>;

/// Everything a handler needs besides its path parts.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Arc<Shared>,
    pub(crate) config: Config,
    pub(crate) method: &'a Method,
    pub(crate) headers: &'a http::HeaderMap,
    pub(crate) query: Query<'a>,
}

impl<'a> Ctx<'a> {
    /// The first value of query parameter `key`, percent-decoded (clients encode `:` in
    /// digests and `/` in names). A broken escape is 400.
    pub(crate) fn param(&self, key: &str) -> Result<Option<Cow<'a, str>>, RegistryError> {
        self.query.get(key).map(decode_param).transpose()
    }

    /// Every value of a repeated query parameter, percent-decoded.
    pub(crate) fn params(&self, key: &'a str) -> Result<Vec<Cow<'a, str>>, RegistryError> {
        self.query.get_all(key).map(decode_param).collect()
    }

    pub(crate) fn storage(&self) -> &dyn Storage {
        self.shared.storage.as_ref()
    }

    pub(crate) fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A declared `Content-Length`, or `None` for chunked bodies. A malformed value is an error.
    pub(crate) fn content_length(&self) -> Result<Option<u64>, RegistryError> {
        match self.headers.get(header::CONTENT_LENGTH) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Some)
                .ok_or_else(|| {
                    RegistryError::new(ErrorCode::SizeInvalid, "malformed Content-Length")
                }),
        }
    }
}

pub(crate) async fn handle<B>(
    shared: Arc<Shared>,
    config: Config,
    guard: Arc<BrowserGuard>,
    req: Request<B>,
) -> Response<RegistryBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let body = body::IdleTimeout::new(body, config.body_idle_timeout);
    let path = parts.uri.path();
    shared
        .uploads
        .start_sweeper(&shared.storage, config.upload_timeout);
    let ctx = Ctx {
        shared: &shared,
        config,
        method: &parts.method,
        headers: &parts.headers,
        query: Query::new(parts.uri.query()),
    };
    let endpoint = Endpoint::parse(path);
    let result = match (guard::check(&guard, &parts), endpoint) {
        (Err(refused), _) => Err(refused),
        (Ok(()), Ok(endpoint)) => dispatch(ctx, body, endpoint).await,
        (Ok(()), Err(e)) => Err(e.into()),
    };
    let mut response = result.unwrap_or_else(|e| {
        if e.status().is_server_error() {
            // Upload ids are capabilities: neither the path nor a storage error naming the
            // session's files may carry one into the log.
            let cause = match endpoint {
                Ok(Endpoint::Upload { id, .. }) => e.cause().unwrap_or("").replace(id, "<upload>"),
                _ => e.cause().unwrap_or("").to_owned(),
            };
            let path = redact_upload_id(path);
            tracing::error!(method = %parts.method, %path, error = %e, cause, "registry request failed");
        }
        let mut response = e.into_response();
        if declares_body(&parts.headers) {
            // The body may be left unread; hyper then closes the connection, so say so, and
            // clients that send the whole body before reading know not to reuse it.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    });
    let headers = response.headers_mut();
    headers.insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    // Nothing under /v2/ is a page: a browser must never sniff a blob into HTML or script.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn declares_body(headers: &http::HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

async fn dispatch<B>(ctx: Ctx<'_>, body: B, endpoint: Endpoint<'_>) -> HandlerResult
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match endpoint {
        Endpoint::Base => match *ctx.method {
            Method::GET | Method::HEAD => base::get(&ctx),
            _ => not_allowed("GET, HEAD"),
        },
        Endpoint::Catalog => match *ctx.method {
            Method::GET => tags::catalog(&ctx).await,
            _ => not_allowed("GET"),
        },
        Endpoint::Tags { name } => match *ctx.method {
            Method::GET => tags::list(&ctx, name).await,
            _ => not_allowed("GET"),
        },
        Endpoint::Manifest { name, reference } => match *ctx.method {
            Method::GET | Method::HEAD => manifests::get(&ctx, name, reference).await,
            Method::PUT => manifests::put(&ctx, body, name, reference).await,
            Method::DELETE => manifests::delete(&ctx, name, reference).await,
            _ => not_allowed("GET, HEAD, PUT, DELETE"),
        },
        Endpoint::Blob { name, digest } => match *ctx.method {
            Method::GET | Method::HEAD => blobs::get(&ctx, name, digest).await,
            Method::DELETE => blobs::delete(&ctx, name, digest).await,
            _ => not_allowed("GET, HEAD, DELETE"),
        },
        Endpoint::UploadStart { name } => match *ctx.method {
            Method::POST => uploads::start(&ctx, body, name).await,
            _ => not_allowed("POST"),
        },
        Endpoint::Upload { name, id } => match *ctx.method {
            Method::GET => uploads::status(&ctx, name, id).await,
            Method::PATCH => uploads::patch(&ctx, body, name, id).await,
            Method::PUT => uploads::finish_upload(&ctx, body, name, id).await,
            Method::DELETE => uploads::cancel(&ctx, name, id).await,
            _ => not_allowed("GET, PATCH, PUT, DELETE"),
        },
        Endpoint::Referrers { name, digest } => match *ctx.method {
            Method::GET => referrers::list(&ctx, name, digest).await,
            _ => not_allowed("GET"),
        },
    }
}

fn not_allowed(allow: &'static str) -> HandlerResult {
    Err(RegistryError::new(
        ErrorCode::Unsupported,
        "method not allowed on this endpoint",
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
    .with_header(header::ALLOW, HeaderValue::from_static(allow)))
}

fn decode_param(raw: &str) -> Result<Cow<'_, str>, RegistryError> {
    percent_decode(raw).ok_or_else(|| {
        RegistryError::new(
            ErrorCode::Unsupported,
            "malformed percent-encoding in the query",
        )
        .with_status(StatusCode::BAD_REQUEST)
        .with_detail(serde_json::json!({ "value": raw }))
    })
}

/// 405 when the layer was built with deletes off.
pub(crate) fn check_deletes(ctx: &Ctx<'_>) -> Result<(), RegistryError> {
    if ctx.config.deletes_enabled {
        Ok(())
    } else {
        Err(RegistryError::new(
            ErrorCode::Unsupported,
            "deletes are disabled on this registry",
        )
        .with_status(StatusCode::METHOD_NOT_ALLOWED))
    }
}

/// A response with a status and no body.
pub(crate) fn empty(status: StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, HeaderValue::from_static("0"))
}

/// Finishes a builder whose headers all came from validated values.
pub(crate) fn finish(builder: http::response::Builder, body: RegistryBody) -> HandlerResult {
    builder.body(body).map_err(|e| RegistryError::internal(&e))
}

/// A header value from text that may not be a valid header (never panics).
pub(crate) fn header_value(text: &str) -> Result<HeaderValue, RegistryError> {
    HeaderValue::from_str(text).map_err(|e| RegistryError::internal(&e))
}
