//! Repositories: directories under `repositories/`, nested like their names. A directory is
//! a repository when it has a `_blobs`, `_manifests` or `_tags` subdirectory; it stays one
//! after its last blob, manifest or tag is deleted (the empty subdirectories remain).

use std::fs;
use std::io;
use std::path::PathBuf;

use super::layout::{is_safe_name_component, REPO_BLOBS, REPO_MANIFESTS, REPO_TAGS};
use super::write::blocking;
use super::FsStorage;
use crate::legacy_storage::Result;

impl FsStorage {
    pub(super) async fn repository_exists_impl(&self, repo: &str) -> Result<bool> {
        let Some(dir) = self.layout.repo(repo) else {
            return Ok(false);
        };
        blocking(move || {
            for marker in [REPO_MANIFESTS, REPO_TAGS, REPO_BLOBS] {
                if dir.join(marker).try_exists()? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await
    }

    pub(super) async fn list_repositories_impl(&self) -> Result<Vec<String>> {
        let root = self.layout.repositories();
        blocking(move || {
            let mut repositories = Vec::new();
            // Depth-first over (directory, name so far); names are at most 255 bytes, so the
            // stack stays small.
            let mut stack: Vec<(PathBuf, String)> = vec![(root, String::new())];
            while let Some((dir, name)) = stack.pop() {
                let entries = match fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    // Not created yet, or removed while we walked.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                };
                let mut is_repository = false;
                for entry in entries {
                    let entry = entry?;
                    if !entry.file_type()?.is_dir() {
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
            repositories.sort_unstable();
            Ok(repositories)
        })
        .await
    }
}
