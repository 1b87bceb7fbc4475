//! `ByteRange` and `ContentRange` against the regex oracle, and `resolve` against its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_oci::protocol::{ByteRange, ContentRange};

#[path = "../../tools/tests/parser_oracle/mod.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| {
    let (size_bytes, text) = data.split_at(data.len().min(8));
    let mut size = [0u8; 8];
    size[..size_bytes.len()].copy_from_slice(size_bytes);
    let size = u64::from_le_bytes(size);
    let Ok(header) = std::str::from_utf8(text) else {
        return;
    };

    let range = ByteRange::parse(header);
    assert_eq!(range, oracle::byte_range(header), "{header:?}");
    if let Some(range) = range {
        let small = size % 4096;
        assert_eq!(
            range.resolve(small),
            oracle::resolve_small(range, small),
            "{range:?} of {small}"
        );
        if let Some((first, last)) = range.resolve(size) {
            assert!(
                first <= last && last < size,
                "{range:?} of {size}: {first}-{last}"
            );
        }
    }

    let content = ContentRange::parse(header);
    assert_eq!(content, oracle::content_range(header), "{header:?}");
    if let Some(c) = content {
        assert!(c.first <= c.last && c.len() >= 1);
    }
});
