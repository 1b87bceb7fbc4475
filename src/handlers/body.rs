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

/// Streams `body` into `staged`, feeding `hasher`. Never holds more than one frame in memory.
/// Returns how many bytes were written.
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
    loop {
        // The frame's error is mapped inside this statement so no `B::Error` lives across the
        // write's await (it may be !Send).
        let frame = match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            Some(frame) => frame.map_err(|e| body_error(e.into()))?,
            None => break,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        hasher.update(&data);
        staged.write(&data).await?;
        written += data.len() as u64;
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
