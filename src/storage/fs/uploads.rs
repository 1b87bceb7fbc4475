//! Upload sessions and their writer.
//!
//! A session is two files in `uploads/`: `<id>.data`, its bytes, and `<id>.json`, its record
//! (the [`UploadState`]: offset, serialized hash state, times). The record is the truth: bytes
//! past its offset were never acknowledged and are cut off when the session is resumed.
//!
//! Claiming: [`FsStorage::resume_upload`] opens the data file and takes an exclusive advisory
//! lock on it (`flock`), which conflicts with every other open of the file, in this process or
//! another; only then does it read the record, so a save that finished just before is seen. The
//! lock goes with the file descriptor, which a saved (idle) session does not hold.
//!
//! Writing: frames are queued (shared `Bytes`, not copied) until they reach [`CHUNK`] bytes,
//! and each full chunk is written with `writev` on the blocking pool while the caller goes on
//! receiving the next one: at most one chunk in flight, so memory stays at two chunks per
//! upload, and no thread waits while the caller waits on the network. A write error surfaces
//! on the next call, after which the writer refuses further use.
//!
//! Deleting vs saving: record writes of one session (save, complete, delete) are serialised by
//! an in-process lock held across the record check and write, so a save after a delete fails
//! with [`Error::NotFound`] and never brings the record back. Across processes this is best
//! effort (the check and the rename are not one atomic step).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::cache::{ContentLocks, KeyLocks};
use super::layout::{Layout, RECORD_SUFFIX};
use super::repositories::Catalog;
use super::write::{
    blocking, create_atomic, create_new, io_error, move_into_place, no_follow, open_read,
    read_dir_optional, read_optional, remove, set_touched, touch, write_atomic, TempNames,
};
use super::{invalid_name, invalid_upload_id, page_of, FsStorage};
use crate::protocol::upload_id::is_valid_upload_id;
use crate::protocol::{Algorithm, Digest};
use crate::storage::{
    check_tail, BlobReader, BoxFuture, Error, Finished, ListOptions, Page, Result, UploadState,
    UploadWriter,
};

/// Bytes buffered before a write to the file. Big writes mean few blocking-pool hops.
const CHUNK: usize = 1 << 20;

/// The on-disk form of an [`UploadState`].
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    id: String,
    repo: String,
    algorithm: String,
    offset: u64,
    /// Hex of the serialized hash state.
    hash_state: String,
    /// Unix milliseconds.
    started: u64,
    /// Unix milliseconds.
    updated: u64,
    /// The nanoseconds below the millisecond of `started` and `updated`, so a state reads back
    /// exactly as it was stored (absent in hand-written records: 0).
    #[serde(default)]
    sub_ms_nanos: (u32, u32),
    /// A closed session's marker (absent in earlier records: false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    closed: bool,
    /// Who opened the session (absent: nobody in particular, as in records written before
    /// sessions were bound to principals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    principal: Option<String>,
}

/// Unix milliseconds and the nanoseconds below them (times before 1970 read as 1970).
fn millis(time: SystemTime) -> (u64, u32) {
    time.duration_since(UNIX_EPOCH)
        .map(|d| {
            (
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                d.subsec_nanos() % 1_000_000,
            )
        })
        .unwrap_or((0, 0))
}

fn from_millis(ms: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms) + Duration::from_nanos(u64::from(nanos % 1_000_000))
}

impl Record {
    fn of(state: &UploadState) -> Self {
        Record {
            id: state.id.clone(),
            repo: state.repo.clone(),
            algorithm: state.algorithm.as_str().to_owned(),
            offset: state.offset,
            hash_state: hex::encode(&state.hash_state),
            started: millis(state.started).0,
            updated: millis(state.updated).0,
            sub_ms_nanos: (millis(state.started).1, millis(state.updated).1),
            closed: state.closed,
            principal: state.principal.clone(),
        }
    }

    fn to_json(&self, key: &str) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Other {
            key: key.to_owned(),
            source: Box::new(e),
        })
    }

    fn state(&self) -> Option<UploadState> {
        Some(UploadState {
            id: self.id.clone(),
            repo: self.repo.clone(),
            algorithm: Algorithm::from_name(&self.algorithm)?,
            offset: self.offset,
            hash_state: Bytes::from(hex::decode(&self.hash_state).ok()?),
            started: from_millis(self.started, self.sub_ms_nanos.0),
            updated: from_millis(self.updated, self.sub_ms_nanos.1),
            closed: self.closed,
            principal: self.principal.clone(),
        })
    }
}

/// Reads and parses the record at `path`; `None` when there is none.
fn read_record(path: &Path, id: &str) -> Result<Option<(Record, UploadState)>> {
    let Some(bytes) = read_optional(path).map_err(io_error(path))? else {
        return Ok(None);
    };
    let corrupt = || Error::corrupt(path.display().to_string(), "bad upload record");
    let record: Record = serde_json::from_slice(&bytes).map_err(|_| corrupt())?;
    let state = record.state().ok_or_else(corrupt)?;
    if record.id != id {
        return Err(corrupt());
    }
    Ok(Some((record, state)))
}

impl FsStorage {
    fn upload_paths(&self, id: &str) -> Result<(PathBuf, PathBuf)> {
        match (self.layout.upload_record(id), self.layout.upload_data(id)) {
            (Some(record), Some(data)) => Ok((record, data)),
            _ => Err(invalid_upload_id(id)),
        }
    }

    pub(super) async fn create_upload_impl(&self, state: &UploadState) -> Result<()> {
        let (record_path, _) = self.upload_paths(&state.id)?;
        if self.layout.repo(&state.repo).is_none() {
            return Err(invalid_name(&state.repo));
        }
        let json = Record::of(state).to_json(&state.id)?;
        let durable = self.durable;
        let temp = Arc::clone(&self.temp);
        let guard = self.upload_locks.lock(&state.id).await;
        blocking(move || {
            let _guard = guard;
            // Only the record (the data file comes with the first resume), whole or not at
            // all: requests racing to store a session by its first byte read it at once.
            create_atomic(&temp, &record_path, &json, durable).map_err(io_error(&record_path))
        })
        .await
    }

    pub(super) async fn get_upload_impl(&self, id: &str) -> Result<UploadState> {
        let (record_path, _) = self.upload_paths(id)?;
        let id = id.to_owned();
        blocking(move || match read_record(&record_path, &id)? {
            Some((_, state)) => Ok(state),
            None => Err(Error::not_found(id)),
        })
        .await
    }

    pub(super) async fn resume_upload_impl(&self, id: &str) -> Result<Box<dyn UploadWriter>> {
        let (record_path, data) = self.upload_paths(id)?;
        let key = id.to_owned();
        let (file, record, state) = blocking(move || claim(&record_path, &data, &key)).await?;
        let data = self
            .layout
            .upload_data(id)
            .ok_or_else(|| invalid_upload_id(id))?;
        Ok(Box::new(FsUploadWriter::new(
            self,
            data,
            file,
            Some(Session {
                id: id.to_owned(),
                record,
                state,
            }),
        )))
    }

    /// [`Storage::finish_upload`](crate::storage::Storage::finish_upload) in one blocking
    /// task: claim, check, hash the tail, write it, and move the bytes into place. A session
    /// with no record, finished as `unstored`, is one staged file moved into place.
    pub(super) async fn finish_upload_impl(
        &self,
        id: &str,
        repo: &str,
        tail: Bytes,
        expected: &Digest,
        unstored: Option<&UploadState>,
    ) -> Result<Finished> {
        let (record_path, data) = self.upload_paths(id)?;
        let link = self
            .layout
            .blob_link(repo, expected)
            .ok_or_else(|| invalid_name(repo))?;
        let blob = self.layout.blob(expected);
        let staged = unstored.map(|state| (self.layout.staged(), state.clone()));
        let durable = self.durable;
        let catalog = Arc::clone(&self.catalog);
        let content_locks = Arc::clone(&self.content_locks);
        let (key, repo, expected) = (id.to_owned(), repo.to_owned(), expected.clone());
        let guard = self.upload_locks.lock(id).await;
        blocking(move || {
            let _guard = guard;
            if let Some((staged, state)) = staged {
                // One failed lookup tells the session is not stored. A request storing it right
                // after this check stores bytes of a session this one then finishes without
                // them: the blob is still exactly `tail` (checked below), and the stored
                // session expires.
                // An existence check, not a read: a stored session's record is read (under
                // the claim) by `claim` below.
                if !record_path.try_exists().map_err(io_error(&record_path))? {
                    if let Some(refused) = check_tail(&state, &tail, &expected) {
                        return Ok(refused);
                    }
                    let mut file = create_new(&staged, durable).map_err(io_error(&staged))?;
                    let written = file.write_all(&tail).and_then(|()| {
                        if durable {
                            file.sync_all()
                        } else {
                            Ok(())
                        }
                    });
                    drop(file);
                    if let Err(e) = written {
                        let _ = fs::remove_file(&staged);
                        return Err(Error::io(key, e));
                    }
                    if let Err(e) =
                        place_content(&content_locks, &expected, &staged, &blob, &link, durable)
                    {
                        let _ = fs::remove_file(&staged);
                        return Err(e);
                    }
                    catalog.note(&repo);
                    return Ok(Finished::CompletedUnstored);
                }
            }
            let (mut file, _, state) = claim(&record_path, &data, &key)?;
            if state.repo != repo || state.closed {
                return Err(Error::not_found(key));
            }
            if let Some(refused) = check_tail(&state, &tail, &expected) {
                return Ok(refused);
            }
            file.write_all(&tail).map_err(io_error(&data))?;
            if durable {
                file.sync_all().map_err(io_error(&data))?;
            }
            // As in `complete`: the record first, then the bytes into place, then the link.
            fs::remove_file(&record_path).map_err(|e| Error::io(key.clone(), e))?;
            place_content(&content_locks, &expected, &data, &blob, &link, durable)?;
            drop(file);
            catalog.note(&repo);
            Ok(Finished::Completed)
        })
        .await
    }

    pub(super) async fn stage_blob_impl(&self) -> Result<Box<dyn UploadWriter>> {
        let path = self.layout.staged();
        let durable = self.durable;
        let (path, file) = blocking(move || {
            let file = create_new(&path, durable).map_err(io_error(&path))?;
            Ok((path, file))
        })
        .await?;
        Ok(Box::new(FsUploadWriter::new(self, path, file, None)))
    }

    pub(super) async fn delete_upload_impl(&self, id: &str) -> Result<()> {
        let (record_path, data) = self.upload_paths(id)?;
        let durable = self.durable;
        let id = id.to_owned();
        let guard = self.upload_locks.lock(&id).await;
        blocking(move || {
            let _guard = guard;
            // Record first: without it the session is gone, whatever happens to the bytes.
            if !remove(&record_path, durable).map_err(io_error(&record_path))? {
                return Err(Error::not_found(id));
            }
            remove(&data, durable).map_err(io_error(&data))?;
            Ok(())
        })
        .await
    }

    pub(super) async fn list_uploads_impl(
        &self,
        options: ListOptions,
    ) -> Result<Page<UploadState>> {
        let uploads = self.layout.uploads();
        let layout = Arc::clone(&self.layout);
        blocking(move || {
            let mut ids = Vec::new();
            if let Some(entries) = read_dir_optional(&uploads).map_err(io_error(&uploads))? {
                for entry in entries {
                    let entry = entry.map_err(io_error(&uploads))?;
                    let name = entry.file_name();
                    let Some(id) = name.to_str().and_then(|n| n.strip_suffix(RECORD_SUFFIX)) else {
                        continue;
                    };
                    if is_valid_upload_id(id) {
                        ids.push(id.to_owned());
                    }
                }
            }
            ids.sort_unstable();
            let page = page_of(ids, |id| id.clone(), &options);
            let mut items = Vec::with_capacity(page.items.len());
            for id in page.items {
                let Some(path) = layout.upload_record(&id) else {
                    continue;
                };
                // Deleted since the directory was read: skip it.
                if let Some((_, state)) = read_record(&path, &id)? {
                    items.push(state);
                }
            }
            Ok(Page::new(items, page.more))
        })
        .await
    }
}

/// Removes upload records a crash tore (a record is created in place, before its client is
/// told of it), with their data files. Run at start-up, before serving; best effort.
pub(super) fn remove_torn_records(uploads: &Path) {
    if !fs::symlink_metadata(uploads).is_ok_and(|m| m.file_type().is_dir()) {
        return;
    }
    let Ok(entries) = fs::read_dir(uploads) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(RECORD_SUFFIX)) else {
            continue;
        };
        if !is_valid_upload_id(id) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if matches!(read_record(&entry.path(), id), Err(Error::Corrupt { .. })) {
            let _ = fs::remove_file(entry.path());
            let _ = fs::remove_file(uploads.join(format!("{id}{}", super::layout::DATA_SUFFIX)));
        }
    }
}

/// Claims session `key` (blocking): opens its data file (created on the first claim, append
/// mode, no symlinks), takes the exclusive advisory lock ([`Error::Busy`] when another writer
/// holds it), reads the record under the lock (a writer saving just before has replaced it
/// before releasing the lock), and cuts the file to the record's offset (bytes past it were
/// never acknowledged). A missing record, or a data file shorter than the record says (its
/// bytes were moved into place by a completion whose record removal a crash undid), ends the
/// session: [`Error::NotFound`].
fn claim(record_path: &Path, data: &Path, key: &str) -> Result<(File, Record, UploadState)> {
    let file = locked_data_file(data, key)?;
    let Some((record, state)) = read_record(record_path, key)? else {
        // Deleted (or never there): leave no data file behind for it. Removed while locked,
        // and a claim that locked this file meanwhile sees it is no longer at the path.
        let _ = remove(data, false);
        drop(file);
        return Err(Error::not_found(key));
    };
    let len = file.metadata().map_err(io_error(data))?.len();
    if len < record.offset {
        let _ = remove(record_path, false);
        let _ = remove(data, false);
        drop(file);
        return Err(Error::not_found(key));
    }
    if len > record.offset {
        file.set_len(record.offset).map_err(io_error(data))?;
    }
    Ok((file, record, state))
}

/// Opens (creating) and locks the data file at `data`, making sure the file locked is still
/// the one at the path: a claim that found no record removes the file while it holds the lock,
/// and one that opened it just before must not write to the removed file.
fn locked_data_file(data: &Path, key: &str) -> Result<File> {
    for _ in 0..8 {
        let file = no_follow(OpenOptions::new().read(true).append(true).create(true))
            .open(data)
            .map_err(io_error(data))?;
        lock_exclusive(&file, key)?;
        if same_file_at(&file, data).map_err(io_error(data))? {
            return Ok(file);
        }
    }
    // Removed under us again and again: another request is busy with the session.
    Err(Error::Busy {
        key: key.to_owned(),
    })
}

/// Whether `path` still names the open `file`.
#[cfg(unix)]
fn same_file_at(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(at_path) => Ok(open.dev() == at_path.dev() && open.ino() == at_path.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn same_file_at(_file: &File, path: &Path) -> io::Result<bool> {
    Ok(path.exists())
}

/// Takes the exclusive advisory lock of an upload's data file, or reports the session busy.
// `File::try_lock` is stable since Rust 1.89, the crate's minimum.
fn lock_exclusive(file: &File, id: &str) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Busy { key: id.to_owned() }),
        Err(fs::TryLockError::Error(e)) => Err(Error::io(id, e)),
    }
}

/// A stored session a writer appends to.
#[derive(Debug)]
struct Session {
    id: String,
    /// The record as read when resumed.
    record: Record,
    /// The same, as the API's state.
    state: UploadState,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("id", &self.id)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

type InFlight = JoinHandle<io::Result<(File, Vec<Bytes>)>>;

/// The [`UploadWriter`] of [`FsStorage`]: a stored session (resumed) or a staged blob.
struct FsUploadWriter {
    layout: Arc<Layout>,
    temp: Arc<TempNames>,
    durable: bool,
    upload_locks: Arc<KeyLocks>,
    content_locks: Arc<ContentLocks>,
    write_slots: Arc<tokio::sync::Semaphore>,
    catalog: Arc<Catalog>,
    /// `None` for a staged blob.
    session: Option<Session>,
    /// The data file's path; `None` once a staged blob's file was renamed away or removed.
    path: Option<PathBuf>,
    /// The file, unless a chunk write holds it (or an earlier failure lost it).
    file: Option<File>,
    /// The chunk being written, which hands back the file and its emptied buffer.
    in_flight: Option<InFlight>,
    /// Frames waiting for the next chunk write, and how many bytes they hold.
    queued: Vec<Bytes>,
    queued_len: usize,
    spare: Vec<Bytes>,
    /// Stored offset plus everything written since.
    len: u64,
}

impl std::fmt::Debug for FsUploadWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsUploadWriter")
            .field("session", &self.session)
            .field("path", &self.path)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl FsUploadWriter {
    fn new(storage: &FsStorage, path: PathBuf, file: File, session: Option<Session>) -> Self {
        let len = session.as_ref().map_or(0, |s| s.record.offset);
        FsUploadWriter {
            layout: Arc::clone(&storage.layout),
            temp: Arc::clone(&storage.temp),
            durable: storage.durable,
            upload_locks: Arc::clone(&storage.upload_locks),
            content_locks: Arc::clone(&storage.content_locks),
            write_slots: Arc::clone(&storage.write_slots),
            catalog: Arc::clone(&storage.catalog),
            session,
            path: Some(path),
            file: Some(file),
            in_flight: None,
            queued: Vec::new(),
            queued_len: 0,
            spare: Vec::new(),
            len,
        }
    }

    fn key(&self) -> String {
        match &self.session {
            Some(session) => session.id.clone(),
            None => "staged blob".to_owned(),
        }
    }

    /// Waits for the chunk in flight, if any, and takes the file back.
    ///
    /// Cancel safe: the join handle stays in `self` until it has completed.
    async fn take_file(&mut self) -> Result<File> {
        if let Some(file) = self.file.take() {
            return Ok(file);
        }
        let key = self.key();
        let Some(in_flight) = self.in_flight.as_mut() else {
            return Err(Error::Other {
                key,
                source: "upload writer unusable after an earlier write error".into(),
            });
        };
        let joined = in_flight.await;
        self.in_flight = None;
        let (file, mut spare) = joined
            .map_err(|e| Error::Other {
                key: key.clone(),
                source: Box::new(e),
            })?
            .map_err(|e| Error::io(key, e))?;
        spare.clear();
        self.spare = spare;
        Ok(file)
    }

    /// Hands the buffered chunk to the blocking pool.
    async fn start_write(&mut self) -> Result<()> {
        let mut file = self.take_file().await?;
        // Waits (without a thread) while the disk is behind; the semaphore is never closed.
        let slot = Arc::clone(&self.write_slots).acquire_owned().await.ok();
        let chunk = mem::replace(&mut self.queued, mem::take(&mut self.spare));
        self.queued_len = 0;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let _slot = slot;
            write_frames(&mut file, &chunk)?;
            Ok((file, chunk))
        }));
        Ok(())
    }

    /// The file back (no write in flight) and the frames still queued, for the caller's
    /// blocking task to write: one blocking-pool hop for the tail and what follows it.
    async fn take_tail(&mut self) -> Result<(File, Vec<Bytes>)> {
        let file = self.take_file().await?;
        self.queued_len = 0;
        Ok((file, mem::take(&mut self.queued)))
    }

    /// The file back with every queued frame written to it (not yet synced).
    async fn flush(&mut self) -> Result<File> {
        let (mut file, tail) = self.take_tail().await?;
        if tail.is_empty() {
            return Ok(file);
        }
        let key = self.key();
        blocking(move || {
            write_frames(&mut file, &tail).map_err(|e| Error::io(key, e))?;
            Ok(file)
        })
        .await
    }

    async fn save_inner(&mut self, hash_state: Bytes) -> Result<UploadState> {
        let Some(session) = &self.session else {
            return Err(Error::invalid_input(
                "staged blob",
                "a staged blob has no session to save",
            ));
        };
        let id = session.id.clone();
        let base = session.record.offset;
        let (record_path, data) = match (self.layout.upload_record(&id), self.path.clone()) {
            (Some(record), Some(data)) => (record, data),
            _ => return Err(invalid_upload_id(&id)),
        };
        let (mut file, tail) = self.take_tail().await?;
        let durable = self.durable;
        let temp = Arc::clone(&self.temp);
        let offset = self.len;
        let locks = Arc::clone(&self.upload_locks);
        let guard = locks.lock(&id).await;
        // The tail, the check and the record write run in one task that owns the lock, so a
        // caller that stops waiting does not let a delete in between.
        blocking(move || {
            let _guard = guard;
            write_frames(&mut file, &tail).map_err(io_error(&data))?;
            if durable {
                file.sync_data().map_err(io_error(&data))?;
            }
            let Some((mut record, _)) = read_record(&record_path, &id)? else {
                // Deleted while we held it: never bring the record back.
                return Err(Error::not_found(id));
            };
            if record.offset != base {
                return Err(Error::conflict(
                    id,
                    format!("stored offset moved from {base} to {}", record.offset),
                ));
            }
            record.offset = offset;
            record.hash_state = hex::encode(&hash_state);
            let (updated, nanos) = millis(SystemTime::now());
            record.updated = updated;
            record.sub_ms_nanos.1 = nanos;
            let json = record.to_json(&id)?;
            write_atomic(&temp, &record_path, &json, durable).map_err(io_error(&record_path))?;
            // The lock goes with the descriptor: an idle session holds neither.
            drop(file);
            record
                .state()
                .ok_or_else(|| Error::corrupt(id, "bad upload record"))
        })
        .await
    }

    async fn complete_inner(&mut self, repo: &str, digest: &Digest) -> Result<()> {
        let link = self
            .layout
            .blob_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        let blob = self.layout.blob(digest);
        let key = self.key();
        let Some(data) = self.path.clone() else {
            return Err(Error::Other {
                key,
                source: "upload already completed".into(),
            });
        };
        let record_path = match &self.session {
            Some(session) => Some(
                self.layout
                    .upload_record(&session.id)
                    .ok_or_else(|| invalid_upload_id(&session.id))?,
            ),
            None => None,
        };
        let (mut file, tail) = self.take_tail().await?;
        let durable = self.durable;
        let locks = Arc::clone(&self.upload_locks);
        let guard = match &self.session {
            Some(session) => Some(locks.lock(&session.id).await),
            None => None,
        };
        let catalog = Arc::clone(&self.catalog);
        let content_locks = Arc::clone(&self.content_locks);
        let digest = digest.clone();
        let repo_name = repo.to_owned();
        blocking(move || {
            let _guard = guard;
            write_frames(&mut file, &tail).map_err(io_error(&data))?;
            if durable {
                file.sync_all().map_err(io_error(&data))?;
            }
            if let Some(record_path) = &record_path {
                // The record goes first: a session deleted while we held it is not completed,
                // and a crash from here on leaves no session pointing at moved bytes (a resume
                // of a record whose bytes are gone ends it).
                match fs::remove_file(record_path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(Error::not_found(key))
                    }
                    Err(e) => return Err(Error::io(key, e)),
                }
            }
            // Into place whether or not the content exists: same digest, same bytes, and the
            // new file's time is the refreshed last-touched time. A concurrent complete of the
            // same digest replaces identical bytes, and both succeed. (Replacing a planted
            // symlink replaces the link itself, never what it points at.)
            place_content(&content_locks, &digest, &data, &blob, &link, durable)?;
            drop(file);
            catalog.note(&repo_name);
            Ok(())
        })
        .await?;
        self.path = None;
        Ok(())
    }

    async fn read_back_inner(&mut self) -> Result<BlobReader> {
        let Some(path) = self.path.clone() else {
            return Err(Error::Other {
                key: self.key(),
                source: "upload already completed".into(),
            });
        };
        let file = self.flush().await?;
        let len = self.len;
        let (file, reader) = blocking(move || {
            let reader = open_read(&path).map_err(io_error(&path))?;
            Ok((file, reader))
        })
        .await?;
        self.file = Some(file);
        Ok(BlobReader::from_file(reader, len))
    }
}

impl UploadWriter for FsUploadWriter {
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if data.is_empty() {
                // Nothing to write (and an all-empty writev returns 0, read as WriteZero).
                return Ok(());
            }
            self.len += data.len() as u64;
            self.queued_len += data.len();
            self.queued.push(data);
            if self.queued_len >= CHUNK {
                self.start_write().await?;
            }
            Ok(())
        })
    }

    fn offset(&self) -> u64 {
        self.len
    }

    fn state(&self) -> Option<&UploadState> {
        self.session.as_ref().map(|s| &s.state)
    }

    fn read_back(&mut self) -> BoxFuture<'_, Result<BlobReader>> {
        Box::pin(self.read_back_inner())
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

impl Drop for FsUploadWriter {
    fn drop(&mut self) {
        // A session's bytes stay (cut to the saved offset on resume) and its lock goes with the
        // descriptor; a staged blob's bytes go.
        if self.session.is_none() {
            if let Some(path) = self.path.take() {
                // A chunk still in flight finishes writing to the unlinked file, harmlessly.
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// Writes queued frames in order, with as few syscalls as `write_vectored` allows.
fn write_frames(file: &mut File, frames: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> = frames
        .iter()
        .filter(|f| !f.is_empty())
        .map(|f| io::IoSlice::new(f))
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = file.write_vectored(rest)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        io::IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

/// Moves verified bytes `from` into place as content `blob`, stamps now as its touched time
/// (the file's mtime is when its bytes were last written, maybe long ago) and links it, all
/// under the content's lock, so a collector's check-and-delete cannot remove the content in
/// between, nor take the link for one left to collected content.
fn place_content(
    locks: &ContentLocks,
    digest: &Digest,
    from: &Path,
    blob: &Path,
    link: &Path,
    durable: bool,
) -> Result<()> {
    let _guard = locks.lock(digest);
    move_into_place(from, blob, durable)
        .and_then(|()| set_touched(blob))
        .map_err(io_error(blob))?;
    touch(link, durable).map_err(io_error(link))?;
    Ok(())
}
