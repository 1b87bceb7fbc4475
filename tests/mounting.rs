//! The ways users mount the registry (STYLE.md "Mounting"), each served for real on
//! 127.0.0.1:0: axum with the whole router wrapped, axum's `Router::layer`, and plain hyper.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::Request as AxumRequest;
use axum::response::IntoResponse;
use axum::routing::{get, Route};
use axum::Router;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_oci::{Oci, OciLayer, ResponseBody};

mod common;
use common::get_fresh;

/// Marks answers from axum's fallback, so a test can tell "axum said 404" from anything else.
const FALLBACK_HEADER: &str = "x-axum-fallback";

/// The host app's own routes, with a fallback that says it is axum's.
fn axum_routes() -> Router {
    Router::new()
        .route("/", get(|| async { "axum root" }))
        .route("/health", get(|| async { "axum healthy" }))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [(FALLBACK_HEADER, "yes")],
                "axum fallback",
            )
        })
}

async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

/// Asserts that axum's own routes and fallback answer outside `/v2/`, and that `/v2/` paths
/// never reach axum at all.
async fn assert_axum_and_registry(addr: SocketAddr) {
    let root = get_fresh(addr, "/").await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(root.body, "axum root");

    let health = get_fresh(addr, "/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, "axum healthy");

    // The fallback is reachable, so its absence below means the registry answered.
    let other = get_fresh(addr, "/no-such-route").await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(
        other.headers.get(FALLBACK_HEADER).map(|v| v.as_bytes()),
        Some(&b"yes"[..])
    );

    for path in ["/v2/", "/v2", "/v2/library/hello/tags/list"] {
        let reply = get_fresh(addr, path).await;
        assert!(
            reply.headers.get(FALLBACK_HEADER).is_none(),
            "{path} reached axum's fallback"
        );
        assert_ne!(reply.body, "axum fallback", "{path}");
        assert_eq!(
            reply
                .headers
                .get("docker-distribution-api-version")
                .map(|v| v.as_bytes()),
            Some(&b"registry/2.0"[..]),
            "{path}"
        );
    }
    // An unknown repository is the registry's NAME_UNKNOWN, not axum's 404 page.
    let tags = get_fresh(addr, "/v2/library/hello/tags/list").await;
    assert_eq!(tags.status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&tags.body).contains("NAME_UNKNOWN"));
    // The base endpoint is 200 for an open registry (distribution-spec "Determining support").
    assert_eq!(get_fresh(addr, "/v2/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn axum_whole_router_wrap_routes_registry_and_app() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = OciLayer::new(dir.path()).layer(axum_routes());
    let app = ServiceExt::<AxumRequest>::map_response(app, IntoResponse::into_response);
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::ServiceExt::<AxumRequest>::into_make_service(app),
        )
        .await
    });
    assert_axum_and_registry(addr).await;
}

#[tokio::test]
async fn axum_router_layer_routes_registry_and_app() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `.layer` wraps every route added before it, and the fallback: `/v2/` matches no route,
    // so it goes to the wrapped fallback, where the registry takes it.
    let app = axum_routes().layer(OciLayer::new(dir.path()));
    let (listener, addr) = listen().await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    assert_axum_and_registry(addr).await;
}

#[tokio::test]
async fn plain_hyper_routes_registry_and_inner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = OciLayer::new(dir.path()).layer(service_fn(|req: Request<Incoming>| async move {
        let text = format!("inner {}", req.uri().path());
        let res = Response::builder()
            .header("x-inner", "yes")
            .body(Full::new(Bytes::from(text)))
            .expect("response");
        Ok::<_, Infallible>(res)
    }));
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        // Bounded: the test makes exactly four connections.
        for _ in 0..4 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });

    let app = get_fresh(addr, "/hello").await;
    assert_eq!(app.status, StatusCode::OK);
    assert_eq!(app.body, "inner /hello");
    assert_eq!(
        app.headers.get("x-inner").map(|v| v.as_bytes()),
        Some(&b"yes"[..])
    );

    for path in ["/v2/", "/v2", "/v2/library/hello/tags/list"] {
        let reply = get_fresh(addr, path).await;
        assert!(
            reply.headers.get("x-inner").is_none(),
            "{path} reached the inner service"
        );
        assert!(!reply.body.starts_with(b"inner"), "{path}");
    }
}

// Static checks: what axum (BoxCloneSyncService) and hyper (spawned tasks) need of the service.

fn assert_service_shape<S, B>()
where
    S: Service<Request<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
}

// Bodies need Send + 'static, not Sync (axum::body::Body itself is not Sync).
fn assert_body_shape<B: http_body::Body + Send + 'static>() {}

#[test]
fn oci_is_clone_send_sync_and_its_future_is_send() {
    assert_service_shape::<Oci<Router>, axum::body::Body>();
    assert_service_shape::<Oci<Route>, axum::body::Body>();
    assert_service_shape::<Oci<Router>, Incoming>();
    assert_body_shape::<ResponseBody<axum::body::Body>>();
    assert_body_shape::<ResponseBody<Full<Bytes>>>();
    // The layer is cheap to clone and shareable, as axum's `Router::layer` requires.
    fn assert_layer<L: Clone + Send + Sync + 'static>() {}
    assert_layer::<OciLayer>();
}
