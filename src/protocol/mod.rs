//! The wire protocol, parsed without allocating: request paths, query strings, digests,
//! names and tags, and the `Range` / `Content-Range` headers.
//!
//! Host applications may use these to authorize or meter registry traffic in their own layers;
//! [`Endpoint::parse`] is the only routing the registry itself does. Every parser takes text
//! as it arrived (nothing is percent-decoded unless you call [`percent_decode`]), allocates
//! nothing and never panics.
//!
//! Paths are read from the right, so `blobs` or `manifests` can be components of a repository
//! name:
//!
//! ```
//! use tower_oci::protocol::{Endpoint, PathError, TagOrDigest};
//!
//! let ep = Endpoint::parse("/v2/a/blobs/b/manifests/latest").unwrap();
//! assert_eq!(ep, Endpoint::Manifest { name: "a/blobs/b", reference: TagOrDigest::Tag("latest") });
//! assert_eq!(Endpoint::parse("/index.html"), Err(PathError::NotRegistry));
//! ```
//!
//! - Digests: [`DigestRef`] borrows from the request and is what the parsers hand out;
//!   [`Digest`] owns its text and is what storage keeps; [`Hasher`] computes either
//!   [`Algorithm`] while bytes stream past.
//! - Names and tags: [`is_valid_name`], [`is_valid_tag`], exactly the distribution spec's
//!   grammar.
//! - Query strings: [`Query`] reads `a=1&b=2` in place; values come back raw.
//! - Headers: [`ByteRange`] (`Range: bytes=...` on blob reads) and [`ContentRange`]
//!   (`Content-Range` on chunk uploads).
//! - Upload ids: [`is_valid_upload_id`] accepts exactly the ids the registry issues (lowercase
//!   hyphenated UUIDs); [`redact_upload_id`] hides them in logged paths, since an id is a
//!   capability.
//!
//! ```
//! use tower_oci::protocol::{is_valid_name, is_valid_tag, percent_decode, ByteRange, Query};
//!
//! assert!(is_valid_name("library/ubuntu") && !is_valid_name("Library/ubuntu"));
//! assert!(is_valid_tag("v1.2.3_rc-1") && !is_valid_tag(".hidden"));
//! let q = Query::new(Some("n=10&artifactType=application%2Fvnd.x%2Bjson"));
//! assert_eq!(q.get("n"), Some("10"));
//! assert_eq!(percent_decode(q.get("artifactType").unwrap()).unwrap(), "application/vnd.x+json");
//! assert_eq!(ByteRange::parse("bytes=100-").unwrap().resolve(1000), Some((100, 999)));
//! ```

// Each item has one public path: these re-exports. The modules are the crate's own.
pub(crate) mod digest;
pub(crate) mod name;
pub(crate) mod path;
pub(crate) mod query;
pub(crate) mod range;
pub(crate) mod upload_id;

pub use digest::{Algorithm, Digest, DigestError, DigestRef, Hasher};
pub use name::{is_valid_name, is_valid_tag, MAX_NAME_LEN, MAX_TAG_LEN};
pub use path::{is_registry_path, redact_upload_id, Endpoint, PathError, TagOrDigest};
pub use query::{percent_decode, Query};
pub use range::{ByteRange, ContentRange};
pub use upload_id::{is_valid_upload_id, UPLOAD_ID_LEN};
