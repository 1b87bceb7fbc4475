//! The built-in authenticators over real HTTP (feature `auth`): Basic against an htpasswd file
//! with a policy, Bearer tokens from the built-in issuer (mounted at `/token` beside the
//! registry), and the refusals with their exact challenges.
#![cfg(feature = "auth")]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use common::Reply;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::{service_fn, Layer, ServiceExt};
use tower_oci::auth::{
    BasicAuth, BearerAuth, BearerConfig, Htpasswd, Policy, SigningKey, TokenIssuer,
    TokenIssuerConfig,
};
use tower_oci::OciLayer;

const POLICY: &str = "\
admin root
alice team/** pull,push,delete
bob   team/** pull
*     shared/* pull,push
anonymous public/** pull
";

const SERVICE: &str = "registry.test";

/// Users alice/alice-pw, bob/bob-pw, root/root-pw (bcrypt cost 4, as `htpasswd -B -C 4`).
fn htpasswd() -> Htpasswd {
    let line = |user: &str| {
        let hash = bcrypt::hash_with_result(format!("{user}-pw"), 4)
            .expect("hash")
            .format_for_version(bcrypt::Version::TwoY);
        format!("{user}:{hash}\n")
    };
    let text = ["alice", "bob", "root"].map(line).concat();
    Htpasswd::parse(&text).expect("htpasswd")
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

struct Server {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A registry guarded by `layer`'s authorizer, with `issuer` (if any) answering `/token`.
async fn serve(
    configure: impl FnOnce(OciLayer, SocketAddr) -> OciLayer,
    issuer: Option<TokenIssuer>,
) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let layer = configure(OciLayer::new(dir.path().join("data")), addr);
    let inner = service_fn(move |req: Request<hyper::body::Incoming>| {
        let issuer = issuer.clone();
        async move {
            match issuer {
                Some(issuer) if req.uri().path() == "/token" => issuer.oneshot(req).await,
                _ => {
                    let mut res = http::Response::new(tower_oci::RegistryBody::full("no"));
                    *res.status_mut() = StatusCode::NOT_FOUND;
                    Ok::<_, Infallible>(res)
                }
            }
        }
    });
    let svc = layer.layer(inner);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Server {
        addr,
        _dir: dir,
        task,
    }
}

impl Server {
    async fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Reply {
        self.send_with(method, path, auth, &[], body).await
    }

    async fn send_with(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).expect("request");
        let res = client.request(req).await.expect("request failed");
        Reply::read(res).await
    }

    async fn push_blob(&self, repo: &str, auth: Option<&str>, data: &'static [u8]) -> Reply {
        let digest = common::sha256(data);
        self.send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
            auth,
            data,
        )
        .await
    }

    fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }
}

async fn basic_server() -> Server {
    let auth = BasicAuth::new(
        Arc::new(htpasswd()),
        Arc::new(Policy::parse(POLICY).expect("policy")),
    )
    .realm("test registry");
    serve(|layer, _| layer.authorizer(Arc::new(auth)), None).await
}

fn unauthorized(detail: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"errors": [{
        "code": "UNAUTHORIZED", "message": "authentication required", "detail": detail,
    }]})
}

fn entry(name: &str, action: &str) -> serde_json::Value {
    serde_json::json!({"Type": "repository", "Name": name, "Action": action})
}

#[tokio::test]
async fn basic_refusals_carry_the_exact_challenge() {
    let s = basic_server().await;
    let challenge = Some("Basic realm=\"test registry\"");
    for auth in [
        None,
        Some(basic("alice", "wrong").as_str()),
        Some(basic("mallory", "alice-pw").as_str()),
        Some("Basic !!!not-base64"),
        Some("Bearer something"),
    ] {
        let r = s.send("GET", "/v2/team/app/tags/list", auth, "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(r.header("www-authenticate"), challenge, "{auth:?}");
        assert_eq!(
            r.json(),
            unauthorized(serde_json::json!([entry("team/app", "pull")]))
        );
        let r = s.send("GET", "/v2/", auth, "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "/v2/ {auth:?}");
        assert_eq!(r.header("www-authenticate"), challenge);
    }
    let alice = basic("alice", "alice-pw");
    let r = s.send("GET", "/v2/", Some(&alice), "").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn basic_policy_pull_only_push_and_delete_and_anonymous_pull() {
    let s = basic_server().await;
    let (alice, bob) = (basic("alice", "alice-pw"), basic("bob", "bob-pw"));
    let r = s.push_blob("team/app", Some(&alice), b"layer").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let digest = common::sha256(b"layer");
    // bob may pull, not push nor delete: authenticated, so 403.
    let blob = format!("/v2/team/app/blobs/{digest}");
    assert_eq!(
        s.send("GET", &blob, Some(&bob), "").await.status,
        StatusCode::OK
    );
    let r = s.push_blob("team/app", Some(&bob), b"mine").await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (StatusCode::FORBIDDEN, Some("DENIED"))
    );
    let r = s.send("DELETE", &blob, Some(&bob), "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json()["errors"][0]["detail"],
        serde_json::json!([entry("team/app", "delete")])
    );
    // Anonymous: pull in public/**, nothing else (401: credentials might help).
    let r = s.push_blob("public/x", Some(&alice), b"open").await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "alice may not push to public"
    );
    let root = basic("root", "root-pw");
    assert_eq!(
        s.push_blob("public/x", Some(&root), b"open").await.status,
        StatusCode::CREATED
    );
    let open = format!("/v2/public/x/blobs/{}", common::sha256(b"open"));
    assert_eq!(s.send("GET", &open, None, "").await.status, StatusCode::OK);
    // An empty user and password (containers/image without credentials) is anonymous.
    let empty = basic("", "");
    assert_eq!(
        s.send("GET", &open, Some(&empty), "").await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.send("GET", &blob, Some(&empty), "").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.send("GET", &blob, None, "").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.push_blob("public/x", None, b"anon").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Any authenticated user: shared/*.
    assert_eq!(
        s.push_blob("shared/x", Some(&bob), b"s").await.status,
        StatusCode::CREATED
    );

    // Mount with `from` needs pull there; without, only pullable repositories are used.
    let secret = s.push_blob("secret/vault", Some(&root), b"secret").await;
    assert_eq!(secret.status, StatusCode::CREATED);
    let secret = common::sha256(b"secret");
    let r = s
        .send(
            "POST",
            &format!("/v2/team/app/blobs/uploads/?mount={secret}&from=secret/vault"),
            Some(&alice),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .send(
            "POST",
            &format!("/v2/team/app/blobs/uploads/?mount={secret}"),
            Some(&alice),
            "",
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "not mounted from secret/vault"
    );
    let r = s
        .send(
            "POST",
            &format!(
                "/v2/team/app/blobs/uploads/?mount={}",
                common::sha256(b"open")
            ),
            Some(&alice),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "mounted from public/x");

    // The catalog: what each may pull.
    let r = s.send("GET", "/v2/_catalog", Some(&bob), "").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["public/x", "shared/x", "team/app"])
    );
    let r = s.send("GET", "/v2/_catalog", None, "").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["public/x"]));
    let r = s.send("GET", "/v2/_catalog?n=1", Some(&root), "").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["public/x"]));
    assert!(r.header("link").is_some());
}

#[tokio::test]
async fn basic_sessions_are_bound_to_their_user() {
    let s = basic_server().await;
    let (alice, root) = (basic("alice", "alice-pw"), basic("root", "root-pw"));
    let r = s
        .send("POST", "/v2/team/app/blobs/uploads/", Some(&alice), "")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let loc = r.header("location").expect("location").to_owned();
    let r = s.send("PATCH", &loc, Some(&root), "data").await;
    assert_eq!(r.error_code().as_deref(), Some("BLOB_UPLOAD_UNKNOWN"));
    let r = s.send("PATCH", &loc, None, "data").await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "re-checked on every request"
    );
    let r = s.send("PATCH", &loc, Some(&alice), "data").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
}

/// `max_uploads_per_principal`: a user's sessions holding bytes are capped (429 at the POST
/// once reached, or at the first byte of a session opened before); other users are not held
/// by them, and neither is a registry without an authorizer.
#[tokio::test]
async fn open_sessions_are_capped_per_user() {
    let auth = BasicAuth::new(
        Arc::new(htpasswd()),
        Arc::new(Policy::parse(POLICY).expect("policy")),
    );
    let s = serve(
        |layer, _| {
            layer
                .authorizer(Arc::new(auth))
                .max_uploads_per_principal(2)
        },
        None,
    )
    .await;
    let (alice, root) = (basic("alice", "alice-pw"), basic("root", "root-pw"));
    let open = |auth: String, repo: &'static str| {
        let s = &s;
        async move {
            let r = s
                .send(
                    "POST",
                    &format!("/v2/{repo}/blobs/uploads/"),
                    Some(&auth),
                    "",
                )
                .await;
            (r.status, r.header("location").map(str::to_owned), r)
        }
    };
    // An opened but empty session is not counted: the third one opens.
    let mut sessions = Vec::new();
    for repo in ["team/a", "team/b", "team/c"] {
        let (status, loc, _) = open(alice.clone(), repo).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        sessions.push(loc.expect("location"));
    }
    for loc in &sessions[..2] {
        let r = s.send("PATCH", loc, Some(&alice), "data").await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    // Its first byte would be alice's third stored session.
    let r = s.send("PATCH", &sessions[2], Some(&alice), "data").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.error_code().as_deref(), Some("TOOMANYREQUESTS"));
    assert_eq!(r.header("retry-after"), Some("10"));
    let (status, _, r) = open(alice.clone(), "team/d").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    // Another user is not held by alice's sessions.
    let (status, loc, _) = open(root.clone(), "team/a").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let r = s
        .send("PATCH", &loc.expect("location"), Some(&root), "data")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // A finished session frees its place.
    let digest = common::sha256(b"data");
    let r = s
        .send(
            "PUT",
            &format!("{}?digest={digest}", sessions[0]),
            Some(&alice),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = s.send("PATCH", &sessions[2], Some(&alice), "data").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);

    // Without an authorizer every session is anonymous: only the other caps hold.
    let open_registry = serve(|layer, _| layer.max_uploads_per_principal(1), None).await;
    for repo in ["a", "b", "c"] {
        let r = open_registry
            .send("POST", &format!("/v2/{repo}/blobs/uploads/"), None, "")
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        let loc = r.header("location").expect("location").to_owned();
        let r = open_registry.send("PATCH", &loc, None, "data").await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
}

struct Bearer {
    server: Server,
    key: Arc<SigningKey>,
}

async fn bearer_server() -> Bearer {
    let key = SigningKey::generate_es256().expect("key");
    let trusted = key.verifying_key();
    let policy = Arc::new(Policy::parse(POLICY).expect("policy"));
    let issuer = TokenIssuer::new(TokenIssuerConfig::new(
        "issuer.test",
        SERVICE,
        key,
        Arc::new(htpasswd()),
        policy,
    ));
    let server = serve(
        |layer, addr| {
            let config = BearerConfig::new(
                format!("http://{addr}/token"),
                SERVICE,
                "issuer.test",
                vec![trusted],
            );
            layer.authorizer(Arc::new(BearerAuth::new(config)))
        },
        Some(issuer),
    )
    .await;
    Bearer {
        server,
        key: Arc::new(SigningKey::generate_es256().expect("spare")),
    }
}

impl Bearer {
    async fn token(&self, auth: Option<&str>, scopes: &[&str]) -> Reply {
        let query: String = scopes.iter().map(|s| format!("&scope={s}")).collect();
        self.server
            .send("GET", &format!("/token?service={SERVICE}{query}"), auth, "")
            .await
    }

    async fn token_for(&self, auth: Option<&str>, scopes: &[&str]) -> String {
        let r = self.token(auth, scopes).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let json = r.json();
        assert_eq!(json["token"], json["access_token"]);
        assert_eq!(json["expires_in"], 300);
        assert!(json["issued_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        format!("Bearer {}", json["token"].as_str().expect("token"))
    }

    fn challenge(&self, scope: Option<&str>, error: Option<&str>) -> String {
        let mut c = format!(
            "Bearer realm=\"{}\",service=\"{SERVICE}\"",
            self.server.realm()
        );
        if let Some(scope) = scope {
            c.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(error) = error {
            c.push_str(&format!(",error=\"{error}\""));
        }
        c
    }
}

#[tokio::test]
async fn bearer_end_to_end_through_the_issuer() {
    let b = bearer_server().await;
    let s = &b.server;
    // No token: the challenge names realm, service and scope.
    let r = s.push_blob("team/app", None, b"layer").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            b.challenge(Some("repository:team/app:pull,push"), None)
                .as_str()
        )
    );
    assert_eq!(
        r.json(),
        unauthorized(serde_json::json!([
            entry("team/app", "pull"),
            entry("team/app", "push")
        ]))
    );
    let r = s.send("GET", "/v2/", None, "").await;
    assert_eq!(
        r.header("www-authenticate"),
        Some(b.challenge(None, None).as_str())
    );

    // A token got with Basic credentials, used as Bearer.
    let alice = basic("alice", "alice-pw");
    let token = b
        .token_for(Some(&alice), &["repository:team/app:pull,push"])
        .await;
    let r = s.push_blob("team/app", Some(&token), b"layer").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let blob = format!("/v2/team/app/blobs/{}", common::sha256(b"layer"));
    assert_eq!(
        s.send("GET", &blob, Some(&token), "").await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.send("GET", "/v2/", Some(&token), "").await.status,
        StatusCode::OK
    );

    // The token does not grant delete, nor anything in another repository.
    let r = s.send("DELETE", &blob, Some(&token), "").await;
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            b.challenge(
                Some("repository:team/app:delete"),
                Some("insufficient_scope")
            )
            .as_str()
        )
    );
    let r = s.push_blob("team/other", Some(&token), b"x").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            b.challenge(
                Some("repository:team/other:pull,push"),
                Some("insufficient_scope")
            )
            .as_str()
        )
    );

    // bob asks for pull,push and gets pull only: the push is refused.
    let bob = basic("bob", "bob-pw");
    let token = b
        .token_for(Some(&bob), &["repository:team/app:pull,push"])
        .await;
    assert_eq!(
        s.send("GET", &blob, Some(&token), "").await.status,
        StatusCode::OK
    );
    let r = s.push_blob("team/app", Some(&token), b"bob's").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Anonymous tokens get what anonymous may do.
    let token = b.token_for(None, &["repository:team/app:pull"]).await;
    assert_eq!(
        s.send("GET", &blob, Some(&token), "").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Wrong credentials at the issuer: 401 with a Basic challenge.
    let r = b
        .token(Some(&basic("alice", "nope")), &["repository:team/app:pull"])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|c| c.starts_with("Basic ")));
    let r = s.send("GET", "/token?service=elsewhere", None, "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The OAuth2 POST form.
    let form = "grant_type=password&username=alice&password=alice-pw&service=registry.test\
                &scope=repository%3Ateam%2Fapp%3Apull+repository%3Ashared%2Fx%3Apull&client_id=test";
    let r = s
        .send_with(
            "POST",
            "/token",
            None,
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let token = format!(
        "Bearer {}",
        r.json()["access_token"].as_str().expect("token")
    );
    assert_eq!(
        s.send("GET", &blob, Some(&token), "").await.status,
        StatusCode::OK
    );
    let r = s
        .send_with(
            "POST",
            "/token",
            None,
            &[("content-type", "application/x-www-form-urlencoded")],
            "grant_type=password&username=alice&password=bad&service=registry.test",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .send_with(
            "POST",
            "/token",
            None,
            &[],
            "grant_type=refresh_token&refresh_token=x",
        )
        .await;
    assert_eq!(r.json()["error"], "unsupported_grant_type");
}

/// A token with these claims, signed by `key`.
fn forge(key: &SigningKey, claims: serde_json::Value) -> String {
    format!("Bearer {}", key.sign(&claims).expect("sign"))
}

fn claims(exp_offset: i64, aud: serde_json::Value, repo: &str) -> serde_json::Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    serde_json::json!({
        "iss": "issuer.test", "sub": "alice", "aud": aud,
        "exp": now + exp_offset, "nbf": now - 10, "iat": now - 10,
        "access": [{"type": "repository", "name": repo, "actions": ["pull"]}],
    })
}

#[tokio::test]
async fn bearer_refuses_bad_tokens_with_invalid_token() {
    let b = bearer_server().await;
    let s = &b.server;
    // Pushed with a token of the issuer, so there is something to read.
    let root = b
        .token_for(
            Some(&basic("root", "root-pw")),
            &["repository:team/app:pull,push"],
        )
        .await;
    assert_eq!(
        s.push_blob("team/app", Some(&root), b"layer").await.status,
        StatusCode::CREATED
    );
    let blob = format!("/v2/team/app/blobs/{}", common::sha256(b"layer"));
    let invalid = b.challenge(Some("repository:team/app:pull"), Some("invalid_token"));

    // Signed by a key the registry does not trust (b.key is a spare one).
    let other = forge(&b.key, claims(300, SERVICE.into(), "team/app"));
    // `alg: none`.
    let header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(claims(300, SERVICE.into(), "team/app").to_string());
    let none = format!("Bearer {header}.{body}.");
    for (what, token) in [
        ("another key", other),
        ("alg none", none),
        ("garbage", "Bearer not.a.token".to_owned()),
    ] {
        let r = s.send("GET", &blob, Some(&token), "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(invalid.as_str()),
            "{what}"
        );
    }

    // A token the issuer's key signed, but expired, for another audience, or another issuer.
    let issued = b
        .token_for(
            Some(&basic("alice", "alice-pw")),
            &["repository:team/app:pull"],
        )
        .await;
    assert_eq!(
        s.send("GET", &blob, Some(&issued), "").await.status,
        StatusCode::OK
    );
    // The claim checks, on a registry that trusts the spare key (so the test signs what it
    // likes).
    let config = |addr: SocketAddr| {
        BearerConfig::new(
            format!("http://{addr}/token"),
            SERVICE,
            "issuer.test",
            vec![b.key.verifying_key()],
        )
    };
    let spare = serve(
        |layer, addr| layer.authorizer(Arc::new(BearerAuth::new(config(addr)))),
        None,
    )
    .await;
    let blob_path = "/v2/team/app/tags/list";
    let ok = forge(
        &b.key,
        claims(300, serde_json::json!(["x", SERVICE]), "team/app"),
    );
    let r = spare.send("GET", blob_path, Some(&ok), "").await;
    assert_eq!(
        r.error_code().as_deref(),
        Some("NAME_UNKNOWN"),
        "audience in an array"
    );
    let challenge = format!(
        "Bearer realm=\"http://{}/token\",service=\"{SERVICE}\",scope=\"repository:team/app:pull\",error=\"invalid_token\"",
        spare.addr
    );
    let mut wrong_issuer = claims(300, SERVICE.into(), "team/app");
    wrong_issuer["iss"] = "elsewhere".into();
    let mut not_yet = claims(3600, SERVICE.into(), "team/app");
    not_yet["nbf"] = (not_yet["iat"].as_i64().unwrap_or(0) + 600).into();
    for (what, claims) in [
        ("expired", claims(-120, SERVICE.into(), "team/app")),
        (
            "other audience",
            claims(300, "elsewhere".into(), "team/app"),
        ),
        ("other issuer", wrong_issuer),
        ("not yet valid", not_yet),
    ] {
        let r = spare
            .send("GET", blob_path, Some(&forge(&b.key, claims)), "")
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(challenge.as_str()),
            "{what}"
        );
    }
    // Expired, but within the 60 s leeway: accepted.
    let r = spare
        .send(
            "GET",
            blob_path,
            Some(&forge(&b.key, claims(-30, SERVICE.into(), "team/app"))),
            "",
        )
        .await;
    assert_eq!(r.error_code().as_deref(), Some("NAME_UNKNOWN"));
    // For another repository: insufficient scope.
    let r = spare
        .send(
            "GET",
            blob_path,
            Some(&forge(&b.key, claims(300, SERVICE.into(), "team/other"))),
            "",
        )
        .await;
    assert!(r
        .header("www-authenticate")
        .is_some_and(|c| c.ends_with("error=\"insufficient_scope\"")));
}

#[tokio::test]
async fn rs256_tokens_from_an_openssl_key() {
    // ring cannot generate RSA keys; openssl (a dependency of ca-certificates) can.
    let Ok(out) = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
    else {
        eprintln!("openssl not found: RS256 not tested");
        return;
    };
    let pem = String::from_utf8(out.stdout).expect("pem");
    let key = SigningKey::from_pem(&pem).expect("RSA PKCS#8 key");
    let trusted = key.verifying_key();
    let s = serve(
        |layer, addr| {
            let config = BearerConfig::new(
                format!("http://{addr}/token"),
                SERVICE,
                "issuer.test",
                vec![trusted],
            );
            layer.authorizer(Arc::new(BearerAuth::new(config)))
        },
        None,
    )
    .await;
    let token = forge(&key, claims(300, SERVICE.into(), "team/app"));
    assert!(token.contains('.'));
    let r = s
        .send("GET", "/v2/team/app/tags/list", Some(&token), "")
        .await;
    assert_eq!(
        r.error_code().as_deref(),
        Some("NAME_UNKNOWN"),
        "{:?}",
        r.body
    );
    let header = token
        .trim_start_matches("Bearer ")
        .split('.')
        .next()
        .unwrap_or("");
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("b64");
    let header: serde_json::Value = serde_json::from_slice(&header).expect("json");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(
        header["kid"].as_str().map(|k| k.split(':').count()),
        Some(12)
    );
}
