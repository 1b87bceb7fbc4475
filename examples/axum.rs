//! An axum app with its own routes, and the registry mounted in front of its router.
//!
//! ```text
//! cargo run --example axum --features axum -- --listen 127.0.0.1:5000 --root ./registry-data
//! curl http://127.0.0.1:5000/health      # axum
//! curl -i http://127.0.0.1:5000/v2/      # the registry
//! ```

mod support;

use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tower::{Layer, ServiceExt};
use tower_oci::OciLayer;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = support::Args::parse("axum", "An axum app with an OCI registry at /v2/.");
    // The registry's own warnings and errors (a failed write, a storage outage) go to stderr.
    let _log_guard = support::install_log_subscriber("info,tower_oci=warn");

    let router = Router::new()
        .route(
            "/",
            get(|| async { "Hello from axum. The registry lives at /v2/.\n" }),
        )
        .route("/health", get(|| async { "ok\n" }));

    // Wrap the whole router, so the registry sees each request before axum routes it.
    let app = OciLayer::new(&args.root)
        .durable(args.durable)
        .layer(router);
    // axum::serve wants `Response<axum::body::Body>`. The turbofish picks the request type,
    // since `Oci` is a service for every request body type.
    let app = ServiceExt::<Request>::map_response(app, IntoResponse::into_response);

    // Also works: `Router::new().route(..).layer(OciLayer::new(&args.root))`. It wraps each
    // route and the fallback, but only the routes added before `.layer`. Avoid
    // `nest_service("/v2", ..)`: it strips the `/v2` prefix the registry needs.

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("axum app listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service(app),
    )
    .with_graceful_shutdown(support::shutdown_signal())
    .await
}
