//! What the [`Storage`](super::Storage) methods take and return: option structs (each with
//! `Default`, so a new option is not a breaking change), results and stored records.

use std::time::SystemTime;

use bytes::Bytes;

use super::BlobReader;
use crate::protocol::{Algorithm, ByteRange, Digest};

/// Options of [`Storage::get_blob`](super::Storage::get_blob).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetOptions {
    /// Only the size: no body is opened.
    pub head: bool,
    /// A byte range (from a `Range` header), resolved by the backend against the size it reads
    /// in the same call.
    pub range: Option<ByteRange>,
}

impl GetOptions {
    /// The whole blob.
    pub fn whole() -> Self {
        GetOptions::default()
    }

    /// Only the size.
    pub fn head() -> Self {
        GetOptions {
            head: true,
            range: None,
        }
    }

    /// A range of the blob (or, with `head`, only the size and the resolved range).
    pub fn range(range: Option<ByteRange>, head: bool) -> Self {
        GetOptions { head, range }
    }
}

/// Which bytes a [`GetResult`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Span {
    /// The whole blob (no range was asked for).
    Whole,
    /// Bytes `first..=last`, with `last < size`.
    Range {
        /// First byte.
        first: u64,
        /// Last byte, inclusive.
        last: u64,
    },
    /// The range lies outside the blob; there is no body.
    Unsatisfiable,
}

/// A blob read: its size, what part of it the body holds, and the body.
#[derive(Debug)]
#[non_exhaustive]
pub struct GetResult {
    /// The blob's full size in bytes.
    pub size: u64,
    /// What `body` covers.
    pub span: Span,
    /// The bytes of `span`; `None` for a head request or an unsatisfiable range.
    pub body: Option<BlobReader>,
}

impl GetResult {
    /// A result, for backend authors.
    pub fn new(size: u64, span: Span, body: Option<BlobReader>) -> Self {
        GetResult { size, span, body }
    }
}

/// Resolves a requested range against a blob's size, as every backend must.
pub fn resolve_span(range: Option<ByteRange>, size: u64) -> Span {
    match range {
        None => Span::Whole,
        Some(range) => match range.resolve(size) {
            Some((first, last)) => Span::Range { first, last },
            None => Span::Unsatisfiable,
        },
    }
}

/// Options of [`Storage::link_blob`](super::Storage::link_blob).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkOptions {
    /// Link only if this repository holds the blob (a mount with `from`). Without it, the
    /// blob's content only has to exist.
    pub from: Option<String>,
}

impl LinkOptions {
    /// Link from repository `from`.
    pub fn from_repository(from: impl Into<String>) -> Self {
        LinkOptions {
            from: Some(from.into()),
        }
    }
}

/// Paging of a sorted listing: entries strictly after `after`, at most `limit` of them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// Start strictly after this entry (which need not exist). Byte order.
    pub after: Option<String>,
    /// The most entries to return.
    pub limit: usize,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            after: None,
            limit: 1000,
        }
    }
}

impl ListOptions {
    /// Up to `limit` entries after `after`.
    pub fn new(after: Option<String>, limit: usize) -> Self {
        ListOptions { after, limit }
    }
}

/// One page of a sorted listing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The entries, in order.
    pub items: Vec<T>,
    /// True when more entries follow the last one.
    pub more: bool,
}

impl<T> Page<T> {
    /// A page.
    pub fn new(items: Vec<T>, more: bool) -> Self {
        Page { items, more }
    }
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            items: Vec::new(),
            more: false,
        }
    }
}

/// A manifest as stored: its exact bytes and the media type it was pushed with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredManifest {
    /// The `Content-Type` it was pushed with.
    pub media_type: String,
    /// The bytes exactly as pushed.
    pub bytes: Bytes,
}

impl StoredManifest {
    /// A manifest.
    pub fn new(media_type: impl Into<String>, bytes: impl Into<Bytes>) -> Self {
        StoredManifest {
            media_type: media_type.into(),
            bytes: bytes.into(),
        }
    }
}

/// What [`Storage::manifest_meta`](super::Storage::manifest_meta) returns: enough to answer a
/// `HEAD` or check existence without reading the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestMeta {
    /// The media type it was pushed with.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

impl ManifestMeta {
    /// Metadata.
    pub fn new(media_type: impl Into<String>, size: u64) -> Self {
        ManifestMeta {
            media_type: media_type.into(),
            size,
        }
    }
}

/// A referrers-list entry: the descriptor of a manifest that names a subject, stored as the
/// JSON the referrers API serves, so listing never re-parses manifests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReferrerEntry {
    /// The referring manifest's digest.
    pub digest: Digest,
    /// Its `artifactType` (or its config's media type), for `?artifactType=` filtering.
    pub artifact_type: Option<String>,
    /// The descriptor object (`mediaType`, `digest`, `size`, `artifactType`, `annotations`)
    /// as JSON bytes, served as they are.
    pub descriptor: Bytes,
}

impl ReferrerEntry {
    /// An entry.
    pub fn new(
        digest: Digest,
        artifact_type: Option<String>,
        descriptor: impl Into<Bytes>,
    ) -> Self {
        ReferrerEntry {
            digest,
            artifact_type,
            descriptor: descriptor.into(),
        }
    }
}

/// A manifest write: the manifest, the tags to point at it and its referrers entry, stored by
/// [`Storage::put_manifest`](super::Storage::put_manifest) as one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestPut {
    /// The digest of `manifest.bytes` (the backend may check it).
    pub digest: Digest,
    /// Bytes and media type.
    pub manifest: StoredManifest,
    /// Tags to point at it (replacing what they pointed at).
    pub tags: Vec<String>,
    /// When the manifest has a subject: the subject and this manifest's entry in its list.
    pub referrer: Option<(Digest, ReferrerEntry)>,
}

impl ManifestPut {
    /// A manifest with no tags and no subject.
    pub fn new(digest: Digest, manifest: StoredManifest) -> Self {
        ManifestPut {
            digest,
            manifest,
            tags: Vec::new(),
            referrer: None,
        }
    }

    /// Adds tags.
    #[must_use]
    pub fn with_tags(mut self, tags: impl IntoIterator<Item = String>) -> Self {
        self.tags.extend(tags);
        self
    }

    /// Sets the subject and this manifest's referrers entry.
    #[must_use]
    pub fn with_referrer(mut self, subject: Digest, entry: ReferrerEntry) -> Self {
        self.referrer = Some((subject, entry));
        self
    }
}

/// Options of [`Storage::list_referrers`](super::Storage::list_referrers).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReferrerListOptions {
    /// Paging by referring digest (the entries are ordered by digest text).
    pub page: ListOptions,
    /// Only entries with this artifact type.
    pub artifact_type: Option<String>,
    /// Stop adding entries once their descriptors hold this many bytes (at least one entry is
    /// returned when any is left), so one page stays bounded in memory.
    pub max_bytes: usize,
}

impl Default for ReferrerListOptions {
    fn default() -> Self {
        ReferrerListOptions {
            page: ListOptions::default(),
            artifact_type: None,
            max_bytes: 4 << 20,
        }
    }
}

impl ReferrerListOptions {
    /// Options with these parts.
    pub fn new(page: ListOptions, artifact_type: Option<String>, max_bytes: usize) -> Self {
        ReferrerListOptions {
            page,
            artifact_type,
            max_bytes,
        }
    }
}

/// A stored upload session: everything needed to continue it in any process.
///
/// `offset` bytes are stored, and `hash_state` is the serialized hash of exactly those bytes
/// (see [`Hasher::save`](crate::protocol::Hasher::save)); backends store it opaquely.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadState {
    /// The session id (a UUID; see [`is_valid_upload_id`](crate::protocol::is_valid_upload_id)).
    pub id: String,
    /// The repository it uploads into.
    pub repo: String,
    /// The digest algorithm being computed.
    pub algorithm: Algorithm,
    /// How many bytes are stored and acknowledged.
    pub offset: u64,
    /// The hash of the first `offset` bytes, serialized.
    pub hash_state: Bytes,
    /// When the session started.
    pub started: SystemTime,
    /// When a request last finished on it (sessions idle too long expire).
    pub updated: SystemTime,
    /// A closed session's marker: the session was cancelled or completed, and its id must
    /// not be taken for an unstored empty one (a session with no stored byte exists only in
    /// its id) until it expires. It holds no bytes,
    /// and the registry treats it as absent. Backends store it like any other state.
    pub closed: bool,
    /// Who opened it (the name of the [`Principal`](crate::auth::Principal) an authorizer
    /// allowed), when the registry has an authorizer and the caller was not anonymous. Only
    /// the same principal may continue the session. Backends store it opaquely; records
    /// stored before it existed read as `None`.
    pub principal: Option<String>,
}

impl UploadState {
    /// A new, empty session started now.
    pub fn new(
        id: impl Into<String>,
        repo: impl Into<String>,
        algorithm: Algorithm,
        hash_state: Bytes,
    ) -> Self {
        let now = SystemTime::now();
        UploadState {
            id: id.into(),
            repo: repo.into(),
            algorithm,
            offset: 0,
            hash_state,
            started: now,
            updated: now,
            closed: false,
            principal: None,
        }
    }

    /// The marker of closed session `id` of `repo`, kept until `started` is a session
    /// timeout ago (it is stored with `updated` = `started`, so an expiry sweep takes it then).
    pub fn closed(
        id: impl Into<String>,
        repo: impl Into<String>,
        algorithm: Algorithm,
        started: SystemTime,
    ) -> Self {
        UploadState {
            id: id.into(),
            repo: repo.into(),
            algorithm,
            offset: 0,
            hash_state: Bytes::new(),
            started,
            updated: started,
            closed: true,
            principal: None,
        }
    }

    /// The same session, bound to principal `name`.
    #[must_use]
    pub fn with_principal(mut self, name: Option<String>) -> Self {
        self.principal = name;
        self
    }
}

/// Stored content (a blob, or a manifest of a repository), for garbage collection: its digest,
/// size and when it was last written, linked or re-pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContentInfo {
    /// The content's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Last written, linked into a repository or re-pushed.
    pub touched: SystemTime,
}

impl ContentInfo {
    /// An entry.
    pub fn new(digest: Digest, size: u64, touched: SystemTime) -> Self {
        ContentInfo {
            digest,
            size,
            touched,
        }
    }
}

/// Options of [`Storage::delete_blob_content`](super::Storage::delete_blob_content).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteContentOptions {
    /// Delete only if the content was not touched at or after this time (so a blob linked or
    /// re-pushed while a collector decided is kept): [`Error::Conflict`](super::Error::Conflict)
    /// otherwise.
    pub untouched_since: Option<SystemTime>,
}

impl DeleteContentOptions {
    /// Delete only content untouched since `since`.
    pub fn untouched_since(since: SystemTime) -> Self {
        DeleteContentOptions {
            untouched_since: Some(since),
        }
    }
}

/// Options of [`Storage::delete_leftovers`](super::Storage::delete_leftovers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeftoverOptions {
    /// Only leftovers last written before this time: a writer in flight may still be about to
    /// reference younger ones.
    pub older_than: SystemTime,
    /// Count what would go, delete nothing.
    pub dry_run: bool,
}

impl LeftoverOptions {
    /// Leftovers last written before `older_than`.
    pub fn older_than(older_than: SystemTime) -> Self {
        LeftoverOptions {
            older_than,
            dry_run: false,
        }
    }

    /// Only count them.
    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// What [`Storage::delete_leftovers`](super::Storage::delete_leftovers) deleted (or, in a dry
/// run, would delete).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reclaimed {
    /// Stored objects or files.
    pub items: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Reclaimed {
    /// A count.
    pub fn new(items: u64, bytes: u64) -> Self {
        Reclaimed { items, bytes }
    }
}

/// What [`Storage::finish_upload`](super::Storage::finish_upload) did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finished {
    /// The blob is stored and linked; the session is gone.
    Completed,
    /// No session `id` was stored, so the tail alone was the blob, as the unstored session
    /// passed to [`Storage::finish_upload`](super::Storage::finish_upload): it is stored and
    /// linked.
    CompletedUnstored,
    /// The stored bytes and the tail hash to `actual`, not to the expected digest; nothing was
    /// written and the session is as it was.
    DigestMismatch {
        /// What they do hash to.
        actual: Digest,
    },
    /// The session hashed its bytes with another algorithm than the expected digest's: the
    /// caller must re-hash the stored bytes (the slow path). Nothing was written.
    OtherAlgorithm,
}
