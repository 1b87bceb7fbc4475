//! Bad input under /v2/ always gets OCI error JSON with the spec's status, never a bare page or 500.

mod common;

use bytes::Bytes;
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
    let r = s.send("POST", "/v2/a/tags/list", &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("GET"));
    assert_eq!(r.error_code().as_deref(), Some("UNSUPPORTED"));
    let r = s
        .send("PATCH", "/v2/a/manifests/latest", &[], Bytes::new())
        .await;
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
    // A chunk shorter than its range ends with SIZE_INVALID, not a 500.
    let r = s
        .send("PATCH", &loc, &[("content-range", "0-9")], "abc")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
