//! Authorization: the hook a host plugs in to decide who may do what, and (with feature `auth`)
//! built-in authenticators and a per-repository policy.
//!
//! The registry parses the path, works out what the request needs in the token spec's terms
//! ([`Access`]: `pull`, `push` or `delete` on a repository, `pull` on the `from` repository of
//! a mount, the catalog, or only "who is asking" for `GET /v2/`), and asks the [`Authorizer`]
//! before it reads any byte of the body. The answer is a [`Decision`]:
//!
//! - [`Decision::Allow`] with the [`Principal`]: the request goes on. The principal is put in the
//!   request's extensions (handlers bind upload sessions to it) and in the response's
//!   extensions, where a logging layer around the service can read it.
//! - [`Decision::Challenge`]: 401 `UNAUTHORIZED` with the [`Challenge`]'s `WWW-Authenticate`
//!   value; the body's `detail` lists every `Type`/`Name`/`Action` the request needed.
//! - [`Decision::Deny`]: 403 `DENIED`, same `detail`.
//!
//! Without an authorizer ([`OciLayer::authorizer`](crate::OciLayer::authorizer) not called)
//! every request is allowed, anonymously, and nothing of this runs.
//!
//! The authorizer is asked again on every request, each request of an upload session too. A
//! session is bound to the repository and the principal that opened it: another principal's
//! `GET`, `PATCH`, `PUT` or `DELETE` on it is `BLOB_UPLOAD_UNKNOWN`. The catalog lists only
//! repositories the principal may `pull` (each is asked about), and a mount without `from`
//! only links from repositories the principal may `pull`.
//!
//! # Writing an authorizer
//!
//! A closure taking the request head and the [`Access`] is an authorizer. This one lets
//! anybody pull, and only a caller with a shared secret write or delete:
//!
//! ```
//! use std::sync::Arc;
//! use tower_oci::auth::{Access, Actions, Challenge, Decision, Principal};
//! use tower_oci::OciLayer;
//!
//! let layer = OciLayer::new("./registry-data").authorizer(Arc::new(
//!     |head: &http::request::Parts, access: Access<'_>| {
//!         let admin = head.headers.get("x-api-key").is_some_and(|key| key == "let-me-in");
//!         let decision = match access {
//!             _ if admin => Decision::Allow(Principal::named("admin")),
//!             Access::Repository { actions, .. } if actions == Actions::PULL => {
//!                 Decision::Allow(Principal::anonymous())
//!             }
//!             Access::Base => Decision::Allow(Principal::anonymous()),
//!             _ => Decision::Challenge(Challenge::new(
//!                 http::HeaderValue::from_static("ApiKey realm=\"registry\""),
//!             )),
//!         };
//!         async move { decision }
//!     },
//! ));
//! # let _ = layer;
//! ```
//!
//! A type implementing [`Authorizer`] can await (a database, a remote policy engine) while it
//! borrows the request; see `BasicAuth` and `BearerAuth` (feature `auth`) for two.

use std::fmt;
use std::future::Future;
use std::ops::{BitAnd, BitOr};
use std::sync::Arc;

use http::HeaderValue;

use crate::storage::BoxFuture;

#[cfg(feature = "auth")]
mod basic;
#[cfg(feature = "auth")]
mod bearer;
#[cfg(feature = "auth")]
mod htpasswd;
#[cfg(feature = "auth")]
mod issuer;
#[cfg(feature = "auth")]
mod jwt;
#[cfg(feature = "auth")]
mod policy;

#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub use basic::BasicAuth;
#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub use bearer::{BearerAuth, BearerConfig};
#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub use htpasswd::{Htpasswd, HtpasswdError};
#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub use issuer::{TokenIssuer, TokenIssuerConfig};
#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub use jwt::{KeyError, SigningKey, VerifyingKey};
#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub use policy::{Policy, PolicyError};

/// A set of actions on a resource: `pull`, `push`, `delete`.
///
/// ```
/// use tower_oci::auth::Actions;
/// let rw = Actions::PULL | Actions::PUSH;
/// assert!(rw.contains(Actions::PULL) && !rw.contains(Actions::DELETE));
/// assert_eq!(rw.to_string(), "pull,push");
/// assert_eq!(Actions::parse_list("push,pull"), rw);
/// assert_eq!(Actions::parse_list("*"), Actions::ALL);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Actions(u8);

impl Actions {
    /// No action.
    pub const NONE: Actions = Actions(0);
    /// Read manifests, blobs, tags and referrers.
    pub const PULL: Actions = Actions(1);
    /// Upload blobs and push manifests and tags.
    pub const PUSH: Actions = Actions(2);
    /// Delete manifests, tags and blobs.
    pub const DELETE: Actions = Actions(4);
    /// Every action (`*` in a scope or a token).
    pub const ALL: Actions = Actions(7);

    const NAMES: [(Actions, &'static str); 3] = [
        (Actions::PULL, "pull"),
        (Actions::PUSH, "push"),
        (Actions::DELETE, "delete"),
    ];

    /// True when every action of `other` is in `self`.
    pub fn contains(self, other: Actions) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when there is no action.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The action called `name` (`pull`, `push`, `delete`, or `*` for all); `None` otherwise.
    pub fn from_name(name: &str) -> Option<Actions> {
        match name {
            "*" => Some(Actions::ALL),
            _ => Self::NAMES
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(a, _)| *a),
        }
    }

    /// The actions of a comma-separated list; unknown names are ignored (a token may carry
    /// actions this registry has no use for).
    pub fn parse_list(list: &str) -> Actions {
        list.split(',')
            .filter_map(|name| Actions::from_name(name.trim()))
            .fold(Actions::NONE, |all, a| all | a)
    }

    /// The names of the actions in the set, in the order pull, push, delete.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(a, _)| self.contains(*a))
            .map(|(_, n)| n)
    }
}

impl BitOr for Actions {
    type Output = Actions;
    fn bitor(self, rhs: Actions) -> Actions {
        Actions(self.0 | rhs.0)
    }
}

impl BitAnd for Actions {
    type Output = Actions;
    fn bitand(self, rhs: Actions) -> Actions {
        Actions(self.0 & rhs.0)
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Actions({self})")
    }
}

/// One resource scope of the token spec: `repository:<name>:<actions>`, or
/// `registry:catalog:*` for the catalog.
///
/// ```
/// use tower_oci::auth::{Actions, Scope};
/// let scope = Scope::repository("library/ubuntu", Actions::PULL | Actions::PUSH);
/// assert_eq!(scope.to_string(), "repository:library/ubuntu:pull,push");
/// assert_eq!(Scope::catalog().to_string(), "registry:catalog:*");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scope<'a> {
    /// `repository` or `registry`.
    pub kind: &'static str,
    /// The repository name, or `catalog`.
    pub name: &'a str,
    /// What is needed.
    pub actions: Actions,
}

impl<'a> Scope<'a> {
    /// Actions on a repository.
    pub fn repository(name: &'a str, actions: Actions) -> Self {
        Scope {
            kind: "repository",
            name,
            actions,
        }
    }

    /// Listing the catalog (`registry:catalog:*`).
    pub fn catalog() -> Scope<'static> {
        Scope {
            kind: "registry",
            name: "catalog",
            actions: Actions::ALL,
        }
    }

    /// True for `registry:catalog:*`.
    pub fn is_catalog(&self) -> bool {
        self.kind == "registry" && self.name == "catalog"
    }
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_catalog() {
            return f.write_str("registry:catalog:*");
        }
        write!(f, "{}:{}:{}", self.kind, self.name, self.actions)
    }
}

/// What a request needs, in the token spec's terms. Built by the registry from the parsed
/// path, the method and (for a mount) the query, before any body byte is read.
///
/// | request | access |
/// |---|---|
/// | `GET`/`HEAD /v2/` | [`Access::Base`] |
/// | `GET /v2/_catalog` | [`Access::Catalog`] (then `pull` per listed repository) |
/// | `GET`/`HEAD` manifests, blobs, tags, referrers | `pull` |
/// | `PUT` manifests, `POST`/`GET`/`PATCH`/`PUT`/`DELETE` uploads | `pull,push` (as distribution) |
/// | `DELETE` manifests, tags, blobs | `delete` |
/// | `POST ..?mount=&from=` | [`Access::Mount`]: `pull,push` on the target, `pull` on `from` |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access<'a> {
    /// `GET /v2/`: only who is asking (clients call it first to learn how to authenticate).
    Base,
    /// `GET /v2/_catalog`.
    Catalog,
    /// Actions on one repository.
    Repository {
        /// The repository.
        name: &'a str,
        /// What is needed.
        actions: Actions,
    },
    /// A cross-repository mount: `pull,push` on `name` and `pull` on `from`.
    Mount {
        /// The repository the blob is mounted into.
        name: &'a str,
        /// The repository it comes from.
        from: &'a str,
    },
}

impl<'a> Access<'a> {
    /// `pull` on repository `name`.
    pub fn pull(name: &'a str) -> Self {
        Access::Repository {
            name,
            actions: Actions::PULL,
        }
    }

    /// The scopes needed, in the order a challenge names them (none for [`Access::Base`]).
    pub fn scopes(&self) -> impl Iterator<Item = Scope<'a>> {
        let scopes: [Option<Scope<'a>>; 2] = match *self {
            Access::Base => [None, None],
            Access::Catalog => [Some(Scope::catalog()), None],
            Access::Repository { name, actions } => [Some(Scope::repository(name, actions)), None],
            Access::Mount { name, from } => [
                Some(Scope::repository(name, Actions::PULL | Actions::PUSH)),
                Some(Scope::repository(from, Actions::PULL)),
            ],
        };
        scopes.into_iter().flatten()
    }

    /// The `scope` parameter of a Bearer challenge: the scopes separated by spaces; `None`
    /// for [`Access::Base`].
    ///
    /// ```
    /// use tower_oci::auth::Access;
    /// let mount = Access::Mount { name: "b", from: "a" };
    /// assert_eq!(mount.scope_param().as_deref(), Some("repository:b:pull,push repository:a:pull"));
    /// ```
    pub fn scope_param(&self) -> Option<String> {
        let mut out = String::new();
        for scope in self.scopes() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&scope.to_string());
        }
        (!out.is_empty()).then_some(out)
    }

    /// The `detail` of an `UNAUTHORIZED` or `DENIED` error: one `{"Type","Name","Action"}`
    /// entry per action needed (as distribution sends).
    pub(crate) fn detail(&self) -> serde_json::Value {
        let entry = |kind: &str, name: &str, action: &str| serde_json::json!({ "Type": kind, "Name": name, "Action": action });
        let mut entries = Vec::new();
        for scope in self.scopes() {
            if scope.is_catalog() {
                entries.push(entry(scope.kind, scope.name, "*"));
                continue;
            }
            for action in scope.actions.names() {
                entries.push(entry(scope.kind, scope.name, action));
            }
        }
        serde_json::Value::Array(entries)
    }
}

/// Who a request comes from, as an [`Authorizer`] established it: a name, or anonymous.
///
/// Put in the request's and the response's extensions when a request is allowed.
///
/// ```
/// use tower_oci::auth::Principal;
/// assert_eq!(Principal::named("alice").name(), Some("alice"));
/// assert!(Principal::anonymous().is_anonymous());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Principal {
    name: Option<Arc<str>>,
}

impl Principal {
    /// Nobody in particular.
    pub fn anonymous() -> Self {
        Principal { name: None }
    }

    /// A named user, service or token subject.
    pub fn named(name: impl Into<Arc<str>>) -> Self {
        Principal {
            name: Some(name.into()),
        }
    }

    /// The name; `None` when anonymous.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// True when anonymous.
    pub fn is_anonymous(&self) -> bool {
        self.name.is_none()
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name().unwrap_or("-"))
    }
}

/// How a client should authenticate: the `WWW-Authenticate` value of a 401.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    www_authenticate: HeaderValue,
}

impl Challenge {
    /// A challenge with this exact `WWW-Authenticate` value.
    pub fn new(www_authenticate: HeaderValue) -> Self {
        Challenge { www_authenticate }
    }

    /// `Basic realm="<realm>"`.
    ///
    /// ```
    /// use tower_oci::auth::Challenge;
    /// assert_eq!(Challenge::basic("registry").www_authenticate(), "Basic realm=\"registry\"");
    /// ```
    pub fn basic(realm: &str) -> Self {
        Self::from_text(format!("Basic realm={}", quoted(realm)))
    }

    /// `Bearer realm="<realm>",service="<service>"[,scope="<scope>"][,error="<error>"]`, as
    /// the token spec and RFC 6750 write it.
    ///
    /// ```
    /// use tower_oci::auth::Challenge;
    /// let c = Challenge::bearer("https://auth.example/token", "registry.example",
    ///     Some("repository:a:pull"), Some("insufficient_scope"));
    /// assert_eq!(
    ///     c.www_authenticate(),
    ///     "Bearer realm=\"https://auth.example/token\",service=\"registry.example\",\
    ///      scope=\"repository:a:pull\",error=\"insufficient_scope\""
    /// );
    /// ```
    pub fn bearer(realm: &str, service: &str, scope: Option<&str>, error: Option<&str>) -> Self {
        let mut text = format!("Bearer realm={},service={}", quoted(realm), quoted(service));
        if let Some(scope) = scope {
            text.push_str(",scope=");
            text.push_str(&quoted(scope));
        }
        if let Some(error) = error {
            text.push_str(",error=");
            text.push_str(&quoted(error));
        }
        Self::from_text(text)
    }

    fn from_text(text: String) -> Self {
        // Control characters (only possible from a host's own settings) cannot go in a header.
        let clean: String = text.chars().filter(|c| !c.is_control()).collect();
        Challenge {
            www_authenticate: HeaderValue::from_str(&clean)
                .unwrap_or_else(|_| HeaderValue::from_static("Basic")),
        }
    }

    /// The header value.
    pub fn www_authenticate(&self) -> &HeaderValue {
        &self.www_authenticate
    }
}

/// A quoted-string (RFC 9110): `"` and `\` escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// What an [`Authorizer`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Go on, as this principal.
    Allow(Principal),
    /// 401 `UNAUTHORIZED` with this challenge: no credentials, wrong ones, or (Bearer) a token
    /// that does not grant enough.
    Challenge(Challenge),
    /// 403 `DENIED`: authenticated, but not allowed.
    Deny,
}

/// Decides, for each registry request, whether it may go on and as whom. See the
/// [module docs](self) for when it is called and an example.
///
/// Object-safe: the layer holds an `Arc<dyn Authorizer>`. Any
/// `Fn(&http::request::Parts, Access<'_>) -> impl Future<Output = Decision>` closure is one
/// (its future must not borrow the arguments; a type implementing the trait can).
pub trait Authorizer: Send + Sync + 'static {
    /// Decides request `head` needing `access`. The body has not been read.
    fn authorize<'a>(
        &'a self,
        head: &'a http::request::Parts,
        access: Access<'a>,
    ) -> BoxFuture<'a, Decision>;
}

impl<F, Fut> Authorizer for F
where
    F: Fn(&http::request::Parts, Access<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Decision> + Send + 'static,
{
    fn authorize<'a>(
        &'a self,
        head: &'a http::request::Parts,
        access: Access<'a>,
    ) -> BoxFuture<'a, Decision> {
        Box::pin(self(head, access))
    }
}

/// The layer's authorizer, if any (Debug for the layer's derive).
#[derive(Clone, Default)]
pub(crate) struct Hook(pub(crate) Option<Arc<dyn Authorizer>>);

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Authorizer"
        } else {
            "Open"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_lists_each_action() {
        let access = Access::Repository {
            name: "a/b",
            actions: Actions::PULL | Actions::PUSH,
        };
        assert_eq!(
            access.detail().to_string(),
            r#"[{"Action":"pull","Name":"a/b","Type":"repository"},{"Action":"push","Name":"a/b","Type":"repository"}]"#
        );
        assert_eq!(Access::Base.scope_param(), None);
        assert_eq!(
            Access::Catalog.scope_param().as_deref(),
            Some("registry:catalog:*")
        );
    }

    #[test]
    fn challenge_quotes_its_parameters() {
        let c = Challenge::basic("a \"quoted\" \\ realm\n");
        assert_eq!(
            c.www_authenticate(),
            r#"Basic realm="a \"quoted\" \\ realm""#
        );
    }
}
