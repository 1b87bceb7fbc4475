//! Bad input under /v2/ always gets OCI error JSON with the spec's status, never a bare page or 500.

mod common;

use common::{sha256, start};
use http::StatusCode;

#[tokio::test]
async fn hostile_paths_get_oci_errors() {
    let s = start().await;
    let d = sha256(b"x");
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            "/v2/UPPER/tags/list".into(),
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            "/v2/a//b/tags/list".into(),
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            "/v2/a/../b/tags/list".into(),
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            "/v2/a%2fb/tags/list".into(),
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            format!("/v2/{}/tags/list", "a".repeat(300)),
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            "/v2/a/manifests/bad:tag!".into(),
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
        ),
        (
            "/v2/a/blobs/sha256:123".into(),
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            "/v2/a/blobs/md5:abc".into(),
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            "/v2/a/blobs/uploads/not-a-uuid".into(),
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            "/v2/a/nothing/here".into(),
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
        ),
        (
            format!("/v2/a/blobs/{d}/"),
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
        ),
    ];
    for (path, status, code) in cases {
        let r = s.get(&path).await;
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.error_code().as_deref(), Some(code), "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let s = start().await;
    let r = s.empty("POST", "/v2/a/tags/list").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("GET"));
    assert_eq!(r.error_code().as_deref(), Some("UNSUPPORTED"));
    let r = s.empty("PATCH", "/v2/a/manifests/latest").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn bad_content_range_on_patch_is_416() {
    let s = start().await;
    let loc = s.start_upload("a", "").await;
    for bad in ["bytes=0-1", "5-2", "x-y"] {
        let r = s.send("PATCH", &loc, &[("content-range", bad)], "ab").await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
        assert!(r.error_code().is_some());
    }
    // A range as long as u64 allows: no overflow, just a length that does not match.
    let r = s
        .send(
            "PATCH",
            &loc,
            &[("content-range", "0-18446744073709551615")],
            "ab",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code().as_deref(), Some("SIZE_INVALID"));
    // A chunk shorter than its range ends with SIZE_INVALID, not a 500.
    let r = s
        .send("PATCH", &loc, &[("content-range", "0-9")], "abc")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// Sends one raw request (the target exactly as given) and returns the status line and head.
async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    body: &str,
) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let len = body.len();
    let req = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n{body}");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut out))
        .await
        .expect("no answer within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body_at = text.find("\r\n\r\n").map_or(out.len(), |i| i + 4);
    (status, text, out[body_at..].to_vec())
}

#[tokio::test]
async fn hostile_requests_never_get_5xx_and_always_oci_json() {
    const CODES: [&str; 14] = [
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    ];
    let s = start().await;
    s.push_image("ok/repo", "v1", "x").await;
    let d = sha256(b"x");
    let names = [
        "ok/repo",
        "UPPER",
        "a//b",
        "a/./b",
        "a/../b",
        "..",
        ".",
        "a%2fb",
        "a%00b",
        "-a",
        "a-",
        "a__b",
        "a___b",
        "a..b",
        "_catalog",
        "a/_catalog",
        &"a".repeat(256),
        &"ab/".repeat(90),
        "a/",
        "",
        "blobs",
        "manifests/x",
        "uploads",
        "tags/list",
        "referrers",
    ];
    let tails = [
        "tags/list".to_owned(),
        "tags/list/".to_owned(),
        "manifests/v1".to_owned(),
        "manifests/".to_owned(),
        format!("manifests/{d}"),
        "manifests/sha256:zz".to_owned(),
        "manifests/%2e%2e".to_owned(),
        format!("manifests/{}", "t".repeat(129)),
        format!("blobs/{d}"),
        "blobs/sha256:".to_owned(),
        "blobs/md5:abc".to_owned(),
        format!("blobs/{d}/"),
        "blobs/uploads/".to_owned(),
        "blobs/uploads".to_owned(),
        "blobs/uploads/../x".to_owned(),
        "blobs/uploads/00000000-0000-0000-0000-000000000000".to_owned(),
        "blobs/uploads/ZZZZZZZZ-0000-0000-0000-000000000000".to_owned(),
        "blobs/uploads/%2F".to_owned(),
        format!("referrers/{d}"),
        "referrers/sha256:1".to_owned(),
        "nothing".to_owned(),
    ];
    let queries = [
        "",
        "?n=-1",
        "?n=99999999999999999999999",
        "?last=%zz",
        "?digest=%",
        "?digest=sha256%3Azz",
        "?mount=x&from=..%2F..",
        "?digest-algorithm=../../x",
        "?tag=a&tag=%FF",
        "?artifactType=%",
        "?n=1&n=2&last=",
        "?ns=evil.example",
    ];
    let mut checked = 0;
    for name in names {
        for tail in &tails {
            for (i, query) in queries.iter().enumerate() {
                // Every query on a few tails, every tail with one query, to stay bounded.
                if i > 0 && !tail.starts_with("tags") && !tail.starts_with("blobs/uploads/") {
                    continue;
                }
                let target = format!("/v2/{name}/{tail}{query}");
                for method in ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"] {
                    let body = if method == "GET" || method == "HEAD" {
                        ""
                    } else {
                        "{}"
                    };
                    let (status, head, body) = raw(s.addr, method, &target, body).await;
                    checked += 1;
                    assert!((200..500).contains(&status), "{method} {target}: {head}");
                    if status >= 400
                        && method != "HEAD"
                        && head
                            .to_ascii_lowercase()
                            .contains("docker-distribution-api-version")
                    {
                        let json: serde_json::Value = serde_json::from_slice(&body)
                            .unwrap_or_else(|_| panic!("{method} {target}: not JSON: {head}"));
                        let code = json["errors"][0]["code"].as_str().unwrap_or("");
                        assert!(CODES.contains(&code), "{method} {target}: code {code:?}");
                    }
                }
            }
        }
    }
    assert!(checked > 3000, "{checked}");
}

/// A failure of the registry's own is 500 `UNKNOWN` with a generic message (never
/// `UNSUPPORTED`, which says the operation does not exist), and nothing of the cause.
#[tokio::test]
async fn server_failures_are_unknown_not_unsupported() {
    // The storage root cannot be created: a file stands where its parent should be.
    let s = common::start_with(|_| {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").expect("write");
        let root = file.join("root");
        std::mem::forget(dir); // kept for the server's lifetime
        tower_oci::OciLayer::new(root)
    })
    .await;
    // A session stores nothing before its first byte: the PATCH is what meets the storage.
    let r = s.empty("POST", "/v2/broken/blobs/uploads/").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let session = r.header("location").expect("location").to_owned();
    for (method, path) in [
        ("PATCH", session.as_str()),
        ("POST", "/v2/broken/blobs/uploads/?digest=sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"),
    ] {
        let r = s.send(method, path, &[], bytes::Bytes::from_static(b"x")).await;
        assert!(r.status.is_server_error(), "{method} {path}: {}", r.status);
        assert_eq!(r.error_code().as_deref(), Some("UNKNOWN"), "{:?}", r.body);
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("file/root"), "no paths to the client: {body}");
    }
}
