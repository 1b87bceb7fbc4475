//! Tag lists and the catalog: order, `n`, `last`, `Link`.

mod common;

use common::{start, start_with, OCI_MANIFEST};
use http::StatusCode;

async fn tag_all(s: &common::TestServer, repo: &str, tags: &[&str]) {
    let (bytes, _) = s.push_image(repo, tags[0], "seed").await;
    for t in &tags[1..] {
        let r = s
            .put_manifest(
                &format!("/v2/{repo}/manifests/{t}"),
                OCI_MANIFEST,
                bytes.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn tags_are_sorted_and_paged() {
    let s = start().await;
    tag_all(&s, "r", &["v2", "B", "a", "v10", "_x", "v1"]).await;
    let r = s.get("/v2/r/tags/list").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["name"], "r");
    assert_eq!(
        r.json()["tags"],
        serde_json::json!(["B", "_x", "a", "v1", "v10", "v2"])
    );
    assert_eq!(r.header("link"), None);

    let r = s.get("/v2/r/tags/list?n=2").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["B", "_x"]));
    assert_eq!(
        r.header("link"),
        Some("</v2/r/tags/list?n=2&last=_x>; rel=\"next\"")
    );
    let r = s.get("/v2/r/tags/list?n=2&last=_x").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["a", "v1"]));
    let r = s.get("/v2/r/tags/list?n=10&last=v1").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v10", "v2"]));
    assert_eq!(r.header("link"), None);
    let r = s.get("/v2/r/tags/list?last=v10").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v2"]));
    let r = s.get("/v2/r/tags/list?n=0").await;
    assert_eq!(
        (r.status, r.json()["tags"].clone()),
        (StatusCode::OK, serde_json::json!([]))
    );
    assert_eq!(r.header("link"), None);
    for bad in ["n=-1", "n=abc", "n=", "last=bad!tag"] {
        let r = s.get(&format!("/v2/r/tags/list?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.error_code().is_some());
    }
    let r = s.get("/v2/unknown/tags/list").await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (StatusCode::NOT_FOUND, Some("NAME_UNKNOWN"))
    );
}

#[tokio::test]
async fn page_cap_limits_pages_and_links_onward() {
    let s = start_with(|l| l.page_cap(2)).await;
    tag_all(&s, "r", &["a", "b", "c"]).await;
    let r = s.get("/v2/r/tags/list").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(
        r.header("link"),
        Some("</v2/r/tags/list?n=2&last=b>; rel=\"next\"")
    );
}

#[tokio::test]
async fn catalog_lists_repositories_in_order_with_paging() {
    let s = start().await;
    for repo in ["zeta", "alpha/one", "alpha", "mid/dle/deep"] {
        s.push_image(repo, "v1", repo).await;
    }
    let r = s.get("/v2/_catalog").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["alpha", "alpha/one", "mid/dle/deep", "zeta"])
    );
    let r = s.get("/v2/_catalog?n=2").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["alpha", "alpha/one"])
    );
    assert_eq!(
        r.header("link"),
        Some("</v2/_catalog?n=2&last=alpha/one>; rel=\"next\"")
    );
    let r = s.get("/v2/_catalog?n=2&last=alpha/one").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["mid/dle/deep", "zeta"])
    );
}
