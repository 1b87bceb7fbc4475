//! Differential property tests: the hand-written parsers against a regex transcription of the
//! spec's grammar (tests/parser_oracle). They must agree on accept/reject, on the error a
//! rejection reports, and on the exact borrowed parts an acceptance returns.

mod parser_oracle;

use parser_oracle as oracle;
use proptest::prelude::*;
use proptest::sample::select;
use tower_oci::protocol::is_valid_upload_id;
use tower_oci::protocol::{is_valid_name, is_valid_tag};
use tower_oci::protocol::{ByteRange, ContentRange, DigestRef, Endpoint, Query};

/// Bytes that matter to some grammar, plus a few that matter to none.
const ALPHABET: &[char] = &[
    'a', 'b', 'z', '0', '9', 'A', 'Z', '.', '_', '-', '/', ':', '%', '+', '=', '*', ' ', '!', 'f',
    '\u{e9}', '\n',
];

fn name_component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,4}((\\.|_|__|-{1,3})[a-z0-9]{1,4}){0,3}"
}

fn valid_name() -> impl Strategy<Value = String> {
    let keyword = select(&["blobs", "manifests", "uploads", "tags", "list", "referrers"][..])
        .prop_map(str::to_owned);
    prop::collection::vec(prop_oneof![3 => name_component(), 1 => keyword], 1..6)
        .prop_map(|parts| parts.join("/"))
}

fn long_name() -> impl Strategy<Value = String> {
    (250usize..260).prop_map(|len| {
        let mut name = "a/".repeat(len / 2);
        name.truncate(len);
        if name.ends_with('/') {
            name.pop();
            name.push('-');
            name.push('b');
        }
        name
    })
}

fn valid_tag() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,130}"
}

fn hex(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(select(&b"0123456789abcdef"[..]), len)
        .prop_map(|bytes| String::from_utf8(bytes).expect("ascii"))
}

fn digest_text() -> impl Strategy<Value = String> {
    let algorithm = select(
        &[
            "sha256",
            "sha512",
            "md5",
            "sha384",
            "multihash+base58",
            "SHA256",
            "sha-",
            "",
            "sha256:x",
        ][..],
    );
    let encoded = prop_oneof![
        4 => hex(63..66),
        4 => hex(127..130),
        1 => "[a-zA-Z0-9=_-]{1,12}",
        1 => "[0-9a-fA-F:/]{0,70}",
    ];
    (algorithm, encoded).prop_map(|(a, e)| format!("{a}:{e}"))
}

fn upload_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(()).prop_map(|()| uuid::Uuid::new_v4().hyphenated().to_string()),
        1 => "[0-9a-fA-F-]{34,38}",
    ]
}

/// Insert, replace or delete a few characters: near-misses are where parsers go wrong.
fn mutate(s: String) -> impl Strategy<Value = String> {
    let len = s.chars().count();
    prop::collection::vec((0..=len, select(ALPHABET), 0u8..3), 0..3).prop_map(move |edits| {
        let mut chars: Vec<char> = s.chars().collect();
        for (at, c, op) in edits {
            let at = at.min(chars.len());
            match op {
                0 => chars.insert(at, c),
                1 if at < chars.len() => chars[at] = c,
                _ if at < chars.len() => {
                    chars.remove(at);
                }
                _ => chars.push(c),
            }
        }
        chars.into_iter().collect()
    })
}

fn path() -> impl Strategy<Value = String> {
    let name = prop_oneof![6 => valid_name(), 1 => long_name(), 1 => "[a-zA-Z0-9._/%-]{0,12}"];
    let tail = prop_oneof![
        Just("tags/list".to_owned()),
        valid_tag().prop_map(|t| format!("manifests/{t}")),
        digest_text().prop_map(|d| format!("manifests/{d}")),
        digest_text().prop_map(|d| format!("blobs/{d}")),
        Just("blobs/uploads/".to_owned()),
        Just("blobs/uploads".to_owned()),
        upload_id().prop_map(|id| format!("blobs/uploads/{id}")),
        digest_text().prop_map(|d| format!("referrers/{d}")),
        "[a-z/]{0,12}",
    ];
    let whole = prop_oneof![
        8 => (name, tail).prop_map(|(n, t)| format!("/v2/{n}/{t}")),
        1 => select(&["/v2", "/v2/", "/v2/_catalog", "/v2//", "/v3/", "", "/"][..]).prop_map(str::to_owned),
    ];
    whole.prop_flat_map(|p| prop_oneof![2 => Just(p.clone()), 3 => mutate(p)])
}

fn check_path(path: &str) -> Result<(), TestCaseError> {
    let parsed = Endpoint::parse(path).map(oracle::endpoint_parts);
    let expected = oracle::endpoint(path);
    prop_assert_eq!(parsed, expected, "path {:?}", path);
    if let Ok(parts) = parsed {
        for part in [parts.1, parts.2].into_iter().flatten() {
            prop_assert!(
                oracle::within(path, part),
                "{:?} is not borrowed from {:?}",
                part,
                path
            );
        }
        prop_assert!(
            oracle::round_trips(path, parts),
            "{:?} does not re-render",
            path
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn names_agree(name in prop_oneof![valid_name(), long_name()].prop_flat_map(mutate)) {
        prop_assert_eq!(is_valid_name(&name), oracle::name_ok(&name), "{:?}", name);
    }

    #[test]
    fn generated_names_are_valid(name in valid_name()) {
        prop_assert_eq!(is_valid_name(&name), name.len() <= 255);
    }

    #[test]
    fn tags_agree(tag in valid_tag().prop_flat_map(mutate)) {
        prop_assert_eq!(is_valid_tag(&tag), oracle::tag_ok(&tag), "{:?}", tag);
    }

    #[test]
    fn digests_agree(text in digest_text().prop_flat_map(mutate)) {
        let parsed = DigestRef::parse(&text);
        prop_assert_eq!(parsed.map(|_| ()), oracle::digest(&text), "{:?}", text);
        if let Ok(d) = parsed {
            prop_assert_eq!(d.as_str(), text.as_str());
            prop_assert!(oracle::within(&text, d.hex()));
            prop_assert_eq!(format!("{}:{}", d.algorithm(), d.hex()), text.clone());
        }
    }

    #[test]
    fn upload_ids_agree(id in upload_id().prop_flat_map(mutate)) {
        prop_assert_eq!(is_valid_upload_id(&id), oracle::upload_id_ok(&id), "{:?}", id);
    }

    #[test]
    fn paths_agree(path in path()) {
        check_path(&path)?;
    }

    #[test]
    fn arbitrary_strings_agree(path in "/v2/[a-z0-9A-Z._/%:-]{0,40}") {
        check_path(&path)?;
    }

    #[test]
    fn queries_agree(
        pairs in prop::collection::vec(
            ("(tag|n|last|digest|ns|x|)", "[a-z0-9%=+:]{0,6}", any::<bool>()), 0..6),
        junk in "[&=]{0,2}",
    ) {
        let raw: String = pairs
            .iter()
            .map(|(k, v, bare)| if *bare && v.is_empty() { k.clone() } else { format!("{k}={v}") })
            .collect::<Vec<_>>()
            .join("&")
            + &junk;
        let q = Query::new(Some(&raw));
        let expected = oracle::query_pairs(&raw);
        prop_assert_eq!(q.pairs().collect::<Vec<_>>(), expected.clone());
        for key in ["tag", "n", "last", "digest", "ns", "x", "", "missing"] {
            let all: Vec<&str> = expected.iter().filter(|(k, _)| *k == key).map(|(_, v)| *v).collect();
            prop_assert_eq!(q.get(key), all.first().copied(), "{:?} in {:?}", key, raw);
            prop_assert_eq!(q.get_all(key).collect::<Vec<_>>(), all.clone());
            for v in q.get_all(key) {
                prop_assert!(oracle::within(&raw, v));
            }
        }
    }

    #[test]
    fn ranges_agree(header in prop_oneof![
        "[ \t]{0,1}(bytes|BYTES|byte|)=[ \t]{0,1}[0-9]{0,3}-[0-9]{0,3}[ \t]{0,1}",
        "bytes=[0-9]{18,21}-[0-9]{0,21}",
        "bytes=[0-9,+ -]{0,8}",
    ].prop_flat_map(mutate)) {
        prop_assert_eq!(ByteRange::parse(&header), oracle::byte_range(&header), "{:?}", header);
    }

    #[test]
    fn resolve_matches_brute_force(
        header in "bytes=[0-9]{0,2}-[0-9]{0,2}",
        size in 0u64..120,
    ) {
        if let Some(range) = ByteRange::parse(&header) {
            prop_assert_eq!(range.resolve(size), oracle::resolve_small(range, size), "{:?} of {}", header, size);
        }
    }

    #[test]
    fn resolve_stays_in_bounds(first in any::<u64>(), last in any::<u64>(), size in any::<u64>()) {
        for range in [ByteRange::FromTo(first, last), ByteRange::From(first), ByteRange::Suffix(last)] {
            if let Some((a, b)) = range.resolve(size) {
                prop_assert!(a <= b && b < size, "{:?} of {} gave {}-{}", range, size, a, b);
            }
        }
    }

    #[test]
    fn content_ranges_agree(header in prop_oneof![
        "[0-9]{1,3}-[0-9]{1,3}",
        "[ \t]{0,1}(bytes|Bytes|byte) [0-9]{1,3}-[0-9]{1,3}/(\\*|[0-9]{1,4})[ \t]{0,1}",
        "[0-9]{19,21}-[0-9]{19,21}",
    ].prop_flat_map(mutate)) {
        prop_assert_eq!(ContentRange::parse(&header), oracle::content_range(&header), "{:?}", header);
    }
}
