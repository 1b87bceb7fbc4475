//! The authorization hook over real HTTP, with a host's own authorizer (a closure): challenges
//! and denials before any body byte is read, upload sessions bound to their principal, the
//! catalog filtered (and paged correctly), mounts only from repositories the principal may pull.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use tower_oci::auth::{Access, Actions, Challenge, Decision, Principal};
use tower_oci::OciLayer;

/// `x-user: alice` may do anything except in `secret*`; `bob` may pull and push in `bob*` and
/// pull in `public*`; `root` may do anything; nobody else gets in.
fn may(user: &str, repo: &str, actions: Actions) -> bool {
    match user {
        "root" => true,
        "alice" => !repo.starts_with("secret"),
        "bob" if repo.starts_with("bob") => (Actions::PULL | Actions::PUSH).contains(actions),
        "bob" if repo.starts_with("public") => actions == Actions::PULL,
        _ => false,
    }
}

fn decide(user: Option<&str>, access: Access<'_>) -> Decision {
    let Some(user) = user else {
        return Decision::Challenge(Challenge::basic("test"));
    };
    let allowed = match access {
        Access::Base | Access::Catalog => true,
        Access::Repository { name, actions } => may(user, name, actions),
        Access::Mount { name, from } => {
            may(user, name, Actions::PULL | Actions::PUSH) && may(user, from, Actions::PULL)
        }
        _ => false,
    };
    if allowed {
        Decision::Allow(Principal::named(user))
    } else {
        Decision::Deny
    }
}

fn guarded(layer: OciLayer) -> OciLayer {
    layer.authorizer(Arc::new(
        |head: &http::request::Parts, access: Access<'_>| {
            let user = head
                .headers
                .get("x-user")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let decision = decide(user.as_deref(), access);
            async move { decision }
        },
    ))
}

fn as_user(user: &str) -> [(&str, &str); 1] {
    [("x-user", user)]
}

async fn push_blob_as(s: &common::TestServer, user: &str, repo: &str, data: &[u8]) -> String {
    let digest = common::sha256(data);
    let r = s
        .send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            &as_user(user),
            Bytes::copy_from_slice(data),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "push to {repo}: {:?}",
        r.body
    );
    digest
}

#[tokio::test]
async fn challenge_is_401_with_header_and_detail_before_the_body_is_read() {
    let s = common::start_with(guarded).await;
    let data = vec![7u8; 64 * 1024];
    let digest = common::sha256(&data);
    let r = s
        .send(
            "POST",
            &format!("/v2/team/app/blobs/uploads/?digest={digest}"),
            &[],
            data,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"test\""));
    assert_eq!(r.header("connection"), Some("close"), "body left unread");
    assert_eq!(
        r.json(),
        serde_json::json!({"errors": [{
            "code": "UNAUTHORIZED",
            "message": "authentication required",
            "detail": [
                {"Type": "repository", "Name": "team/app", "Action": "pull"},
                {"Type": "repository", "Name": "team/app", "Action": "push"},
            ],
        }]})
    );
    // Nothing was stored.
    let r = s
        .send(
            "HEAD",
            &format!("/v2/team/app/blobs/{digest}"),
            &as_user("root"),
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = s.get("/v2/").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["errors"][0]["detail"], serde_json::json!([]));
    let r = s.send("GET", "/v2/", &as_user("bob"), Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn deny_is_403_denied_naming_what_was_needed() {
    let s = common::start_with(guarded).await;
    let r = s
        .send(
            "DELETE",
            "/v2/bob/app/manifests/latest",
            &as_user("bob"),
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json(),
        serde_json::json!({"errors": [{
            "code": "DENIED",
            "message": "requested access to the resource is denied",
            "detail": [{"Type": "repository", "Name": "bob/app", "Action": "delete"}],
        }]})
    );
    // Pull-only: a push is refused, a pull goes on (404: nothing there).
    let r = s
        .send(
            "POST",
            "/v2/public/x/blobs/uploads/",
            &as_user("bob"),
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .send(
            "GET",
            "/v2/public/x/tags/list",
            &as_user("bob"),
            Bytes::new(),
        )
        .await;
    assert_eq!(r.error_code().as_deref(), Some("NAME_UNKNOWN"));
}

#[tokio::test]
async fn a_session_is_bound_to_the_principal_that_opened_it() {
    let s = common::start_with(guarded).await;
    let r = s
        .send(
            "POST",
            "/v2/shared/x/blobs/uploads/",
            &as_user("alice"),
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let loc = r.header("location").expect("location").to_owned();
    // root may push to the repository, but the session is alice's.
    for (method, body) in [("GET", ""), ("PATCH", "bytes"), ("DELETE", "")] {
        let r = s.send(method, &loc, &as_user("root"), body).await;
        assert_eq!(
            (r.status, r.error_code().as_deref()),
            (StatusCode::NOT_FOUND, Some("BLOB_UPLOAD_UNKNOWN")),
            "{method} by another principal"
        );
    }
    let digest = common::sha256(b"bytes");
    let close = format!("{loc}?digest={digest}");
    let r = s.send("PUT", &close, &as_user("root"), "bytes").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "closing PUT by another");
    let r = s.send("PATCH", &loc, &as_user("alice"), "bytes").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s.send("PUT", &close, &as_user("alice"), "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn the_catalog_lists_only_what_the_principal_may_pull_and_pages_correctly() {
    let s = common::start_with(|l| guarded(l).page_cap(2)).await;
    for repo in ["a", "bob1", "bob2", "c", "public1", "secret", "z"] {
        push_blob_as(&s, "root", repo, repo.as_bytes()).await;
    }
    let page = |user: &'static str, query: &'static str| {
        let s = &s;
        async move {
            s.send(
                "GET",
                &format!("/v2/_catalog{query}"),
                &as_user(user),
                Bytes::new(),
            )
            .await
        }
    };
    let r = page("bob", "?n=2").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["bob1", "bob2"])
    );
    assert_eq!(
        r.header("link"),
        Some("</v2/_catalog?n=2&last=bob2>; rel=\"next\"")
    );
    let r = page("bob", "?n=2&last=bob2").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["public1"]));
    assert_eq!(r.header("link"), None, "no empty page follows");
    let r = page("alice", "").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["a", "bob1"]));
    let r = page("alice", "?last=public1").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["z"]));
    assert_eq!(r.header("link"), None);
}

#[tokio::test]
async fn mounts_link_only_from_repositories_the_principal_may_pull() {
    let s = common::start_with(guarded).await;
    let secret = push_blob_as(&s, "root", "secret", b"secret layer").await;
    let public = push_blob_as(&s, "root", "public1", b"public layer").await;
    let mount = |digest: &str, from: Option<&str>| {
        let from = from.map(|f| format!("&from={f}")).unwrap_or_default();
        format!("/v2/bob/app/blobs/uploads/?mount={digest}{from}")
    };
    // With `from`: pull there is needed.
    let r = s
        .send(
            "POST",
            &mount(&secret, Some("secret")),
            &as_user("bob"),
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json()["errors"][0]["detail"][2],
        serde_json::json!({"Type": "repository", "Name": "secret", "Action": "pull"})
    );
    let r = s
        .send(
            "POST",
            &mount(&public, Some("public1")),
            &as_user("bob"),
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // Without `from`: only repositories bob may pull are looked at.
    let r = s
        .send("POST", &mount(&secret, None), &as_user("bob"), Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "an upload, not a mount");
    let r = s
        .send(
            "GET",
            &format!("/v2/bob/app/blobs/{secret}"),
            &as_user("bob"),
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let other = push_blob_as(&s, "root", "public1", b"another public layer").await;
    let r = s
        .send("POST", &mount(&other, None), &as_user("bob"), Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn deleted_content_is_not_mounted_back_without_from() {
    // The open default too: stored content no repository links is not mountable.
    let s = common::start().await;
    let digest = s.push_blob("first", b"deleted everywhere").await;
    let r = s
        .empty("DELETE", &format!("/v2/first/blobs/{digest}"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s
        .empty("POST", &format!("/v2/second/blobs/uploads/?mount={digest}"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "an upload, not a mount");
    let r = s.head(&format!("/v2/second/blobs/{digest}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Content a repository still holds is.
    let kept = s.push_blob("first", b"still held").await;
    let r = s
        .empty("POST", &format!("/v2/second/blobs/uploads/?mount={kept}"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_principal_is_in_the_response_extensions() {
    use http_body_util::Empty;
    use tower::{Layer, ServiceExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = tower::service_fn(|_req: http::Request<Empty<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Empty::<Bytes>::new()))
    });
    let svc = guarded(OciLayer::new(dir.path())).layer(inner);
    let req = http::Request::get("/v2/")
        .header("x-user", "alice")
        .body(Empty::new())
        .expect("request");
    let res = svc.clone().oneshot(req).await.expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.extensions().get::<Principal>(),
        Some(&Principal::named("alice"))
    );
    let req = http::Request::get("/v2/")
        .body(Empty::new())
        .expect("request");
    let res = svc.oneshot(req).await.expect("response");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.extensions().get::<Principal>(), None);
}
