//! The registry process under many stalled uploads: a thousand clients that start a PATCH,
//! send part of its body and go quiet must not hold anything that reads and pushes need (no
//! blocking thread per stalled body, no lock).

#![cfg(unix)]

mod common;
mod process;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::StatusCode;
use process::{pattern, raise_nofile_limit, read_head, RegistryProcess, Remote, REQUEST_TIMEOUT};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;

/// The two attacks run one at a time: each loads both cores and the disk on its own, and what
/// they measure is the registry under one attack, not the machine under two.
/// (tokio's mutex: it is held across awaits, and a panic in one test does not poison it.)
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Opens a session on a raw connection and sends the head of a PATCH announcing
/// `declared` bytes. Returns the connection, ready for the body.
async fn open_stalled(addr: SocketAddr, repo: &str, declared: usize) -> Result<TcpStream, String> {
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
    if status != 202 {
        return Err(format!("POST answered {status}, want 202"));
    }
    let location = location.ok_or("POST 202 without Location")?;
    let patch = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n\
         Content-Range: 0-{}\r\nContent-Length: {declared}\r\n\r\n",
        declared - 1
    );
    tcp.write_all(patch.as_bytes())
        .await
        .map_err(|e| format!("write PATCH head: {e}"))?;
    Ok(tcp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_upload_bodies_do_not_block_reads() {
    let _serial = ONE_AT_A_TIME.lock().await;
    const WANT: usize = 1000;
    const DECLARED: usize = 4 * MIB;
    const SENT: usize = 3 * MIB / 2;
    const READS: usize = 20;
    const PUSHES: usize = 5;

    let limit = raise_nofile_limit();
    // Per stalled upload: one socket here; in the registry a socket and whatever a session
    // holds while its body streams in (a file, say). Keep 256 spare on each side.
    let count = WANT.min((limit.saturating_sub(256) / 3) as usize);
    if count < WANT {
        println!("RLIMIT_NOFILE is {limit}: {count} stalled uploads instead of {WANT}");
    }
    assert!(
        count >= 100,
        "RLIMIT_NOFILE {limit} is too low for this test"
    );

    let root = tempfile::tempdir().expect("tempdir");
    // Started after the limit was raised: the registry inherits it.
    let reg = RegistryProcess::start(root.path());
    let addr = reg.addr;
    let repo = "stress/stalled";
    let c = reg.client();
    let small = pattern(64 * 1024, 11);
    let small_digest = c.push_blob(repo, &small).await;

    // Open the stalled uploads, 64 at a time. Each POST must be answered: a registry that
    // stops answering while bodies stall fails here already.
    let opened = futures_util::stream::iter(0..count)
        .map(|i| async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, open_stalled(addr, repo, DECLARED)).await {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => panic!("stalled upload {i}: {e}"),
                Err(_) => panic!(
                    "stalled upload {i}: POST not answered within {REQUEST_TIMEOUT:?} \
                     (earlier uploads are stalled mid-body)"
                ),
            }
        })
        .buffer_unordered(64);
    let streams: Vec<TcpStream> = opened.collect().await;

    // Each connection sends SENT of the DECLARED bytes and then goes quiet, socket held open.
    let body = Bytes::from(pattern(SENT, 12));
    let written = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut holders = tokio::task::JoinSet::new();
    for mut tcp in streams {
        let body = body.clone();
        let written = written.clone();
        let mut stop = stop_rx.clone();
        holders.spawn(async move {
            let sent = tokio::select! {
                res = tcp.write_all(&body) => res.is_ok(),
                _ = stop.wait_for(|s| *s) => false,
            };
            if sent {
                written.fetch_add(1, Ordering::Relaxed);
                let _ = stop.wait_for(|s| *s).await.map(|_| ());
            }
            drop(tcp);
        });
    }
    // Let the partial bodies go out (bounded wait; a full socket buffer just stays full).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while written.load(Ordering::Relaxed) < count && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A moment for the registry to take in what is in flight.
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "{count} uploads stalled after {SENT} of {DECLARED} bytes ({} bodies fully written)",
        written.load(Ordering::Relaxed)
    );

    // While they stall: reads and new pushes, each on a fresh connection, each answered.
    for i in 0..READS {
        let path = format!("/v2/{repo}/blobs/{small_digest}");
        let r = tokio::time::timeout(REQUEST_TIMEOUT, common::get_fresh(addr, &path))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "blob GET {i}: no answer within {REQUEST_TIMEOUT:?} \
                     while {count} upload bodies stall"
                )
            });
        assert_eq!(r.status, StatusCode::OK, "blob GET {i}");
        assert!(r.body[..] == small[..], "blob GET {i}: bytes differ");
    }
    for i in 0..PUSHES {
        // A fresh client: a new connection.
        let fresh = Remote::new(addr);
        let data = pattern(100 * 1024 + i, 100 + i as u64);
        let digest = common::sha256(&data);
        let (x, y) = data.split_at(50 * 1024);
        let loc = fresh.start_upload(repo).await;
        let r = fresh.patch(&loc, 0, Bytes::copy_from_slice(x)).await;
        assert_eq!(
            r.status,
            StatusCode::ACCEPTED,
            "push {i}: PATCH: {:?}",
            r.body
        );
        let loc = r.header("location").expect("location").to_owned();
        let r = fresh.finish(&loc, &digest, Bytes::copy_from_slice(y)).await;
        assert_eq!(r.status, StatusCode::CREATED, "push {i}: PUT: {:?}", r.body);
        let r = Remote::new(addr)
            .get(&format!("/v2/{repo}/blobs/{digest}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "push {i}: GET");
        assert!(r.body[..] == data[..], "push {i}: bytes differ");
    }

    // Close every stalled connection, then the registry.
    let _ = stop_tx.send(true);
    let joined = tokio::time::timeout(REQUEST_TIMEOUT, async {
        while holders.join_next().await.is_some() {}
    })
    .await;
    if joined.is_err() {
        holders.abort_all();
    }
    drop(reg);
}

/// The same attack over HTTP/2: three connections, each with 190 streams whose upload bodies
/// stall after a little over 1 MiB. Streams multiply what one connection can hold, so nothing a
/// stalled stream holds may be scarce (a blocking thread each would run the pool dry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_http2_streams_do_not_block_reads() {
    let _serial = ONE_AT_A_TIME.lock().await;
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    const CONNECTIONS: usize = 3;
    const STREAMS: usize = 190;
    const DECLARED: usize = 4 * MIB;
    const SENT: usize = MIB + MIB / 8;

    raise_nofile_limit();
    let root = tempfile::tempdir().expect("tempdir");
    let reg = RegistryProcess::start(root.path());
    let addr = reg.addr;
    let repo = "stress/h2";
    let c = reg.client();
    let small = pattern(64 * 1024, 21);
    let small_digest = c.push_blob(repo, &small).await;

    type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;
    let mut feeds = Vec::new();
    let mut responses = tokio::task::JoinSet::new();
    let chunk = Bytes::from(pattern(SENT, 22));
    for conn in 0..CONNECTIONS {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (sender, connection) = hyper::client::conn::http2::handshake::<_, _, Body>(
            TokioExecutor::new(),
            TokioIo::new(tcp),
        )
        .await
        .expect("h2 handshake");
        tokio::spawn(connection);
        for stream in 0..STREAMS {
            let location = c.start_upload(repo).await;
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
            let frames = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|data| (Ok::<_, std::convert::Infallible>(Frame::data(data)), rx))
            });
            let req = http::Request::builder()
                .method("PATCH")
                .uri(format!("http://{addr}{location}"))
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("0-{}", DECLARED - 1))
                .header("content-length", DECLARED)
                .body(BodyExt::boxed(StreamBody::new(frames)))
                .expect("request");
            let mut sender = sender.clone();
            responses.spawn(async move {
                // Answered only if the body ends or the stream is reset: it never ends here.
                let _ = sender.send_request(req).await;
            });
            tx.send(chunk.clone()).await.expect("feed");
            feeds.push(tx);
            if stream % 50 == 0 {
                println!("connection {conn}: {stream} streams open");
            }
        }
    }
    // A moment for the bodies to go out and reach the registry.
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "{} HTTP/2 streams stalled after {SENT} of {DECLARED} bytes",
        CONNECTIONS * STREAMS
    );

    for i in 0..20 {
        let path = format!("/v2/{repo}/blobs/{small_digest}");
        let r = tokio::time::timeout(REQUEST_TIMEOUT, common::get_fresh(addr, &path))
            .await
            .unwrap_or_else(|_| panic!("blob GET {i}: no answer while HTTP/2 streams stall"));
        assert_eq!(r.status, StatusCode::OK, "blob GET {i}");
        assert!(r.body[..] == small[..], "blob GET {i}: bytes differ");
    }
    let data = pattern(200 * 1024, 23);
    let digest = Remote::new(addr).push_blob(repo, &data).await;
    let r = Remote::new(addr)
        .get(&format!("/v2/{repo}/blobs/{digest}"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body[..] == data[..]);

    drop(feeds);
    responses.abort_all();
    drop(reg);
}
