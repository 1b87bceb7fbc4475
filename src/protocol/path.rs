//! Request paths under `/v2/`, parsed from the right into borrowed parts.

use super::digest::{DigestError, DigestRef};

/// What a manifest path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference<'a> {
    /// A tag, already checked against the tag grammar.
    Tag(&'a str),
    /// A digest, already checked.
    Digest(DigestRef<'a>),
}

/// A registry endpoint, borrowed from the request path. Method dispatch happens elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `/v2/` (also `/v2`).
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags {
        /// Repository name.
        name: &'a str,
    },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest {
        /// Repository name.
        name: &'a str,
        /// Tag or digest.
        reference: Reference<'a>,
    },
    /// `/v2/<name>/blobs/<digest>`.
    Blob {
        /// Repository name.
        name: &'a str,
        /// Blob digest.
        digest: DigestRef<'a>,
    },
    /// `/v2/<name>/blobs/uploads/` (the trailing `/` is optional).
    UploadStart {
        /// Repository name.
        name: &'a str,
    },
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload {
        /// Repository name.
        name: &'a str,
        /// Session id, in the format [`crate`] issues.
        id: &'a str,
    },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers {
        /// Repository name.
        name: &'a str,
        /// Subject digest.
        digest: DigestRef<'a>,
    },
}

/// Why a path under `/v2/` names no endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path is not `/v2` nor under `/v2/`: it belongs to the host application.
    NotRegistry,
    /// Under `/v2/` but no endpoint has that shape.
    NotFound,
    /// The repository name is off-grammar or too long.
    NameInvalid,
    /// The manifest reference is neither a valid tag nor a digest.
    ReferenceInvalid,
    /// A digest in the path is malformed or of an unsupported algorithm.
    Digest(DigestError),
    /// The upload id is not one this crate could have issued.
    UploadInvalid,
}

impl<'a> Endpoint<'a> {
    /// Parses a request path (without the query string). Allocates nothing, never panics.
    pub fn parse(path: &'a str) -> Result<Self, PathError> {
        let _ = path;
        todo!("protocol helper")
    }
}

/// True for `/v2` and every path under `/v2/`: the paths the registry answers.
pub fn is_registry_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}
