//! Response bodies: the registry's own, or the inner service's untouched.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
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
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                if pending.is_none() {
                    *pending = start_read(file, unread);
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
                    *pending = start_read(file, unread);
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

/// Starts reading the next chunk of `file` on the blocking pool into a buffer that becomes the
/// frame without a copy. `None` when the file is held elsewhere or nothing is left.
fn start_read(
    file: &mut Option<std::fs::File>,
    unread: &mut u64,
) -> Option<JoinHandle<io::Result<(std::fs::File, Bytes)>>> {
    use std::io::Read;
    if *unread == 0 {
        return None;
    }
    let mut file = file.take()?;
    let n = (*unread).min(FILE_CHUNK);
    *unread -= n;
    Some(tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(n as usize);
        (&mut file).take(n).read_to_end(&mut buf)?;
        if (buf.len() as u64) < n {
            return Err(eof());
        }
        Ok((file, Bytes::from(buf)))
    }))
}
