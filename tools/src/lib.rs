//! Empty: this package holds only benchmarks (`benches/`) and property tests (`tests/`) of
//! `tower-oci`; see `Cargo.toml`.
