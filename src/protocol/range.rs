//! The `Range` request header for blob reads and the `Content-Range` header on chunk uploads.
//!
//! Both parsers take the header value as text, allocate nothing and never panic. Numbers are
//! plain ASCII digits only (no sign, no spaces inside) and must fit in a `u64`.
//!
//! ```
//! use tower_oci::protocol::{ByteRange, ContentRange};
//!
//! let range = ByteRange::parse("bytes=100-").unwrap();
//! assert_eq!(range.resolve(1000), Some((100, 999)));
//! assert_eq!(ByteRange::parse("bytes=0-1,5-6"), None);
//!
//! assert_eq!(ContentRange::parse("0-1023"), ContentRange::new(0, 1023));
//! ```

/// One byte range from a `Range: bytes=...` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    ///
    /// The unit is matched case-insensitively and surrounding spaces or tabs are ignored, as
    /// RFC 9110 allows. `a-b` with `b < a` parses but never resolves, so it is answered 416
    /// (as the OCI conformance suite expects) rather than ignored.
    ///
    /// ```
    /// use tower_oci::protocol::ByteRange;
    /// assert_eq!(ByteRange::parse("bytes=0-499"), Some(ByteRange::FromTo(0, 499)));
    /// assert_eq!(ByteRange::parse("bytes=500-"), Some(ByteRange::From(500)));
    /// assert_eq!(ByteRange::parse("bytes=-500"), Some(ByteRange::Suffix(500)));
    /// assert_eq!(ByteRange::parse("bytes=5-4").and_then(|r| r.resolve(100)), None);
    /// assert_eq!(ByteRange::parse("items=0-1"), None);
    /// ```
    pub fn parse(header: &str) -> Option<Self> {
        let value = trim_ows(header);
        let (unit, spec) = value.split_once('=')?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return None;
        }
        let (first, last) = trim_ows(spec).split_once('-')?;
        match (first, last) {
            ("", suffix) => parse_u64(suffix).map(ByteRange::Suffix),
            (first, "") => parse_u64(first).map(ByteRange::From),
            (first, last) => Some(ByteRange::FromTo(parse_u64(first)?, parse_u64(last)?)),
        }
    }

    /// The inclusive `(first, last)` byte positions within a blob of `size` bytes, with an end
    /// past the size clipped. `None` when unsatisfiable (answer 416).
    ///
    /// ```
    /// use tower_oci::protocol::ByteRange;
    /// assert_eq!(ByteRange::FromTo(10, 5000).resolve(100), Some((10, 99)));
    /// assert_eq!(ByteRange::From(100).resolve(100), None);
    /// assert_eq!(ByteRange::Suffix(500).resolve(100), Some((0, 99)));
    /// assert_eq!(ByteRange::Suffix(0).resolve(100), None);
    /// assert_eq!(ByteRange::From(0).resolve(0), None);
    /// ```
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        let end = size.checked_sub(1)?;
        match self {
            ByteRange::FromTo(first, last) if first <= last && first <= end => {
                Some((first, last.min(end)))
            }
            ByteRange::From(first) if first <= end => Some((first, end)),
            ByteRange::Suffix(n) if n > 0 => Some((size - n.min(size), end)),
            _ => None,
        }
    }
}

/// A chunk's `Content-Range: <first>-<last>` (inclusive, no `bytes ` prefix, as the spec writes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContentRange {
    /// First byte offset.
    pub first: u64,
    /// Last byte offset, inclusive.
    pub last: u64,
}

impl ContentRange {
    /// The range `first..=last`; `None` when `first > last`.
    ///
    /// ```
    /// use tower_oci::protocol::ContentRange;
    /// let r = ContentRange::new(0, 99).unwrap();
    /// assert_eq!((r.first, r.last), (0, 99));
    /// assert_eq!(ContentRange::new(5, 4), None);
    /// ```
    pub fn new(first: u64, last: u64) -> Option<Self> {
        (first <= last).then_some(ContentRange { first, last })
    }

    /// Parses `a-b` with `a <= b`; also accepts the RFC form `bytes a-b/*` and `bytes a-b/len`
    /// some clients send. `None` otherwise.
    ///
    /// With a complete length, `b` must lie inside it. Surrounding spaces or tabs are ignored.
    ///
    /// ```
    /// use tower_oci::protocol::ContentRange;
    /// let r = ContentRange::new(0, 99).unwrap();
    /// assert_eq!(ContentRange::parse("0-99"), Some(r));
    /// assert_eq!(ContentRange::parse("bytes 0-99/*"), Some(r));
    /// assert_eq!(ContentRange::parse("bytes 0-99/100"), Some(r));
    /// assert_eq!(ContentRange::parse("bytes 0-99/99"), None);
    /// assert_eq!(ContentRange::parse("bytes */100"), None);
    /// assert_eq!(ContentRange::parse("9-0"), None);
    /// ```
    pub fn parse(header: &str) -> Option<Self> {
        let value = trim_ows(header);
        let (range, complete_length) = match split_unit(value) {
            Some(rest) => {
                let (range, length) = rest.split_once('/')?;
                (range, Some(length))
            }
            None => (value, None),
        };
        let (first, last) = range.split_once('-')?;
        let (first, last) = (parse_u64(first)?, parse_u64(last)?);
        if first > last {
            return None;
        }
        match complete_length {
            None | Some("*") => {}
            Some(length) if last < parse_u64(length)? => {}
            Some(_) => return None,
        }
        Some(ContentRange { first, last })
    }

    /// The number of bytes the range covers. Saturates at `u64::MAX` for `0-18446744073709551615`.
    pub fn len(&self) -> u64 {
        (self.last - self.first).saturating_add(1)
    }

    /// Always false: a range covers at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// `bytes ` (any case) stripped from the front, if present.
fn split_unit(value: &str) -> Option<&str> {
    let unit = value.get(..6)?;
    unit.eq_ignore_ascii_case("bytes ")
        .then(|| value.get(6..))
        .flatten()
}

/// Optional whitespace as RFC 9110 defines it: spaces and horizontal tabs.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// `1*DIGIT` into a `u64`. Unlike `str::parse`, refuses a leading `+`.
fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_forms() {
        assert_eq!(ByteRange::parse("bytes=0-0"), Some(ByteRange::FromTo(0, 0)));
        assert_eq!(ByteRange::parse("bytes=0-"), Some(ByteRange::From(0)));
        assert_eq!(ByteRange::parse("bytes=-0"), Some(ByteRange::Suffix(0)));
        assert_eq!(
            ByteRange::parse(" Bytes=1-2\t"),
            Some(ByteRange::FromTo(1, 2))
        );
        assert_eq!(
            ByteRange::parse("BYTES= 1-2 "),
            Some(ByteRange::FromTo(1, 2))
        );
        // Last before first parses, and never resolves (416).
        assert_eq!(ByteRange::parse("bytes=2-1"), Some(ByteRange::FromTo(2, 1)));
        assert_eq!(
            ByteRange::parse("bytes=500-0").and_then(|r| r.resolve(1000)),
            None
        );
        assert_eq!(
            ByteRange::parse("bytes=18446744073709551615-"),
            Some(ByteRange::From(u64::MAX))
        );
    }

    #[test]
    fn range_rejects_malformed_and_multi() {
        for bad in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=--1",
            "bytes=1--2",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=-+2",
            "bytes=1 -2",
            "bytes=1- 2",
            "bytes=0-1,2-3",
            "bytes=0-1,",
            "bytes=18446744073709551616-",
            "bytes 0-1",
            "bytes:0-1",
            "0-1",
            "byte=0-1",
            "bytess=0-1",
            "bytes==0-1",
            "bytes=\u{661}-2",
        ] {
            assert_eq!(ByteRange::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resolve_clips_and_refuses() {
        assert_eq!(ByteRange::FromTo(0, 0).resolve(1), Some((0, 0)));
        assert_eq!(ByteRange::FromTo(0, 9).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::FromTo(0, 10).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::FromTo(9, u64::MAX).resolve(10), Some((9, 9)));
        assert_eq!(ByteRange::FromTo(10, 12).resolve(10), None);
        assert_eq!(ByteRange::FromTo(5, 4).resolve(10), None);
        assert_eq!(ByteRange::From(9).resolve(10), Some((9, 9)));
        assert_eq!(ByteRange::From(10).resolve(10), None);
        assert_eq!(ByteRange::Suffix(1).resolve(10), Some((9, 9)));
        assert_eq!(ByteRange::Suffix(10).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::Suffix(u64::MAX).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
        for r in [
            ByteRange::FromTo(0, 0),
            ByteRange::From(0),
            ByteRange::Suffix(1),
        ] {
            assert_eq!(r.resolve(0), None, "{r:?}");
        }
        assert_eq!(
            ByteRange::From(0).resolve(u64::MAX),
            Some((0, u64::MAX - 1))
        );
    }

    #[test]
    fn content_range_forms() {
        let r = |first, last| Some(ContentRange { first, last });
        assert_eq!(ContentRange::parse("0-0"), r(0, 0));
        assert_eq!(ContentRange::parse(" 5-10 "), r(5, 10));
        assert_eq!(ContentRange::parse("bytes 5-10/*"), r(5, 10));
        assert_eq!(ContentRange::parse("Bytes 5-10/11"), r(5, 10));
        assert_eq!(ContentRange::parse("bytes 5-10/100000"), r(5, 10));
        assert_eq!(
            ContentRange::parse("0-18446744073709551615"),
            r(0, u64::MAX)
        );
        assert_eq!(
            ContentRange::parse("0-18446744073709551615").map(|r| r.len()),
            Some(u64::MAX)
        );
        assert_eq!(ContentRange::parse("5-10").map(|r| r.len()), Some(6));
    }

    #[test]
    fn content_range_rejects() {
        for bad in [
            "",
            "-",
            "0-",
            "-5",
            "10-5",
            "a-b",
            "+1-2",
            "1-+2",
            "0-1/2",
            "bytes 0-1",
            "bytes 0-1/",
            "bytes 0-1/1",
            "bytes 0-1/+5",
            "bytes 0-1/**",
            "bytes */10",
            "bytes=0-1",
            "bytes  0-1/*",
            "bytes\t0-1/*",
            "0 - 1",
            "0-1,2-3",
            "18446744073709551616-18446744073709551617",
            "bytes",
            "bytes ",
            "\u{e9}\u{e9}\u{e9}-1",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad:?}");
        }
    }
}
