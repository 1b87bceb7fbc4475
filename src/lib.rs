//! A complete OCI Distribution registry as a [tower] layer.
//!
//! [`OciLayer`] wraps any service: requests whose path is `/v2/` or lies under it are answered
//! by the registry, every other request goes to the inner service untouched. Blobs stream
//! through a hash into content-addressed storage on local disk.
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
#![deny(unsafe_code, unreachable_pub)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    clippy::all
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
pub mod error;
mod future;
mod handlers;
mod layer;
pub mod manifest;
pub mod protocol;
mod service;
pub mod storage;

pub use body::{RegistryBody, ResponseBody};
pub use error::{ErrorCode, RegistryError};
pub use future::ResponseFuture;
pub use layer::OciLayer;
pub use service::Oci;

/// The error type of response bodies: anything boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
