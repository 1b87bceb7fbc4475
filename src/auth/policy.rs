//! [`Policy`]: who may pull, push and delete in which repositories.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::{Access, Actions};
use crate::protocol::name::glob_matches;

/// Per-repository permissions: rules by repository glob for users, for any authenticated
/// user and for anonymous clients, a default, and admins.
///
/// # File format
///
/// One rule a line; `#` starts a comment; blank lines are ignored; words are separated by
/// spaces or tabs.
///
/// ```text
/// # who        repositories    actions
/// admin        alice                          # every action everywhere, and the catalog
/// bob          team/*          pull,push      # a user (as named in the htpasswd file)
/// *            public/**       pull           # any authenticated user
/// anonymous    public/**       pull           # clients sending no credentials (and everyone)
/// default                      pull           # any authenticated user, every repository
/// ```
///
/// - Actions: a comma-separated list of `pull`, `push`, `delete`; `*` for all three; `-` for
///   none. Writes (manifest `PUT`, uploads) need `pull,push`, as in distribution.
/// - Repository globs: `*` matches within one path component, `**` any number of components
///   (`team/**` matches `team/a` and `team/a/b`, `**` everything); anything else matches
///   itself.
/// - What a client may do in a repository is everything every matching rule grants it: its
///   own rules, the `*` rules and `default` when authenticated, and the `anonymous` rules
///   always. Nothing else is granted (no rules: nobody may do anything; an admin may do all).
/// - `anonymous` and `*` are keywords: a user cannot be called that.
/// - The catalog (`GET /v2/_catalog`) is open to admins, to any authenticated user and (when
///   there is an `anonymous` rule) to anonymous clients; it lists only the repositories the
///   client may pull.
///
/// ```
/// use tower_oci::auth::{Actions, Policy};
///
/// let policy: Policy = "admin root\nbob team/* pull,push\nanonymous public/** pull\n".parse()?;
/// assert_eq!(policy.actions(Some("bob"), "team/app"), Actions::PULL | Actions::PUSH);
/// assert_eq!(policy.actions(Some("bob"), "team/a/b"), Actions::NONE);
/// assert_eq!(policy.actions(None, "public/x/y"), Actions::PULL);
/// assert_eq!(policy.actions(Some("root"), "anything"), Actions::ALL);
/// # Ok::<(), tower_oci::auth::PolicyError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    admins: Vec<String>,
    rules: Vec<Rule>,
    default: Actions,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    who: Who,
    glob: String,
    actions: Actions,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Who {
    User(String),
    Authenticated,
    Anonymous,
}

/// A policy file that does not parse: the line (from 1) and what is wrong with it.
#[derive(Debug)]
pub struct PolicyError {
    line: usize,
    message: String,
}

impl PolicyError {
    /// The line (from 1; 0 when the file could not be read).
    pub fn line(&self) -> usize {
        self.line
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "policy: {}", self.message)
        } else {
            write!(f, "policy line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

fn parse_actions(word: &str, line: usize) -> Result<Actions, PolicyError> {
    if word == "-" {
        return Ok(Actions::NONE);
    }
    let mut all = Actions::NONE;
    for name in word.split(',') {
        all = all
            | Actions::from_name(name).ok_or_else(|| PolicyError {
                line,
                message: format!("unknown action `{name}` (pull, push, delete, * or -)"),
            })?;
    }
    Ok(all)
}

impl Policy {
    /// Every authenticated user may do everything; anonymous clients nothing.
    pub fn authenticated_all() -> Policy {
        Policy {
            default: Actions::ALL,
            ..Policy::default()
        }
    }

    /// Parses the [file format](Policy#file-format).
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let mut policy = Policy::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("");
            let words: Vec<&str> = content.split_whitespace().collect();
            let error = |message: &str| PolicyError {
                line,
                message: message.to_owned(),
            };
            match words.as_slice() {
                [] => {}
                ["admin", user] => policy.admins.push((*user).to_owned()),
                ["admin", ..] => return Err(error("`admin <user>`")),
                ["default", actions] => policy.default = parse_actions(actions, line)?,
                ["default", ..] => return Err(error("`default <actions>`")),
                [who, glob, actions] => {
                    if glob.is_empty() || glob.contains(char::is_uppercase) {
                        return Err(error("repository globs are lower case"));
                    }
                    let who = match *who {
                        "*" => Who::Authenticated,
                        "anonymous" => Who::Anonymous,
                        user => Who::User(user.to_owned()),
                    };
                    policy.rules.push(Rule {
                        who,
                        glob: (*glob).to_owned(),
                        actions: parse_actions(actions, line)?,
                    });
                }
                _ => return Err(error("expected `<who> <repository-glob> <actions>`")),
            }
        }
        Ok(policy)
    }

    /// Reads and parses a policy file.
    pub fn load(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            line: 0,
            message: format!("{}: {e}", path.display()),
        })?;
        Policy::parse(&text)
    }

    /// True when `user` is an admin.
    pub fn is_admin(&self, user: Option<&str>) -> bool {
        user.is_some_and(|u| self.admins.iter().any(|a| a == u))
    }

    /// What `user` (`None`: anonymous) may do in `repository`.
    pub fn actions(&self, user: Option<&str>, repository: &str) -> Actions {
        if self.is_admin(user) {
            return Actions::ALL;
        }
        let mut granted = if user.is_some() {
            self.default
        } else {
            Actions::NONE
        };
        for rule in &self.rules {
            let applies = match &rule.who {
                Who::Anonymous => true,
                Who::Authenticated => user.is_some(),
                Who::User(name) => user == Some(name.as_str()),
            };
            if applies && glob_matches(rule.glob.as_bytes(), repository.as_bytes()) {
                granted = granted | rule.actions;
            }
        }
        granted
    }

    /// Whether `user` may list the catalog (which then shows only what they may pull).
    pub fn may_list_catalog(&self, user: Option<&str>) -> bool {
        user.is_some() || self.rules.iter().any(|r| r.who == Who::Anonymous)
    }

    /// Whether `user` (`None`: anonymous) has everything `access` needs. `Access::Base` is
    /// granted to everyone (who is asking is the authenticator's business).
    pub fn allows(&self, user: Option<&str>, access: Access<'_>) -> bool {
        match access {
            Access::Base => true,
            Access::Catalog => self.may_list_catalog(user),
            _ => access
                .scopes()
                .all(|scope| self.actions(user, scope.name).contains(scope.actions)),
        }
    }
}

impl FromStr for Policy {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let m = |g: &str, n: &str| glob_matches(g.as_bytes(), n.as_bytes());
        assert!(m("team/*", "team/app"));
        assert!(!m("team/*", "team/a/b"));
        assert!(!m("team/*", "team"));
        assert!(m("team/**", "team/a/b"));
        assert!(!m("team/**", "teams/a"));
        assert!(m("**", "a/b/c"));
        assert!(m("**/cache", "a/b/cache"));
        assert!(m("**/cache", "cache"));
        assert!(m("*-dev/*", "x-dev/app"));
        assert!(m("exact", "exact"));
        assert!(!m("exact", "exactly"));
    }

    #[test]
    fn parses_the_documented_format() {
        let text = "# who repos actions\n\
                    admin alice\n\
                    bob\tteam/*   pull,push   # trailing comment\n\
                    * public/** pull\n\
                    anonymous public/** pull\n\
                    carol private/** *\n\
                    dave x -\n\
                    default pull\n";
        let p = Policy::parse(text).expect("parses");
        assert_eq!(p.actions(Some("alice"), "anything"), Actions::ALL);
        assert!(p.is_admin(Some("alice")) && !p.is_admin(None));
        assert_eq!(
            p.actions(Some("bob"), "team/app"),
            Actions::PULL | Actions::PUSH
        );
        assert_eq!(p.actions(Some("bob"), "other"), Actions::PULL, "default");
        assert_eq!(p.actions(None, "other"), Actions::NONE);
        assert_eq!(p.actions(None, "public/a"), Actions::PULL);
        assert_eq!(p.actions(Some("carol"), "private/a"), Actions::ALL);
        assert_eq!(p.actions(Some("dave"), "x"), Actions::PULL);
        assert!(p.allows(
            Some("bob"),
            Access::Mount {
                name: "team/a",
                from: "public/b"
            }
        ));
        assert!(!p.allows(
            Some("bob"),
            Access::Mount {
                name: "other",
                from: "public/b"
            }
        ));
        assert!(p.may_list_catalog(None));
        assert!(!Policy::parse("bob a pull")
            .expect("parses")
            .may_list_catalog(None));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("admin\n", 1),
            ("\nbob repo pul\n", 2),
            ("bob repo\n", 1),
            ("default\n", 1),
            ("a b c d\n", 1),
            ("bob Team/* pull\n", 1),
        ] {
            let e = Policy::parse(text).expect_err(text);
            assert_eq!(e.line(), line, "{text:?}: {e}");
        }
        assert_eq!(Policy::parse("").expect("empty"), Policy::default());
        assert_eq!(
            Policy::authenticated_all().actions(Some("x"), "y"),
            Actions::ALL
        );
    }
}
