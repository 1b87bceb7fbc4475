//! A borrowed reader over a query string (`a=1&b=2`). Allocates nothing.
//!
//! The registry reads `digest`, `digest-algorithm`, `mount`, `from`, `n`, `last`,
//! `artifactType`, the repeated `tag` and `ns`. Values come back raw; [`percent_decode`] them
//! when they may carry escapes (`artifactType` media types, for instance).
//!
//! ```
//! use tower_oci::protocol::{percent_decode, Query};
//!
//! let q = Query::new(Some("n=10&last=v1&tag=a&tag=b&artifactType=application%2Fvnd.x%2Bjson"));
//! assert_eq!(q.get("n"), Some("10"));
//! assert_eq!(q.get_all("tag").collect::<Vec<_>>(), ["a", "b"]);
//! let media_type = percent_decode(q.get("artifactType").unwrap()).unwrap();
//! assert_eq!(media_type, "application/vnd.x+json");
//! ```

use std::borrow::Cow;

/// The query string of a request. Values come back raw (still percent-encoded).
///
/// Pairs are separated by `&`; empty pairs (`a=1&&b=2`) are skipped. A pair without `=` is a
/// key with an empty value. Keys are compared byte for byte, without decoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query<'a> {
    raw: &'a str,
}

impl<'a> Query<'a> {
    /// Wraps the part after `?` (`None` for no query).
    ///
    /// ```
    /// # use tower_oci::protocol::Query;
    /// let uri: http::Uri = "/v2/a/tags/list?n=2".parse().unwrap();
    /// assert_eq!(Query::new(uri.query()).get("n"), Some("2"));
    /// ```
    pub fn new(raw: Option<&'a str>) -> Self {
        Query {
            raw: raw.unwrap_or(""),
        }
    }

    /// Every `(key, value)` pair in order, both raw. `("k", "")` for a bare `k`.
    ///
    /// ```
    /// # use tower_oci::protocol::Query;
    /// let pairs: Vec<_> = Query::new(Some("a=1&&b&c=x=y")).pairs().collect();
    /// assert_eq!(pairs, [("a", "1"), ("b", ""), ("c", "x=y")]);
    /// ```
    pub fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.raw
            .split('&')
            .filter(|pair| !pair.is_empty())
            // A bare key's empty value is the empty tail of the key, so that every slice
            // handed out lies inside the query string.
            .map(|pair| pair.split_once('=').unwrap_or(pair.split_at(pair.len())))
    }

    /// The first value of `key`, raw. `Some("")` for `key=` and for a bare `key`.
    ///
    /// ```
    /// # use tower_oci::protocol::Query;
    /// let q = Query::new(Some("mount=sha256%3Aab&from=a%2Fb&flag"));
    /// assert_eq!(q.get("from"), Some("a%2Fb"));
    /// assert_eq!(q.get("flag"), Some(""));
    /// assert_eq!(q.get("digest"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Every value of `key` in order (for the repeated `tag` parameter).
    ///
    /// ```
    /// # use tower_oci::protocol::Query;
    /// let q = Query::new(Some("tag=v1&x=1&tag=v2&tag="));
    /// assert_eq!(q.get_all("tag").collect::<Vec<_>>(), ["v1", "v2", ""]);
    /// ```
    pub fn get_all(&self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs().filter(move |(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The raw query string, `""` when there was none.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }
}

/// Decodes `%XX` escapes (and `+` as space is NOT applied: OCI media types contain `+`).
/// Borrows when there is nothing to decode; `None` for a broken escape or non-UTF-8 result.
///
/// ```
/// use std::borrow::Cow;
/// use tower_oci::protocol::percent_decode;
/// assert!(matches!(percent_decode("a+b"), Some(Cow::Borrowed("a+b"))));
/// assert_eq!(percent_decode("sha256%3Aab").as_deref(), Some("sha256:ab"));
/// assert_eq!(percent_decode("%zz"), None);
/// assert_eq!(percent_decode("%ff"), None); // not UTF-8
/// ```
pub fn percent_decode(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains('%') {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().and_then(hex_value)?;
            let lo = bytes.next().and_then(hex_value)?;
            out.push((hi << 4) | lo);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_finds_first_value() {
        let q = Query::new(Some(
            "digest=sha256%3Aab&n=5&n=6&last=&bare&=v&digest-algorithm=sha512",
        ));
        assert_eq!(q.get("digest"), Some("sha256%3Aab"));
        assert_eq!(q.get("n"), Some("5"));
        assert_eq!(q.get("last"), Some(""));
        assert_eq!(q.get("bare"), Some(""));
        let bare = q.get("bare").unwrap();
        let raw = q.as_str().as_ptr() as usize..=q.as_str().as_ptr() as usize + q.as_str().len();
        assert!(raw.contains(&(bare.as_ptr() as usize)));
        assert_eq!(q.get(""), Some("v"));
        assert_eq!(q.get("digest-algorithm"), Some("sha512"));
        assert_eq!(q.get("dig"), None);
        assert_eq!(q.get("Digest"), None);
        assert_eq!(q.get("mount"), None);
    }

    #[test]
    fn empty_and_missing_queries() {
        for q in [Query::new(None), Query::new(Some("")), Query::default()] {
            assert_eq!(q.get("n"), None);
            assert_eq!(q.get(""), None);
            assert_eq!(q.get_all("tag").count(), 0);
            assert_eq!(q.pairs().count(), 0);
        }
        let q = Query::new(Some("&&&"));
        assert_eq!(q.pairs().count(), 0);
    }

    #[test]
    fn get_all_returns_every_value_in_order() {
        let q = Query::new(Some("tag=a&ns=x&tag=b&&tag&tags=z&xtag=y&tag=c%2Dd"));
        assert_eq!(
            q.get_all("tag").collect::<Vec<_>>(),
            ["a", "b", "", "c%2Dd"]
        );
        assert_eq!(q.get_all("ns").collect::<Vec<_>>(), ["x"]);
        assert_eq!(q.get_all("none").count(), 0);
    }

    #[test]
    fn values_keep_equals_signs() {
        let q = Query::new(Some("artifactType=a=b&from=x"));
        assert_eq!(q.get("artifactType"), Some("a=b"));
        assert_eq!(q.as_str(), "artifactType=a=b&from=x");
    }

    #[test]
    fn percent_decode_borrows_and_decodes() {
        assert!(matches!(percent_decode(""), Some(Cow::Borrowed(""))));
        assert!(matches!(
            percent_decode("application/vnd.oci+json"),
            Some(Cow::Borrowed("application/vnd.oci+json"))
        ));
        let decoded = percent_decode("application%2Fvnd.oci.image.manifest.v1%2bjson").unwrap();
        assert!(matches!(decoded, Cow::Owned(_)));
        assert_eq!(decoded, "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(percent_decode("%41%62").as_deref(), Some("Ab"));
        assert_eq!(percent_decode("%25").as_deref(), Some("%"));
        assert_eq!(percent_decode("%2525").as_deref(), Some("%25"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("\u{e9}"));
        assert_eq!(percent_decode("a+b%20c").as_deref(), Some("a+b c"));
    }

    #[test]
    fn percent_decode_rejects_broken_input() {
        for bad in [
            "%", "%4", "a%", "%g0", "%0g", "%%", "%C3", "%FF", "%C3%28", "%+1",
        ] {
            assert_eq!(percent_decode(bad), None, "{bad:?}");
        }
    }
}
