//! Blob contents that are cheap to make, stream, hash and check.
//!
//! Every blob of a run has the same size. Its bytes are a fixed 1 MiB random pattern repeated,
//! then a 16-byte tail unique to the blob (a per-run nonce and the blob's index). Because the
//! blobs differ only at the end, the hash state after the shared part is computed once and each
//! blob's digest costs one clone and one 16-byte update. Streaming a blob hands out slices of one
//! shared buffer: no per-blob allocation, no per-byte random number generation.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tower_oci::protocol::{Algorithm, Digest, Hasher};

/// Length of the random pattern the blobs repeat.
const PATTERN_LEN: usize = 1 << 20;
/// Length of the per-blob tail.
const TAIL_LEN: u64 = 16;

/// A 1 MiB buffer of xorshift64* output: random enough that nothing compresses or dedups it.
pub fn pattern(seed: u64) -> Bytes {
    let mut state = seed | 1;
    let mut buf = Vec::with_capacity(PATTERN_LEN);
    while buf.len() < PATTERN_LEN {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        buf.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    buf.truncate(PATTERN_LEN);
    Bytes::from(buf)
}

/// The family of blobs of one size used by a run.
#[derive(Clone, Debug)]
pub struct Content {
    pattern: Bytes,
    size: u64,
    /// Bytes shared by every blob: `size - min(size, 16)`.
    common_len: u64,
    /// SHA-256 state after the shared bytes.
    common_hash: Hasher,
    nonce: u64,
}

impl Content {
    /// Blobs of `size` bytes. `nonce` keeps runs apart, so a second run pushes new blobs.
    pub fn new(size: u64, nonce: u64) -> Self {
        let pattern = pattern(0x9e37_79b9_7f4a_7c15);
        let common_len = size - size.min(TAIL_LEN);
        let mut common_hash = Hasher::new(Algorithm::Sha256);
        let mut done = 0u64;
        while done < common_len {
            let n = (common_len - done).min(PATTERN_LEN as u64) as usize;
            common_hash.update(pattern.get(..n).unwrap_or_default());
            done += n as u64;
        }
        Content {
            pattern,
            size,
            common_len,
            common_hash,
            nonce,
        }
    }

    /// Blob number `index`.
    pub fn blob(&self, index: u64) -> Blob {
        let mut tail = [0u8; TAIL_LEN as usize];
        tail[..8].copy_from_slice(&self.nonce.to_be_bytes());
        tail[8..].copy_from_slice(&index.to_be_bytes());
        let tail_len = (self.size - self.common_len) as usize;
        let mut hash = self.common_hash.clone();
        let tail = Bytes::copy_from_slice(tail.get(tail.len() - tail_len..).unwrap_or_default());
        hash.update(&tail);
        Blob {
            pattern: self.pattern.clone(),
            common_len: self.common_len,
            tail,
            digest: hash.finalize(),
        }
    }
}

/// One blob: its digest and the means to stream or check any byte range of it.
#[derive(Clone, Debug)]
pub struct Blob {
    pattern: Bytes,
    common_len: u64,
    tail: Bytes,
    digest: Digest,
}

impl Blob {
    /// The sha256 digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Total length.
    pub fn len(&self) -> u64 {
        self.common_len + self.tail.len() as u64
    }

    /// The longest zero-copy piece starting at `offset`, at most `max` bytes.
    fn piece(&self, offset: u64, max: u64) -> Bytes {
        if offset < self.common_len {
            let start = (offset % PATTERN_LEN as u64) as usize;
            let n = (PATTERN_LEN - start) as u64;
            let n = n.min(self.common_len - offset).min(max) as usize;
            self.pattern.slice(start..start + n)
        } else {
            let start = ((offset - self.common_len) as usize).min(self.tail.len());
            let n = (self.tail.len() - start).min(max as usize);
            self.tail.slice(start..start + n)
        }
    }

    /// A request body streaming bytes `start..end`.
    pub fn body(&self, start: u64, end: u64) -> ContentBody {
        ContentBody {
            blob: self.clone(),
            pos: start,
            end: end.min(self.len()),
        }
    }

    /// Whether `data` equals the blob's bytes at `offset`. A byte compare, much cheaper than hashing.
    pub fn matches(&self, offset: u64, mut data: &[u8]) -> bool {
        let mut pos = offset;
        while !data.is_empty() {
            let piece = self.piece(pos, data.len() as u64);
            if piece.is_empty() || data.get(..piece.len()) != Some(&piece[..]) {
                return false;
            }
            data = data.get(piece.len()..).unwrap_or_default();
            pos += piece.len() as u64;
        }
        true
    }
}

/// A streamed byte range of a [`Blob`].
#[derive(Debug)]
pub struct ContentBody {
    blob: Blob,
    pos: u64,
    end: u64,
}

impl Body for ContentBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.pos >= this.end {
            return Poll::Ready(None);
        }
        let piece = this.blob.piece(this.pos, this.end - this.pos);
        if piece.is_empty() {
            this.pos = this.end;
            return Poll::Ready(None);
        }
        this.pos += piece.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end.saturating_sub(self.pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn collect(body: ContentBody) -> Vec<u8> {
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn digests_match_streamed_bytes_and_differ_per_blob() {
        for size in [0, 5, 16, 17, 1024, (1 << 20) + 3, 3 << 20] {
            let content = Content::new(size, 42);
            let a = content.blob(1);
            let bytes = collect(a.body(0, size)).await;
            assert_eq!(bytes.len() as u64, size);
            assert_eq!(&Digest::of(Algorithm::Sha256, &bytes), a.digest());
            assert!(a.matches(0, &bytes));
            let b = content.blob(2);
            if size > 0 {
                assert_ne!(a.digest(), b.digest(), "size {size}");
                assert!(!b.matches(0, &bytes));
            }
            let (lo, hi) = (size / 3, size - size / 5);
            let mid = collect(a.body(lo, hi)).await;
            assert_eq!(mid, bytes[lo as usize..hi as usize]);
            assert!(a.matches(lo, &mid));
        }
    }
}
