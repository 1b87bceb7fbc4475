//! Nothing here: this package exists for its examples (`registry`, `axum`, `hyper`,
//! `oci-load`); see the README of tower-oci.
