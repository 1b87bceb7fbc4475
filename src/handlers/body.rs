//! Reading request bodies: streamed through a hash into a staged blob, or buffered with a cap.

use std::future::poll_fn;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body::Body;

use crate::error::{ErrorCode, RegistryError};
use crate::protocol::Hasher;
use crate::legacy_storage::StagedBlob;
use crate::BoxError;

/// Why a body could not be read.
fn body_error(e: BoxError) -> RegistryError {
    RegistryError::new(
        ErrorCode::BlobUploadInvalid,
        format!("reading the request body failed: {e}"),
    )
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

/// How many bytes go to the hashing thread at a time. A body smaller than this is hashed inline.
const HASH_BATCH: usize = 1 << 20;
/// Batches queued for the hashing thread before the receiver waits: room to absorb jitter.
const HASH_QUEUE: usize = 4;

/// Streams `body` into `staged`, feeding `hasher`. Returns how many bytes were written.
///
/// Three stages overlap: this task receives frames and queues them for the staged blob (which
/// writes on the blocking pool), while a hashing thread digests batches of about
/// [`HASH_BATCH`] bytes from a bounded queue. A push is then not limited to one core doing
/// receive, hash and write in turn, and memory stays at a few batches per upload whatever the
/// blob size. Frames are shared (`Bytes`) between the hash and the write, never copied.
pub(crate) async fn stream_into<B>(
    body: B,
    staged: &mut dyn StagedBlob,
    hasher: &mut Hasher,
) -> Result<u64, RegistryError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut written = 0u64;
    let mut worker: Option<HashWorker> = None;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    while let Some(data) = next_data(body.as_mut()).await? {
        written += data.len() as u64;
        batch_len += data.len();
        batch.push(data.clone());
        staged.write(data).await?;
        if batch_len >= HASH_BATCH {
            let worker = worker.get_or_insert_with(|| HashWorker::start(hasher));
            worker.send(std::mem::take(&mut batch)).await?;
            batch_len = 0;
        }
    }
    match worker {
        Some(mut worker) => {
            if !batch.is_empty() {
                worker.send(batch).await?;
            }
            *hasher = worker.finish().await?;
        }
        // A small body never left this task.
        None => batch.iter().for_each(|data| hasher.update(data)),
    }
    Ok(written)
}

/// A blocking-pool thread that owns an upload's hash state while the body streams in.
struct HashWorker {
    queue: tokio::sync::mpsc::Sender<Vec<Bytes>>,
    done: tokio::task::JoinHandle<Hasher>,
}

impl HashWorker {
    /// Moves `hasher`'s state to a new thread (leaving a fresh one behind until `finish`).
    fn start(hasher: &mut Hasher) -> Self {
        let mut state = std::mem::replace(hasher, Hasher::new(hasher.algorithm()));
        let (queue, mut batches) = tokio::sync::mpsc::channel::<Vec<Bytes>>(HASH_QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            while let Some(batch) = batches.blocking_recv() {
                batch.iter().for_each(|data| state.update(data));
            }
            state
        });
        HashWorker { queue, done }
    }

    async fn send(&mut self, batch: Vec<Bytes>) -> Result<(), RegistryError> {
        self.queue
            .send(batch)
            .await
            .map_err(|e| RegistryError::internal(&e))
    }

    /// Closes the queue and takes the state back once every batch is hashed.
    async fn finish(self) -> Result<Hasher, RegistryError> {
        drop(self.queue);
        self.done.await.map_err(|e| RegistryError::internal(&e))
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
