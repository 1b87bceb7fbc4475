//! [`ObjectStorage`]: the registry in an object store (S3, GCS, Azure Blob Storage, or any
//! [`object_store::ObjectStore`]), shared by any number of replicas.
//!
//! See [`ObjectStorage`] for the layout and what each guarantee rests on.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};

use super::{
    BoxFuture, ContentInfo, DeleteContentOptions, Error, GetOptions, GetResult, LeftoverOptions,
    LinkOptions, ListOptions, ManifestMeta, ManifestPut, Page, Reclaimed, ReferrerEntry,
    ReferrerListOptions, Result, Storage, StoredManifest, UploadState, UploadWriter,
};
use crate::protocol::Digest;

mod blobs;
mod manifests;
mod uploads;

#[cfg(test)]
mod tests;

/// Settings of an [`ObjectStorage`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ObjectStorageOptions {
    /// How long an upload session stays claimed by a writer that stopped renewing its claim
    /// (a killed replica) before another replica may resume it. Writers renew their claim
    /// while they write. Defaults to 30 seconds.
    pub upload_lease: Duration,
}

impl Default for ObjectStorageOptions {
    fn default() -> Self {
        ObjectStorageOptions {
            upload_lease: Duration::from_secs(30),
        }
    }
}

/// A [`Storage`](super::Storage) in an object store, safe to share between replicas.
///
/// Object stores have no rename, no lock and no conditional delete; they have conditional
/// `PUT` (create-only, and replace-if-etag-matches). Everything here rests on those two:
///
/// ```text
/// <prefix>/chunks/<uuid>                                   immutable bytes, one plain PUT of at most ~8 MiB each (of a PATCH body, a staged blob, a manifest)
/// <prefix>/blobs/<alg>/<hex>                               {size, chunks}: created once, after the digest was verified
/// <prefix>/touch/<alg>/<hex>                               the content's touched time (ns since the epoch), rewritten on link, push, a manifest PUT naming it, a blob HEAD/GET
/// <prefix>/catalog/<name>                                  empty: the repository exists
/// <prefix>/repositories/<name>/_blobs/<alg>/<hex>          empty: the repository holds the blob
/// <prefix>/repositories/<name>/_manifests/<alg>/<hex>      {mediaType, size, subject}, or empty (a tombstone)
/// <prefix>/repositories/<name>/_tags/<tag>                 the digest, or empty (a tombstone)
/// <prefix>/repositories/<name>/_tagged/<alg>/<hex>/<tag>   empty: the tag was pointed at that manifest
/// <prefix>/repositories/<name>/_referrers/<alg>/<subject-hex>/<alg>-<hex>   artifact type line, descriptor
/// <prefix>/uploads/<id>.json                               the session record, replaced with etag checks
/// ```
///
/// A blob is a list of chunks, so a session's PATCH bodies never get copied into one object,
/// and a blob appears under its digest only once its pointer is created, after the digest was
/// checked. Tags and manifest links are replaced by compare-and-swap, and deletion writes a
/// tombstone instead of deleting, so a put racing a delete ends in some serial order on every
/// replica (see `manifests.rs`). An upload session is claimed by a lease in its record, so any
/// replica can continue it and a killed replica's claim expires.
///
/// Only manifest bytes are cached in process (by digest, so never stale); every existence
/// check, tag and record is read from the store, so a write acknowledged by one replica is
/// seen by the next request on any other. Listings rely on the store listing keys in byte
/// order, as S3, GCS, Azure and `InMemory` do. Touched times and claim expiry use the
/// replicas' clocks, which should agree to well within the upload lease.
///
/// Clones share their store and caches.
///
/// ```
/// use std::sync::Arc;
/// use object_store::memory::InMemory;
/// use tower_oci::storage::ObjectStorage;
///
/// let store = ObjectStorage::new(Arc::new(InMemory::new()), "registry");
/// # drop(store);
/// ```
#[derive(Clone)]
pub struct ObjectStorage {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// Every key starts with it ("" or "a/b/").
    pub(crate) prefix: String,
    pub(crate) options: ObjectStorageOptions,
    /// Claims this process released by dropping a writer, until the release is stored: a
    /// resume in this process need not wait for it.
    pub(crate) released: Mutex<Vec<String>>,
    /// Sessions whose claim a dropped writer of this process is releasing, until it is done:
    /// a resume here waits for it (a few requests) rather than racing it, which on a store
    /// whose conditional PUTs are not atomic could let the release undo the new claim.
    pub(crate) releasing: Mutex<HashMap<String, tokio::sync::watch::Receiver<()>>>,
    /// Manifest bytes by digest: content-addressed, so never stale (existence is always read
    /// from the store).
    pub(crate) manifest_cache: Mutex<HashMap<String, Bytes>>,
    /// Repositories whose catalog entry this process stored or found.
    pub(crate) cataloged: Mutex<HashSet<String>>,
}

impl fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("store", &self.inner.store.to_string())
            .field("prefix", &self.inner.prefix)
            .field("options", &self.inner.options)
            .finish()
    }
}

impl ObjectStorage {
    /// A registry under `prefix` (may be empty) of `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        ObjectStorage {
            inner: Arc::new(Inner {
                store,
                prefix,
                options: ObjectStorageOptions::default(),
                released: Mutex::new(Vec::new()),
                releasing: Mutex::new(HashMap::new()),
                manifest_cache: Mutex::new(HashMap::new()),
                cataloged: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// A registry at `url`: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix`, or `memory:///` (a fresh in-process store, for tests).
    /// Credentials, region and endpoint come from the environment, as `object_store` reads it
    /// (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ALLOW_HTTP`, and the `GOOGLE_` and `AZURE_` variables).
    ///
    /// Installs rustls's ring provider as the process default if none is installed yet.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let invalid = |message: String| Error::invalid_input(url, message);
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("not a URL".into()))?;
        let (_bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let store: Arc<dyn ObjectStore> = match scheme {
            "memory" => Arc::new(object_store::memory::InMemory::new()),
            "s3" | "s3a" => Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url)
                    .build()
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            "gs" => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(url)
                    .build()
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            "az" | "azure" | "abfs" | "abfss" => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(url)
                    .build()
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            other => return Err(invalid(format!("unsupported scheme {other:?}"))),
        };
        Ok(ObjectStorage::new(store, prefix))
    }

    /// Replaces the settings. Call it before sharing the store (clones made earlier keep the
    /// old settings).
    #[must_use]
    pub fn options(self, options: ObjectStorageOptions) -> Self {
        let inner = &self.inner;
        ObjectStorage {
            inner: Arc::new(Inner {
                store: Arc::clone(&inner.store),
                prefix: inner.prefix.clone(),
                options,
                released: Mutex::new(
                    inner
                        .released
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone(),
                ),
                releasing: Mutex::new(HashMap::new()),
                manifest_cache: Mutex::new(HashMap::new()),
                cataloged: Mutex::new(HashSet::new()),
            }),
        }
    }
}

/// Manifest bytes kept in memory at most (a bound on the cache, not a limit on manifests).
const MANIFEST_CACHE_ENTRIES: usize = 4096;

/// Locks that guard plain data: a panic elsewhere leaves it consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An object read: bytes and the version to compare-and-swap against.
pub(crate) struct Read {
    pub(crate) bytes: Bytes,
    pub(crate) version: UpdateVersion,
}

/// An object_store error on `key`, sorted into the variant it means.
pub(crate) fn store_error(key: &str, e: object_store::Error) -> Error {
    let key = key.to_owned();
    match e {
        object_store::Error::NotFound { .. } => Error::NotFound { key },
        object_store::Error::AlreadyExists { .. } => Error::AlreadyExists { key },
        object_store::Error::Precondition { .. } => Error::Conflict {
            message: e.to_string(),
            key,
        },
        e if is_transient(&e) => Error::Unavailable {
            key,
            source: Box::new(e),
        },
        e => Error::Other {
            key,
            source: Box::new(e),
        },
    }
}

/// A connection failure, a timeout, throttling or a server error: worth trying again later.
fn is_transient(e: &object_store::Error) -> bool {
    use object_store::client::HttpErrorKind;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = current {
        if let Some(http) = error.downcast_ref::<object_store::client::HttpError>() {
            return matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            );
        }
        // object_store's retry error is private; its text names the status.
        let text = error.to_string();
        if let Some(code) = text
            .split("status code: ")
            .nth(1)
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
        {
            return code == 429 || code >= 500;
        }
        current = error.source();
    }
    false
}

fn is_precondition(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::Precondition { .. })
}

impl Inner {
    /// The object path of `key` (relative to the prefix).
    pub(crate) fn path(&self, key: &str) -> Path {
        Path::from(format!("{}{key}", self.prefix))
    }

    /// Object `key`'s bytes and version; `None` when absent.
    pub(crate) async fn read(&self, key: &str) -> Result<Option<Read>> {
        let result = match self.store.get(&self.path(key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error(key, e)),
        };
        let meta = &result.meta;
        let version = UpdateVersion {
            e_tag: meta.e_tag.clone(),
            version: meta.version.clone(),
        };
        let bytes = match result.bytes().await {
            Ok(bytes) => bytes,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error(key, e)),
        };
        Ok(Some(Read { bytes, version }))
    }

    /// Object `key`'s bytes and metadata; `None` when absent.
    pub(crate) async fn read_meta(&self, key: &str) -> Result<Option<(Bytes, ObjectMeta)>> {
        let result = match self.store.get(&self.path(key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error(key, e)),
        };
        let meta = result.meta.clone();
        match result.bytes().await {
            Ok(bytes) => Ok(Some((bytes, meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(key, e)),
        }
    }

    /// Object `key`'s metadata; `None` when absent.
    pub(crate) async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        match self.store.head(&self.path(key)).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(key, e)),
        }
    }

    /// Writes object `key` in `mode`: the raw object_store result, so callers can tell a
    /// failed condition from a failure.
    pub(crate) async fn put_raw(
        &self,
        key: &str,
        bytes: Bytes,
        mode: PutMode,
    ) -> Result<UpdateVersion, object_store::Error> {
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let result = self
            .store
            .put_opts(&self.path(key), bytes.into(), options)
            .await?;
        Ok(UpdateVersion::from(result))
    }

    /// Writes object `key`, replacing what is there.
    pub(crate) async fn put(&self, key: &str, bytes: Bytes) -> Result<UpdateVersion> {
        self.put_raw(key, bytes, PutMode::Overwrite)
            .await
            .map_err(|e| store_error(key, e))
    }

    /// Stores object `key` as the concatenation of `parts` (one PUT, no copy).
    pub(crate) async fn put_parts(&self, key: &str, parts: Vec<Bytes>) -> Result<()> {
        let payload: object_store::PutPayload = parts.into_iter().collect();
        self.store
            .put_opts(&self.path(key), payload, PutOptions::default())
            .await
            .map(|_| ())
            .map_err(|e| store_error(key, e))
    }

    /// Creates object `key` unless it exists: true when this call created it.
    pub(crate) async fn create(&self, key: &str, bytes: Bytes) -> Result<bool> {
        match self.put_raw(key, bytes, PutMode::Create).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(store_error(key, e)),
        }
    }

    /// Replaces object `key` if it is still at `version`: `None` when it is not.
    pub(crate) async fn swap(
        &self,
        key: &str,
        version: &UpdateVersion,
        bytes: Bytes,
    ) -> Result<Option<UpdateVersion>> {
        match self
            .put_raw(key, bytes, PutMode::Update(version.clone()))
            .await
        {
            Ok(version) => Ok(Some(version)),
            Err(e) if is_precondition(&e) => Ok(None),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(key, e)),
        }
    }

    /// Deletes object `key` (absent is fine).
    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(key, e)),
        }
    }

    /// Deletes objects, logging failures (leftovers cost space, not correctness).
    pub(crate) async fn delete_best_effort(&self, keys: impl IntoIterator<Item = String>) {
        for key in keys {
            if let Err(e) = self.delete(&key).await {
                tracing::warn!(%key, error = %e, "object storage: could not delete a leftover");
            }
        }
    }

    /// Objects under `dir/` whose key (relative to `dir/`) sorts strictly after `after`, in
    /// key order, passed to `keep` until it returns `false` or the listing ends. `keep` gets
    /// the relative key and the object's metadata.
    pub(crate) async fn list<F>(&self, dir: &str, after: Option<&str>, mut keep: F) -> Result<()>
    where
        F: FnMut(&str, &ObjectMeta) -> bool,
    {
        let prefix = self.path(dir);
        let full = format!("{}{dir}/", self.prefix);
        let mut listing = match after {
            Some(after) => {
                let offset = self.path(&format!("{dir}/{after}"));
                self.store.list_with_offset(Some(&prefix), &offset)
            }
            None => self.store.list(Some(&prefix)),
        };
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| store_error(dir, e))?;
            let location = meta.location.as_ref();
            let Some(relative) = location.strip_prefix(full.as_str()) else {
                continue;
            };
            if let Some(after) = after {
                // Offsets are exclusive in object_store, but a store may round them.
                if relative <= after {
                    continue;
                }
            }
            if !keep(relative, &meta) {
                break;
            }
        }
        Ok(())
    }

    /// Up to `limit` + 1 entries of `list` mapped by `item` (which skips with `None`): one page.
    pub(crate) async fn page<T>(
        &self,
        dir: &str,
        options: &ListOptions,
        mut item: impl FnMut(&str, &ObjectMeta) -> Option<T>,
    ) -> Result<Page<T>> {
        let mut items = Vec::new();
        let mut more = false;
        let limit = options.limit;
        self.list(dir, options.after.as_deref(), |key, meta| {
            if let Some(value) = item(key, meta) {
                if items.len() == limit {
                    more = true;
                    return false;
                }
                items.push(value);
            }
            true
        })
        .await?;
        Ok(Page::new(items, more))
    }

    fn cached_manifest(&self, digest: &Digest) -> Option<Bytes> {
        lock(&self.manifest_cache).get(digest.as_str()).cloned()
    }

    fn cache_manifest(&self, digest: &Digest, bytes: Bytes) {
        let mut cache = lock(&self.manifest_cache);
        if cache.len() >= MANIFEST_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(digest.as_str().to_owned(), bytes);
    }
}

/// `alg/hex` of a digest: its key below a directory.
pub(crate) fn digest_key(digest: &Digest) -> String {
    format!("{}/{}", digest.algorithm().as_str(), digest.hex())
}

/// The digest an `alg/hex` key names.
pub(crate) fn key_digest(key: &str) -> Option<Digest> {
    let (alg, hex) = key.split_once('/')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

/// A listing offset for digest text `after` (`alg:hex` sorts as `alg/hex` does).
pub(crate) fn digest_offset(after: &str) -> String {
    after.replacen(':', "/", 1)
}

/// Refuses repository names and tags that are not the spec's grammar (so never a path trick).
pub(crate) fn check_repo(repo: &str) -> Result<()> {
    if crate::protocol::name::is_valid_name(repo) {
        Ok(())
    } else {
        Err(Error::invalid_input(repo, "not a repository name"))
    }
}

pub(crate) fn check_tag(repo: &str, tag: &str) -> Result<()> {
    if crate::protocol::name::is_valid_tag(tag) {
        Ok(())
    } else {
        Err(Error::invalid_input(format!("{repo}:{tag}"), "not a tag"))
    }
}

pub(crate) fn system_time(meta: &ObjectMeta) -> SystemTime {
    SystemTime::from(meta.last_modified)
}

impl Storage for ObjectStorage {
    fn get_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        options: GetOptions,
    ) -> BoxFuture<'a, Result<GetResult>> {
        Box::pin(blobs::get_blob(&self.inner, repo, digest, options))
    }

    fn stat_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<ContentInfo>> {
        Box::pin(blobs::stat_blob(&self.inner, digest))
    }

    fn link_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        options: LinkOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(blobs::link_blob(&self.inner, repo, digest, options))
    }

    fn unlink_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<()>> {
        Box::pin(blobs::unlink_blob(&self.inner, repo, digest))
    }

    fn create_upload<'a>(&'a self, state: &'a UploadState) -> BoxFuture<'a, Result<()>> {
        Box::pin(uploads::create_upload(&self.inner, state))
    }

    fn get_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<UploadState>> {
        Box::pin(uploads::get_upload(&self.inner, id))
    }

    fn resume_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Box<dyn UploadWriter>>> {
        Box::pin(uploads::resume_upload(&self.inner, id))
    }

    fn stage_blob(&self) -> BoxFuture<'_, Result<Box<dyn UploadWriter>>> {
        let writer = uploads::ObjectWriter::staged(Arc::clone(&self.inner));
        Box::pin(std::future::ready(Ok(
            Box::new(writer) as Box<dyn UploadWriter>
        )))
    }

    fn delete_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(uploads::delete_upload(&self.inner, id))
    }

    fn list_uploads(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<UploadState>>> {
        Box::pin(uploads::list_uploads(&self.inner, options))
    }

    fn get_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<StoredManifest>> {
        Box::pin(manifests::get_manifest(&self.inner, repo, digest))
    }

    fn manifest_meta<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<ManifestMeta>> {
        Box::pin(manifests::manifest_meta(&self.inner, repo, digest))
    }

    fn put_manifest<'a>(
        &'a self,
        repo: &'a str,
        put: &'a ManifestPut,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(manifests::put_manifest(&self.inner, repo, put))
    }

    fn delete_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(manifests::delete_manifest(&self.inner, repo, digest))
    }

    fn get_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<Digest>> {
        Box::pin(manifests::get_tag(&self.inner, repo, tag))
    }

    fn delete_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(manifests::delete_tag(&self.inner, repo, tag))
    }

    fn list_tags<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<String>>> {
        Box::pin(manifests::list_tags(&self.inner, repo, options))
    }

    fn list_referrers<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        options: ReferrerListOptions,
    ) -> BoxFuture<'a, Result<Page<ReferrerEntry>>> {
        Box::pin(manifests::list_referrers(
            &self.inner,
            repo,
            subject,
            options,
        ))
    }

    fn list_repositories(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<String>>> {
        Box::pin(manifests::list_repositories(&self.inner, options))
    }

    fn repository_exists<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(manifests::repository_exists(&self.inner, repo))
    }

    fn list_blobs(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<ContentInfo>>> {
        Box::pin(blobs::list_blobs(&self.inner, options))
    }

    fn list_manifests<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<ContentInfo>>> {
        Box::pin(manifests::list_manifests(&self.inner, repo, options))
    }

    fn delete_blob_content<'a>(
        &'a self,
        digest: &'a Digest,
        options: DeleteContentOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(blobs::delete_blob_content(&self.inner, digest, options))
    }

    fn touch_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<()>> {
        Box::pin(blobs::touch_blob(&self.inner, digest))
    }

    fn delete_leftovers(&self, options: LeftoverOptions) -> BoxFuture<'_, Result<Reclaimed>> {
        Box::pin(blobs::delete_leftovers(&self.inner, options))
    }
}
