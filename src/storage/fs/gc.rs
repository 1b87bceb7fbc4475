//! Listings and deletes for garbage collection. A content file's mtime is its last-touched
//! time: set when written, refreshed when linked, mounted or re-pushed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::manifests::LinkRecord;
use super::write::{
    blocking, io_error, read_dir_optional, read_optional, remove, set_touched, sync_parent,
};
use super::{invalid_name, FsStorage};
use crate::protocol::{Algorithm, Digest};
use crate::storage::{ContentInfo, DeleteContentOptions, Error, ListOptions, Page, Result};

/// Every `<alg>/<hex>` file name under `dir` as a digest, sorted by digest text. Reads
/// directory names only.
fn digests_under(dir: &Path) -> Result<Vec<(Digest, PathBuf)>> {
    let mut found = Vec::new();
    let Some(algs) = read_dir_optional(dir).map_err(io_error(dir))? else {
        return Ok(found);
    };
    for alg in algs {
        let alg = alg.map_err(io_error(dir))?;
        let name = alg.file_name();
        let Some(algorithm) = name.to_str().and_then(Algorithm::from_name) else {
            continue;
        };
        if !alg.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let alg_dir = alg.path();
        let Some(entries) = read_dir_optional(&alg_dir).map_err(io_error(&alg_dir))? else {
            continue;
        };
        for entry in entries {
            let entry = entry.map_err(io_error(&alg_dir))?;
            let Some(hex) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if let Ok(digest) = Digest::parse(&format!("{}:{hex}", algorithm.as_str())) {
                found.push((digest, entry.path()));
            }
        }
    }
    found.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    Ok(found)
}

/// One page of [`digests_under`] `dir`: the digests after `options.after` (the list is sorted,
/// so the start is found by bisection), at most `options.limit` of them, and whether more follow.
fn digest_page(dir: &Path, options: &ListOptions) -> Result<Page<(Digest, PathBuf)>> {
    let found = digests_under(dir)?;
    let start = options.after.as_deref().map_or(0, |after| {
        found.partition_point(|(digest, _)| digest.as_str() <= after)
    });
    let mut rest = found.into_iter().skip(start);
    let items: Vec<_> = rest.by_ref().take(options.limit).collect();
    let more = rest.next().is_some();
    Ok(Page::new(items, more))
}

/// Size and mtime of the regular file `path`; `None` when it is gone or not a regular file.
fn stat_file(path: &Path) -> Result<Option<fs::Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(Some(meta)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

impl FsStorage {
    pub(super) async fn list_blobs_impl(&self, options: ListOptions) -> Result<Page<ContentInfo>> {
        let dir = self.layout.blobs();
        blocking(move || {
            let page = digest_page(&dir, &options)?;
            let mut items = Vec::with_capacity(page.items.len());
            for (digest, path) in page.items {
                if let Some(meta) = stat_file(&path)? {
                    let touched = meta.modified().map_err(io_error(&path))?;
                    items.push(ContentInfo::new(digest, meta.len(), touched));
                }
            }
            Ok(Page::new(items, page.more))
        })
        .await
    }

    pub(super) async fn list_manifests_impl(
        &self,
        repo: &str,
        options: ListOptions,
    ) -> Result<Page<ContentInfo>> {
        let dir = self
            .layout
            .manifests(repo)
            .ok_or_else(|| invalid_name(repo))?;
        blocking(move || {
            let page = digest_page(&dir, &options)?;
            let mut items = Vec::with_capacity(page.items.len());
            for (digest, path) in page.items {
                let Some(meta) = stat_file(&path)? else {
                    continue;
                };
                let Some(bytes) = read_optional(&path).map_err(io_error(&path))? else {
                    continue;
                };
                let record: LinkRecord = serde_json::from_slice(&bytes).map_err(|_| {
                    Error::corrupt(path.display().to_string(), "bad manifest link record")
                })?;
                // The link is rewritten on every re-push: its mtime is the manifest's touch.
                let touched = meta.modified().map_err(io_error(&path))?;
                items.push(ContentInfo::new(digest, record.size, touched));
            }
            Ok(Page::new(items, page.more))
        })
        .await
    }

    pub(super) async fn delete_blob_content_impl(
        &self,
        digest: &Digest,
        options: DeleteContentOptions,
    ) -> Result<()> {
        let blob = self.layout.blob(digest);
        let durable = self.durable;
        let key = digest.as_str().to_owned();
        let locks = std::sync::Arc::clone(&self.content_locks);
        let locked = digest.clone();
        blocking(move || {
            // Check and delete under the content's lock (see `ContentLocks`).
            let guard = locks.lock(&locked);
            let meta = match fs::symlink_metadata(&blob) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::not_found(key)),
                Err(e) => return Err(io_error(&blob)(e)),
            };
            if !meta.file_type().is_file() {
                return Err(Error::corrupt(key, "content is not a regular file"));
            }
            if let Some(since) = options.untouched_since {
                let touched = meta.modified().map_err(io_error(&blob))?;
                if touched >= since {
                    return Err(Error::conflict(key, "touched since the collector decided"));
                }
            }
            match fs::remove_file(&blob) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::not_found(key)),
                Err(e) => return Err(io_error(&blob)(e)),
            }
            drop(guard);
            if durable {
                sync_parent(&blob).map_err(io_error(&blob))?;
            }
            Ok(())
        })
        .await?;
        self.content.remove(digest);
        Ok(())
    }

    pub(super) async fn touch_blob_impl(&self, digest: &Digest) -> Result<()> {
        let blob = self.layout.blob(digest);
        let locks = std::sync::Arc::clone(&self.content_locks);
        let digest = digest.clone();
        blocking(move || {
            let _guard = locks.lock(&digest);
            set_touched(&blob).map_err(|e| Error::io(digest.as_str(), e))
        })
        .await
    }

    pub(super) async fn list_blob_links_impl(
        &self,
        repo: &str,
        options: ListOptions,
    ) -> Result<Page<Digest>> {
        let dir = self
            .layout
            .blob_links(repo)
            .ok_or_else(|| invalid_name(repo))?;
        blocking(move || {
            let page = digest_page(&dir, &options)?;
            Ok(Page::new(
                page.items.into_iter().map(|(d, _)| d).collect(),
                page.more,
            ))
        })
        .await
    }

    pub(super) async fn delete_dangling_link_impl(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<()> {
        let link = self
            .layout
            .blob_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        let blob = self.layout.blob(digest);
        let locks = std::sync::Arc::clone(&self.content_locks);
        let durable = self.durable;
        let (digest, key) = (digest.clone(), format!("{repo}@{digest}"));
        blocking(move || {
            // Under the content's lock: completions place content and link it under it too.
            let _guard = locks.lock(&digest);
            if stat_file(&blob)?.is_some() {
                return Err(Error::conflict(key, "the content exists"));
            }
            if remove(&link, durable).map_err(io_error(&link))? {
                Ok(())
            } else {
                Err(Error::not_found(key))
            }
        })
        .await
    }
}
