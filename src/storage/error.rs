//! [`Error`]: what every backend returns, with the key it was working on and the cause.

use std::fmt;
use std::io;

/// A boxed error cause.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors from a storage backend.
///
/// Absence has exactly one spelling: [`Error::NotFound`]. Every variant names the key (a path, an
/// object key, a `repo:tag`, an upload id) so a log line says what failed; backend failures carry
/// their cause as [`std::error::Error::source`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The blob, manifest, tag, repository or upload does not exist.
    NotFound {
        /// What was looked for.
        key: String,
    },
    /// A create-only write found something already there.
    AlreadyExists {
        /// What exists.
        key: String,
    },
    /// A conditional write or a state check failed: the stored state is not what the caller
    /// based its request on (an upload at another offset, a record changed meanwhile).
    Conflict {
        /// What was in conflict.
        key: String,
        /// What did not match.
        message: String,
    },
    /// Another request holds this upload session; try again when it is done.
    Busy {
        /// The upload id.
        key: String,
    },
    /// The store is out of space.
    Full {
        /// What was being written.
        key: String,
        /// The underlying error.
        source: Source,
    },
    /// The store cannot be reached or refused for now (a remote store's outage or throttling);
    /// the same request may succeed later.
    Unavailable {
        /// What was being accessed.
        key: String,
        /// The underlying error.
        source: Source,
    },
    /// Stored data is not what the backend wrote (a torn or foreign file).
    Corrupt {
        /// Where.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The caller passed something the backend refuses (a name that is not a safe path, bytes
    /// that do not hash to their digest). A caller bug, never a client's.
    InvalidInput {
        /// What was refused.
        key: String,
        /// Why.
        message: String,
    },
    /// Any other backend failure.
    Other {
        /// What was being accessed.
        key: String,
        /// The underlying error.
        source: Source,
    },
}

impl Error {
    /// [`Error::NotFound`] for `key`.
    pub fn not_found(key: impl Into<String>) -> Self {
        Error::NotFound { key: key.into() }
    }

    /// [`Error::Conflict`] for `key`.
    pub fn conflict(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Conflict {
            key: key.into(),
            message: message.into(),
        }
    }

    /// [`Error::Corrupt`] for `key`.
    pub fn corrupt(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Corrupt {
            key: key.into(),
            message: message.into(),
        }
    }

    /// [`Error::InvalidInput`] for `key`.
    pub fn invalid_input(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            key: key.into(),
            message: message.into(),
        }
    }

    /// An I/O error while working on `key`, sorted into the variant it means: a missing file is
    /// [`Error::NotFound`], an existing one [`Error::AlreadyExists`], a full disk (or quota)
    /// [`Error::Full`], anything else [`Error::Other`].
    pub fn io(key: impl Into<String>, e: io::Error) -> Self {
        let key = key.into();
        match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound { key },
            io::ErrorKind::AlreadyExists => Error::AlreadyExists { key },
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Error::Full {
                key,
                source: Box::new(e),
            },
            _ => Error::Other {
                key,
                source: Box::new(e),
            },
        }
    }

    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// The key the error is about.
    pub fn key(&self) -> &str {
        match self {
            Error::NotFound { key }
            | Error::AlreadyExists { key }
            | Error::Conflict { key, .. }
            | Error::Busy { key }
            | Error::Full { key, .. }
            | Error::Unavailable { key, .. }
            | Error::Corrupt { key, .. }
            | Error::InvalidInput { key, .. }
            | Error::Other { key, .. } => key,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { key } => write!(f, "not found: {key}"),
            Error::AlreadyExists { key } => write!(f, "already exists: {key}"),
            Error::Conflict { key, message } => write!(f, "conflict on {key}: {message}"),
            Error::Busy { key } => write!(f, "busy: {key} is in use by another request"),
            Error::Full { key, source } => write!(f, "storage full writing {key}: {source}"),
            Error::Unavailable { key, source } => {
                write!(f, "storage unavailable for {key}: {source}")
            }
            Error::Corrupt { key, message } => write!(f, "corrupt storage at {key}: {message}"),
            Error::InvalidInput { key, message } => write!(f, "invalid input {key}: {message}"),
            Error::Other { key, source } => write!(f, "storage error on {key}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Full { source, .. }
            | Error::Unavailable { source, .. }
            | Error::Other { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Storage results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_sorted_by_meaning() {
        let e = Error::io("k", io::Error::from(io::ErrorKind::NotFound));
        assert!(e.is_not_found());
        assert_eq!(e.key(), "k");
        let e = Error::io("k", io::Error::from(io::ErrorKind::StorageFull));
        assert!(matches!(e, Error::Full { .. }));
        assert!(std::error::Error::source(&e).is_some());
        let e = Error::io("k", io::Error::other("boom"));
        assert!(e.to_string().contains("boom"), "{e}");
    }
}
