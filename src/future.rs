//! The response future of [`Oci`](crate::Oci).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::response_body::{RegistryBody, ResponseBody};

pub(crate) type RegistryFuture = Pin<Box<dyn Future<Output = Response<RegistryBody>> + Send>>;

pin_project! {
    /// Response future of [`Oci`](crate::Oci): the registry's handler, or the inner service's future.
    ///
    /// See the [crate docs](crate) for an example.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Registry { future: RegistryFuture },
        Inner { #[pin] future: F },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn registry(future: RegistryFuture) -> Self {
        ResponseFuture {
            kind: Kind::Registry { future },
        }
    }

    pub(crate) fn inner(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Inner { future },
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Registry { .. } => f.write_str("ResponseFuture::Registry"),
            Kind::Inner { .. } => f.write_str("ResponseFuture::Inner"),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Registry { future } => future
                .as_mut()
                .poll(cx)
                .map(|res| Ok(res.map(ResponseBody::registry))),
            KindProj::Inner { future } => future
                .poll(cx)
                .map(|res| res.map(|r| r.map(ResponseBody::inner))),
        }
    }
}
