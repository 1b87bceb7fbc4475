//! Where each piece of state lives under the root directory. The only place paths are built.
//!
//! Names, tags, digests and upload ids reaching storage were validated by the request parser;
//! they are checked again here (cheaply, against a stricter-than-needed "safe path component"
//! rule) so a caller bug can never turn into a path outside the root.

use std::path::PathBuf;

use crate::protocol::name::MAX_NAME_LEN;
use crate::protocol::upload_id::is_valid_upload_id;
use crate::protocol::Digest;

/// Directory of content-addressed data: `blobs/<alg>/<hex>`.
const BLOBS: &str = "blobs";
/// Directory of upload sessions (`<id>.json` + `<id>.data`) and staged blobs.
const UPLOADS: &str = "uploads";
/// Directory of temp files for atomic writes.
const TMP: &str = "tmp";
/// Directory holding one directory per repository, nested like the name.
pub(super) const REPOSITORIES: &str = "repositories";

/// Per-repository subdirectories. Repository name components never start with `_`, so these
/// cannot collide with a nested repository's directory.
pub(super) const REPO_BLOBS: &str = "_blobs";
pub(super) const REPO_MANIFESTS: &str = "_manifests";
pub(super) const REPO_TAGS: &str = "_tags";
const REPO_REFERRERS: &str = "_referrers";

/// File name prefix of staged blobs in `uploads/` (never an upload id, which is a UUID).
pub(super) const STAGED_PREFIX: &str = "staged-";
/// Suffix of an upload session's record.
pub(super) const RECORD_SUFFIX: &str = ".json";
/// Suffix of an upload session's (or staged blob's) bytes.
pub(super) const DATA_SUFFIX: &str = ".data";

/// Path arithmetic over one root directory.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(super) fn new(root: PathBuf) -> Self {
        Layout { root }
    }

    pub(super) fn uploads(&self) -> PathBuf {
        self.root.join(UPLOADS)
    }

    pub(super) fn tmp(&self) -> PathBuf {
        self.root.join(TMP)
    }

    pub(super) fn blobs(&self) -> PathBuf {
        self.root.join(BLOBS)
    }

    pub(super) fn repositories(&self) -> PathBuf {
        self.root.join(REPOSITORIES)
    }

    /// `blobs/<alg>/<hex>`.
    pub(super) fn blob(&self, digest: &Digest) -> PathBuf {
        let mut p = self.blobs();
        push_digest(&mut p, digest);
        p
    }

    /// `uploads/<id>.json`, or `None` when `id` is not an upload id.
    pub(super) fn upload_record(&self, id: &str) -> Option<PathBuf> {
        is_valid_upload_id(id).then(|| self.uploads().join(format!("{id}{RECORD_SUFFIX}")))
    }

    /// `uploads/<id>.data`, or `None` when `id` is not an upload id.
    pub(super) fn upload_data(&self, id: &str) -> Option<PathBuf> {
        is_valid_upload_id(id).then(|| self.uploads().join(format!("{id}{DATA_SUFFIX}")))
    }

    /// `uploads/staged-<random>.data`: a fresh staged blob's bytes.
    pub(super) fn staged(&self) -> PathBuf {
        let name = uuid::Uuid::new_v4().simple();
        self.uploads()
            .join(format!("{STAGED_PREFIX}{name}{DATA_SUFFIX}"))
    }

    /// `repositories/<name>`, or `None` when `repo` is not a safe repository name.
    pub(super) fn repo(&self, repo: &str) -> Option<PathBuf> {
        if !is_safe_name(repo) {
            return None;
        }
        // Sized once for the longest path built on it (a digest under `_manifests/`), so the
        // pushes here and in the callers do not reallocate.
        let base = self.root.as_os_str().len() + REPOSITORIES.len() + repo.len();
        let mut p = PathBuf::with_capacity(base + 160);
        p.push(&self.root);
        p.push(REPOSITORIES);
        for component in repo.split('/') {
            p.push(component);
        }
        Some(p)
    }

    /// `repositories/<name>/_blobs/<alg>/<hex>`: an empty file, present while `repo` holds it.
    pub(super) fn blob_link(&self, repo: &str, digest: &Digest) -> Option<PathBuf> {
        let mut p = self.repo(repo)?;
        p.push(REPO_BLOBS);
        push_digest(&mut p, digest);
        Some(p)
    }

    /// `repositories/<name>/_blobs`.
    pub(super) fn blob_links(&self, repo: &str) -> Option<PathBuf> {
        let mut p = self.repo(repo)?;
        p.push(REPO_BLOBS);
        Some(p)
    }

    /// `repositories/<name>/_manifests`.
    pub(super) fn manifests(&self, repo: &str) -> Option<PathBuf> {
        let mut p = self.repo(repo)?;
        p.push(REPO_MANIFESTS);
        Some(p)
    }

    /// `repositories/<name>/_manifests/<alg>/<hex>`: the manifest's link record (JSON).
    pub(super) fn manifest_link(&self, repo: &str, digest: &Digest) -> Option<PathBuf> {
        let mut p = self.manifests(repo)?;
        push_digest(&mut p, digest);
        Some(p)
    }

    /// `repositories/<name>/_tags`.
    pub(super) fn tags(&self, repo: &str) -> Option<PathBuf> {
        let mut p = self.repo(repo)?;
        p.push(REPO_TAGS);
        Some(p)
    }

    /// `repositories/<name>/_tags/<tag>`: holds the digest text.
    pub(super) fn tag(&self, repo: &str, tag: &str) -> Option<PathBuf> {
        if !is_safe_tag(tag) {
            return None;
        }
        let mut p = self.tags(repo)?;
        p.push(tag);
        Some(p)
    }

    /// `repositories/<name>/_referrers/<alg>/<subject-hex>`: one file per referrer.
    pub(super) fn referrers(&self, repo: &str, subject: &Digest) -> Option<PathBuf> {
        let mut p = self.repo(repo)?;
        p.push(REPO_REFERRERS);
        push_digest(&mut p, subject);
        Some(p)
    }

    /// `.../_referrers/<alg>/<subject-hex>/<alg>-<hex>`.
    pub(super) fn referrer(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Digest,
    ) -> Option<PathBuf> {
        let mut p = self.referrers(repo, subject)?;
        p.push(referrer_file_name(referrer));
        Some(p)
    }
}

fn push_digest(p: &mut PathBuf, digest: &Digest) {
    // `Digest` only holds registered algorithms with lowercase hex: both are safe components.
    p.push(digest.algorithm().as_str());
    p.push(digest.hex());
}

/// `<alg>-<hex>`: a referrer's file name.
pub(super) fn referrer_file_name(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm().as_str(), digest.hex())
}

/// The digest a referrer file is named after, if the name is one.
pub(super) fn referrer_digest(file_name: &str) -> Option<Digest> {
    let (alg, hex) = file_name.split_once('-')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

/// Every component is `[a-z0-9][a-z0-9._-]*` (so never empty, `.`, `..` or `_`-prefixed), and
/// the whole name is at most [`MAX_NAME_LEN`] bytes. A superset of the spec's name grammar.
pub(super) fn is_safe_name(repo: &str) -> bool {
    repo.len() <= MAX_NAME_LEN && repo.split('/').all(is_safe_name_component)
}

pub(super) fn is_safe_name_component(component: &str) -> bool {
    let mut bytes = component.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, the spec's tag grammar (never `.` or `..`).
pub(super) fn is_safe_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    tag.len() <= 128
        && matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Algorithm;

    #[test]
    fn rejects_unsafe_names_and_tags() {
        for bad in [
            "", "/", "a/", "/a", "a//b", "..", "a/../b", ".", "a/./b", "_a", "a/_b", "A", "a b",
            "a\\b", "a\0",
        ] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
        for good in ["a", "library/alpine", "a/b/c", "a.b_c-d/e__f"] {
            assert!(is_safe_name(good), "{good:?}");
        }
        assert!(!is_safe_name(&"a".repeat(MAX_NAME_LEN + 1)));
        for bad in ["", ".", "..", ".a", "-a", "a/b", "a b", &"a".repeat(129)] {
            assert!(!is_safe_tag(bad), "{bad:?}");
        }
        for good in ["latest", "_x", "v1.2.3-rc_1", &"a".repeat(128)] {
            assert!(is_safe_tag(good), "{good:?}");
        }
    }

    #[test]
    fn paths_stay_under_root() {
        let root = PathBuf::from("/srv/reg");
        let layout = Layout::new(root.clone());
        let d = Digest::of(Algorithm::Sha256, b"x");
        let link = layout.blob_link("a/b", &d).unwrap();
        assert_eq!(
            link,
            root.join("repositories/a/b/_blobs/sha256").join(d.hex())
        );
        assert!(link.starts_with(&root));
        assert!(layout.blob_link("a/../../etc", &d).is_none());
        assert!(layout.tag("a", "..").is_none());
        assert!(layout.upload_record("../x").is_none());
        assert!(layout.upload_data("staged-x").is_none());
        let name = referrer_file_name(&d);
        assert_eq!(referrer_digest(&name), Some(d.clone()));
        assert_eq!(
            layout.referrer("a", &d, &d).unwrap(),
            root.join("repositories/a/_referrers/sha256")
                .join(d.hex())
                .join(format!("sha256-{}", d.hex()))
        );
    }
}
