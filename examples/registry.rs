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
//! Plain HTTP/1.1 (and HTTP/2 with prior knowledge), or HTTPS with `--tls-cert PEM --tls-key
//! PEM` (HTTP/2 and HTTP/1.1 by ALPN). The limits that keep a few clients from holding the
//! server (`--header-timeout`, `--body-timeout`, head size, buffered bytes per slow reader)
//! are in `support::builder` and `support::serve_with`. Bound to loopback, only requests
//! naming a loopback host are served (DNS rebinding); `--allow-host NAME` adds names. Requests
//! from web pages (an `Origin` header) are refused unless `--allow-origin` allows them.
//!
//! One log line per request on stderr, written by a background thread (lines are dropped, not
//! waited for, if stderr is not drained), without colours unless stderr is a terminal, and
//! with upload ids replaced by `<upload>` (they are capabilities). `RUST_LOG=debug` shows
//! more. Ctrl-C or SIGTERM stops accepting and lets open connections finish.

mod support;

use std::convert::Infallible;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower::{service_fn, Layer, ServiceExt};
use tower_oci::protocol::path::redact_upload_id;
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
    let (args, serve) = support::Args::parse_registry("A standalone OCI Distribution registry.");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Lossy: a full queue drops lines rather than stalling requests behind a stuck stderr.
    let (log_writer, _log_guard) = tracing_appender::non_blocking(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log_writer)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let fd_limit = support::raise_fd_limit();
    tracing::debug!(?fd_limit, "open-file limit");

    let tls = match (&serve.tls_cert, &serve.tls_key) {
        (Some(cert), Some(key)) => match support::tls_acceptor(cert, key) {
            Ok(acceptor) => Some(acceptor),
            Err(message) => fail(&message),
        },
        _ => None,
    };

    let layer = match &args.object_storage {
        None => {
            let layer = OciLayer::new(&args.root).durable(args.durable);
            if let Err(err) = layer.check_storage().await {
                fail(&format!(
                    "--root {}: cannot create or write the storage root: {err}",
                    args.root.display()
                ));
            }
            layer
        }
        Some(url) => match object_storage(url, &args).await {
            Ok(storage) => OciLayer::with_storage(storage),
            Err(message) => fail(&format!("--storage {url}: {message}")),
        },
    };
    let listener = TcpListener::bind(args.listen).await?;
    let bound = listener.local_addr()?;
    let mut layer = layer
        .gc(serve.gc_options())
        .body_idle_timeout(serve.body_timeout)
        .allowed_origins(serve.allow_origins.clone());
    if let Some(hosts) = served_hosts(bound.ip(), &serve.allow_hosts) {
        layer = layer.allowed_hosts(hosts);
    }
    let registry = layer.layer(service_fn(not_found));

    // Log method, path (without upload ids), status, time to the response head, and the body
    // size when known. No headers: `Authorization` and `Location` stay out.
    let app = service_fn(move |req: Request<Incoming>| {
        let method = req.method().clone();
        let path = redact_upload_id(req.uri().path()).into_owned();
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

    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "registry listening on {scheme}://{bound} (storage: {})",
        args.storage_display()
    );
    let serving = support::Serving {
        tls,
        header_timeout: serve.header_timeout,
    };
    support::serve_with(listener, app, support::shutdown_signal(), serving).await;
    Ok(())
}

/// Prints `message` and exits non-zero (before serving).
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

/// The host names served (`None`: any). Bound to loopback, the loopback names and the bound
/// address plus `extra`, so a web page cannot reach the registry under a name of its own
/// through DNS rebinding; bound elsewhere, any name unless `extra` lists some.
fn served_hosts(bound: IpAddr, extra: &[String]) -> Option<Vec<String>> {
    let mut hosts = extra.to_vec();
    if bound.is_loopback() {
        let address = match bound {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        hosts.push(address);
    }
    (!hosts.is_empty()).then_some(hosts)
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
