//! `Endpoint::parse` against the regex oracle: same verdict, same error, same borrowed parts,
//! and an accepted path re-renders to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_oci::protocol::is_registry_path;
use tower_oci::protocol::{Endpoint, PathError};

#[path = "../../tools/tests/parser_oracle/mod.rs"]
mod oracle;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Endpoint::parse(path);
    assert_eq!(
        parsed == Err(PathError::NotRegistry),
        !is_registry_path(path),
        "{path:?}"
    );
    let parts = parsed.map(oracle::endpoint_parts);
    assert_eq!(parts, oracle::endpoint(path), "{path:?}");
    if let Ok(parts) = parts {
        for part in [parts.1, parts.2].into_iter().flatten() {
            assert!(
                oracle::within(path, part),
                "{part:?} not borrowed from {path:?}"
            );
        }
        assert!(
            oracle::round_trips(path, parts),
            "{path:?} does not re-render"
        );
    }
});
