//! Blob content (chunks and their pointer), links into repositories, touched times, reads.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{stream, StreamExt, TryStreamExt};
use object_store::{GetRange, ObjectStore};
use serde::{Deserialize, Serialize};
use tokio_util::io::StreamReader;

use super::{
    check_repo, digest_key, digest_offset, key_digest, lock, manifests, store_error, system_time,
    uploads, Inner,
};
use crate::protocol::Digest;
use crate::storage::{
    resolve_span, BlobReader, ContentInfo, DeleteContentOptions, Error, GetOptions, GetResult,
    LeftoverOptions, LinkOptions, ListOptions, Page, Reclaimed, Result, Span,
};

/// One immutable data object of a blob or session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Chunk {
    pub(crate) key: String,
    pub(crate) size: u64,
}

/// `blobs/<alg>/<hex>`: the content of a verified digest, as chunks in order.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Pointer {
    pub(crate) size: u64,
    pub(crate) chunks: Vec<Chunk>,
}

pub(crate) fn pointer_key(digest: &Digest) -> String {
    format!("blobs/{}", digest_key(digest))
}

pub(crate) fn touch_key(digest: &Digest) -> String {
    format!("touch/{}", digest_key(digest))
}

pub(crate) fn link_key(repo: &str, digest: &Digest) -> String {
    format!("repositories/{repo}/_blobs/{}", digest_key(digest))
}

pub(crate) fn new_chunk_key() -> String {
    format!("chunks/{}", uuid::Uuid::new_v4())
}

/// The pointer of `digest`. NotFound when the content does not exist.
pub(crate) async fn read_pointer(inner: &Inner, digest: &Digest) -> Result<Pointer> {
    let key = pointer_key(digest);
    let read = inner
        .read(&key)
        .await?
        .ok_or_else(|| Error::not_found(digest.as_str()))?;
    serde_json::from_slice(&read.bytes).map_err(|e| Error::corrupt(key, e.to_string()))
}

/// Makes `chunks` the content of `digest` (verified by the caller), unless it already has
/// content: then `chunks` are deleted and the existing content kept. Refreshes its touched
/// time either way.
pub(crate) async fn publish(inner: &Inner, digest: &Digest, chunks: Vec<Chunk>) -> Result<()> {
    let size = chunks.iter().map(|c| c.size).sum();
    let pointer = Pointer { size, chunks };
    let bytes = serde_json::to_vec(&pointer).map_err(|e| Error::Other {
        key: digest.to_string(),
        source: Box::new(e),
    })?;
    // Touched first: a collector deleting existing content either sees this touch and puts
    // its pointer back, or has deleted it before, and then the create below stores ours.
    touch(inner, digest).await?;
    if !inner.create(&pointer_key(digest), bytes.into()).await? {
        // Someone stored the same content: theirs stays, ours goes.
        inner
            .delete_best_effort(pointer.chunks.into_iter().map(|c| c.key))
            .await;
    }
    Ok(())
}

/// Touches content `digest`, then checks that it exists (in that order: see
/// [`delete_blob_content`]).
pub(crate) async fn touch_blob(inner: &Inner, digest: &Digest) -> Result<()> {
    touch(inner, digest).await?;
    if inner.head(&pointer_key(digest)).await?.is_none() {
        return Err(Error::not_found(digest.as_str()));
    }
    Ok(())
}

/// Records now as the content's touched time, in the body: S3's last-modified times are whole
/// seconds, too coarse for a collector's "untouched since".
pub(crate) async fn touch(inner: &Inner, digest: &Digest) -> Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    inner
        .put(&touch_key(digest), Bytes::from(now.to_string()))
        .await
        .map(drop)
}

/// When `digest` was last touched: the time in its touch object, or that object's
/// last-modified time.
async fn touched(inner: &Inner, digest: &Digest) -> Result<Option<SystemTime>> {
    let Some(read) = inner.read_meta(&touch_key(digest)).await? else {
        return Ok(None);
    };
    let recorded = std::str::from_utf8(&read.0)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .map(|nanos| UNIX_EPOCH + Duration::from_nanos(nanos));
    Ok(Some(recorded.unwrap_or_else(|| system_time(&read.1))))
}

/// Marks `repo` as existing (once: catalog entries are never removed, so a process that
/// stored or found one skips the request from then on).
pub(crate) async fn add_to_catalog(inner: &Inner, repo: &str) -> Result<()> {
    if lock(&inner.cataloged).contains(repo) {
        return Ok(());
    }
    inner
        .create(&format!("catalog/{repo}"), Bytes::new())
        .await?;
    let mut known = lock(&inner.cataloged);
    if known.len() >= CATALOGED_KEPT {
        known.clear();
    }
    known.insert(repo.to_owned());
    Ok(())
}

/// How many repositories a process remembers as catalogued.
const CATALOGED_KEPT: usize = 65_536;

/// Links verified content into `repo`.
pub(crate) async fn link(inner: &Inner, repo: &str, digest: &Digest) -> Result<()> {
    inner.put(&link_key(repo, digest), Bytes::new()).await?;
    add_to_catalog(inner, repo).await
}

/// A reader over bytes `first..=last` of the blob made of `chunks` (empty when `last` <
/// `first`), reading one chunk after the other.
pub(crate) fn chunk_reader(
    store: Arc<dyn ObjectStore>,
    prefix: String,
    chunks: &[Chunk],
    first: u64,
    end: u64,
) -> BlobReader {
    // (key, range within the chunk) of every chunk the span covers.
    let mut parts = Vec::new();
    let mut start = 0;
    for chunk in chunks {
        let chunk_end = start + chunk.size;
        if chunk_end > first && start < end && chunk.size > 0 {
            let from = first.saturating_sub(start);
            let to = end.min(chunk_end) - start;
            parts.push((chunk.key.clone(), from, to, chunk.size));
        }
        start = chunk_end;
    }
    let len = end.saturating_sub(first);
    let bodies = stream::iter(parts)
        .then(move |(key, from, to, size)| {
            let store = Arc::clone(&store);
            let path = object_store::path::Path::from(format!("{prefix}{key}"));
            async move {
                let options = object_store::GetOptions {
                    range: (from != 0 || to != size).then_some(GetRange::Bounded(from..to)),
                    ..Default::default()
                };
                let result = store
                    .get_opts(&path, options)
                    .await
                    .map_err(|e| io::Error::other(store_error(&key, e)))?;
                Ok::<_, io::Error>(
                    result
                        .into_stream()
                        .map_err(move |e| io::Error::other(store_error(&key, e))),
                )
            }
        })
        .try_flatten();
    BlobReader::from_reader(StreamReader::new(Box::pin(bodies)), len)
}

pub(crate) async fn get_blob(
    inner: &Inner,
    repo: &str,
    digest: &Digest,
    options: GetOptions,
) -> Result<GetResult> {
    check_repo(repo)?;
    let not_found = || Error::not_found(format!("{repo}@{digest}"));
    if inner.head(&link_key(repo, digest)).await?.is_none() {
        return Err(not_found());
    }
    let pointer = read_pointer(inner, digest).await.map_err(|e| {
        if e.is_not_found() {
            not_found()
        } else {
            e
        }
    })?;
    let span = resolve_span(options.range, pointer.size);
    let (first, end) = match span {
        _ if options.head => return Ok(GetResult::new(pointer.size, span, None)),
        Span::Whole => (0, pointer.size),
        Span::Range { first, last } if first <= last && last < pointer.size => (first, last + 1),
        Span::Range { .. } => {
            return Err(Error::invalid_input(
                not_found().key(),
                "range outside the blob",
            ))
        }
        _ => return Ok(GetResult::new(pointer.size, span, None)),
    };
    let body = chunk_reader(
        Arc::clone(&inner.store),
        inner.prefix.clone(),
        &pointer.chunks,
        first,
        end,
    );
    Ok(GetResult::new(pointer.size, span, Some(body)))
}

/// All of a small object's chunks in memory (manifests).
pub(crate) async fn read_chunks(inner: &Inner, chunks: &[Chunk]) -> Result<Bytes> {
    if let [only] = chunks {
        let read = inner
            .read(&only.key)
            .await?
            .ok_or_else(|| Error::not_found(only.key.as_str()))?;
        return Ok(read.bytes);
    }
    let mut out = Vec::new();
    for chunk in chunks {
        let read = inner
            .read(&chunk.key)
            .await?
            .ok_or_else(|| Error::not_found(chunk.key.as_str()))?;
        out.extend_from_slice(&read.bytes);
    }
    Ok(out.into())
}

pub(crate) async fn stat_blob(inner: &Inner, digest: &Digest) -> Result<ContentInfo> {
    let pointer = read_pointer(inner, digest).await?;
    let touched = match touched(inner, digest).await? {
        Some(time) => time,
        None => inner
            .head(&pointer_key(digest))
            .await?
            .map(|meta| system_time(&meta))
            .ok_or_else(|| Error::not_found(digest.as_str()))?,
    };
    Ok(ContentInfo::new(digest.clone(), pointer.size, touched))
}

pub(crate) async fn link_blob(
    inner: &Inner,
    repo: &str,
    digest: &Digest,
    options: LinkOptions,
) -> Result<()> {
    check_repo(repo)?;
    if let Some(from) = &options.from {
        check_repo(from)?;
        if inner.head(&link_key(from, digest)).await?.is_none() {
            return Err(Error::not_found(format!("{from}@{digest}")));
        }
    }
    touch_blob(inner, digest).await?;
    link(inner, repo, digest).await
}

pub(crate) async fn unlink_blob(inner: &Inner, repo: &str, digest: &Digest) -> Result<()> {
    check_repo(repo)?;
    let key = link_key(repo, digest);
    if inner.head(&key).await?.is_none() {
        return Err(Error::not_found(format!("{repo}@{digest}")));
    }
    inner.delete(&key).await
}

pub(crate) async fn list_blobs(inner: &Inner, options: ListOptions) -> Result<Page<ContentInfo>> {
    let options = ListOptions::new(options.after.as_deref().map(digest_offset), options.limit);
    let digests = inner
        .page("blobs", &options, |key, _| key_digest(key))
        .await?;
    let mut items = Vec::with_capacity(digests.items.len());
    for digest in digests.items {
        match stat_blob(inner, &digest).await {
            Ok(info) => items.push(info),
            // Deleted since it was listed.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Page::new(items, digests.more))
}

pub(crate) async fn delete_blob_content(
    inner: &Inner,
    digest: &Digest,
    options: DeleteContentOptions,
) -> Result<()> {
    let key = pointer_key(digest);
    let read = inner
        .read(&key)
        .await?
        .ok_or_else(|| Error::not_found(digest.as_str()))?;
    let pointer: Pointer =
        serde_json::from_slice(&read.bytes).map_err(|e| Error::corrupt(&key, e.to_string()))?;
    let Some(since) = options.untouched_since else {
        inner.delete(&key).await?;
        manifests::forget_cached(inner, digest);
        inner.delete(&touch_key(digest)).await?;
        inner
            .delete_best_effort(pointer.chunks.into_iter().map(|c| c.key))
            .await;
        return Ok(());
    };
    // No conditional delete: the pointer goes, then the touched time is read again, and if a
    // touch came in meanwhile the pointer is put back. Every touch is followed by an
    // existence check (`touch_blob`, `link_blob`, `publish`), so a touch either lands before
    // the second read (the pointer comes back; its chunks were never deleted) or finds the
    // content gone.
    let before = touch_record(inner, digest).await?;
    let touched = stat_blob(inner, digest).await?.touched;
    if touched >= since {
        return Err(Error::conflict(
            digest.as_str(),
            "touched since the collector looked",
        ));
    }
    inner.delete(&key).await?;
    manifests::forget_cached(inner, digest);
    if touch_record(inner, digest).await? != before {
        // Put back unless an upload stored the content again meanwhile (then its chunks
        // serve, and ours are left for the leftover sweep).
        inner.create(&key, read.bytes).await?;
        return Err(Error::conflict(
            digest.as_str(),
            "touched while the collector deleted it",
        ));
    }
    inner
        .delete_best_effort(pointer.chunks.into_iter().map(|c| c.key))
        .await;
    Ok(())
}

/// The raw touch object of `digest`, for comparing before and after a delete.
async fn touch_record(inner: &Inner, digest: &Digest) -> Result<Option<Bytes>> {
    Ok(inner.read(&touch_key(digest)).await?.map(|read| read.bytes))
}

/// Chunks no pointer or session record names, and touch objects of absent content, last
/// written before `options.older_than`. Records are listed before pointers: a completion
/// creates its pointer before it deletes its record, so a chunk moving from one to the other
/// is seen in at least one.
pub(crate) async fn delete_leftovers(inner: &Inner, options: LeftoverOptions) -> Result<Reclaimed> {
    let mut referenced = HashSet::new();
    for chunks in uploads::recorded_chunks(inner).await? {
        referenced.extend(chunks.into_iter().map(|c| c.key));
    }
    let mut pointers = HashSet::new();
    let mut keys = Vec::new();
    inner
        .list("blobs", None, |key, _| {
            keys.push(key.to_owned());
            true
        })
        .await?;
    for key in keys {
        let full = format!("blobs/{key}");
        let Some(read) = inner.read(&full).await? else {
            continue;
        };
        let pointer: Pointer = serde_json::from_slice(&read.bytes)
            .map_err(|e| Error::corrupt(full.as_str(), e.to_string()))?;
        referenced.extend(pointer.chunks.into_iter().map(|c| c.key));
        pointers.insert(key);
    }
    let older_than = options.older_than;
    let old = |meta: &object_store::ObjectMeta| system_time(meta) < older_than;
    let mut doomed = Vec::new();
    let mut reclaimed = Reclaimed::default();
    inner
        .list("chunks", None, |key, meta| {
            let full = format!("chunks/{key}");
            if old(meta) && !referenced.contains(&full) {
                reclaimed.items += 1;
                reclaimed.bytes += meta.size;
                doomed.push(full);
            }
            true
        })
        .await?;
    inner
        .list("touch", None, |key, meta| {
            if old(meta) && !pointers.contains(key) {
                reclaimed.items += 1;
                reclaimed.bytes += meta.size;
                doomed.push(format!("touch/{key}"));
            }
            true
        })
        .await?;
    if !options.dry_run {
        inner.delete_best_effort(doomed).await;
    }
    Ok(reclaimed)
}
