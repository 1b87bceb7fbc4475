//! Where the registry keeps its data: a content-addressed blob store plus per-repository
//! metadata (which blobs and manifests a repository holds, its tags, its referrers).
//!
//! Handlers see only the [`Storage`] trait, so another backend (an object store, say) can follow
//! without touching them. [`FsStorage`] keeps everything under one directory on local disk.
//!
//! Digests are computed by the caller while bytes stream in; a [`StagedBlob`] is committed
//! under a digest only after the caller has checked that the bytes hash to it.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use tokio::io::AsyncRead;

use crate::protocol::Digest;

mod fs;

pub use fs::FsStorage;

/// A boxed `Send` future, as the trait's methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
        }
    }

    /// The local file, if the source is one.
    pub(crate) fn into_parts(self) -> (Result<std::fs::File, Pin<Box<dyn AsyncRead + Send>>>, u64) {
        match self.source {
            BlobSource::File(file) => (Ok(file), self.len),
            BlobSource::Reader(reader) => (Err(reader), self.len),
        }
    }
}

impl fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            BlobSource::File(_) => "file",
            BlobSource::Reader(_) => "reader",
        };
        f.debug_struct("BlobReader")
            .field("source", &kind)
            .field("len", &self.len)
            .finish()
    }
}

/// A manifest as stored: its exact bytes and the media type it was pushed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    /// The `Content-Type` it was pushed with (also the `mediaType` field when present).
    pub media_type: String,
    /// The bytes exactly as pushed.
    pub bytes: Bytes,
}

/// One entry of a subject's referrers list: a descriptor of the referring manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    /// Digest of the referring manifest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its `artifactType`, or for an image manifest without one, its config's media type.
    pub artifact_type: Option<String>,
    /// Its `annotations` object, as JSON text (`None` when it has none).
    pub annotations: Option<String>,
}

/// Errors from a storage backend.
#[derive(Debug)]
pub enum Error {
    /// The named blob, manifest, tag or upload does not exist.
    NotFound,
    /// A data or metadata file on disk is not what the backend wrote (e.g. a torn tag file).
    Corrupt(String),
    /// An I/O failure.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound => f.write_str("not found"),
            Error::Corrupt(what) => write!(f, "corrupt storage: {what}"),
            Error::Io(e) => write!(f, "storage I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            Error::NotFound
        } else {
            Error::Io(e)
        }
    }
}

/// Storage results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Bytes being written for a blob whose digest is not yet known to be right.
///
/// Dropping it without [`commit`](StagedBlob::commit) discards what was written (the drop
/// guard for cancelled uploads and disconnected clients).
pub trait StagedBlob: Send + Sync + fmt::Debug {
    /// Appends bytes. Taking `Bytes` lets a backend queue request frames without copying them.
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>>;

    /// How many bytes have been written.
    fn len(&self) -> u64;

    /// True when nothing has been written.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes the bytes readable as the blob `digest`, which the caller has verified, and links it
    /// into repository `repo`. Flushes (and fsyncs when the store is durable) before the blob
    /// becomes visible. If the blob already exists, the staged bytes are discarded and the call
    /// still succeeds, so concurrent pushes of one blob both succeed.
    fn commit<'a>(self: Box<Self>, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<()>>;
}

/// A registry's persistent state.
///
/// Blobs are content-addressed and shared; a repository sees a blob only once it is linked into
/// it (pushed there or mounted). Manifests are stored byte-exact with their media type.
pub trait Storage: Send + Sync + fmt::Debug + 'static {
    // ---- blobs ----

    /// The size of blob `digest` if repository `repo` holds it.
    fn blob_size<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<u64>>>;

    /// Reads bytes `first..=last` of blob `digest` in `repo` (`None` for the whole blob).
    /// [`Error::NotFound`] when `repo` does not hold it.
    fn read_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, Result<BlobReader>>;

    /// True when some repository holds blob `digest` (for a mount without `from`).
    fn blob_exists<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<bool>>;

    /// Links an existing blob into `repo` (cross-repository mount). `false` when the blob is
    /// not stored at all.
    fn link_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<bool>>;

    /// Unlinks blob `digest` from `repo`. `false` when `repo` did not hold it. The content may
    /// stay on disk while other repositories hold it.
    fn delete_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<bool>>;

    /// Starts writing a new blob.
    fn stage_blob(&self) -> BoxFuture<'_, Result<Box<dyn StagedBlob>>>;

    // ---- manifests ----

    /// Stores a manifest's exact bytes under `digest` (which the caller computed from them) and
    /// makes it part of `repo`, replacing the media type if it was already there.
    fn put_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        manifest: StoredManifest,
    ) -> BoxFuture<'a, Result<()>>;

    /// The manifest `digest` of `repo`, if `repo` holds it.
    fn get_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<StoredManifest>>>;

    /// Removes manifest `digest` from `repo`, with every tag of `repo` that points at it.
    /// `false` when `repo` did not hold it. Referrer entries are the caller's to remove.
    fn delete_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<bool>>;

    // ---- tags ----

    /// What tag `tag` of `repo` points at.
    fn resolve_tag<'a>(
        &'a self,
        repo: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, Result<Option<Digest>>>;

    /// Points tag `tag` of `repo` at manifest `digest` (atomically replacing an old value).
    fn set_tag<'a>(
        &'a self,
        repo: &'a str,
        tag: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>>;

    /// Removes a tag. `false` when it did not exist.
    fn delete_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// Every tag of `repo` in lexical (byte) order; `None` when the repository is unknown.
    fn list_tags<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<Option<Vec<String>>>>;

    // ---- referrers ----

    /// Records that manifest `referrer.digest` of `repo` has `subject` as its subject.
    fn add_referrer<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        referrer: Referrer,
    ) -> BoxFuture<'a, Result<()>>;

    /// Forgets a referrer entry (no error when absent).
    fn remove_referrer<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        referrer: &'a Digest,
    ) -> BoxFuture<'a, Result<()>>;

    /// The referrers of `subject` in `repo`, ordered by digest; empty when there are none or the
    /// repository is unknown.
    fn list_referrers<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
    ) -> BoxFuture<'a, Result<Vec<Referrer>>>;

    // ---- repositories ----

    /// Every repository that holds anything, in lexical order.
    fn list_repositories(&self) -> BoxFuture<'_, Result<Vec<String>>>;

    /// True when `repo` holds any blob, manifest or tag.
    fn repository_exists<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<bool>>;
}
