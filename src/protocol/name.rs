//! Repository names and tags, exactly as the distribution spec's grammar gives them.
//!
//! Both checks scan bytes once, allocate nothing and never panic, so handlers use them on
//! query parameters (`?tag=`, `?last=`, `?from=`) as well as the path parser does.
//!
//! ```
//! use tower_oci::protocol::{is_valid_name, is_valid_tag};
//! assert!(is_valid_name("library/ubuntu"));
//! assert!(is_valid_name("a/blobs/b"));
//! assert!(!is_valid_name("Library/ubuntu"));
//! assert!(is_valid_tag("v1.2.3_rc-1"));
//! assert!(!is_valid_tag(".hidden"));
//! ```

/// The longest repository name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// The longest tag accepted, in bytes.
pub const MAX_TAG_LEN: usize = 128;

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most
/// [`MAX_NAME_LEN`] bytes.
///
/// ```
/// use tower_oci::protocol::is_valid_name;
/// assert!(is_valid_name("my-org/my__image.v2"));
/// assert!(is_valid_name("a---b"));
/// assert!(!is_valid_name("a___b")); // three underscores are not a separator
/// assert!(!is_valid_name("a//b"));
/// assert!(!is_valid_name("a/"));
/// assert!(!is_valid_name(&"a".repeat(256)));
/// ```
pub fn is_valid_name(name: &str) -> bool {
    /// What the previous byte allows next: the grammar as a five-state automaton.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum After {
        /// Start of a component: only an alphanumeric may follow.
        Slash,
        Alnum,
        /// `.` or `__`: only an alphanumeric may follow.
        Separator,
        /// One `_`: another `_` or an alphanumeric.
        Underscore,
        /// One or more `-`: more `-` or an alphanumeric.
        Dash,
    }
    if name.len() > MAX_NAME_LEN {
        return false;
    }
    let mut state = After::Slash;
    for &b in name.as_bytes() {
        state = match (b, state) {
            (b'a'..=b'z' | b'0'..=b'9', _) => After::Alnum,
            (b'/', After::Alnum) => After::Slash,
            (b'.', After::Alnum) => After::Separator,
            (b'_', After::Alnum) => After::Underscore,
            (b'_', After::Underscore) => After::Separator,
            (b'-', After::Alnum | After::Dash) => After::Dash,
            _ => return false,
        };
    }
    state == After::Alnum
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
///
/// ```
/// use tower_oci::protocol::is_valid_tag;
/// assert!(is_valid_tag("latest"));
/// assert!(is_valid_tag("_"));
/// assert!(!is_valid_tag("-x"));
/// assert!(!is_valid_tag(""));
/// assert!(!is_valid_tag(&"a".repeat(129)));
/// ```
pub fn is_valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    tag.len() <= MAX_TAG_LEN
        && (first.is_ascii_alphanumeric() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `*` matches within a component, `**` across components; everything else literally.
pub(crate) fn glob_matches(glob: &[u8], name: &[u8]) -> bool {
    match glob {
        [] => name.is_empty(),
        [b'*', b'*', rest @ ..] => {
            // One or more characters of any components; `**/` also matches no component.
            (1..=name.len()).any(|taken| glob_matches(rest, &name[taken..]))
                || (rest.first() == Some(&b'/') && glob_matches(&rest[1..], name))
        }
        [b'*', rest @ ..] => {
            let component = name.iter().position(|&b| b == b'/').unwrap_or(name.len());
            (0..=component).any(|taken| glob_matches(rest, &name[taken..]))
        }
        [first, rest @ ..] => name.first() == Some(first) && glob_matches(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_names() {
        for good in [
            "a",
            "0",
            "library/ubuntu",
            "a/b/c/d/e",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a--------b",
            "a.b_c__d-e--f",
            "a/blobs/b",
            "manifests/uploads/tags/list/referrers",
            "x1/y2.z3",
        ] {
            assert!(is_valid_name(good), "{good:?}");
        }
        assert!(is_valid_name(&"a".repeat(MAX_NAME_LEN)));
        let many = ["ab"; 85].join("/"); // 85 * 2 + 84 = 254 bytes
        assert!(is_valid_name(&many));
    }

    #[test]
    fn rejects_off_grammar_names() {
        for bad in [
            "", "/", "A", "aB", "a/", "/a", "a//b", ".", "..", "a/./b", "a/../b", ".a", "a.", "a_",
            "_a", "-a", "a-", "a..b", "a._b", "a___b", "a_-b", "a-_b", "a-.b", "a%2fb", "a b",
            "a:b", "a\u{e9}", "a\0",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
        assert!(!is_valid_name(&"a".repeat(MAX_NAME_LEN + 1)));
        let many = ["ab"; 86].join("/"); // 257 bytes of otherwise valid components
        assert!(!is_valid_name(&many));
    }

    #[test]
    fn accepts_spec_tags() {
        for good in [
            "a", "A", "0", "_", "__", "latest", "v1.0.0", "_x-Y.z", "a-", "a.",
        ] {
            assert!(is_valid_tag(good), "{good:?}");
        }
        assert!(is_valid_tag(&"t".repeat(MAX_TAG_LEN)));
    }

    #[test]
    fn rejects_off_grammar_tags() {
        for bad in [
            "", ".", "-", ".a", "-a", "a:b", "a/b", "a!", "a b", "a%41", "\u{e9}",
        ] {
            assert!(!is_valid_tag(bad), "{bad:?}");
        }
        assert!(!is_valid_tag(&"t".repeat(MAX_TAG_LEN + 1)));
    }
}
