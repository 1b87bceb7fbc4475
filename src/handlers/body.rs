//! Reading request bodies: streamed through a hash into a staged blob, or buffered with a cap.

use std::future::poll_fn;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body::Body;

use crate::error::{ErrorCode, RegistryError};
use crate::protocol::Hasher;
use crate::storage::StagedBlob;
use crate::BoxError;

/// Why a body could not be read.
fn body_error(e: BoxError) -> RegistryError {
    RegistryError::new(
        ErrorCode::BlobUploadInvalid,
        format!("reading the request body failed: {e}"),
    )
}

/// How many bytes are hashed per hop to the blocking pool. Smaller bodies are hashed inline.
const HASH_BATCH: usize = 1 << 20;

/// Streams `body` into `staged`, feeding `hasher`. Returns how many bytes were written.
///
/// Three stages overlap: this task receives a batch of about [`HASH_BATCH`] bytes while the
/// previous batch is hashed on the blocking pool and the staged blob writes it out, so a push
/// is not limited to one core doing receive, hash and write in turn. Memory stays at a few
/// batches per upload, whatever the blob size. Frames are shared (`Bytes`), not copied, between
/// the hash and the write.
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
    // The hash job in flight owns the hasher; it is handed back when the job ends.
    let mut in_flight: Option<tokio::task::JoinHandle<Hasher>> = None;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    let mut ended = false;
    while !ended {
        // The frame's error is mapped inside this statement so no `B::Error` lives across an
        // await (it may be !Send).
        let frame = match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            Some(frame) => Some(frame.map_err(|e| body_error(e.into()))?),
            None => {
                ended = true;
                None
            }
        };
        if let Some(data) = frame.and_then(|f| f.into_data().ok()) {
            if !data.is_empty() {
                staged.write(&data).await?;
                written += data.len() as u64;
                batch_len += data.len();
                batch.push(data);
            }
        }
        if batch_len < HASH_BATCH && !(ended && in_flight.is_some()) {
            continue;
        }
        // Take the hasher back from the previous job (or from the caller), hand it the batch.
        let mut state = match in_flight.take() {
            Some(job) => job.await.map_err(|e| RegistryError::internal(&e))?,
            None => std::mem::replace(hasher, Hasher::new(hasher.algorithm())),
        };
        let full = std::mem::take(&mut batch);
        batch_len = 0;
        in_flight = Some(tokio::task::spawn_blocking(move || {
            for data in &full {
                state.update(data);
            }
            state
        }));
    }
    match in_flight {
        Some(job) => *hasher = job.await.map_err(|e| RegistryError::internal(&e))?,
        // A small body never left this task.
        None => batch.iter().for_each(|data| hasher.update(data)),
    }
    Ok(written)
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
    loop {
        let frame = match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            Some(frame) => frame.map_err(|e| body_error(e.into()))?,
            None => break,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
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
