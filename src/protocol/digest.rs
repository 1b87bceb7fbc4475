//! Content digests: `algorithm:encoded`, as the OCI image spec defines them.
//!
//! [`DigestRef`] borrows from the request and is what the parser hands out; [`Digest`] owns its
//! text and is what storage keeps. [`Hasher`] computes either algorithm while bytes stream past.

use std::fmt;

use sha2::digest::common::hazmat::SerializableState;
use sha2::{Digest as _, Sha256, Sha512};

/// A digest algorithm this registry can compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// `sha256`: 64 lowercase hex characters. The default everywhere.
    Sha256,
    /// `sha512`: 128 lowercase hex characters.
    Sha512,
}

impl Algorithm {
    /// The registered name, as it appears before the `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The exact length of the hex encoding.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// Looks up a registered algorithm by name. `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a digest string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestError {
    /// Not of the grammar `algorithm ":" encoded`, or a registered algorithm with a wrong encoding.
    Invalid,
    /// Well-formed, but its algorithm is not one this registry computes.
    Unsupported,
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::Invalid => f.write_str("invalid digest"),
            DigestError::Unsupported => f.write_str("unsupported digest algorithm"),
        }
    }
}

impl std::error::Error for DigestError {}

/// A validated digest borrowed from its input. Allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DigestRef<'a> {
    algorithm: Algorithm,
    text: &'a str,
}

fn is_algorithm_component(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_algorithm_separator(b: u8) -> bool {
    matches!(b, b'+' | b'.' | b'_' | b'-')
}

/// `algorithm ::= algorithm-component (algorithm-separator algorithm-component)*`
fn is_algorithm_grammar(s: &str) -> bool {
    s.split(|c: char| c.is_ascii() && is_algorithm_separator(c as u8))
        .all(is_algorithm_component)
}

/// `encoded ::= [a-zA-Z0-9=_-]+`
fn is_encoded_grammar(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

impl<'a> DigestRef<'a> {
    /// Parses `algorithm:encoded`. Registered algorithms must have their exact lowercase hex
    /// length; other well-formed digests are [`DigestError::Unsupported`].
    ///
    /// ```
    /// use tower_oci::protocol::{Algorithm, DigestError, DigestRef};
    /// let d = DigestRef::parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").unwrap();
    /// assert_eq!(d.algorithm(), Algorithm::Sha256);
    /// assert_eq!(DigestRef::parse("sha256:abc"), Err(DigestError::Invalid));
    /// assert_eq!(DigestRef::parse("md5:abc"), Err(DigestError::Unsupported));
    /// ```
    pub fn parse(text: &'a str) -> Result<Self, DigestError> {
        // The registered algorithms first: one pass over the hex, the common case on every
        // blob and manifest path.
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let rest = text
                .strip_prefix(algorithm.as_str())
                .and_then(|r| r.strip_prefix(':'));
            if let Some(encoded) = rest {
                let hex_ok = encoded.len() == algorithm.hex_len()
                    && encoded
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                return if hex_ok {
                    Ok(DigestRef { algorithm, text })
                } else {
                    Err(DigestError::Invalid)
                };
            }
        }
        // Anything else is unsupported when it is well-formed, invalid otherwise.
        let (alg, encoded) = text.split_once(':').ok_or(DigestError::Invalid)?;
        if is_algorithm_grammar(alg) && is_encoded_grammar(encoded) {
            Err(DigestError::Unsupported)
        } else {
            Err(DigestError::Invalid)
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex encoding after the `:`.
    pub fn hex(&self) -> &'a str {
        let start = self.algorithm.as_str().len() + 1;
        self.text.get(start..).unwrap_or_default()
    }

    /// The whole digest text, `algorithm:hex`.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// An owned copy.
    pub fn to_digest(&self) -> Digest {
        Digest {
            algorithm: self.algorithm,
            text: self.text.to_owned(),
        }
    }
}

impl fmt::Display for DigestRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// A validated digest that owns its text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    text: String,
}

impl Digest {
    /// Parses and copies; see [`DigestRef::parse`].
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        DigestRef::parse(text).map(|d| d.to_digest())
    }

    /// Builds a digest from raw hash output.
    pub fn from_hash(algorithm: Algorithm, hash: &[u8]) -> Self {
        let mut text = String::with_capacity(algorithm.as_str().len() + 1 + hash.len() * 2);
        text.push_str(algorithm.as_str());
        text.push(':');
        text.push_str(&hex::encode(hash));
        Digest { algorithm, text }
    }

    /// Hashes `data` in one go.
    pub fn of(algorithm: Algorithm, data: &[u8]) -> Self {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(data);
        hasher.finalize()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex encoding after the `:`.
    pub fn hex(&self) -> &str {
        self.text
            .get(self.algorithm.as_str().len() + 1..)
            .unwrap_or_default()
    }

    /// The whole digest text, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A borrowed view.
    pub fn as_ref(&self) -> DigestRef<'_> {
        DigestRef {
            algorithm: self.algorithm,
            text: &self.text,
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<DigestRef<'_>> for Digest {
    fn eq(&self, other: &DigestRef<'_>) -> bool {
        self.text == other.text
    }
}

/// An incremental hash of either algorithm. Cloneable, so an upload can carry its state
/// across chunks without re-reading what it already stored.
#[derive(Clone, Debug)]
pub struct Hasher(State);

/// The hash implementation stays private: the public API names no `sha2` type.
#[derive(Clone, Debug)]
enum State {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hash of the given algorithm.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Hasher(State::Sha256(Sha256::new())),
            Algorithm::Sha512 => Hasher(State::Sha512(Sha512::new())),
        }
    }

    /// The algorithm being computed.
    pub fn algorithm(&self) -> Algorithm {
        match &self.0 {
            State::Sha256(_) => Algorithm::Sha256,
            State::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            State::Sha256(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// The hash state as bytes (104 for SHA-256, 208 for SHA-512), to store with an upload
    /// session and continue in another process with [`Hasher::restore`].
    pub fn save(&self) -> bytes::Bytes {
        match &self.0 {
            State::Sha256(h) => bytes::Bytes::copy_from_slice(&h.serialize()),
            State::Sha512(h) => bytes::Bytes::copy_from_slice(&h.serialize()),
        }
    }

    /// A hash continued from [`Hasher::save`]'s bytes; `None` when they are not a saved state
    /// of `algorithm`.
    ///
    /// ```
    /// use tower_oci::protocol::{Algorithm, Digest, Hasher};
    /// let mut h = Hasher::new(Algorithm::Sha256);
    /// h.update(b"hello ");
    /// let mut resumed = Hasher::restore(Algorithm::Sha256, &h.save()).unwrap();
    /// resumed.update(b"world");
    /// assert_eq!(resumed.finalize(), Digest::of(Algorithm::Sha256, b"hello world"));
    /// assert!(Hasher::restore(Algorithm::Sha512, &h.save()).is_none());
    /// ```
    pub fn restore(algorithm: Algorithm, state: &[u8]) -> Option<Self> {
        match algorithm {
            Algorithm::Sha256 => {
                let state = state.try_into().ok()?;
                Sha256::deserialize(state)
                    .ok()
                    .map(|h| Hasher(State::Sha256(h)))
            }
            Algorithm::Sha512 => {
                let state = state.try_into().ok()?;
                Sha512::deserialize(state)
                    .ok()
                    .map(|h| Hasher(State::Sha512(h)))
            }
        }
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> Digest {
        match self.0 {
            State::Sha256(h) => Digest::from_hash(Algorithm::Sha256, &h.finalize()),
            State::Sha512(h) => Digest::from_hash(Algorithm::Sha512, &h.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_registered_algorithms() {
        let d = DigestRef::parse(EMPTY256).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex().len(), 64);
        let e = Digest::of(Algorithm::Sha512, b"");
        assert_eq!(
            DigestRef::parse(e.as_str()).unwrap().algorithm(),
            Algorithm::Sha512
        );
        assert_eq!(e.hex().len(), 128);
    }

    #[test]
    fn hashes_match_known_values() {
        assert_eq!(Digest::of(Algorithm::Sha256, b"").as_str(), EMPTY256);
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"ab");
        let snapshot = h.clone();
        h.update(b"c");
        assert_eq!(h.finalize(), Digest::of(Algorithm::Sha256, b"abc"));
        assert_eq!(snapshot.finalize(), Digest::of(Algorithm::Sha256, b"ab"));
    }

    #[test]
    fn rejects_malformed_and_flags_unsupported() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            ":abc",
            "sha256:ABC",
            &EMPTY256.to_uppercase(),
            "sha256:e3b0",
            "SHA256:abc",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
            "sha-:abc",
            "sha256:a/b",
        ] {
            assert_eq!(DigestRef::parse(bad), Err(DigestError::Invalid), "{bad:?}");
        }
        for unsupported in [
            "md5:abc",
            "blake3:abc",
            "sha384:abc",
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
        ] {
            assert_eq!(
                DigestRef::parse(unsupported),
                Err(DigestError::Unsupported),
                "{unsupported:?}"
            );
        }
    }
}
