//! The registry example's `--metrics` (crate feature `metrics`): Prometheus text at `/metrics`,
//! outside `/v2/`, with every family the registry records, and values that move as requests
//! are made. Run with `cargo test --features metrics --test metrics`.
#![cfg(feature = "metrics")]

mod common;
mod process;

use bytes::Bytes;
use http::StatusCode;
use process::{pattern, RegistryProcess, Remote};

/// The value of the sample whose line starts with `series` (name and labels, as rendered),
/// or 0 when there is none.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// The sum of every sample of family `name` whose labels contain all of `labels`.
fn total(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (family, rest) = series.split_once('{').unwrap_or((series, ""));
            (family == name && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

async fn scrape(c: &Remote) -> String {
    let r = c.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK, "GET /metrics");
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "content type {:?}",
        r.header("content-type")
    );
    String::from_utf8(r.body.to_vec()).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_families_move_with_requests() {
    let root = tempfile::tempdir().expect("tempdir");
    let registry = RegistryProcess::start_with(
        root.path(),
        &[
            "--no-fsync",
            "--metrics",
            "--gc-interval",
            "1s",
            "--gc-grace",
            "1h",
        ],
    );
    let c = registry.client();
    let repo = "metrics/app";

    // One of each: a blob pushed in one request, read back, a miss, and a chunked session.
    let data = pattern(300_000, 1);
    let digest = c.push_blob(repo, &data).await;
    let r = c.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(r.body.len(), data.len());
    let r = c
        .get(&format!("/v2/{repo}/blobs/sha256:{}", "0".repeat(64)))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let loc = c.start_upload(repo).await;
    let r = c.patch(&loc, 0, Bytes::from_static(b"first chunk")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);

    let before = scrape(&c).await;
    for family in [
        "oci_http_requests_total",
        "oci_http_request_duration_seconds",
        "oci_blob_bytes_received_total",
        "oci_blob_bytes_sent_total",
        "oci_upload_sessions_open",
        "oci_storage_operation_duration_seconds",
        "oci_storage_errors_total",
    ] {
        assert!(
            before.contains(&format!("# TYPE {family} ")),
            "family {family} missing from:\n{before}"
        );
    }
    let blob_gets = total(
        &before,
        "oci_http_requests_total",
        &["method=\"GET\"", "endpoint=\"blob\"", "status=\"200\""],
    );
    assert_eq!(blob_gets, 1.0, "{before}");
    assert_eq!(
        total(
            &before,
            "oci_http_requests_total",
            &["endpoint=\"blob\"", "status=\"404\""]
        ),
        1.0
    );
    let received = sample(&before, "oci_blob_bytes_received_total");
    assert_eq!(received, (data.len() + b"first chunk".len()) as f64);
    assert_eq!(
        sample(&before, "oci_blob_bytes_sent_total"),
        data.len() as f64
    );
    assert_eq!(sample(&before, "oci_upload_sessions_open"), 1.0);
    assert!(
        total(&before, "oci_storage_errors_total", &["kind=\"not_found\""]) >= 1.0,
        "{before}"
    );

    // More requests move the values; finishing the session closes it.
    for _ in 0..3 {
        let r = c.get(&format!("/v2/{repo}/blobs/{digest}")).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let whole = common::sha256(b"first chunk");
    let r = c.finish(&loc, &whole, Bytes::new()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let after = scrape(&c).await;
    assert_eq!(
        total(
            &after,
            "oci_http_requests_total",
            &["method=\"GET\"", "endpoint=\"blob\"", "status=\"200\""],
        ),
        4.0
    );
    assert_eq!(
        sample(&after, "oci_blob_bytes_sent_total"),
        4.0 * data.len() as f64
    );
    assert_eq!(sample(&after, "oci_upload_sessions_open"), 0.0);
    assert!(
        total(
            &after,
            "oci_http_request_duration_seconds_count",
            &["endpoint=\"blob\""]
        ) >= 5.0,
        "{after}"
    );

    // The collector runs every second here: its runs are counted.
    let mut gc_runs = 0.0;
    for _ in 0..50 {
        gc_runs = total(&scrape(&c).await, "oci_gc_runs_total", &["outcome=\"ok\""]);
        if gc_runs >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gc_runs >= 1.0, "no garbage collection run counted");

    // /metrics is the host's, not the registry's: it is not counted as a registry request.
    assert_eq!(
        total(&after, "oci_http_requests_total", &["endpoint=\"invalid\""]),
        0.0
    );
}

/// Refusals by the authorizer are counted by reason (`--features metrics,auth`).
#[cfg(feature = "auth")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_are_counted_by_reason() {
    let root = tempfile::tempdir().expect("tempdir");
    let hash = bcrypt::hash_with_result("alice-pw", 5)
        .expect("bcrypt")
        .format_for_version(bcrypt::Version::TwoY);
    let htpasswd = root.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).expect("htpasswd");
    let htpasswd = htpasswd.to_str().expect("utf-8 path").to_owned();
    let data = root.path().join("data");
    let registry =
        RegistryProcess::start_with(&data, &["--no-fsync", "--metrics", "--htpasswd", &htpasswd]);
    let c = registry.client();
    let r = c.get("/v2/a/tags/list").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // alice:wrong
    let r = c
        .send(
            "GET",
            "/v2/a/tags/list",
            &[("authorization", "Basic YWxpY2U6d3Jvbmc=")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let text = scrape(&c).await;
    assert_eq!(
        total(
            &text,
            "oci_auth_failures_total",
            &["reason=\"missing_credentials\""]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        total(
            &text,
            "oci_auth_failures_total",
            &["reason=\"invalid_credentials\""]
        ),
        1.0,
        "{text}"
    );
}
