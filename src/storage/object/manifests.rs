//! Manifests, tags, referrers and the repository catalog.
//!
//! Manifest links and tags are never deleted, only replaced by compare-and-swap, with an empty
//! object (a tombstone) meaning absent. That gives both operations a version to check:
//!
//! - `put_manifest` writes the link record, then the `_tagged` reverse-index markers and the
//!   tags, then rewrites the link record once more with a compare-and-swap against what it
//!   reads. That last write changes the record's version after every tag is in place.
//! - `delete_manifest` reads the link record's version, tombstones every tag the markers
//!   name that still points at the manifest, then swaps the link record for a tombstone
//!   against the version it read.
//!
//! A delete whose final swap succeeds read the record after the put's last write, so it
//! listed the put's markers and saw its tags; a put whose last swap finds a tombstone starts
//! over. So a tag never points at a manifest its repository does not hold, on any replica.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::blobs::{self, add_to_catalog, new_chunk_key, Chunk};
use super::{
    check_repo, check_tag, digest_key, digest_offset, key_digest, lock, system_time, Inner,
};
use crate::protocol::Digest;
use crate::storage::{
    ContentInfo, Error, ListOptions, ManifestMeta, ManifestPut, Page, ReferrerEntry,
    ReferrerListOptions, Result, StoredManifest,
};

/// Rounds of a put or delete that found the other one racing it, before giving up.
const ROUNDS: usize = 8;

/// `_manifests/<alg>/<hex>`: a manifest `repo` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkRecord {
    media_type: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// Unique per write. S3's etag is the MD5 of the bytes: without it, rewriting the same
    /// record would keep its etag, and a delete's swap against the old version would succeed.
    #[serde(default)]
    nonce: String,
}

fn manifest_key(repo: &str, digest: &Digest) -> String {
    format!("repositories/{repo}/_manifests/{}", digest_key(digest))
}

fn tag_key(repo: &str, tag: &str) -> String {
    format!("repositories/{repo}/_tags/{tag}")
}

fn tagged_dir(repo: &str, digest: &Digest) -> String {
    format!("repositories/{repo}/_tagged/{}", digest_key(digest))
}

fn referrers_dir(repo: &str, subject: &Digest) -> String {
    format!("repositories/{repo}/_referrers/{}", digest_key(subject))
}

/// `alg-hex`: a referring digest as one key segment, sorting as the digest text does.
fn referrer_name(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm().as_str(), digest.hex())
}

fn referrer_key(repo: &str, subject: &Digest, digest: &Digest) -> String {
    format!("{}/{}", referrers_dir(repo, subject), referrer_name(digest))
}

fn manifest_not_found(repo: &str, digest: &Digest) -> Error {
    Error::not_found(format!("{repo}@{digest}"))
}

fn tag_not_found(repo: &str, tag: &str) -> Error {
    Error::not_found(format!("{repo}:{tag}"))
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::Other {
            key: key.to_owned(),
            source: Box::new(e),
        })
}

/// The link record of a manifest, if live, and the version read (`None` when absent).
async fn read_link(
    inner: &Inner,
    repo: &str,
    digest: &Digest,
) -> Result<(Option<LinkRecord>, Option<object_store::UpdateVersion>)> {
    let key = manifest_key(repo, digest);
    let Some(read) = inner.read(&key).await? else {
        return Ok((None, None));
    };
    if read.bytes.is_empty() {
        return Ok((None, Some(read.version)));
    }
    let record =
        serde_json::from_slice(&read.bytes).map_err(|e| Error::corrupt(key, e.to_string()))?;
    Ok((Some(record), Some(read.version)))
}

async fn live_link(inner: &Inner, repo: &str, digest: &Digest) -> Result<LinkRecord> {
    check_repo(repo)?;
    read_link(inner, repo, digest)
        .await?
        .0
        .ok_or_else(|| manifest_not_found(repo, digest))
}

pub(crate) fn forget_cached(inner: &Inner, digest: &Digest) {
    lock(&inner.manifest_cache).remove(digest.as_str());
}

pub(crate) async fn get_manifest(
    inner: &Inner,
    repo: &str,
    digest: &Digest,
) -> Result<StoredManifest> {
    let record = live_link(inner, repo, digest).await?;
    if let Some(bytes) = inner.cached_manifest(digest) {
        return Ok(StoredManifest::new(record.media_type, bytes));
    }
    let pointer = blobs::read_pointer(inner, digest).await.map_err(|e| {
        if e.is_not_found() {
            manifest_not_found(repo, digest)
        } else {
            e
        }
    })?;
    let bytes = blobs::read_chunks(inner, &pointer.chunks).await?;
    inner.cache_manifest(digest, bytes.clone());
    Ok(StoredManifest::new(record.media_type, bytes))
}

pub(crate) async fn manifest_meta(
    inner: &Inner,
    repo: &str,
    digest: &Digest,
) -> Result<ManifestMeta> {
    let record = live_link(inner, repo, digest).await?;
    Ok(ManifestMeta::new(record.media_type, record.size))
}

/// Stores manifest bytes as content (a chunk and its pointer) unless present; touches it.
async fn store_content(inner: &Inner, digest: &Digest, bytes: &Bytes) -> Result<()> {
    // Touch, then check (see `blobs::delete_blob_content`).
    match blobs::touch_blob(inner, digest).await {
        Ok(()) => return Ok(()),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let key = new_chunk_key();
    inner.put(&key, bytes.clone()).await?;
    let chunk = Chunk {
        key,
        size: bytes.len() as u64,
    };
    blobs::publish(inner, digest, vec![chunk]).await
}

pub(crate) async fn put_manifest(inner: &Inner, repo: &str, put: &ManifestPut) -> Result<()> {
    check_repo(repo)?;
    for tag in &put.tags {
        check_tag(repo, tag)?;
    }
    let digest = &put.digest;
    let bytes = &put.manifest.bytes;
    if Digest::of(digest.algorithm(), bytes) != *digest {
        return Err(Error::invalid_input(
            format!("{repo}@{digest}"),
            "manifest bytes do not hash to the digest",
        ));
    }
    store_content(inner, digest, bytes).await?;
    inner.cache_manifest(digest, bytes.clone());

    let link_key = manifest_key(repo, digest);
    let mut record = LinkRecord {
        media_type: put.manifest.media_type.clone(),
        size: bytes.len() as u64,
        subject: put.referrer.as_ref().map(|(s, _)| s.to_string()),
        nonce: String::new(),
    };
    let mut record = |key: &str| {
        record.nonce = uuid::Uuid::new_v4().simple().to_string();
        encode(key, &record)
    };
    let referrer = match &put.referrer {
        Some((subject, entry)) => {
            Some((referrer_key(repo, subject, digest), encode_referrer(entry)?))
        }
        None => None,
    };
    let digest_text = Bytes::from(digest.to_string());
    for _ in 0..ROUNDS {
        inner.put(&link_key, record(&link_key)?).await?;
        if let Some((key, entry)) = &referrer {
            inner.put(key, entry.clone()).await?;
        }
        for tag in &put.tags {
            let marker = format!("{}/{tag}", tagged_dir(repo, digest));
            inner.put(&marker, Bytes::new()).await?;
            inner.put(&tag_key(repo, tag), digest_text.clone()).await?;
        }
        add_to_catalog(inner, repo).await?;
        // The last write: swap the record for itself, so any delete that read it before the
        // tags were written fails its own swap and looks again.
        for _ in 0..ROUNDS {
            let Some(read) = inner.read(&link_key).await? else {
                break;
            };
            if read.bytes.is_empty() {
                break;
            }
            if inner
                .swap(&link_key, &read.version, record(&link_key)?)
                .await?
                .is_some()
            {
                return Ok(());
            }
        }
    }
    Err(Error::conflict(
        link_key,
        "deleted concurrently too many times in a row",
    ))
}

/// A referrers entry as stored: the artifact type as a JSON line, then the descriptor.
fn encode_referrer(entry: &ReferrerEntry) -> Result<Bytes> {
    let mut out = serde_json::to_vec(&entry.artifact_type).map_err(|e| Error::Other {
        key: entry.digest.to_string(),
        source: Box::new(e),
    })?;
    out.push(b'\n');
    out.extend_from_slice(&entry.descriptor);
    Ok(out.into())
}

fn decode_referrer(key: &str, digest: Digest, bytes: &Bytes) -> Result<ReferrerEntry> {
    let corrupt = |m: &str| Error::corrupt(key, m);
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| corrupt("no artifact type line"))?;
    let artifact_type: Option<String> =
        serde_json::from_slice(&bytes[..newline]).map_err(|e| corrupt(&e.to_string()))?;
    Ok(ReferrerEntry::new(
        digest,
        artifact_type,
        bytes.slice(newline + 1..),
    ))
}

pub(crate) async fn delete_manifest(inner: &Inner, repo: &str, digest: &Digest) -> Result<()> {
    check_repo(repo)?;
    let link_key = manifest_key(repo, digest);
    for _ in 0..ROUNDS {
        let (Some(record), Some(version)) = read_link(inner, repo, digest).await? else {
            return Err(manifest_not_found(repo, digest));
        };
        // Every tag that was ever pointed at this manifest has a marker.
        let mut tags = Vec::new();
        inner
            .list(&tagged_dir(repo, digest), None, |tag, _| {
                tags.push(tag.to_owned());
                true
            })
            .await?;
        for tag in tags {
            tombstone_tag_if(inner, repo, &tag, digest).await?;
        }
        if let Some(subject) = record
            .subject
            .as_deref()
            .and_then(|s| Digest::parse(s).ok())
        {
            inner.delete(&referrer_key(repo, &subject, digest)).await?;
        }
        if inner
            .swap(&link_key, &version, Bytes::new())
            .await?
            .is_some()
        {
            return Ok(());
        }
        // A put rewrote the record meanwhile: look again.
    }
    Err(Error::conflict(
        link_key,
        "re-put concurrently too many times in a row",
    ))
}

/// Tombstones tag `tag` if it points at `digest`; a tag retargeted meanwhile is left alone.
async fn tombstone_tag_if(inner: &Inner, repo: &str, tag: &str, digest: &Digest) -> Result<()> {
    let key = tag_key(repo, tag);
    for _ in 0..ROUNDS {
        let Some(read) = inner.read(&key).await? else {
            return Ok(());
        };
        if read.bytes.as_ref() != digest.as_str().as_bytes() {
            return Ok(());
        }
        if inner
            .swap(&key, &read.version, Bytes::new())
            .await?
            .is_some()
        {
            return Ok(());
        }
    }
    Err(Error::conflict(key, "retagged concurrently too many times"))
}

pub(crate) async fn get_tag(inner: &Inner, repo: &str, tag: &str) -> Result<Digest> {
    check_repo(repo)?;
    check_tag(repo, tag)?;
    let key = tag_key(repo, tag);
    let read = inner
        .read(&key)
        .await?
        .filter(|read| !read.bytes.is_empty())
        .ok_or_else(|| tag_not_found(repo, tag))?;
    std::str::from_utf8(&read.bytes)
        .ok()
        .and_then(|text| Digest::parse(text).ok())
        .ok_or_else(|| Error::corrupt(key, "not a digest"))
}

pub(crate) async fn delete_tag(inner: &Inner, repo: &str, tag: &str) -> Result<()> {
    check_repo(repo)?;
    check_tag(repo, tag)?;
    let key = tag_key(repo, tag);
    for _ in 0..ROUNDS {
        let read = inner
            .read(&key)
            .await?
            .filter(|read| !read.bytes.is_empty())
            .ok_or_else(|| tag_not_found(repo, tag))?;
        if inner
            .swap(&key, &read.version, Bytes::new())
            .await?
            .is_some()
        {
            return Ok(());
        }
    }
    Err(Error::conflict(key, "retagged concurrently too many times"))
}

pub(crate) async fn list_tags(
    inner: &Inner,
    repo: &str,
    options: ListOptions,
) -> Result<Page<String>> {
    check_repo(repo)?;
    let dir = format!("repositories/{repo}/_tags");
    // Sizes come with the listing: tombstones are skipped without reading them.
    let page = inner
        .page(&dir, &options, |tag, meta| {
            (meta.size > 0 && !tag.contains('/')).then(|| tag.to_owned())
        })
        .await?;
    if page.items.is_empty() && !repository_exists(inner, repo).await? {
        return Err(Error::not_found(repo));
    }
    Ok(page)
}

pub(crate) async fn list_referrers(
    inner: &Inner,
    repo: &str,
    subject: &Digest,
    options: ReferrerListOptions,
) -> Result<Page<ReferrerEntry>> {
    if check_repo(repo).is_err() {
        return Ok(Page::default());
    }
    let dir = referrers_dir(repo, subject);
    let after = options
        .page
        .after
        .as_deref()
        .map(|after| after.replacen(':', "-", 1));
    let mut names = Vec::new();
    inner
        .list(&dir, after.as_deref(), |name, _| {
            names.push(name.to_owned());
            true
        })
        .await?;
    // Read entries one by one, only as far as the page (and one more match) needs.
    let mut items = Vec::new();
    let mut bytes = 0;
    let mut more = false;
    for name in names {
        let Some(digest) = name
            .split_once('-')
            .and_then(|(alg, hex)| Digest::parse(&format!("{alg}:{hex}")).ok())
        else {
            continue;
        };
        let key = format!("{dir}/{name}");
        let Some(read) = inner.read(&key).await? else {
            continue;
        };
        let entry = decode_referrer(&key, digest, &read.bytes)?;
        if options.artifact_type.is_some() && entry.artifact_type != options.artifact_type {
            continue;
        }
        let len = entry.descriptor.len();
        let full = !items.is_empty() && bytes + len > options.max_bytes;
        if items.len() >= options.page.limit || full {
            more = true;
            break;
        }
        bytes += len;
        items.push(entry);
    }
    Ok(Page::new(items, more))
}

pub(crate) async fn list_repositories(inner: &Inner, options: ListOptions) -> Result<Page<String>> {
    inner
        .page("catalog", &options, |name, _| Some(name.to_owned()))
        .await
}

pub(crate) async fn repository_exists(inner: &Inner, repo: &str) -> Result<bool> {
    if check_repo(repo).is_err() {
        return Ok(false);
    }
    Ok(inner.head(&format!("catalog/{repo}")).await?.is_some())
}

pub(crate) async fn list_manifests(
    inner: &Inner,
    repo: &str,
    options: ListOptions,
) -> Result<Page<ContentInfo>> {
    if check_repo(repo).is_err() {
        return Ok(Page::default());
    }
    let dir = format!("repositories/{repo}/_manifests");
    let options = ListOptions::new(options.after.as_deref().map(digest_offset), options.limit);
    let listed = inner
        .page(&dir, &options, |key, meta| {
            (meta.size > 0)
                .then(|| key_digest(key))
                .flatten()
                .map(|digest| (digest, system_time(meta)))
        })
        .await?;
    let mut items = Vec::with_capacity(listed.items.len());
    for (digest, touched) in listed.items {
        if let (Some(record), _) = read_link(inner, repo, &digest).await? {
            items.push(ContentInfo::new(digest, record.size, touched));
        }
    }
    Ok(Page::new(items, listed.more))
}
