//! The filesystem backend (being ported to the new storage API).

/// Everything under one directory on local disk.
#[derive(Debug)]
pub struct FsStorage {}
