//! The registry in front of a plain hyper 1.x service (a `service_fn`), served with hyper-util.
//!
//! ```text
//! cargo run --example hyper -- --listen 127.0.0.1:5000 --root ./registry-data
//! curl http://127.0.0.1:5000/            # the service_fn
//! curl -i http://127.0.0.1:5000/v2/      # the registry
//! ```
//!
//! This keeps to the bare minimum; `registry.rs` adds HTTP/2, per-request log lines and graceful
//! shutdown.

mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{service_fn, Layer};
use tower_oci::OciLayer;

/// The host application: everything outside `/v2/` lands here.
async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = format!("Hello from hyper, you asked for {}\n", req.uri().path());
    Ok(Response::new(Full::from(text)))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = support::Args::parse("hyper", "A hyper service with an OCI registry at /v2/.");
    // The registry's own warnings and errors (a failed write, a storage outage) go to stderr.
    let _log_guard = support::install_log_subscriber("info,tower_oci=warn");
    let svc = OciLayer::new(&args.root)
        .durable(args.durable)
        .layer(service_fn(hello));

    let listener = TcpListener::bind(args.listen).await?;
    println!("hyper app listening on http://{}", listener.local_addr()?);
    let mut shutdown = std::pin::pin!(support::shutdown_signal());
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => tcp,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        // A tower service becomes a hyper one; it is cloned per request and polled ready.
        let svc = TowerToHyperService::new(svc.clone());
        tokio::spawn(async move {
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await
            {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
}
