//! `Query` against the regex oracle (pairs, `get`, `get_all`), and `percent_decode` against
//! its definition: borrowed exactly when there is no `%`, and re-encoding gives back the input.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use tower_oci::protocol::percent_decode;
use tower_oci::protocol::Query;

#[path = "../../tools/tests/parser_oracle/mod.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let q = Query::new(Some(raw));
    let expected = oracle::query_pairs(raw);
    let pairs: Vec<(&str, &str)> = q.pairs().collect();
    assert_eq!(pairs, expected, "{raw:?}");
    let keys = [
        "digest",
        "digest-algorithm",
        "mount",
        "from",
        "n",
        "last",
        "artifactType",
        "tag",
        "ns",
    ];
    for key in keys.into_iter().chain(pairs.first().map(|(k, _)| *k)) {
        let all: Vec<&str> = q.get_all(key).collect();
        let want: Vec<&str> = expected
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(all, want, "{key:?} in {raw:?}");
        assert_eq!(q.get(key), want.first().copied());
    }
    for (key, value) in &pairs {
        assert!(oracle::within(raw, key) && oracle::within(raw, value));
        match percent_decode(value) {
            Some(Cow::Borrowed(same)) => {
                assert!(!value.contains('%'));
                assert_eq!(same, *value);
            }
            Some(Cow::Owned(decoded)) => {
                assert!(value.contains('%'));
                // Escaping every decoded byte that the input escaped must give the input back
                // (case aside): decoding neither lost nor invented bytes.
                let mut escaped_positions = value.bytes().filter(|&b| b == b'%').count();
                let mut rebuilt = Vec::new();
                let mut rest = value.as_bytes();
                for b in decoded.bytes() {
                    if rest.first() == Some(&b'%') {
                        rebuilt.extend_from_slice(format!("%{b:02X}").as_bytes());
                        rest = rest.get(3..).unwrap_or_default();
                        escaped_positions -= 1;
                    } else {
                        rebuilt.push(b);
                        rest = rest.get(1..).unwrap_or_default();
                    }
                }
                assert_eq!(escaped_positions, 0);
                assert!(rest.is_empty());
                assert!(
                    rebuilt.eq_ignore_ascii_case(value.as_bytes()),
                    "{value:?} -> {decoded:?}"
                );
            }
            None => {
                assert!(value.contains('%'));
            }
        }
    }
});
