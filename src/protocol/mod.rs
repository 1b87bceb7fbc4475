//! The wire protocol, parsed without allocating: request paths, query strings, digests,
//! names and tags, and the `Range` / `Content-Range` headers.
//!
//! Host applications may use these to authorize or meter registry traffic in their own layers;
//! [`Endpoint::parse`] is the only routing the registry itself does.

pub mod digest;
pub mod name;
pub mod path;
pub mod query;
pub mod range;
pub mod upload_id;

pub use digest::{Algorithm, Digest, DigestError, DigestRef, Hasher};
pub use path::{Endpoint, PathError, Reference};
pub use query::Query;
pub use range::{ByteRange, ContentRange};
