//! Upload sessions as this process sees them: the caps on open sessions (global, per
//! repository and per principal, reserved atomically before a session is stored), which sessions a request of
//! this process is writing to, and the background sweep that expires idle ones.
//!
//! The sessions themselves (state, bytes, hash state) live in storage, so any process sharing
//! the storage can continue them; this module only keeps counts. After a restart the counts are
//! seeded from storage on first use. Caps are per process: replicas each enforce their own.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use crate::storage::{ListOptions, Storage};
use crate::telemetry;

/// Why a session could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CapReached {
    /// The registry-wide cap.
    Global,
    /// The repository's cap.
    Repository,
    /// The cap of the principal (a named user) opening the session.
    Principal,
}

/// The caps on open sessions (see the layer's `max_uploads*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    /// In the whole registry.
    pub(crate) total: usize,
    /// In one repository.
    pub(crate) per_repository: usize,
    /// Opened by one named principal (anonymous sessions are not counted against it).
    pub(crate) per_principal: usize,
}

impl Caps {
    /// The caps the settings ask for.
    pub(crate) fn of(config: &crate::settings::Config) -> Self {
        Caps {
            total: config.max_uploads,
            per_repository: config.max_uploads_per_repository,
            per_principal: config.max_uploads_per_principal,
        }
    }
}

/// What is counted of one session: its repository and, if named, its owner.
#[derive(Debug)]
struct Counted {
    repo: String,
    owner: Option<String>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Session id -> repository and owner, for every session counted here.
    counted: HashMap<String, Counted>,
    per_repository: HashMap<String, usize>,
    /// Sessions per named owner.
    per_principal: HashMap<String, usize>,
    /// Sessions a request of this process is writing to: the sweep leaves them alone.
    active: HashSet<String>,
    /// Unstored sessions this process finished lately, oldest first, at most
    /// [`FINISHED_KEPT`]: their ids answer 404 here although nothing is stored for them.
    finished: HashSet<String>,
    finished_order: VecDeque<String>,
}

/// How many finished unstored sessions a process remembers.
const FINISHED_KEPT: usize = 4096;

impl Counts {
    fn insert(&mut self, id: &str, repo: &str, owner: Option<&str>) {
        if self.counted.contains_key(id) {
            return;
        }
        self.counted.insert(
            id.to_owned(),
            Counted {
                repo: repo.to_owned(),
                owner: owner.map(str::to_owned),
            },
        );
        *self.per_repository.entry(repo.to_owned()).or_default() += 1;
        if let Some(owner) = owner {
            *self.per_principal.entry(owner.to_owned()).or_default() += 1;
        }
        telemetry::upload_sessions_open(self.counted.len());
    }

    fn room(&self, repo: &str, owner: Option<&str>, caps: Caps) -> Result<(), CapReached> {
        if self.counted.len() >= caps.total {
            return Err(CapReached::Global);
        }
        if self.per_repository.get(repo).copied().unwrap_or(0) >= caps.per_repository {
            return Err(CapReached::Repository);
        }
        if let Some(owner) = owner {
            if self.per_principal.get(owner).copied().unwrap_or(0) >= caps.per_principal {
                return Err(CapReached::Principal);
            }
        }
        Ok(())
    }

    fn remove(&mut self, id: &str) {
        fn decrement(map: &mut HashMap<String, usize>, key: String) {
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        if let Some(Counted { repo, owner }) = self.counted.remove(id) {
            decrement(&mut self.per_repository, repo);
            if let Some(owner) = owner {
                decrement(&mut self.per_principal, owner);
            }
            telemetry::upload_sessions_open(self.counted.len());
        }
    }
}

/// The upload-session bookkeeping of one registry.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    counts: Mutex<Counts>,
    seeded: tokio::sync::OnceCell<()>,
    sweeper_started: AtomicBool,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Every update is a few map operations that leave the maps consistent at each step, so
        // a panic elsewhere while holding the lock cannot leave them torn.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the sessions storage already holds (left by an earlier run), once.
    async fn seed(&self, storage: &dyn Storage) {
        self.seeded
            .get_or_init(|| async {
                let mut after = None;
                loop {
                    match storage.list_uploads(ListOptions::new(after, 1000)).await {
                        Ok(page) => {
                            let mut counts = self.lock();
                            // Closed sessions' markers hold nothing and count for no cap.
                            for state in page.items.iter().filter(|s| !s.closed) {
                                counts.insert(&state.id, &state.repo, state.principal.as_deref());
                            }
                            drop(counts);
                            after = page.items.last().map(|s| s.id.clone());
                            if !page.more || after.is_none() {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not count stored upload sessions");
                            break;
                        }
                    }
                }
            })
            .await;
    }

    /// Reserves a place for new session `id` of `repo` opened by `owner` (`None`: anonymous,
    /// or no authorizer), checking every cap and counting it in one step under one lock, so
    /// concurrent starts can never overshoot.
    pub(crate) async fn reserve(
        &self,
        storage: &dyn Storage,
        id: &str,
        repo: &str,
        owner: Option<&str>,
        caps: Caps,
    ) -> Result<(), CapReached> {
        self.seed(storage).await;
        let mut counts = self.lock();
        counts.room(repo, owner, caps)?;
        counts.insert(id, repo, owner);
        Ok(())
    }

    /// Whether stored sessions are below every cap now (a check, not a reservation: a
    /// session is counted when its first byte is stored).
    pub(crate) async fn has_room(
        &self,
        storage: &dyn Storage,
        repo: &str,
        owner: Option<&str>,
        caps: Caps,
    ) -> Result<(), CapReached> {
        self.seed(storage).await;
        self.lock().room(repo, owner, caps)
    }

    /// Remembers that unstored session `id` was finished by this process.
    pub(crate) fn note_finished(&self, id: &str) {
        let mut counts = self.lock();
        if counts.finished.insert(id.to_owned()) {
            counts.finished_order.push_back(id.to_owned());
            if counts.finished_order.len() > FINISHED_KEPT {
                if let Some(old) = counts.finished_order.pop_front() {
                    counts.finished.remove(&old);
                }
            }
        }
    }

    /// Whether this process finished unstored session `id` lately.
    pub(crate) fn was_finished(&self, id: &str) -> bool {
        self.lock().finished.contains(id)
    }

    /// Forgets session `id` (finished, cancelled, expired, or never stored).
    pub(crate) fn release(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Marks session `id` as being written by a request of this process until the guard drops.
    pub(crate) fn activate(self: &Arc<Self>, id: &str, repo: &str, owner: Option<&str>) -> Active {
        let mut counts = self.lock();
        // A session started by another process (or before a restart) is counted from now on.
        counts.insert(id, repo, owner);
        counts.active.insert(id.to_owned());
        Active {
            sessions: Arc::clone(self),
            id: id.to_owned(),
        }
    }

    /// Removes sessions idle for `timeout` or longer (their bytes go with them), except those
    /// a request of this process is writing to. Returns how many went.
    pub(crate) async fn sweep(&self, storage: &dyn Storage, timeout: Duration) -> usize {
        self.sweep_with(storage, timeout, false).await
    }

    /// [`Sessions::sweep`], or with `dry_run` only counting what it would remove.
    pub(crate) async fn sweep_with(
        &self,
        storage: &dyn Storage,
        timeout: Duration,
        dry_run: bool,
    ) -> usize {
        let now = SystemTime::now();
        let mut after = None;
        let mut expired = 0;
        loop {
            let page = match storage.list_uploads(ListOptions::new(after, 1000)).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "upload sweep could not list sessions");
                    return expired;
                }
            };
            for state in &page.items {
                let idle = now.duration_since(state.updated).unwrap_or_default();
                if idle < timeout || self.lock().active.contains(&state.id) {
                    continue;
                }
                if dry_run {
                    expired += 1;
                    continue;
                }
                match storage.delete_upload(&state.id).await {
                    Ok(()) => expired += 1,
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "upload sweep could not remove a session");
                        continue;
                    }
                }
                self.release(&state.id);
            }
            after = page.items.last().map(|s| s.id.clone());
            if !page.more || after.is_none() {
                return expired;
            }
        }
    }

    /// Starts the expiry sweep on the current tokio runtime, once. It runs every quarter of
    /// `timeout` (between 1 s and 1 min) and ends when the registry is dropped.
    pub(crate) fn start_sweeper(self: &Arc<Self>, storage: &Arc<dyn Storage>, timeout: Duration) {
        // Every request calls this: after the first, one shared load (no write to a cache line
        // all cores read) and nothing else.
        if self.sweeper_started.load(Ordering::Acquire)
            || self.sweeper_started.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let storage: Weak<dyn Storage> = Arc::downgrade(storage);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeper_started.store(false, Ordering::Release);
            return;
        };
        let sessions = Arc::downgrade(self);
        let every = (timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let (Some(sessions), Some(storage)) = (sessions.upgrade(), storage.upgrade())
                else {
                    return;
                };
                let expired = sessions.sweep(storage.as_ref(), timeout).await;
                telemetry::upload_sessions_expired(expired);
                if expired > 0 {
                    tracing::debug!(expired, "expired idle upload sessions");
                }
            }
        });
    }

    #[cfg(test)]
    fn open_count(&self) -> usize {
        self.lock().counted.len()
    }
}

/// A session being written by a request of this process (see [`Sessions::activate`]).
#[derive(Debug)]
pub(crate) struct Active {
    sessions: Arc<Sessions>,
    id: String,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.sessions.lock().active.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    fn caps(total: usize, per_repository: usize) -> Caps {
        Caps {
            total,
            per_repository,
            per_principal: 2,
        }
    }

    #[tokio::test]
    async fn principals_have_their_own_cap_and_anonymous_none() {
        let sessions = Sessions::default();
        let storage = MemoryStorage::new();
        let caps = caps(100, 100);
        for i in 0..2 {
            let id = format!("alice-{i}");
            sessions
                .reserve(&storage, &id, "r", Some("alice"), caps)
                .await
                .unwrap();
        }
        assert_eq!(
            sessions
                .reserve(&storage, "alice-2", "other", Some("alice"), caps)
                .await,
            Err(CapReached::Principal)
        );
        assert_eq!(
            sessions.has_room(&storage, "r", Some("alice"), caps).await,
            Err(CapReached::Principal)
        );
        // Another user and anonymous clients are not held by alice's sessions.
        assert!(sessions
            .has_room(&storage, "r", Some("bob"), caps)
            .await
            .is_ok());
        for i in 0..5 {
            let id = format!("anon-{i}");
            sessions
                .reserve(&storage, &id, "r", None, caps)
                .await
                .unwrap();
        }
        // A finished session frees its place.
        sessions.release("alice-0");
        assert!(sessions
            .reserve(&storage, "alice-3", "r", Some("alice"), caps)
            .await
            .is_ok());
        assert_eq!(sessions.open_count(), 2 + 5);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn caps_hold_under_concurrent_reservations() {
        let sessions = Arc::new(Sessions::default());
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let mut tasks = Vec::new();
        for i in 0..64 {
            let (sessions, storage) = (Arc::clone(&sessions), Arc::clone(&storage));
            tasks.push(tokio::spawn(async move {
                let repo = if i % 2 == 0 { "a" } else { "b" };
                sessions
                    .reserve(
                        storage.as_ref(),
                        &format!("id-{i}"),
                        repo,
                        None,
                        caps(40, 16),
                    )
                    .await
            }));
        }
        let mut granted = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                granted += 1;
            }
        }
        assert_eq!(granted, 32, "16 per repository, two repositories");
        assert_eq!(sessions.open_count(), 32);
        sessions.release("id-0");
        assert!(sessions
            .reserve(storage.as_ref(), "id-new", "a", None, caps(40, 16))
            .await
            .is_ok());
        assert_eq!(
            sessions
                .reserve(storage.as_ref(), "id-x", "c", None, caps(32, 16))
                .await,
            Err(CapReached::Global)
        );
    }
}
