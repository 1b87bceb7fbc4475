//! [`MemoryStorage`]: every record in process memory, behind one mutex.
//!
//! The reference backend: each operation takes the lock once, so puts, deletes and upload
//! claims are atomic by construction. Nothing survives the process; clones share one store.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use super::{
    resolve_span, BlobReader, BoxFuture, ContentInfo, DeleteContentOptions, Error, GetOptions,
    GetResult, LinkOptions, ListOptions, ManifestMeta, ManifestPut, Page, ReferrerEntry,
    ReferrerListOptions, Result, Span, Storage, StoredManifest, UploadState, UploadWriter,
};
use crate::protocol::Digest;

/// A [`Storage`] that keeps everything in process memory.
///
/// Clones share the same data, so a clone behaves like another process on the same store.
/// Meant for tests and for registries whose content may vanish with the process.
///
/// ```
/// use bytes::Bytes;
/// use tokio::io::AsyncReadExt;
/// use tower_oci::protocol::{Algorithm, Digest};
/// use tower_oci::storage::{GetOptions, MemoryStorage, Storage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStorage::new();
/// let digest = Digest::of(Algorithm::Sha256, b"hello");
///
/// let mut writer = store.stage_blob().await?;
/// writer.write(Bytes::from_static(b"hello")).await?;
/// writer.complete("library/hello", &digest).await?;
///
/// let blob = store.get_blob("library/hello", &digest, GetOptions::whole()).await?;
/// let mut body = Vec::new();
/// if let Some(reader) = blob.body {
///     reader.into_async_read().read_to_end(&mut body).await?;
/// }
/// assert_eq!(body, b"hello");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Blob content (manifests included) by digest text.
    blobs: BTreeMap<String, Content>,
    /// Every repository that ever held a blob link, manifest or tag, by name.
    repos: BTreeMap<String, Repo>,
    /// Upload sessions by id.
    uploads: BTreeMap<String, Upload>,
    /// The last claim handed out, so a writer can tell its own claim from a later one.
    last_claim: u64,
}

#[derive(Debug)]
struct Content {
    digest: Digest,
    bytes: Bytes,
    touched: SystemTime,
}

#[derive(Debug, Default)]
struct Repo {
    /// Linked blobs, by digest text.
    links: BTreeSet<String>,
    /// Manifests, by digest text.
    manifests: BTreeMap<String, Manifest>,
    tags: BTreeMap<String, Digest>,
    /// Subject digest text -> referring digest text -> entry.
    referrers: BTreeMap<String, BTreeMap<String, ReferrerEntry>>,
}

#[derive(Debug)]
struct Manifest {
    digest: Digest,
    media_type: String,
    bytes: Bytes,
    subject: Option<Digest>,
    touched: SystemTime,
}

#[derive(Debug)]
struct Upload {
    state: UploadState,
    /// The stored bytes: exactly `state.offset` of them.
    chunks: Vec<Bytes>,
    /// The claim of the writer holding the session.
    claim: Option<u64>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStorage::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// Every critical section leaves the state consistent, so a panic elsewhere never poisons it.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ready<'a, T: Send + 'a>(result: Result<T>) -> BoxFuture<'a, Result<T>> {
    Box::pin(std::future::ready(result))
}

fn key(repo: &str, digest: &Digest) -> String {
    format!("{repo}@{digest}")
}

/// Entries of `map` strictly after `options.after`, at most `options.limit` of them.
fn page<V, T>(
    map: &BTreeMap<String, V>,
    options: &ListOptions,
    mut item: impl FnMut(&String, &V) -> T,
) -> Page<T> {
    let mut entries = after(map, options.after.as_deref());
    let items = entries
        .by_ref()
        .take(options.limit)
        .map(|(k, v)| item(k, v))
        .collect();
    Page::new(items, entries.next().is_some())
}

fn after<'m, V>(
    map: &'m BTreeMap<String, V>,
    after: Option<&str>,
) -> std::collections::btree_map::Range<'m, String, V> {
    match after {
        Some(after) => map.range::<str, _>((Bound::Excluded(after), Bound::Unbounded)),
        None => map.range::<str, _>(..),
    }
}

fn concat(chunks: &[Bytes], more: &[Bytes]) -> Bytes {
    let len = chunks.iter().chain(more).map(Bytes::len).sum();
    if let ([only], []) | ([], [only]) = (chunks, more) {
        return only.clone();
    }
    let mut out = BytesMut::with_capacity(len);
    for chunk in chunks.iter().chain(more) {
        out.extend_from_slice(chunk);
    }
    out.freeze()
}

impl State {
    fn repo_mut(&mut self, repo: &str) -> &mut Repo {
        self.repos.entry(repo.to_owned()).or_default()
    }

    /// Stores content unless present, and marks it touched now.
    fn store_content(&mut self, digest: &Digest, bytes: Bytes) {
        let touched = SystemTime::now();
        self.blobs
            .entry(digest.as_str().to_owned())
            .and_modify(|c| c.touched = touched)
            .or_insert_with(|| Content {
                digest: digest.clone(),
                bytes,
                touched,
            });
    }

    fn linked(&self, repo: &str, digest: &Digest) -> Result<&Content> {
        let linked = self
            .repos
            .get(repo)
            .is_some_and(|r| r.links.contains(digest.as_str()));
        match self.blobs.get(digest.as_str()) {
            Some(content) if linked => Ok(content),
            _ => Err(Error::not_found(key(repo, digest))),
        }
    }

    fn manifest(&self, repo: &str, digest: &Digest) -> Result<&Manifest> {
        self.repos
            .get(repo)
            .and_then(|r| r.manifests.get(digest.as_str()))
            .ok_or_else(|| Error::not_found(key(repo, digest)))
    }
}

impl Storage for MemoryStorage {
    fn get_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        options: GetOptions,
    ) -> BoxFuture<'a, Result<GetResult>> {
        let state = self.lock();
        let result = state.linked(repo, digest).and_then(|content| {
            let size = content.bytes.len() as u64;
            let span = resolve_span(options.range, size);
            let body = match span {
                _ if options.head => None,
                Span::Whole => Some(BlobReader::from_bytes(content.bytes.clone())),
                Span::Range { first, last } => {
                    let bytes = usize::try_from(first)
                        .ok()
                        .zip(usize::try_from(last).ok())
                        .filter(|&(first, last)| first <= last && last < content.bytes.len())
                        .map(|(first, last)| content.bytes.slice(first..=last))
                        .ok_or_else(|| {
                            Error::invalid_input(key(repo, digest), "range outside the blob")
                        })?;
                    Some(BlobReader::from_bytes(bytes))
                }
                _ => None,
            };
            Ok(GetResult::new(size, span, body))
        });
        ready(result)
    }

    fn stat_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<ContentInfo>> {
        let state = self.lock();
        let result = state
            .blobs
            .get(digest.as_str())
            .map(|c| ContentInfo::new(c.digest.clone(), c.bytes.len() as u64, c.touched))
            .ok_or_else(|| Error::not_found(digest.as_str()));
        ready(result)
    }

    fn link_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        options: LinkOptions,
    ) -> BoxFuture<'a, Result<()>> {
        let mut state = self.lock();
        let result = (|| {
            if let Some(from) = &options.from {
                state.linked(from, digest)?;
            }
            let content = state
                .blobs
                .get_mut(digest.as_str())
                .ok_or_else(|| Error::not_found(digest.as_str()))?;
            content.touched = SystemTime::now();
            state
                .repo_mut(repo)
                .links
                .insert(digest.as_str().to_owned());
            Ok(())
        })();
        ready(result)
    }

    fn unlink_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<()>> {
        let mut state = self.lock();
        let removed = state
            .repos
            .get_mut(repo)
            .is_some_and(|r| r.links.remove(digest.as_str()));
        ready(if removed {
            Ok(())
        } else {
            Err(Error::not_found(key(repo, digest)))
        })
    }

    fn create_upload<'a>(&'a self, state: &'a UploadState) -> BoxFuture<'a, Result<()>> {
        if state.offset != 0 {
            return ready(Err(Error::invalid_input(
                state.id.as_str(),
                "a new upload session starts at offset 0",
            )));
        }
        let mut store = self.lock();
        if store.uploads.contains_key(&state.id) {
            return ready(Err(Error::AlreadyExists {
                key: state.id.clone(),
            }));
        }
        let upload = Upload {
            state: state.clone(),
            chunks: Vec::new(),
            claim: None,
        };
        store.uploads.insert(state.id.clone(), upload);
        ready(Ok(()))
    }

    fn get_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<UploadState>> {
        let state = self.lock();
        let result = state
            .uploads
            .get(id)
            .map(|u| u.state.clone())
            .ok_or_else(|| Error::not_found(id));
        ready(result)
    }

    fn resume_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Box<dyn UploadWriter>>> {
        let mut store = self.lock();
        let claim = store.last_claim + 1;
        let result = match store.uploads.get_mut(id) {
            None => Err(Error::not_found(id)),
            Some(upload) if upload.claim.is_some() => Err(Error::Busy { key: id.to_owned() }),
            Some(upload) => {
                upload.claim = Some(claim);
                Ok(MemoryWriter {
                    store: Arc::clone(&self.state),
                    session: Some(Claim {
                        id: id.to_owned(),
                        claim,
                    }),
                    stored: upload.state.offset,
                    state: Some(upload.state.clone()),
                    pending: Vec::new(),
                    pending_len: 0,
                })
            }
        };
        if result.is_ok() {
            store.last_claim = claim;
        }
        ready(result.map(|w| Box::new(w) as Box<dyn UploadWriter>))
    }

    fn stage_blob(&self) -> BoxFuture<'_, Result<Box<dyn UploadWriter>>> {
        ready(Ok(Box::new(MemoryWriter {
            store: Arc::clone(&self.state),
            session: None,
            stored: 0,
            state: None,
            pending: Vec::new(),
            pending_len: 0,
        })))
    }

    fn delete_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        let mut state = self.lock();
        ready(match state.uploads.remove(id) {
            Some(_) => Ok(()),
            None => Err(Error::not_found(id)),
        })
    }

    fn list_uploads(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<UploadState>>> {
        let state = self.lock();
        ready(Ok(page(&state.uploads, &options, |_, u| u.state.clone())))
    }

    fn get_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<StoredManifest>> {
        let state = self.lock();
        let result = state
            .manifest(repo, digest)
            .map(|m| StoredManifest::new(m.media_type.clone(), m.bytes.clone()));
        ready(result)
    }

    fn manifest_meta<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<ManifestMeta>> {
        let state = self.lock();
        let result = state
            .manifest(repo, digest)
            .map(|m| ManifestMeta::new(m.media_type.clone(), m.bytes.len() as u64));
        ready(result)
    }

    fn put_manifest<'a>(
        &'a self,
        repo: &'a str,
        put: &'a ManifestPut,
    ) -> BoxFuture<'a, Result<()>> {
        // Hash before taking the lock: it is the only slow step.
        let bytes = &put.manifest.bytes;
        if Digest::of(put.digest.algorithm(), bytes) != put.digest {
            return ready(Err(Error::invalid_input(
                key(repo, &put.digest),
                "manifest bytes do not hash to the digest",
            )));
        }
        let mut state = self.lock();
        state.store_content(&put.digest, bytes.clone());
        let r = state.repo_mut(repo);
        let digest_text = put.digest.as_str();
        let subject = put.referrer.as_ref().map(|(subject, _)| subject.clone());
        r.manifests.insert(
            digest_text.to_owned(),
            Manifest {
                digest: put.digest.clone(),
                media_type: put.manifest.media_type.clone(),
                bytes: bytes.clone(),
                subject,
                touched: SystemTime::now(),
            },
        );
        for tag in &put.tags {
            r.tags.insert(tag.clone(), put.digest.clone());
        }
        if let Some((subject, entry)) = &put.referrer {
            r.referrers
                .entry(subject.as_str().to_owned())
                .or_default()
                .insert(digest_text.to_owned(), entry.clone());
        }
        ready(Ok(()))
    }

    fn delete_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        let mut state = self.lock();
        let Some(r) = state.repos.get_mut(repo) else {
            return ready(Err(Error::not_found(key(repo, digest))));
        };
        let Some(manifest) = r.manifests.remove(digest.as_str()) else {
            return ready(Err(Error::not_found(key(repo, digest))));
        };
        r.tags.retain(|_, target| target != digest);
        if let Some(subject) = manifest.subject {
            if let Some(entries) = r.referrers.get_mut(subject.as_str()) {
                entries.remove(digest.as_str());
                if entries.is_empty() {
                    r.referrers.remove(subject.as_str());
                }
            }
        }
        ready(Ok(()))
    }

    fn get_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<Digest>> {
        let state = self.lock();
        let result = state
            .repos
            .get(repo)
            .and_then(|r| r.tags.get(tag))
            .cloned()
            .ok_or_else(|| Error::not_found(format!("{repo}:{tag}")));
        ready(result)
    }

    fn delete_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<()>> {
        let mut state = self.lock();
        let removed = state
            .repos
            .get_mut(repo)
            .and_then(|r| r.tags.remove(tag))
            .is_some();
        ready(if removed {
            Ok(())
        } else {
            Err(Error::not_found(format!("{repo}:{tag}")))
        })
    }

    fn list_tags<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<String>>> {
        let state = self.lock();
        let result = state
            .repos
            .get(repo)
            .map(|r| page(&r.tags, &options, |tag, _| tag.clone()))
            .ok_or_else(|| Error::not_found(repo));
        ready(result)
    }

    fn list_referrers<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        options: ReferrerListOptions,
    ) -> BoxFuture<'a, Result<Page<ReferrerEntry>>> {
        let state = self.lock();
        let Some(entries) = state
            .repos
            .get(repo)
            .and_then(|r| r.referrers.get(subject.as_str()))
        else {
            return ready(Ok(Page::default()));
        };
        let wanted = |entry: &&ReferrerEntry| {
            options.artifact_type.is_none() || entry.artifact_type == options.artifact_type
        };
        let mut matching = after(entries, options.page.after.as_deref())
            .map(|(_, entry)| entry)
            .filter(wanted)
            .peekable();
        let mut items = Vec::new();
        let mut bytes = 0;
        while let Some(entry) = matching.peek() {
            let len = entry.descriptor.len();
            let full = !items.is_empty() && bytes + len > options.max_bytes;
            if items.len() >= options.page.limit || full {
                break;
            }
            bytes += len;
            items.extend(matching.next().cloned());
        }
        let more = matching.peek().is_some();
        ready(Ok(Page::new(items, more)))
    }

    fn list_repositories(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<String>>> {
        let state = self.lock();
        ready(Ok(page(&state.repos, &options, |name, _| name.clone())))
    }

    fn repository_exists<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<bool>> {
        ready(Ok(self.lock().repos.contains_key(repo)))
    }

    fn list_blobs(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<ContentInfo>>> {
        let state = self.lock();
        ready(Ok(page(&state.blobs, &options, |_, c| {
            ContentInfo::new(c.digest.clone(), c.bytes.len() as u64, c.touched)
        })))
    }

    fn list_manifests<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<ContentInfo>>> {
        let state = self.lock();
        let result = state
            .repos
            .get(repo)
            .map(|r| {
                page(&r.manifests, &options, |_, m| {
                    ContentInfo::new(m.digest.clone(), m.bytes.len() as u64, m.touched)
                })
            })
            .unwrap_or_default();
        ready(Ok(result))
    }

    fn delete_blob_content<'a>(
        &'a self,
        digest: &'a Digest,
        options: DeleteContentOptions,
    ) -> BoxFuture<'a, Result<()>> {
        let mut state = self.lock();
        let result = match state.blobs.get(digest.as_str()) {
            None => Err(Error::not_found(digest.as_str())),
            Some(content)
                if options
                    .untouched_since
                    .is_some_and(|since| content.touched >= since) =>
            {
                Err(Error::conflict(
                    digest.as_str(),
                    "touched since the collector looked",
                ))
            }
            Some(_) => {
                state.blobs.remove(digest.as_str());
                Ok(())
            }
        };
        ready(result)
    }

    fn list_blob_links<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<Digest>>> {
        let state = self.lock();
        let after = options.after.as_deref();
        let mut items = Vec::new();
        let mut more = false;
        if let Some(r) = state.repos.get(repo) {
            for text in r
                .links
                .iter()
                .filter(|t| after.is_none_or(|a| t.as_str() > a))
            {
                if items.len() == options.limit {
                    more = true;
                    break;
                }
                if let Ok(digest) = Digest::parse(text) {
                    items.push(digest);
                }
            }
        }
        ready(Ok(Page::new(items, more)))
    }

    fn delete_dangling_link<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        let mut state = self.lock();
        let key = format!("{repo}@{digest}");
        let result = if state.blobs.contains_key(digest.as_str()) {
            Err(Error::conflict(key, "the content exists"))
        } else if state
            .repos
            .get_mut(repo)
            .is_some_and(|r| r.links.remove(digest.as_str()))
        {
            Ok(())
        } else {
            Err(Error::not_found(key))
        };
        ready(result)
    }

    fn touch_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<()>> {
        let mut state = self.lock();
        let result = match state.blobs.get_mut(digest.as_str()) {
            Some(content) => {
                content.touched = SystemTime::now();
                Ok(())
            }
            None => Err(Error::not_found(digest.as_str())),
        };
        ready(result)
    }
}

/// A writer's claim on a stored session.
#[derive(Debug)]
struct Claim {
    id: String,
    claim: u64,
}

/// An [`UploadWriter`] that keeps written bytes to itself until saved or completed.
struct MemoryWriter {
    store: Arc<Mutex<State>>,
    /// `None` for a staged blob.
    session: Option<Claim>,
    /// The session's stored offset when claimed.
    stored: u64,
    /// The session's state when claimed.
    state: Option<UploadState>,
    pending: Vec<Bytes>,
    pending_len: u64,
}

impl std::fmt::Debug for MemoryWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the store: a panic message should not print every blob.
        f.debug_struct("MemoryWriter")
            .field("session", &self.session)
            .field("offset", &self.offset())
            .finish()
    }
}

impl MemoryWriter {
    /// The claimed session, if this writer still holds it.
    fn upload<'s>(&self, state: &'s mut State) -> Result<Option<&'s mut Upload>> {
        let Some(session) = &self.session else {
            return Ok(None);
        };
        match state.uploads.get_mut(&session.id) {
            Some(upload) if upload.claim == Some(session.claim) => Ok(Some(upload)),
            _ => Err(Error::not_found(session.id.as_str())),
        }
    }
}

impl UploadWriter for MemoryWriter {
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>> {
        self.pending_len += data.len() as u64;
        if !data.is_empty() {
            self.pending.push(data);
        }
        ready(Ok(()))
    }

    fn offset(&self) -> u64 {
        self.stored + self.pending_len
    }

    fn state(&self) -> Option<&UploadState> {
        self.state.as_ref()
    }

    fn read_back(&mut self) -> BoxFuture<'_, Result<BlobReader>> {
        let mut state = lock(&self.store);
        let result = self.upload(&mut state).map(|upload| {
            let stored = upload.map(|u| u.chunks.as_slice()).unwrap_or_default();
            BlobReader::from_bytes(concat(stored, &self.pending))
        });
        ready(result)
    }

    fn save(mut self: Box<Self>, hash_state: Bytes) -> BoxFuture<'static, Result<UploadState>> {
        let mut state = lock(&self.store);
        let result = match self.upload(&mut state) {
            Ok(Some(upload)) => {
                upload.chunks.append(&mut self.pending);
                upload.state.offset += self.pending_len;
                upload.state.hash_state = hash_state;
                upload.state.updated = SystemTime::now();
                upload.claim = None;
                Ok(upload.state.clone())
            }
            Ok(None) => Err(Error::invalid_input(
                "staged blob",
                "a staged blob has no session to save",
            )),
            Err(e) => Err(e),
        };
        drop(state);
        self.pending_len = 0;
        ready(result)
    }

    fn complete<'a>(
        self: Box<Self>,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        let mut state = lock(&self.store);
        let result = self.upload(&mut state).map(|upload| {
            let stored = upload.map(|u| u.chunks.as_slice()).unwrap_or_default();
            concat(stored, &self.pending)
        });
        let result = result.map(|bytes| {
            if let Some(session) = &self.session {
                state.uploads.remove(&session.id);
            }
            state.store_content(digest, bytes);
            state
                .repo_mut(repo)
                .links
                .insert(digest.as_str().to_owned());
        });
        ready(result)
    }
}

impl Drop for MemoryWriter {
    fn drop(&mut self) {
        let Some(session) = &self.session else {
            return;
        };
        let mut state = lock(&self.store);
        if let Some(upload) = state.uploads.get_mut(&session.id) {
            if upload.claim == Some(session.claim) {
                upload.claim = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::MemoryStorage;
    use crate::storage::testkit::{self, Harness};
    use crate::storage::{BoxFuture, Storage};

    /// Fresh stores; a reopen is a clone of the last one, which shares its data.
    #[derive(Default)]
    struct Memory(Mutex<MemoryStorage>);

    impl Harness for Memory {
        fn fresh(&self) -> BoxFuture<'_, Arc<dyn Storage>> {
            let store = MemoryStorage::new();
            *self.0.lock().unwrap() = store.clone();
            Box::pin(async move { Arc::new(store) as Arc<dyn Storage> })
        }

        fn reopen(&self) -> BoxFuture<'_, Arc<dyn Storage>> {
            let store = self.0.lock().unwrap().clone();
            Box::pin(async move { Arc::new(store) as Arc<dyn Storage> })
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn memory_backend_passes_the_testkit() {
        testkit::run_all(&Memory::default()).await;
    }
}
