//! A complete OCI Distribution registry as a [tower] layer.
//!
//! [`OciLayer`] wraps any service: requests whose path is `/v2/` or lies under it are answered
//! by the registry, every other request goes to the inner service untouched. Blobs stream
//! through a hash into content-addressed storage (local disk by default, or any
//! [`storage::Storage`] backend).
//!
//! ```no_run
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use bytes::Bytes;
//! use tower::{service_fn, ServiceBuilder};
//! use tower_oci::OciLayer;
//!
//! # #[tokio::main]
//! # async fn main() {
//! let app = ServiceBuilder::new()
//!     .layer(OciLayer::new("./registry-data"))
//!     .service(service_fn(|_req: Request<hyper::body::Incoming>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello from the host app"))))
//!     }));
//! // Serve `app` with hyper-util or axum; see examples/.
//! # let _ = app;
//! # }
//! ```
//!
//! Settings are builder methods on [`OciLayer`], each documented with its default:
//!
//! ```
//! use tower_oci::OciLayer;
//!
//! let layer = OciLayer::new("./registry-data")
//!     .max_manifest_size(4 * 1024 * 1024)
//!     .deletes_enabled(false)
//!     .min_chunk_length(Some(5 * 1024 * 1024))
//!     .page_cap(100)
//!     .upload_timeout(std::time::Duration::from_secs(15 * 60))
//!     .max_uploads(4096)
//!     .max_uploads_per_repository(256)
//!     .max_uploads_per_principal(64)
//!     .body_idle_timeout(std::time::Duration::from_secs(30))
//!     .allowed_origins(["https://registry-ui.example.com"])
//!     .allowed_hosts(["registry.example.com"])
//!     .gc(tower_oci::gc::GcOptions::default().interval(Some(std::time::Duration::from_secs(600))));
//! # let _ = layer;
//! ```
//!
//! The modules a host may use directly:
//! - [`protocol`]: the allocation-free parsers of paths, query strings, digests, names and
//!   ranges ([`protocol::Endpoint::parse`] is the registry's only router; call it to authorize
//!   or meter registry requests in your own layers).
//! - [`storage`]: the [`storage::Storage`] trait, its filesystem and in-memory backends (for
//!   [`OciLayer::with_storage`]), and with feature `testkit` the test kit a backend runs to
//!   prove it keeps the contract. Upload sessions live in storage, so any process sharing it
//!   can continue them.
//! - [`manifest`]: which manifests are accepted and what they reference.
//! - [`gc`]: online garbage collection and retention ([`OciLayer::gc`] runs it in the
//!   background, [`OciLayer::collector`] hands the host a handle), and why a push racing a
//!   collection is never lost.
//! - [`error`]: the spec's error codes and the JSON error bodies.
//! - [`auth`]: the authorization hook ([`OciLayer::authorizer`]) and, with feature `auth`,
//!   Basic (htpasswd) and Bearer (JWT) authenticators, a token issuer and a per-repository
//!   policy.
//!
//! Cargo features: `object-store` (`storage::ObjectStorage`: S3, GCS, Azure through
//! `object_store`), `auth` (the built-in authenticators), `metrics` (Prometheus-style metrics
//! through the `metrics` facade: request counts and latency, blob bytes, upload sessions,
//! storage operations, authentication failures, garbage collection; see the README's "Metrics
//! and tracing"), `testkit` (the storage test kit). Every registry request runs in an
//! `oci_request` tracing span, and each storage operation in a `storage` span inside it.
#![deny(unsafe_code, unreachable_pub)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    clippy::all
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
mod body;
pub mod error;
mod future;
pub mod gc;
mod handlers;
mod layer;
pub mod manifest;
pub mod protocol;
mod service;
mod settings;
pub mod storage;
mod telemetry;
mod uploads;
mod worker;

pub use body::{RegistryBody, ResponseBody};
pub use error::{ErrorCode, RegistryError};
pub use future::ResponseFuture;
pub use layer::OciLayer;
pub use service::Oci;

/// The error type of response bodies: anything boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
