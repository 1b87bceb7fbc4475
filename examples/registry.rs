//! A standalone OCI registry: `OciLayer` around a service that answers 404.
//!
//! ```text
//! cargo run --release --example registry -- --listen 127.0.0.1:5000 --root ./registry-data
//! docker push 127.0.0.1:5000/hello:latest   # Docker treats 127.0.0.0/8 as an insecure registry
//! ```
//!
//! With `--features object-store`, `--storage s3://bucket/prefix` (or `gs://…`, `az://…`) keeps
//! everything in object storage instead, so any number of replicas can serve one bucket; the
//! endpoint and credentials come from the environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint). The
//! registry lists the bucket once at start, so a bad URL, a missing bucket or wrong credentials
//! stop it there with a message instead of failing the first push.
//!
//! Plain HTTP/1.1 (and HTTP/2 with prior knowledge), or HTTPS with `--tls-cert PEM --tls-key
//! PEM` (HTTP/2 and HTTP/1.1 by ALPN). The limits that keep a few clients from holding the
//! server (`--header-timeout`, `--body-timeout`, head size, buffered bytes per slow reader)
//! are in `support::builder` and `support::serve_with`. Bound to loopback, only requests
//! naming a loopback host are served (DNS rebinding); `--allow-host NAME` adds names. Requests
//! from web pages (an `Origin` header) are refused unless `--allow-origin` allows them.
//!
//! Authentication (`--features auth`): `--htpasswd FILE` asks for Basic credentials, with
//! `--policy FILE` (per-repository rules) and `--anonymous-pull`; `--token-key PEM` switches to
//! Bearer tokens from the built-in issuer at `/token`; `--token-trust PEM_OR_JWKS` with
//! `--token-realm`, `--token-service` and `--token-issuer` trusts an external token server.
//! Built without the feature, these flags stop it at start with a message.
//!
//! One log line per request on stderr, written by a background thread (lines are dropped, not
//! waited for, if stderr is not drained), without colours unless stderr is a terminal, and
//! with upload ids replaced by `<upload>` (they are capabilities). `RUST_LOG=debug` shows
//! more. Ctrl-C or SIGTERM stops accepting and lets open connections finish.

mod support;

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower::util::BoxCloneSyncService;
use tower::{service_fn, Layer, ServiceExt};
use tower_oci::auth::{Authorizer, Principal};
use tower_oci::protocol::redact_upload_id;
use tower_oci::{OciLayer, RegistryBody};

/// A service answering one path beside the registry (the token issuer at `/token`).
type Endpoint = BoxCloneSyncService<Request<Incoming>, Response<RegistryBody>, Infallible>;

/// What the authentication flags set up.
struct Auth {
    authorizer: Arc<dyn Authorizer>,
    /// The built-in token issuer, answering `/token`.
    token_issuer: Option<Endpoint>,
    /// For the start-up line: `basic`, `bearer (token issuer at …)`, ….
    summary: String,
}

/// `GET /metrics` with `--metrics`: the Prometheus text.
fn metrics_page(metrics: &Metrics) -> Response<RegistryBody> {
    let mut res = Response::new(RegistryBody::full(metrics.render()));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}

/// Everything outside `/v2/` (but `/token` with the built-in issuer and `/metrics` with
/// `--metrics`) is not found.
fn not_found() -> Response<RegistryBody> {
    let mut res = Response::new(RegistryBody::full(Bytes::from_static(b"not found\n")));
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

/// The installed Prometheus recorder.
#[cfg(feature = "metrics")]
type Metrics = metrics_exporter_prometheus::PrometheusHandle;

/// Installs the Prometheus recorder the registry's metrics go to, and its upkeep.
#[cfg(feature = "metrics")]
fn install_metrics() -> Metrics {
    let handle = match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
        Ok(handle) => handle,
        Err(err) => fail(&format!("--metrics: {err}")),
    };
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    handle
}

#[cfg(not(feature = "metrics"))]
#[derive(Clone)]
enum Metrics {}

#[cfg(not(feature = "metrics"))]
impl Metrics {
    fn render(&self) -> String {
        match *self {}
    }
}

#[cfg(not(feature = "metrics"))]
fn install_metrics() -> Metrics {
    fail("--metrics needs the crate feature `metrics`: cargo run --release --features metrics --example registry -- --metrics")
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (args, serve) = support::Args::parse_registry("A standalone OCI Distribution registry.");
    // The crate's per-request spans (info) stay off unless asked for (`RUST_LOG=info` or
    // `tower_oci=debug`): formatting them added 15-25% to a manifest GET's server CPU.
    let _log_guard = support::install_log_subscriber("info,tower_oci=warn,tower_oci::auth=info");
    let fd_limit = support::raise_fd_limit();
    tracing::debug!(?fd_limit, "open-file limit");
    support::tune_allocator();

    let tls = match (&serve.tls_cert, &serve.tls_key) {
        (Some(cert), Some(key)) => match support::tls_acceptor(cert, key) {
            Ok(acceptor) => Some(acceptor),
            Err(message) => fail(&message),
        },
        _ => None,
    };

    let layer = match &args.object_storage {
        None => {
            let layer = OciLayer::new(&args.root).durable(args.durable);
            if let Err(err) = layer.check_storage().await {
                fail(&format!(
                    "--root {}: cannot create or write the storage root: {err}",
                    args.root.display()
                ));
            }
            layer
        }
        Some(url) => match object_storage(url, &args).await {
            Ok(storage) => OciLayer::with_storage(storage),
            Err(message) => fail(&format!("--storage {url}: {message}")),
        },
    };
    let listener = TcpListener::bind(args.listen).await?;
    let bound = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let auth = if serve.wants_auth() {
        match auth::configure(&serve, &format!("{scheme}://{bound}")) {
            Ok(auth) => Some(auth),
            Err(message) => fail(&message),
        }
    } else {
        None
    };
    let mut layer = layer
        .gc(serve.gc_options())
        .body_idle_timeout(serve.body_timeout)
        .allowed_origins(serve.allow_origins.clone());
    if let Some(hosts) = served_hosts(bound.ip(), &serve.allow_hosts) {
        layer = layer.allowed_hosts(hosts);
    }
    let token_issuer = auth.as_ref().and_then(|auth| auth.token_issuer.clone());
    if let Some(auth) = &auth {
        layer = layer.authorizer(Arc::clone(&auth.authorizer));
    }
    let metrics = serve.metrics.then(install_metrics);
    let inner = service_fn(move |req: Request<Incoming>| {
        let token_issuer = token_issuer.clone();
        let metrics = metrics.clone();
        async move {
            match (token_issuer, metrics, req.uri().path()) {
                (Some(issuer), _, "/token") => issuer.oneshot(req).await,
                (_, Some(metrics), "/metrics") => Ok(metrics_page(&metrics)),
                _ => Ok(not_found()),
            }
        }
    });
    let registry = layer.layer(inner);

    // One line per request: method, path (without upload ids), status, the user the
    // authorizer allowed, the duration to the last body byte and the body bytes sent, written
    // when the body ends (or is dropped before, as when the client goes away). No headers and
    // no query (a token request's): `Authorization` and `Location` stay out.
    // With the line filtered out (`RUST_LOG=warn`), nothing of it is prepared.
    let app = service_fn(move |req: Request<Incoming>| {
        let line = tracing::enabled!(tracing::Level::INFO).then(|| {
            let method = req.method().clone();
            let path = redact_upload_id(req.uri().path()).into_owned();
            (method, path, Instant::now())
        });
        // `oneshot` polls the clone ready before calling it (never call an unpolled clone).
        let registry = registry.clone();
        async move {
            let res = registry.oneshot(req).await?;
            let log = line.map(|(method, path, started)| request_log::RequestLog {
                method,
                path,
                status: res.status(),
                user: res.extensions().get::<Principal>().cloned(),
                started,
            });
            Ok::<_, Infallible>(res.map(|body| request_log::LoggedBody::new(body, log)))
        }
    });

    let auth_summary = auth.as_ref().map_or("none", |auth| auth.summary.as_str());
    println!(
        "registry listening on {scheme}://{bound} (storage: {}; authentication: {auth_summary})",
        args.storage_display()
    );
    let serving = support::Serving {
        tls,
        header_timeout: serve.header_timeout,
    };
    support::serve_with(listener, app, support::shutdown_signal(), serving).await;
    Ok(())
}

/// The per-request log line, written when the response body has ended.
mod request_log {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use bytes::Buf;
    use http::{Method, StatusCode};
    use http_body::{Body, Frame, SizeHint};
    use tower_oci::auth::Principal;

    /// What the line says about a request, known once its response head is ready.
    pub(super) struct RequestLog {
        pub(super) method: Method,
        pub(super) path: String,
        pub(super) status: StatusCode,
        pub(super) user: Option<Principal>,
        pub(super) started: Instant,
    }

    /// Writes the line when dropped unwritten: the body was cut short (the client went away,
    /// or the server shut down), or it was never polled (a `HEAD`, an empty body).
    struct Pending {
        log: Option<RequestLog>,
        /// Data bytes handed to the connection so far.
        sent: u64,
        /// The body reported its end (or had none).
        ended: bool,
    }

    impl Pending {
        fn write(&mut self, error: Option<&str>) {
            let Some(log) = self.log.take() else { return };
            // `cut_short` is only recorded when true.
            let cut_short = (!self.ended && error.is_none()).then_some(true);
            tracing::info!(
                method = %log.method,
                path = log.path,
                status = log.status.as_u16(),
                user = log.user.as_ref().and_then(Principal::name),
                duration = ?log.started.elapsed(),
                bytes = self.sent,
                cut_short,
                error,
            );
        }
    }

    impl Drop for Pending {
        fn drop(&mut self) {
            self.write(None);
        }
    }

    pin_project_lite::pin_project! {
        /// A response body that logs its request once the last byte has been handed to the
        /// connection: the duration logged is the whole response, not time to the head.
        pub(super) struct LoggedBody<B> {
            #[pin]
            body: B,
            pending: Pending,
        }
    }

    impl<B: Body> LoggedBody<B> {
        /// `log` is `None` when the line is filtered out: the body then only passes through.
        pub(super) fn new(body: B, log: Option<RequestLog>) -> Self {
            // The response to a HEAD goes out without its body.
            let ended =
                body.is_end_stream() || log.as_ref().is_some_and(|log| log.method == Method::HEAD);
            LoggedBody {
                body,
                pending: Pending {
                    log,
                    sent: 0,
                    ended,
                },
            }
        }
    }

    impl<B> Body for LoggedBody<B>
    where
        B: Body,
        B::Error: std::fmt::Display,
    {
        type Data = B::Data;
        type Error = B::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            let mut this = self.project();
            let polled = this.body.as_mut().poll_frame(cx);
            match &polled {
                Poll::Pending => {}
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        this.pending.sent += data.remaining() as u64;
                    }
                    // The connection stops polling a body that reports its end.
                    if this.body.is_end_stream() {
                        this.pending.ended = true;
                        this.pending.write(None);
                    }
                }
                Poll::Ready(Some(Err(err))) => this.pending.write(Some(&err.to_string())),
                Poll::Ready(None) => {
                    this.pending.ended = true;
                    this.pending.write(None);
                }
            }
            polled
        }

        fn is_end_stream(&self) -> bool {
            self.body.is_end_stream()
        }

        fn size_hint(&self) -> SizeHint {
            self.body.size_hint()
        }
    }
}

/// Prints `message` and exits non-zero (before serving).
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

/// The host names served (`None`: any). Bound to loopback, the loopback names and the bound
/// address plus `extra`, so a web page cannot reach the registry under a name of its own
/// through DNS rebinding; bound elsewhere, any name unless `extra` lists some.
fn served_hosts(bound: IpAddr, extra: &[String]) -> Option<Vec<String>> {
    let mut hosts = extra.to_vec();
    if bound.is_loopback() {
        let address = match bound {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        hosts.push(address);
    }
    (!hosts.is_empty()).then_some(hosts)
}

/// Object storage at `url`, checked with one listing so that a bad bucket or credentials fail
/// here rather than at the first push.
#[cfg(feature = "object-store")]
async fn object_storage(
    url: &str,
    args: &support::Args,
) -> Result<Arc<dyn tower_oci::storage::Storage>, String> {
    use tower_oci::storage::{ListOptions, ObjectStorage, ObjectStorageOptions, Storage};
    let mut storage = ObjectStorage::from_url(url).map_err(|err| err.to_string())?;
    if let Some(lease) = args.upload_lease {
        let mut options = ObjectStorageOptions::default();
        options.upload_lease = lease;
        storage = storage.options(options);
    }
    let mut probe = ListOptions::default();
    probe.limit = 1;
    storage
        .list_repositories(probe)
        .await
        .map_err(|err| format!("cannot list the bucket: {err}"))?;
    Ok(Arc::new(storage))
}

#[cfg(not(feature = "object-store"))]
async fn object_storage(
    _url: &str,
    _args: &support::Args,
) -> Result<Arc<dyn tower_oci::storage::Storage>, String> {
    Err("built without the object-store feature: \
         cargo run --features object-store --example registry -- --storage URL"
        .to_owned())
}

/// The authentication flags, as an authorizer (and the built-in token issuer).
#[cfg(feature = "auth")]
mod auth {
    use std::path::Path;
    use std::sync::Arc;

    use tower_oci::auth::{
        BasicAuth, BearerAuth, BearerConfig, Htpasswd, Policy, SigningKey, TokenIssuer,
        TokenIssuerConfig, VerifyingKey,
    };

    use super::{support::ServeArgs, Auth, Endpoint};

    /// The default `service` and `iss` of the built-in issuer's tokens.
    const NAME: &str = "tower-oci";

    fn read(flag: &str, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
    }

    /// Whether policy text has an `anonymous` rule.
    fn has_anonymous_rules(text: &str) -> bool {
        text.lines().any(|line| {
            let content = line.split('#').next().unwrap_or("");
            content.split_whitespace().next() == Some("anonymous")
        })
    }

    /// `--policy` (default: every user may do everything) plus `--anonymous-pull`.
    fn policy(serve: &ServeArgs) -> Result<Policy, String> {
        let (text, source) = match &serve.policy {
            Some(path) => (
                read("--policy", path)?,
                format!("--policy {}", path.display()),
            ),
            None => ("default *\n".to_owned(), "the default policy".to_owned()),
        };
        let text = if serve.anonymous_pull {
            if has_anonymous_rules(&text) {
                tracing::info!("--anonymous-pull: the policy's anonymous rules decide");
                text
            } else {
                // Appended last, so the file's line numbers in errors stay right.
                format!("{text}\nanonymous ** pull\n")
            }
        } else {
            text
        };
        Policy::parse(&text).map_err(|e| format!("{source}: {e}"))
    }

    /// What the flags ask for, checked; `own_url` is `scheme://address` of this server.
    pub(super) fn configure(serve: &ServeArgs, own_url: &str) -> Result<Auth, String> {
        if let Some(trust) = &serve.token_trust {
            return external_token_server(serve, trust);
        }
        let Some(htpasswd) = &serve.htpasswd else {
            return Err(
                "--token-realm, --token-service and --token-issuer go with --token-key \
                        (the built-in issuer) or --token-trust (an external token server)"
                    .to_owned(),
            );
        };
        let users = Htpasswd::open(htpasswd)
            .map_err(|e| format!("--htpasswd {}: {e}", htpasswd.display()))?;
        if users.is_empty() {
            tracing::warn!(
                "--htpasswd {}: no users yet (add some with htpasswd -B; the file is re-read \
                 when it changes)",
                htpasswd.display()
            );
        }
        let users = Arc::new(users);
        let policy = Arc::new(policy(serve)?);
        let Some(key_path) = &serve.token_key else {
            if serve.token_realm.is_some()
                || serve.token_service.is_some()
                || serve.token_issuer.is_some()
            {
                return Err("--token-realm, --token-service and --token-issuer need \
                            --token-key or --token-trust"
                    .to_owned());
            }
            return Ok(Auth {
                authorizer: Arc::new(BasicAuth::new(users, policy)),
                token_issuer: None,
                summary: "basic".to_owned(),
            });
        };
        let key = SigningKey::from_pem(&read("--token-key", key_path)?)
            .map_err(|e| format!("--token-key {}: {e}", key_path.display()))?;
        let realm = match &serve.token_realm {
            Some(realm) => realm.clone(),
            None if own_url.contains("://0.0.0.0:") || own_url.contains("://[::]:") => {
                return Err(format!(
                    "--token-key: this server listens on {own_url}, which clients cannot \
                     fetch tokens from; give --token-realm https://NAME:PORT/token"
                ))
            }
            None => format!("{own_url}/token"),
        };
        let service = serve.token_service.as_deref().unwrap_or(NAME);
        let issuer = serve.token_issuer.as_deref().unwrap_or(NAME);
        let bearer = BearerConfig::new(&realm, service, issuer, vec![key.verifying_key()]);
        let token_issuer =
            TokenIssuer::new(TokenIssuerConfig::new(issuer, service, key, users, policy));
        Ok(Auth {
            authorizer: Arc::new(BearerAuth::new(bearer)),
            token_issuer: Some(Endpoint::new(token_issuer)),
            summary: format!("bearer, tokens from the built-in issuer at {realm}"),
        })
    }

    fn external_token_server(serve: &ServeArgs, trust: &Path) -> Result<Auth, String> {
        let text = read("--token-trust", trust)?;
        let keys = if text.trim_start().starts_with('{') {
            VerifyingKey::from_jwks(&text)
        } else {
            VerifyingKey::from_pem(&text)
        }
        .map_err(|e| format!("--token-trust {}: {e}", trust.display()))?;
        if keys.is_empty() {
            return Err(format!(
                "--token-trust {}: no usable key in the JWKS",
                trust.display()
            ));
        }
        // clap requires the three with --token-trust.
        let (Some(realm), Some(service), Some(issuer)) = (
            &serve.token_realm,
            &serve.token_service,
            &serve.token_issuer,
        ) else {
            return Err(
                "--token-trust needs --token-realm, --token-service and --token-issuer".to_owned(),
            );
        };
        let bearer = BearerConfig::new(realm, service, issuer, keys);
        Ok(Auth {
            authorizer: Arc::new(BearerAuth::new(bearer)),
            token_issuer: None,
            summary: format!("bearer, tokens from {realm}"),
        })
    }
}

/// Built without feature `auth`: any authentication flag stops the example with a message.
#[cfg(not(feature = "auth"))]
mod auth {
    use super::{support::ServeArgs, Auth};

    pub(super) fn configure(_serve: &ServeArgs, _own_url: &str) -> Result<Auth, String> {
        Err("authentication flags need the auth feature: \
             cargo run --release --features auth --example registry -- …"
            .to_owned())
    }
}
