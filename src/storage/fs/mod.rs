//! The filesystem backend, [`FsStorage`]: everything under one directory on local disk.
//!
//! One module per concern: `layout` builds every path, `write` does crash-safe and
//! symlink-refusing file operations, `uploads` owns upload sessions and their writer, `cache`
//! keeps hot metadata in memory, and `blobs`, `manifests`, `tags`, `referrers`,
//! `repositories` and `gc` implement the [`Storage`] methods of their family.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{
    BoxFuture, ContentInfo, DeleteContentOptions, Error, Finished, GetOptions, GetResult,
    LinkOptions, ListOptions, ManifestMeta, ManifestPut, Page, ReferrerEntry, ReferrerListOptions,
    Result, Storage, StoredManifest, UploadState, UploadWriter,
};
use crate::protocol::Digest;

mod blobs;
mod cache;
mod gc;
mod layout;
mod manifests;
mod referrers;
mod repositories;
mod tags;
mod uploads;
mod write;

#[cfg(all(test, unix))]
mod tests;

use cache::{Cache, ContentCache, ContentLocks, KeyLocks};
use layout::Layout;
use manifests::LinkRecord;
use repositories::Catalog;
use tags::TagIndexes;
use write::TempNames;

/// Cached tag and manifest-link entries (each a few dozen bytes) before a cache starts over.
const METADATA_CACHE_ENTRIES: usize = 100_000;
/// Bytes of manifest content cached in memory.
const CONTENT_CACHE_BYTES: usize = 64 << 20;
/// Upload chunk writes in flight at once. Each holds a blocking-pool thread for as long as the
/// disk takes (and a CPU for the copy into the page cache); bounding them (the waiting is
/// async) keeps threads and cores free for reads and metadata when thousands of uploads
/// stream at once.
const WRITE_SLOTS: usize = 64;
/// Largest manifest kept in the content cache.
const CONTENT_CACHE_MAX_ENTRY: usize = 1 << 20;

/// Everything under one directory on local disk.
///
/// # On-disk layout
///
/// ```text
/// <root>/blobs/<alg>/<hex>                              content: blob and manifest bytes;
///                                                       mtime = last touched (GC)
/// <root>/uploads/<id>.json                              upload session record (JSON)
/// <root>/uploads/<id>.data                              upload session bytes
/// <root>/uploads/staged-<random>.data                   a blob pushed in one request
/// <root>/tmp/.oci-tmp-<random>-<n>                      temp files of atomic writes
/// <root>/repositories/<name>/_blobs/<alg>/<hex>         empty file: <name> holds the blob
/// <root>/repositories/<name>/_manifests/<alg>/<hex>     link record: media type, size, subject
/// <root>/repositories/<name>/_tags/<tag>                the digest text the tag points at
/// <root>/repositories/<name>/_referrers/<alg>/<subject-hex>/<alg>-<hex>
///                                                       artifact type (JSON line), then the
///                                                       descriptor bytes
/// ```
///
/// `<name>` is the repository name with its `/`-separated components as nested directories, so
/// `a` and `a/b` can both be repositories. Name components never start with `_`, so the
/// `_blobs`, `_manifests`, `_tags` and `_referrers` directories cannot collide with a nested
/// repository. A directory is a repository when it has `_blobs`, `_manifests` or `_tags`; it
/// stays one after its last blob, manifest or tag is deleted.
///
/// # Crash safety
///
/// Every file with content is written to a fresh temp file in `tmp/`, flushed (and with
/// `durable`, fsynced), then renamed into place; with `durable` the destination directory and
/// every directory created on the way are fsynced too (on Unix). Readers see an old file or a
/// new one, never a partial one, and a file under `blobs/` always holds the bytes of its
/// digest. A manifest put writes content, link, referrers entry, then tags; a delete removes
/// tags, referrers entry, then link: a crash at any point leaves no tag or referrers entry
/// pointing at a manifest the repository does not hold. [`FsStorage::new`] removes only the
/// leftovers it recognises (its temp files and staged blobs); upload sessions survive restarts.
///
/// Every file is opened with `O_NOFOLLOW` and only regular files are replaced or removed, so a
/// symlink planted in the tree is refused, never followed.
///
/// # Concurrency
///
/// Manifest and tag writes are serialised per repository within one `FsStorage`, and the
/// in-memory caches and indexes stay coherent with that instance's writes only: one instance
/// per root may write metadata at a time. Upload sessions are claimed with an exclusive
/// advisory lock on their data file, which also holds across instances and processes; the
/// guard that keeps a save from resurrecting a deleted session is in-process (across processes
/// it is best effort). The root must be one filesystem (renames must not cross devices). On
/// case-insensitive filesystems, tags differing only in case share a file.
///
/// Writes that must stay atomic with respect to their lock (manifest, tag and session
/// writes) run their disk work and their cache updates in one blocking task that owns the
/// lock guard, so a caller that stops waiting (a client gone mid-request) cannot release the
/// lock while the write is still running.
///
/// # Caches
///
/// Tag targets and manifest link records are cached in memory, as are the bytes of recently
/// used manifests, so a manifest `GET` by tag normally touches no disk. Each repository's tags
/// are indexed in memory (sorted) on first listing, and the repository catalog on first
/// catalog listing, so a page costs no directory scan. Disk stays the source of truth on
/// restart.
///
/// See the [module docs](super) for the contract.
pub struct FsStorage {
    layout: Arc<Layout>,
    durable: bool,
    temp: Arc<TempNames>,
    /// `repo:tag` -> digest.
    tags: Arc<Cache<Digest>>,
    /// `repo@digest` -> link record.
    manifests: Arc<Cache<LinkRecord>>,
    content: Arc<ContentCache>,
    /// Serialises manifest, tag and referrer writes of one repository.
    repo_locks: KeyLocks,
    /// Serialises record writes of one upload session (save, complete, delete).
    upload_locks: Arc<KeyLocks>,
    /// Makes a collector's check-and-delete of content atomic with touches and completions.
    content_locks: Arc<ContentLocks>,
    /// Chunk writes of uploads in flight on the blocking pool at once (see [`WRITE_SLOTS`]).
    write_slots: Arc<tokio::sync::Semaphore>,
    tag_indexes: Arc<TagIndexes>,
    catalog: Arc<Catalog>,
    /// Full directory scans of tags or repositories so far.
    scans: Arc<AtomicU64>,
}

impl fmt::Debug for FsStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FsStorage")
            .field("layout", &self.layout)
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

impl FsStorage {
    /// A store rooted at `root` (directories are created on first write). With `durable`, blob
    /// data, metadata files and their directories are fsynced before a write is acknowledged.
    ///
    /// Removes what a crash left and this backend recognises as its own: temp files in
    /// `root/tmp` and staged blobs in `root/uploads` (best effort, synchronously, so call it
    /// before serving). Upload sessions are kept.
    pub fn new(root: impl Into<PathBuf>, durable: bool) -> FsStorage {
        let layout = Layout::new(root.into());
        let temp = TempNames::new(layout.tmp());
        write::remove_leftovers(
            &layout.tmp(),
            &layout.uploads(),
            layout::STAGED_PREFIX,
            layout::DATA_SUFFIX,
        );
        uploads::remove_torn_records(&layout.uploads());
        FsStorage {
            layout: Arc::new(layout),
            durable,
            temp: Arc::new(temp),
            tags: Arc::new(Cache::new(METADATA_CACHE_ENTRIES)),
            manifests: Arc::new(Cache::new(METADATA_CACHE_ENTRIES)),
            content: Arc::new(ContentCache::new(
                CONTENT_CACHE_BYTES,
                CONTENT_CACHE_MAX_ENTRY,
            )),
            repo_locks: KeyLocks::new(),
            upload_locks: Arc::new(KeyLocks::new()),
            content_locks: Arc::new(ContentLocks::new()),
            write_slots: Arc::new(tokio::sync::Semaphore::new(WRITE_SLOTS)),
            tag_indexes: Arc::new(TagIndexes::default()),
            catalog: Arc::new(Catalog::default()),
            scans: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many full directory scans of a repository's tags or of the repository tree this
    /// store has made (tests use it to prove that paging does not scan).
    #[doc(hidden)]
    pub fn directory_scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }

    fn count_scan(&self) {
        self.scans.fetch_add(1, Ordering::Relaxed);
    }
}

/// A repository name that is not a safe path (the parser should have refused it).
fn invalid_name(repo: &str) -> Error {
    Error::invalid_input(repo, "unsafe repository name")
}

/// A tag that is not a safe path.
fn invalid_tag(repo: &str, tag: &str) -> Error {
    Error::invalid_input(format!("{repo}:{tag}"), "unsafe tag")
}

/// An upload id that is not one the registry issues.
fn invalid_upload_id(id: &str) -> Error {
    Error::invalid_input(id, "not an upload id")
}

impl Storage for FsStorage {
    /// Creates the root and its temp directory, then writes and removes a file there.
    fn check(&self) -> BoxFuture<'_, Result<()>> {
        let tmp = self.layout.tmp();
        let probe = self.temp.next();
        Box::pin(write::blocking(move || {
            use std::io::Write;
            std::fs::create_dir_all(&tmp).map_err(write::io_error(&tmp))?;
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .and_then(|mut file| file.write_all(b"probe").and_then(|()| file.sync_data()));
            let removed = std::fs::remove_file(&probe);
            written.map_err(write::io_error(&probe))?;
            removed.map_err(write::io_error(&probe))
        }))
    }

    fn get_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        options: GetOptions,
    ) -> BoxFuture<'a, Result<GetResult>> {
        Box::pin(self.get_blob_impl(repo, digest, options))
    }

    fn stat_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<ContentInfo>> {
        Box::pin(self.stat_blob_impl(digest))
    }

    fn link_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        options: LinkOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.link_blob_impl(repo, digest, options))
    }

    fn unlink_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.unlink_blob_impl(repo, digest))
    }

    fn create_upload<'a>(&'a self, state: &'a UploadState) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.create_upload_impl(state))
    }

    fn get_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<UploadState>> {
        Box::pin(self.get_upload_impl(id))
    }

    fn resume_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Box<dyn UploadWriter>>> {
        Box::pin(self.resume_upload_impl(id))
    }

    fn finish_upload<'a>(
        &'a self,
        id: &'a str,
        repo: &'a str,
        tail: bytes::Bytes,
        expected: &'a Digest,
        unstored: Option<&'a UploadState>,
    ) -> BoxFuture<'a, Result<Finished>> {
        Box::pin(self.finish_upload_impl(id, repo, tail, expected, unstored))
    }

    fn stage_blob(&self) -> BoxFuture<'_, Result<Box<dyn UploadWriter>>> {
        Box::pin(self.stage_blob_impl())
    }

    fn delete_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.delete_upload_impl(id))
    }

    fn list_uploads(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<UploadState>>> {
        Box::pin(self.list_uploads_impl(options))
    }

    fn get_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<StoredManifest>> {
        Box::pin(self.get_manifest_impl(repo, digest))
    }

    fn manifest_meta<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<ManifestMeta>> {
        Box::pin(self.manifest_meta_impl(repo, digest))
    }

    fn put_manifest<'a>(
        &'a self,
        repo: &'a str,
        put: &'a ManifestPut,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.put_manifest_impl(repo, put))
    }

    fn delete_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.delete_manifest_impl(repo, digest))
    }

    fn get_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<Digest>> {
        Box::pin(self.get_tag_impl(repo, tag))
    }

    fn delete_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.delete_tag_impl(repo, tag))
    }

    fn list_tags<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<String>>> {
        Box::pin(self.list_tags_impl(repo, options))
    }

    fn list_referrers<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        options: ReferrerListOptions,
    ) -> BoxFuture<'a, Result<Page<ReferrerEntry>>> {
        Box::pin(self.list_referrers_impl(repo, subject, options))
    }

    fn list_repositories(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<String>>> {
        Box::pin(self.list_repositories_impl(options))
    }

    fn repository_exists<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.repository_exists_impl(repo))
    }

    fn list_blobs(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<ContentInfo>>> {
        Box::pin(self.list_blobs_impl(options))
    }

    fn list_manifests<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<ContentInfo>>> {
        Box::pin(self.list_manifests_impl(repo, options))
    }

    fn delete_blob_content<'a>(
        &'a self,
        digest: &'a Digest,
        options: DeleteContentOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.delete_blob_content_impl(digest, options))
    }

    fn touch_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.touch_blob_impl(digest))
    }

    fn list_blob_links<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<Digest>>> {
        Box::pin(self.list_blob_links_impl(repo, options))
    }

    fn delete_dangling_link<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.delete_dangling_link_impl(repo, digest))
    }
}

/// Takes one page from sorted, de-duplicated `keys`: those strictly after `options.after`, at
/// most `options.limit`, and whether more follow.
fn page_of<T, K: AsRef<str>>(
    sorted: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
    options: &ListOptions,
) -> Page<T> {
    let mut items = Vec::new();
    let mut more = false;
    for item in sorted {
        if let Some(after) = &options.after {
            if key(&item).as_ref() <= after.as_str() {
                continue;
            }
        }
        if items.len() >= options.limit {
            more = true;
            break;
        }
        items.push(item);
    }
    Page::new(items, more)
}
