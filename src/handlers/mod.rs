//! Request handlers, one module per endpoint family. [`handle`] dispatches on method and
//! [`Endpoint`](crate::protocol::Endpoint).

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;

use crate::body::RegistryBody;
use crate::layer::Config;
use crate::storage::Storage;
use crate::BoxError;

/// State shared by every clone of the service.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) storage: Arc<dyn Storage>,
}

impl Shared {
    pub(crate) fn new(storage: Arc<dyn Storage>) -> Self {
        Shared { storage }
    }
}

pub(crate) async fn handle<B>(
    shared: Arc<Shared>,
    config: Config,
    req: Request<B>,
) -> Response<RegistryBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let _ = (shared, config, req);
    Response::new(RegistryBody::empty())
}
