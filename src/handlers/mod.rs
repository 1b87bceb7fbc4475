//! Request handlers, one module per endpoint family. [`handle`] is the only router: it parses
//! the path with [`Endpoint::parse`] and dispatches on the method.

mod base;
mod blobs;
pub(crate) mod guard;
mod manifests;
mod referrers;
mod request_body;
mod tags;
mod uploads;

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use tracing::Instrument;

use crate::auth::{Access, Actions, Authorizer, Decision, Hook, Principal};
use crate::error::{ErrorCode, RegistryError};
use crate::gc::{Collector, GcOptions, TouchLimiter};
use crate::protocol::{
    name::is_valid_name, path::redact_upload_id, query::percent_decode, Endpoint, PathError, Query,
};
use crate::response_body::RegistryBody;
use crate::settings::{BrowserGuard, Config};
use crate::storage::{Instrumented, Storage};
use crate::telemetry;
use crate::uploads::Sessions;
use crate::BoxError;

// Header names of the distribution protocol, parsed once (a `&str` name is parsed and
// looked up on every use).
pub(crate) const DOCKER_CONTENT_DIGEST: HeaderName =
    HeaderName::from_static("docker-content-digest");
pub(crate) const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
pub(crate) const OCI_CHUNK_MIN_LENGTH: HeaderName = HeaderName::from_static("oci-chunk-min-length");
pub(crate) const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
pub(crate) const OCI_TAG: HeaderName = HeaderName::from_static("oci-tag");
const DOCKER_DISTRIBUTION_API_VERSION: HeaderName =
    HeaderName::from_static("docker-distribution-api-version");

/// State shared by every clone of the service.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) uploads: Arc<Sessions>,
    /// `None`: every request is allowed, anonymously.
    pub(crate) authorizer: Hook,
    /// Garbage collection settings (its interval starts the background loop).
    pub(crate) gc: GcOptions,
    /// Set once the background collection loop runs.
    pub(crate) gc_started: Arc<AtomicBool>,
    /// Shared by every collector of this registry: one run at a time.
    pub(crate) gc_running: Arc<tokio::sync::Mutex<()>>,
    /// Rate limit of the touches blob reads make.
    pub(crate) touches: Arc<TouchLimiter>,
}

impl Shared {
    pub(crate) fn new(storage: Arc<dyn Storage>) -> Self {
        telemetry::describe();
        Shared {
            // Every operation traced and measured, whatever the backend.
            storage: Arc::new(Instrumented(storage)),
            uploads: Arc::new(Sessions::default()),
            authorizer: Hook::default(),
            gc: GcOptions::default(),
            gc_started: Arc::default(),
            gc_running: Arc::default(),
            touches: Arc::default(),
        }
    }

    /// A collector over this registry's storage and upload sessions, with `config`'s upload
    /// timeout.
    pub(crate) fn collector(&self, config: Config) -> Collector {
        Collector::with_sessions(
            Arc::clone(&self.storage),
            Arc::clone(&self.uploads),
            self.gc.clone().upload_timeout(config.upload_timeout),
            Arc::clone(&self.gc_running),
        )
    }

    /// Starts the collection loop on the current runtime, once, when an interval is set. It
    /// logs one line per run and ends when the registry is dropped.
    fn start_gc(self: &Arc<Self>, config: Config) {
        let Some(every) = self.gc.interval else {
            return;
        };
        if self.gc_started.load(Ordering::Acquire) || self.gc_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.gc_started.store(false, Ordering::Release);
            return;
        };
        let shared = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(collector) = shared.upgrade().map(|s| s.collector(config)) else {
                    return;
                };
                match collector.run().await {
                    Ok(report) => tracing::info!(target: "tower_oci::gc", %report, "garbage collection"),
                    Err(e) => tracing::warn!(target: "tower_oci::gc", error = %e, "garbage collection failed"),
                }
            }
        });
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
    /// The request head, for asking the authorizer about more repositories.
    pub(crate) head: &'a http::request::Parts,
    /// Who the authorizer allowed; `None` without an authorizer.
    pub(crate) principal: Option<&'a Principal>,
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

    fn authorizer(&self) -> Option<&dyn Authorizer> {
        self.shared.authorizer.0.as_deref()
    }

    /// True when the registry has an authorizer (so listings are filtered, sessions bound).
    pub(crate) fn guarded(&self) -> bool {
        self.authorizer().is_some()
    }

    /// Whether this request's principal may pull repository `repo` (always, without an
    /// authorizer).
    pub(crate) async fn may_pull(&self, repo: &str) -> bool {
        match self.authorizer() {
            None => true,
            Some(authorizer) => matches!(
                authorizer.authorize(self.head, Access::pull(repo)).await,
                Decision::Allow(_)
            ),
        }
    }

    /// The principal a new upload session is bound to: the name of an authorized principal;
    /// `None` without an authorizer or for an anonymous one.
    pub(crate) fn session_owner(&self) -> Option<String> {
        self.principal.and_then(Principal::name).map(str::to_owned)
    }

    /// Whether this request may work on a session bound to `owner`: always without an
    /// authorizer, else only the principal that opened it.
    pub(crate) fn owns_session(&self, owner: Option<&str>) -> bool {
        !self.guarded() || self.principal.and_then(Principal::name) == owner
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

/// The `endpoint` label and span field of a request.
fn endpoint_kind(endpoint: &Result<Endpoint<'_>, PathError>) -> &'static str {
    match endpoint {
        Ok(Endpoint::Base) => "base",
        Ok(Endpoint::Catalog) => "catalog",
        Ok(Endpoint::Tags { .. }) => "tags",
        Ok(Endpoint::Manifest { .. }) => "manifest",
        Ok(Endpoint::Blob { .. }) => "blob",
        Ok(Endpoint::UploadStart { .. }) => "upload_start",
        Ok(Endpoint::Upload { .. }) => "upload",
        Ok(Endpoint::Referrers { .. }) => "referrers",
        Err(_) => "invalid",
    }
}

/// Answers one registry request inside its `oci_request` span, and counts it.
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
    let started = telemetry::Timer::start();
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    // The path and query are read from a clone (a reference count), so the head stays free to
    // take the principal into its extensions.
    let uri = parts.uri.clone();
    let endpoint = Endpoint::parse(uri.path());
    let kind = endpoint_kind(&endpoint);
    let span = tracing::info_span!(
        "oci_request",
        method = %method,
        endpoint = kind,
        repository = tracing::field::Empty,
        reference = tracing::field::Empty,
        principal = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    if !span.is_disabled() {
        if let Ok(endpoint) = &endpoint {
            if let Some(name) = endpoint.name() {
                span.record("repository", name);
            }
            match endpoint {
                Endpoint::Manifest { reference, .. } => {
                    span.record("reference", reference.as_str());
                }
                Endpoint::Blob { digest, .. } | Endpoint::Referrers { digest, .. } => {
                    span.record("reference", digest.as_str());
                }
                _ => {}
            }
        }
    }
    let response = answer(shared, config, guard, parts, body, &uri, endpoint)
        .instrument(span.clone())
        .await;
    span.record("status", response.status().as_u16());
    if let Some(principal) = response
        .extensions()
        .get::<Principal>()
        .and_then(Principal::name)
    {
        span.record("principal", principal);
    }
    telemetry::request(&method, kind, response.status(), started);
    response
}

async fn answer<B>(
    shared: Arc<Shared>,
    config: Config,
    guard: Arc<BrowserGuard>,
    mut parts: http::request::Parts,
    body: B,
    uri: &http::Uri,
    endpoint: Result<Endpoint<'_>, PathError>,
) -> Response<RegistryBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let body = request_body::IdleTimeout::new(body, config.body_idle_timeout);
    let path = uri.path();
    shared
        .uploads
        .start_sweeper(&shared.storage, config.upload_timeout);
    shared.start_gc(config);
    let query = Query::new(uri.query());
    let mut principal = None;
    let result = match (guard::check(&guard, &parts), endpoint) {
        (Err(refused), _) => Err(refused),
        (Ok(()), Ok(endpoint)) => match authorize(&shared, &parts, endpoint, query).await {
            Ok(allowed) => {
                if let Some(p) = &allowed {
                    parts.extensions.insert(p.clone());
                }
                principal = allowed;
                let ctx = Ctx {
                    shared: &shared,
                    config,
                    method: &parts.method,
                    headers: &parts.headers,
                    query,
                    head: &parts,
                    principal: principal.as_ref(),
                };
                dispatch(ctx, body, endpoint).await
            }
            Err(e) => Err(e),
        },
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
        DOCKER_DISTRIBUTION_API_VERSION,
        HeaderValue::from_static("registry/2.0"),
    );
    // Nothing under /v2/ is a page: a browser must never sniff a blob into HTML or script.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(principal) = principal {
        response.extensions_mut().insert(principal);
    }
    response
}

/// Asks the authorizer (if any) about what the request needs, before any body byte is read.
/// `Ok(None)` without an authorizer, and for a method the endpoint does not take (dispatch
/// answers 405).
async fn authorize(
    shared: &Shared,
    head: &http::request::Parts,
    endpoint: Endpoint<'_>,
    query: Query<'_>,
) -> Result<Option<Principal>, RegistryError> {
    let Some(authorizer) = shared.authorizer.0.as_deref() else {
        return Ok(None);
    };
    let method = &head.method;
    let from = match endpoint {
        Endpoint::UploadStart { .. } if method == Method::POST && query.get("mount").is_some() => {
            match query.get("from").map(decode_param).transpose()? {
                Some(from) if !is_valid_name(&from) => {
                    return Err(RegistryError::new(
                        ErrorCode::NameInvalid,
                        "invalid `from` repository name",
                    ))
                }
                from => from,
            }
        }
        _ => None,
    };
    let Some(access) = required_access(method, endpoint, from.as_deref()) else {
        return Ok(None);
    };
    match authorizer.authorize(head, access).await {
        Decision::Allow(principal) => Ok(Some(principal)),
        Decision::Challenge(challenge) => {
            let value = challenge.www_authenticate();
            telemetry::auth_failure(challenge_reason(head, value));
            Err(RegistryError::from_code(ErrorCode::Unauthorized)
                .with_detail(access.detail())
                .with_header(header::WWW_AUTHENTICATE, value.clone()))
        }
        Decision::Deny => {
            telemetry::auth_failure("denied");
            Err(RegistryError::from_code(ErrorCode::Denied).with_detail(access.detail()))
        }
    }
}

/// Why a challenge was answered, for the `reason` label: the Bearer error it names, else
/// whether the request carried credentials.
fn challenge_reason(head: &http::request::Parts, challenge: &HeaderValue) -> &'static str {
    let challenge = challenge.as_bytes();
    let names = |error: &[u8]| challenge.windows(error.len()).any(|w| w == error);
    if names(b"error=\"insufficient_scope\"") {
        "insufficient_scope"
    } else if names(b"error=\"invalid_token\"") {
        "invalid_token"
    } else if head.headers.contains_key(header::AUTHORIZATION) {
        "invalid_credentials"
    } else {
        "missing_credentials"
    }
}

/// What `method` on `endpoint` needs (as distribution asks: writes need `pull,push`); `None`
/// for a method the endpoint does not take.
fn required_access<'a>(
    method: &Method,
    endpoint: Endpoint<'a>,
    mount_from: Option<&'a str>,
) -> Option<Access<'a>> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    let write = Actions::PULL | Actions::PUSH;
    let on = |name, actions| Some(Access::Repository { name, actions });
    match endpoint {
        Endpoint::Base => read.then_some(Access::Base),
        Endpoint::Catalog => (method == Method::GET).then_some(Access::Catalog),
        Endpoint::Tags { name } | Endpoint::Referrers { name, .. } => {
            (method == Method::GET).then_some(Access::pull(name))
        }
        Endpoint::Manifest { name, .. } => match *method {
            _ if read => on(name, Actions::PULL),
            Method::PUT => on(name, write),
            Method::DELETE => on(name, Actions::DELETE),
            _ => None,
        },
        Endpoint::Blob { name, .. } => match *method {
            _ if read => on(name, Actions::PULL),
            Method::DELETE => on(name, Actions::DELETE),
            _ => None,
        },
        Endpoint::UploadStart { name } => match (method == Method::POST, mount_from) {
            (true, Some(from)) => Some(Access::Mount { name, from }),
            (true, None) => on(name, write),
            (false, _) => None,
        },
        Endpoint::Upload { name, .. } => match *method {
            Method::GET | Method::PATCH | Method::PUT | Method::DELETE => on(name, write),
            _ => None,
        },
    }
}

fn declares_body(headers: &http::HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Routes by endpoint and method. The reads that are most of a registry's traffic (manifest,
/// blob and tag-list GETs) run in this future; every other handler is boxed, so this future,
/// which every request's future holds and moves a few times, stays the size of the small ones
/// (it was 5 KB, sized by the upload handlers).
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
            Method::GET => Box::pin(tags::catalog(&ctx)).await,
            _ => not_allowed("GET"),
        },
        Endpoint::Tags { name } => match *ctx.method {
            Method::GET => tags::list(&ctx, name).await,
            _ => not_allowed("GET"),
        },
        Endpoint::Manifest { name, reference } => match *ctx.method {
            Method::GET | Method::HEAD => manifests::get(&ctx, name, reference).await,
            Method::PUT => Box::pin(manifests::put(&ctx, body, name, reference)).await,
            Method::DELETE => Box::pin(manifests::delete(&ctx, name, reference)).await,
            _ => not_allowed("GET, HEAD, PUT, DELETE"),
        },
        Endpoint::Blob { name, digest } => match *ctx.method {
            Method::GET | Method::HEAD => blobs::get(&ctx, name, digest).await,
            Method::DELETE => Box::pin(blobs::delete(&ctx, name, digest)).await,
            _ => not_allowed("GET, HEAD, DELETE"),
        },
        Endpoint::UploadStart { name } => match *ctx.method {
            Method::POST => Box::pin(uploads::start(&ctx, body, name)).await,
            _ => not_allowed("POST"),
        },
        Endpoint::Upload { name, id } => match *ctx.method {
            Method::GET => Box::pin(uploads::status(&ctx, name, id)).await,
            Method::PATCH => Box::pin(uploads::patch(&ctx, body, name, id)).await,
            Method::PUT => Box::pin(uploads::finish_upload(&ctx, body, name, id)).await,
            Method::DELETE => Box::pin(uploads::cancel(&ctx, name, id)).await,
            _ => not_allowed("GET, PATCH, PUT, DELETE"),
        },
        Endpoint::Referrers { name, digest } => match *ctx.method {
            Method::GET => Box::pin(referrers::list(&ctx, name, digest)).await,
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

/// A response head with `status` and `Content-Length: 0`, for responses without a body.
pub(crate) fn bodiless_head(status: StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, HeaderValue::from_static("0"))
}

/// The response of `builder` (whose headers all came from validated values) with `body`.
pub(crate) fn build_response(
    builder: http::response::Builder,
    body: RegistryBody,
) -> HandlerResult {
    builder.body(body).map_err(|e| RegistryError::internal(&e))
}

/// A header value from text that may not be a valid header (never panics).
pub(crate) fn header_value(text: &str) -> Result<HeaderValue, RegistryError> {
    HeaderValue::from_str(text).map_err(|e| RegistryError::internal(&e))
}
