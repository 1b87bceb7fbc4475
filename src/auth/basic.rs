//! [`BasicAuth`]: HTTP Basic credentials against an htpasswd file, then a [`Policy`].

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::{Access, Authorizer, Challenge, Decision, Htpasswd, Policy, Principal};
use crate::storage::BoxFuture;

/// Authenticates with `Authorization: Basic` against an [`Htpasswd`] file and authorizes
/// with a [`Policy`].
///
/// - No credentials (or an empty user and password, which containers/image sends when it
///   has none): allowed as anonymous where the policy's `anonymous` rules allow it,
///   else 401 with `Basic realm=".."` (`GET /v2/` always asks, as distribution does, so
///   clients learn the scheme and `docker login` checks the password).
/// - Wrong user or password: 401.
/// - Right credentials but the policy does not allow it: 403 `DENIED`.
///
/// ```no_run
/// use std::sync::Arc;
/// use tower_oci::auth::{BasicAuth, Htpasswd, Policy};
/// use tower_oci::OciLayer;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let users = Htpasswd::open("/etc/registry/htpasswd")?;   // `htpasswd -B -c FILE alice`
/// let policy = Policy::load("/etc/registry/policy")?;       // or Policy::authenticated_all()
/// let auth = BasicAuth::new(Arc::new(users), Arc::new(policy)).realm("my registry");
/// let layer = OciLayer::new("./registry-data").authorizer(Arc::new(auth));
/// # let _ = layer;
/// # Ok(()) }
/// ```
pub struct BasicAuth {
    users: Arc<Htpasswd>,
    policy: Arc<Policy>,
    challenge: Challenge,
}

impl BasicAuth {
    /// Users from `users`, permissions from `policy`; realm `tower-oci`.
    pub fn new(users: Arc<Htpasswd>, policy: Arc<Policy>) -> Self {
        BasicAuth {
            users,
            policy,
            challenge: Challenge::basic("tower-oci"),
        }
    }

    /// The realm of the challenge. Defaults to `tower-oci`.
    #[must_use]
    pub fn realm(mut self, realm: &str) -> Self {
        self.challenge = Challenge::basic(realm);
        self
    }

    async fn decide(&self, head: &http::request::Parts, access: Access<'_>) -> Decision {
        let user = match basic_credentials(head) {
            Credentials::None => None,
            Credentials::Malformed => return Decision::Challenge(self.challenge.clone()),
            Credentials::Given(user, password) => {
                if !self.users.verify(&user, &password).await {
                    return Decision::Challenge(self.challenge.clone());
                }
                Some(user)
            }
        };
        let allowed = match (&user, access) {
            (None, Access::Base) => false,
            (user, access) => self.policy.allows(user.as_deref(), access),
        };
        match (allowed, user) {
            (true, Some(user)) => Decision::Allow(Principal::named(user)),
            (true, None) => Decision::Allow(Principal::anonymous()),
            // Anonymous and not allowed: maybe with credentials.
            (false, None) => Decision::Challenge(self.challenge.clone()),
            (false, Some(_)) => Decision::Deny,
        }
    }
}

pub(crate) enum Credentials {
    None,
    Malformed,
    Given(String, String),
}

/// The user and password of an `Authorization: Basic` header.
pub(crate) fn basic_credentials(head: &http::request::Parts) -> Credentials {
    let Some(value) = head.headers.get(http::header::AUTHORIZATION) else {
        return Credentials::None;
    };
    let Some((scheme, encoded)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Credentials::Malformed;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Credentials::Malformed;
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match decoded.as_deref().and_then(|d| d.split_once(':')) {
        // containers/image (skopeo, podman, buildah) answers a Basic challenge with an empty
        // user and password when it has no credentials (`--no-creds`, not logged in): that
        // is an anonymous client, not a failed login.
        Some(("", "")) => Credentials::None,
        Some((user, password)) => Credentials::Given(user.to_owned(), password.to_owned()),
        None => Credentials::Malformed,
    }
}

impl Authorizer for BasicAuth {
    fn authorize<'a>(
        &'a self,
        head: &'a http::request::Parts,
        access: Access<'a>,
    ) -> BoxFuture<'a, Decision> {
        Box::pin(self.decide(head, access))
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users)
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}
