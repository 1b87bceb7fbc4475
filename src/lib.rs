//! A complete OCI Distribution registry as a [tower] layer.
//!
//! [`OciLayer`] wraps any service: requests whose path is `/v2` or lies under `/v2/` are
//! answered by the registry ([`Oci`] is the wrapped service); every other request goes to the
//! inner service untouched (same request, same body, same response). Blobs stream through a
//! hash into content-addressed storage (local disk by default, or any [`storage::Storage`]
//! backend): memory does not grow with blob size, and a blob is never visible under a digest
//! it does not have. Every endpoint of the distribution spec is served, with every failure an
//! OCI error body ([`error`]).
//!
//! # In a few lines
//!
//! The layer in front of a tower service, driven in-process with [`tower::ServiceExt::oneshot`]
//! (no socket), over in-memory storage:
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_oci::{storage::MemoryStorage, OciLayer};
//!
//! # #[tokio::main]
//! # async fn main() {
//! let host_app = service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello from the host app"))))
//! });
//! let svc = OciLayer::with_storage(Arc::new(MemoryStorage::new())).layer(host_app);
//!
//! // `/v2/` is the registry's: the version check every client starts with.
//! let res = svc.clone().oneshot(Request::get("/v2/").body(Full::default()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.headers()["docker-distribution-api-version"], "registry/2.0");
//!
//! // Anything else reaches the host application.
//! let res = svc.oneshot(Request::get("/hello").body(Full::default()).unwrap()).await.unwrap();
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, "hello from the host app");
//! # }
//! ```
//!
//! # Mounting in axum
//!
//! Wrap the whole router, so the registry sees `/v2/` before axum routes anything. `axum::serve`
//! wants `Response<axum::body::Body>`, so map the response with
//! [`IntoResponse::into_response`](https://docs.rs/axum/latest/axum/response/trait.IntoResponse.html);
//! the turbofish picks the request type, since [`Oci`] is a service for every body type:
//!
//! ```no_run
//! use axum::{extract::Request, response::IntoResponse, routing::get, Router};
//! use tower::{Layer, ServiceExt};
//! use tower_oci::OciLayer;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let router = Router::new().route("/health", get(|| async { "ok" }));
//!     let app = OciLayer::new("./registry-data").layer(router);
//!     let app = ServiceExt::<Request>::map_response(app, IntoResponse::into_response);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//!     axum::serve(listener, axum::ServiceExt::<Request>::into_make_service(app)).await
//! }
//! ```
//!
//! `Router::new().route(..).layer(OciLayer::new(dir))` also works: it wraps each route added
//! before `.layer` and the fallback, which is where `/v2/` lands. Do not use
//! `nest_service("/v2", ..)`: it strips the prefix the registry routes on.
//!
//! # Mounting in hyper
//!
//! With hyper 1.x and hyper-util, one [`TowerToHyperService`] per connection (it clones the
//! service per request and polls it ready before calling it):
//!
//! [`TowerToHyperService`]: https://docs.rs/hyper-util/latest/hyper_util/service/struct.TowerToHyperService.html
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use http_body_util::Full;
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{server::conn::http1, Request, Response};
//! use hyper_util::{rt::TokioIo, service::TowerToHyperService};
//! use tower::{service_fn, Layer};
//! use tower_oci::OciLayer;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = service_fn(|_req: Request<Incoming>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello from the app"))))
//!     });
//!     let svc = OciLayer::new("./registry-data").layer(app);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//!     loop {
//!         let (tcp, _) = listener.accept().await?;
//!         tcp.set_nodelay(true)?;
//!         let svc = TowerToHyperService::new(svc.clone());
//!         tokio::spawn(async move {
//!             let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
//!         });
//!     }
//! }
//! ```
//!
//! The repository's examples (`registry`, `axum`, `hyper`, in its examples package at
//! <https://github.com/tower-oci/tower-oci/tree/main/examples>, not in the published crate) are
//! whole servers: HTTP/2, TLS, timeouts, graceful shutdown, a log line per request.
//!
//! Notes for hosts:
//! - [`Oci`] delegates `poll_ready` to the inner service, so registry requests wait on its
//!   backpressure (an axum `Router` is always ready).
//! - Put body-size limits inside your own routes, not around the layer: a global
//!   `RequestBodyLimitLayer` outside [`OciLayer`] would cut off blob uploads. The registry
//!   enforces its own limits ([`OciLayer::max_manifest_size`], [`OciLayer::body_idle_timeout`]).
//! - Set `TCP_NODELAY` on accepted sockets, or a body written after its head waits for the
//!   client's delayed ACK (about 40 ms) on a kept-alive connection.
//!
//! # Configuring
//!
//! Settings are builder methods on [`OciLayer`], each documented with its default:
//!
//! ```
//! use std::time::Duration;
//! use tower_oci::{gc::GcOptions, OciLayer};
//!
//! let layer = OciLayer::new("./registry-data")
//!     .max_manifest_size(4 * 1024 * 1024)
//!     .deletes_enabled(false)
//!     .min_chunk_length(Some(5 * 1024 * 1024))
//!     .page_cap(100)
//!     .upload_timeout(Duration::from_secs(15 * 60))
//!     .max_uploads(4096)
//!     .max_uploads_per_repository(256)
//!     .max_uploads_per_principal(64)
//!     .body_idle_timeout(Duration::from_secs(30))
//!     .allowed_origins(["https://registry-ui.example.com"])
//!     .allowed_hosts(["registry.example.com"])
//!     .gc(GcOptions::default().interval(Some(Duration::from_secs(600))));
//! # let _ = layer;
//! ```
//!
//! Call [`OciLayer::check_storage`] before serving, so a root that cannot be created or written
//! stops the host at start rather than failing the first push.
//!
//! # Writing an authorizer
//!
//! [`OciLayer::authorizer`] takes an [`auth::Authorizer`]: asked about every registry request
//! before its body is read, with what the request needs ([`auth::Access`]: pull, push or delete
//! on a repository, the catalog, or only "who is asking" for `/v2/`). A closure is one. This
//! one lets anybody pull and only a caller with a key push:
//!
//! ```
//! use std::sync::Arc;
//!
//! use http::{Request, StatusCode};
//! use http_body_util::Full;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_oci::auth::{Access, Actions, Challenge, Decision, Principal};
//! use tower_oci::{storage::MemoryStorage, OciLayer};
//!
//! # #[tokio::main]
//! # async fn main() {
//! let layer = OciLayer::with_storage(Arc::new(MemoryStorage::new())).authorizer(Arc::new(
//!     |head: &http::request::Parts, access: Access<'_>| {
//!         let has_key = head.headers.get("x-api-key").is_some_and(|key| key == "let-me-in");
//!         let decision = match access {
//!             _ if has_key => Decision::Allow(Principal::named("ci")),
//!             Access::Base => Decision::Allow(Principal::anonymous()),
//!             Access::Repository { actions, .. } if actions == Actions::PULL => {
//!                 Decision::Allow(Principal::anonymous())
//!             }
//!             _ => Decision::Challenge(Challenge::basic("registry")),
//!         };
//!         async move { decision }
//!     },
//! ));
//! let svc = layer.layer(service_fn(|_req: Request<Full<bytes::Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<bytes::Bytes>::default()))
//! }));
//!
//! let push = || Request::post("/v2/team/app/blobs/uploads/");
//! let res = svc.clone().oneshot(push().body(Full::default()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()["www-authenticate"], "Basic realm=\"registry\"");
//!
//! let with_key = push().header("x-api-key", "let-me-in").body(Full::default()).unwrap();
//! let res = svc.oneshot(with_key).await.unwrap();
//! assert_eq!(res.status(), StatusCode::ACCEPTED); // an upload session was opened
//! # }
//! ```
//!
//! With feature `auth`, [`auth`] also has Basic (htpasswd) and Bearer (Docker token JWT)
//! authenticators, a token issuer and a per-repository policy.
//!
//! # Writing a storage backend
//!
//! The registry keeps its state behind [`storage::Storage`], an object-safe async trait shaped
//! like `object_store`'s: option structs with `Default`, one spelling of absence
//! ([`storage::Error::NotFound`]), sorted listings with an offset, and a writer object for
//! uploads. The registry's rules (digest checks, what a manifest references, sessions' caps and
//! expiry) live above it; a backend owns the atomicity and crash safety of each operation, as
//! the method docs state. The crate ships [`storage::FsStorage`] (what [`OciLayer::new`] uses),
//! [`storage::MemoryStorage`] and, with feature `object-store`, `storage::ObjectStorage` (S3,
//! GCS, Azure; several registry processes can serve one bucket). Any `Arc<dyn Storage>` plugs
//! in:
//!
//! ```
//! use std::sync::Arc;
//! use tower_oci::storage::{MemoryStorage, Storage};
//! use tower_oci::OciLayer;
//!
//! let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new()); // or your backend
//! let layer = OciLayer::with_storage(storage);
//! # let _ = layer;
//! ```
//!
//! A new backend proves it keeps the contract with the test kit (feature `testkit`):
//! `storage::testkit::run_all` runs every check against fresh stores a `Harness` of yours
//! opens, and reopens them as a restart would. See [`storage`], "Writing a backend".
//!
//! # Modules
//!
//! - [`protocol`]: the allocation-free parsers of paths, query strings, digests, names and
//!   ranges ([`protocol::Endpoint::parse`] is the registry's only router; call it to authorize
//!   or meter registry requests in your own layers).
//! - [`storage`]: the backend API, the backends, and (feature `testkit`) the test kit.
//! - [`manifest`]: which manifests are accepted and what they reference.
//! - [`gc`]: online garbage collection and retention ([`OciLayer::gc`] runs it in the
//!   background, [`OciLayer::collector`] hands the host a handle), and why a push racing a
//!   collection is never lost.
//! - [`error`]: the spec's error codes and the JSON error bodies.
//! - [`auth`]: the authorization hook and, with feature `auth`, the built-in authenticators.
//!
//! # Metrics and tracing
//!
//! Every registry request runs in an `oci_request` tracing span (level info) with `method`,
//! `endpoint`, `repository`, `reference`, `principal` and `status`, and each storage operation
//! in a `storage` span (level debug, with `operation`) inside it. Failures of the registry's
//! own are logged (`error`/`warn`) with their cause; clients get a generic message.
//!
//! With feature `metrics`, the registry records Prometheus-style metrics through the
//! [`metrics`](https://docs.rs/metrics) facade; a host installs whatever recorder it uses
//! (without one, each call is an atomic load):
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `oci_http_requests_total` | counter | `method`, `endpoint`, `status` |
//! | `oci_http_request_duration_seconds` | histogram (to the response head) | `method`, `endpoint` |
//! | `oci_blob_bytes_received_total` | counter (upload bodies stored) | |
//! | `oci_blob_bytes_sent_total` | counter (blob response bodies) | |
//! | `oci_upload_sessions_open` | gauge (sessions holding bytes, as this process counts them) | |
//! | `oci_upload_sessions_expired_total` | counter | |
//! | `oci_storage_operation_duration_seconds` | histogram | `operation` |
//! | `oci_storage_errors_total` | counter | `operation`, `kind` (`not_found`, `busy`, `full`, …) |
//! | `oci_auth_failures_total` | counter | `reason` (`missing_credentials`, `invalid_credentials`, `invalid_token`, `insufficient_scope`, `denied`) |
//! | `oci_gc_runs_total` | counter | `outcome` (`ok`, `failed`), `dry_run` |
//! | `oci_gc_duration_seconds` | histogram | |
//! | `oci_gc_freed_items_total` | counter (not in dry runs) | `kind` (`blobs`, `links`, `manifests`, `tags`, `uploads`, `leftovers`) |
//! | `oci_gc_freed_bytes_total` | counter (not in dry runs) | |
//!
//! # Cargo features
//!
//! - `object-store`: `storage::ObjectStorage`, the registry in S3, GCS or Azure Blob Storage
//!   through `object_store` (TLS through rustls on ring).
//! - `auth`: the built-in authenticators, token issuer and policy in [`auth`].
//! - `metrics`: the metrics above.
//! - `testkit`: `storage::testkit`, the contract every storage backend keeps.
//!
//! More (operating the example server on a network, the storage layout, replicas on object
//! storage, measurements) is in the README, shipped with the crate and on the
//! [repository](https://github.com/tower-oci/tower-oci).
#![deny(unsafe_code, unreachable_pub)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    clippy::all,
    clippy::return_self_not_must_use
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod error;
mod future;
pub mod gc;
mod handlers;
mod layer;
pub mod manifest;
pub mod protocol;
mod response_body;
mod service;
mod settings;
pub mod storage;
mod telemetry;
mod uploads;
mod worker;

pub use error::{ErrorCode, RegistryError};
pub use future::ResponseFuture;
pub use layer::OciLayer;
pub use response_body::{RegistryBody, ResponseBody};
pub use service::Oci;

/// The error type of response bodies: anything boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
