//! OCI error codes and the JSON error responses built from them.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::protocol::{DigestError, PathError};
use crate::response_body::RegistryBody;
use crate::storage;

/// The error codes of the distribution spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN`
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`
    BlobUploadUnknown,
    /// `DIGEST_INVALID`
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`
    ManifestUnknown,
    /// `NAME_INVALID`
    NameInvalid,
    /// `NAME_UNKNOWN`
    NameUnknown,
    /// `SIZE_INVALID`
    SizeInvalid,
    /// `UNAUTHORIZED`
    Unauthorized,
    /// `DENIED`
    Denied,
    /// `UNSUPPORTED`
    Unsupported,
    /// `TOOMANYREQUESTS`
    TooManyRequests,
    /// `UNKNOWN`: a failure of the registry's own (every 5xx), as distribution answers; never
    /// `UNSUPPORTED`, which tells a client the operation does not exist.
    Unknown,
}

impl ErrorCode {
    /// The code as it appears in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }

    /// The status this code is usually sent with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BlobUnknown
            | ErrorCode::BlobUploadUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown => StatusCode::NOT_FOUND,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Denied => StatusCode::FORBIDDEN,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The spec's short description.
    pub fn description(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "blob unknown to registry",
            ErrorCode::BlobUploadInvalid => "blob upload invalid",
            ErrorCode::BlobUploadUnknown => "blob upload unknown to registry",
            ErrorCode::DigestInvalid => "provided digest did not match uploaded content",
            ErrorCode::ManifestBlobUnknown => {
                "manifest references a manifest or blob unknown to registry"
            }
            ErrorCode::ManifestInvalid => "manifest invalid",
            ErrorCode::ManifestUnknown => "manifest unknown to registry",
            ErrorCode::NameInvalid => "invalid repository name",
            ErrorCode::NameUnknown => "repository name not known to registry",
            ErrorCode::SizeInvalid => "provided length did not match content length",
            ErrorCode::Unauthorized => "authentication required",
            ErrorCode::Denied => "requested access to the resource is denied",
            ErrorCode::Unsupported => "the operation is unsupported",
            ErrorCode::TooManyRequests => "too many requests",
            ErrorCode::Unknown => "unknown error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed registry request: an OCI error code, a message, an optional detail and the status.
#[derive(Clone, Debug)]
pub struct RegistryError {
    status: StatusCode,
    code: ErrorCode,
    message: Cow<'static, str>,
    detail: Option<serde_json::Value>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    /// What went wrong inside the registry, for the log only (never sent to the client).
    cause: Option<String>,
}

impl RegistryError {
    /// An error with the code's usual status.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        RegistryError {
            status: code.status(),
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
            cause: None,
        }
    }

    /// An error whose message is the code's description.
    pub fn from_code(code: ErrorCode) -> Self {
        Self::new(code, code.description())
    }

    /// Sends it with another status (413, 416, 405 ...).
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Attaches a `detail` value: anything that serializes to JSON (a struct deriving
    /// `serde::Serialize`, or a `serde_json::Value`). A value that does not serialize (a map
    /// with non-string keys, say) is left out: the error still goes out, without a detail.
    #[must_use]
    pub fn with_detail(mut self, detail: impl serde::Serialize) -> Self {
        self.detail = serde_json::to_value(detail).ok();
        self
    }

    /// Adds a response header (e.g. `Content-Range` on a 416).
    #[must_use]
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// A 500 `UNKNOWN` for a failure that is the registry's, not the client's. The message stays
    /// generic. The cause (paths on disk, OS errors) is kept for the log, not sent to the client.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        let mut e = Self::new(ErrorCode::Unknown, "internal storage error");
        e.cause = Some(cause.to_string());
        e
    }

    /// The internal cause of a 500, for logging.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Renders `{"errors":[{"code","message","detail"}]}`.
    pub fn into_response(self) -> Response<RegistryBody> {
        let mut entry = serde_json::Map::new();
        entry.insert("code".into(), self.code.as_str().into());
        entry.insert("message".into(), self.message.as_ref().into());
        entry.insert(
            "detail".into(),
            self.detail.unwrap_or(serde_json::Value::Null),
        );
        let body = serde_json::json!({ "errors": [entry] });
        let bytes = Bytes::from(body.to_string());
        let mut res = Response::new(RegistryBody::full(bytes.clone()));
        *res.status_mut() = self.status;
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        res
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for RegistryError {}

impl From<DigestError> for RegistryError {
    fn from(e: DigestError) -> Self {
        match e {
            DigestError::Invalid => RegistryError::new(ErrorCode::DigestInvalid, "invalid digest"),
            DigestError::Unsupported => RegistryError::new(
                ErrorCode::DigestInvalid,
                "unsupported digest algorithm (sha256 and sha512 are supported)",
            ),
        }
    }
}

impl From<PathError> for RegistryError {
    fn from(e: PathError) -> Self {
        match e {
            PathError::NotRegistry | PathError::NotFound => {
                RegistryError::new(ErrorCode::Unsupported, "no such registry endpoint")
                    .with_status(StatusCode::NOT_FOUND)
            }
            PathError::NameInvalid => {
                RegistryError::new(ErrorCode::NameInvalid, "invalid repository name")
            }
            PathError::ReferenceInvalid => RegistryError::new(
                ErrorCode::ManifestInvalid,
                "reference is neither a valid tag nor a valid digest",
            ),
            PathError::Digest(d) => d.into(),
            PathError::UploadInvalid => {
                RegistryError::new(ErrorCode::BlobUploadUnknown, "no such upload session")
            }
        }
    }
}

/// Storage failures the handlers did not turn into a protocol answer (they map
/// [`storage::Error::NotFound`] to the right `*_UNKNOWN` code themselves): a full store is
/// 507, a store that is down or throttling 503 with `Retry-After`, anything else 500. The
/// cause goes to the log only.
impl From<storage::Error> for RegistryError {
    fn from(e: storage::Error) -> Self {
        match &e {
            storage::Error::Full { .. } => {
                let mut r =
                    RegistryError::internal(&e).with_status(StatusCode::INSUFFICIENT_STORAGE);
                r.message = Cow::Borrowed("the registry's storage is full");
                r
            }
            storage::Error::Unavailable { .. } => {
                let mut r = RegistryError::internal(&e)
                    .with_status(StatusCode::SERVICE_UNAVAILABLE)
                    .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"));
                r.message = Cow::Borrowed("the registry's storage is unavailable; retry later");
                r
            }
            _ => RegistryError::internal(&e),
        }
    }
}
