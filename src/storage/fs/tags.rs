//! Tags: `repositories/<name>/_tags/<tag>` files holding the digest text, plus a per-repository
//! in-memory index (sorted tags and, for deletes, the tags of each digest).
//!
//! The index is loaded on first use by one directory scan, made while holding the repository's
//! lock (so no write of this store races it), then kept coherent by this store's writes, which
//! update it under the same lock after writing disk. A write that fails part way forgets the
//! index; the next use scans again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use super::cache::tag_key;
use super::layout::is_safe_tag;
use super::write::{blocking, io_error, read_dir_optional, read_optional, remove};
use super::{invalid_name, invalid_tag, FsStorage};
use crate::protocol::Digest;
use crate::storage::{Error, ListOptions, Page, Result};

/// The loaded tag indexes, by repository.
#[derive(Debug, Default)]
pub(super) struct TagIndexes {
    map: Mutex<HashMap<String, Arc<TagIndex>>>,
}

impl TagIndexes {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<TagIndex>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, repo: &str) -> Option<Arc<TagIndex>> {
        self.lock().get(repo).cloned()
    }

    /// Drops `repo`'s index (its disk state is unknown after a failed write).
    pub(super) fn forget(&self, repo: &str) {
        self.lock().remove(repo);
    }

    /// Points `tags` of `repo` at `digest`, if the index is loaded.
    pub(super) fn set(&self, repo: &str, tags: &[String], digest: &Digest) {
        if let Some(index) = self.get(repo) {
            let mut inner = index.lock();
            for tag in tags {
                inner.set(tag, digest);
            }
        }
    }
}

/// One repository's tags.
#[derive(Debug, Default)]
pub(super) struct TagIndex {
    inner: Mutex<IndexInner>,
}

#[derive(Debug, Default)]
struct IndexInner {
    tags: BTreeMap<String, Digest>,
    by_digest: HashMap<Digest, BTreeSet<String>>,
}

impl IndexInner {
    fn set(&mut self, tag: &str, digest: &Digest) {
        if let Some(old) = self.tags.insert(tag.to_owned(), digest.clone()) {
            self.unlink(tag, &old);
        }
        self.by_digest
            .entry(digest.clone())
            .or_default()
            .insert(tag.to_owned());
    }

    fn remove(&mut self, tag: &str) {
        if let Some(old) = self.tags.remove(tag) {
            self.unlink(tag, &old);
        }
    }

    fn unlink(&mut self, tag: &str, digest: &Digest) {
        if let Some(tags) = self.by_digest.get_mut(digest) {
            tags.remove(tag);
            if tags.is_empty() {
                self.by_digest.remove(digest);
            }
        }
    }
}

impl TagIndex {
    fn lock(&self) -> MutexGuard<'_, IndexInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tags pointing at `digest`.
    pub(super) fn tags_of(&self, digest: &Digest) -> Vec<String> {
        self.lock()
            .by_digest
            .get(digest)
            .map(|tags| tags.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn remove_all(&self, tags: &[String]) {
        let mut inner = self.lock();
        for tag in tags {
            inner.remove(tag);
        }
    }

    /// One page: tags strictly after `after`, at most `limit`.
    fn page(&self, options: &ListOptions) -> (Page<String>, bool) {
        let inner = self.lock();
        let lower = match &options.after {
            Some(after) => Bound::Excluded(after.as_str()),
            None => Bound::Unbounded,
        };
        let mut range = inner.tags.range::<str, _>((lower, Bound::Unbounded));
        let items: Vec<String> = range
            .by_ref()
            .take(options.limit)
            .map(|(tag, _)| tag.clone())
            .collect();
        let more = range.next().is_some();
        (Page::new(items, more), inner.tags.is_empty())
    }
}

impl FsStorage {
    /// `repo`'s tag index, loading it (one directory scan) if needed. The caller holds the
    /// repository's lock.
    pub(super) async fn tag_index_locked(&self, repo: &str) -> Result<Arc<TagIndex>> {
        if let Some(index) = self.tag_indexes.get(repo) {
            return Ok(index);
        }
        let dir = self.layout.tags(repo).ok_or_else(|| invalid_name(repo))?;
        self.count_scan();
        let inner = blocking(move || {
            let mut inner = IndexInner::default();
            let Some(entries) = read_dir_optional(&dir).map_err(io_error(&dir))? else {
                return Ok(inner);
            };
            for entry in entries {
                let entry = entry.map_err(io_error(&dir))?;
                let name = entry.file_name();
                let Some(tag) = name.to_str().filter(|t| is_safe_tag(t)) else {
                    continue;
                };
                // `file_type` does not follow symlinks: a planted one is not a tag.
                if !entry.file_type().is_ok_and(|t| t.is_file()) {
                    tracing::warn!(path = %entry.path().display(), "skipping non-file tag entry");
                    continue;
                }
                let path = entry.path();
                // Removed since the directory was read: skip it.
                let Some(text) = read_optional(&path).map_err(io_error(&path))? else {
                    continue;
                };
                match parse_tag_file(&text) {
                    Some(digest) => inner.set(tag, &digest),
                    None => tracing::warn!(path = %path.display(), "skipping corrupt tag file"),
                }
            }
            Ok(inner)
        })
        .await?;
        let index = Arc::new(TagIndex {
            inner: Mutex::new(inner),
        });
        self.tag_indexes
            .lock()
            .insert(repo.to_owned(), Arc::clone(&index));
        Ok(index)
    }

    /// `repo`'s tag index, loaded under the repository's lock if needed.
    async fn tag_index(&self, repo: &str) -> Result<Arc<TagIndex>> {
        if let Some(index) = self.tag_indexes.get(repo) {
            return Ok(index);
        }
        let _guard = self.repo_locks.lock(repo).await;
        self.tag_index_locked(repo).await
    }

    pub(super) async fn get_tag_impl(&self, repo: &str, tag: &str) -> Result<Digest> {
        // Only a valid name's and tag's entry is ever cached, so a hit needs no path.
        let key = tag_key(repo, tag);
        let miss = match self.tags.get(&key) {
            Ok(Some(digest)) => return Ok(digest),
            Ok(None) => return Err(Error::not_found(key)),
            Err(miss) => miss,
        };
        let path = self
            .layout
            .tag(repo, tag)
            .ok_or_else(|| invalid_tag(repo, tag))?;
        let digest = blocking(
            move || match read_optional(&path).map_err(io_error(&path))? {
                None => Ok(None),
                Some(text) => parse_tag_file(&text).map(Some).ok_or_else(|| {
                    Error::corrupt(path.display().to_string(), "tag file holds no digest")
                }),
            },
        )
        .await?;
        self.tags.fill(key.clone(), digest.clone(), miss);
        digest.ok_or_else(|| Error::not_found(key))
    }

    pub(super) async fn delete_tag_impl(&self, repo: &str, tag: &str) -> Result<()> {
        let path = self
            .layout
            .tag(repo, tag)
            .ok_or_else(|| invalid_tag(repo, tag))?;
        let key = tag_key(repo, tag);
        let durable = self.durable;
        let (tag_cache, tag_indexes) = (Arc::clone(&self.tags), Arc::clone(&self.tag_indexes));
        let (repo, tag) = (repo.to_owned(), tag.to_owned());
        let guard = self.repo_locks.lock(&repo).await;
        // Disk write and cache updates in one task that owns the lock (see the type docs).
        blocking(move || {
            let _guard = guard;
            match remove(&path, durable) {
                Ok(existed) => {
                    tag_cache.set(key.clone(), None);
                    if let Some(index) = tag_indexes.get(&repo) {
                        index.lock().remove(&tag);
                    }
                    if existed {
                        Ok(())
                    } else {
                        Err(Error::not_found(key))
                    }
                }
                Err(e) => {
                    tag_cache.invalidate(&key);
                    Err(io_error(&path)(e))
                }
            }
        })
        .await
    }

    pub(super) async fn list_tags_impl(
        &self,
        repo: &str,
        options: ListOptions,
    ) -> Result<Page<String>> {
        if self.layout.repo(repo).is_none() {
            return Err(invalid_name(repo));
        }
        let index = self.tag_index(repo).await?;
        let (page, no_tags) = index.page(&options);
        if no_tags && !self.repository_exists_impl(repo).await? {
            return Err(Error::not_found(repo));
        }
        Ok(page)
    }
}

/// A tag file holds exactly the digest text.
fn parse_tag_file(text: &[u8]) -> Option<Digest> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|text| Digest::parse(text).ok())
}
