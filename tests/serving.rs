//! Serving on a network, over real connections: HTTPS with HTTP/2 and HTTP/1.1 by ALPN (a
//! certificate made here), connections that send nothing and upload bodies that stall (cut at
//! their timeouts while fresh clients are served), oversize request heads, the browser checks
//! (`Origin`, `Host`), `nosniff`, a storage root that cannot be written, and what the log leaves
//! out. Most run the registry example as a process; the layer's own settings run in-process.

#![cfg(unix)]

mod common;
mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use process::{pattern, raise_nofile_limit, read_head, RegistryProcess, Remote, REQUEST_TIMEOUT};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KIB: usize = 1024;

/// One request on a fresh HTTP/1.1 connection with this `Host`; the status.
async fn status_with_host(addr: SocketAddr, host: &str, headers: &[(&str, &str)]) -> StatusCode {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::get("/v2/").header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Empty::<Bytes>::new()).expect("request");
    sender.send_request(req).await.expect("response").status()
}

/// Times `count` blob GETs, each on a fresh connection; panics on a wrong answer.
async fn timed_gets(addr: SocketAddr, path: &str, want: &[u8], count: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let started = Instant::now();
        let r = tokio::time::timeout(REQUEST_TIMEOUT, common::get_fresh(addr, path))
            .await
            .unwrap_or_else(|_| panic!("GET {i}: no answer within {REQUEST_TIMEOUT:?}"));
        times.push(started.elapsed());
        assert_eq!(r.status, StatusCode::OK, "GET {i}");
        assert!(r.body[..] == want[..], "GET {i}: bytes differ");
    }
    times.sort();
    times
}

fn median(sorted: &[Duration]) -> Duration {
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

// ---- TLS ----

/// A CA and a server certificate for `localhost` and `127.0.0.1` signed by it, written as
/// `cert.pem` (chain, leaf first) and `key.pem` (PKCS#8) under `dir`. Returns the CA.
fn make_certificates(dir: &Path) -> (CertificateDer<'static>, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tower-oci test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let leaf_key = KeyPair::generate().expect("server key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&leaf_key, &ca)
        .expect("server certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, format!("{}{}", leaf.pem(), ca.pem())).expect("write cert");
    std::fs::write(&key, leaf_key.serialize_pem()).expect("write key");
    (ca.der().clone(), cert, key)
}

/// A TLS connection to `addr` as `localhost`, trusting only `ca`, offering one ALPN protocol.
async fn tls_connect(
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("trust the test CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn), "ALPN");
    tls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_http2_and_http1_by_alpn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = make_certificates(dir.path());
    let cert_arg = cert.to_str().expect("utf-8 path");
    let key_arg = key.to_str().expect("utf-8 path");
    let reg = RegistryProcess::start_with(
        &dir.path().join("data"),
        &["--no-fsync", "--tls-cert", cert_arg, "--tls-key", key_arg],
    );
    let addr = reg.addr;
    let repo = "tls/blobs";
    let data = Bytes::from(pattern(300 * KIB, 5));
    let digest = common::sha256(&data);

    // HTTP/2: push a blob.
    let tls = tls_connect(addr, &ca, b"h2").await;
    let (mut h2, conn) = hyper::client::conn::http2::handshake::<_, _, Full<Bytes>>(
        TokioExecutor::new(),
        TokioIo::new(tls),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let uri = format!("https://localhost:{}/v2/", addr.port());
    let res = h2
        .send_request(Request::get(uri).body(Full::default()).expect("request"))
        .await
        .expect("h2 GET /v2/");
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(res.status(), StatusCode::OK);
    let uri = format!(
        "https://localhost:{}/v2/{repo}/blobs/uploads/?digest={digest}",
        addr.port()
    );
    let push = Request::post(uri)
        .header("content-type", "application/octet-stream")
        .body(Full::new(data.clone()))
        .expect("request");
    let res = h2.send_request(push).await.expect("h2 POST");
    assert_eq!(res.status(), StatusCode::CREATED, "push over HTTP/2");

    // HTTP/1.1: read it back.
    let tls = tls_connect(addr, &ca, b"http/1.1").await;
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("h1 handshake");
    tokio::spawn(conn);
    let get = Request::get(format!("/v2/{repo}/blobs/{digest}"))
        .header("host", format!("localhost:{}", addr.port()))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let res = h1.send_request(get).await.expect("h1 GET");
    assert_eq!(res.version(), http::Version::HTTP_11);
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    assert!(
        body == data,
        "the blob pushed over HTTP/2 reads back over HTTP/1.1"
    );

    // Plain HTTP on the TLS port gets no registry answer.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let _ = tcp
        .write_all(b"GET /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut tcp)).await;
    assert!(
        !matches!(answer, Ok(Ok((200, _)))),
        "plain HTTP answered on the TLS port"
    );
}

// ---- connections and bodies that stall ----

/// Starts an upload on a raw connection, then sends a PATCH head announcing 1 MiB and 64 KiB
/// of it. Returns the connection (mid-body) and the session's Location.
async fn open_stalled(addr: SocketAddr, repo: &str) -> Result<(TcpStream, String), String> {
    let mut tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let post = format!(
        "POST /v2/{repo}/blobs/uploads/ HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    );
    tcp.write_all(post.as_bytes())
        .await
        .map_err(|e| format!("write POST: {e}"))?;
    let (status, location) = read_head(&mut tcp)
        .await
        .map_err(|e| format!("read POST response: {e}"))?;
    let location = location.filter(|_| status == 202).ok_or("POST not 202")?;
    const DECLARED: usize = 1024 * KIB;
    let patch = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n\
         Content-Range: 0-{}\r\nContent-Length: {DECLARED}\r\n\r\n",
        DECLARED - 1
    );
    tcp.write_all(patch.as_bytes())
        .await
        .map_err(|e| format!("write PATCH head: {e}"))?;
    tcp.write_all(&pattern(64 * KIB, 7))
        .await
        .map_err(|e| format!("write PATCH body: {e}"))?;
    Ok((tcp, location))
}

/// Reads until the peer closes (or resets); `true` if that happens within `limit`.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.is_ok()
}

/// A thousand connections that send nothing and a thousand uploads whose bodies stall: a
/// fresh client is still served at about its usual speed, the silent connections are closed
/// at the header timeout and the stalled bodies cut at the body timeout, each session staying
/// at its last acknowledged byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_stalled_uploads_leave_fresh_clients_served() {
    const WANT: usize = 1000;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
    const BODY_TIMEOUT: Duration = Duration::from_secs(10);
    let limit = raise_nofile_limit();
    // Per attacking connection: a socket here and one in the registry, plus a session file
    // there while a body streams in. Keep 512 spare.
    let count = WANT.min((limit.saturating_sub(512) / 5) as usize);
    if count < WANT {
        println!("RLIMIT_NOFILE is {limit}: {count} of each instead of {WANT}");
    }
    assert!(
        count >= 100,
        "RLIMIT_NOFILE {limit} is too low for this test"
    );

    let root = tempfile::tempdir().expect("tempdir");
    let reg = RegistryProcess::start_with(
        root.path(),
        &[
            "--no-fsync",
            "--header-timeout",
            "3",
            "--body-timeout",
            "10",
        ],
    );
    let addr = reg.addr;
    let repo = "attack/stalled";
    let small = pattern(64 * KIB, 1);
    let small_digest = reg.client().push_blob(repo, &small).await;
    let path = format!("/v2/{repo}/blobs/{small_digest}");
    let before = timed_gets(addr, &path, &small, 20).await;

    // Stalled uploads first (their POST is their first request, in time); then the silent ones.
    let opened = futures_util::stream::iter(0..count)
        .map(|i| async move {
            tokio::time::timeout(REQUEST_TIMEOUT, open_stalled(addr, repo))
                .await
                .unwrap_or_else(|_| panic!("stalled upload {i}: no answer"))
                .unwrap_or_else(|e| panic!("stalled upload {i}: {e}"))
        })
        .buffer_unordered(64);
    let mut stalled: Vec<(TcpStream, String)> = opened.collect().await;
    let stalled_at = Instant::now();
    let connected = futures_util::stream::iter(0..count)
        .map(|i| async move {
            TcpStream::connect(addr)
                .await
                .unwrap_or_else(|e| panic!("silent connection {i}: {e}"))
        })
        .buffer_unordered(64);
    let mut silent: Vec<TcpStream> = connected.collect().await;
    let silent_at = Instant::now();

    let during = timed_gets(addr, &path, &small, 20).await;
    let fresh = Remote::new(addr);
    let data = pattern(200 * KIB, 2);
    let pushed = Instant::now();
    let digest = fresh.push_blob(repo, &data).await;
    let push_time = pushed.elapsed();
    assert_eq!(digest, common::sha256(&data));
    println!(
        "{count} silent connections + {count} stalled uploads: blob GET median {:?} (max {:?}) \
         before, {:?} (max {:?}) during; a 200 KiB push during: {push_time:?}",
        median(&before),
        before.last().copied().unwrap_or_default(),
        median(&during),
        during.last().copied().unwrap_or_default(),
    );
    // Normal speed is a few milliseconds; a registry that queued fresh clients behind the
    // attack would take seconds.
    let slowest = during.last().copied().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(2),
        "a fresh client waited {slowest:?} during the attack"
    );

    // The silent connections are closed at the header timeout.
    let margin = Duration::from_secs(10);
    let closed = futures_util::future::join_all(
        silent
            .iter_mut()
            .map(|tcp| closed_within(tcp, HEADER_TIMEOUT + margin)),
    )
    .await;
    let silent_closed = silent_at.elapsed();
    let open = closed.iter().filter(|c| !**c).count();
    assert_eq!(
        open, 0,
        "silent connections still open after {silent_closed:?}"
    );
    println!("all {count} silent connections closed {silent_closed:?} after the last connected");
    drop(silent);

    // The stalled bodies are cut at the body timeout: 408, then the connection closes.
    let cut = futures_util::future::join_all(stalled.iter_mut().map(|(tcp, _)| async move {
        tokio::time::timeout(BODY_TIMEOUT + margin, read_head(tcp))
            .await
            .map(|head| head.map(|(status, _)| status).unwrap_or(0))
    }))
    .await;
    let stalled_cut = stalled_at.elapsed();
    let not_cut = cut.iter().filter(|c| c.is_err()).count();
    assert_eq!(not_cut, 0, "stalled bodies not cut after {stalled_cut:?}");
    let answered_408 = cut.iter().filter(|c| matches!(c, Ok(408))).count();
    println!(
        "all {count} stalled bodies cut {stalled_cut:?} after the last was opened ({answered_408} \
         answered 408, the rest closed)"
    );
    assert!(answered_408 > 0, "stalled bodies are answered 408");
    // Their sessions stay, at the last acknowledged byte (none here).
    for (_, location) in stalled.iter().take(5) {
        let r = fresh.get(location).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{location}: {:?}", r.body);
        assert_eq!(r.header("range"), Some("0-0"));
    }
}

/// A body that stops sending is cut after the layer's idle timeout with 408; the upload goes
/// on from its last acknowledged byte.
#[tokio::test]
async fn a_stalled_body_is_cut_and_the_upload_resumes_at_its_last_acknowledged_byte() {
    let srv = common::start_with(|layer| layer.body_idle_timeout(Duration::from_secs(1))).await;
    let repo = "stall/resume";
    let data = pattern(300 * KIB, 3);
    let (first, rest) = data.split_at(100 * KIB);
    let location = srv.start_upload(repo, "").await;
    let len = first.len().to_string();
    let r = srv
        .send(
            "PATCH",
            &location,
            &[
                ("content-range", &format!("0-{}", first.len() - 1)),
                ("content-length", &len),
            ],
            Bytes::copy_from_slice(first),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let location = r.header("location").expect("location").to_owned();

    // The next chunk stops half way.
    let mut tcp = TcpStream::connect(srv.addr).await.expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nContent-Range: {}-{}\r\nContent-Length: {}\r\n\r\n",
        srv.addr,
        first.len(),
        data.len() - 1,
        rest.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("write head");
    tcp.write_all(&rest[..rest.len() / 2])
        .await
        .expect("write half");
    let stalled = Instant::now();
    let (status, _) = tokio::time::timeout(Duration::from_secs(10), read_head(&mut tcp))
        .await
        .expect("cut within 10 s")
        .expect("answered before closing");
    let waited = stalled.elapsed();
    assert_eq!(status, 408);
    assert!(waited >= Duration::from_millis(900), "cut after {waited:?}");
    assert!(closed_within(&mut tcp, Duration::from_secs(5)).await);

    // The session is where the last 202 left it; the rest goes on from there.
    let r = srv.get(&location).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("range"), Some(&*format!("0-{}", first.len() - 1)));
    let len = rest.len().to_string();
    let r = srv
        .send(
            "PATCH",
            &location,
            &[
                (
                    "content-range",
                    &format!("{}-{}", first.len(), data.len() - 1),
                ),
                ("content-length", &len),
            ],
            Bytes::copy_from_slice(rest),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let location = r.header("location").expect("location").to_owned();
    let digest = common::sha256(&data);
    let r = srv
        .send(
            "PUT",
            &format!("{location}?digest={digest}"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = srv.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert!(r.body[..] == data[..]);
}

#[tokio::test]
async fn an_oversize_request_head_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let reg = RegistryProcess::start(root.path());
    let addr = reg.addr;
    let request = |filler: usize| {
        format!(
            "GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nX-Filler: {}\r\n\r\n",
            "a".repeat(filler)
        )
    };
    // Within the cap: served.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request(40 * KIB).as_bytes())
        .await
        .expect("write");
    let (status, _) = read_head(&mut tcp).await.expect("answer");
    assert_eq!(status, 200);

    // 200 KiB: 431, or the connection closed.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let _ = tcp.write_all(request(200 * KIB).as_bytes()).await;
    match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut tcp))
        .await
        .expect("an answer or a close")
    {
        Ok((status, _)) => assert_eq!(status, 431),
        Err(_closed) => {}
    }

    // HTTP/2 (prior knowledge): the header list is capped as well.
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut h2, conn) = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
        TokioExecutor::new(),
        TokioIo::new(tcp),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let req = Request::get(format!("http://{addr}/v2/"))
        .header("x-filler", "a".repeat(200 * KIB))
        .body(Empty::new())
        .expect("request");
    match tokio::time::timeout(REQUEST_TIMEOUT, h2.send_request(req))
        .await
        .expect("an answer or an error")
    {
        Ok(res) => assert_eq!(res.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(_refused) => {}
    }
}

// ---- browsers ----

#[tokio::test]
async fn requests_from_web_pages_are_refused_unless_their_origin_is_allowed() {
    let srv = common::start_with(|layer| layer.allowed_origins(["https://ui.example.com"])).await;
    let refused = srv
        .send(
            "POST",
            "/v2/web/blobs/uploads/",
            &[("origin", "https://evil.example")],
            Bytes::new(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code().as_deref(), Some("DENIED"));
    assert_eq!(
        refused.header("content-type"),
        Some("application/json"),
        "an OCI error body"
    );
    // `Origin: null` (a sandboxed page, a redirect) is no better.
    let r = srv
        .send("GET", "/v2/", &[("origin", "null")], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The allowed origin (any case) is served; so is a client that sends no Origin.
    let r = srv
        .send(
            "POST",
            "/v2/web/blobs/uploads/",
            &[("origin", "https://UI.example.com")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(srv.get("/v2/").await.status, StatusCode::OK);
    // Outside /v2/ the host's service decides.
    let r = srv
        .send(
            "GET",
            "/app",
            &[("origin", "https://evil.example")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT);

    // Default: no origin is allowed.
    let srv = common::start().await;
    let r = srv
        .send(
            "GET",
            "/v2/",
            &[("origin", "https://ui.example.com")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_host_check_refuses_names_not_served() {
    let srv = common::start_with(|layer| layer.allowed_hosts(["localhost", "127.0.0.1:1"])).await;
    let port = srv.addr.port();
    let host = |h: &str| h.replace("PORT", &port.to_string());
    for ok in [
        "localhost:PORT",
        "LOCALHOST.:PORT",
        "localhost",
        "127.0.0.1:1",
    ] {
        let status = status_with_host(srv.addr, &host(ok), &[]).await;
        assert_eq!(status, StatusCode::OK, "{ok}");
    }
    // A rebound name, the right address on a port not listed, a malformed name.
    for refused in ["evil.example:PORT", "127.0.0.1:PORT", "evil.example", "a b"] {
        let status = status_with_host(srv.addr, &host(refused), &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    }
    // Default: any host.
    let srv = common::start().await;
    let status = status_with_host(srv.addr, "evil.example", &[]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_example_bound_to_loopback_serves_only_loopback_names_and_added_ones() {
    let root = tempfile::tempdir().expect("tempdir");
    let reg = RegistryProcess::start_with(root.path(), &["--allow-host", "registry.test"]);
    let addr = reg.addr;
    let port = addr.port();
    for ok in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "registry.test".to_owned(),
    ] {
        assert_eq!(
            status_with_host(addr, &ok, &[]).await,
            StatusCode::OK,
            "{ok}"
        );
    }
    let rebound = format!("attacker.example:{port}");
    assert_eq!(
        status_with_host(addr, &rebound, &[]).await,
        StatusCode::FORBIDDEN
    );
    let origin = [("origin", "http://attacker.example")];
    assert_eq!(
        status_with_host(addr, &format!("127.0.0.1:{port}"), &origin).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn every_registry_response_says_nosniff() {
    let srv = common::start().await;
    let digest = srv
        .push_blob("sniff/me", b"<script>alert(1)</script>")
        .await;
    for (method, path) in [
        ("GET", "/v2/".to_owned()),
        ("GET", format!("/v2/sniff/me/blobs/{digest}")),
        ("HEAD", format!("/v2/sniff/me/blobs/{digest}")),
        ("GET", "/v2/sniff/me/manifests/missing".to_owned()),
        ("GET", "/v2/NOT_A_NAME/tags/list".to_owned()),
        ("POST", "/v2/sniff/me/blobs/uploads/".to_owned()),
        ("PATCH", "/v2/".to_owned()),
    ] {
        let r = srv.empty(method, &path).await;
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{method} {path}: {}",
            r.status
        );
    }
}

// ---- start-up and the log ----

#[test]
fn a_storage_root_that_cannot_be_created_stops_the_registry_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    let root = file.join("registry");
    let err = match RegistryProcess::try_start_with(&root, &[], &[]) {
        Ok(_) => panic!("the registry started on a root it cannot create"),
        Err(err) => err,
    };
    assert!(err.contains("exit status: 1"), "{err}");
    assert!(
        err.contains("cannot create or write the storage root"),
        "a clear message: {err}"
    );
}

#[tokio::test]
async fn the_log_has_no_upload_ids_credentials_or_colours() {
    let root = tempfile::tempdir().expect("tempdir");
    let env = [("RUST_LOG".to_owned(), "info".to_owned())];
    let reg = RegistryProcess::try_start_with(root.path(), &["--no-fsync"], &env)
        .unwrap_or_else(|e| panic!("{e}"));
    let c = reg.client();
    let data = pattern(10 * KIB, 4);
    let location = c.start_upload("log/ids").await;
    let id = location.rsplit('/').next().expect("id").to_owned();
    let r = c.patch(&location, 0, Bytes::from(data.clone())).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = c.get(&location).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let secret = "Basic dXNlcjpzM2NyZXQ=";
    let r = c
        .send("GET", "/v2/", &[("authorization", secret)], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c
        .finish(&location, &common::sha256(&data), Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let blob = format!("/v2/log/ids/blobs/{}", common::sha256(&data));
    let r = c.get(&blob).await;
    assert_eq!(r.status, StatusCode::OK);

    // The log is written from a background thread: wait for the last line.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = reg.stderr.lock().expect("log").clone();
        if log.matches("status=").count() >= 6 || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        log.contains("/v2/log/ids/blobs/uploads/<upload>"),
        "session requests are logged: {log}"
    );
    assert!(!log.contains(&id), "an upload id in the log: {log}");
    // The blob GET's line is written once its body is out, and counts the bytes sent.
    let get_line = log
        .lines()
        .find(|l| l.contains("method=GET") && l.contains(&blob))
        .unwrap_or_else(|| panic!("no line for the blob GET: {log}"));
    assert!(
        get_line.contains(&format!("bytes={}", data.len())) && get_line.contains("duration="),
        "{get_line}"
    );
    assert!(!get_line.contains("cut_short"), "{get_line}");
    assert!(!log.contains("dXNlcjpzM2NyZXQ"), "credentials in the log");
    assert!(!log.contains('\u{1b}'), "ANSI colours into a pipe: {log}");
}
