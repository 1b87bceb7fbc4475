//! A borrowed reader over a query string (`a=1&b=2`). Allocates nothing.

use std::borrow::Cow;

/// The query string of a request. Values come back raw (still percent-encoded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query<'a> {
    raw: &'a str,
}

impl<'a> Query<'a> {
    /// Wraps the part after `?` (`None` for no query).
    pub fn new(raw: Option<&'a str>) -> Self {
        Query {
            raw: raw.unwrap_or(""),
        }
    }

    /// The first value of `key`, raw. `Some("")` for `key=` and for a bare `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        let _ = key;
        todo!("protocol helper")
    }

    /// Every value of `key` in order (for the repeated `tag` parameter).
    pub fn get_all(&self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let _ = key;
        std::iter::empty::<&'a str>()
    }
}

/// Decodes `%XX` escapes (and `+` as space is NOT applied: OCI media types contain `+`).
/// Borrows when there is nothing to decode; `None` for a broken escape or non-UTF-8 result.
pub fn percent_decode(raw: &str) -> Option<Cow<'_, str>> {
    let _ = raw;
    todo!("protocol helper")
}
