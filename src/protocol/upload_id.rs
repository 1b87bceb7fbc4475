//! Upload session ids: the only format the registry issues, so the only one it accepts.
//!
//! Ids are random version-4 UUIDs in their lowercase hyphenated form
//! (`uuid::Uuid::new_v4().hyphenated()`), e.g. `4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b`.
//! Anything else in an upload path is refused before any session lookup.

/// The length of an upload id: 32 hex digits and 4 hyphens.
pub const UPLOAD_ID_LEN: usize = 36;

/// True for `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with lowercase hex `x`, nothing else.
///
/// ```
/// use tower_oci::protocol::upload_id::is_valid_upload_id;
/// assert!(is_valid_upload_id("4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b"));
/// assert!(!is_valid_upload_id("4B4A7C4E-0D2B-4F7E-9A51-3C7F0E1D2A6B"));
/// assert!(!is_valid_upload_id("4b4a7c4e0d2b4f7e9a513c7f0e1d2a6b"));
/// ```
pub fn is_valid_upload_id(id: &str) -> bool {
    id.len() == UPLOAD_ID_LEN
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_the_crate_issues() {
        for _ in 0..64 {
            let id = uuid::Uuid::new_v4().hyphenated().to_string();
            assert!(is_valid_upload_id(&id), "{id}");
        }
        assert!(is_valid_upload_id("00000000-0000-0000-0000-000000000000"));
    }

    #[test]
    fn rejects_everything_else() {
        let good = "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b";
        for bad in [
            "",
            "x",
            "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6",
            "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6bb",
            "4B4A7C4E-0D2B-4F7E-9A51-3C7F0E1D2A6B",
            "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6g",
            "4b4a7c4e_0d2b-4f7e-9a51-3c7f0e1d2a6b",
            "4b4a7c4e0-d2b-4f7e-9a51-3c7f0e1d2a6b",
            "{4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b}",
            "4b4a7c4e0d2b4f7e9a513c7f0e1d2a6b",
            "urn:uuid:4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b",
            "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6\u{e9}",
        ] {
            assert!(!is_valid_upload_id(bad), "{bad:?}");
        }
        // Every single-byte change at a hyphen position breaks it.
        for pos in [8, 13, 18, 23] {
            let mut s = good.as_bytes().to_vec();
            s[pos] = b'a';
            assert!(!is_valid_upload_id(std::str::from_utf8(&s).unwrap()));
        }
    }
}
