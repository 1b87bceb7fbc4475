//! The registry's settings: plain data at the bottom of the module graph, so handlers and
//! upload sessions read them without importing the layer.

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
        }
    }
}
