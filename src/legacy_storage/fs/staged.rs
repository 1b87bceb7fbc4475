//! [`FsStagedBlob`]: a blob upload being written to a temp file in `uploads/`.
//!
//! Written frames are queued (shared `Bytes`, not copied) until they reach [`CHUNK`] bytes, and
//! each full chunk is written on the blocking pool while the caller goes on receiving the next
//! one (at most one chunk in flight, so memory stays at two chunks per upload whatever the blob
//! size). A write error
//! surfaces on the next `write` or on `commit`, after which the staged blob refuses further use.
//!
//! If a `write` future is dropped part way (a client gone mid-request), the bytes it was given
//! are either all kept or none; [`StagedBlob::len`] tells which.

use std::fs::{self, File};
use std::io::{self, Write};
use std::mem;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::layout::Layout;
use super::write::{blocking, rename_into_place, touch};
use super::{invalid_name, FsStorage};
use crate::protocol::Digest;
use crate::legacy_storage::{BoxFuture, Error, Result, StagedBlob};

/// Bytes buffered before a write to the file. Big writes mean few blocking-pool hops.
const CHUNK: usize = 1 << 20;

type InFlight = JoinHandle<io::Result<(File, Vec<Bytes>)>>;

/// A staged blob of [`FsStorage`].
pub(super) struct FsStagedBlob {
    layout: Arc<Layout>,
    durable: bool,
    /// The temp file's path; `None` once it was renamed away or removed.
    path: Option<PathBuf>,
    /// The file, unless a chunk write holds it (or an earlier failure lost it).
    file: Option<File>,
    /// The chunk being written, which hands back the file and its emptied buffer.
    in_flight: Option<InFlight>,
    /// Frames waiting for the next chunk write, and how many bytes they hold.
    queued: Vec<Bytes>,
    queued_len: usize,
    spare: Vec<Bytes>,
    len: u64,
}

impl std::fmt::Debug for FsStagedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsStagedBlob")
            .field("path", &self.path)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl FsStagedBlob {
    pub(super) fn new(storage: &FsStorage, path: PathBuf, file: File) -> Self {
        FsStagedBlob {
            layout: Arc::clone(&storage.layout),
            durable: storage.durable,
            path: Some(path),
            file: Some(file),
            in_flight: None,
            queued: Vec::new(),
            queued_len: 0,
            spare: Vec::new(),
            len: 0,
        }
    }

    /// Waits for the chunk in flight, if any, and takes the file back.
    ///
    /// Cancel safe: the join handle stays in `self` until it has completed.
    async fn take_file(&mut self) -> Result<File> {
        if let Some(file) = self.file.take() {
            return Ok(file);
        }
        let Some(in_flight) = self.in_flight.as_mut() else {
            return Err(Error::Io(io::Error::other(
                "staged blob unusable after an earlier write error",
            )));
        };
        let joined = in_flight.await;
        self.in_flight = None;
        let (file, mut spare) = joined.map_err(io::Error::other)??;
        spare.clear();
        self.spare = spare;
        Ok(file)
    }

    /// Hands the buffered chunk to the blocking pool.
    async fn start_write(&mut self) -> Result<()> {
        let mut file = self.take_file().await?;
        let chunk = mem::replace(&mut self.queued, mem::take(&mut self.spare));
        self.queued_len = 0;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            write_frames(&mut file, &chunk)?;
            Ok((file, chunk))
        }));
        Ok(())
    }

    async fn commit_inner(&mut self, repo: &str, digest: &Digest) -> Result<()> {
        let link = self
            .layout
            .blob_link(repo, digest)
            .ok_or_else(|| invalid_name(repo))?;
        let blob = self.layout.blob(digest);
        let Some(path) = self.path.clone() else {
            return Err(Error::Io(io::Error::other("staged blob already committed")));
        };
        let mut file = self.take_file().await?;
        let tail = mem::take(&mut self.queued);
        self.queued_len = 0;
        let durable = self.durable;
        blocking(move || {
            write_frames(&mut file, &tail)?;
            if durable {
                file.sync_all()?;
            }
            drop(file);
            if blob.try_exists()? {
                // Same digest, same bytes: keep the existing file (dedupe).
                fs::remove_file(&path)?;
            } else {
                // A concurrent commit of the same digest may win the race; the rename then
                // replaces identical bytes, and both commits succeed.
                rename_into_place(&path, &blob, durable)?;
            }
            touch(&link, durable)?;
            Ok(())
        })
        .await?;
        self.path = None;
        Ok(())
    }
}

impl StagedBlob for FsStagedBlob {
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.len += data.len() as u64;
            self.queued_len += data.len();
            self.queued.push(data);
            if self.queued_len >= CHUNK {
                self.start_write().await?;
            }
            Ok(())
        })
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn commit<'a>(
        mut self: Box<Self>,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.commit_inner(repo, digest).await })
    }
}

impl Drop for FsStagedBlob {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // A chunk still in flight finishes writing to the unlinked file, which is harmless.
            let _ = fs::remove_file(path);
        }
    }
}

/// Writes queued frames in order, with as few syscalls as `write_vectored` allows.
fn write_frames(file: &mut File, frames: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> = frames.iter().map(|f| io::IoSlice::new(f)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = file.write_vectored(rest)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        io::IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}
