//! [`TokenIssuer`]: a small Docker token server, so Bearer auth works without a separate one.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use tower_service::Service;

use super::basic::{basic_credentials, Credentials};
use super::{Actions, Challenge, Htpasswd, Policy, SigningKey};
use crate::protocol::name::is_valid_name;
use crate::protocol::query::percent_decode;
use crate::protocol::Query;
use crate::response_body::RegistryBody;
use crate::storage::BoxFuture;
use crate::BoxError;

/// The largest POST form read.
const MAX_FORM: usize = 64 * 1024;
/// The most scopes one token request may name.
const MAX_SCOPES: usize = 64;

/// What a [`TokenIssuer`] issues and to whom.
#[derive(Debug)]
pub struct TokenIssuerConfig {
    issuer: String,
    service: String,
    key: SigningKey,
    users: Arc<Htpasswd>,
    policy: Arc<Policy>,
    ttl: Duration,
    challenge: Challenge,
}

impl TokenIssuerConfig {
    /// Tokens with `iss` = `issuer` and `aud` = `service`, signed by `key`, for the users of
    /// `users` (or anonymous clients), granting what `policy` allows of what they ask.
    pub fn new(
        issuer: impl Into<String>,
        service: impl Into<String>,
        key: SigningKey,
        users: Arc<Htpasswd>,
        policy: Arc<Policy>,
    ) -> Self {
        TokenIssuerConfig {
            issuer: issuer.into(),
            service: service.into(),
            key,
            users,
            policy,
            ttl: Duration::from_secs(300),
            challenge: Challenge::basic("tower-oci token"),
        }
    }

    /// How long a token is valid (at least 60 s, as the spec asks). Defaults to `5 minutes`.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(60));
        self
    }

    /// The realm of the Basic challenge sent for wrong credentials. Defaults to
    /// `tower-oci token`.
    #[must_use]
    pub fn realm(mut self, realm: &str) -> Self {
        self.challenge = Challenge::basic(realm);
        self
    }
}

/// A Docker token server as a tower service, to mount beside the registry (at the `realm`
/// a [`BearerConfig`](super::BearerConfig) names):
///
/// - `GET ?service=..&scope=..&scope=..` with `Authorization: Basic` or none (anonymous);
/// - `POST` of a form with `grant_type=password`, `username`, `password`, `service`,
///   `scope` (space-separated) — the OAuth2 form (no refresh tokens are issued).
///
/// It grants, of each requested `repository:<name>:<actions>` scope, what the policy allows
/// (the intersection; never an error), and `registry:catalog:*` to admins. Answers
/// `{"token", "access_token", "expires_in", "issued_at"}`; wrong credentials get 401.
///
/// ```
/// use std::sync::Arc;
/// use http::Request;
/// use tower::{service_fn, ServiceExt};
/// use tower_oci::auth::{BearerAuth, BearerConfig, Htpasswd, Policy, SigningKey, TokenIssuer,
///     TokenIssuerConfig};
/// use tower_oci::OciLayer;
///
/// let key = SigningKey::generate_es256().unwrap();
/// let bearer = BearerConfig::new("https://registry.example.com/token", "registry.example.com",
///     "registry.example.com", vec![key.verifying_key()]);
/// let users = Arc::new(Htpasswd::parse("").unwrap());
/// let policy = Arc::new(Policy::parse("anonymous public/** pull").unwrap());
/// let issuer = TokenIssuer::new(TokenIssuerConfig::new("registry.example.com",
///     "registry.example.com", key, users, policy));
///
/// // `/token` goes to the issuer; the rest to the registry and the host's app behind it.
/// let app = service_fn(move |req: Request<hyper::body::Incoming>| {
///     let issuer = issuer.clone();
///     async move { Ok::<_, std::convert::Infallible>(issuer.oneshot(req).await?) }
/// });
/// let layer = OciLayer::new("./registry-data").authorizer(Arc::new(BearerAuth::new(bearer)));
/// # let _ = (app, layer);
/// ```
#[derive(Clone, Debug)]
pub struct TokenIssuer {
    config: Arc<TokenIssuerConfig>,
}

impl TokenIssuer {
    /// An issuer.
    pub fn new(config: TokenIssuerConfig) -> Self {
        TokenIssuer {
            config: Arc::new(config),
        }
    }
}

/// What a token request asks for.
struct TokenRequest {
    user: Option<(String, String)>,
    service: Option<String>,
    scopes: Vec<String>,
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<RegistryBody> {
    let bytes = Bytes::from(body.to_string());
    let mut response = Response::new(RegistryBody::full(bytes.clone()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<RegistryBody> {
    json_response(
        status,
        serde_json::json!({ "error": error, "error_description": description }),
    )
}

/// `application/x-www-form-urlencoded` value: `+` is a space, then `%XX`.
fn form_value(raw: &str) -> Option<String> {
    percent_decode(&raw.replace('+', " ")).map(|v| v.into_owned())
}

/// `type:name:actions`, where the name may hold a `:` (a registry host's port).
fn parse_scope(scope: &str) -> Option<(&str, &str, Actions, bool)> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let kind = kind.split('(').next().unwrap_or(kind);
    let wildcard = actions.split(',').any(|a| a == "*");
    Some((kind, name, Actions::parse_list(actions), wildcard))
}

/// RFC 3339 UTC, whole seconds.
fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (H. Hinnant).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl TokenIssuerConfig {
    /// Grants, of each scope asked for, what the policy allows `user`.
    fn grant(&self, user: Option<&str>, scopes: &[String]) -> Vec<serde_json::Value> {
        let mut access = Vec::new();
        for (kind, name, asked, wildcard) in scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .filter_map(parse_scope)
        {
            match kind {
                "repository" if is_valid_name(name) => {
                    let granted = asked & self.policy.actions(user, name);
                    let actions: Vec<&str> = granted.names().collect();
                    access.push(
                        serde_json::json!({"type": "repository", "name": name, "actions": actions}),
                    );
                }
                "registry" if name == "catalog" && wildcard => {
                    let actions: &[&str] = if self.policy.is_admin(user) {
                        &["*"]
                    } else {
                        &[]
                    };
                    access.push(serde_json::json!({"type": "registry", "name": "catalog", "actions": actions}));
                }
                _ => {}
            }
        }
        access
    }

    async fn issue(&self, request: TokenRequest) -> Response<RegistryBody> {
        if request
            .service
            .as_deref()
            .is_some_and(|s| s != self.service)
        {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "unknown service",
            );
        }
        if request.scopes.len() > MAX_SCOPES {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "too many scopes",
            );
        }
        let user = match &request.user {
            None => None,
            Some((user, password)) => {
                if !self.users.verify(user, password).await {
                    let mut response = json_response(
                        StatusCode::UNAUTHORIZED,
                        serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": null}]}),
                    );
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        self.challenge.www_authenticate().clone(),
                    );
                    return response;
                }
                Some(user.as_str())
            }
        };
        let now = SystemTime::now();
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let ttl = self.ttl.as_secs();
        let claims = serde_json::json!({
            "iss": self.issuer,
            "sub": user.unwrap_or(""),
            "aud": self.service,
            "exp": iat + ttl,
            "nbf": iat,
            "iat": iat,
            "jti": uuid::Uuid::new_v4().simple().to_string(),
            "access": self.grant(user, &request.scopes),
        });
        match self.key.sign(&claims) {
            Ok(token) => json_response(
                StatusCode::OK,
                serde_json::json!({
                    "token": token,
                    "access_token": token,
                    "expires_in": ttl,
                    "issued_at": rfc3339(now),
                }),
            ),
            Err(e) => {
                tracing::error!(error = %e, "token signing failed");
                oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "signing failed",
                )
            }
        }
    }
}

/// Reads at most `limit` bytes of `body`; `None` past it or on a body error.
async fn read_form<B>(body: B, limit: usize) -> Option<Vec<u8>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(data) = frame.ok()?.into_data() else {
            continue;
        };
        if out.len() + data.len() > limit {
            return None;
        }
        out.extend_from_slice(&data);
    }
    Some(out)
}

async fn handle<B>(config: Arc<TokenIssuerConfig>, req: Request<B>) -> Response<RegistryBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (head, body) = req.into_parts();
    match head.method {
        Method::GET => {
            let query = Query::new(head.uri.query());
            let user = match basic_credentials(&head) {
                Credentials::None => None,
                Credentials::Given(user, password) => Some((user, password)),
                Credentials::Malformed => Some((String::new(), String::new())),
            };
            let request = TokenRequest {
                user,
                service: query.get("service").and_then(form_value),
                scopes: query.get_all("scope").filter_map(form_value).collect(),
            };
            config.issue(request).await
        }
        Method::POST => {
            let Some(form) = read_form(body, MAX_FORM).await else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "form too large or unreadable",
                );
            };
            let Ok(form) = std::str::from_utf8(&form) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "form is not UTF-8",
                );
            };
            let form = Query::new(Some(form));
            let field = |name: &str| form.get(name).and_then(form_value);
            match field("grant_type").as_deref() {
                Some("password") => {}
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "unsupported_grant_type",
                        "only grant_type=password is supported",
                    )
                }
            }
            let (Some(user), Some(password)) = (field("username"), field("password")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "username and password are required",
                );
            };
            let request = TokenRequest {
                user: Some((user, password)),
                service: field("service"),
                scopes: field("scope").into_iter().collect(),
            };
            config.issue(request).await
        }
        _ => {
            let mut response = oauth_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "GET or POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            response
        }
    }
}

impl<B> Service<Request<B>> for TokenIssuer
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<RegistryBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<RegistryBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let config = Arc::clone(&self.config);
        Box::pin(async move { Ok(handle(config, req).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_with_ports_and_classes() {
        assert_eq!(
            parse_scope("repository:host:5000/a/b:pull,push"),
            Some((
                "repository",
                "host:5000/a/b",
                Actions::PULL | Actions::PUSH,
                false
            ))
        );
        assert_eq!(
            parse_scope("repository(plugin):a:pull"),
            Some(("repository", "a", Actions::PULL, false))
        );
        assert_eq!(
            parse_scope("registry:catalog:*"),
            Some(("registry", "catalog", Actions::ALL, true))
        );
        assert_eq!(parse_scope("nonsense"), None);
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_415_387_315)),
            "2014-11-07T19:08:35Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn grants_the_intersection_of_asked_and_allowed() {
        let key = SigningKey::generate_es256().expect("key");
        let users = Arc::new(Htpasswd::parse("").expect("users"));
        let policy = Arc::new(
            Policy::parse("admin root\nbob team/* pull,push\nanonymous public/* pull")
                .expect("policy"),
        );
        let config = TokenIssuerConfig::new("i", "s", key, users, policy);
        let scopes = vec![
            "repository:team/a:pull,push,delete repository:public/x:pull,push".to_owned(),
            "registry:catalog:*".to_owned(),
            "repository:Bad:pull".to_owned(),
        ];
        assert_eq!(
            serde_json::Value::from(config.grant(Some("bob"), &scopes)),
            serde_json::json!([
                {"type": "repository", "name": "team/a", "actions": ["pull", "push"]},
                {"type": "repository", "name": "public/x", "actions": ["pull"]},
                {"type": "registry", "name": "catalog", "actions": []},
            ])
        );
        assert_eq!(
            config.grant(Some("root"), &scopes[1..2])[0]["actions"],
            serde_json::json!(["*"])
        );
    }
}
