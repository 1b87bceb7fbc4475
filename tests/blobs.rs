//! Blob pull, push (every upload style), ranges, mounts and deletes over real HTTP.

mod common;

use bytes::Bytes;
use common::{sha256, sha512, start, start_with};
use http::StatusCode;

#[tokio::test]
async fn base_endpoint_answers_200_with_api_version() {
    let s = start().await;
    let r = s.get("/v2/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let r = s.get("/v2").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn single_post_push_then_get_and_head() {
    let s = start().await;
    let data = b"hello blob";
    let digest = sha256(data);
    let r = s
        .send(
            "POST",
            &format!("/v2/a/b/blobs/uploads/?digest={digest}"),
            &[],
            &data[..],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/a/b/blobs/{digest}").as_str())
    );
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));

    let r = s.get(&format!("/v2/a/b/blobs/{digest}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], data);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));

    let r = s.head(&format!("/v2/a/b/blobs/{digest}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), Some("10"));
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn sha512_blobs_work_end_to_end() {
    let s = start().await;
    let data = b"sha512 content";
    let digest = sha512(data);
    let r = s
        .send(
            "POST",
            &format!("/v2/r/blobs/uploads/?digest={digest}"),
            &[],
            &data[..],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let r = s.get(&format!("/v2/r/blobs/{digest}")).await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &data[..]));

    // digest-algorithm on POST, chunks, then PUT with the sha512 digest.
    let other = b"chunked sha512";
    let d2 = sha512(other);
    let loc = s.start_upload("r", "?digest-algorithm=sha512").await;
    let r = s
        .send("PATCH", &loc, &[("content-range", "0-6")], &other[..7])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s
        .send("PUT", &format!("{loc}?digest={d2}"), &[], &other[7..])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("docker-content-digest"), Some(d2.as_str()));
    assert_eq!(
        &s.get(&format!("/v2/r/blobs/{d2}")).await.body[..],
        &other[..]
    );

    let r = s
        .empty("POST", "/v2/r/blobs/uploads/?digest-algorithm=md5")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code().as_deref(), Some("DIGEST_INVALID"));
}

#[tokio::test]
async fn post_then_put_with_whole_body() {
    let s = start().await;
    let data = b"post then put";
    let digest = sha256(data);
    let loc = s.start_upload("repo", "").await;
    let r = s
        .send("PUT", &format!("{loc}?digest={digest}"), &[], &data[..])
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/repo/blobs/{digest}").as_str())
    );
    assert_eq!(
        &s.get(&format!("/v2/repo/blobs/{digest}")).await.body[..],
        data
    );
}

#[tokio::test]
async fn upload_session_headers_before_and_after_chunks() {
    let s = start_with(|l| l.min_chunk_length(Some(5))).await;
    let r = s.empty("POST", "/v2/repo/blobs/uploads/").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let loc = r.header("location").unwrap().to_owned();
    let id = r.header("docker-upload-uuid").unwrap().to_owned();
    assert!(loc.ends_with(&id));
    assert_eq!(r.header("range"), Some("0-0"));
    assert_eq!(r.header("oci-chunk-min-length"), Some("5"));

    let r = s.get(&loc).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("range"), Some("0-0"));
    assert_eq!(r.header("docker-upload-uuid"), Some(id.as_str()));

    let r = s
        .send("PATCH", &loc, &[("content-range", "0-4")], "abcde")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), Some("0-4"));
    assert_eq!(r.header("location"), Some(loc.as_str()));
    let r = s.get(&loc).await;
    assert_eq!(
        (r.status, r.header("range")),
        (StatusCode::NO_CONTENT, Some("0-4"))
    );
}

#[tokio::test]
async fn chunked_upload_with_out_of_order_chunk_stays_usable() {
    let s = start().await;
    let data = b"0123456789abcdefghij";
    let digest = sha256(data);
    let loc = s.start_upload("repo", "").await;
    let r = s
        .send("PATCH", &loc, &[("content-range", "0-9")], &data[..10])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // Skips ahead: 416, and the session still reports 0-9.
    let r = s
        .send("PATCH", &loc, &[("content-range", "12-15")], &data[12..16])
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.error_code().as_deref(), Some("BLOB_UPLOAD_INVALID"));
    let r = s.get(&loc).await;
    assert_eq!(r.header("range"), Some("0-9"));
    // Repeats a chunk: also 416.
    let r = s
        .send("PATCH", &loc, &[("content-range", "0-9")], &data[..10])
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    let r = s
        .send("PATCH", &loc, &[("content-range", "10-14")], &data[10..15])
        .await;
    assert_eq!(
        (r.status, r.header("range")),
        (StatusCode::ACCEPTED, Some("0-14"))
    );
    // Last chunk in the PUT, with its range.
    let r = s
        .send(
            "PUT",
            &format!("{loc}?digest={digest}"),
            &[("content-range", "15-19")],
            &data[15..],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        &s.get(&format!("/v2/repo/blobs/{digest}")).await.body[..],
        data
    );
    // The session is over.
    assert_eq!(s.get(&loc).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn streamed_patch_with_transfer_encoding_chunked() {
    let s = start().await;
    let chunks: Vec<Bytes> = (0..50)
        .map(|i| Bytes::from(vec![i as u8; 10_000 + i]))
        .collect();
    let whole: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let digest = sha256(&whole);
    let loc = s.start_upload("repo", "").await;
    let r = s.send_chunked("PATCH", &loc, &[], chunks).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        r.header("range"),
        Some(format!("0-{}", whole.len() - 1).as_str())
    );
    let r = s.empty("PUT", &format!("{loc}?digest={digest}")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let got = s.get(&format!("/v2/repo/blobs/{digest}")).await;
    assert_eq!(got.body.len(), whole.len());
    assert_eq!(sha256(&got.body), digest);

    // A chunked single-POST push too.
    let parts = vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cd")];
    let d = sha256(b"abcd");
    let r = s
        .send_chunked(
            "POST",
            &format!("/v2/repo/blobs/uploads/?digest={d}"),
            &[],
            parts,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn sessions_belong_to_their_repository() {
    let s = start().await;
    let loc = s.start_upload("one", "").await;
    let id = loc.rsplit('/').next().unwrap();
    for (method, body) in [("GET", ""), ("PATCH", "x"), ("PUT", ""), ("DELETE", "")] {
        let r = s
            .send(
                method,
                &format!("/v2/two/blobs/uploads/{id}?digest={}", sha256(b"x")),
                &[],
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(r.error_code().as_deref(), Some("BLOB_UPLOAD_UNKNOWN"));
    }
    assert_eq!(s.get(&loc).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn wrong_digest_is_rejected_and_nothing_is_stored() {
    let s = start().await;
    let claimed = sha256(b"other bytes");
    let r = s
        .send(
            "POST",
            &format!("/v2/repo/blobs/uploads/?digest={claimed}"),
            &[],
            "actual bytes",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code().as_deref(), Some("DIGEST_INVALID"));
    assert_eq!(
        s.head(&format!("/v2/repo/blobs/{claimed}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.head(&format!("/v2/repo/blobs/{}", sha256(b"actual bytes")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let loc = s.start_upload("repo", "").await;
    let r = s
        .send(
            "PUT",
            &format!("{loc}?digest={claimed}"),
            &[],
            "actual bytes",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code().as_deref(), Some("DIGEST_INVALID"));

    for bad in [
        "sha256:xyz",
        "nonsense",
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
    ] {
        let r = s
            .send(
                "POST",
                &format!("/v2/repo/blobs/uploads/?digest={bad}"),
                &[],
                "x",
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.error_code().as_deref(), Some("DIGEST_INVALID"), "{bad}");
        let r = s.get(&format!("/v2/repo/blobs/{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.error_code().as_deref(), Some("DIGEST_INVALID"), "{bad}");
    }
    let loc = s.start_upload("repo", "").await;
    let r = s.send("PUT", &loc, &[], "no digest").await;
    assert_eq!(r.error_code().as_deref(), Some("DIGEST_INVALID"));
}

#[tokio::test]
async fn cancel_removes_the_session() {
    let s = start().await;
    let loc = s.start_upload("repo", "").await;
    s.send("PATCH", &loc, &[], "some bytes").await;
    let r = s.empty("DELETE", &loc).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&loc).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.empty("DELETE", &loc).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn range_requests() {
    let s = start().await;
    let data: Vec<u8> = (0..100u8).collect();
    let digest = s.push_blob("r", &data).await;
    let path = format!("/v2/r/blobs/{digest}");
    for (range, first, last) in [
        ("bytes=0-9", 0, 9),
        ("bytes=90-", 90, 99),
        ("bytes=-5", 95, 99),
        ("bytes=95-500", 95, 99),
    ] {
        let r = s
            .send("GET", &path, &[("range", range)], Bytes::new())
            .await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(&r.body[..], &data[first..=last], "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {first}-{last}/100").as_str())
        );
        assert_eq!(
            r.header("content-length"),
            Some((last - first + 1).to_string().as_str())
        );
    }
    let r = s
        .send("GET", &path, &[("range", "bytes=100-")], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), Some("bytes */100"));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
}

#[tokio::test]
async fn blobs_are_scoped_to_repositories_and_mountable() {
    let s = start().await;
    let digest = s.push_blob("src", b"shared layer").await;
    assert_eq!(
        s.head(&format!("/v2/dst/blobs/{digest}")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = s.get(&format!("/v2/dst/blobs/{digest}")).await;
    assert_eq!(r.error_code().as_deref(), Some("BLOB_UNKNOWN"));

    let r = s
        .empty(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={digest}&from=src"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/dst/blobs/{digest}").as_str())
    );
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        &s.get(&format!("/v2/dst/blobs/{digest}")).await.body[..],
        b"shared layer"
    );

    // `from` first.
    let r = s
        .empty(
            "POST",
            &format!("/v2/dst2/blobs/uploads/?from=src&mount={digest}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // No `from`: found in some repository.
    let r = s
        .empty("POST", &format!("/v2/dst3/blobs/uploads/?mount={digest}"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // A source that lacks it: a fresh session instead.
    let r = s
        .empty(
            "POST",
            &format!("/v2/dst4/blobs/uploads/?mount={digest}&from=empty"),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r
        .header("location")
        .unwrap()
        .starts_with("/v2/dst4/blobs/uploads/"));
    assert_eq!(
        s.head(&format!("/v2/dst4/blobs/{digest}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn delete_blob_then_head_is_404() {
    let s = start().await;
    let digest = s.push_blob("r", b"to delete").await;
    let _ = s.push_blob("other", b"to delete").await;
    let r = s.empty("DELETE", &format!("/v2/r/blobs/{digest}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        s.head(&format!("/v2/r/blobs/{digest}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.head(&format!("/v2/other/blobs/{digest}")).await.status,
        StatusCode::OK
    );
    let r = s.empty("DELETE", &format!("/v2/r/blobs/{digest}")).await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (StatusCode::NOT_FOUND, Some("BLOB_UNKNOWN"))
    );
}

#[tokio::test]
async fn deletes_can_be_disabled() {
    let s = start_with(|l| l.deletes_enabled(false)).await;
    let digest = s.push_blob("r", b"kept").await;
    let r = s.empty("DELETE", &format!("/v2/r/blobs/{digest}")).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code().as_deref(), Some("UNSUPPORTED"));
    assert_eq!(
        s.head(&format!("/v2/r/blobs/{digest}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn concurrent_pushes_of_one_blob_all_succeed() {
    let s = std::sync::Arc::new(start().await);
    let data = Bytes::from(vec![7u8; 300_000]);
    let digest = sha256(&data);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (s, data, digest) = (s.clone(), data.clone(), digest.clone());
        tasks.push(tokio::spawn(async move {
            let repo = format!("r{}", i % 2);
            s.send(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                &[],
                data,
            )
            .await
            .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let r = s.get(&format!("/v2/r1/blobs/{digest}")).await;
    assert_eq!(sha256(&r.body), digest);
}

#[tokio::test]
async fn absolute_form_targets_route_by_path() {
    let s = start().await;
    let digest = s.push_blob("r", b"abs").await;
    // hyper's client sends origin-form; build an absolute-form request by hand.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "HEAD http://{}/v2/r/blobs/{digest} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.addr, s.addr
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

/// Every file under the storage root that holds `needle`.
fn files_containing(s: &common::TestServer, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![s.dir.path().join("data")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn a_dropped_request_leaves_the_session_at_its_last_acknowledged_byte() {
    use tokio::io::AsyncWriteExt;
    let s = start().await;
    let loc = s.start_upload("r", "").await;
    let r = s.send("PATCH", &loc, &[], "first part").await;
    assert_eq!(r.header("range"), Some("0-9"));

    // A PATCH that promises 1 MB, sends 10 bytes and hangs up.
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head =
        format!("PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nUNACKED-XY");
    tcp.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(tcp);

    // A single-POST push that hangs up too.
    let digest = sha256(b"never finished");
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!("POST /v2/r/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nNEVER-DONE");
    tcp.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(tcp);

    // The session is still at byte 10 and takes the next chunk once the dropped request has
    // let go of it.
    let r = s.get(&loc).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("range"), Some("0-9"));
    let mut status = StatusCode::RANGE_NOT_SATISFIABLE;
    for _ in 0..100 {
        status = s
            .send("PATCH", &loc, &[("content-range", "10-13")], "more")
            .await
            .status;
        if status != StatusCode::RANGE_NOT_SATISFIABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, StatusCode::ACCEPTED);
    let whole = sha256(b"first partmore");
    let r = s.empty("PUT", &format!("{loc}?digest={whole}")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        s.get(&format!("/v2/r/blobs/{whole}")).await.body,
        "first partmore"
    );
    assert_eq!(
        s.head(&format!("/v2/r/blobs/{digest}")).await.status,
        StatusCode::NOT_FOUND
    );
    // Neither unacknowledged body left bytes behind.
    let mut leftovers = Vec::new();
    for _ in 0..50 {
        leftovers = files_containing(&s, b"UNACKED-XY");
        leftovers.extend(files_containing(&s, b"NEVER-DONE"));
        if leftovers.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn cancel_and_failed_push_leave_no_temp_file() {
    let s = start().await;
    let loc = s.start_upload("r", "").await;
    s.send("PATCH", &loc, &[], "CANCELLED-BYTES").await;
    assert_eq!(s.empty("DELETE", &loc).await.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&loc).await.status, StatusCode::NOT_FOUND);
    let claimed = sha256(b"x");
    let r = s
        .send(
            "POST",
            &format!("/v2/r/blobs/uploads/?digest={claimed}"),
            &[],
            "NOT-X-BYTES",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(files_containing(&s, b"CANCELLED-BYTES").is_empty());
    assert!(files_containing(&s, b"NOT-X-BYTES").is_empty());
}

#[tokio::test]
async fn percent_encoded_query_values_are_decoded() {
    let s = start().await;
    let data = b"encoded";
    let digest = sha256(data);
    let encoded = digest.replace(':', "%3A");
    let r = s
        .send(
            "POST",
            &format!("/v2/ns/src/blobs/uploads/?digest={encoded}"),
            &[],
            &data[..],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = s
        .empty(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={encoded}&from=ns%2Fsrc"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let loc = s.start_upload("dst", "").await;
    let r = s
        .send(
            "PUT",
            &format!("{loc}?digest={}", sha256(b"x").replace(':', "%3a")),
            &[],
            "x",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = s
        .send("POST", "/v2/dst/blobs/uploads/?digest=sha256%3", &[], "x")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error_code().is_some());
}

#[tokio::test]
async fn idle_sessions_expire_with_their_bytes() {
    let s = start_with(|l| l.upload_timeout(std::time::Duration::from_secs(1))).await;
    let old = s.start_upload("r", "").await;
    s.send("PATCH", &old, &[], "STALE-BYTES").await;
    let fresh = s.start_upload("r", "").await;
    // The sweep runs in the background (every second here); `fresh` is kept busy meanwhile.
    let mut expired = false;
    for offset in 0..40 {
        let range = format!("{offset}-{offset}");
        let r = s
            .send("PATCH", &fresh, &[("content-range", &range)], "x")
            .await;
        assert_eq!(
            r.status,
            StatusCode::ACCEPTED,
            "the active session never expires"
        );
        if s.get(&old).await.status == StatusCode::NOT_FOUND {
            expired = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    assert!(expired, "the idle session outlived its timeout");
    assert_eq!(s.get(&fresh).await.status, StatusCode::NO_CONTENT);
    assert!(files_containing(&s, b"STALE-BYTES").is_empty());
}

#[tokio::test]
async fn unstored_sessions_expire_too() {
    // A session that never received a byte is not stored; its id carries its start.
    let s = start_with(|l| l.upload_timeout(std::time::Duration::from_secs(1))).await;
    let loc = s.start_upload("r", "").await;
    assert_eq!(s.get(&loc).await.status, StatusCode::NO_CONTENT);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = s.get(&loc).await;
    assert_eq!(r.error_code().as_deref(), Some("BLOB_UPLOAD_UNKNOWN"));
    let r = s
        .send("PATCH", &loc, &[("content-range", "0-0")], "x")
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "PATCH of an expired session"
    );
    let r = s
        .send("PUT", &format!("{loc}?digest={}", sha256(b"x")), &[], "x")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "PUT of an expired session");
}

#[tokio::test]
async fn sha512_close_of_a_session_started_without_digest_algorithm() {
    // Clients SHOULD send ?digest-algorithm=, not MUST: the official conformance suite PATCHes
    // a session started without it and closes it with a sha512 digest and an empty body.
    let s = start().await;
    let data = b"chunk one, chunk two";
    let loc = s.start_upload("r", "").await;
    let r = s
        .send("PATCH", &loc, &[("content-range", "0-9")], &data[..10])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s
        .send("PATCH", &loc, &[("content-range", "10-19")], &data[10..])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let digest = sha512(data);
    let r = s.empty("PUT", &format!("{loc}?digest={digest}")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        s.get(&format!("/v2/r/blobs/{digest}")).await.body,
        &data[..]
    );
}

/// A small blob's response leaves in one write, head and bytes together, whatever the host's
/// socket options: the test server leaves Nagle's algorithm on, under which a body written
/// after its head waits for the client's delayed ACK (~40 ms per GET on a kept-alive
/// connection). Each response must arrive whole in the first read.
#[tokio::test]
async fn small_blob_responses_leave_in_one_write() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = start().await;
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let digest = s.push_blob("r", &data).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let request = format!("GET /v2/r/blobs/{digest} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut buf = vec![0u8; 256 * 1024];
    for round in 0..5 {
        tcp.write_all(request.as_bytes()).await.expect("write");
        let n = tcp.read(&mut buf).await.expect("read");
        let got = &buf[..n];
        let head_end = got
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("round {round}: no whole head in the first read"));
        assert!(got.starts_with(b"HTTP/1.1 200"), "round {round}");
        assert_eq!(
            &got[head_end + 4..],
            &data[..],
            "round {round}: the first read has the head and {} of {} body bytes",
            got.len() - head_end - 4,
            data.len()
        );
    }
}
