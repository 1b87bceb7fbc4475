//! `DigestRef::parse`, names, tags and upload ids against the regex oracle.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_oci::protocol::{is_valid_name, is_valid_tag};
use tower_oci::protocol::is_valid_upload_id;
use tower_oci::protocol::DigestRef;

#[path = "../../tools/tests/parser_oracle/mod.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = DigestRef::parse(text);
    assert_eq!(parsed.map(|_| ()), oracle::digest(text), "{text:?}");
    if let Ok(d) = parsed {
        assert_eq!(d.as_str(), text);
        assert!(oracle::within(text, d.hex()));
        assert_eq!(format!("{}:{}", d.algorithm(), d.hex()), text);
    }
    assert_eq!(is_valid_name(text), oracle::name_ok(text), "name {text:?}");
    assert_eq!(is_valid_tag(text), oracle::tag_ok(text), "tag {text:?}");
    assert_eq!(
        is_valid_upload_id(text),
        oracle::upload_id_ok(text),
        "id {text:?}"
    );
});
