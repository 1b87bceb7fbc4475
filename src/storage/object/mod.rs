//! [`ObjectStorage`]: the registry in an object store (S3, GCS, Azure Blob Storage, or any
//! [`object_store::ObjectStore`]), shared by any number of replicas.
//!
//! Object stores have no rename, no lock and no conditional delete; they have conditional
//! `PUT` (create-only, and replace-if-etag-matches). Everything here rests on those two:
//!
//! ```text
//! <prefix>/chunks/<uuid>                                   immutable bytes (a PATCH body, a staged blob, a manifest)
//! <prefix>/blobs/<alg>/<hex>                               {size, chunks}: created once, after the digest was verified
//! <prefix>/touch/<alg>/<hex>                               empty; its last-modified time is the content's touched time
//! <prefix>/catalog/<name>                                  empty: the repository exists
//! <prefix>/repositories/<name>/_blobs/<alg>/<hex>          empty: the repository holds the blob
//! <prefix>/repositories/<name>/_manifests/<alg>/<hex>      {mediaType, size, subject}, or empty (a tombstone)
//! <prefix>/repositories/<name>/_tags/<tag>                 the digest, or empty (a tombstone)
//! <prefix>/repositories/<name>/_tagged/<alg>/<hex>/<tag>   empty: the tag was pointed at that manifest
//! <prefix>/repositories/<name>/_referrers/<alg>/<subject-hex>/<alg>-<hex>   artifact type line, descriptor
//! <prefix>/uploads/<id>.json                               the session record, replaced with etag checks
//! ```
//!
//! A blob is a list of chunks, so a session's PATCH bodies never get copied into one object,
//! and a blob appears under its digest only once its pointer is created, after the digest was
//! checked. Tags and manifest links are replaced by compare-and-swap, and deletion writes a
//! tombstone instead of deleting, so a put racing a delete ends in some serial order on every
//! replica (see `manifests.rs`). An upload session is claimed by a lease in its record, so any
//! replica can continue it and a killed replica's claim expires.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use object_store::path::Path;
use object_store::ObjectStore;

use super::Error;

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
/// See the [module docs](self) for the layout. Clones share their store and caches.
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
            }),
        }
    }
}

impl Inner {
    /// The object path of `key` (relative to the prefix).
    #[allow(dead_code)] // skeleton: used by the backend that follows
    pub(crate) fn path(&self, key: &str) -> Path {
        Path::from(format!("{}{key}", self.prefix))
    }
}

mod skeleton {
    use super::super::{
        BoxFuture, ContentInfo, DeleteContentOptions, GetOptions, GetResult, LinkOptions,
        ListOptions, ManifestMeta, ManifestPut, Page, ReferrerEntry, ReferrerListOptions, Result,
        Storage, StoredManifest, UploadState, UploadWriter,
    };
    use super::{Error, ObjectStorage};
    use crate::protocol::Digest;

    fn todo<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T>> {
        Box::pin(async {
            Err(Error::Other {
                key: String::new(),
                source: "ObjectStorage: not implemented yet".into(),
            })
        })
    }

    impl Storage for ObjectStorage {
        fn get_blob<'a>(&'a self, _: &'a str, _: &'a Digest, _: GetOptions) -> BoxFuture<'a, Result<GetResult>> { todo() }
        fn stat_blob<'a>(&'a self, _: &'a Digest) -> BoxFuture<'a, Result<ContentInfo>> { todo() }
        fn link_blob<'a>(&'a self, _: &'a str, _: &'a Digest, _: LinkOptions) -> BoxFuture<'a, Result<()>> { todo() }
        fn unlink_blob<'a>(&'a self, _: &'a str, _: &'a Digest) -> BoxFuture<'a, Result<()>> { todo() }
        fn create_upload<'a>(&'a self, _: &'a UploadState) -> BoxFuture<'a, Result<()>> { todo() }
        fn get_upload<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<UploadState>> { todo() }
        fn resume_upload<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Box<dyn UploadWriter>>> { todo() }
        fn stage_blob(&self) -> BoxFuture<'_, Result<Box<dyn UploadWriter>>> { todo() }
        fn delete_upload<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<()>> { todo() }
        fn list_uploads(&self, _: ListOptions) -> BoxFuture<'_, Result<Page<UploadState>>> { todo() }
        fn get_manifest<'a>(&'a self, _: &'a str, _: &'a Digest) -> BoxFuture<'a, Result<StoredManifest>> { todo() }
        fn manifest_meta<'a>(&'a self, _: &'a str, _: &'a Digest) -> BoxFuture<'a, Result<ManifestMeta>> { todo() }
        fn put_manifest<'a>(&'a self, _: &'a str, _: &'a ManifestPut) -> BoxFuture<'a, Result<()>> { todo() }
        fn delete_manifest<'a>(&'a self, _: &'a str, _: &'a Digest) -> BoxFuture<'a, Result<()>> { todo() }
        fn get_tag<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<Digest>> { todo() }
        fn delete_tag<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<()>> { todo() }
        fn list_tags<'a>(&'a self, _: &'a str, _: ListOptions) -> BoxFuture<'a, Result<Page<String>>> { todo() }
        fn list_referrers<'a>(&'a self, _: &'a str, _: &'a Digest, _: ReferrerListOptions) -> BoxFuture<'a, Result<Page<ReferrerEntry>>> { todo() }
        fn list_repositories(&self, _: ListOptions) -> BoxFuture<'_, Result<Page<String>>> { todo() }
        fn repository_exists<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool>> { todo() }
        fn list_blobs(&self, _: ListOptions) -> BoxFuture<'_, Result<Page<ContentInfo>>> { todo() }
        fn list_manifests<'a>(&'a self, _: &'a str, _: ListOptions) -> BoxFuture<'a, Result<Page<ContentInfo>>> { todo() }
        fn delete_blob_content<'a>(&'a self, _: &'a Digest, _: DeleteContentOptions) -> BoxFuture<'a, Result<()>> { todo() }
    }
}
