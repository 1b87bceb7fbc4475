//! [`OciLayer`] and its settings.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tower::Layer;

use crate::auth::{Authorizer, Hook};
use crate::handlers::Shared;
use crate::service::Oci;
use crate::settings::Config;
use crate::storage::{FsStorage, Storage};

/// Mounts an OCI Distribution registry at `/v2/` in front of any service.
///
/// See the [crate docs](crate) for an example.
#[derive(Clone, Debug)]
pub struct OciLayer {
    shared: Arc<Shared>,
    config: Config,
    /// Set when the storage is the default filesystem one, so `durable` can rebuild it.
    root: Option<Arc<Path>>,
}

impl OciLayer {
    /// A registry that stores blobs and metadata under directory `root` on local disk
    /// (created on first write). Writes are durable (fsynced) by default.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root: Arc<Path> = Arc::from(root.into());
        OciLayer {
            shared: Arc::new(Shared::new(Arc::new(FsStorage::new(
                root.to_path_buf(),
                true,
            )))),
            config: Config::default(),
            root: Some(root),
        }
    }

    /// A registry over any [`Storage`] backend.
    pub fn with_storage(storage: Arc<dyn Storage>) -> Self {
        OciLayer {
            shared: Arc::new(Shared::new(storage)),
            config: Config::default(),
            root: None,
        }
    }

    /// The largest manifest accepted, in bytes; larger ones get 413.
    /// Defaults to `8 MiB` (the spec asks clients to expect registries to take at least 4 MB).
    pub fn max_manifest_size(mut self, bytes: u64) -> Self {
        self.config.max_manifest_size = bytes;
        self
    }

    /// Whether `DELETE` of tags, manifests and blobs is allowed (405 `UNSUPPORTED` when not).
    /// Defaults to `true`.
    pub fn deletes_enabled(mut self, enabled: bool) -> Self {
        self.config.deletes_enabled = enabled;
        self
    }

    /// Whether blob data, metadata and directories are fsynced before a write is acknowledged.
    /// Only applies to the filesystem storage of [`OciLayer::new`]. Defaults to `true`.
    pub fn durable(mut self, durable: bool) -> Self {
        if let Some(root) = &self.root {
            let mut shared = Shared::new(Arc::new(FsStorage::new(root.to_path_buf(), durable)));
            shared.authorizer = self.shared.authorizer.clone();
            self.shared = Arc::new(shared);
        }
        self
    }

    /// Who may do what: asked about every registry request after its path is parsed and
    /// before any body byte is read (see [`crate::auth`]). Defaults to none: every request
    /// is allowed, anonymously.
    pub fn authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        let mut shared = Shared::clone(&self.shared);
        shared.authorizer = Hook(Some(authorizer));
        self.shared = Arc::new(shared);
        self
    }

    /// The smallest chunk a client should send (all but the last), advertised with
    /// `OCI-Chunk-Min-Length` on upload responses. Defaults to `None` (no minimum).
    pub fn min_chunk_length(mut self, bytes: Option<u64>) -> Self {
        self.config.min_chunk_length = bytes;
        self
    }

    /// The most entries one tag-list or catalog page returns, whatever `n` asks for.
    /// Defaults to `1000`.
    pub fn page_cap(mut self, entries: usize) -> Self {
        self.config.page_cap = entries;
        self
    }
}

impl OciLayer {
    /// How long an upload session may sit idle (no request working on it) before a background
    /// sweep removes it with its bytes. Defaults to `1 hour`.
    pub fn upload_timeout(mut self, idle: Duration) -> Self {
        self.config.upload_timeout = idle;
        self
    }

    /// The most upload sessions holding stored bytes at once, as this process counts them; a
    /// session that would be one more gets 429 `TOOMANYREQUESTS` (at its `POST` while the cap
    /// is reached, else at its first byte). Sessions that have received no byte are not
    /// stored and not counted. Defaults to `4096`.
    pub fn max_uploads(mut self, sessions: usize) -> Self {
        self.config.max_uploads = sessions;
        self
    }

    /// The same cap in one repository, so one repository cannot take every place; more get
    /// 429 `TOOMANYREQUESTS`. Defaults to `1024`.
    pub fn max_uploads_per_repository(mut self, sessions: usize) -> Self {
        self.config.max_uploads_per_repository = sessions;
        self
    }
}

impl<S> Layer<S> for OciLayer {
    type Service = Oci<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Oci::from_parts(inner, Arc::clone(&self.shared), self.config)
    }
}
