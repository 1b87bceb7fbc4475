//! Crash-safe, symlink-refusing file operations. Everything here is blocking `std::fs`, run
//! inside [`blocking`].
//!
//! - Files with content are written to a fresh temp file in `tmp/` (same filesystem), flushed
//!   and optionally fsynced, then renamed into place; with `durable` the destination directory
//!   (and every directory created on the way) is fsynced too.
//! - Every open passes `O_NOFOLLOW` (on Unix), and every replace or remove first checks with
//!   `symlink_metadata` that the path is a regular file, so a symlink planted in the tree is
//!   refused, never followed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::storage::{Error, Result};

/// Name prefix of this backend's temp files in `tmp/`; [`remove_leftovers`] removes only these.
pub(super) const TEMP_PREFIX: &str = ".oci-tmp-";

/// Runs blocking filesystem work on tokio's blocking pool. One hop per storage call keeps the
/// syscall-to-thread-switch ratio high (each `tokio::fs` call would be its own hop).
pub(super) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(Error::Other {
            key: "blocking task".to_owned(),
            source: Box::new(e),
        }),
    }
}

/// An I/O error on `path`, sorted into its [`Error`] variant.
pub(super) fn io_error(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |e| Error::io(path.display().to_string(), e)
}

/// Unique temp file names: a random per-store part plus a counter. `create_new` guards
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
            prefix: format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()),
            counter: AtomicU64::new(0),
        }
    }

    pub(super) fn next(&self) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{}-{n}", self.prefix))
    }
}

/// Refuses to follow a symlink in the last path component.
pub(super) fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options
}

/// Opens an existing file for reading, refusing a symlink.
pub(super) fn open_read(path: &Path) -> io::Result<File> {
    no_follow(OpenOptions::new().read(true)).open(path)
}

/// An error for a path that exists but is not a regular file (a planted symlink, a directory).
fn not_regular(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a regular file: {}", path.display()),
    )
}

/// `Ok(true)` when `path` is a regular file, `Ok(false)` when nothing is there, an error for
/// anything else (a symlink is not followed).
pub(super) fn is_regular_file(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(true),
        Ok(_) => Err(not_regular(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates a new file at `path` (which must not exist), creating the parent directories first
/// if they are missing. `O_EXCL` never follows a symlink.
pub(super) fn create_new(path: &Path, durable: bool) -> io::Result<File> {
    let open = || no_follow(OpenOptions::new().read(true).write(true).create_new(true)).open(path);
    match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_parent(path, durable)?;
            open()
        }
        other => other,
    }
}

/// Renames `from` to `to`, creating `to`'s parent directories if missing, and fsyncs `to`'s
/// directory when durable. Refuses to replace anything but a regular file.
pub(super) fn rename_into_place(from: &Path, to: &Path, durable: bool) -> io::Result<()> {
    is_regular_file(to)?;
    move_into_place(from, to, durable)
}

/// Renames `from` to `to` whatever is at `to` (a rename never follows a symlink: a planted
/// one is replaced, not written through), creating `to`'s parent directories if missing, and
/// fsyncs `to`'s directory when durable. For content-addressed files, where whatever is there
/// already holds the same bytes.
pub(super) fn move_into_place(from: &Path, to: &Path, durable: bool) -> io::Result<()> {
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

/// Writes `data` to a fresh temp file (fsynced when durable) and hands its path to `place`;
/// the temp file is removed if anything fails.
fn via_temp(
    temp: &TempNames,
    data: &[u8],
    durable: bool,
    place: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp.next();
    let result = (|| {
        let mut file = create_new(&tmp, durable)?;
        file.write_all(data)?;
        if durable {
            file.sync_all()?;
        }
        drop(file);
        place(&tmp)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Atomically creates or replaces `dest` with `data`: readers see the old file or the new one,
/// never a partial one.
pub(super) fn write_atomic(
    temp: &TempNames,
    dest: &Path,
    data: &[u8],
    durable: bool,
) -> io::Result<()> {
    via_temp(temp, data, durable, |tmp| {
        rename_into_place(tmp, dest, durable)
    })
}

/// Creates `dest` with `data` unless something is there ([`io::ErrorKind::AlreadyExists`]),
/// atomically: the content is written to a temp file first and hard-linked into place, so a
/// reader racing the create (another request of a session being stored by its first byte, in
/// this process or another) sees no file or the whole one, never a partial one.
pub(super) fn create_atomic(
    temp: &TempNames,
    dest: &Path,
    data: &[u8],
    durable: bool,
) -> io::Result<()> {
    via_temp(temp, data, durable, |tmp| {
        let linked = match fs::hard_link(tmp, dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create_parent(dest, durable)?;
                fs::hard_link(tmp, dest)
            }
            other => other,
        };
        // The temp name goes whether or not the link was made (an error leaves `dest` as it was).
        let _ = fs::remove_file(tmp);
        linked?;
        if durable {
            sync_parent(dest)?;
        }
        Ok(())
    })
}

/// Creates an empty file at `path` unless a regular file is there. The file's existence is the
/// information, so no temp file is needed: there is no content to tear. `true` when created.
pub(super) fn touch(path: &Path, durable: bool) -> io::Result<bool> {
    match create_new(path, durable) {
        Ok(_) => {
            if durable {
                sync_parent(path)?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if is_regular_file(path)? {
                Ok(false)
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
}

/// Sets the modification time (the content's last-touched time) of the regular file `path`.
pub(super) fn set_touched(path: &Path) -> io::Result<()> {
    open_read(path)?.set_modified(SystemTime::now())
}

/// Removes the regular file `path`; `false` when nothing was there. Refuses anything else.
pub(super) fn remove(path: &Path, durable: bool) -> io::Result<bool> {
    if !is_regular_file(path)? {
        return Ok(false);
    }
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

/// Reads a whole small file; `None` when it does not exist. Refuses a symlink.
pub(super) fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    match open_read(path) {
        Ok(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The entries of a directory, or nothing when it does not exist.
pub(super) fn read_dir_optional(dir: &Path) -> io::Result<Option<fs::ReadDir>> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(Some(entries)),
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

/// True when `dir` is a real directory (not a symlink to one).
fn is_real_dir(dir: &Path) -> bool {
    fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_dir())
}

/// Removes what a crash left behind and this backend recognises as its own: temp files in
/// `tmp` named with [`TEMP_PREFIX`], and staged blobs (`<staged_prefix>*<data_suffix>`) in
/// `uploads`. Only regular files are removed, and neither directory is entered if it is a
/// symlink. Upload sessions (`<id>.json`, `<id>.data`) are kept. Best effort: failures are
/// ignored, a later start tries again.
pub(super) fn remove_leftovers(tmp: &Path, uploads: &Path, staged_prefix: &str, data_suffix: &str) {
    let remove_matching = |dir: &Path, matches: &dyn Fn(&str) -> bool| {
        if !is_real_dir(dir) {
            return;
        }
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            // `file_type` does not follow symlinks.
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            if entry.file_name().to_str().is_some_and(matches) {
                let _ = fs::remove_file(entry.path());
            }
        }
    };
    remove_matching(tmp, &|name| name.starts_with(TEMP_PREFIX));
    remove_matching(uploads, &|name| {
        name.starts_with(staged_prefix) && name.ends_with(data_suffix)
    });
}
