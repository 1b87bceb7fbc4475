//! The filesystem backend. Placeholder: the storage helper replaces this file.

use std::path::PathBuf;

use super::{BlobReader, BoxFuture, Referrer, Result, StagedBlob, Storage, StoredManifest};
use crate::protocol::Digest;

/// Everything under one directory on local disk.
#[derive(Debug)]
pub struct FsStorage {
    root: PathBuf,
    durable: bool,
}

impl FsStorage {
    /// A store rooted at `root` (created on first write). With `durable`, blob data, metadata
    /// files and their directories are fsynced before a write is acknowledged.
    pub fn new(root: impl Into<PathBuf>, durable: bool) -> Self {
        FsStorage {
            root: root.into(),
            durable,
        }
    }
}

#[allow(unused_variables)]
impl Storage for FsStorage {
    fn blob_size<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<u64>>> {
        todo!()
    }
    fn read_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, Result<BlobReader>> {
        todo!()
    }
    fn blob_exists<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<bool>> {
        todo!()
    }
    fn link_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<bool>> {
        todo!()
    }
    fn delete_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<bool>> {
        todo!()
    }
    fn stage_blob(&self) -> BoxFuture<'_, Result<Box<dyn StagedBlob>>> {
        todo!()
    }
    fn put_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        manifest: StoredManifest,
    ) -> BoxFuture<'a, Result<()>> {
        todo!()
    }
    fn get_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<StoredManifest>>> {
        todo!()
    }
    fn delete_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<bool>> {
        todo!()
    }
    fn resolve_tag<'a>(
        &'a self,
        repo: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, Result<Option<Digest>>> {
        todo!()
    }
    fn set_tag<'a>(
        &'a self,
        repo: &'a str,
        tag: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        todo!()
    }
    fn delete_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<bool>> {
        todo!()
    }
    fn list_tags<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<Option<Vec<String>>>> {
        todo!()
    }
    fn add_referrer<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        referrer: Referrer,
    ) -> BoxFuture<'a, Result<()>> {
        todo!()
    }
    fn remove_referrer<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        referrer: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        todo!()
    }
    fn list_referrers<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
    ) -> BoxFuture<'a, Result<Vec<Referrer>>> {
        todo!()
    }
    fn list_repositories(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        todo!()
    }
    fn repository_exists<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<bool>> {
        todo!()
    }
}
