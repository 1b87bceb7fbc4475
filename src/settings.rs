//! The registry's settings: plain data at the bottom of the module graph (this module imports
//! nothing of the crate), so handlers and upload sessions read them without importing the
//! layer.

use std::time::Duration;

/// Settings shared by every clone of the service (set through [`crate::OciLayer`]'s builder
/// methods, which document each default).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) max_manifest_size: u64,
    pub(crate) deletes_enabled: bool,
    pub(crate) min_chunk_length: Option<u64>,
    pub(crate) page_cap: usize,
    pub(crate) upload_timeout: Duration,
    pub(crate) max_uploads: usize,
    pub(crate) max_uploads_per_repository: usize,
    pub(crate) max_uploads_per_principal: usize,
    pub(crate) body_idle_timeout: Duration,
    /// The collector's grace period: blob `HEAD`/`GET` refresh touched times at most every
    /// `grace / 8`, and a manifest `PUT` re-touches its blobs when it took `grace / 2`.
    pub(crate) gc_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_manifest_size: 8 * 1024 * 1024,
            deletes_enabled: true,
            min_chunk_length: None,
            page_cap: 1000,
            upload_timeout: Duration::from_secs(60 * 60),
            max_uploads: 4096,
            max_uploads_per_repository: 1024,
            max_uploads_per_principal: 256,
            body_idle_timeout: Duration::from_secs(60),
            gc_grace: Duration::from_secs(60 * 60),
        }
    }
}

/// Which web pages and which host names may reach the registry (the checks against a browser
/// driven by another site: cross-site requests and DNS rebinding). Not `Copy`, so it is kept
/// behind an `Arc` beside [`Config`].
#[derive(Clone, Debug, Default)]
pub(crate) struct BrowserGuard {
    /// Origins (`scheme://host[:port]`, compared ASCII case-insensitively) whose requests are
    /// served; any other request carrying `Origin` is refused.
    pub(crate) allowed_origins: Vec<String>,
    /// `None`: any `Host`. Otherwise the names (lowercase, no trailing dot) with an optional
    /// port that a request's `Host` (or HTTP/2 `:authority`) must match.
    pub(crate) allowed_hosts: Option<Vec<(String, Option<u16>)>>,
}
