//! The `Range` request header for blob reads and the `Content-Range` header on chunk uploads.

/// One byte range from a `Range: bytes=...` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `a-b`, inclusive.
    FromTo(u64, u64),
    /// `a-`.
    From(u64),
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses `bytes=<range>` with a single range. `None` when malformed or multi-range.
    pub fn parse(header: &str) -> Option<Self> {
        let _ = header;
        todo!("protocol helper")
    }

    /// The inclusive `(first, last)` byte positions within a blob of `size` bytes, with an end
    /// past the size clipped. `None` when unsatisfiable (answer 416).
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        let _ = size;
        todo!("protocol helper")
    }
}

/// A chunk's `Content-Range: <first>-<last>` (inclusive, no `bytes ` prefix, as the spec writes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte offset.
    pub first: u64,
    /// Last byte offset, inclusive.
    pub last: u64,
}

impl ContentRange {
    /// Parses `a-b` with `a <= b`; also accepts the RFC form `bytes a-b/*` and `bytes a-b/len`
    /// some clients send. `None` otherwise.
    pub fn parse(header: &str) -> Option<Self> {
        let _ = header;
        todo!("protocol helper")
    }
}
