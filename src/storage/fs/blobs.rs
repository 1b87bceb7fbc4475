//! Blobs: content in `blobs/<alg>/<hex>`, membership as empty link files in
//! `repositories/<name>/_blobs/<alg>/<hex>`.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use super::write::{blocking, io_error, is_regular_file, open_read, remove, set_touched, touch};
use super::{invalid_name, FsStorage};
use crate::protocol::Digest;
use crate::storage::{
    resolve_span, BlobReader, ContentInfo, Error, GetOptions, GetResult, LinkOptions, Result, Span,
};

/// The key naming blob `digest` of `repo` in errors.
fn blob_key(repo: &str, digest: &Digest) -> String {
    format!("{repo}@{digest}")
}

/// Blob spans up to this size are read in the lookup's own blocking hop and sent with the
/// response head.
const SMALL_READ: u64 = 64 * 1024;

impl FsStorage {
    /// Link check, open, size and range in one blocking hop; a head request opens nothing.
    pub(super) async fn get_blob_impl(
        &self,
        repo: &str,
        digest: &Digest,
        options: GetOptions,
    ) -> Result<GetResult> {
        let link = self
            .layout
            .blob_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        let blob = self.layout.blob(digest);
        let key = blob_key(repo, digest);
        blocking(move || {
            if !is_regular_file(&link).map_err(io_error(&link))? {
                return Err(Error::not_found(key));
            }
            let not_found = |e: io::Error| match e.kind() {
                // A link to deleted content reads as absent.
                io::ErrorKind::NotFound => Error::not_found(key.clone()),
                _ => Error::io(blob.display().to_string(), e),
            };
            if options.head {
                let meta = fs::symlink_metadata(&blob).map_err(not_found)?;
                if !meta.file_type().is_file() {
                    return Err(Error::corrupt(
                        blob.display().to_string(),
                        "not a regular file",
                    ));
                }
                let size = meta.len();
                return Ok(GetResult::new(
                    size,
                    resolve_span(options.range, size),
                    None,
                ));
            }
            let mut file = open_read(&blob).map_err(not_found)?;
            let size = file.metadata().map_err(io_error(&blob))?.len();
            let span = resolve_span(options.range, size);
            let (first, len) = match span {
                Span::Whole => (0, size),
                Span::Range { first, last } => (first, last - first + 1),
                _ => return Ok(GetResult::new(size, span, None)),
            };
            if first > 0 {
                file.seek(SeekFrom::Start(first)).map_err(io_error(&blob))?;
            }
            let body = if len <= SMALL_READ {
                // Read here, in the hop already taken: the response then has its bytes at
                // once and sends them with its head, instead of a head and, a blocking-pool
                // read later, a body (a config blob or a small layer costs one hop, not two).
                let mut bytes = Vec::with_capacity(len as usize);
                (&mut file)
                    .take(len)
                    .read_to_end(&mut bytes)
                    .map_err(io_error(&blob))?;
                if (bytes.len() as u64) < len {
                    return Err(Error::corrupt(
                        blob.display().to_string(),
                        "shorter than its size",
                    ));
                }
                BlobReader::from_bytes(bytes.into())
            } else {
                BlobReader::from_file(file, len)
            };
            let body = Some(body);
            Ok(GetResult::new(size, span, body))
        })
        .await
    }

    pub(super) async fn stat_blob_impl(&self, digest: &Digest) -> Result<ContentInfo> {
        let blob = self.layout.blob(digest);
        let digest = digest.clone();
        blocking(move || {
            let meta = match fs::symlink_metadata(&blob) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::not_found(digest.as_str()))
                }
                Err(e) => return Err(Error::io(blob.display().to_string(), e)),
            };
            if !meta.file_type().is_file() {
                return Err(Error::corrupt(
                    blob.display().to_string(),
                    "not a regular file",
                ));
            }
            let touched = meta.modified().map_err(io_error(&blob))?;
            Ok(ContentInfo::new(digest, meta.len(), touched))
        })
        .await
    }

    pub(super) async fn link_blob_impl(
        &self,
        repo: &str,
        digest: &Digest,
        options: LinkOptions,
    ) -> Result<()> {
        let link = self
            .layout
            .blob_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        let from = match &options.from {
            Some(from) => Some((
                self.layout
                    .blob_link(from, digest)
                    .ok_or_else(|| invalid_name(from))?,
                blob_key(from, digest),
            )),
            None => None,
        };
        let blob = self.layout.blob(digest);
        let durable = self.durable;
        let key = digest.as_str().to_owned();
        let catalog = Arc::clone(&self.catalog);
        let locks = Arc::clone(&self.content_locks);
        let digest = digest.clone();
        let repo = repo.to_owned();
        blocking(move || {
            if let Some((from, from_key)) = from {
                if !is_regular_file(&from).map_err(io_error(&from))? {
                    return Err(Error::not_found(from_key));
                }
            }
            // Refreshing the mtime is also the existence check (and refuses a symlink).
            let _guard = locks.lock(&digest);
            set_touched(&blob).map_err(|e| Error::io(key, e))?;
            touch(&link, durable).map_err(io_error(&link))?;
            catalog.note(&repo);
            Ok(())
        })
        .await
    }

    pub(super) async fn unlink_blob_impl(&self, repo: &str, digest: &Digest) -> Result<()> {
        let link = self
            .layout
            .blob_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        let durable = self.durable;
        let key = blob_key(repo, digest);
        blocking(move || {
            if remove(&link, durable).map_err(io_error(&link))? {
                Ok(())
            } else {
                Err(Error::not_found(key))
            }
        })
        .await
    }
}
