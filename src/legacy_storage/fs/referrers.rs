//! Referrers, kept on write: one small JSON file per (subject, referrer) pair under
//! `repositories/<name>/_referrers/<alg>/<subject-hex>/<alg>-<hex>.json`, so listing a
//! subject's referrers reads one directory and never scans manifests.

use std::fs;
use std::io;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::write::{blocking, read_optional, remove, write_atomic};
use super::{invalid_name, FsStorage};
use crate::protocol::Digest;
use crate::legacy_storage::{Error, Referrer, Result};

/// The on-disk form of a [`Referrer`]. Annotations stay JSON text, byte for byte.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReferrerFile {
    digest: String,
    media_type: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<String>,
}

impl FsStorage {
    pub(super) async fn add_referrer_impl(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: Referrer,
    ) -> Result<()> {
        let path = self
            .layout
            .referrer(repo, subject, &referrer.digest)
            .ok_or_else(|| invalid_name(repo))?;
        let json = serde_json::to_vec(&ReferrerFile {
            digest: referrer.digest.as_str().to_owned(),
            media_type: referrer.media_type,
            size: referrer.size,
            artifact_type: referrer.artifact_type,
            annotations: referrer.annotations,
        })
        .map_err(|e| Error::Io(io::Error::other(e)))?;
        let temp = Arc::clone(&self.temp);
        let durable = self.durable;
        blocking(move || Ok(write_atomic(&temp, &path, &json, durable)?)).await
    }

    pub(super) async fn remove_referrer_impl(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<()> {
        let Some(path) = self.layout.referrer(repo, subject, referrer) else {
            return Ok(());
        };
        let durable = self.durable;
        blocking(move || {
            remove(&path, durable)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn list_referrers_impl(
        &self,
        repo: &str,
        subject: &Digest,
    ) -> Result<Vec<Referrer>> {
        let Some(dir) = self.layout.referrers(repo, subject) else {
            return Ok(Vec::new());
        };
        blocking(move || {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut referrers = Vec::new();
            for entry in entries {
                let path = entry?.path();
                if path.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                // Removed since the directory was read: skip it.
                let Some(json) = read_optional(&path)? else {
                    continue;
                };
                referrers.push(parse(&json).ok_or_else(|| {
                    Error::Corrupt(format!("bad referrer file: {}", path.display()))
                })?);
            }
            referrers.sort_unstable_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
            Ok(referrers)
        })
        .await
    }
}

fn parse(json: &[u8]) -> Option<Referrer> {
    let file: ReferrerFile = serde_json::from_slice(json).ok()?;
    Some(Referrer {
        digest: Digest::parse(&file.digest).ok()?,
        media_type: file.media_type,
        size: file.size,
        artifact_type: file.artifact_type,
        annotations: file.annotations,
    })
}
