//! Tags: `repositories/<name>/_tags/<tag>` files holding the digest text.

use std::fs;
use std::io;

use super::cache::tag_key;
use super::layout::{is_safe_tag, REPO_BLOBS, REPO_MANIFESTS};
use super::write::{blocking, read_optional, remove, write_atomic};
use super::FsStorage;
use crate::protocol::Digest;
use crate::legacy_storage::{Error, Result};

impl FsStorage {
    pub(super) async fn resolve_tag_impl(&self, repo: &str, tag: &str) -> Result<Option<Digest>> {
        let Some(path) = self.layout.tag(repo, tag) else {
            return Ok(None);
        };
        let key = tag_key(repo, tag);
        let miss = match self.tags.get(&key) {
            Ok(hit) => return Ok(hit),
            Err(miss) => miss,
        };
        let digest = blocking(move || match read_optional(&path)? {
            None => Ok(None),
            Some(text) => parse_tag_file(&text, &path).map(Some),
        })
        .await?;
        self.tags.fill(key, digest.clone(), miss);
        Ok(digest)
    }

    pub(super) async fn set_tag_impl(&self, repo: &str, tag: &str, digest: &Digest) -> Result<()> {
        let path = self.layout.tag(repo, tag).ok_or_else(|| {
            Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsafe repository name or tag {repo:?}:{tag:?}"),
            ))
        })?;
        let key = tag_key(repo, tag);
        let _guard = self.locks.lock(&key).await;
        if self.tags.get(&key).ok().flatten().as_ref() == Some(digest) {
            return Ok(());
        }
        let temp = std::sync::Arc::clone(&self.temp);
        let durable = self.durable;
        let text = digest.as_str().to_owned();
        blocking(move || Ok(write_atomic(&temp, &path, text.as_bytes(), durable)?)).await?;
        self.tags.set(key, Some(digest.clone()));
        Ok(())
    }

    pub(super) async fn delete_tag_impl(&self, repo: &str, tag: &str) -> Result<bool> {
        self.delete_tag_if(repo, tag, None).await
    }

    /// Deletes `tag`, but only if it points at `expected` when that is given (so a tag
    /// re-pointed since it was listed survives a manifest delete).
    pub(super) async fn delete_tag_if(
        &self,
        repo: &str,
        tag: &str,
        expected: Option<&Digest>,
    ) -> Result<bool> {
        let Some(path) = self.layout.tag(repo, tag) else {
            return Ok(false);
        };
        let key = tag_key(repo, tag);
        let _guard = self.locks.lock(&key).await;
        let durable = self.durable;
        let expected = expected.cloned();
        let removed = blocking(move || {
            if let Some(expected) = expected {
                match read_optional(&path)? {
                    Some(text) if parse_tag_file(&text, &path).ok() == Some(expected) => {}
                    // Gone, re-pointed, or unreadable: leave it alone.
                    _ => return Ok(None),
                }
            }
            Ok(Some(remove(&path, durable)?))
        })
        .await?;
        match removed {
            Some(existed) => {
                self.tags.set(key, None);
                Ok(existed)
            }
            None => Ok(false),
        }
    }

    pub(super) async fn list_tags_impl(&self, repo: &str) -> Result<Option<Vec<String>>> {
        let (Some(dir), Some(repo_dir)) = (self.layout.tags(repo), self.layout.repo(repo)) else {
            return Ok(None);
        };
        blocking(move || {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let known = repo_dir.join(REPO_BLOBS).try_exists()?
                        || repo_dir.join(REPO_MANIFESTS).try_exists()?;
                    return Ok(known.then(Vec::new));
                }
                Err(e) => return Err(e.into()),
            };
            let mut tags = Vec::new();
            for entry in entries {
                let entry = entry?;
                if let Some(name) = entry.file_name().to_str() {
                    if is_safe_tag(name) {
                        tags.push(name.to_owned());
                    }
                }
            }
            tags.sort_unstable();
            Ok(Some(tags))
        })
        .await
    }

    /// Tags of `repo` whose files point at `digest` (a directory scan: deletes are rare).
    pub(super) async fn tags_pointing_at(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Vec<String>> {
        let Some(dir) = self.layout.tags(repo) else {
            return Ok(Vec::new());
        };
        let digest = digest.clone();
        blocking(move || {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut tags = Vec::new();
            for entry in entries {
                let entry = entry?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if !is_safe_tag(&name) {
                    continue;
                }
                if let Some(text) = read_optional(&entry.path())? {
                    if text == digest.as_str().as_bytes() {
                        tags.push(name);
                    }
                }
            }
            Ok(tags)
        })
        .await
    }
}

/// A tag file holds exactly the digest text.
fn parse_tag_file(text: &[u8], path: &std::path::Path) -> Result<Digest> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|text| Digest::parse(text).ok())
        .ok_or_else(|| Error::Corrupt(format!("tag file holds no digest: {}", path.display())))
}
