//! [`OciLayer`] and its settings.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tower::Layer;

use crate::auth::{Authorizer, Hook};
use crate::gc::{Collector, GcOptions};
use crate::handlers::guard::parse_authority;
use crate::handlers::Shared;
use crate::service::Oci;
use crate::settings::{BrowserGuard, Config};
use crate::storage::{FsStorage, Storage};

/// Mounts an OCI Distribution registry at `/v2/` in front of any service.
///
/// See the [crate docs](crate) for an example.
#[derive(Clone, Debug)]
pub struct OciLayer {
    shared: Arc<Shared>,
    config: Config,
    guard: Arc<BrowserGuard>,
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
            guard: Arc::default(),
            root: Some(root),
        }
    }

    /// A registry over any [`Storage`] backend.
    pub fn with_storage(storage: Arc<dyn Storage>) -> Self {
        OciLayer {
            shared: Arc::new(Shared::new(storage)),
            config: Config::default(),
            guard: Arc::default(),
            root: None,
        }
    }

    /// The largest manifest accepted, in bytes; larger ones get 413.
    /// Defaults to `8 MiB` (the spec asks clients to expect registries to take at least 4 MB).
    #[must_use]
    pub fn max_manifest_size(mut self, bytes: u64) -> Self {
        self.config.max_manifest_size = bytes;
        self
    }

    /// Whether `DELETE` of tags, manifests and blobs is allowed (405 `UNSUPPORTED` when not).
    /// Defaults to `true`.
    #[must_use]
    pub fn deletes_enabled(mut self, enabled: bool) -> Self {
        self.config.deletes_enabled = enabled;
        self
    }

    /// Whether blob data, metadata and directories are fsynced before a write is acknowledged.
    /// Only applies to the filesystem storage of [`OciLayer::new`]. Defaults to `true`.
    #[must_use]
    pub fn durable(mut self, durable: bool) -> Self {
        if let Some(root) = &self.root {
            let mut shared = Shared::new(Arc::new(FsStorage::new(root.to_path_buf(), durable)));
            shared.authorizer = self.shared.authorizer.clone();
            shared.gc = self.shared.gc.clone();
            self.shared = Arc::new(shared);
        }
        self
    }

    /// Who may do what: asked about every registry request after its path is parsed and
    /// before any body byte is read (see [`crate::auth`]). Defaults to none: every request
    /// is allowed, anonymously.
    #[must_use]
    pub fn authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        let mut shared = Shared::clone(&self.shared);
        shared.authorizer = Hook(Some(authorizer));
        self.shared = Arc::new(shared);
        self
    }

    /// The smallest chunk a client should send (all but the last), advertised with
    /// `OCI-Chunk-Min-Length` on upload responses. Defaults to `None` (no minimum).
    #[must_use]
    pub fn min_chunk_length(mut self, bytes: Option<u64>) -> Self {
        self.config.min_chunk_length = bytes;
        self
    }

    /// The most entries one tag-list or catalog page returns, whatever `n` asks for.
    /// Defaults to `1000`.
    #[must_use]
    pub fn page_cap(mut self, entries: usize) -> Self {
        self.config.page_cap = entries;
        self
    }
}

impl OciLayer {
    /// Garbage collection and retention (see [`crate::gc`]): with [`GcOptions::interval`]
    /// set, the registry runs a collection that often in the background (started with its
    /// first request, on that request's runtime), logging one `info` line per run. The grace
    /// period also sets how often blob reads refresh touched times. Defaults to
    /// [`GcOptions::default`]: no background collection, a grace of 1 hour.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_oci::{gc::GcOptions, OciLayer};
    ///
    /// let layer = OciLayer::new("/var/lib/registry").gc(
    ///     GcOptions::default()
    ///         .interval(Some(Duration::from_secs(600)))
    ///         .grace(Duration::from_secs(3600)),
    /// );
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn gc(mut self, options: GcOptions) -> Self {
        self.config.gc_grace = options.grace;
        let mut shared = Shared::clone(&self.shared);
        shared.gc = options;
        self.shared = Arc::new(shared);
        self
    }

    /// A handle that runs a collection over this registry's storage when the host asks
    /// ([`Collector::run`]), with the settings of [`OciLayer::gc`] (its interval aside) and
    /// the upload timeout. It shares this registry's upload sessions (sessions being written
    /// are never expired) and its run lock (never two runs at once).
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() {
    /// let layer = tower_oci::OciLayer::new("/var/lib/registry");
    /// let report = layer.collector().run().await.expect("mark failed");
    /// println!("{report}");
    /// # }
    /// ```
    pub fn collector(&self) -> Collector {
        self.shared.collector(self.config)
    }

    /// How long an upload session may sit idle (no request working on it) before a background
    /// sweep removes it with its bytes. Defaults to `1 hour`.
    #[must_use]
    pub fn upload_timeout(mut self, idle: Duration) -> Self {
        self.config.upload_timeout = idle;
        self
    }

    /// The most upload sessions holding stored bytes at once, as this process counts them; a
    /// session that would be one more gets 429 `TOOMANYREQUESTS` (at its `POST` while the cap
    /// is reached, else at its first byte). Sessions that have received no byte are not
    /// stored and not counted. Defaults to `4096`.
    #[must_use]
    pub fn max_uploads(mut self, sessions: usize) -> Self {
        self.config.max_uploads = sessions;
        self
    }

    /// The same cap in one repository, so one repository cannot take every place; more get
    /// 429 `TOOMANYREQUESTS`. Defaults to `1024`.
    #[must_use]
    pub fn max_uploads_per_repository(mut self, sessions: usize) -> Self {
        self.config.max_uploads_per_repository = sessions;
        self
    }

    /// The same cap for one named principal (a user an [`authorizer`](Self::authorizer)
    /// allowed), so one account cannot take every place; more get 429 `TOOMANYREQUESTS`.
    /// Anonymous sessions, and every session without an authorizer, are held by the other
    /// caps only. Defaults to `256`.
    #[must_use]
    pub fn max_uploads_per_principal(mut self, sessions: usize) -> Self {
        self.config.max_uploads_per_principal = sessions;
        self
    }
}

impl OciLayer {
    /// How long a request body may go without sending a byte. A body that stalls longer is
    /// cut: the request is answered `408` and its connection closed. An upload cut this way
    /// keeps every byte acknowledged before (with a `202`) and continues from there. Also
    /// bounds the wait for the first byte of a body. `Duration::MAX` turns it off.
    /// Defaults to `60 s`.
    #[must_use]
    pub fn body_idle_timeout(mut self, idle: Duration) -> Self {
        self.config.body_idle_timeout = idle;
        self
    }

    /// Browser origins (`scheme://host[:port]`, as a browser sends them in `Origin`) whose
    /// requests the registry serves. A request carrying any other `Origin` is refused with 403
    /// `DENIED` before its body is read: browsers send `Origin` with cross-site requests, even
    /// a form `POST` that needs no CORS preflight, and registry clients never send it. To let
    /// pages of an allowed origin read responses, add CORS headers around the layer (tower-http's
    /// `CorsLayer`, which also answers preflights). Defaults to none: every request with an
    /// `Origin` header is refused.
    ///
    /// ```
    /// let layer = tower_oci::OciLayer::new("./registry-data")
    ///     .allowed_origins(["https://registry-ui.example.com"]);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn allowed_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let guard = Arc::make_mut(&mut self.guard);
        guard.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Turns on the `Host` check: only requests whose `Host` (HTTP/2 `:authority`) names one of
    /// `hosts` are served; others get 403 `DENIED`. An entry is a name or address with an
    /// optional port (`localhost`, `127.0.0.1:5000`, `[::1]`); without a port it matches any.
    /// This stops DNS rebinding, where a web page makes a browser send requests to a registry
    /// on `127.0.0.1` under the page's own host name. Requests without any `Host` (not from a
    /// browser) are served. An entry that is not a host name is ignored. Defaults to off: any
    /// `Host`.
    ///
    /// ```
    /// let layer = tower_oci::OciLayer::new("./registry-data")
    ///     .allowed_hosts(["localhost", "127.0.0.1", "[::1]"]);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn allowed_hosts<I>(mut self, hosts: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let guard = Arc::make_mut(&mut self.guard);
        guard.allowed_hosts = Some(
            hosts
                .into_iter()
                .filter_map(|host| parse_authority(host.as_ref()))
                .collect(),
        );
        self
    }

    /// Checks that the storage can be used: for the filesystem storage, that its root can be
    /// created and written. Call it before serving, so a bad root fails at start with a message
    /// rather than the first push with a 500.
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() {
    /// let layer = tower_oci::OciLayer::new("/var/lib/registry");
    /// if let Err(err) = layer.check_storage().await {
    ///     eprintln!("error: {err}");
    ///     std::process::exit(1);
    /// }
    /// # }
    /// ```
    pub async fn check_storage(&self) -> Result<(), crate::storage::Error> {
        self.shared.storage.check().await
    }
}

impl<S> Layer<S> for OciLayer {
    type Service = Oci<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Oci::from_parts(
            inner,
            Arc::clone(&self.shared),
            self.config,
            Arc::clone(&self.guard),
        )
    }
}
