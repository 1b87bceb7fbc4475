//! The examples' server (examples/support/mod.rs): in-process with the same builder, it survives
//! a TLS ClientHello on the plain port, speaks HTTP/2 with prior knowledge and shuts down
//! gracefully; and the examples' flags parse. Here rather than in the examples package, whose
//! dev-dependencies every example build would compile, or in the root package, which publishes
//! its tests but not the examples.

// The root package's test helpers: a registry server and a plain HTTP client.
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../examples/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::INNER_REPLY;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::time::timeout;
use tower::{service_fn, Layer};
use tower_oci::OciLayer;

/// The inner service of the examples' server tests: 418 with `x-inner`, like tests/common.
async fn teapot(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = format!("{INNER_REPLY} {}", req.uri());
    let mut res = Response::new(Full::new(Bytes::from(text)));
    *res.status_mut() = StatusCode::IM_A_TEAPOT;
    res.headers_mut()
        .insert("x-inner", http::HeaderValue::from_static("yes"));
    Ok(res)
}

/// Starts `support::serve` (the registry example's loop) on 127.0.0.1:0 until `shutdown` fires.
async fn start_example_server(
    dir: &tempfile::TempDir,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let svc = OciLayer::new(dir.path()).layer(service_fn(teapot));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(support::serve(listener, svc, async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// GET over a fresh HTTP/1.1 connection; returns status and whether the inner service answered.
async fn get_h1(addr: SocketAddr, path: &str) -> (StatusCode, bool) {
    let reply = common::get_fresh(addr, path).await;
    (reply.status, reply.headers.contains_key("x-inner"))
}

/// A TLS 1.3 ClientHello like a browser or `openssl s_client` sends first.
fn client_hello(host: &str) -> Vec<u8> {
    fn u16_be(n: usize) -> [u8; 2] {
        u16::try_from(n).expect("fits u16").to_be_bytes()
    }
    fn extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
        out.extend(kind.to_be_bytes());
        out.extend(u16_be(data.len()));
        out.extend(data);
    }
    let mut extensions = Vec::new();
    let mut sni = Vec::new();
    sni.extend(u16_be(host.len() + 3));
    sni.push(0); // host_name
    sni.extend(u16_be(host.len()));
    sni.extend(host.as_bytes());
    extension(&mut extensions, 0x0000, &sni);
    extension(&mut extensions, 0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]); // groups
    extension(&mut extensions, 0x000d, &[0, 4, 0x04, 0x03, 0x08, 0x04]); // signature algs
    extension(&mut extensions, 0x0010, b"\x00\x0c\x02h2\x08http/1.1"); // ALPN
    extension(&mut extensions, 0x002b, &[4, 0x03, 0x04, 0x03, 0x03]); // TLS 1.3, 1.2
    let mut key_share = vec![0, 36, 0x00, 0x1d, 0, 32];
    key_share.extend([0x42; 32]);
    extension(&mut extensions, 0x0033, &key_share);
    extension(&mut extensions, 0x0015, &[0; 256]); // padding, as OpenSSL and browsers add

    let mut hello = vec![0x03, 0x03]; // legacy_version TLS 1.2
    hello.extend([0x5a; 32]); // random
    hello.push(32);
    hello.extend([0x17; 32]); // session id
    hello.extend([0, 6, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]); // cipher suites
    hello.extend([1, 0]); // null compression
    hello.extend(u16_be(extensions.len()));
    hello.extend(extensions);

    let length = u32::try_from(hello.len()).expect("fits").to_be_bytes();
    let mut handshake = vec![0x01]; // ClientHello
    handshake.extend(&length[1..]);
    handshake.extend(hello);

    let mut record = vec![0x16, 0x03, 0x01]; // handshake record, TLS 1.0 record version
    record.extend(u16_be(handshake.len()));
    record.extend(handshake);
    record
}

/// Sends `probe` without closing our side, then reads until the server closes. Fails if the
/// server neither answers nor closes within 5 s.
async fn assert_answers_or_closes(addr: SocketAddr, probe: &[u8]) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(probe).await.expect("write probe");
    let mut answer = Vec::new();
    match timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await {
        Err(_) => panic!(
            "server neither answered nor closed after {} TLS bytes",
            probe.len()
        ),
        // A reset also ends the connection, which is all we ask.
        Ok(Err(err)) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}"),
        Ok(Ok(_)) => assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 400 "),
            "unexpected answer: {:?}",
            String::from_utf8_lossy(&answer)
        ),
    }
}

async fn assert_survives_tls_probes(addr: SocketAddr) {
    assert_answers_or_closes(addr, &[0x16, 0x03, 0x01, 0x02, 0x00]).await;
    let hello = client_hello("localhost");
    assert!(hello.len() > 400);
    assert_answers_or_closes(addr, &hello).await;
    // And the server still serves, both the registry and the inner service.
    assert_eq!(
        get_h1(addr, "/hello").await,
        (StatusCode::IM_A_TEAPOT, true)
    );
    let (_, inner) = get_h1(addr, "/v2/").await;
    assert!(!inner);
}

#[tokio::test]
async fn example_server_survives_tls_client_hello() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, _stop, _task) = start_example_server(&dir).await;
    assert_survives_tls_probes(addr).await;
}

#[tokio::test]
async fn default_http1_builder_survives_tls_client_hello() {
    // tests/common serves with `http1::Builder::new()` and no timer, as examples/hyper.rs does.
    let server = common::start().await;
    assert_survives_tls_probes(server.addr).await;
}

#[tokio::test]
async fn example_server_speaks_http2_prior_knowledge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, _stop, _task) = start_example_server(&dir).await;
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    for (path, from_inner) in [("/hello?x=1", true), ("/v2/", false), ("/v2x", true)] {
        let req = Request::get(format!("http://{addr}{path}"))
            .body(Empty::<Bytes>::new())
            .expect("request");
        let res = sender.send_request(req).await.expect("h2 response");
        assert_eq!(res.version(), http::Version::HTTP_2);
        assert_eq!(res.headers().contains_key("x-inner"), from_inner, "{path}");
        let body = res.into_body().collect().await.expect("body").to_bytes();
        if from_inner {
            // Over HTTP/2 the inner service sees the absolute URI: scheme, authority, path, query.
            assert_eq!(body, format!("{INNER_REPLY} http://{addr}{path}"));
        }
    }
}

#[tokio::test]
async fn example_server_finishes_in_flight_requests_on_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let arrived = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let inner = {
        let (arrived, release) = (Arc::clone(&arrived), Arc::clone(&release));
        service_fn(move |req: Request<Incoming>| {
            let (arrived, release) = (Arc::clone(&arrived), Arc::clone(&release));
            async move {
                arrived.notify_one();
                release.notified().await;
                teapot(req).await
            }
        })
    };
    let svc = OciLayer::new(dir.path()).layer(inner);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(support::serve(listener, svc, async {
        let _ = stopped.await;
    }));

    let in_flight = tokio::spawn(get_h1(addr, "/slow"));
    timeout(Duration::from_secs(5), arrived.notified())
        .await
        .expect("request reached the inner service");
    stop.send(()).expect("server still running");

    // The server stops accepting, but waits for the in-flight request.
    let refused = async {
        loop {
            if TcpStream::connect(addr).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(Duration::from_secs(5), refused)
        .await
        .expect("listener closed after the shutdown signal");
    assert!(
        !server.is_finished(),
        "server returned with a request in flight"
    );

    release.notify_one();
    let answer = timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("in-flight request finished")
        .expect("client task");
    assert_eq!(answer, (StatusCode::IM_A_TEAPOT, true));
    timeout(Duration::from_secs(5), server)
        .await
        .expect("server returned once the connection closed")
        .expect("server task");
}

#[test]
fn example_flags_parse() {
    let parse = |argv: &[&str]| support::Args::try_parse(argv.iter().map(|s| s.to_string()));
    let defaults = parse(&[]).expect("ok").expect("not help");
    assert_eq!(defaults.listen, SocketAddr::from(([127, 0, 0, 1], 5000)));
    assert_eq!(defaults.root, std::path::Path::new("./registry-data"));
    assert!(defaults.durable);

    let args = parse(&["--listen", "127.0.0.1:0", "--root=/tmp/r", "--no-fsync"])
        .expect("ok")
        .expect("not help");
    assert_eq!(args.listen, SocketAddr::from(([127, 0, 0, 1], 0)));
    assert_eq!(args.root, std::path::Path::new("/tmp/r"));
    assert!(!args.durable);

    assert!(parse(&["--help"]).expect("ok").is_none());
    assert!(parse(&["--listen"]).is_err());
    assert!(parse(&["--listen", "nowhere"]).is_err());
    assert!(parse(&["--no-fsync=yes"]).is_err());
    assert!(parse(&["--verbose"]).is_err());
}

#[test]
fn example_storage_flags_parse() {
    let parse = |argv: &[&str]| support::Args::try_parse(argv.iter().map(|s| s.to_string()));
    let ok = |argv: &[&str]| parse(argv).expect("ok").expect("not help");
    let defaults = ok(&[]);
    assert_eq!(defaults.object_storage, None);
    assert_eq!(defaults.upload_lease, None);

    // file:///DIR is --root DIR.
    let args = ok(&["--storage", "file:///tmp/r"]);
    assert_eq!(args.root, std::path::Path::new("/tmp/r"));
    assert_eq!(args.object_storage, None);
    assert_eq!(args.storage_display(), "/tmp/r");

    let args = ok(&["--storage=s3://bucket/some/prefix", "--upload-lease", "2.5"]);
    assert_eq!(
        args.object_storage.as_deref(),
        Some("s3://bucket/some/prefix")
    );
    assert_eq!(
        args.upload_lease,
        Some(std::time::Duration::from_millis(2500))
    );
    assert_eq!(args.storage_display(), "s3://bucket/some/prefix");
    for url in ["gs://b/p", "az://container", "memory:///"] {
        assert_eq!(ok(&["--storage", url]).object_storage.as_deref(), Some(url));
    }

    for bad in [
        &["--storage"][..],
        &["--storage", "relative/dir"],
        &["--storage", "file://relative"],
        &["--storage", "s3://"],
        &["--storage", "ftp://host/x"],
        &["--root", "/a", "--storage", "s3://b/p"],
        &["--upload-lease", "2"],
        &["--storage", "s3://b/p", "--upload-lease", "0"],
        &["--storage", "s3://b/p", "--upload-lease", "soon"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn registry_flags_parse() {
    let parse = |argv: &[&str]| {
        support::Args::try_parse_registry(argv.iter().map(|s| s.to_string()))
            .map(|parsed| parsed.map(|(_, serve)| serve))
    };
    let ok = |argv: &[&str]| parse(argv).expect("ok").expect("not help");
    // Without the new flags it serves as before: plain HTTP, the default timeouts.
    let defaults = ok(&[]);
    assert_eq!(defaults.tls_cert, None);
    assert_eq!(defaults.header_timeout, Duration::from_secs(30));
    assert_eq!(defaults.body_timeout, Duration::from_secs(60));
    assert!(defaults.allow_hosts.is_empty() && defaults.allow_origins.is_empty());
    // Garbage collection is on: every 10 minutes, an hour's grace, no retention.
    assert_eq!(defaults.gc_interval, Duration::from_secs(600));
    assert_eq!(defaults.gc_grace, Duration::from_secs(3600));
    assert!(!defaults.gc_dry_run);
    assert_eq!(defaults.delete_untagged_after, None);
    let gc = ok(&[
        "--gc-interval",
        "2s",
        "--gc-grace=500ms",
        "--gc-dry-run",
        "--delete-untagged-after",
        "1d",
        "--keep-last-tags",
        "ci/**=5",
    ]);
    assert_eq!(gc.gc_interval, Duration::from_secs(2));
    assert_eq!(gc.gc_grace, Duration::from_millis(500));
    assert!(gc.gc_dry_run);
    assert_eq!(gc.delete_untagged_after, Some(Duration::from_secs(86400)));
    assert_eq!(gc.keep_last_tags, [("ci/**".to_owned(), 5)]);
    let options = gc.gc_options();
    assert_eq!(options.grace, Duration::from_millis(500));
    assert_eq!(options.retention.keep_last_tags.len(), 1);
    assert_eq!(options.interval, Some(Duration::from_secs(2)));
    assert_eq!(ok(&["--gc-interval", "off"]).gc_options().interval, None);
    assert_eq!(ok(&["--gc-interval", "0"]).gc_options().interval, None);
    assert_eq!(
        ok(&["--gc-interval", "10m"]).gc_interval,
        Duration::from_secs(600)
    );
    assert_eq!(
        ok(&["--gc-grace", "1h"]).gc_grace,
        Duration::from_secs(3600)
    );
    let (args, _) = support::Args::try_parse_registry(
        ["--listen", "127.0.0.1:0", "--root", "/tmp/r", "--no-fsync"]
            .iter()
            .map(|s| s.to_string()),
    )
    .expect("ok")
    .expect("not help");
    assert_eq!(args.root, std::path::Path::new("/tmp/r"));
    assert!(!args.durable);

    let serve = ok(&[
        "--tls-cert=c.pem",
        "--tls-key",
        "k.pem",
        "--header-timeout",
        "2.5",
        "--body-timeout",
        "9",
        "--allow-host",
        "a.test",
        "--allow-host",
        "b.test:5000",
        "--allow-origin",
        "https://ui.test",
    ]);
    assert_eq!(
        serve.tls_cert.as_deref(),
        Some(std::path::Path::new("c.pem"))
    );
    assert_eq!(
        serve.tls_key.as_deref(),
        Some(std::path::Path::new("k.pem"))
    );
    assert_eq!(serve.header_timeout, Duration::from_millis(2500));
    assert_eq!(serve.body_timeout, Duration::from_secs(9));
    assert_eq!(serve.allow_hosts, ["a.test", "b.test:5000"]);
    assert_eq!(serve.allow_origins, ["https://ui.test"]);

    for bad in [
        &["--tls-cert", "c.pem"][..],
        &["--tls-key", "k.pem"],
        &["--header-timeout", "0"],
        &["--body-timeout", "never"],
        &["--gc-grace", "soon"],
        &["--gc-interval", "5y"],
        &["--keep-last-tags", "ci"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?} should not parse");
    }
    // The other examples take none of these.
    let other = support::Args::try_parse(["--tls-cert", "c.pem"].iter().map(|s| s.to_string()));
    assert!(other.is_err());
}
