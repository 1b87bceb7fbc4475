//! Response bodies: the registry's own, or the inner service's untouched.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::AsyncRead;
use tokio::task::JoinHandle;
use tokio_util::io::poll_read_buf;

use crate::storage::{BlobReader, BodySource};
use crate::BoxError;

/// How much of a blob one frame carries at most.
const CHUNK: usize = 256 * 1024;

pin_project! {
    /// The response body of [`Oci`](crate::Oci): the registry's, or the inner service's.
    ///
    /// See the [crate docs](crate) for an example.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Registry { body: RegistryBody },
        Inner { #[pin] body: B },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn registry(body: RegistryBody) -> Self {
        ResponseBody {
            kind: Kind::Registry { body },
        }
    }

    pub(crate) fn inner(body: B) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Registry { body } => f.debug_tuple("ResponseBody::Registry").field(body).finish(),
            Kind::Inner { body } => f.debug_tuple("ResponseBody::Inner").field(body).finish(),
        }
    }
}

impl<B> Body for ResponseBody<B>
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
        match self.project().kind.project() {
            KindProj::Registry { body } => Pin::new(body).poll_frame(cx).map_err(Into::into),
            KindProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Registry { body } => body.is_end_stream(),
            Kind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Registry { body } => body.size_hint(),
            Kind::Inner { body } => body.size_hint(),
        }
    }
}

/// The registry's own response bodies: a buffer, or a blob streamed from storage.
pub struct RegistryBody {
    kind: RegistryKind,
}

enum RegistryKind {
    Full(Option<Bytes>),
    /// A local file read on the blocking pool, one chunk ahead of the network.
    File {
        /// The file, unless a read holds it.
        file: Option<std::fs::File>,
        /// Bytes not yet handed to the network.
        remaining: u64,
        /// Bytes not yet asked of the file.
        unread: u64,
        pending: Option<JoinHandle<io::Result<(std::fs::File, Bytes)>>>,
        /// Read buffers the network has finished with, for the next reads.
        spare: Buffers,
    },
    Stream {
        reader: Pin<Box<dyn AsyncRead + Send>>,
        remaining: u64,
        buf: BytesMut,
    },
}

impl RegistryBody {
    /// An empty body.
    pub fn empty() -> Self {
        RegistryBody {
            kind: RegistryKind::Full(None),
        }
    }

    /// A body of these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        RegistryBody {
            kind: RegistryKind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// A body that streams exactly `blob.len()` bytes of a blob.
    pub fn blob(blob: BlobReader) -> Self {
        let kind = match blob.into_source() {
            (BodySource::File(file), len) => RegistryKind::File {
                file: Some(file),
                remaining: len,
                unread: len,
                pending: None,
                spare: Buffers::default(),
            },
            (BodySource::Reader(reader), len) => RegistryKind::Stream {
                reader,
                remaining: len,
                buf: BytesMut::new(),
            },
            // Ready at the first poll, so the head and the bytes leave in one write.
            (BodySource::Bytes(bytes), _) => {
                RegistryKind::Full((!bytes.is_empty()).then_some(bytes))
            }
        };
        RegistryBody { kind }
    }
}

impl fmt::Debug for RegistryBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RegistryKind::Full(b) => f
                .debug_struct("RegistryBody::Full")
                .field("len", &b.as_ref().map_or(0, Bytes::len))
                .finish(),
            RegistryKind::Stream { remaining, .. } | RegistryKind::File { remaining, .. } => f
                .debug_struct("RegistryBody::Blob")
                .field("remaining", remaining)
                .finish(),
        }
    }
}

impl Body for RegistryBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().kind {
            RegistryKind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            RegistryKind::File {
                file,
                remaining,
                unread,
                pending,
                spare,
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                if pending.is_none() {
                    *pending = start_read(file, unread, spare);
                }
                let Some(job) = pending.as_mut() else {
                    return Poll::Ready(Some(Err(eof())));
                };
                let (back, chunk) = ready!(Pin::new(job).poll(cx)).map_err(io::Error::other)??;
                *pending = None;
                *file = Some(back);
                *remaining = remaining.saturating_sub(chunk.len() as u64);
                // Read ahead while this chunk goes out.
                if *unread > 0 {
                    *pending = start_read(file, unread, spare);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            RegistryKind::Stream {
                reader,
                remaining,
                buf,
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = usize::try_from(*remaining).unwrap_or(CHUNK).min(CHUNK);
                if buf.capacity() < want {
                    // A fresh allocation per frame: the previous frame's bytes were handed off.
                    *buf = BytesMut::with_capacity(want);
                }
                let n = ready!(poll_read_buf(reader.as_mut(), cx, buf))?;
                if n == 0 {
                    return Poll::Ready(Some(Err(eof())));
                }
                let take = buf
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                let chunk = buf.split_to(take).freeze();
                buf.clear();
                *remaining -= chunk.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            RegistryKind::Full(b) => b.is_none(),
            RegistryKind::Stream { remaining, .. } | RegistryKind::File { remaining, .. } => {
                *remaining == 0
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            RegistryKind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            RegistryKind::Stream { remaining, .. } | RegistryKind::File { remaining, .. } => {
                SizeHint::with_exact(*remaining)
            }
        }
    }
}

/// How much of a file one blocking read takes.
const FILE_CHUNK: u64 = 1024 * 1024;

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "blob ended before its recorded length",
    )
}

/// Read buffers of one file body. A frame's buffer comes back here when the network has sent
/// it (the frame is a [`Bytes`] that owns a [`Pooled`]), so a long blob is read through the
/// same two or three buffers: no fresh allocation per chunk, whose pages the kernel would
/// fault in and zero again each time.
#[derive(Clone, Default)]
struct Buffers(Arc<Mutex<Vec<Vec<u8>>>>);

/// Buffers kept for reuse per body. No more buffers exist than were in use at once (one read
/// ahead while the network holds one or two), so this only caps an unusual peak.
const SPARE_BUFFERS: usize = 4;

impl Buffers {
    fn take(&self, capacity: usize) -> Vec<u8> {
        let spare = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match spare {
            Some(mut buf) => {
                buf.clear();
                buf.reserve(capacity);
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }
}

/// A frame's bytes, given back to their body's [`Buffers`] when dropped.
struct Pooled {
    buf: Vec<u8>,
    home: Buffers,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut spare = self.home.0.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < SPARE_BUFFERS {
            spare.push(std::mem::take(&mut self.buf));
        }
    }
}

/// Starts reading the next chunk of `file` on the blocking pool into a buffer (reused from
/// `spare`) that becomes the frame without a copy. `None` when the file is held elsewhere or
/// nothing is left.
fn start_read(
    file: &mut Option<std::fs::File>,
    unread: &mut u64,
    spare: &Buffers,
) -> Option<JoinHandle<io::Result<(std::fs::File, Bytes)>>> {
    use std::io::Read;
    if *unread == 0 {
        return None;
    }
    let mut file = file.take()?;
    let n = (*unread).min(FILE_CHUNK);
    *unread -= n;
    let home = spare.clone();
    Some(tokio::task::spawn_blocking(move || {
        let mut buf = home.take(n as usize);
        (&mut file).take(n).read_to_end(&mut buf)?;
        if (buf.len() as u64) < n {
            return Err(eof());
        }
        Ok((file, Bytes::from_owner(Pooled { buf, home })))
    }))
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, Write};

    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn a_file_body_reads_through_a_few_reused_buffers() {
        let chunks = 12u64;
        let mut file = tempfile::tempfile().unwrap();
        for i in 0..chunks {
            file.write_all(&vec![i as u8; FILE_CHUNK as usize]).unwrap();
        }
        file.rewind().unwrap();
        let blob = BlobReader::from_file(file, chunks * FILE_CHUNK);
        let mut body = RegistryBody::blob(blob);
        let mut buffers = std::collections::HashSet::new();
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.iter().all(|&b| b == (seen / FILE_CHUNK) as u8));
            seen += data.len() as u64;
            buffers.insert(data.as_ptr() as usize);
            // Sent: the buffer goes back to the body, for a read after the one in flight.
            drop(data);
            let RegistryKind::File { spare, .. } = &body.kind else {
                panic!("not a file body");
            };
            assert!(!spare.0.lock().unwrap().is_empty(), "the buffer came back");
        }
        assert_eq!(seen, chunks * FILE_CHUNK);
        assert!(buffers.len() <= 3, "{} distinct buffers", buffers.len());
    }
}
