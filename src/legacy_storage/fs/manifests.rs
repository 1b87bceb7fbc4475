//! Manifests: bytes stored as content-addressed blobs, membership as
//! `repositories/<name>/_manifests/<alg>/<hex>` files holding the media type.

use std::fs;
use std::io;

use bytes::Bytes;

use super::blobs::missing_data;
use super::cache::manifest_key;
use super::write::{blocking, read_optional, remove, write_atomic};
use super::{invalid_name, FsStorage};
use crate::protocol::Digest;
use crate::legacy_storage::{Error, Result, StoredManifest};

impl FsStorage {
    pub(super) async fn put_manifest_impl(
        &self,
        repo: &str,
        digest: &Digest,
        manifest: StoredManifest,
    ) -> Result<()> {
        let link = self
            .layout
            .manifest_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        // Cheap for manifest-sized data, and it keeps "a blob file has the bytes of its digest"
        // true whatever the caller does.
        if Digest::of(digest.algorithm(), &manifest.bytes) != *digest {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("manifest bytes do not hash to {digest}"),
            )));
        }
        let key = manifest_key(repo, digest);
        let _guard = self.locks.lock(&key).await;
        let linked_as = self.manifests.get(&key).ok().flatten();
        if linked_as.as_deref() == Some(manifest.media_type.as_str()) {
            return Ok(());
        }
        let blob = self.layout.blob(digest);
        let temp = std::sync::Arc::clone(&self.temp);
        let durable = self.durable;
        let bytes = manifest.bytes.clone();
        let media_type = manifest.media_type.clone();
        blocking(move || {
            if !blob.try_exists()? {
                write_atomic(&temp, &blob, &bytes, durable)?;
            }
            write_atomic(&temp, &link, media_type.as_bytes(), durable)?;
            Ok(())
        })
        .await?;
        self.content.insert(digest, &manifest.bytes);
        self.manifests.set(key, Some(manifest.media_type));
        Ok(())
    }

    /// The media type `repo` holds manifest `digest` with, if it does.
    pub(super) async fn manifest_media_type(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<String>> {
        let Some(link) = self.layout.manifest_link(repo, digest) else {
            return Ok(None);
        };
        let key = manifest_key(repo, digest);
        let miss = match self.manifests.get(&key) {
            Ok(hit) => return Ok(hit),
            Err(miss) => miss,
        };
        let media_type = blocking(move || match read_optional(&link)? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
                Error::Corrupt(format!("media type file is not UTF-8: {}", link.display()))
            }),
        })
        .await?;
        self.manifests.fill(key, media_type.clone(), miss);
        Ok(media_type)
    }

    pub(super) async fn get_manifest_impl(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>> {
        let Some(media_type) = self.manifest_media_type(repo, digest).await? else {
            return Ok(None);
        };
        let bytes = match self.content.get(digest) {
            Some(bytes) => bytes,
            None => {
                let blob = self.layout.blob(digest);
                let bytes = blocking(move || match fs::read(&blob) {
                    Ok(bytes) => Ok(Bytes::from(bytes)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing_data(&blob)),
                    Err(e) => Err(e.into()),
                })
                .await?;
                self.content.insert(digest, &bytes);
                bytes
            }
        };
        Ok(Some(StoredManifest { media_type, bytes }))
    }

    pub(super) async fn delete_manifest_impl(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let Some(link) = self.layout.manifest_link(repo, digest) else {
            return Ok(false);
        };
        if self.manifest_media_type(repo, digest).await?.is_none() {
            return Ok(false);
        }
        // Tags first: a crash in between leaves a manifest without tags, never dangling tags.
        for tag in self.tags_pointing_at(repo, digest).await? {
            self.delete_tag_if(repo, &tag, Some(digest)).await?;
        }
        let key = manifest_key(repo, digest);
        let _guard = self.locks.lock(&key).await;
        let durable = self.durable;
        let existed = blocking(move || Ok(remove(&link, durable)?)).await?;
        self.manifests.set(key, None);
        Ok(existed)
    }
}
