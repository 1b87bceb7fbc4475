//! Upload sessions: a record per session, replaced only by compare-and-swap, and the writer
//! that appends chunks to it.
//!
//! A writer claims its session by swapping a claim `{token, until}` into the record; the claim
//! is renewed while it writes and released when it is saved or dropped. A replica that dies
//! holding a claim leaves it to expire, and then any replica may resume the session.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use object_store::UpdateVersion;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::blobs::{self, new_chunk_key, Chunk};
use super::{check_repo, lock, Inner};
use crate::protocol::{Algorithm, Digest};
use crate::storage::{
    BlobReader, BoxFuture, Error, ListOptions, Page, Result, UploadState, UploadWriter,
};

/// The size at which a chunk is stored and the next one begins. Every chunk is one plain PUT
/// (no multipart upload, so nothing invisible is left behind by a writer that dies: at most
/// unreferenced chunk objects, which garbage collection finds by listing); a blob is the
/// concatenation of its chunks, so its size has no limit but the pointer's length.
const CHUNK_SIZE: u64 = 8 << 20;

/// `uploads/<id>.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    repo: String,
    algorithm: String,
    offset: u64,
    /// Hex of the serialized hash state.
    hash_state: String,
    chunks: Vec<Chunk>,
    claim: Option<Claim>,
    /// Nanoseconds since the Unix epoch.
    started: u64,
    updated: u64,
    /// A closed session's marker (absent in earlier records: false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    closed: bool,
    /// Who opened the session (absent in records written before sessions were bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    principal: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Claim {
    token: String,
    /// Milliseconds since the Unix epoch.
    until: u64,
}

fn record_key(id: &str) -> String {
    format!("uploads/{id}.json")
}

fn check_id(id: &str) -> Result<()> {
    let safe = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if safe {
        Ok(())
    } else {
        Err(Error::invalid_input(id, "not an upload id"))
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn from_nanos(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lease_millis(inner: &Inner) -> u64 {
    u64::try_from(inner.options.upload_lease.as_millis()).unwrap_or(u64::MAX)
}

impl Record {
    fn state(&self, id: &str) -> Result<UploadState> {
        let key = record_key(id);
        let algorithm = Algorithm::from_name(&self.algorithm)
            .ok_or_else(|| Error::corrupt(&key, "unknown algorithm"))?;
        let hash_state =
            hex::decode(&self.hash_state).map_err(|e| Error::corrupt(&key, e.to_string()))?;
        Ok(UploadState {
            id: id.to_owned(),
            repo: self.repo.clone(),
            algorithm,
            offset: self.offset,
            hash_state: hash_state.into(),
            started: from_nanos(self.started),
            updated: from_nanos(self.updated),
            closed: self.closed,
            principal: self.principal.clone(),
        })
    }

    fn encode(&self, id: &str) -> Result<Bytes> {
        serde_json::to_vec(self)
            .map(Bytes::from)
            .map_err(|e| Error::Other {
                key: record_key(id),
                source: Box::new(e),
            })
    }

    /// Held by a writer: a claim that has not expired and that this process has not
    /// released. `released` is the set as it was before the record was read: a release
    /// finishing meanwhile takes its token out of the set, and the record read may predate it.
    fn held(&self, released: &[String]) -> bool {
        self.claim
            .as_ref()
            .is_some_and(|claim| claim.until > now_millis() && !released.contains(&claim.token))
    }
}

/// The record of session `id` and its version; `None` when there is none (or a tombstone).
async fn read_record(inner: &Inner, id: &str) -> Result<Option<(Record, UpdateVersion)>> {
    let key = record_key(id);
    let Some(read) = inner.read(&key).await? else {
        return Ok(None);
    };
    if read.bytes.is_empty() {
        return Ok(None);
    }
    let record =
        serde_json::from_slice(&read.bytes).map_err(|e| Error::corrupt(key, e.to_string()))?;
    Ok(Some((record, read.version)))
}

pub(crate) async fn create_upload(inner: &Inner, state: &UploadState) -> Result<()> {
    check_id(&state.id)?;
    check_repo(&state.repo)?;
    if state.offset != 0 {
        return Err(Error::invalid_input(
            state.id.as_str(),
            "a new upload session starts at offset 0",
        ));
    }
    let record = Record {
        repo: state.repo.clone(),
        algorithm: state.algorithm.as_str().to_owned(),
        offset: 0,
        hash_state: hex::encode(&state.hash_state),
        chunks: Vec::new(),
        claim: None,
        started: nanos(state.started),
        updated: nanos(state.updated),
        closed: state.closed,
        principal: state.principal.clone(),
    };
    if inner
        .create(&record_key(&state.id), record.encode(&state.id)?)
        .await?
    {
        Ok(())
    } else {
        Err(Error::AlreadyExists {
            key: state.id.clone(),
        })
    }
}

pub(crate) async fn get_upload(inner: &Inner, id: &str) -> Result<UploadState> {
    check_id(id)?;
    read_record(inner, id)
        .await?
        .ok_or_else(|| Error::not_found(id))?
        .0
        .state(id)
}

/// How long a resume waits for this process's own release of the session's last claim.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

pub(crate) async fn resume_upload(inner: &Arc<Inner>, id: &str) -> Result<Box<dyn UploadWriter>> {
    check_id(id)?;
    let releasing = lock(&inner.releasing).get(id).cloned();
    if let Some(mut done) = releasing {
        // Ends when the release task drops its sender. Past the wait, the claim counts as
        // released anyway (`released`), as it always may on an atomic store.
        let _ = tokio::time::timeout(RELEASE_WAIT, done.changed()).await;
    }
    let key = record_key(id);
    let token = uuid::Uuid::new_v4().to_string();
    // A failed swap means the record changed: a release (try again), or another claim.
    let mut attempts = 0;
    let (record, version, released) = loop {
        let released = lock(&inner.released).clone();
        let (mut record, version) = read_record(inner, id)
            .await?
            .ok_or_else(|| Error::not_found(id))?;
        if record.held(&released) || attempts == 3 {
            return Err(Error::Busy { key: id.to_owned() });
        }
        attempts += 1;
        let released = record.claim.take().map(|claim| claim.token);
        record.claim = Some(Claim {
            token: token.clone(),
            until: now_millis().saturating_add(lease_millis(inner)),
        });
        if let Some(version) = inner.swap(&key, &version, record.encode(id)?).await? {
            break (record, version, released);
        }
    };
    if let Some(released) = released {
        lock(&inner.released).retain(|t| *t != released);
    }
    let state = record.state(id)?;
    Ok(Box::new(ObjectWriter {
        inner: Arc::clone(inner),
        offset: state.offset,
        session: Some(Session {
            id: id.to_owned(),
            token,
            version,
            record,
            state,
            renewed: Instant::now(),
        }),
        written: Vec::new(),
        current: None,
        in_flight: None,
        done: false,
    }))
}

pub(crate) async fn delete_upload(inner: &Inner, id: &str) -> Result<()> {
    check_id(id)?;
    let key = record_key(id);
    loop {
        let released = lock(&inner.released).clone();
        let (record, version) = read_record(inner, id)
            .await?
            .ok_or_else(|| Error::not_found(id))?;
        if record.held(&released) {
            // The holder finds the record gone when it saves or completes, and drops what it
            // wrote; the session's stored chunks are left (they may already be a blob's).
            return inner.delete(&key).await;
        }
        // Tombstone first, so no writer can claim it while its chunks go.
        if inner.swap(&key, &version, Bytes::new()).await?.is_none() {
            continue;
        }
        inner.delete(&key).await?;
        inner
            .delete_best_effort(record.chunks.into_iter().map(|c| c.key))
            .await;
        return Ok(());
    }
}

pub(crate) async fn list_uploads(inner: &Inner, options: ListOptions) -> Result<Page<UploadState>> {
    let after = options.after.as_deref().map(|id| format!("{id}.json"));
    let listed = inner
        .page(
            "uploads",
            &ListOptions::new(after, options.limit),
            |key, meta| {
                (meta.size > 0)
                    .then(|| key.strip_suffix(".json"))
                    .flatten()
                    .map(str::to_owned)
            },
        )
        .await?;
    let mut items = Vec::with_capacity(listed.items.len());
    for id in listed.items {
        if let Some((record, _)) = read_record(inner, &id).await? {
            items.push(record.state(&id)?);
        }
    }
    Ok(Page::new(items, listed.more))
}

/// A writer's claim on a stored session.
struct Session {
    id: String,
    token: String,
    /// The record's version after this writer's last swap.
    version: UpdateVersion,
    record: Record,
    /// The state as claimed.
    state: UploadState,
    renewed: Instant,
}

/// The chunk being filled: the received frames, sent as one PUT without copying them.
struct Current {
    key: String,
    parts: Vec<Bytes>,
    len: u64,
}

/// A full chunk being stored while the next one fills (one at a time, so a writer holds at
/// most two chunks of memory).
struct InFlight {
    chunk: Chunk,
    task: JoinHandle<Result<()>>,
}
/// An [`UploadWriter`] that writes each request's bytes as a new chunk.
pub(crate) struct ObjectWriter {
    inner: Arc<Inner>,
    /// `None` for a staged blob.
    session: Option<Session>,
    /// Finished chunks not yet in the record.
    written: Vec<Chunk>,
    current: Option<Current>,
    in_flight: Option<InFlight>,
    offset: u64,
    /// Saved or completed: nothing left to clean up.
    done: bool,
}

impl fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("session", &self.session.as_ref().map(|s| &s.id))
            .field("offset", &self.offset)
            .field("written", &self.written)
            .finish()
    }
}

impl ObjectWriter {
    pub(crate) fn staged(inner: Arc<Inner>) -> Self {
        ObjectWriter {
            inner,
            session: None,
            written: Vec::new(),
            current: None,
            in_flight: None,
            offset: 0,
            done: false,
        }
    }

    async fn write_chunk(&mut self, data: Bytes) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.renew_if_due().await?;
        let len = data.len() as u64;
        let current = self.current.get_or_insert_with(|| Current {
            key: new_chunk_key(),
            parts: Vec::new(),
            len: 0,
        });
        current.parts.push(data);
        current.len += len;
        self.offset += len;
        if current.len >= CHUNK_SIZE {
            // Stored in the background while the next chunk fills.
            let full = self.current.take();
            self.wait_in_flight().await?;
            if let Some(full) = full {
                let inner = Arc::clone(&self.inner);
                let chunk = Chunk {
                    key: full.key.clone(),
                    size: full.len,
                };
                let task =
                    tokio::spawn(async move { inner.put_parts(&full.key, full.parts).await });
                self.in_flight = Some(InFlight { chunk, task });
            }
        }
        Ok(())
    }

    /// Waits for the chunk being stored, if any, and adds it to `written`.
    async fn wait_in_flight(&mut self) -> Result<()> {
        let Some(InFlight { chunk, task }) = self.in_flight.take() else {
            return Ok(());
        };
        let stored = match task.await {
            Ok(result) => result,
            Err(e) => Err(Error::Other {
                key: chunk.key.clone(),
                source: Box::new(e),
            }),
        };
        match stored {
            Ok(()) => {
                self.written.push(chunk);
                Ok(())
            }
            Err(e) => {
                // A PUT is all or nothing, but its answer may have been lost after it landed.
                self.inner.delete_best_effort([chunk.key]).await;
                Err(e)
            }
        }
    }

    /// Stores every chunk written so far (the one in flight, then the one filling).
    async fn finish_chunk(&mut self) -> Result<()> {
        self.wait_in_flight().await?;
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        if let Err(e) = self.inner.put_parts(&current.key, current.parts).await {
            self.inner.delete_best_effort([current.key]).await;
            return Err(e);
        }
        self.written.push(Chunk {
            key: current.key,
            size: current.len,
        });
        Ok(())
    }

    /// Extends the claim once a third of the lease has passed.
    async fn renew_if_due(&mut self) -> Result<()> {
        let lease = self.inner.options.upload_lease;
        match &self.session {
            Some(session) if session.renewed.elapsed() >= lease / 3 => {}
            _ => return Ok(()),
        }
        self.swap_record(|_| {}).await
    }

    /// Swaps the record for `change`d version of it with the claim renewed. NotFound when
    /// the session was deleted, Conflict when someone else changed it.
    async fn swap_record(&mut self, change: impl FnOnce(&mut Record)) -> Result<()> {
        let Some(session) = &mut self.session else {
            return Ok(());
        };
        let mut record = session.record.clone();
        change(&mut record);
        let until = now_millis().saturating_add(lease_millis(&self.inner));
        if let Some(claim) = &mut record.claim {
            claim.until = until;
        }
        let key = record_key(&session.id);
        let renewed = Instant::now();
        match self
            .inner
            .swap(&key, &session.version, record.encode(&session.id)?)
            .await?
        {
            Some(version) => {
                session.version = version;
                session.record = record;
                session.renewed = renewed;
                Ok(())
            }
            None => match read_record(&self.inner, &session.id).await? {
                None => Err(Error::not_found(session.id.as_str())),
                Some(_) => Err(Error::conflict(
                    session.id.as_str(),
                    "the session was changed by another writer (its claim expired)",
                )),
            },
        }
    }

    async fn save_inner(&mut self, hash_state: Bytes) -> Result<UploadState> {
        if self.session.is_none() {
            return Err(Error::invalid_input(
                "staged blob",
                "a staged blob has no session to save",
            ));
        }
        self.finish_chunk().await?;
        let written = self.written.clone();
        let offset = self.offset;
        let result = self
            .swap_record(|record| {
                record.offset = offset;
                record.chunks.extend(written);
                record.hash_state = hex::encode(&hash_state);
                record.claim = None;
                record.updated = nanos(SystemTime::now());
            })
            .await;
        let session = self.session.as_ref().map(|s| (&s.record, s.id.as_str()));
        match (result, session) {
            (Ok(()), Some((record, id))) => {
                self.written.clear();
                self.done = true;
                record.state(id)
            }
            (Ok(()), None) => Err(Error::invalid_input("staged blob", "no session")),
            (Err(e), _) => Err(e),
        }
    }

    async fn complete_inner(&mut self, repo: &str, digest: &Digest) -> Result<()> {
        check_repo(repo)?;
        self.finish_chunk().await?;
        // Proves the claim still holds (the session was not deleted under this writer).
        self.swap_record(|_| {}).await?;
        let mut chunks = self
            .session
            .as_ref()
            .map(|s| s.record.chunks.clone())
            .unwrap_or_default();
        chunks.append(&mut self.written);
        self.done = true;
        blobs::publish(&self.inner, digest, chunks).await?;
        blobs::link(&self.inner, repo, digest).await?;
        if let Some(session) = &self.session {
            self.inner.delete(&record_key(&session.id)).await?;
        }
        Ok(())
    }
}

impl UploadWriter for ObjectWriter {
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write_chunk(data))
    }

    fn offset(&self) -> u64 {
        self.offset
    }

    fn state(&self) -> Option<&UploadState> {
        self.session.as_ref().map(|s| &s.state)
    }

    fn read_back(&mut self) -> BoxFuture<'_, Result<BlobReader>> {
        Box::pin(async move {
            self.finish_chunk().await?;
            let mut chunks = self
                .session
                .as_ref()
                .map(|s| s.record.chunks.clone())
                .unwrap_or_default();
            chunks.extend(self.written.iter().cloned());
            let total = chunks.iter().map(|c| c.size).sum();
            Ok(blobs::chunk_reader(
                Arc::clone(&self.inner.store),
                self.inner.prefix.clone(),
                &chunks,
                0,
                total,
            ))
        })
    }

    fn save(mut self: Box<Self>, hash_state: Bytes) -> BoxFuture<'static, Result<UploadState>> {
        Box::pin(async move { self.save_inner(hash_state).await })
    }

    fn complete<'a>(
        mut self: Box<Self>,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.complete_inner(repo, digest).await })
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The chunk being filled was never sent; the one in flight and the stored ones go.
        self.current = None;
        let in_flight = self.in_flight.take();
        let leftovers: Vec<String> = self.written.drain(..).map(|c| c.key).collect();
        let session = self.session.take();
        if let Some(session) = &session {
            // A resume in this process need not wait for the release to be stored.
            lock(&self.inner.released).push(session.token.clone());
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to clean up on: the claim expires, the chunks stay unreferenced.
            return;
        };
        let inner = Arc::clone(&self.inner);
        let releasing_done = session.as_ref().map(|session| {
            let (done, waiting) = tokio::sync::watch::channel(());
            lock(&inner.releasing).insert(session.id.clone(), waiting);
            done
        });
        runtime.spawn(async move {
            if let Some(InFlight { chunk, task }) = in_flight {
                let _ = task.await;
                inner.delete_best_effort([chunk.key]).await;
            }
            inner.delete_best_effort(leftovers).await;
            if let Some(session) = session {
                release(&inner, &session).await;
                lock(&inner.released).retain(|t| *t != session.token);
                let mut releasing = lock(&inner.releasing);
                // Unless a later drop of the same session registered its own release.
                if releasing
                    .get(&session.id)
                    .zip(releasing_done.as_ref())
                    .is_some_and(|(waiting, done)| waiting.same_channel(&done.subscribe()))
                {
                    releasing.remove(&session.id);
                }
            }
            drop(releasing_done);
        });
    }
}

/// Clears `session`'s claim from its record, unless someone else holds it by now.
async fn release(inner: &Inner, session: &Session) {
    let key = record_key(&session.id);
    for _ in 0..3 {
        let Ok(Some((mut record, version))) = read_record(inner, &session.id).await else {
            return;
        };
        if record.claim.as_ref().map(|c| &c.token) != Some(&session.token) {
            return;
        }
        record.claim = None;
        let Ok(bytes) = record.encode(&session.id) else {
            return;
        };
        match inner.swap(&key, &version, bytes).await {
            Ok(None) => continue,
            Ok(Some(_)) | Err(_) => return,
        }
    }
}

/// The chunks every stored session record names (for the leftover sweep).
pub(crate) async fn recorded_chunks(inner: &Inner) -> Result<Vec<Vec<Chunk>>> {
    let mut ids = Vec::new();
    inner
        .list("uploads", None, |key, meta| {
            if meta.size > 0 {
                if let Some(id) = key.strip_suffix(".json") {
                    ids.push(id.to_owned());
                }
            }
            true
        })
        .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some((record, _)) = read_record(inner, &id).await? {
            out.push(record.chunks);
        }
    }
    Ok(out)
}
