//! Crash-safe file writes: a temp file in `uploads/` (same filesystem as everything else),
//! written and optionally fsynced, then renamed into place; directories created on demand and
//! fsynced when durable. Everything here is blocking `std::fs`, run inside [`blocking`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::legacy_storage::{Error, Result};

/// Runs blocking filesystem work on tokio's blocking pool. One hop per storage call keeps the
/// syscall-to-thread-switch ratio high (each `tokio::fs` call would be its own hop).
pub(super) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(Error::Io(io::Error::other(e))),
    }
}

/// Unique temp file names: a random per-store prefix plus a counter. `create_new` guards
/// against the impossible collision anyway.
#[derive(Debug)]
pub(super) struct TempNames {
    dir: PathBuf,
    prefix: String,
    counter: AtomicU64,
}

impl TempNames {
    pub(super) fn new(dir: PathBuf) -> Self {
        TempNames {
            dir,
            prefix: uuid::Uuid::new_v4().simple().to_string(),
            counter: AtomicU64::new(0),
        }
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn next(&self) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{}-{n}", self.prefix))
    }
}

/// Creates a new file at `path` (which must not exist), creating the parent directories first
/// if they are missing.
pub(super) fn create_new(path: &Path, durable: bool) -> io::Result<File> {
    let open = || OpenOptions::new().write(true).create_new(true).open(path);
    match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_parent(path, durable)?;
            open()
        }
        other => other,
    }
}

/// Renames `from` to `to`, creating `to`'s parent directories if missing, and fsyncs `to`'s
/// directory when durable.
pub(super) fn rename_into_place(from: &Path, to: &Path, durable: bool) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && from.exists() => {
            create_parent(to, durable)?;
            fs::rename(from, to)?;
        }
        other => other?,
    }
    if durable {
        sync_parent(to)?;
    }
    Ok(())
}

/// Atomically creates or replaces `dest` with `data`: readers see the old file or the new one,
/// never a partial one.
pub(super) fn write_atomic(
    temp: &TempNames,
    dest: &Path,
    data: &[u8],
    durable: bool,
) -> io::Result<()> {
    let tmp = temp.next();
    let result = (|| {
        let mut file = create_new(&tmp, durable)?;
        file.write_all(data)?;
        if durable {
            file.sync_all()?;
        }
        drop(file);
        rename_into_place(&tmp, dest, durable)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates an empty file at `path` unless it exists. The file's existence is the information,
/// so no temp file is needed: there is no content to tear. `true` when it was created.
pub(super) fn touch(path: &Path, durable: bool) -> io::Result<bool> {
    match create_new(path, durable) {
        Ok(_) => {
            if durable {
                sync_parent(path)?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes `path`; `false` when it did not exist.
pub(super) fn remove(path: &Path, durable: bool) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            if durable {
                sync_parent(path)?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads a whole small file; `None` when it does not exist.
pub(super) fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn create_parent(path: &Path, durable: bool) -> io::Result<()> {
    match path.parent() {
        Some(parent) => create_dirs(parent, durable),
        None => Ok(()),
    }
}

/// `create_dir_all`, except that when durable every directory it creates is made durable by
/// fsyncing its parent.
pub(super) fn create_dirs(dir: &Path, durable: bool) -> io::Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_parent(dir, durable)?;
            match fs::create_dir(dir) {
                Ok(()) => {}
                // Another task created it between our two attempts.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    }
    if durable {
        sync_parent(dir)?;
    }
    Ok(())
}

/// Fsyncs the directory holding `path`, making a create, rename or unlink in it durable.
#[cfg(unix)]
pub(super) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

/// Directories cannot be opened for fsync outside Unix; their metadata is journaled with the
/// file operations there (NTFS), so there is nothing more to do.
#[cfg(not(unix))]
pub(super) fn sync_parent(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// Removes every file left in the uploads directory (a crash mid-upload or mid-write leaves
/// them). Best effort: failures are ignored, a later start tries again.
pub(super) fn remove_leftovers(uploads: &Path) {
    let Ok(entries) = fs::read_dir(uploads) else {
        return;
    };
    for entry in entries.flatten() {
        let _ = fs::remove_file(entry.path());
    }
}
