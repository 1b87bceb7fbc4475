//! Upload session ids: the only format the registry issues, so the only one it accepts.
//!
//! Ids are UUIDs in their lowercase hyphenated form, e.g.
//! `4b4a7c4e-0d2b-8f7e-9a51-3c7f0e1d2a6b`. Anything else in an upload path is refused before
//! any session lookup.
//!
//! Since sessions that have received no byte are not stored (see [`Minted`]), an id issued by
//! the registry is a version-8 UUID that carries what such a session is: when it started, its
//! digest algorithm and a 16-bit tag of its repository, beside 62 random bits (drawn from the
//! OS random source) that make it unguessable. Version-4 ids of sessions stored by earlier
//! releases are still accepted; they only ever name stored sessions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use super::Algorithm;

/// The length of an upload id: 32 hex digits and 4 hyphens.
pub const UPLOAD_ID_LEN: usize = 36;

/// True for `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with lowercase hex `x`, nothing else.
///
/// ```
/// use tower_oci::protocol::is_valid_upload_id;
/// assert!(is_valid_upload_id("4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b"));
/// assert!(!is_valid_upload_id("4B4A7C4E-0D2B-4F7E-9A51-3C7F0E1D2A6B"));
/// assert!(!is_valid_upload_id("4b4a7c4e0d2b4f7e9a513c7f0e1d2a6b"));
/// ```
pub fn is_valid_upload_id(id: &str) -> bool {
    id.len() == UPLOAD_ID_LEN
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// What an id issued by [`Minted::issue`] says of its session.
///
/// A session that has received no byte needs no stored record: everything it is (its
/// repository, algorithm and start) is in its id, so starting an upload costs no storage
/// operation, and a `PUT` that brings the whole blob finishes it in one. Its first stored byte
/// stores it under the same id. A forged id can only describe such an empty session, which
/// holds nothing, so ids are not signed; the random bits keep a stored session's id
/// unguessable.
///
/// Layout (bytes of the UUID): 0-4 the start in Unix seconds, 5 and 7 the owner tag,
/// 6 the version (8) and the algorithm, 8 the variant and 6 random bits, 9-15 random.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Minted {
    /// When the session started (whole seconds).
    pub(crate) started: SystemTime,
    /// Its digest algorithm.
    pub(crate) algorithm: Algorithm,
    tag: u16,
}

/// 16 bits of a hash of the repository and the principal that owns the session (`None`:
/// nobody in particular).
fn owner_tag(repo: &str, principal: Option<&str>) -> u16 {
    let mut hasher = Sha256::new();
    hasher.update(repo.as_bytes());
    if let Some(principal) = principal {
        hasher.update([0]);
        hasher.update(principal.as_bytes());
    }
    let hash = hasher.finalize();
    u16::from_be_bytes([hash[0], hash[1]])
}

fn algorithm_code(algorithm: Algorithm) -> u8 {
    match algorithm {
        Algorithm::Sha256 => 0,
        Algorithm::Sha512 => 1,
    }
}

impl Minted {
    /// A new id for an empty session of `repo`, owned by `principal`, hashing with
    /// `algorithm`, started at `now`.
    pub(crate) fn issue(
        repo: &str,
        principal: Option<&str>,
        algorithm: Algorithm,
        now: SystemTime,
    ) -> String {
        let mut bytes = *uuid::Uuid::new_v4().as_bytes();
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .min((1 << 40) - 1);
        bytes[..5].copy_from_slice(&secs.to_be_bytes()[3..]);
        let [tag_hi, tag_lo] = owner_tag(repo, principal).to_be_bytes();
        bytes[5] = tag_hi;
        bytes[6] = 0x80 | algorithm_code(algorithm);
        bytes[7] = tag_lo;
        bytes[8] = 0x80 | (bytes[8] & 0x3f);
        uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
    }

    /// What `id` says, if it is one [`Minted::issue`] made (any other id, e.g. a version-4 one,
    /// is `None`).
    pub(crate) fn decode(id: &str) -> Option<Minted> {
        if !is_valid_upload_id(id) {
            return None;
        }
        let bytes = *uuid::Uuid::try_parse(id).ok()?.as_bytes();
        if bytes[6] >> 4 != 8 || bytes[8] >> 6 != 0b10 {
            return None;
        }
        let algorithm = match bytes[6] & 0x0f {
            0 => Algorithm::Sha256,
            1 => Algorithm::Sha512,
            _ => return None,
        };
        let mut secs = [0u8; 8];
        secs[3..].copy_from_slice(&bytes[..5]);
        Some(Minted {
            started: UNIX_EPOCH + Duration::from_secs(u64::from_be_bytes(secs)),
            algorithm,
            tag: u16::from_be_bytes([bytes[5], bytes[7]]),
        })
    }

    /// Whether the id was issued for `repo` and `principal` (a 16-bit tag: another
    /// repository's or owner's id is told apart 65,535 times in 65,536, on top of the id's
    /// random bits that the other would have to know; the stored record, once there is one,
    /// decides for sure).
    pub(crate) fn is_for(&self, repo: &str, principal: Option<&str>) -> bool {
        self.tag == owner_tag(repo, principal)
    }

    /// Whether the session is still within `timeout` of its start at `now` (the start is
    /// kept in whole seconds, so up to a second more; an id from more than a minute in the
    /// future is not).
    pub(crate) fn is_live(&self, now: SystemTime, timeout: Duration) -> bool {
        match now.duration_since(self.started) {
            // Saturating: a host may configure `Duration::MAX` for "never".
            Ok(age) => age < timeout.saturating_add(Duration::from_secs(1)),
            Err(ahead) => ahead.duration() <= Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_the_crate_issues() {
        for _ in 0..64 {
            let id = uuid::Uuid::new_v4().hyphenated().to_string();
            assert!(is_valid_upload_id(&id), "{id}");
            let id = Minted::issue("a/b", None, Algorithm::Sha512, SystemTime::now());
            assert!(is_valid_upload_id(&id), "{id}");
        }
        assert!(is_valid_upload_id("00000000-0000-0000-0000-000000000000"));
    }

    #[test]
    fn minted_ids_carry_their_session() {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let id = Minted::issue("library/alpine", None, algorithm, now);
            let minted = Minted::decode(&id).expect("decodes");
            assert_eq!((minted.started, minted.algorithm), (now, algorithm));
            assert!(minted.is_for("library/alpine", None));
            assert!(!minted.is_for("library/alpine2", None));
            assert!(!minted.is_for("library/alpine", Some("alice")));
            let owned = Minted::issue("library/alpine", Some("alice"), algorithm, now);
            let owned = Minted::decode(&owned).expect("decodes");
            assert!(owned.is_for("library/alpine", Some("alice")));
            assert!(!owned.is_for("library/alpine", Some("bob")));
            assert!(!owned.is_for("library/alpine", None));
            let hour = Duration::from_secs(3600);
            assert!(minted.is_live(now, hour));
            assert!(minted.is_live(now + hour, hour));
            assert!(!minted.is_live(now + hour + Duration::from_secs(1), hour));
            assert!(minted.is_live(now - Duration::from_secs(60), hour));
            assert!(minted.is_live(now + hour, Duration::MAX), "no overflow");
            assert!(!minted.is_live(now - Duration::from_secs(61), hour));
        }
        // Two ids of one repository and second differ in their random bits.
        let a = Minted::issue("r", None, Algorithm::Sha256, now);
        let b = Minted::issue("r", None, Algorithm::Sha256, now);
        assert_ne!(a, b);
        assert_eq!(a[..18], b[..18], "same time, tag and version");
    }

    #[test]
    fn other_ids_are_not_minted() {
        assert_eq!(Minted::decode("4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b"), None);
        assert_eq!(Minted::decode("00000000-0000-0000-0000-000000000000"), None);
        // Version 8 with an unknown algorithm code, or the wrong variant.
        assert_eq!(Minted::decode("4b4a7c4e-0d2b-8f7e-9a51-3c7f0e1d2a6b"), None);
        assert_eq!(Minted::decode("4b4a7c4e-0d2b-807e-1a51-3c7f0e1d2a6b"), None);
        assert!(Minted::decode("4b4a7c4e-0d2b-807e-9a51-3c7f0e1d2a6b").is_some());
        assert_eq!(Minted::decode("4B4A7C4E-0D2B-807E-9A51-3C7F0E1D2A6B"), None);
    }

    #[test]
    fn rejects_everything_else() {
        let good = "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b";
        for bad in [
            "",
            "x",
            "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6",
            "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6bb",
            "4B4A7C4E-0D2B-4F7E-9A51-3C7F0E1D2A6B",
            "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6g",
            "4b4a7c4e_0d2b-4f7e-9a51-3c7f0e1d2a6b",
            "4b4a7c4e0-d2b-4f7e-9a51-3c7f0e1d2a6b",
            "{4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b}",
            "4b4a7c4e0d2b4f7e9a513c7f0e1d2a6b",
            "urn:uuid:4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b",
            "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6\u{e9}",
        ] {
            assert!(!is_valid_upload_id(bad), "{bad:?}");
        }
        // Every single-byte change at a hyphen position breaks it.
        for pos in [8, 13, 18, 23] {
            let mut s = good.as_bytes().to_vec();
            s[pos] = b'a';
            assert!(!is_valid_upload_id(std::str::from_utf8(&s).unwrap()));
        }
    }
}
