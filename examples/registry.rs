//! A standalone OCI registry: `OciLayer` around a service that answers 404.
//!
//! ```text
//! cargo run --release --example registry -- --listen 127.0.0.1:5000 --root ./registry-data
//! docker push 127.0.0.1:5000/hello:latest   # Docker treats 127.0.0.0/8 as an insecure registry
//! ```
//!
//! With `--features object-store`, `--storage s3://bucket/prefix` (or `gs://…`, `az://…`) keeps
//! everything in object storage instead, so any number of replicas can serve one bucket; the
//! endpoint and credentials come from the environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint). The
//! registry lists the bucket once at start, so a bad URL, a missing bucket or wrong credentials
//! stop it there with a message instead of failing the first push.
//!
//! Plain HTTP/1.1 (and HTTP/2 with prior knowledge); put a TLS terminator in front to serve
//! other hosts. One log line per request; `RUST_LOG=debug` shows more. Ctrl-C or SIGTERM stops
//! accepting and lets open connections finish (see `support::serve`).

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower::{service_fn, Layer, ServiceExt};
use tower_oci::OciLayer;
use tracing_subscriber::EnvFilter;

/// The inner service: everything outside `/v2/` is not found.
async fn not_found(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::from("not found\n"));
    *res.status_mut() = StatusCode::NOT_FOUND;
    Ok(res)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = support::Args::parse("registry", "A standalone OCI Distribution registry.");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let fd_limit = support::raise_fd_limit();
    tracing::debug!(?fd_limit, "open-file limit");

    let layer = match &args.object_storage {
        None => OciLayer::new(&args.root).durable(args.durable),
        Some(url) => match object_storage(url, &args).await {
            Ok(storage) => OciLayer::with_storage(storage),
            Err(message) => {
                eprintln!("error: --storage {url}: {message}");
                std::process::exit(1)
            }
        },
    };
    let registry = layer.layer(service_fn(not_found));

    // Log method, path, status, time to the response head, and the body size when known.
    let app = service_fn(move |req: Request<Incoming>| {
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let started = Instant::now();
        // `oneshot` polls the clone ready before calling it (never call an unpolled clone).
        let registry = registry.clone();
        async move {
            let res = registry.oneshot(req).await?;
            tracing::info!(
                %method,
                path,
                status = res.status().as_u16(),
                latency = ?started.elapsed(),
                bytes = res.body().size_hint().exact(),
            );
            Ok::<_, Infallible>(res)
        }
    });

    let listener = TcpListener::bind(args.listen).await?;
    println!(
        "registry listening on http://{} (storage: {})",
        listener.local_addr()?,
        args.storage_display()
    );
    support::serve(listener, app, support::shutdown_signal()).await;
    Ok(())
}

/// Object storage at `url`, checked with one listing so that a bad bucket or credentials fail
/// here rather than at the first push.
#[cfg(feature = "object-store")]
async fn object_storage(
    url: &str,
    args: &support::Args,
) -> Result<Arc<dyn tower_oci::storage::Storage>, String> {
    use tower_oci::storage::{ListOptions, ObjectStorage, ObjectStorageOptions, Storage};
    let mut storage = ObjectStorage::from_url(url).map_err(|err| err.to_string())?;
    if let Some(lease) = args.upload_lease {
        let mut options = ObjectStorageOptions::default();
        options.upload_lease = lease;
        storage = storage.options(options);
    }
    let mut probe = ListOptions::default();
    probe.limit = 1;
    storage
        .list_repositories(probe)
        .await
        .map_err(|err| format!("cannot list the bucket: {err}"))?;
    Ok(Arc::new(storage))
}

#[cfg(not(feature = "object-store"))]
async fn object_storage(
    _url: &str,
    _args: &support::Args,
) -> Result<Arc<dyn tower_oci::storage::Storage>, String> {
    Err("built without the object-store feature: \
         cargo run --features object-store --example registry -- --storage URL"
        .to_owned())
}
