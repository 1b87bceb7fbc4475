//! Request paths under `/v2/`, parsed from the right into borrowed parts.
//!
//! [`Endpoint::parse`] is the registry's only router, and host applications may call it too,
//! for example to authorize by repository name before the registry sees a request:
//!
//! ```
//! use tower_oci::protocol::{Endpoint, PathError, TagOrDigest};
//!
//! // Parsing goes from the right, so `blobs` can be a component of a repository name.
//! let ep = Endpoint::parse("/v2/a/blobs/b/manifests/latest").unwrap();
//! assert_eq!(ep, Endpoint::Manifest { name: "a/blobs/b", reference: TagOrDigest::Tag("latest") });
//! assert_eq!(ep.name(), Some("a/blobs/b"));
//!
//! assert_eq!(Endpoint::parse("/v2/UPPER/manifests/x"), Err(PathError::NameInvalid));
//! assert_eq!(Endpoint::parse("/index.html"), Err(PathError::NotRegistry));
//! ```
//!
//! Paths are matched as they arrive: nothing is percent-decoded, and `%`, empty, `.` and `..`
//! components are refused because no part of the grammar admits them.

use std::fmt;

use super::digest::{Algorithm, DigestError, DigestRef};
use super::name::{is_valid_name, is_valid_tag};
use super::upload_id::is_valid_upload_id;

/// The `<reference>` of a manifest path: a tag or a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagOrDigest<'a> {
    /// A tag, already checked against the tag grammar.
    Tag(&'a str),
    /// A digest, already checked.
    Digest(DigestRef<'a>),
}

impl<'a> TagOrDigest<'a> {
    /// The reference as it appeared in the path.
    pub fn as_str(&self) -> &'a str {
        match self {
            TagOrDigest::Tag(tag) => tag,
            TagOrDigest::Digest(digest) => digest.as_str(),
        }
    }
}

/// A registry endpoint, borrowed from the request path. Method dispatch happens elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
        reference: TagOrDigest<'a>,
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
#[non_exhaustive]
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
    /// Parses a request path (without the query string) into the endpoint it names, borrowing
    /// every part from `path`. Allocates nothing and never panics; method dispatch is the
    /// caller's job.
    ///
    /// The path is read from the right: the last one or two components pick the endpoint shape
    /// (`tags/list`, `manifests/<ref>`, `blobs/<digest>`, `blobs/uploads/`, `blobs/uploads/<id>`,
    /// `referrers/<digest>`), and everything before them is the repository name. Then the name,
    /// the reference, digest or upload id are checked against their grammar, in that order.
    ///
    /// Errors: [`PathError::NotRegistry`] outside `/v2`; [`PathError::NotFound`] when no shape
    /// fits (including a trailing `/`, except on `/v2/` and `/v2/<name>/blobs/uploads/`);
    /// otherwise the first offending part's error.
    ///
    /// ```
    /// use tower_oci::protocol::{DigestError, Endpoint, PathError};
    ///
    /// const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    /// let path = format!("/v2/library/ubuntu/blobs/{D}");
    /// let Ok(Endpoint::Blob { name, digest }) = Endpoint::parse(&path) else { panic!() };
    /// assert_eq!((name, digest.as_str()), ("library/ubuntu", D));
    ///
    /// // Both spellings of the upload start; an id must be one the registry issued.
    /// assert_eq!(Endpoint::parse("/v2/a/blobs/uploads/"), Ok(Endpoint::UploadStart { name: "a" }));
    /// assert_eq!(Endpoint::parse("/v2/a/blobs/uploads"), Ok(Endpoint::UploadStart { name: "a" }));
    /// assert_eq!(
    ///     Endpoint::parse("/v2/a/blobs/uploads/4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b"),
    ///     Ok(Endpoint::Upload { name: "a", id: "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b" }),
    /// );
    ///
    /// assert_eq!(Endpoint::parse("/v2/"), Ok(Endpoint::Base));
    /// assert_eq!(Endpoint::parse("/v2/_catalog"), Ok(Endpoint::Catalog));
    /// assert_eq!(Endpoint::parse("/v2/a/tags/list"), Ok(Endpoint::Tags { name: "a" }));
    ///
    /// assert_eq!(Endpoint::parse("/v2/a/manifests/bad:tag!"), Err(PathError::ReferenceInvalid));
    /// assert_eq!(Endpoint::parse("/v2/a/blobs/sha256:xyz"), Err(PathError::Digest(DigestError::Invalid)));
    /// assert_eq!(Endpoint::parse("/v2/a/blobs/uploads/123"), Err(PathError::UploadInvalid));
    /// assert_eq!(Endpoint::parse("/v2/a/tags/list/"), Err(PathError::NotFound));
    /// assert_eq!(Endpoint::parse("/v2/a/nothing/here"), Err(PathError::NotFound));
    /// ```
    pub fn parse(path: &'a str) -> Result<Self, PathError> {
        let rest = match path.strip_prefix("/v2") {
            Some("" | "/") => return Ok(Endpoint::Base),
            Some(rest) => rest.strip_prefix('/').ok_or(PathError::NotRegistry)?,
            None => return Err(PathError::NotRegistry),
        };
        if rest == "_catalog" {
            return Ok(Endpoint::Catalog);
        }
        // rest = <name>/<keyword>/<last>, or <name>/blobs/uploads/<last>.
        let (head, last) = rest.rsplit_once('/').ok_or(PathError::NotFound)?;
        let (before_keyword, keyword) = match head.rsplit_once('/') {
            Some((before, keyword)) => (Some(before), keyword),
            None => (None, head),
        };
        match keyword {
            "tags" if last == "list" => Ok(Endpoint::Tags {
                name: repository(before_keyword)?,
            }),
            "manifests" => {
                let name = repository(before_keyword)?;
                let reference = reference(last)?;
                Ok(Endpoint::Manifest { name, reference })
            }
            "blobs" => {
                let name = repository(before_keyword)?;
                if last == "uploads" {
                    return Ok(Endpoint::UploadStart { name });
                }
                let digest = DigestRef::parse(last).map_err(PathError::Digest)?;
                Ok(Endpoint::Blob { name, digest })
            }
            "uploads" => {
                let before_uploads = before_keyword.and_then(|b| b.rsplit_once('/'));
                let Some((before_blobs, "blobs")) = before_uploads else {
                    return Err(PathError::NotFound);
                };
                let name = repository(Some(before_blobs))?;
                if last.is_empty() {
                    Ok(Endpoint::UploadStart { name })
                } else if is_valid_upload_id(last) {
                    Ok(Endpoint::Upload { name, id: last })
                } else {
                    Err(PathError::UploadInvalid)
                }
            }
            "referrers" => {
                let name = repository(before_keyword)?;
                let digest = DigestRef::parse(last).map_err(PathError::Digest)?;
                Ok(Endpoint::Referrers { name, digest })
            }
            _ => Err(PathError::NotFound),
        }
    }

    /// The repository the endpoint is about; `None` for [`Endpoint::Base`] and
    /// [`Endpoint::Catalog`].
    ///
    /// ```
    /// use tower_oci::protocol::Endpoint;
    /// assert_eq!(Endpoint::parse("/v2/team/app/tags/list").unwrap().name(), Some("team/app"));
    /// assert_eq!(Endpoint::parse("/v2/_catalog").unwrap().name(), None);
    /// ```
    pub fn name(&self) -> Option<&'a str> {
        match *self {
            Endpoint::Base | Endpoint::Catalog => None,
            Endpoint::Tags { name }
            | Endpoint::Manifest { name, .. }
            | Endpoint::Blob { name, .. }
            | Endpoint::UploadStart { name }
            | Endpoint::Upload { name, .. }
            | Endpoint::Referrers { name, .. } => Some(name),
        }
    }
}

/// The name before an endpoint keyword. No component at all means the shape did not fit.
fn repository(name: Option<&str>) -> Result<&str, PathError> {
    match name {
        None => Err(PathError::NotFound),
        Some(name) if is_valid_name(name) => Ok(name),
        Some(_) => Err(PathError::NameInvalid),
    }
}

/// A tag or a digest. A text whose algorithm part names a registered algorithm was meant as a
/// digest and gets the digest's error; a well-formed digest of another algorithm is
/// unsupported; anything else is an invalid reference.
fn reference(text: &str) -> Result<TagOrDigest<'_>, PathError> {
    if is_valid_tag(text) {
        return Ok(TagOrDigest::Tag(text));
    }
    match DigestRef::parse(text) {
        Ok(digest) => Ok(TagOrDigest::Digest(digest)),
        Err(DigestError::Unsupported) => Err(PathError::Digest(DigestError::Unsupported)),
        Err(DigestError::Invalid) => match text.split_once(':') {
            Some((algorithm, _)) if Algorithm::from_name(algorithm).is_some() => {
                Err(PathError::Digest(DigestError::Invalid))
            }
            _ => Err(PathError::ReferenceInvalid),
        },
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::NotRegistry => f.write_str("not a registry path"),
            PathError::NotFound => f.write_str("no such registry endpoint"),
            PathError::NameInvalid => f.write_str("invalid repository name"),
            PathError::ReferenceInvalid => f.write_str("invalid tag or digest"),
            PathError::Digest(e) => e.fmt(f),
            PathError::UploadInvalid => f.write_str("invalid upload id"),
        }
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PathError::Digest(e) => Some(e),
            _ => None,
        }
    }
}

/// True for `/v2` and every path under `/v2/`: the paths the registry answers.
pub fn is_registry_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// `path` fit for a log line: the upload id of a session path (`/v2/<name>/blobs/uploads/<id>`)
/// is replaced by `<upload>`. An upload id is a capability (whoever knows it may write to and
/// complete the session), so it stays out of logs; every other path is returned as is.
///
/// ```
/// use tower_oci::protocol::redact_upload_id;
///
/// let path = "/v2/a/b/blobs/uploads/4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b";
/// assert_eq!(redact_upload_id(path), "/v2/a/b/blobs/uploads/<upload>");
/// assert_eq!(redact_upload_id("/v2/a/blobs/uploads/"), "/v2/a/blobs/uploads/");
/// ```
pub fn redact_upload_id(path: &str) -> std::borrow::Cow<'_, str> {
    const SESSIONS: &str = "/blobs/uploads/";
    match Endpoint::parse(path) {
        Ok(Endpoint::Upload { name, .. }) => format!("/v2/{name}{SESSIONS}<upload>").into(),
        Ok(_) | Err(PathError::NotRegistry) => path.into(),
        // Not a valid path, but it may still carry an id (a real one with something appended):
        // cut after the last `/blobs/uploads/` when anything follows it.
        Err(_) => match path
            .rfind(SESSIONS)
            .map(|at| path.split_at(at + SESSIONS.len()))
        {
            Some((kept, id)) if !id.is_empty() => format!("{kept}<upload>").into(),
            _ => path.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_are_redacted_from_logged_paths() {
        let session = format!("/v2/a/blobs/b/blobs/uploads/{ID}");
        assert_eq!(
            redact_upload_id(&session),
            "/v2/a/blobs/b/blobs/uploads/<upload>"
        );
        let broken = format!("/v2/a/blobs/uploads/{ID}/x");
        assert_eq!(redact_upload_id(&broken), "/v2/a/blobs/uploads/<upload>");
        for kept in [
            "/v2/a/blobs/uploads/",
            "/v2/a/manifests/latest",
            "/v2/",
            "/index.html",
            "/v2/a/blobs/uploads",
        ] {
            assert_eq!(redact_upload_id(kept), kept);
        }
    }

    const D256: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ID: &str = "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b";

    fn digest(text: &str) -> DigestRef<'_> {
        DigestRef::parse(text).unwrap()
    }

    #[test]
    fn base_and_catalog() {
        assert_eq!(Endpoint::parse("/v2/"), Ok(Endpoint::Base));
        assert_eq!(Endpoint::parse("/v2"), Ok(Endpoint::Base));
        assert_eq!(Endpoint::parse("/v2/_catalog"), Ok(Endpoint::Catalog));
        assert_eq!(Endpoint::parse("/v2/_catalog/"), Err(PathError::NotFound));
        assert_eq!(Endpoint::parse("/v2//"), Err(PathError::NotFound));
        assert_eq!(Endpoint::parse("/v2/a"), Err(PathError::NotFound));
        assert_eq!(Endpoint::parse("/v2/a/"), Err(PathError::NotFound));
    }

    #[test]
    fn not_registry() {
        for path in [
            "",
            "/",
            "/v1/",
            "/v2x",
            "/v20/a/tags/list",
            "v2/",
            "/V2/",
            "//v2/",
        ] {
            assert_eq!(
                Endpoint::parse(path),
                Err(PathError::NotRegistry),
                "{path:?}"
            );
            assert!(!is_registry_path(path), "{path:?}");
        }
        assert!(is_registry_path("/v2"));
        assert!(is_registry_path("/v2/anything"));
    }

    #[test]
    fn every_endpoint_shape() {
        let cases = [
            ("/v2/a/tags/list".to_owned(), Endpoint::Tags { name: "a" }),
            (
                "/v2/a/b/manifests/latest".to_owned(),
                Endpoint::Manifest {
                    name: "a/b",
                    reference: TagOrDigest::Tag("latest"),
                },
            ),
            (
                format!("/v2/a/manifests/{D256}"),
                Endpoint::Manifest {
                    name: "a",
                    reference: TagOrDigest::Digest(digest(D256)),
                },
            ),
            (
                format!("/v2/a/blobs/{D256}"),
                Endpoint::Blob {
                    name: "a",
                    digest: digest(D256),
                },
            ),
            (
                "/v2/a/blobs/uploads/".to_owned(),
                Endpoint::UploadStart { name: "a" },
            ),
            (
                "/v2/a/blobs/uploads".to_owned(),
                Endpoint::UploadStart { name: "a" },
            ),
            (
                format!("/v2/a/blobs/uploads/{ID}"),
                Endpoint::Upload { name: "a", id: ID },
            ),
            (
                format!("/v2/a/referrers/{D256}"),
                Endpoint::Referrers {
                    name: "a",
                    digest: digest(D256),
                },
            ),
        ];
        for (path, want) in &cases {
            let got = Endpoint::parse(path).unwrap_or_else(|e| panic!("{path}: {e:?}"));
            assert_eq!(&got, want, "{path}");
            let name = got.name().unwrap();
            assert!(path.starts_with(&format!("/v2/{name}/")) && (name == "a" || name == "a/b"));
        }
    }

    #[test]
    fn keywords_inside_names() {
        let got = Endpoint::parse("/v2/a/blobs/b/manifests/latest").unwrap();
        assert_eq!(
            got,
            Endpoint::Manifest {
                name: "a/blobs/b",
                reference: TagOrDigest::Tag("latest")
            }
        );
        for word in ["blobs", "manifests", "uploads", "tags", "list", "referrers"] {
            let name = format!("{word}/x/{word}");
            let path = format!("/v2/{name}/tags/list");
            assert_eq!(
                Endpoint::parse(&path),
                Ok(Endpoint::Tags { name: &name }),
                "{path}"
            );
            let path = format!("/v2/{name}/blobs/uploads/");
            assert_eq!(
                Endpoint::parse(&path),
                Ok(Endpoint::UploadStart { name: &name }),
                "{path}"
            );
            let path = format!("/v2/{name}/blobs/uploads/{ID}");
            assert_eq!(
                Endpoint::parse(&path),
                Ok(Endpoint::Upload {
                    name: &name,
                    id: ID
                })
            );
            let path = format!("/v2/{name}/manifests/{word}");
            assert_eq!(
                Endpoint::parse(&path),
                Ok(Endpoint::Manifest {
                    name: &name,
                    reference: TagOrDigest::Tag(word)
                })
            );
        }
        assert_eq!(
            Endpoint::parse("/v2/blobs/blobs/uploads/"),
            Ok(Endpoint::UploadStart { name: "blobs" })
        );
        assert_eq!(
            Endpoint::parse("/v2/tags/tags/list"),
            Ok(Endpoint::Tags { name: "tags" })
        );
        assert_eq!(
            Endpoint::parse("/v2/manifests/manifests/manifests"),
            Ok(Endpoint::Manifest {
                name: "manifests",
                reference: TagOrDigest::Tag("manifests")
            })
        );
    }

    #[test]
    fn shape_without_name_is_not_found() {
        for path in [
            "/v2/tags/list",
            "/v2/manifests/latest",
            "/v2/blobs/uploads",
            "/v2/blobs/uploads/",
            "/v2/referrers/x",
            "/v2/uploads/x",
        ] {
            assert_eq!(Endpoint::parse(path), Err(PathError::NotFound), "{path}");
        }
        let path = format!("/v2/blobs/{D256}");
        assert_eq!(Endpoint::parse(&path), Err(PathError::NotFound));
    }

    #[test]
    fn helpful_errors() {
        use PathError::*;
        let cases: &[(&str, PathError)] = &[
            ("/v2/UPPER/manifests/x", NameInvalid),
            ("/v2/a/manifests/bad:tag!", ReferenceInvalid),
            ("/v2/a/manifests/.x", ReferenceInvalid),
            ("/v2/a/manifests/", ReferenceInvalid),
            ("/v2/a/manifests/..", ReferenceInvalid),
            ("/v2/a/manifests/%41", ReferenceInvalid),
            ("/v2/a/manifests/sha256:xyz", Digest(DigestError::Invalid)),
            ("/v2/a/manifests/sha512:", Digest(DigestError::Invalid)),
            ("/v2/a/manifests/md5:abc", Digest(DigestError::Unsupported)),
            ("/v2/a/blobs/sha256:xyz", Digest(DigestError::Invalid)),
            ("/v2/a/blobs/latest", Digest(DigestError::Invalid)),
            ("/v2/a/blobs/", Digest(DigestError::Invalid)),
            ("/v2/a/blobs/md5:abc", Digest(DigestError::Unsupported)),
            ("/v2/a/referrers/latest", Digest(DigestError::Invalid)),
            ("/v2/a/nothing/here", NotFound),
            ("/v2/a/tags/lis", NotFound),
            ("/v2/a/tags/list/", NotFound),
            ("/v2/a/manifests/latest/", NotFound),
            ("/v2/a/blobs/uploads//", NotFound),
            ("/v2/a/uploads/x", NotFound),
            ("/v2/a/%62lobs/uploads/", NotFound),
            ("/v2/a/blobs/uploads/x", UploadInvalid),
            (
                "/v2/a/blobs/uploads/4B4A7C4E-0D2B-4F7E-9A51-3C7F0E1D2A6B",
                UploadInvalid,
            ),
            ("/v2//manifests/x", NameInvalid),
            ("/v2/a//b/manifests/x", NameInvalid),
            ("/v2//a/manifests/x", NameInvalid),
            ("/v2/a/./b/tags/list", NameInvalid),
            ("/v2/a/../b/tags/list", NameInvalid),
            ("/v2/./tags/list", NameInvalid),
            ("/v2/a%2fb/tags/list", NameInvalid),
            ("/v2/a b/tags/list", NameInvalid),
            ("/v2/UPPER/manifests/bad!", NameInvalid),
            ("/v2/UPPER/blobs/uploads/x", NameInvalid),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::parse(path), Err(*want), "{path}");
        }
        let path = format!("/v2/a/blobs/uploads/{ID}/");
        assert_eq!(Endpoint::parse(&path), Err(PathError::NotFound));
        let path = format!("/v2/a/blobs/{D256}/");
        assert_eq!(Endpoint::parse(&path), Err(PathError::NotFound));
    }

    #[test]
    fn name_length_limit() {
        let name = "a".repeat(255);
        let path = format!("/v2/{name}/tags/list");
        assert_eq!(Endpoint::parse(&path), Ok(Endpoint::Tags { name: &name }));
        let path = format!("/v2/{name}a/tags/list");
        assert_eq!(Endpoint::parse(&path), Err(PathError::NameInvalid));
    }

    #[test]
    fn tag_length_limit() {
        let tag = "t".repeat(128);
        let path = format!("/v2/a/manifests/{tag}");
        assert_eq!(
            Endpoint::parse(&path),
            Ok(Endpoint::Manifest {
                name: "a",
                reference: TagOrDigest::Tag(&tag)
            })
        );
        let path = format!("/v2/a/manifests/{tag}t");
        assert_eq!(Endpoint::parse(&path), Err(PathError::ReferenceInvalid));
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            PathError::NameInvalid.to_string(),
            "invalid repository name"
        );
        assert_eq!(
            PathError::Digest(DigestError::Unsupported).to_string(),
            "unsupported digest algorithm"
        );
        assert!(std::error::Error::source(&PathError::Digest(DigestError::Invalid)).is_some());
        assert!(std::error::Error::source(&PathError::NotFound).is_none());
    }
}
