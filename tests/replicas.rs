//! Several `registry` example processes on one bucket (`--storage s3://bucket/prefix`), against
//! real S3 servers on 127.0.0.1: moto (in memory) and s3s-fs (a directory). Needs MOTO_SERVER
//! and S3S_FS (the repository's https://github.com/tower-oci/tower-oci/blob/main/tests/s3/install.sh installs both and prints them); without
//! them each test prints "skipped: ..." and passes, except under CI=true.
#![cfg(feature = "object-store")]

mod common;
mod process;
mod s3;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use tokio::io::AsyncWriteExt;

use common::{image_manifest, sha256, Reply, OCI_MANIFEST};
use process::{pattern, RegistryProcess, Remote};
use s3::{Kind, S3Server};

/// The upload lease the replicas run with: how long a killed replica's claim on an upload
/// blocks the others.
const LEASE_SECS: u64 = 2;

/// One S3 server with a bucket, and `n` registry replicas on `s3://bucket/<prefix>`.
struct Cluster {
    s3: S3Server,
    url: String,
    replicas: Vec<RegistryProcess>,
}

impl Cluster {
    fn start(kind: Kind, test: &str, n: usize) -> Option<Cluster> {
        let s3 = S3Server::start(kind, "replicas")?;
        let url = s3.url(test);
        let replicas = (0..n).map(|_| replica(&s3, &url)).collect();
        Some(Cluster { s3, url, replicas })
    }

    fn client(&self, i: usize) -> Remote {
        self.replicas[i].client()
    }
}

fn replica(s3: &S3Server, url: &str) -> RegistryProcess {
    let lease = LEASE_SECS.to_string();
    RegistryProcess::start_storage(url, &s3.env(), &["--upload-lease", &lease])
}

async fn manifest_put(c: &Remote, repo: &str, reference: &str, body: &str) -> Reply {
    c.send(
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("content-type", OCI_MANIFEST)],
        Bytes::copy_from_slice(body.as_bytes()),
    )
    .await
}

fn range_end(r: &Reply) -> Option<u64> {
    let range = r.header("range")?;
    range.split_once('-')?.1.parse().ok()
}

/// The OCI error body of a failed request.
fn assert_oci_error(r: &Reply, what: &str) {
    let code = r.error_code();
    assert!(
        code.is_some(),
        "{what}: {} without an OCI error body: {:?}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

// ---------------------------------------------------------------------------------------------
// An upload moves between replicas; what one replica pushed the other serves at once.

async fn upload_moves_between_replicas(kind: Kind) {
    let Some(cluster) = Cluster::start(kind, "moves", 2) else {
        return;
    };
    let (a, b) = (cluster.client(0), cluster.client(1));
    let repo = "moves/blob";

    // Started on A, PATCHed on B (two chunks, one over S3's 5 MiB part minimum), finished on A.
    let data = pattern(6 * 1024 * 1024 + 1234, 1);
    let (c1, rest) = data.split_at(5 * 1024 * 1024 + 17);
    let (c2, c3) = rest.split_at(rest.len() / 2);
    let digest = sha256(&data);
    let loc = a.start_upload(repo).await;
    let r = b.patch(&loc, 0, Bytes::copy_from_slice(c1)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "PATCH 1 on B: {:?}", r.body);
    assert_eq!(range_end(&r), Some(c1.len() as u64 - 1));
    let loc = r.header("location").expect("location").to_owned();
    let r = b
        .patch(&loc, c1.len() as u64, Bytes::copy_from_slice(c2))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "PATCH 2 on B: {:?}", r.body);
    let loc = r.header("location").expect("location").to_owned();
    // A sees B's progress.
    let r = a.get(&loc).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "upload status on A: {:?}",
        r.body
    );
    assert_eq!(range_end(&r), Some((c1.len() + c2.len()) as u64 - 1));
    let r = a.finish(&loc, &digest, Bytes::copy_from_slice(c3)).await;
    assert_eq!(r.status, StatusCode::CREATED, "PUT on A: {:?}", r.body);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    for (name, c) in [("A", &a), ("B", &b)] {
        let r = c.get(&format!("/v2/{repo}/blobs/{digest}")).await;
        assert_eq!(r.status, StatusCode::OK, "GET blob on {name}");
        assert!(r.body == data, "blob bytes on {name}");
    }

    // A blob and a manifest pushed through A, pulled through B at once.
    let repo = "moves/image";
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = pattern(300_000, 2);
    let cd = a.push_blob(repo, config).await;
    let ld = a.push_blob(repo, &layer).await;
    let manifest = image_manifest(&cd, config.len(), &ld, layer.len(), "");
    let r = manifest_put(&a, repo, "v1", &manifest).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "manifest PUT on A: {:?}",
        r.body
    );
    let r = b.get(&format!("/v2/{repo}/manifests/v1")).await;
    assert_eq!(r.status, StatusCode::OK, "manifest GET on B: {:?}", r.body);
    assert_eq!(r.body, manifest.as_bytes(), "manifest bytes on B");
    assert_eq!(
        r.header("docker-content-digest"),
        Some(sha256(manifest.as_bytes()).as_str())
    );
    let r = b.get(&format!("/v2/{repo}/blobs/{ld}")).await;
    assert_eq!(r.status, StatusCode::OK, "layer GET on B");
    assert!(r.body == layer, "layer bytes on B");
    let r = b.get(&format!("/v2/{repo}/tags/list")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["tags"], serde_json::json!(["v1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_upload_moves_between_replicas() {
    upload_moves_between_replicas(Kind::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs_upload_moves_between_replicas() {
    upload_moves_between_replicas(Kind::S3sFs).await;
}

// ---------------------------------------------------------------------------------------------
// 50 concurrent PUTs of one tag, spread over two replicas.

async fn concurrent_tag_puts(kind: Kind) {
    let Some(cluster) = Cluster::start(kind, "tags", 2) else {
        return;
    };
    let (a, b) = (cluster.client(0), cluster.client(1));
    let repo = "race/tag";
    let config = br#"{"architecture":"arm64","os":"linux"}"#;
    let layer = b"the one layer";
    let cd = a.push_blob(repo, config).await;
    let ld = a.push_blob(repo, layer).await;
    let manifests: Vec<String> = (0..50)
        .map(|i| {
            image_manifest(
                &cd,
                config.len(),
                &ld,
                layer.len(),
                &format!(r#","annotations":{{"n":"{i}"}}"#),
            )
        })
        .collect();
    let tasks: Vec<_> = manifests
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let c = if i % 2 == 0 { a.clone() } else { b.clone() };
            let m = m.clone();
            tokio::spawn(async move { manifest_put(&c, repo, "latest", &m).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.expect("task");
        assert_eq!(r.status, StatusCode::CREATED, "PUT {i}: {:?}", r.body);
    }
    let written: HashSet<String> = manifests.iter().map(|m| sha256(m.as_bytes())).collect();
    let mut seen = Vec::new();
    for (name, c) in [("A", &a), ("B", &b)] {
        let r = c.get(&format!("/v2/{repo}/manifests/latest")).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "GET latest on {name}: {:?}",
            r.body
        );
        let digest = sha256(&r.body);
        assert!(
            written.contains(&digest),
            "latest on {name} is none of the written manifests"
        );
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        let r = c.get(&format!("/v2/{repo}/manifests/{digest}")).await;
        assert_eq!(r.status, StatusCode::OK, "GET by digest on {name}");
        seen.push(digest);
    }
    assert_eq!(seen[0], seen[1], "A and B resolve the tag differently");
    // Every manifest was stored, tagged or not.
    for (i, m) in manifests.iter().enumerate() {
        let r = b
            .get(&format!("/v2/{repo}/manifests/{}", sha256(m.as_bytes())))
            .await;
        assert_eq!(r.status, StatusCode::OK, "manifest {i} by digest");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_concurrent_tag_puts_on_two_replicas() {
    concurrent_tag_puts(Kind::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs_concurrent_tag_puts_on_two_replicas() {
    concurrent_tag_puts(Kind::S3sFs).await;
}

// ---------------------------------------------------------------------------------------------
// A replica killed mid-upload; another finishes the upload once the lease runs out.

/// Sends a PATCH head announcing `total` bytes and the first `part` of them, then leaves the
/// connection open (the rest never comes).
async fn patch_in_flight(
    addr: std::net::SocketAddr,
    location: &str,
    offset: u64,
    total: usize,
    part: &[u8],
) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n\
         Content-Range: {offset}-{}\r\nContent-Length: {total}\r\n\r\n",
        offset + total as u64 - 1
    );
    tcp.write_all(head.as_bytes()).await.expect("write head");
    tcp.write_all(part).await.expect("write part");
    tcp.flush().await.expect("flush");
    tcp
}

async fn killed_replica_upload_finished_elsewhere(kind: Kind) {
    let Some(mut cluster) = Cluster::start(kind, "killed", 2) else {
        return;
    };
    let b = cluster.client(1);
    let a = cluster.client(0);
    let repo = "killed/blob";
    let data = pattern(3 * 1024 * 1024 + 5, 3);
    let digest = sha256(&data);
    let first = 1024 * 1024 + 3;
    let loc = a.start_upload(repo).await;
    let r = a
        .patch(&loc, 0, Bytes::copy_from_slice(&data[..first]))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "PATCH 1 on A: {:?}", r.body);
    let loc = r.header("location").expect("location").to_owned();

    // A second PATCH in flight on A (half of its body sent), then SIGKILL.
    let second = &data[first..first + 1024 * 1024];
    let conn = patch_in_flight(a.addr, &loc, first as u64, second.len(), &second[..300_000]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    cluster.replicas.remove(0).sigkill();
    drop(conn);

    // B reports the last acknowledged offset (the half PATCH never counts) and takes the rest
    // once A's lease has run out.
    let deadline = Instant::now() + Duration::from_secs(LEASE_SECS + 20);
    let mut busy = 0;
    let r = loop {
        let r = b.get(&loc).await;
        if r.status == StatusCode::NO_CONTENT || Instant::now() > deadline {
            break r;
        }
        busy += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "status on B: {:?}",
        r.body
    );
    assert_eq!(range_end(&r), Some(first as u64 - 1), "offset on B");
    let r = loop {
        let r = b
            .patch(&loc, first as u64, Bytes::copy_from_slice(&data[first..]))
            .await;
        if r.status != StatusCode::RANGE_NOT_SATISFIABLE || Instant::now() > deadline {
            break r;
        }
        busy += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "PATCH rest on B: {:?}",
        r.body
    );
    assert!(
        busy > 0,
        "B resumed the upload A held at once: A's claim (lease {LEASE_SECS} s) was not honoured"
    );
    eprintln!(
        "{kind:?}: B took the upload over {:?} after the kill ({busy} busy answers)",
        killed_at.elapsed()
    );
    let loc = r.header("location").expect("location").to_owned();
    let r = b.finish(&loc, &digest, Bytes::new()).await;
    assert_eq!(r.status, StatusCode::CREATED, "PUT on B: {:?}", r.body);
    let r = b.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body == data, "blob bytes after the takeover");
    // A restarted replica serves it too.
    let a2 = replica(&cluster.s3, &cluster.url);
    let r = a2.client().get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body == data, "blob bytes on a new replica");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_killed_replica_upload_finished_elsewhere() {
    killed_replica_upload_finished_elsewhere(Kind::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs_killed_replica_upload_finished_elsewhere() {
    killed_replica_upload_finished_elsewhere(Kind::S3sFs).await;
}

// ---------------------------------------------------------------------------------------------
// Faults: bad configuration at start, the S3 server going away mid-push.

fn refuses_to_start(url: &str, env: &[(String, String)], what: &str) {
    match RegistryProcess::try_start_storage(url, env, &[]) {
        Err(err) => {
            eprintln!("{what}: refused to start as it should:\n{err}");
            assert!(
                err.contains("--storage"),
                "{what}: the message names the storage: {err}"
            );
        }
        Ok(r) => panic!("{what}: the registry started on {} anyway", r.addr),
    }
}

#[test]
fn moto_missing_bucket_refuses_to_start() {
    let Some(s3) = S3Server::start(Kind::Moto, "present") else {
        return;
    };
    refuses_to_start("s3://no-such-bucket/x", &s3.env(), "moto, missing bucket");
}

#[test]
fn s3s_fs_missing_bucket_or_wrong_credentials_refuse_to_start() {
    let Some(s3) = S3Server::start(Kind::S3sFs, "present") else {
        return;
    };
    refuses_to_start("s3://no-such-bucket/x", &s3.env(), "s3s-fs, missing bucket");
    let env: Vec<(String, String)> = s3
        .env()
        .into_iter()
        .map(|(k, v)| {
            if k == "AWS_SECRET_ACCESS_KEY" {
                (k, "wrong-secret".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    refuses_to_start(&s3.url("x"), &env, "s3s-fs, wrong secret key");
}

#[test]
fn unreachable_endpoint_refuses_to_start() {
    // Nothing listens on this port (or not S3): the first listing fails.
    let port = s3::free_port();
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID", "x".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "y".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let started = Instant::now();
    refuses_to_start("s3://bucket/x", &env, "unreachable endpoint");
    eprintln!(
        "unreachable endpoint: refused after {:?}",
        started.elapsed()
    );
}

#[test]
fn bad_storage_urls_refuse_to_start() {
    for url in ["s3://", "nope://bucket/x", "relative/dir"] {
        refuses_to_start(url, &[], url);
    }
}

/// Sends a request; `None` if no answer came within `limit` (`Remote::send` itself panics
/// after 30 s, so a backend that retries an unreachable S3 longer than that fails the test).
async fn send_within(
    c: &Remote,
    limit: Duration,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Option<Reply> {
    let headers = [("content-type", "application/octet-stream")];
    tokio::time::timeout(limit, c.send(method, path, &headers, body))
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs_stopped_mid_push_then_restarted() {
    let Some(mut s3) = S3Server::start(Kind::S3sFs, "outage") else {
        return;
    };
    let url = s3.url("outage");
    let reg = replica(&s3, &url);
    let c = reg.client();
    let repo = "outage/blob";
    let before = c.push_blob(repo, b"before the outage").await;

    let data = pattern(2 * 1024 * 1024, 4);
    let digest = sha256(&data);
    let loc = c.start_upload(repo).await;
    let r = c
        .patch(&loc, 0, Bytes::copy_from_slice(&data[..1024 * 1024]))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "PATCH 1: {:?}", r.body);
    let loc = r.header("location").expect("location").to_owned();

    s3.stop();
    let started = Instant::now();
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = send_within(
        &c,
        Duration::from_secs(60),
        "PUT",
        &format!("{loc}{sep}digest={digest}"),
        data[1024 * 1024..].to_vec(),
    )
    .await
    .expect("the closing PUT got no answer within 60 s while S3 was down");
    eprintln!(
        "closing PUT with S3 down: {} after {:?}",
        r.status,
        started.elapsed()
    );
    assert!(
        r.status.is_server_error(),
        "closing PUT with S3 down: {}",
        r.status
    );
    assert_oci_error(&r, "closing PUT with S3 down");
    let other = pattern(1000, 5);
    let r = send_within(
        &c,
        Duration::from_secs(60),
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(&other)),
        other.clone(),
    )
    .await
    .expect("monolithic push: no answer within 60 s while S3 was down");
    assert!(
        r.status.is_server_error(),
        "monolithic push with S3 down: {}",
        r.status
    );
    assert_oci_error(&r, "monolithic push with S3 down");

    s3.restart();
    // Nothing half-visible, the earlier blob intact, and pushes work again.
    let r = c
        .send(
            "HEAD",
            &format!("/v2/{repo}/blobs/{digest}"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "HEAD of the failed blob");
    let r = c
        .send(
            "HEAD",
            &format!("/v2/{repo}/blobs/{}", sha256(&other)),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "HEAD of the failed monolithic blob"
    );
    let r = c.get(&format!("/v2/{repo}/blobs/{before}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"before the outage");
    let d = c.push_blob(repo, &data).await;
    let r = c.get(&format!("/v2/{repo}/blobs/{d}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body == data, "blob pushed after the restart");
}

// ---------------------------------------------------------------------------------------------
// The test servers themselves.

#[test]
fn s3_servers_stop_and_restart_on_their_port() {
    for kind in [Kind::Moto, Kind::S3sFs] {
        let Some(mut s3) = S3Server::start(kind, "selftest") else {
            continue;
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], s3.port));
        assert!(
            s3::http_status(addr, "GET", "/").is_some(),
            "{kind:?} answers"
        );
        s3.stop();
        assert_eq!(s3::http_status(addr, "GET", "/"), None, "{kind:?} stopped");
        s3.restart();
        assert!(
            s3::http_status(addr, "GET", "/").is_some(),
            "{kind:?} answers again"
        );
        match kind {
            // moto comes back empty; start() made the bucket again (an unsigned HEAD works).
            Kind::Moto => assert_eq!(s3::http_status(addr, "HEAD", "/selftest"), Some(200)),
            Kind::S3sFs => assert!(s3.root().join("selftest").is_dir()),
        }
    }
}
