//! [`BearerAuth`]: Docker token authentication (JWTs a token server signed).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use super::jwt::{verify_signature, Invalid, VerifyingKey};
use super::{Access, Actions, Authorizer, Challenge, Decision, Principal, Scope};
use crate::storage::BoxFuture;

/// The most validated tokens remembered (until they expire).
const CACHE_ENTRIES: usize = 1024;

/// What [`BearerAuth`] trusts and how it challenges.
#[derive(Clone, Debug)]
pub struct BearerConfig {
    realm: String,
    service: String,
    issuer: String,
    audience: String,
    keys: Vec<VerifyingKey>,
    leeway: Duration,
}

impl BearerConfig {
    /// Tokens from the token server at `realm` (the URL clients get tokens from), for
    /// `service` (this registry's name: the challenge's `service` and the `aud` a token must
    /// carry), issued by `issuer` (their `iss`), signed by one of `keys`.
    pub fn new(
        realm: impl Into<String>,
        service: impl Into<String>,
        issuer: impl Into<String>,
        keys: Vec<VerifyingKey>,
    ) -> Self {
        let service = service.into();
        BearerConfig {
            realm: realm.into(),
            audience: service.clone(),
            service,
            issuer: issuer.into(),
            keys,
            leeway: Duration::from_secs(60),
        }
    }

    /// The `aud` tokens must name, if not the service. Defaults to the service.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Clock skew allowed on `exp` and `nbf`. Defaults to `60 s`.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
}

/// What a valid token grants.
#[derive(Debug)]
struct Grant {
    subject: Option<String>,
    /// (type without class, name, actions).
    access: Vec<(String, String, Actions)>,
    expires: SystemTime,
}

impl Grant {
    fn granted(&self, scope: &Scope<'_>) -> Actions {
        self.access
            .iter()
            .filter(|(kind, name, _)| kind == scope.kind && name == scope.name)
            .fold(Actions::NONE, |all, (_, _, actions)| all | *actions)
    }

    fn allows(&self, access: &Access<'_>) -> bool {
        access
            .scopes()
            .all(|scope| self.granted(&scope).contains(scope.actions))
    }
}

/// Authenticates with Bearer tokens per the Docker token spec (distribution's
/// `docs/spec/auth/token.md`, `jwt.md`, `scope.md`); the registry never calls the token
/// server, it checks what the token says:
///
/// - the signature, by a configured key (RS256/384/512, ES256/384, EdDSA; `none` and HMAC are
///   refused), picked by the token's `kid` (see [`VerifyingKey`]);
/// - `iss` is the issuer, `aud` (a string or an array) names the audience, `exp` has not
///   passed and `nbf` has, with the configured leeway;
/// - its `access` claim grants every action the request needs (`repository:<name>:<actions>`,
///   `registry:catalog:*` for the catalog).
///
/// Without a token: 401 with `Bearer realm="..",service="..",scope=".."`; an invalid token:
/// the same with `error="invalid_token"`; too little access: `error="insufficient_scope"`.
/// `GET /v2/` needs only a valid token. The principal is the token's `sub` (anonymous when
/// empty). The catalog lists the repositories the token grants `pull` on.
///
/// ```
/// use std::sync::Arc;
/// use tower_oci::auth::{BearerAuth, BearerConfig, VerifyingKey};
/// use tower_oci::OciLayer;
///
/// # let pem = tower_oci::auth::SigningKey::generate_es256().unwrap().verifying_key();
/// # let keys = vec![pem];
/// // keys = VerifyingKey::from_pem(&std::fs::read_to_string("token-server.pem")?)?;
/// let config = BearerConfig::new("https://auth.example.com/token", "registry.example.com",
///     "auth.example.com", keys);
/// let layer = OciLayer::new("./registry-data").authorizer(Arc::new(BearerAuth::new(config)));
/// # let _ = layer;
/// ```
pub struct BearerAuth {
    config: BearerConfig,
    cache: Mutex<HashMap<[u8; 32], Arc<Grant>>>,
}

impl BearerAuth {
    /// Checks tokens as `config` says.
    pub fn new(config: BearerConfig) -> Self {
        BearerAuth {
            config,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<[u8; 32], Arc<Grant>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn challenge(&self, access: &Access<'_>, error: Option<&str>) -> Decision {
        let scope = access.scope_param();
        Decision::Challenge(Challenge::bearer(
            &self.config.realm,
            &self.config.service,
            scope.as_deref(),
            error,
        ))
    }

    /// The grant of `token`, checked now (validated once, then remembered until it expires).
    fn grant(&self, token: &str) -> Result<Arc<Grant>, Invalid> {
        let now = SystemTime::now();
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(grant) = self.cache().get(&key) {
            if grant.expires + self.config.leeway > now {
                return Ok(Arc::clone(grant));
            }
        }
        let claims = verify_signature(token, &self.config.keys)?;
        let grant = Arc::new(self.check_claims(&claims, now)?);
        let mut cache = self.cache();
        if cache.len() >= CACHE_ENTRIES {
            let leeway = self.config.leeway;
            cache.retain(|_, g| g.expires + leeway > now);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, Arc::clone(&grant));
        Ok(grant)
    }

    fn check_claims(&self, claims: &serde_json::Value, now: SystemTime) -> Result<Grant, Invalid> {
        let config = &self.config;
        if claims["iss"].as_str() != Some(config.issuer.as_str()) {
            return Err(Invalid("wrong issuer"));
        }
        let audience_ok = match &claims["aud"] {
            serde_json::Value::String(aud) => *aud == config.audience,
            serde_json::Value::Array(auds) => {
                auds.iter().any(|a| a.as_str() == Some(&config.audience))
            }
            _ => false,
        };
        if !audience_ok {
            return Err(Invalid("wrong audience"));
        }
        let time = |claim: &str| {
            claims[claim]
                .as_f64()
                .filter(|s| s.is_finite())
                .map(|s| UNIX_EPOCH + Duration::from_secs_f64(s.clamp(0.0, 1e12)))
        };
        let expires = time("exp").ok_or(Invalid("no exp"))?;
        if expires + config.leeway <= now {
            return Err(Invalid("expired"));
        }
        if time("nbf").is_some_and(|nbf| nbf > now + config.leeway) {
            return Err(Invalid("not yet valid"));
        }
        let subject = claims["sub"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let mut access = Vec::new();
        if let Some(entries) = claims["access"].as_array() {
            for entry in entries {
                let (Some(kind), Some(name)) = (entry["type"].as_str(), entry["name"].as_str())
                else {
                    continue;
                };
                // `repository(plugin)` is `repository` (resource classes are ignored).
                let kind = kind.split('(').next().unwrap_or(kind);
                let actions = entry["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().and_then(Actions::from_name))
                    .fold(Actions::NONE, |all, a| all | a);
                access.push((kind.to_owned(), name.to_owned(), actions));
            }
        }
        Ok(Grant {
            subject,
            access,
            expires,
        })
    }

    fn decide(&self, head: &http::request::Parts, access: Access<'_>) -> Decision {
        let Some(token) = bearer_token(head) else {
            return self.challenge(&access, None);
        };
        let grant = match self.grant(token) {
            Ok(grant) => grant,
            Err(Invalid(why)) => {
                tracing::debug!(why, "bearer token refused");
                return self.challenge(&access, Some("invalid_token"));
            }
        };
        if grant.allows(&access) {
            let principal = match &grant.subject {
                Some(sub) => Principal::named(sub.as_str()),
                None => Principal::anonymous(),
            };
            Decision::Allow(principal)
        } else {
            self.challenge(&access, Some("insufficient_scope"))
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(head: &http::request::Parts) -> Option<&str> {
    let value = head
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

impl Authorizer for BearerAuth {
    fn authorize<'a>(
        &'a self,
        head: &'a http::request::Parts,
        access: Access<'a>,
    ) -> BoxFuture<'a, Decision> {
        let decision = self.decide(head, access);
        Box::pin(std::future::ready(decision))
    }
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
