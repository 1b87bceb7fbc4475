//! Referrers, kept on write: one file per (subject, referrer) pair under
//! `repositories/<name>/_referrers/<alg>/<subject-hex>/<alg>-<hex>`, holding the artifact type
//! as a JSON line (`null` when none) and then the descriptor bytes exactly as given. Listing a
//! subject's referrers reads one directory's names, and only the files of the page it returns
//! (plus those an artifact-type filter skips).

use crate::protocol::Digest;
use crate::storage::{Error, Page, ReferrerEntry, ReferrerListOptions, Result};

use super::layout::referrer_digest;
use super::write::{blocking, io_error, read_dir_optional, read_optional};
use super::{invalid_name, FsStorage};

/// The file contents of a referrers entry.
pub(super) fn encode_entry(entry: &ReferrerEntry) -> Result<Vec<u8>> {
    let mut out = serde_json::to_vec(&entry.artifact_type).map_err(|e| Error::Other {
        key: entry.digest.as_str().to_owned(),
        source: Box::new(e),
    })?;
    out.push(b'\n');
    out.extend_from_slice(&entry.descriptor);
    Ok(out)
}

/// A referrers entry from its file contents.
fn decode_entry(digest: Digest, bytes: Vec<u8>) -> Option<ReferrerEntry> {
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    let artifact_type: Option<String> = serde_json::from_slice(bytes.get(..newline)?).ok()?;
    let descriptor = bytes::Bytes::from(bytes).slice(newline + 1..);
    Some(ReferrerEntry::new(digest, artifact_type, descriptor))
}

impl FsStorage {
    pub(super) async fn list_referrers_impl(
        &self,
        repo: &str,
        subject: &Digest,
        options: ReferrerListOptions,
    ) -> Result<Page<ReferrerEntry>> {
        let dir = self
            .layout
            .referrers(repo, subject)
            .ok_or_else(|| invalid_name(repo))?;
        blocking(move || {
            let Some(entries) = read_dir_optional(&dir).map_err(io_error(&dir))? else {
                return Ok(Page::default());
            };
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry.map_err(io_error(&dir))?;
                let Some(digest) = entry.file_name().to_str().and_then(referrer_digest) else {
                    continue;
                };
                if let Some(after) = &options.page.after {
                    if digest.as_str() <= after.as_str() {
                        continue;
                    }
                }
                names.push((digest, entry.path()));
            }
            names.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));

            let mut items = Vec::new();
            let mut bytes = 0usize;
            let mut more = false;
            for (digest, path) in names {
                if items.len() >= options.page.limit && options.artifact_type.is_none() {
                    // Without a filter, any name left is an entry left: no need to read it.
                    more = true;
                    break;
                }
                // Removed since the directory was read: skip it.
                let Some(contents) = read_optional(&path).map_err(io_error(&path))? else {
                    continue;
                };
                let entry = decode_entry(digest, contents).ok_or_else(|| {
                    Error::corrupt(path.display().to_string(), "bad referrers entry")
                })?;
                if options.artifact_type.is_some() && entry.artifact_type != options.artifact_type {
                    continue;
                }
                let full = items.len() >= options.page.limit
                    || (!items.is_empty() && bytes + entry.descriptor.len() > options.max_bytes);
                if full {
                    more = true;
                    break;
                }
                bytes += entry.descriptor.len();
                items.push(entry);
            }
            Ok(Page::new(items, more))
        })
        .await
    }
}
