//! The filesystem backend, [`FsStorage`]: everything under one directory on local disk.
//!
//! One module per concern: `layout` builds every path, `write` does crash-safe writes, `staged`
//! is the upload temp file, `cache` keeps hot metadata in memory, and `blobs`, `manifests`,
//! `tags`, `referrers` and `repositories` implement the [`Storage`] methods of their family.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::{BlobReader, BoxFuture, Error, Referrer, Result, StagedBlob, Storage, StoredManifest};
use crate::protocol::Digest;

mod blobs;
mod cache;
mod layout;
mod manifests;
mod referrers;
mod repositories;
mod staged;
mod tags;
mod write;

#[cfg(test)]
mod tests;

use cache::{Cache, ContentCache, KeyLocks};
use layout::Layout;
use write::TempNames;

/// Cached tag and manifest-link entries (each a few dozen bytes) before a cache starts over.
const METADATA_CACHE_ENTRIES: usize = 100_000;
/// Bytes of manifest content cached in memory.
const CONTENT_CACHE_BYTES: usize = 64 << 20;
/// Largest manifest kept in the content cache.
const CONTENT_CACHE_MAX_ENTRY: usize = 1 << 20;

/// Everything under one directory on local disk.
///
/// # On-disk layout
///
/// ```text
/// <root>/blobs/<alg>/<hex>                                  content: blob and manifest bytes
/// <root>/uploads/<random>                                   staged writes (temp files)
/// <root>/repositories/<name>/_blobs/<alg>/<hex>             empty file: <name> holds the blob
/// <root>/repositories/<name>/_manifests/<alg>/<hex>         the manifest's media type
/// <root>/repositories/<name>/_tags/<tag>                    the digest text the tag points at
/// <root>/repositories/<name>/_referrers/<alg>/<subject-hex>/<alg>-<hex>.json
///                                                           a referrer descriptor (JSON)
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
/// Every file with content is written to a fresh temp file in `uploads/`, flushed (and with
/// `durable`, fsynced), then renamed into place; with `durable` the destination directory and
/// every directory created on the way are fsynced too (on Unix). Readers see an old file or a
/// new one, never a partial one, and a file under `blobs/` always holds the bytes of its
/// digest. Empty link files are created directly (their existence is their content).
/// [`FsStorage::new`] removes whatever a crash left in `uploads/`.
///
/// The root must be one filesystem (renames from `uploads/` must not cross devices), and only
/// one `FsStorage` at a time may use a root: a new one deletes the staged files of an old one.
/// On case-insensitive filesystems, tags differing only in case share a file.
///
/// # What is not done
///
/// Deleting a blob or manifest only unlinks it from the repository; its content stays under
/// `blobs/` (other repositories may hold it). There is no garbage collection yet.
///
/// # Caches
///
/// Tag targets and manifest media types are cached in memory (coherent with this process's
/// writes), as are the bytes of recently used manifests, so a manifest `GET` by tag normally
/// touches no disk. Disk stays the source of truth on restart.
///
/// # Example
///
/// ```
/// use tower_oci::protocol::{Algorithm, Digest};
/// use tower_oci::storage::{FsStorage, Storage};
/// use tokio::io::AsyncReadExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = FsStorage::new(dir.path(), false);
///
/// let data = b"hello";
/// let digest = Digest::of(Algorithm::Sha256, data);
/// let mut staged = store.stage_blob().await?;
/// staged.write(bytes::Bytes::from_static(data)).await?;
/// staged.commit("library/hello", &digest).await?;
///
/// let blob = store.read_blob("library/hello", &digest, Some((1, 3))).await?;
/// let mut text = String::new();
/// blob.into_async_read().read_to_string(&mut text).await?;
/// assert_eq!(text, "ell");
/// assert_eq!(store.blob_size("other/repo", &digest).await?, None);
/// # Ok(())
/// # }
/// ```
pub struct FsStorage {
    layout: Arc<Layout>,
    durable: bool,
    temp: Arc<TempNames>,
    /// `repo:tag` -> digest.
    tags: Cache<Digest>,
    /// `repo@digest` -> media type.
    manifests: Cache<String>,
    content: ContentCache,
    /// Serialises writers of one tag or manifest link, keeping the caches coherent.
    locks: KeyLocks,
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
    /// A store rooted at `root` (created on first write). With `durable`, blob data, metadata
    /// files and their directories are fsynced before a write is acknowledged.
    ///
    /// Removes files a crash left in `root/uploads` (best effort, synchronously).
    pub fn new(root: impl Into<PathBuf>, durable: bool) -> Self {
        let layout = Layout::new(root.into());
        let temp = TempNames::new(layout.uploads());
        write::remove_leftovers(temp.dir());
        FsStorage {
            layout: Arc::new(layout),
            durable,
            temp: Arc::new(temp),
            tags: Cache::new(METADATA_CACHE_ENTRIES),
            manifests: Cache::new(METADATA_CACHE_ENTRIES),
            content: ContentCache::new(CONTENT_CACHE_BYTES, CONTENT_CACHE_MAX_ENTRY),
            locks: KeyLocks::new(),
        }
    }
}

/// A write naming a repository that is not a safe path (the parser should have refused it).
fn invalid_name(repo: &str) -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("unsafe repository name {repo:?}"),
    ))
}

impl Storage for FsStorage {
    fn blob_size<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(self.blob_size_impl(repo, digest))
    }

    fn read_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, Result<BlobReader>> {
        Box::pin(self.read_blob_impl(repo, digest, range))
    }

    fn blob_exists<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.blob_exists_impl(digest))
    }

    fn link_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.link_blob_impl(repo, digest))
    }

    fn delete_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.delete_blob_impl(repo, digest))
    }

    fn stage_blob(&self) -> BoxFuture<'_, Result<Box<dyn StagedBlob>>> {
        Box::pin(self.stage_blob_impl())
    }

    fn put_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        manifest: StoredManifest,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.put_manifest_impl(repo, digest, manifest))
    }

    fn get_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<StoredManifest>>> {
        Box::pin(self.get_manifest_impl(repo, digest))
    }

    fn delete_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.delete_manifest_impl(repo, digest))
    }

    fn resolve_tag<'a>(
        &'a self,
        repo: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, Result<Option<Digest>>> {
        Box::pin(self.resolve_tag_impl(repo, tag))
    }

    fn set_tag<'a>(
        &'a self,
        repo: &'a str,
        tag: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.set_tag_impl(repo, tag, digest))
    }

    fn delete_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.delete_tag_impl(repo, tag))
    }

    fn list_tags<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<Option<Vec<String>>>> {
        Box::pin(self.list_tags_impl(repo))
    }

    fn add_referrer<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        referrer: Referrer,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.add_referrer_impl(repo, subject, referrer))
    }

    fn remove_referrer<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        referrer: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.remove_referrer_impl(repo, subject, referrer))
    }

    fn list_referrers<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
    ) -> BoxFuture<'a, Result<Vec<Referrer>>> {
        Box::pin(self.list_referrers_impl(repo, subject))
    }

    fn list_repositories(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(self.list_repositories_impl())
    }

    fn repository_exists<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.repository_exists_impl(repo))
    }
}
