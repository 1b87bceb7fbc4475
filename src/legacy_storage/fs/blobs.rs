//! Blobs: content in `blobs/<alg>/<hex>`, membership as empty link files in
//! `repositories/<name>/_blobs/<alg>/<hex>`.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::path::Path;

use super::staged::FsStagedBlob;
use super::write::{blocking, create_new, remove, touch};
use super::{invalid_name, FsStorage};
use crate::protocol::Digest;
use crate::legacy_storage::{BlobReader, Error, Result, StagedBlob};

impl FsStorage {
    pub(super) async fn blob_size_impl(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        let Some(link) = self.layout.blob_link(repo, digest) else {
            return Ok(None);
        };
        let blob = self.layout.blob(digest);
        blocking(move || {
            if !link.try_exists()? {
                return Ok(None);
            }
            match fs::metadata(&blob) {
                Ok(meta) => Ok(Some(meta.len())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing_data(&blob)),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    pub(super) async fn read_blob_impl(
        &self,
        repo: &str,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<BlobReader> {
        let link = self.layout.blob_link(repo, digest).ok_or(Error::NotFound)?;
        let blob = self.layout.blob(digest);
        let (file, len) = blocking(move || {
            if !link.try_exists()? {
                return Err(Error::NotFound);
            }
            let mut file = match File::open(&blob) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing_data(&blob)),
                Err(e) => return Err(e.into()),
            };
            let size = file.metadata()?.len();
            let (start, len) = span(range, size)?;
            if start > 0 {
                file.seek(SeekFrom::Start(start))?;
            }
            Ok((file, len))
        })
        .await?;
        Ok(BlobReader::from_file(file, len))
    }

    pub(super) async fn blob_exists_impl(&self, digest: &Digest) -> Result<bool> {
        let blob = self.layout.blob(digest);
        blocking(move || Ok(blob.try_exists()?)).await
    }

    pub(super) async fn link_blob_impl(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let link = self
            .layout
            .blob_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        let blob = self.layout.blob(digest);
        let durable = self.durable;
        blocking(move || {
            if !blob.try_exists()? {
                return Ok(false);
            }
            touch(&link, durable)?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn delete_blob_impl(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let Some(link) = self.layout.blob_link(repo, digest) else {
            return Ok(false);
        };
        let durable = self.durable;
        blocking(move || Ok(remove(&link, durable)?)).await
    }

    pub(super) async fn stage_blob_impl(&self) -> Result<Box<dyn StagedBlob>> {
        let path = self.temp.next();
        let durable = self.durable;
        let (path, file) = blocking(move || {
            let file = create_new(&path, durable)?;
            Ok((path, file))
        })
        .await?;
        Ok(Box::new(FsStagedBlob::new(self, path, file)))
    }
}

/// The byte span `(start, len)` of an inclusive range within a blob of `size` bytes. A range
/// running past the end is cut short; one starting past the end is an error (the caller checks
/// ranges against the size first, so this is a caller bug).
fn span(range: Option<(u64, u64)>, size: u64) -> Result<(u64, u64)> {
    match range {
        None => Ok((0, size)),
        Some((first, last)) if first <= last && first < size => {
            Ok((first, last.min(size - 1) - first + 1))
        }
        Some((first, last)) => Err(Error::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("range {first}-{last} not satisfiable for a blob of {size} bytes"),
        ))),
    }
}

/// A repository links a blob whose data file is gone.
pub(super) fn missing_data(blob: &Path) -> Error {
    Error::Corrupt(format!("linked blob data missing: {}", blob.display()))
}

#[cfg(test)]
mod tests {
    use super::span;

    #[test]
    fn spans() {
        assert_eq!(span(None, 10).unwrap(), (0, 10));
        assert_eq!(span(None, 0).unwrap(), (0, 0));
        assert_eq!(span(Some((0, 0)), 10).unwrap(), (0, 1));
        assert_eq!(span(Some((2, 5)), 10).unwrap(), (2, 4));
        assert_eq!(span(Some((9, 9)), 10).unwrap(), (9, 1));
        assert_eq!(span(Some((5, 100)), 10).unwrap(), (5, 5));
        assert!(span(Some((10, 10)), 10).is_err());
        assert!(span(Some((5, 4)), 10).is_err());
        assert!(span(Some((0, 0)), 0).is_err());
        assert!(span(Some((0, u64::MAX)), u64::MAX).is_ok());
    }
}
