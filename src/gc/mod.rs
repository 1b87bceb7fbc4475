//! Online garbage collection and retention: disk that comes back while the registry serves.
//!
//! A [`Collector`] run, on any [`Storage`]:
//!
//! 1. **Retention** (opt-in, [`Retention`]): drops tags beyond the newest N of repositories
//!    matching a glob, then deletes untagged manifests older than a delay, never one an index
//!    of the same repository lists and never a referrer whose subject the repository holds.
//! 2. **Mark**: every manifest of every repository (tagged or not) is live, with everything it
//!    names: config, layers, `blobs`, index children and its subject (so a subject lives while
//!    its referrers do). A failed listing or read aborts the run before anything is deleted.
//! 3. **Sweep**: blob content (manifest content included) that nothing marked and that was last
//!    touched before `start - grace` is deleted, each with
//!    [`DeleteContentOptions::untouched_since`] at that cutoff, so content touched since the
//!    run started is kept.
//!    Then per-repository links to content that is gone are removed
//!    ([`Storage::delete_dangling_link`], atomic with a re-push of that content; ObjectStorage
//!    keeps them).
//! 4. Upload sessions idle for the upload timeout go with their bytes (closed-session markers
//!    too), then backend leftovers ([`Storage::delete_leftovers`]: ObjectStorage's unreferenced
//!    chunks) older than the grace.
//!
//! The layer runs it every [`GcOptions::interval`] (see `OciLayer::gc`), or the host drives it
//! through [`OciLayer::collector`](crate::OciLayer::collector). It never takes a lock a request
//! waits on for longer than one file's check-and-delete, so requests are never blocked.
//! [`GcOptions::dry_run`] deletes nothing and reports what would go.
//!
//! # Why a concurrent push is never lost
//!
//! Content's *touched time* is refreshed when it is written, re-pushed, linked or mounted,
//! when a manifest `PUT` references it, and (at most once per blob per
//! [`touch interval`](GcOptions::touch_interval), `grace / 8` capped at a minute, per process)
//! when a blob `HEAD`/`GET` answers. Every touch is followed by an existence check, and
//! backends make "check the touched time, then delete" atomic with respect to touches
//! ([`Storage::delete_blob_content`]): FsStorage and MemoryStorage under a lock,
//! ObjectStorage by deleting the pointer, re-reading the touched time and restoring the
//! pointer if it moved (its chunks go only after that).
//!
//! Let a run start at `m`, with cutoff `c = m - grace`, and a manifest `PUT` store manifest
//! `M` at `s` after touching each blob `B` it names at `a`, then finding `B` present. The
//! `PUT` touches again right before storing if checking took `grace / 2` or more, so
//! `s - a < grace` whenever storing takes less than `grace / 2`.
//! - If `s < m`, the mark lists `M` (listings see every manifest stored before they start),
//!   so `B` is marked and this run never deletes it.
//! - If `s >= m`, then `a > s - grace >= c`: the touch is at or after the cutoff. If it
//!   returned before the delete committed, the delete sees it and refuses; if the delete
//!   committed first, the `PUT`'s existence check after its touch fails and the `PUT` is
//!   refused with `MANIFEST_BLOB_UNKNOWN`, storing nothing.
//! - If storing took `grace / 2` or more, the `PUT` touches and checks every blob again after
//!   storing, at `r >= s >= m > c`: a delete after that touch refuses, and a delete before it
//!   makes the check fail, and the `PUT` deletes `M` again and answers `MANIFEST_BLOB_UNKNOWN`.
//!
//! So no stored manifest ever names deleted content. And a client that learned at `h` that
//! `B` exists (a completed push, a mount, a `200` to `HEAD` or `GET`) can reference it until
//! `h + grace - touch interval`: that request touched `B` before reading it (or skipped the
//! touch because one happened less than a touch interval before), and deleting `B` needs a
//! run whose cutoff is after that touch, which starts after `h + grace - touch interval`.
//!
//! Several collectors may run at once (replicas sharing an ObjectStorage, each with its own
//! schedule): each run's argument above holds on its own, and a delete that lost to another
//! one's is `NotFound`, skipped. Within one registry, runs are serialised.
//!
//! Caches: FsStorage drops the manifest bytes it cached for deleted content; ObjectStorage
//! its manifest bytes cache; tag and link caches only ever describe manifests a repository
//! still holds, and retention deletes go through [`Storage::delete_manifest`] and
//! [`Storage::delete_tag`], which keep them coherent.
//!
//! Limits: on ObjectStorage, per-repository blob links to collected content stay (they read
//! as absent, and a new push of the same digest makes them live again), and chunks of one
//! request still streaming after the grace could be taken for leftovers, so keep the grace
//! above the longest single upload request. Retention reads a manifest's pushed time again
//! right before deleting it, but a tag put in the few milliseconds between that read and the
//! delete is deleted with it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::protocol::{name::glob_matches, Digest, DigestRef};
use crate::storage::{
    DeleteContentOptions, Error, LeftoverOptions, ListOptions, Reclaimed, Result, Storage,
};
use crate::telemetry;
use crate::uploads::Sessions;

#[cfg(test)]
mod tests;

/// Settings of garbage collection and retention.
///
/// ```
/// use std::time::Duration;
/// use tower_oci::gc::{GcOptions, Retention};
///
/// let options = GcOptions::default()
///     .interval(Some(Duration::from_secs(600)))
///     .grace(Duration::from_secs(3600))
///     .retention(Retention::default().delete_untagged_after(Some(Duration::from_secs(86400))));
/// # drop(options);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GcOptions {
    /// How often the layer runs a collection; `None`: never on its own (a host may still run
    /// one through [`OciLayer::collector`](crate::OciLayer::collector)). Defaults to `None`.
    pub interval: Option<Duration>,
    /// Unreferenced content younger than this (since it was last touched) is kept: the time a
    /// client has between learning a blob exists and pushing the manifest that names it.
    /// Defaults to 1 hour (the default upload session timeout).
    pub grace: Duration,
    /// Report what would be deleted, delete nothing. Defaults to `false`.
    pub dry_run: bool,
    /// Upload sessions idle this long are removed with their bytes. Defaults to 1 hour; the
    /// layer sets it to its `upload_timeout`.
    pub upload_timeout: Duration,
    /// Tag and untagged-manifest retention. Defaults to none.
    pub retention: Retention,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            interval: None,
            grace: Duration::from_secs(60 * 60),
            dry_run: false,
            upload_timeout: Duration::from_secs(60 * 60),
            retention: Retention::default(),
        }
    }
}

impl GcOptions {
    /// Sets [`GcOptions::interval`].
    #[must_use]
    pub fn interval(mut self, every: Option<Duration>) -> Self {
        self.interval = every;
        self
    }

    /// Sets [`GcOptions::grace`].
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets [`GcOptions::dry_run`].
    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Sets [`GcOptions::upload_timeout`].
    #[must_use]
    pub fn upload_timeout(mut self, idle: Duration) -> Self {
        self.upload_timeout = idle;
        self
    }

    /// Sets [`GcOptions::retention`].
    #[must_use]
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// How long a blob `HEAD`/`GET` skips refreshing a touched time refreshed lately:
    /// `grace / 8`, at most a minute.
    pub fn touch_interval(&self) -> Duration {
        touch_interval(self.grace)
    }
}

pub(crate) fn touch_interval(grace: Duration) -> Duration {
    (grace / 8).min(Duration::from_secs(60))
}

/// Which manifests and tags a collection deletes besides unreferenced content. Opt-in.
///
/// - `delete_untagged_after`: a manifest no tag points at, not touched (pushed) for this long,
///   is deleted, unless an index of the same repository lists it (a multi-arch child) or it
///   is a referrer whose subject the repository holds.
/// - `keep_last_tags`: in repositories matching a glob (`*` within a path component, `**`
///   across), only the N tags whose manifests were pushed last are kept (ties by tag name);
///   the others are deleted (their manifests become untagged). The first rule that matches a
///   repository applies.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Retention {
    /// See the type docs. Defaults to `None` (untagged manifests are kept).
    pub delete_untagged_after: Option<Duration>,
    /// `(repository glob, tags kept)`, see the type docs. Defaults to none.
    pub keep_last_tags: Vec<(String, usize)>,
}

impl Retention {
    /// Sets [`Retention::delete_untagged_after`].
    #[must_use]
    pub fn delete_untagged_after(mut self, after: Option<Duration>) -> Self {
        self.delete_untagged_after = after;
        self
    }

    /// Adds a keep-last-N rule for repositories matching `glob`.
    #[must_use]
    pub fn keep_last_tags(mut self, glob: impl Into<String>, keep: usize) -> Self {
        self.keep_last_tags.push((glob.into(), keep));
        self
    }

    fn is_enabled(&self) -> bool {
        self.delete_untagged_after.is_some() || !self.keep_last_tags.is_empty()
    }

    fn keep_for(&self, repo: &str) -> Option<usize> {
        self.keep_last_tags
            .iter()
            .find(|(glob, _)| glob_matches(glob.as_bytes(), repo.as_bytes()))
            .map(|(_, keep)| *keep)
    }
}

/// What a collection did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Nothing was deleted; the counts say what would have been.
    pub dry_run: bool,
    /// Repositories walked.
    pub repositories: u64,
    /// Manifests marked live.
    pub manifests: u64,
    /// Distinct content digests marked live (manifests and what they name).
    pub marked: u64,
    /// Blob and manifest content deleted.
    pub blobs_deleted: u64,
    /// Their bytes.
    pub bytes_freed: u64,
    /// Unreferenced content kept because it was touched while the run decided.
    pub kept_touched: u64,
    /// Unreferenced content kept because it was touched within the grace period.
    pub kept_recent: u64,
    /// Per-repository blob links to collected content removed.
    pub links_deleted: u64,
    /// Manifests deleted by retention.
    pub manifests_deleted: u64,
    /// Tags deleted by retention.
    pub tags_deleted: u64,
    /// Idle upload sessions (and closed-session markers) removed.
    pub uploads_expired: u64,
    /// Backend leftovers (ObjectStorage chunks and touch objects).
    pub leftovers: Reclaimed,
    /// Failures that skipped an item (logged).
    pub errors: u64,
    /// How long the run took.
    pub duration: Duration,
}

impl fmt::Display for GcReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{} repositories, {} manifests, {} live digests; {} blobs ({} bytes) {}, {} kept (touched during the run), {} kept (within grace), {} links to collected blobs; retention: {} manifests, {} tags; {} upload sessions expired; {} leftovers ({} bytes); {} errors; {:.3} s",
            if self.dry_run { "dry run: " } else { "" },
            self.repositories,
            self.manifests,
            self.marked,
            self.blobs_deleted,
            self.bytes_freed,
            if self.dry_run { "would be freed" } else { "freed" },
            self.kept_touched,
            self.kept_recent,
            self.links_deleted,
            self.manifests_deleted,
            self.tags_deleted,
            self.uploads_expired,
            self.leftovers.items,
            self.leftovers.bytes,
            self.errors,
            self.duration.as_secs_f64(),
        )
    }
}

/// Runs garbage collection and retention over a storage. See the [module docs](self).
///
/// Clones share one run lock: a run started while another is going waits for it.
#[derive(Clone, Debug)]
pub struct Collector {
    storage: Arc<dyn Storage>,
    sessions: Arc<Sessions>,
    options: GcOptions,
    running: Arc<tokio::sync::Mutex<()>>,
}

/// Entries of a listing page.
const PAGE: usize = 1000;

impl Collector {
    /// A collector over `storage`. A registry's layer hands out one sharing its upload-session
    /// bookkeeping ([`OciLayer::collector`](crate::OciLayer::collector)); prefer that one in
    /// the registry's process.
    pub fn new(storage: Arc<dyn Storage>, options: GcOptions) -> Self {
        Collector::with_sessions(
            storage,
            Arc::new(Sessions::default()),
            options,
            Arc::default(),
        )
    }

    pub(crate) fn with_sessions(
        storage: Arc<dyn Storage>,
        sessions: Arc<Sessions>,
        options: GcOptions,
        running: Arc<tokio::sync::Mutex<()>>,
    ) -> Self {
        Collector {
            storage,
            sessions,
            options,
            running,
        }
    }

    /// The settings.
    pub fn options(&self) -> &GcOptions {
        &self.options
    }

    /// One collection. Errors only when the mark could not complete (nothing was deleted
    /// then, besides what retention had already deleted); failures on single items are
    /// logged and counted in [`GcReport::errors`].
    pub async fn run(&self) -> Result<GcReport> {
        let started = telemetry::Timer::start();
        let result = self.collect().await;
        telemetry::gc_run(result.as_ref().ok(), started);
        result
    }

    async fn collect(&self) -> Result<GcReport> {
        let _running = self.running.lock().await;
        let started = Instant::now();
        let start = SystemTime::now();
        let cutoff = start.checked_sub(self.options.grace).unwrap_or(start);
        let storage = self.storage.as_ref();
        let dry_run = self.options.dry_run;
        let mut report = GcReport {
            dry_run,
            ..GcReport::default()
        };
        let repositories = all_repositories(storage).await?;
        report.repositories = repositories.len() as u64;
        if self.options.retention.is_enabled() {
            for repo in &repositories {
                self.retain(repo, start, &mut report).await?;
            }
        }

        // Mark.
        let mut live = HashSet::new();
        for repo in &repositories {
            let mut after = None;
            loop {
                let page = storage
                    .list_manifests(repo, ListOptions::new(after.take(), PAGE))
                    .await?;
                for info in &page.items {
                    report.manifests += 1;
                    live.insert(info.digest.as_str().to_owned());
                    match storage.get_manifest(repo, &info.digest).await {
                        Ok(stored) => {
                            for named in named_digests(&stored.bytes) {
                                live.insert(named.as_str().to_owned());
                            }
                        }
                        // Deleted since it was listed.
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e),
                    }
                }
                after = page.items.last().map(|i| i.digest.as_str().to_owned());
                if !page.more || after.is_none() {
                    break;
                }
            }
        }
        report.marked = live.len() as u64;

        // Sweep. `present`: content that exists after it (links to anything else dangle).
        let mut present = HashSet::new();
        let mut after = None;
        loop {
            let page = storage
                .list_blobs(ListOptions::new(after.take(), PAGE))
                .await?;
            for info in &page.items {
                if live.contains(info.digest.as_str()) {
                    present.insert(info.digest.as_str().to_owned());
                    continue;
                }
                if info.touched >= cutoff {
                    report.kept_recent += 1;
                    present.insert(info.digest.as_str().to_owned());
                    continue;
                }
                if dry_run {
                    report.blobs_deleted += 1;
                    report.bytes_freed += info.size;
                    continue;
                }
                match storage
                    .delete_blob_content(
                        &info.digest,
                        DeleteContentOptions::untouched_since(cutoff),
                    )
                    .await
                {
                    Ok(()) => {
                        report.blobs_deleted += 1;
                        report.bytes_freed += info.size;
                    }
                    Err(Error::Conflict { .. }) => {
                        report.kept_touched += 1;
                        present.insert(info.digest.as_str().to_owned());
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        tracing::warn!(digest = %info.digest, error = %e, "gc: could not delete content");
                        report.errors += 1;
                        present.insert(info.digest.as_str().to_owned());
                    }
                }
            }
            after = page.items.last().map(|i| i.digest.as_str().to_owned());
            if !page.more || after.is_none() {
                break;
            }
        }

        // Per-repository links to content that is gone.
        for repo in &repositories {
            let mut after = None;
            loop {
                let page = storage
                    .list_blob_links(repo, ListOptions::new(after.take(), PAGE))
                    .await?;
                for digest in &page.items {
                    if present.contains(digest.as_str()) {
                        continue;
                    }
                    if dry_run {
                        report.links_deleted += 1;
                        continue;
                    }
                    match storage.delete_dangling_link(repo, digest).await {
                        Ok(()) => report.links_deleted += 1,
                        // Pushed again meanwhile, or a backend that keeps links.
                        Err(Error::Conflict { .. }) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => {
                            tracing::warn!(repo, %digest, error = %e, "gc: could not delete a link");
                            report.errors += 1;
                        }
                    }
                }
                after = page.items.last().map(|d| d.as_str().to_owned());
                if !page.more || after.is_none() {
                    break;
                }
            }
        }

        report.uploads_expired = self
            .sessions
            .sweep_with(storage, self.options.upload_timeout, dry_run)
            .await as u64;
        match storage
            .delete_leftovers(LeftoverOptions::older_than(cutoff).dry_run(dry_run))
            .await
        {
            Ok(reclaimed) => report.leftovers = reclaimed,
            Err(e) => {
                tracing::warn!(error = %e, "gc: could not sweep storage leftovers");
                report.errors += 1;
            }
        }
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Retention in one repository.
    async fn retain(&self, repo: &str, now: SystemTime, report: &mut GcReport) -> Result<()> {
        let storage = self.storage.as_ref();
        let retention = &self.options.retention;
        let dry_run = self.options.dry_run;
        let manifests = all_manifests(storage, repo).await?;
        let touched: HashMap<&str, SystemTime> =
            manifests.iter().map(|(d, t)| (d.as_str(), *t)).collect();
        // Tag -> digest.
        let mut tags = BTreeMap::new();
        for tag in all_tags(storage, repo).await? {
            match storage.get_tag(repo, &tag).await {
                Ok(digest) => {
                    tags.insert(tag, digest);
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(keep) = retention.keep_for(repo) {
            let mut ordered: Vec<(&String, SystemTime)> = tags
                .iter()
                .map(|(tag, d)| {
                    let t = touched.get(d.as_str()).copied().unwrap_or(now);
                    (tag, t)
                })
                .collect();
            // Newest first; ties by name.
            ordered.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            let doomed: Vec<String> = ordered
                .iter()
                .skip(keep)
                .map(|(t, _)| (*t).clone())
                .collect();
            for tag in doomed {
                if !dry_run {
                    match storage.delete_tag(repo, &tag).await {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => continue,
                        Err(e) => {
                            tracing::warn!(repo, tag, error = %e, "gc: could not delete a tag");
                            report.errors += 1;
                            continue;
                        }
                    }
                }
                report.tags_deleted += 1;
                tags.remove(&tag);
            }
        }
        let Some(after) = retention.delete_untagged_after else {
            return Ok(());
        };
        let threshold = now.checked_sub(after).unwrap_or(std::time::UNIX_EPOCH);
        let held: HashSet<&str> = manifests.iter().map(|(d, _)| d.as_str()).collect();
        let mut protected: HashSet<String> = tags.values().map(|d| d.as_str().to_owned()).collect();
        for (digest, _) in &manifests {
            let stored = match storage.get_manifest(repo, digest).await {
                Ok(stored) => stored,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            let refs = references(&stored.bytes);
            protected.extend(refs.children.iter().map(|d| d.as_str().to_owned()));
            if refs.subject.is_some_and(|s| held.contains(s.as_str())) {
                // A referrer lives while its subject does.
                protected.insert(digest.as_str().to_owned());
            }
        }
        for (i, (digest, touched)) in manifests.iter().enumerate() {
            if protected.contains(digest.as_str()) || *touched >= threshold {
                continue;
            }
            // Read its touched time again right before deleting: a push (or a tag put) of it
            // since the listing keeps it.
            let previous = i.checked_sub(1).map(|p| manifests[p].0.as_str().to_owned());
            let fresh = storage
                .list_manifests(repo, ListOptions::new(previous, 1))
                .await?;
            match fresh.items.first() {
                Some(info) if info.digest == *digest && info.touched < threshold => {}
                _ => continue,
            }
            if !dry_run {
                match storage.delete_manifest(repo, digest).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => {
                        tracing::warn!(repo, %digest, error = %e, "gc: could not delete a manifest");
                        report.errors += 1;
                        continue;
                    }
                }
            }
            report.manifests_deleted += 1;
        }
        Ok(())
    }
}

async fn all_repositories(storage: &dyn Storage) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = storage
            .list_repositories(ListOptions::new(after.take(), PAGE))
            .await?;
        after = page.items.last().cloned();
        let more = page.more;
        out.extend(page.items);
        if !more || after.is_none() {
            return Ok(out);
        }
    }
}

async fn all_manifests(storage: &dyn Storage, repo: &str) -> Result<Vec<(Digest, SystemTime)>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = storage
            .list_manifests(repo, ListOptions::new(after.take(), PAGE))
            .await?;
        after = page.items.last().map(|i| i.digest.as_str().to_owned());
        let more = page.more;
        out.extend(page.items.into_iter().map(|i| (i.digest, i.touched)));
        if !more || after.is_none() {
            return Ok(out);
        }
    }
}

async fn all_tags(storage: &dyn Storage, repo: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = match storage
            .list_tags(repo, ListOptions::new(after.take(), PAGE))
            .await
        {
            Ok(page) => page,
            Err(e) if e.is_not_found() => return Ok(out),
            Err(e) => return Err(e),
        };
        after = page.items.last().cloned();
        let more = page.more;
        out.extend(page.items);
        if !more || after.is_none() {
            return Ok(out);
        }
    }
}

/// What a stored manifest names, read leniently (the bytes passed validation when pushed):
/// digests of `config`, `layers`, `blobs`, `manifests` and `subject`.
#[derive(Debug, Default)]
struct References {
    /// Config, layers and blobs.
    blobs: Vec<Digest>,
    /// Index children.
    children: Vec<Digest>,
    subject: Option<Digest>,
}

fn references(bytes: &[u8]) -> References {
    let mut out = References::default();
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return out;
    };
    let digest_of = |d: &serde_json::Value| {
        d.get("digest")
            .and_then(|v| v.as_str())
            .and_then(|s| DigestRef::parse(s).ok())
            .map(|d| d.to_digest())
    };
    let list = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(digest_of).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    out.blobs.extend(value.get("config").and_then(digest_of));
    out.blobs.extend(list("layers"));
    out.blobs.extend(list("blobs"));
    out.children = list("manifests");
    out.subject = value.get("subject").and_then(digest_of);
    out
}

/// Every digest a stored manifest names (what the mark follows).
fn named_digests(bytes: &[u8]) -> Vec<Digest> {
    let refs = references(bytes);
    let mut all = refs.blobs;
    all.extend(refs.children);
    all.extend(refs.subject);
    all
}

/// Rate-limits the touches blob `HEAD`/`GET` make: at most one per digest per interval in
/// this process.
#[derive(Debug, Default)]
pub(crate) struct TouchLimiter {
    last: Mutex<HashMap<String, Instant>>,
}

/// Digests remembered before the map starts over.
const TOUCHES_KEPT: usize = 100_000;

impl TouchLimiter {
    /// True when `digest` was not touched by this process within `interval`, and records now.
    pub(crate) fn should_touch(&self, digest: &str, interval: Duration) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match last.get(digest) {
            Some(at) if now.duration_since(*at) < interval => false,
            _ => {
                if last.len() >= TOUCHES_KEPT {
                    last.retain(|_, at| now.duration_since(*at) < interval);
                    if last.len() >= TOUCHES_KEPT {
                        last.clear();
                    }
                }
                last.insert(digest.to_owned(), now);
                true
            }
        }
    }
}
