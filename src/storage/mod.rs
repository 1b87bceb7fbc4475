//! The storage API: what a backend implements, and the backends that ship with the crate.
//!
//! A backend stores blobs (content-addressed, linked into repositories), manifests with their
//! tags and referrers entries, and upload sessions. The registry's protocol rules (what a
//! manifest references, which referrers entry it gets, digest checks, session caps and expiry)
//! live above this trait, once; a backend owns the atomicity, crash safety and ordering of each
//! operation, as the method docs state. `testkit` (feature `testkit`) proves a backend keeps
//! that contract: every backend of this crate runs it in `cargo test`.
//!
//! Shaped after `object_store`: option structs with `Default` (a new option is not a breaking
//! change), one spelling of absence ([`Error::NotFound`]), sorted listings with an offset
//! ([`ListOptions`]), reads that return size and bytes in one call ([`GetResult`]), and a
//! writer object for uploads ([`UploadWriter`]).
//!
//! # Writing a backend
//!
//! Implement [`Storage`] (every method returns a boxed future, so the trait is object-safe),
//! then run the kit against it from a test, with the `testkit` feature on. A
//! `testkit::Harness` opens fresh stores, and reopens the last one (a restart, or a second
//! process on the same data), so the kit can check that sessions resume anywhere:
//!
//! ```ignore
//! use std::sync::Arc;
//! use tower_oci::storage::{testkit, BoxFuture, Storage};
//!
//! struct MyHarness { /* where the last fresh store lives */ }
//!
//! impl testkit::Harness for MyHarness {
//!     fn fresh(&self) -> BoxFuture<'_, Arc<dyn Storage>> {
//!         Box::pin(async { Arc::new(MyBackend::create_empty().await) as Arc<dyn Storage> })
//!     }
//!     fn reopen(&self) -> BoxFuture<'_, Arc<dyn Storage>> {
//!         Box::pin(async { Arc::new(MyBackend::open_last().await) as Arc<dyn Storage> })
//!     }
//! }
//!
//! #[tokio::test(flavor = "multi_thread")]
//! async fn my_backend_keeps_the_contract() {
//!     testkit::run_all(&MyHarness { /* .. */ }).await;
//! }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use tokio::io::AsyncRead;

use crate::protocol::{Digest, Hasher};

mod error;
mod fs;
mod instrumented;
mod memory;
#[cfg(feature = "object-store")]
mod object;
#[cfg(any(test, feature = "testkit"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
mod types;

pub use error::{Error, Result, Source};
pub use fs::FsStorage;
pub(crate) use instrumented::Instrumented;
pub use memory::MemoryStorage;
#[cfg(feature = "object-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
pub use object::{ObjectStorage, ObjectStorageOptions};
pub use types::{
    resolve_span, ContentInfo, DeleteContentOptions, Finished, GetOptions, GetResult,
    LeftoverOptions, LinkOptions, ListOptions, ManifestMeta, ManifestPut, Page, Reclaimed,
    ReferrerEntry, ReferrerListOptions, Span, StoredManifest, UploadState,
};

/// A boxed `Send` future, as the trait's methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a [`BlobReader`]'s bytes come from, for the response body.
pub(crate) enum BodySource {
    File(std::fs::File),
    Reader(Pin<Box<dyn AsyncRead + Send>>),
    Bytes(Bytes),
}

/// A readable blob body of exactly [`len`](BlobReader::len) bytes.
///
/// A backend hands out either any async reader, or a local file, which the response body reads
/// with blocking I/O in large chunks, one chunk ahead of the network, into buffers it sends
/// without copying.
pub struct BlobReader {
    source: BlobSource,
    len: u64,
}

enum BlobSource {
    File(std::fs::File),
    Reader(Pin<Box<dyn AsyncRead + Send>>),
    Bytes(Bytes),
}

impl BlobReader {
    /// `len` bytes from an async reader positioned at the first byte.
    pub fn from_reader(reader: impl AsyncRead + Send + 'static, len: u64) -> Self {
        BlobReader {
            source: BlobSource::Reader(Box::pin(reader)),
            len,
        }
    }

    /// `len` bytes of a local file, positioned at the first byte.
    pub fn from_file(file: std::fs::File, len: u64) -> Self {
        BlobReader {
            source: BlobSource::File(file),
            len,
        }
    }

    /// These bytes (sent as they are: the response's first write carries them with its head).
    pub fn from_bytes(bytes: Bytes) -> Self {
        BlobReader {
            len: bytes.len() as u64,
            source: BlobSource::Bytes(bytes),
        }
    }

    /// How many bytes the blob body has.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes as one async reader, whatever the source.
    pub fn into_async_read(self) -> Pin<Box<dyn AsyncRead + Send>> {
        use tokio::io::AsyncReadExt;
        match self.source {
            BlobSource::File(file) => Box::pin(tokio::fs::File::from_std(file).take(self.len)),
            BlobSource::Reader(reader) => reader,
            BlobSource::Bytes(bytes) => Box::pin(std::io::Cursor::new(bytes)),
        }
    }

    /// The source as the response body takes it.
    pub(crate) fn into_source(self) -> (BodySource, u64) {
        let source = match self.source {
            BlobSource::File(file) => BodySource::File(file),
            BlobSource::Reader(reader) => BodySource::Reader(reader),
            BlobSource::Bytes(bytes) => BodySource::Bytes(bytes),
        };
        (source, self.len)
    }
}

impl fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            BlobSource::File(_) => "file",
            BlobSource::Reader(_) => "reader",
            BlobSource::Bytes(_) => "bytes",
        };
        f.debug_struct("BlobReader")
            .field("source", &kind)
            .field("len", &self.len)
            .finish()
    }
}

/// Bytes being appended to an upload: a stored session ([`Storage::resume_upload`]) or a blob
/// staged with no session ([`Storage::stage_blob`]).
///
/// A writer holds its session exclusively until it is saved, completed or dropped. Dropping it
/// discards what it wrote: the session stays at the offset of its last save, and a staged
/// blob's bytes go. A writer holds no thread while its caller waits on the network.
pub trait UploadWriter: Send + fmt::Debug {
    /// Appends bytes. Taking `Bytes` lets a backend queue request frames without copying them;
    /// a write error may surface on a later call instead.
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>>;

    /// The session's length: its stored offset plus everything written since.
    fn offset(&self) -> u64;

    /// The stored state this writer resumed from (its id, repository, algorithm, offset and
    /// hash state). `None` for a staged blob, which has no session.
    fn state(&self) -> Option<&UploadState>;

    /// Everything stored so far, written bytes included (flushed first): for re-hashing a
    /// session with another algorithm. Rare; may be slow.
    fn read_back(&mut self) -> BoxFuture<'_, Result<BlobReader>>;

    /// Makes every written byte durable (as durable as the backend is), then records the
    /// session at its new offset with `hash_state`, and releases it. Returns the stored state.
    /// Only when this returns may the bytes be acknowledged to the client. A staged blob has no
    /// session to save: [`Error::InvalidInput`].
    fn save(self: Box<Self>, hash_state: Bytes) -> BoxFuture<'static, Result<UploadState>>;

    /// Makes the bytes readable as blob `digest` (which the caller has verified) and links it
    /// into `repo`, then ends the session (state and bytes). Durable before it returns. If the
    /// blob already exists its content is kept (and its last-touched time refreshed), so
    /// concurrent pushes of one blob both succeed.
    fn complete<'a>(
        self: Box<Self>,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>>;
}

/// The hash to finish session `state` with for digest `expected`: its stored state, or a
/// fresh hash of `expected`'s algorithm when nothing is stored yet. `None` when bytes were
/// hashed with another algorithm (the caller re-hashes them), or the state does not restore.
pub(crate) fn finish_hasher(state: &UploadState, expected: &Digest) -> Option<Hasher> {
    if state.algorithm == expected.algorithm() {
        Hasher::restore(state.algorithm, &state.hash_state)
    } else if state.offset == 0 {
        Some(Hasher::new(expected.algorithm()))
    } else {
        None
    }
}

/// Whether `tail` after the bytes of session `state` gives `expected`: `None` when it does,
/// else what `finish_upload` answers ([`Finished::OtherAlgorithm`] or
/// [`Finished::DigestMismatch`]).
pub(crate) fn check_tail(state: &UploadState, tail: &[u8], expected: &Digest) -> Option<Finished> {
    let Some(mut hasher) = finish_hasher(state, expected) else {
        return Some(Finished::OtherAlgorithm);
    };
    hasher.update(tail);
    let actual = hasher.finalize();
    (actual != *expected).then_some(Finished::DigestMismatch { actual })
}

/// A registry's persistent state. See the [module docs](self).
///
/// Keys: repository names and tags have been validated by the request parser (the spec's
/// grammar), digests are [`Digest`]s, upload ids are what the registry issued. A backend
/// should refuse anything else with [`Error::InvalidInput`] rather than trust it as a path.
///
/// Consistency: after a method returns, every later call (from any process sharing the store)
/// sees its effect. Listings are sorted by byte order of the listed key.
pub trait Storage: Send + Sync + fmt::Debug + 'static {
    // ---- blobs ----

    /// Blob `digest` as repository `repo` holds it: its size and, unless `options.head`, the
    /// bytes of the requested span, in one call. [`Error::NotFound`] when `repo` does not hold
    /// it.
    fn get_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        options: GetOptions,
    ) -> BoxFuture<'a, Result<GetResult>>;

    /// The stored content of blob `digest`, whichever repositories link it.
    /// [`Error::NotFound`] when there is none.
    fn stat_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<ContentInfo>>;

    /// Links existing blob content into `repo` (a cross-repository mount) and refreshes its
    /// last-touched time. [`Error::NotFound`] when the content does not exist, or when
    /// `options.from` is set and that repository does not hold the blob.
    fn link_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        options: LinkOptions,
    ) -> BoxFuture<'a, Result<()>>;

    /// Unlinks blob `digest` from `repo`; its content stays for other repositories (garbage
    /// collection reclaims it). [`Error::NotFound`] when `repo` did not hold it.
    fn unlink_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<()>>;

    // ---- uploads ----

    /// Stores a new, empty upload session. [`Error::AlreadyExists`] if the id is taken.
    fn create_upload<'a>(&'a self, state: &'a UploadState) -> BoxFuture<'a, Result<()>>;

    /// The stored state of session `id`. [`Error::NotFound`] when there is none.
    fn get_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<UploadState>>;

    /// Opens session `id` to append at its stored offset, claiming it until the writer is
    /// saved, completed or dropped; [`UploadWriter::state`] is the state as claimed (read
    /// under the claim, so no other writer can move it on meanwhile). Bytes a crash left past
    /// the stored offset are discarded. [`Error::NotFound`] when the session is gone,
    /// [`Error::Busy`] while another writer holds it.
    fn resume_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Box<dyn UploadWriter>>>;

    /// Appends `tail` (the last bytes of session `id` of `repo`, already received) and, if the
    /// session's stored hash plus `tail` give `expected`, completes it as that blob: the
    /// closing `PUT` of an upload in one step. [`Error::NotFound`] when there is no such
    /// session in `repo` (or it is [closed](UploadState::closed)), [`Error::Busy`] while
    /// another writer holds it; a digest that does not match changes nothing.
    ///
    /// `unstored` is what the session is when none is stored under `id` (an empty session the
    /// caller vouches for: started, never written): then `tail` alone is hashed and, if it
    /// gives `expected`, stored and linked as the blob ([`Finished::CompletedUnstored`]),
    /// with nothing stored for the session. With `None`, an absent session is
    /// [`Error::NotFound`].
    ///
    /// The provided implementation resumes, hashes, writes and completes through the other
    /// methods; a backend may do it in one round trip (FsStorage: one blocking-pool hop).
    fn finish_upload<'a>(
        &'a self,
        id: &'a str,
        repo: &'a str,
        tail: Bytes,
        expected: &'a Digest,
        unstored: Option<&'a UploadState>,
    ) -> BoxFuture<'a, Result<Finished>> {
        Box::pin(async move {
            let (mut writer, state, done) = match self.resume_upload(id).await {
                Ok(writer) => {
                    let Some(state) = writer
                        .state()
                        .filter(|s| s.repo == repo && !s.closed)
                        .cloned()
                    else {
                        return Err(Error::not_found(id));
                    };
                    (writer, state, Finished::Completed)
                }
                Err(e) if e.is_not_found() => match unstored {
                    Some(state) => (
                        self.stage_blob().await?,
                        state.clone(),
                        Finished::CompletedUnstored,
                    ),
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            };
            if let Some(refused) = check_tail(&state, &tail, expected) {
                return Ok(refused);
            }
            writer.write(tail).await?;
            writer.complete(repo, expected).await?;
            Ok(done)
        })
    }

    /// A writer for a blob pushed in one request: no stored session, its bytes are gone unless
    /// it is completed.
    fn stage_blob(&self) -> BoxFuture<'_, Result<Box<dyn UploadWriter>>>;

    /// Ends session `id` and removes its bytes, even while a writer holds it (that writer's
    /// save or complete then fails). [`Error::NotFound`] when there is none.
    fn delete_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Stored sessions, ordered by id (for expiry sweeps and counting).
    fn list_uploads(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<UploadState>>>;

    // ---- manifests and tags ----

    /// Manifest `digest` of `repo`. [`Error::NotFound`] when `repo` does not hold it.
    fn get_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<StoredManifest>>;

    /// Media type and size of manifest `digest` of `repo`, without its bytes (existence checks
    /// of index children, `HEAD`). [`Error::NotFound`] when `repo` does not hold it.
    fn manifest_meta<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<ManifestMeta>>;

    /// Stores a manifest in `repo` with its tags and referrers entry, as one operation: once it
    /// returns, all of it is visible; if it fails or the process dies part way, no tag and no
    /// referrers entry points at a manifest `repo` does not hold. Re-putting a stored manifest
    /// replaces its media type and adds the tags. Concurrent puts and deletes of one manifest
    /// or tag end in the state of some serial order of them.
    fn put_manifest<'a>(&'a self, repo: &'a str, put: &'a ManifestPut)
        -> BoxFuture<'a, Result<()>>;

    /// Removes manifest `digest` from `repo` with every tag pointing at it and its referrers
    /// entry, as one operation (same guarantees as [`Storage::put_manifest`]).
    /// [`Error::NotFound`] when `repo` did not hold it.
    fn delete_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>>;

    /// What tag `tag` of `repo` points at. [`Error::NotFound`] when it does not exist.
    fn get_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<Digest>>;

    /// Removes a tag (the manifest stays). [`Error::NotFound`] when it did not exist.
    fn delete_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<()>>;

    /// One page of `repo`'s tags in byte order; the cost must not grow with the tags outside
    /// the page. [`Error::NotFound`] when the repository does not exist.
    fn list_tags<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<String>>>;

    /// One page of the manifests of `repo` whose subject is `subject`, ordered by digest text.
    /// Empty (never [`Error::NotFound`]) for an unknown repository or subject.
    fn list_referrers<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        options: ReferrerListOptions,
    ) -> BoxFuture<'a, Result<Page<ReferrerEntry>>>;

    // ---- repositories ----

    /// One page of the repositories that exist, in byte order.
    fn list_repositories(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<String>>>;

    /// True when `repo` exists: it has held a blob, a manifest or a tag (it stays known after
    /// its last one is deleted).
    fn repository_exists<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<bool>>;

    // ---- for garbage collection ----

    /// One page of all stored blob content (manifests included), ordered by digest text.
    fn list_blobs(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<ContentInfo>>>;

    /// One page of the manifests `repo` holds, ordered by digest text.
    fn list_manifests<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<ContentInfo>>>;

    /// Deletes blob content (not links: a link to deleted content reads as
    /// [`Error::NotFound`]). With `options.untouched_since`, only content not touched since
    /// then; [`Error::Conflict`] otherwise. [`Error::NotFound`] when there is none.
    ///
    /// The touched-time check and the delete must be atomic with respect to
    /// [`Storage::touch_blob`], [`Storage::link_blob`] and an upload's completion: a touch
    /// that returns before the delete commits makes it a conflict, and content a touch finds
    /// present stays present (the collector's correctness rests on this; see
    /// [`crate::gc`]). FsStorage and MemoryStorage hold a lock; ObjectStorage deletes the
    /// pointer, re-reads the touched time and puts the pointer back if it moved.
    fn delete_blob_content<'a>(
        &'a self,
        digest: &'a Digest,
        options: DeleteContentOptions,
    ) -> BoxFuture<'a, Result<()>>;

    /// Refreshes the last-touched time of blob content `digest` (whichever repositories link
    /// it) to now. [`Error::NotFound`] when there is no content; once it returns `Ok`, a
    /// [`Storage::delete_blob_content`] with an `untouched_since` at or before the call's
    /// start keeps the content. The registry calls it before a manifest `PUT` checks the
    /// blobs it references, and (rate-limited) before answering a blob `HEAD`/`GET`.
    fn touch_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<()>>;

    /// One page of the blobs `repo` links, ordered by digest text, whether or not their
    /// content still exists (links outlive collected content). Empty for an unknown
    /// repository. The default lists none.
    fn list_blob_links<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<Digest>>> {
        let _ = (repo, options);
        Box::pin(std::future::ready(Ok(Page::default())))
    }

    /// Removes `repo`'s link to blob `digest` when its content is gone (a link a collection
    /// left behind), atomically with respect to completions and links of that content, which
    /// would make it live again: [`Error::Conflict`] when the content exists,
    /// [`Error::NotFound`] when there is no such link. The default keeps every link
    /// ([`Error::Conflict`]); ObjectStorage keeps them too (without a lock, removing one
    /// could hide a link a re-push just wrote).
    fn delete_dangling_link<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(std::future::ready(Err(Error::conflict(
            format!("{repo}@{digest}"),
            "this backend keeps links",
        ))))
    }

    /// Deletes what the backend stores besides the keys of this API and that nothing
    /// references any more, last written before `options.older_than`: ObjectStorage's
    /// `chunks/` objects no blob pointer, session record or manifest names, and touch
    /// objects of deleted content. The default has nothing to delete.
    fn delete_leftovers(&self, options: LeftoverOptions) -> BoxFuture<'_, Result<Reclaimed>> {
        let _ = options;
        Box::pin(std::future::ready(Ok(Reclaimed::default())))
    }

    // ---- start-up ----

    /// Checks that the store can be used (a filesystem root can be created and written, say),
    /// so a host can refuse to start on a store that would fail every push. The default does
    /// nothing.
    fn check(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
