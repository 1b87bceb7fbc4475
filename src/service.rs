//! [`Oci`]: the service that answers `/v2/` and hands everything else to the inner service.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::handlers::{self, Shared};
use crate::layer::OciLayer;
use crate::protocol::path::is_registry_path;
use crate::response_body::ResponseBody;
use crate::settings::{BrowserGuard, Config};
use crate::BoxError;

/// Answers OCI Distribution requests under `/v2/`; passes every other request to `S` untouched.
///
/// `poll_ready` delegates to the inner service, so registry requests also wait on its
/// backpressure (an axum `Router` is always ready).
///
/// See the [crate docs](crate) for an example.
#[derive(Clone, Debug)]
pub struct Oci<S> {
    inner: S,
    shared: Arc<Shared>,
    config: Config,
    guard: Arc<BrowserGuard>,
}

impl<S> Oci<S> {
    pub(crate) fn from_parts(
        inner: S,
        shared: Arc<Shared>,
        config: Config,
        guard: Arc<BrowserGuard>,
    ) -> Self {
        Oci {
            inner,
            shared,
            config,
            guard,
        }
    }

    /// The registry with filesystem storage under `root`, in front of `inner`: the same as
    /// `OciLayer::new(root).layer(inner)`. Use [`OciLayer`] for any other setting.
    ///
    /// ```
    /// use tower::service_fn;
    /// use tower_oci::Oci;
    ///
    /// let inner = service_fn(|_req: http::Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    /// });
    /// let svc = Oci::new(inner, "./registry-data");
    /// # let _ = svc;
    /// ```
    pub fn new(inner: S, root: impl Into<std::path::PathBuf>) -> Self {
        tower::Layer::layer(&OciLayer::new(root), inner)
    }

    /// A layer that wraps services in `Oci`, storing under `root`. Same as [`OciLayer::new`].
    pub fn layer(root: impl Into<std::path::PathBuf>) -> OciLayer {
        OciLayer::new(root)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Oci<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if !is_registry_path(req.uri().path()) {
            return ResponseFuture::inner(self.inner.call(req));
        }
        ResponseFuture::registry(Box::pin(handlers::handle(
            Arc::clone(&self.shared),
            self.config,
            Arc::clone(&self.guard),
            req,
        )))
    }
}
