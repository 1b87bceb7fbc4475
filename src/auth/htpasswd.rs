//! [`Htpasswd`]: users and bcrypt hashes from an Apache htpasswd file.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

/// How long a successful check is remembered.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// The most remembered checks.
const CACHE_ENTRIES: usize = 1024;
/// How often the file's modification time and size are looked at, at most.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// The users of an htpasswd file with bcrypt hashes (`$2y$`, `$2a$`, `$2b$`, as
/// `htpasswd -B` writes them), checked without blocking the async threads.
///
/// - The file is reloaded when its modification time or size changes (looked at, at most,
///   once a second, when a check comes); a file that no longer parses is logged and the users
///   already loaded stay.
/// - A user that is not in the file costs one bcrypt check as well (against a dummy hash of
///   the file's highest cost), so timing does not tell which users exist.
/// - A successful check is remembered for 60 seconds (at most 1024 of them, keyed by a salted
///   SHA-256 of user and password), so a client that sends its credentials with every request
///   costs one bcrypt a minute. Reloading the file forgets them all.
/// - bcrypt runs on tokio's blocking pool, a few at a time (twice the cores), so a flood of
///   wrong passwords cannot take every blocking thread.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_oci::auth::Htpasswd;
///
/// // What `htpasswd -nbB -C 4 alice secret` prints (cost 4 keeps the example fast).
/// let hash = bcrypt::hash("secret", 4).unwrap();
/// let users = Htpasswd::parse(&format!("# users\nalice:{hash}\n")).unwrap();
/// assert!(users.verify("alice", "secret").await);
/// assert!(!users.verify("alice", "wrong").await);
/// assert!(!users.verify("mallory", "secret").await);
/// # }
/// ```
pub struct Htpasswd {
    path: Option<PathBuf>,
    state: Mutex<State>,
    cache: Mutex<Cache>,
    /// Salts the cache keys, so they are no plain hash of a password.
    salt: [u8; 16],
    bcrypt_slots: Semaphore,
}

struct State {
    users: Arc<Users>,
    /// Modification time and size of the file as loaded.
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
}

struct Users {
    hashes: HashMap<String, String>,
    /// Checked for users not in the file.
    dummy: String,
}

#[derive(Default)]
struct Cache {
    /// Key -> when it stops counting.
    valid_until: HashMap<[u8; 32], Instant>,
}

/// An htpasswd file that cannot be read or does not parse.
#[derive(Debug)]
pub struct HtpasswdError {
    line: usize,
    message: String,
}

impl HtpasswdError {
    /// The offending line (from 1; 0 when the file could not be read).
    pub fn line(&self) -> usize {
        self.line
    }
}

impl fmt::Display for HtpasswdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "htpasswd: {}", self.message)
        } else {
            write!(f, "htpasswd line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for HtpasswdError {}

/// The cost field of a bcrypt hash (`$2y$05$...` -> 5).
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let rest = hash
        .strip_prefix("$2y$")
        .or_else(|| hash.strip_prefix("$2a$"))
        .or_else(|| hash.strip_prefix("$2b$"))?;
    let cost = rest.get(..2)?.parse().ok()?;
    (rest.len() == 56 && rest.as_bytes().get(2) == Some(&b'$')).then_some(cost)
}

/// Parses `user:hash` lines (blank lines and `#` comments skipped).
fn parse_users(text: &str) -> Result<HashMap<String, String>, HtpasswdError> {
    let mut hashes = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let entry = raw.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        let error = |message: &str| HtpasswdError {
            line,
            message: message.to_owned(),
        };
        let (user, hash) = entry
            .split_once(':')
            .ok_or_else(|| error("expected `user:hash`"))?;
        if user.is_empty() {
            return Err(error("empty user name"));
        }
        if bcrypt_cost(hash).is_none() {
            return Err(error(
                "only bcrypt hashes ($2y$, $2a$, $2b$: `htpasswd -B`) are supported",
            ));
        }
        hashes.insert(user.to_owned(), hash.to_owned());
    }
    Ok(hashes)
}

fn load_users(text: &str) -> Result<Users, HtpasswdError> {
    let hashes = parse_users(text)?;
    let cost = hashes
        .values()
        .filter_map(|h| bcrypt_cost(h))
        .max()
        .unwrap_or(bcrypt::DEFAULT_COST);
    let mut salt = [0u8; 16];
    salt.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let dummy = bcrypt::hash_with_salt(b"not a password of anyone", cost, salt)
        .map(|parts| parts.format_for_version(bcrypt::Version::TwoY))
        .map_err(|e| HtpasswdError {
            line: 0,
            message: format!("cannot make the dummy hash: {e}"),
        })?;
    Ok(Users { hashes, dummy })
}

fn stamp_of(path: &Path) -> std::io::Result<(SystemTime, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}

impl Htpasswd {
    fn build(path: Option<PathBuf>, users: Users, stamp: Option<(SystemTime, u64)>) -> Self {
        let mut salt = [0u8; 16];
        salt.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        Htpasswd {
            path,
            state: Mutex::new(State {
                users: Arc::new(users),
                stamp,
                checked: Instant::now(),
            }),
            cache: Mutex::new(Cache::default()),
            salt,
            bcrypt_slots: Semaphore::new(slots),
        }
    }

    /// Users from htpasswd text, fixed (never reloaded).
    pub fn parse(text: &str) -> Result<Htpasswd, HtpasswdError> {
        Ok(Htpasswd::build(None, load_users(text)?, None))
    }

    /// Users from the file at `path`, reloaded when it changes. Reads it now (blocking: call
    /// it at start-up), so a missing or broken file is an error here rather than later.
    pub fn open(path: impl Into<PathBuf>) -> Result<Htpasswd, HtpasswdError> {
        let path = path.into();
        let unreadable = |e: std::io::Error| HtpasswdError {
            line: 0,
            message: format!("{}: {e}", path.display()),
        };
        let stamp = stamp_of(&path).map_err(unreadable)?;
        let text = std::fs::read_to_string(&path).map_err(unreadable)?;
        let users = load_users(&text)?;
        Ok(Htpasswd::build(Some(path), users, Some(stamp)))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Each update replaces whole values, so a panic elsewhere cannot leave it torn.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The users as loaded, after reloading the file if it changed.
    async fn current(&self) -> Arc<Users> {
        let Some(path) = &self.path else {
            return Arc::clone(&self.state().users);
        };
        let stamp = {
            let mut state = self.state();
            if state.checked.elapsed() < RELOAD_CHECK {
                return Arc::clone(&state.users);
            }
            state.checked = Instant::now();
            state.stamp
        };
        let path = path.clone();
        let reloaded = tokio::task::spawn_blocking(move || {
            let now = stamp_of(&path).ok();
            if now.is_none() || now == stamp {
                return None;
            }
            let result = std::fs::read_to_string(&path)
                .map_err(|e| HtpasswdError {
                    line: 0,
                    message: e.to_string(),
                })
                .and_then(|text| load_users(&text));
            Some((now, result, path))
        })
        .await
        .ok()
        .flatten();
        let mut state = self.state();
        match reloaded {
            Some((stamp, Ok(users), _)) => {
                state.users = Arc::new(users);
                state.stamp = stamp;
                drop(state);
                self.cache().valid_until.clear();
                tracing::info!("htpasswd file reloaded");
                Arc::clone(&self.state().users)
            }
            Some((stamp, Err(e), path)) => {
                // Not retried until the file changes again.
                state.stamp = stamp;
                tracing::warn!(path = %path.display(), error = %e, "htpasswd file not reloaded; the users loaded before stay");
                Arc::clone(&state.users)
            }
            None => Arc::clone(&state.users),
        }
    }

    fn cache_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.salt);
        hash.update((user.len() as u64).to_le_bytes());
        hash.update(user.as_bytes());
        hash.update(password.as_bytes());
        hash.finalize().into()
    }

    /// True when `user` is in the file and `password` is theirs.
    pub async fn verify(&self, user: &str, password: &str) -> bool {
        let users = self.current().await;
        let key = self.cache_key(user, password);
        let now = Instant::now();
        if self
            .cache()
            .valid_until
            .get(&key)
            .is_some_and(|until| *until > now)
        {
            return true;
        }
        let known = users.hashes.get(user);
        let hash = known.unwrap_or(&users.dummy).clone();
        let password = password.to_owned();
        let Ok(_slot) = self.bcrypt_slots.acquire().await else {
            return false;
        };
        let matched = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let ok = matched && known.is_some();
        if ok {
            let mut cache = self.cache();
            if cache.valid_until.len() >= CACHE_ENTRIES {
                cache.valid_until.retain(|_, until| *until > now);
                if cache.valid_until.len() >= CACHE_ENTRIES {
                    cache.valid_until.clear();
                }
            }
            cache.valid_until.insert(key, now + CACHE_TTL);
        }
        ok
    }

    /// How many users are loaded.
    pub fn len(&self) -> usize {
        self.state().users.hashes.len()
    }

    /// True when no user is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Htpasswd")
            .field("path", &self.path)
            .field("users", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(password: &str, version: bcrypt::Version) -> String {
        bcrypt::hash_with_result(password, 4)
            .expect("hash")
            .format_for_version(version)
    }

    #[test]
    fn parses_bcrypt_lines_and_rejects_others() {
        let y = hash("a", bcrypt::Version::TwoY);
        let b = hash("b", bcrypt::Version::TwoB);
        let a = hash("c", bcrypt::Version::TwoA);
        let text = format!("# comment\n\nalice:{y}\n  bob:{b}  \ncarol:{a}\n");
        let users = parse_users(&text).expect("parses");
        assert_eq!(users.len(), 3);
        assert_eq!(users.get("bob"), Some(&b));
        for (bad, line) in [
            ("alice:$apr1$abc$def\n".to_owned(), 1),
            ("\nbob:{SHA}abc=\n".to_owned(), 2),
            ("nocolon\n".to_owned(), 1),
            (format!(":{y}\n"), 1),
            ("alice:$2y$04$short\n".to_owned(), 1),
        ] {
            let e = parse_users(&bad).expect_err(&bad);
            assert_eq!(e.line(), line, "{bad:?}: {e}");
        }
        assert_eq!(bcrypt_cost(&y), Some(4));
        // What `htpasswd -nbB -C 5 u p` printed once.
        assert_eq!(
            bcrypt_cost("$2y$05$Fq3xuWmOBAKk9bDCOvl7zuFn3qSeOf6Y3VHSgfBqUk1ntZD1DKqx."),
            Some(5)
        );
    }

    #[tokio::test]
    async fn verifies_caches_and_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("htpasswd");
        std::fs::write(
            &path,
            format!("alice:{}\n", hash("one", bcrypt::Version::TwoY)),
        )
        .expect("write");
        let users = Htpasswd::open(&path).expect("opens");
        assert!(users.verify("alice", "one").await);
        assert!(!users.verify("alice", "two").await);
        assert!(!users.verify("nobody", "one").await);
        assert_eq!(
            users.cache().valid_until.len(),
            1,
            "only successes are cached"
        );

        // A new password (and a different size): after the reload check interval, the old
        // password, though cached, no longer works.
        std::fs::write(
            &path,
            format!(
                "alice:{}\nbob:{}\n",
                hash("two", bcrypt::Version::TwoB),
                hash("b", bcrypt::Version::TwoB)
            ),
        )
        .expect("write");
        users.state().checked = Instant::now() - RELOAD_CHECK;
        assert!(!users.verify("alice", "one").await);
        assert!(users.verify("alice", "two").await);
        assert_eq!(users.len(), 2);

        // A broken file keeps the users loaded before.
        std::fs::write(&path, "garbage\n").expect("write");
        users.state().checked = Instant::now() - RELOAD_CHECK;
        assert!(users.verify("bob", "b").await);
        assert!(Htpasswd::open(dir.path().join("missing")).is_err());
    }
}
