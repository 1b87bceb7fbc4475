//! Reading request bodies: streamed through a hash into an upload, or buffered with a cap.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use crate::error::{ErrorCode, RegistryError};
use crate::protocol::{Algorithm, Digest, Hasher};
use crate::storage::{BlobReader, UploadWriter};
use crate::telemetry;
use crate::worker::{Job, Worker};
use crate::BoxError;

/// Why a body could not be read.
fn body_error(e: BoxError) -> RegistryError {
    if let Some(stalled) = e.downcast_ref::<Stalled>() {
        // Answered (if the client still reads) and the connection closed, since the rest of
        // the body is never read.
        return RegistryError::new(ErrorCode::BlobUploadInvalid, stalled.to_string())
            .with_status(StatusCode::REQUEST_TIMEOUT);
    }
    RegistryError::new(
        ErrorCode::BlobUploadInvalid,
        format!("reading the request body failed: {e}"),
    )
}

/// The error of a body that sent nothing for its idle timeout.
#[derive(Debug)]
pub(crate) struct Stalled(Duration);

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the request body sent nothing for {} s; bytes acknowledged before are kept",
            self.0.as_secs_f64()
        )
    }
}

impl std::error::Error for Stalled {}

pin_project! {
    /// A request body that fails with [`Stalled`] when no frame arrives for `idle`.
    ///
    /// The timer is armed on the first pending poll and moved on lazily: a frame only records
    /// when it arrived, and the timer is reset only when it fires before the latest deadline,
    /// so a steady body costs one reset per idle period, not one per frame.
    pub(crate) struct IdleTimeout<B> {
        #[pin]
        body: B,
        idle: Duration,
        last_frame: Instant,
        // Boxed: `Sleep` is !Unpin and large; allocated on the first pending poll.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<B> IdleTimeout<B> {
    pub(crate) fn new(body: B, idle: Duration) -> Self {
        IdleTimeout {
            body,
            idle,
            last_frame: Instant::now(),
            timer: None,
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            *this.last_frame = Instant::now();
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        // `Duration::MAX` (or any deadline past what the clock holds) is no timeout.
        let Some(deadline) = this.last_frame.checked_add(*this.idle) else {
            return Poll::Pending;
        };
        loop {
            let timer = this
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            ready!(timer.as_mut().poll(cx));
            if timer.deadline() >= deadline {
                return Poll::Ready(Some(Err(Box::new(Stalled(*this.idle)))));
            }
            // It fired for an earlier frame's deadline: frames came since, so move it on.
            timer.as_mut().reset(deadline);
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The next non-empty data frame (trailers are skipped); `None` at the end of the body.
///
/// The frame's error is mapped here, so no `B::Error` (which may be !Send) is held across a
/// caller's await.
async fn next_data<B>(mut body: Pin<&mut B>) -> Result<Option<Bytes>, RegistryError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    loop {
        let frame = match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            Some(frame) => frame.map_err(|e| body_error(e.into()))?,
            None => return Ok(None),
        };
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
    }
}

/// How many bytes one hash batch takes. A body smaller than this is hashed inline.
const HASH_BATCH: usize = 1 << 20;

/// How many received bytes may wait for the hash (beyond the batch being hashed).
const HASH_QUEUE: usize = 2 * HASH_BATCH;

/// Hash jobs running at once, process-wide: twice the cores (at least 4). Hashing is all CPU,
/// so more jobs than cores only share the cores more thinly, and a thousand uploads catching
/// up on buffered bytes would otherwise fill the blocking pool with CPU-bound threads that a
/// blob read's short job then competes with for time (measured: a blob GET waited over 30 s
/// behind 1,000 such uploads on a busy 2-core machine).
fn hash_slots() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Arc::new(Semaphore::new((2 * cores).max(4)))
    })
}

/// A hash fed batch by batch on the blocking pool.
struct HashJob(Hasher);

impl Job for HashJob {
    type Batch = Vec<Bytes>;
    fn run(&mut self, batch: Vec<Bytes>) -> std::io::Result<()> {
        batch.iter().for_each(|data| self.0.update(data));
        Ok(())
    }
}

/// Streams `body` into `writer`, feeding `hasher`. Returns how many bytes were written.
///
/// Three stages overlap: this task receives frames and hands them to the writer (which writes
/// on the blocking pool), while batches of about [`HASH_BATCH`] bytes are hashed by a
/// [`Worker`] that keeps one blocking-pool thread while batches keep coming and gives it back
/// when the client is slow or stalled. At most [`HASH_QUEUE`] bytes wait for the hash, so
/// memory stays at a few batches per upload whatever the blob size. Frames are shared
/// (`Bytes`) between the hash and the write, never copied.
///
/// Cancel safe in the sense that matters: if the request is dropped, the writer (owned by the
/// caller) is dropped unsaved and the hash job finishes its queue on its own.
pub(crate) async fn stream_into<B>(
    body: B,
    writer: &mut dyn UploadWriter,
    hasher: &mut Hasher,
) -> Result<u64, RegistryError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut written = 0u64;
    let mut worker: Option<Worker<HashJob>> = None;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    while let Some(data) = next_data(body.as_mut()).await? {
        written += data.len() as u64;
        batch_len += data.len();
        batch.push(data.clone());
        writer.write(data).await?;
        if batch_len >= HASH_BATCH {
            let worker = worker.get_or_insert_with(|| {
                let state = std::mem::replace(hasher, Hasher::new(hasher.algorithm()));
                Worker::new(HashJob(state), HASH_QUEUE, Some(Arc::clone(hash_slots())))
            });
            let full = std::mem::take(&mut batch);
            worker
                .push(full, std::mem::take(&mut batch_len))
                .await
                .map_err(|e| RegistryError::internal(&e))?;
        }
    }
    if let Some(worker) = worker {
        *hasher = worker
            .finish()
            .await
            .map_err(|e| RegistryError::internal(&e))?
            .0;
    }
    // The tail (or a small body) is hashed here: less than one batch.
    batch.iter().for_each(|data| hasher.update(data));
    telemetry::blob_bytes_received(written);
    Ok(written)
}

async fn join_hash(job: JoinHandle<Hasher>) -> Result<Hasher, RegistryError> {
    job.await.map_err(|e| RegistryError::internal(&e))
}

/// Hashes `reader`'s bytes with `algorithm`, one blocking-pool job per batch read (for
/// re-hashing a session's stored bytes with another algorithm).
pub(crate) async fn hash_reader(
    reader: BlobReader,
    algorithm: Algorithm,
) -> Result<Digest, RegistryError> {
    use tokio::io::AsyncReadExt;
    let mut reader = reader.into_async_read();
    let mut hasher = Hasher::new(algorithm);
    loop {
        let mut buf = Vec::with_capacity(HASH_BATCH);
        while buf.len() < HASH_BATCH {
            let n = (&mut reader)
                .take((HASH_BATCH - buf.len()) as u64)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| RegistryError::internal(&e))?;
            if n == 0 {
                break;
            }
        }
        if buf.is_empty() {
            return Ok(hasher.finalize());
        }
        let more = buf.len() == HASH_BATCH;
        hasher = join_hash(tokio::task::spawn_blocking(move || {
            hasher.update(&buf);
            hasher
        }))
        .await?;
        if !more {
            return Ok(hasher.finalize());
        }
    }
}

/// Reads a whole small body (a manifest), refusing more than `limit` bytes with 413.
pub(crate) async fn read_limited<B>(body: B, limit: u64) -> Result<Bytes, RegistryError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut frames: Vec<Bytes> = Vec::new();
    let mut total = 0u64;
    while let Some(data) = next_data(body.as_mut()).await? {
        total += data.len() as u64;
        if total > limit {
            return Err(too_large(limit));
        }
        frames.push(data);
    }
    // The common single-frame case keeps the frame's bytes without copying.
    if frames.len() == 1 {
        return Ok(frames.pop().unwrap_or_default());
    }
    let mut buf = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
    for frame in frames {
        buf.extend_from_slice(&frame);
    }
    Ok(buf.freeze())
}

pub(crate) fn too_large(limit: u64) -> RegistryError {
    RegistryError::new(
        ErrorCode::SizeInvalid,
        format!("body exceeds the limit of {limit} bytes"),
    )
    .with_status(StatusCode::PAYLOAD_TOO_LARGE)
}
