//! Manifests: bytes stored as content-addressed blobs, membership as
//! `repositories/<name>/_manifests/<alg>/<hex>` link records holding the media type, size and
//! subject, so neither `HEAD` nor delete parses the manifest.
//!
//! Puts and deletes of one repository are serialised by its stripe of `repo_locks`, held
//! across the disk writes and the cache and index updates. Order on disk: a put writes content,
//! link, referrers entry, then tags; a delete removes tags, referrers entry, then link. A crash
//! at any point leaves no tag or referrers entry pointing at a manifest the repository does
//! not hold.

use std::fs;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::cache::{manifest_key, tag_key};
use super::referrers::encode_entry;
use super::write::{
    blocking, io_error, is_regular_file, open_read, read_optional, remove, set_touched,
    write_atomic,
};
use super::{invalid_name, invalid_tag, FsStorage};
use crate::protocol::Digest;
use crate::storage::{Error, ManifestMeta, ManifestPut, Result, StoredManifest};

/// What a repository's manifest link file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LinkRecord {
    pub(super) media_type: String,
    pub(super) size: u64,
    /// The subject's digest text, when the manifest has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) subject: Option<String>,
}

/// The key naming manifest `digest` of `repo` in errors.
fn manifest_error_key(repo: &str, digest: &Digest) -> String {
    format!("{repo}@{digest}")
}

impl FsStorage {
    pub(super) async fn put_manifest_impl(&self, repo: &str, put: &ManifestPut) -> Result<()> {
        let digest = &put.digest;
        let key = manifest_error_key(repo, digest);
        let link = self
            .layout
            .manifest_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        let mut tag_paths = Vec::with_capacity(put.tags.len());
        for tag in &put.tags {
            let path = self
                .layout
                .tag(repo, tag)
                .ok_or_else(|| invalid_tag(repo, tag))?;
            tag_paths.push(path);
        }
        let referrer = match &put.referrer {
            Some((subject, entry)) => {
                if entry.digest != *digest {
                    return Err(Error::invalid_input(
                        key,
                        "referrers entry names another manifest",
                    ));
                }
                let path = self
                    .layout
                    .referrer(repo, subject, digest)
                    .ok_or_else(|| invalid_name(repo))?;
                Some((path, encode_entry(entry)?))
            }
            None => None,
        };
        // Cheap for manifest-sized data, and it keeps "a blob file has the bytes of its digest"
        // true whatever the caller does.
        if Digest::of(digest.algorithm(), &put.manifest.bytes) != *digest {
            return Err(Error::invalid_input(
                key,
                "manifest bytes do not hash to it",
            ));
        }
        let record = LinkRecord {
            media_type: put.manifest.media_type.clone(),
            size: put.manifest.bytes.len() as u64,
            subject: put.referrer.as_ref().map(|(s, _)| s.as_str().to_owned()),
        };
        let record_json = serde_json::to_vec(&record).map_err(|e| Error::Other {
            key: key.clone(),
            source: Box::new(e),
        })?;

        let blob = self.layout.blob(digest);
        let temp = Arc::clone(&self.temp);
        let durable = self.durable;
        let bytes = put.manifest.bytes.clone();
        let digest = digest.clone();
        let repo = repo.to_owned();
        let tags = put.tags.clone();
        let (tag_cache, manifests, content) = (
            Arc::clone(&self.tags),
            Arc::clone(&self.manifests),
            Arc::clone(&self.content),
        );
        let (tag_indexes, catalog) = (Arc::clone(&self.tag_indexes), Arc::clone(&self.catalog));
        let content_locks = Arc::clone(&self.content_locks);
        let guard = self.repo_locks.lock(&repo).await;
        // Disk writes and cache updates in one task that owns the lock (see the type docs).
        blocking(move || {
            let _guard = guard;
            let text = digest.as_str();
            let written = (|| {
                // Under the content's lock, so a collector cannot delete it in between.
                let content_guard = content_locks.lock(&digest);
                if is_regular_file(&blob).map_err(io_error(&blob))? {
                    // Re-pushed: refresh its last-touched time.
                    set_touched(&blob).map_err(io_error(&blob))?;
                } else {
                    write_atomic(&temp, &blob, &bytes, durable).map_err(io_error(&blob))?;
                }
                drop(content_guard);
                write_atomic(&temp, &link, &record_json, durable).map_err(io_error(&link))?;
                if let Some((path, entry)) = &referrer {
                    write_atomic(&temp, path, entry, durable).map_err(io_error(path))?;
                }
                for path in &tag_paths {
                    write_atomic(&temp, path, text.as_bytes(), durable).map_err(io_error(path))?;
                }
                Ok(())
            })();
            let mkey = manifest_key(&repo, &digest);
            if let Err(e) = written {
                // Part of it may be on disk: forget what we knew rather than guess.
                manifests.invalidate(&mkey);
                for tag in &tags {
                    tag_cache.invalidate(&tag_key(&repo, tag));
                }
                tag_indexes.forget(&repo);
                return Err(e);
            }
            content.insert(&digest, &bytes);
            manifests.set(mkey, Some(record));
            for tag in &tags {
                tag_cache.set(tag_key(&repo, tag), Some(digest.clone()));
            }
            tag_indexes.set(&repo, &tags, &digest);
            catalog.note(&repo);
            Ok(())
        })
        .await
    }

    /// The link record of manifest `digest` in `repo`, if `repo` holds it.
    pub(super) async fn manifest_link(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<LinkRecord>> {
        // Only a valid name's entry is ever cached, so a hit needs no path (nor its check).
        let key = manifest_key(repo, digest);
        let miss = match self.manifests.get(&key) {
            Ok(hit) => return Ok(hit),
            Err(miss) => miss,
        };
        let link = self
            .layout
            .manifest_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        let record = blocking(
            move || match read_optional(&link).map_err(io_error(&link))? {
                None => Ok(None),
                Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|_| {
                    Error::corrupt(link.display().to_string(), "bad manifest link record")
                }),
            },
        )
        .await?;
        self.manifests.fill(key, record.clone(), miss);
        Ok(record)
    }

    pub(super) async fn manifest_meta_impl(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<ManifestMeta> {
        match self.manifest_link(repo, digest).await? {
            Some(record) => Ok(ManifestMeta::new(record.media_type, record.size)),
            None => Err(Error::not_found(manifest_error_key(repo, digest))),
        }
    }

    pub(super) async fn get_manifest_impl(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<StoredManifest> {
        let Some(record) = self.manifest_link(repo, digest).await? else {
            return Err(Error::not_found(manifest_error_key(repo, digest)));
        };
        let bytes = match self.content.get(digest) {
            Some(bytes) => bytes,
            None => {
                let key = manifest_error_key(repo, digest);
                let blob = self.layout.blob(digest);
                let bytes = blocking(move || {
                    use std::io::Read;
                    let mut file = match open_read(&blob) {
                        Ok(file) => file,
                        // A link to deleted content reads as absent.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            return Err(Error::not_found(key))
                        }
                        Err(e) => return Err(Error::io(blob.display().to_string(), e)),
                    };
                    let mut bytes = Vec::new();
                    file.read_to_end(&mut bytes).map_err(io_error(&blob))?;
                    Ok(Bytes::from(bytes))
                })
                .await?;
                self.content.insert(digest, &bytes);
                bytes
            }
        };
        Ok(StoredManifest::new(record.media_type, bytes))
    }

    pub(super) async fn delete_manifest_impl(&self, repo: &str, digest: &Digest) -> Result<()> {
        let key = manifest_error_key(repo, digest);
        let link = self
            .layout
            .manifest_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        let guard = self.repo_locks.lock(repo).await;
        let Some(record) = self.manifest_link(repo, digest).await? else {
            return Err(Error::not_found(key));
        };
        // Which tags point at it, from the reverse index (no tag file is read).
        let index = self.tag_index_locked(repo).await?;
        let tags = index.tags_of(digest);
        let mut tag_paths = Vec::with_capacity(tags.len());
        for tag in &tags {
            tag_paths.push(
                self.layout
                    .tag(repo, tag)
                    .ok_or_else(|| invalid_tag(repo, tag))?,
            );
        }
        let referrer = match record.subject.as_deref().map(Digest::parse) {
            Some(Ok(subject)) => self.layout.referrer(repo, &subject, digest),
            Some(Err(_)) => {
                return Err(Error::corrupt(key, "bad subject in manifest link record"));
            }
            None => None,
        };
        let durable = self.durable;
        let (repo, digest) = (repo.to_owned(), digest.clone());
        let (tag_cache, manifests, tag_indexes) = (
            Arc::clone(&self.tags),
            Arc::clone(&self.manifests),
            Arc::clone(&self.tag_indexes),
        );
        // Disk writes and cache updates in one task that owns the lock (see the type docs).
        blocking(move || {
            let _guard = guard;
            let removed = (|| {
                for path in &tag_paths {
                    remove(path, durable).map_err(io_error(path))?;
                }
                if let Some(path) = &referrer {
                    remove(path, durable).map_err(io_error(path))?;
                    // Drop the subject's directory once empty (ignored if it is not).
                    if let Some(dir) = path.parent() {
                        let _ = fs::remove_dir(dir);
                    }
                }
                remove(&link, durable).map_err(io_error(&link))
            })();
            let mkey = manifest_key(&repo, &digest);
            match removed {
                Ok(existed) => {
                    for tag in &tags {
                        tag_cache.set(tag_key(&repo, tag), None);
                    }
                    index.remove_all(&tags);
                    manifests.set(mkey, None);
                    if existed {
                        Ok(())
                    } else {
                        Err(Error::not_found(key))
                    }
                }
                Err(e) => {
                    for tag in &tags {
                        tag_cache.invalidate(&tag_key(&repo, tag));
                    }
                    tag_indexes.forget(&repo);
                    manifests.invalidate(&mkey);
                    Err(e)
                }
            }
        })
        .await
    }
}
