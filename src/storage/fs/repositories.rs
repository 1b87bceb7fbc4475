//! Repositories: directories under `repositories/`, nested like their names. A directory is
//! a repository when it has a `_blobs`, `_manifests` or `_tags` subdirectory; it stays one
//! after its last blob, manifest or tag is deleted (the empty subdirectories remain).
//!
//! The catalog is kept in memory: every repository this store writes into is noted, and the
//! first listing adds what one walk of the tree finds. A note made while the walk runs is kept
//! too, so the union misses nothing this store wrote.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use super::layout::{is_safe_name_component, REPO_BLOBS, REPO_MANIFESTS, REPO_TAGS};
use super::write::{blocking, io_error};
use super::FsStorage;
use crate::storage::{ListOptions, Page, Result};

/// The repositories known to exist.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    inner: Mutex<CatalogInner>,
    /// Held while the tree is walked, so only one walk runs.
    loading: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct CatalogInner {
    known: BTreeSet<String>,
    /// True once the tree was walked: `known` is then every repository.
    loaded: bool,
}

impl Catalog {
    fn lock(&self) -> MutexGuard<'_, CatalogInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that `repo` exists (after something was written into it).
    pub(super) fn note(&self, repo: &str) {
        let mut inner = self.lock();
        if !inner.known.contains(repo) {
            inner.known.insert(repo.to_owned());
        }
    }

    fn contains(&self, repo: &str) -> bool {
        self.lock().known.contains(repo)
    }

    fn page(&self, options: &ListOptions) -> Page<String> {
        let inner = self.lock();
        let lower = match &options.after {
            Some(after) => Bound::Excluded(after.as_str()),
            None => Bound::Unbounded,
        };
        let mut range = inner.known.range::<str, _>((lower, Bound::Unbounded));
        let items: Vec<String> = range.by_ref().take(options.limit).cloned().collect();
        let more = range.next().is_some();
        Page::new(items, more)
    }
}

impl FsStorage {
    pub(super) async fn repository_exists_impl(&self, repo: &str) -> Result<bool> {
        if self.catalog.contains(repo) {
            return Ok(true);
        }
        let Some(dir) = self.layout.repo(repo) else {
            return Ok(false);
        };
        let exists = blocking(move || {
            for marker in [REPO_MANIFESTS, REPO_TAGS, REPO_BLOBS] {
                let path = dir.join(marker);
                match fs::symlink_metadata(&path) {
                    Ok(meta) if meta.file_type().is_dir() => return Ok(true),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(&path)(e)),
                }
            }
            Ok(false)
        })
        .await?;
        if exists {
            self.catalog.note(repo);
        }
        Ok(exists)
    }

    pub(super) async fn list_repositories_impl(
        &self,
        options: ListOptions,
    ) -> Result<Page<String>> {
        if !self.catalog.lock().loaded {
            let _loading = self.catalog.loading.lock().await;
            if !self.catalog.lock().loaded {
                self.count_scan();
                let root = self.layout.repositories();
                let found = blocking(move || walk(root)).await?;
                let mut inner = self.catalog.lock();
                inner.known.extend(found);
                inner.loaded = true;
            }
        }
        Ok(self.catalog.page(&options))
    }
}

/// Every repository under `root`: one walk of the tree (symlinks are not followed).
fn walk(root: PathBuf) -> Result<Vec<String>> {
    let mut repositories = Vec::new();
    // Depth-first over (directory, name so far); names are at most 255 bytes, so the stack
    // stays small.
    let mut stack: Vec<(PathBuf, String)> = vec![(root, String::new())];
    while let Some((dir, name)) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            // Not created yet, or removed while we walked.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&dir)(e)),
        };
        let mut is_repository = false;
        for entry in entries {
            let entry = entry.map_err(io_error(&dir))?;
            // `file_type` does not follow symlinks.
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let file_name = entry.file_name();
            let Some(component) = file_name.to_str() else {
                continue;
            };
            if matches!(component, REPO_BLOBS | REPO_MANIFESTS | REPO_TAGS) {
                is_repository = true;
            } else if is_safe_name_component(component) {
                let child = if name.is_empty() {
                    component.to_owned()
                } else {
                    format!("{name}/{component}")
                };
                stack.push((entry.path(), child));
            }
        }
        if is_repository && !name.is_empty() {
            repositories.push(name);
        }
    }
    Ok(repositories)
}
