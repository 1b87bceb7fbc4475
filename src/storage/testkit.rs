//! The contract every [`Storage`] backend keeps, as async checks a backend's own tests call.
//!
//! Each check opens a fresh store through a [`Harness`], drives it through the public API only
//! and asserts exact results, panicking with the check's name on the first difference. Run
//! them all with [`run_all`], or one at a time while porting a backend. The concurrency checks
//! spawn tasks: run the kit on tokio's multi-thread runtime, or they prove little.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tower_oci::storage::testkit::{self, Harness};
//! use tower_oci::storage::{BoxFuture, MemoryStorage, Storage};
//!
//! /// Fresh stores, and reopens of the last one (a clone shares its data).
//! #[derive(Default)]
//! struct Memory(Mutex<MemoryStorage>);
//!
//! impl Harness for Memory {
//!     fn fresh(&self) -> BoxFuture<'_, Arc<dyn Storage>> {
//!         let store = MemoryStorage::new();
//!         *self.0.lock().unwrap() = store.clone();
//!         Box::pin(async move { Arc::new(store) as Arc<dyn Storage> })
//!     }
//!
//!     fn reopen(&self) -> BoxFuture<'_, Arc<dyn Storage>> {
//!         let store = self.0.lock().unwrap().clone();
//!         Box::pin(async move { Arc::new(store) as Arc<dyn Storage> })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! testkit::run_all(&Memory::default()).await;
//! # }
//! ```

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use super::{
    BlobReader, BoxFuture, DeleteContentOptions, Error, Finished, GetOptions, LinkOptions,
    ListOptions, ManifestPut, Page, ReferrerEntry, ReferrerListOptions, Result, Span, Storage,
    StoredManifest, UploadState,
};
use crate::protocol::{Algorithm, ByteRange, Digest, Hasher};

/// Opens instances of one backend.
///
/// [`fresh`](Harness::fresh) makes a new, empty store; [`reopen`](Harness::reopen) another
/// instance over the same data as the last fresh store, as after a restart or from a second
/// process sharing it. Both may be called many times by one check.
pub trait Harness: Send + Sync {
    /// A new, empty store.
    fn fresh(&self) -> BoxFuture<'_, Arc<dyn Storage>>;
    /// Another instance over the data of the last store [`fresh`](Harness::fresh) returned.
    fn reopen(&self) -> BoxFuture<'_, Arc<dyn Storage>>;
}

/// The name of every check (each a function of this module), in the order [`run_all`] runs them.
pub const CHECKS: &[&str] = &[
    "blobs",
    "blob_ranges",
    "blob_links",
    "staged_blobs",
    "uploads",
    "upload_claims",
    "upload_reopen",
    "upload_delete_while_writing",
    "finish_in_one_step",
    "finish_unstored",
    "manifests_and_tags",
    "tag_listing",
    "repositories",
    "referrers",
    "garbage_collection",
    "touch_and_delete_race",
    "collector",
    "concurrent_manifest_put_delete",
    "concurrent_blob_complete",
    "concurrent_resume",
];

/// Runs every check, each on a fresh store, in the order of [`CHECKS`].
pub async fn run_all(h: &dyn Harness) {
    blobs(h).await;
    blob_ranges(h).await;
    blob_links(h).await;
    staged_blobs(h).await;
    uploads(h).await;
    upload_claims(h).await;
    upload_reopen(h).await;
    upload_delete_while_writing(h).await;
    finish_in_one_step(h).await;
    finish_unstored(h).await;
    manifests_and_tags(h).await;
    tag_listing(h).await;
    repositories(h).await;
    referrers(h).await;
    garbage_collection(h).await;
    touch_and_delete_race(h).await;
    collector(h).await;
    concurrent_manifest_put_delete(h).await;
    concurrent_blob_complete(h).await;
    concurrent_resume(h).await;
}

// ---- helpers ----

/// Names the failing check when an assertion panics inside it.
struct Check(&'static str);

impl Check {
    fn start(name: &'static str) -> Self {
        Check(name)
    }
}

impl Drop for Check {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "storage testkit: check `{}` FAILED (see the panic above)",
                self.0
            );
        }
    }
}

/// Unwraps `result`, naming the check and the step on failure.
#[track_caller]
fn ok<T>(check: &Check, step: &str, result: Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("testkit `{}`: {step}: unexpected error: {e:?}", check.0),
    }
}

/// Asserts that `result` failed as `expected` says.
#[track_caller]
fn fails<T: Debug>(
    check: &Check,
    step: &str,
    result: Result<T>,
    expected: &str,
    is: impl FnOnce(&Error) -> bool,
) {
    match result {
        Err(e) if is(&e) => {}
        Err(e) => panic!(
            "testkit `{}`: {step}: expected {expected}, got error {e:?}",
            check.0
        ),
        Ok(v) => panic!(
            "testkit `{}`: {step}: expected {expected}, got Ok({v:?})",
            check.0
        ),
    }
}

/// Asserts that a `delete_blob_content(untouched_since(mark))` was refused with Conflict:
/// the content was touched after the mark.
#[track_caller]
fn refused_as_touched(check: &Check, step: &str, result: Result<()>) {
    fails(check, step, result, "Conflict", |e| {
        matches!(e, Error::Conflict { .. })
    });
}

/// Asserts that an operation moved a blob's touched time past `before` and `mark`.
#[track_caller]
fn refreshed(op: &str, before: SystemTime, after: SystemTime, mark: SystemTime) {
    assert!(
        after > before && after >= mark,
        "{op} did not refresh touched: {before:?} -> {after:?}"
    );
}

#[track_caller]
fn not_found<T: Debug>(check: &Check, step: &str, result: Result<T>) {
    fails(check, step, result, "NotFound", Error::is_not_found);
}

fn sha256(data: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, data)
}

/// `len` bytes of a pattern that differs from its shifted self.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed))
        .collect()
}

async fn read_all(reader: BlobReader) -> Vec<u8> {
    let declared = reader.len();
    let mut out = Vec::new();
    reader
        .into_async_read()
        .read_to_end(&mut out)
        .await
        .expect("reading a blob body");
    assert_eq!(
        out.len() as u64,
        declared,
        "a BlobReader yielded another length than it declared"
    );
    out
}

/// Stores `data` as a blob of `repo` through a staged writer, in frames of `frame` bytes.
async fn put_blob(s: &dyn Storage, repo: &str, data: &[u8], frame: usize) -> Digest {
    let digest = sha256(data);
    let mut writer = s.stage_blob().await.expect("stage_blob");
    for chunk in data.chunks(frame.max(1)) {
        writer
            .write(Bytes::copy_from_slice(chunk))
            .await
            .expect("write");
    }
    assert_eq!(writer.offset(), data.len() as u64, "staged writer offset");
    writer.complete(repo, &digest).await.expect("complete");
    digest
}

/// The whole body of blob `digest` of `repo`.
async fn blob_bytes(check: &Check, s: &dyn Storage, repo: &str, digest: &Digest) -> Vec<u8> {
    let got = ok(
        check,
        &format!("get_blob {repo}@{digest}"),
        s.get_blob(repo, digest, GetOptions::whole()).await,
    );
    assert_eq!(got.span, Span::Whole, "`{}`: span of a whole read", check.0);
    let body = got
        .body
        .unwrap_or_else(|| panic!("`{}`: get_blob without head has no body", check.0));
    let bytes = read_all(body).await;
    assert_eq!(bytes.len() as u64, got.size, "`{}`: size vs body", check.0);
    bytes
}

/// Upload ids in the form the registry issues (`protocol::upload_id`), fixed so listings have a
/// known order.
fn new_session(id: &str, repo: &str) -> UploadState {
    UploadState::new(
        id,
        repo,
        Algorithm::Sha256,
        Hasher::new(Algorithm::Sha256).save(),
    )
}

/// A manifest's bytes, distinct per `n`, and its digest.
fn manifest(n: usize) -> (Digest, Bytes) {
    let bytes = Bytes::from(format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{MEDIA_TYPE}\",\"annotations\":{{\"n\":\"{n}\"}}}}"
    ));
    (sha256(&bytes), bytes)
}

fn manifest_put(n: usize, tags: &[&str]) -> ManifestPut {
    let (digest, bytes) = manifest(n);
    ManifestPut::new(digest, StoredManifest::new(MEDIA_TYPE, bytes))
        .with_tags(tags.iter().map(|t| (*t).to_owned()))
}

const MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// Every entry of a listing, fetched in pages of `limit`, checking each page's `more`.
async fn all_pages<T, F, Fut>(
    check: &Check,
    what: &str,
    limit: usize,
    key: fn(&T) -> String,
    list: F,
) -> Vec<T>
where
    F: Fn(ListOptions) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = ok(
            check,
            what,
            list(ListOptions::new(after.clone(), limit)).await,
        );
        assert!(
            page.items.len() <= limit,
            "`{}`: {what}: page of {} entries over limit {limit}",
            check.0,
            page.items.len()
        );
        let Some(last) = page.items.last() else {
            assert!(!page.more, "`{}`: {what}: empty page says more", check.0);
            return out;
        };
        after = Some(key(last));
        let more = page.more;
        out.extend(page.items);
        if !more {
            return out;
        }
    }
}

/// Sleeps without holding the runtime's worker, long enough for coarse file timestamps.
async fn pause() {
    tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(30)))
        .await
        .expect("sleep task");
}

// ---- blobs ----

/// A blob written in several frames reads back whole, by head, by stat, and only in its repo.
pub async fn blobs(h: &dyn Harness) {
    let c = Check::start("blobs");
    let s = h.fresh().await;
    let data = pattern(1000, 1);
    let digest = put_blob(&*s, "kit/a", &data, 300).await;

    assert_eq!(
        blob_bytes(&c, &*s, "kit/a", &digest).await,
        data,
        "blob body"
    );

    let head = ok(
        &c,
        "head",
        s.get_blob("kit/a", &digest, GetOptions::head()).await,
    );
    assert_eq!(head.size, 1000, "head size");
    assert!(head.body.is_none(), "head must not open a body");

    let info = ok(&c, "stat_blob", s.stat_blob(&digest).await);
    assert_eq!(
        (info.digest, info.size),
        (digest.clone(), 1000),
        "stat_blob"
    );

    not_found(
        &c,
        "get_blob from a repository that never linked it",
        s.get_blob("kit/other", &digest, GetOptions::whole()).await,
    );
    let absent = sha256(b"never stored");
    not_found(
        &c,
        "get_blob of absent content",
        s.get_blob("kit/a", &absent, GetOptions::whole()).await,
    );
    not_found(
        &c,
        "stat_blob of absent content",
        s.stat_blob(&absent).await,
    );
    not_found(
        &c,
        "head of absent content",
        s.get_blob("kit/a", &absent, GetOptions::head()).await,
    );
}

/// Ranges resolve against the stored size; an unsatisfiable range has no body.
pub async fn blob_ranges(h: &dyn Harness) {
    let c = Check::start("blob_ranges");
    let s = h.fresh().await;
    let data = pattern(1000, 2);
    let digest = put_blob(&*s, "kit/r", &data, 128).await;

    let cases: &[(&str, Option<(u64, u64)>)] = &[
        ("bytes=0-0", Some((0, 0))),
        ("bytes=0-99", Some((0, 99))),
        ("bytes=999-999", Some((999, 999))),
        ("bytes=900-", Some((900, 999))),
        ("bytes=-100", Some((900, 999))),
        ("bytes=-5000", Some((0, 999))),
        ("bytes=990-5000", Some((990, 999))),
        ("bytes=1000-", None),
        ("bytes=2000-3000", None),
    ];
    for &(header, expected) in cases {
        let range = ByteRange::parse(header).unwrap_or_else(|| panic!("parse {header}"));
        let got = ok(
            &c,
            header,
            s.get_blob("kit/r", &digest, GetOptions::range(Some(range), false))
                .await,
        );
        assert_eq!(got.size, 1000, "`blob_ranges`: size for {header}");
        match expected {
            Some((first, last)) => {
                assert_eq!(got.span, Span::Range { first, last }, "span for {header}");
                let body = got
                    .body
                    .unwrap_or_else(|| panic!("`blob_ranges`: no body for {header}"));
                let want = &data[first as usize..=last as usize];
                assert_eq!(read_all(body).await, want, "body for {header}");
            }
            None => {
                assert_eq!(got.span, Span::Unsatisfiable, "span for {header}");
                assert!(got.body.is_none(), "unsatisfiable {header} has a body");
            }
        }
        let head = ok(
            &c,
            header,
            s.get_blob("kit/r", &digest, GetOptions::range(Some(range), true))
                .await,
        );
        assert_eq!(head.span, got.span, "head span for {header}");
        assert!(head.body.is_none(), "head with {header} opened a body");
    }

    // Last before first is malformed; if a parser ever accepts it, it must not read as the
    // whole blob.
    if let Some(range) = ByteRange::parse("bytes=500-0") {
        let got = ok(
            &c,
            "bytes=500-0",
            s.get_blob("kit/r", &digest, GetOptions::range(Some(range), false))
                .await,
        );
        assert_eq!(got.span, Span::Unsatisfiable, "bytes=500-0");
        assert!(got.body.is_none(), "bytes=500-0 has a body");
    }
}

/// Mounting with and without `from`, unlinking, and their NotFound cases.
pub async fn blob_links(h: &dyn Harness) {
    let c = Check::start("blob_links");
    let s = h.fresh().await;
    let data = pattern(64, 3);
    let digest = put_blob(&*s, "kit/a", &data, 64).await;

    ok(
        &c,
        "link_blob without from",
        s.link_blob("kit/b", &digest, LinkOptions::default()).await,
    );
    assert_eq!(blob_bytes(&c, &*s, "kit/b", &digest).await, data);

    not_found(
        &c,
        "link_blob from a repository that does not hold it",
        s.link_blob("kit/c", &digest, LinkOptions::from_repository("kit/none"))
            .await,
    );
    not_found(
        &c,
        "get_blob after a refused mount",
        s.get_blob("kit/c", &digest, GetOptions::head()).await,
    );
    ok(
        &c,
        "link_blob from a holder",
        s.link_blob("kit/c", &digest, LinkOptions::from_repository("kit/a"))
            .await,
    );
    assert_eq!(blob_bytes(&c, &*s, "kit/c", &digest).await, data);

    let absent = sha256(b"absent");
    not_found(
        &c,
        "link_blob of absent content",
        s.link_blob("kit/a", &absent, LinkOptions::default()).await,
    );

    ok(&c, "unlink_blob", s.unlink_blob("kit/b", &digest).await);
    not_found(
        &c,
        "get_blob after unlink",
        s.get_blob("kit/b", &digest, GetOptions::whole()).await,
    );
    not_found(&c, "second unlink", s.unlink_blob("kit/b", &digest).await);
    not_found(
        &c,
        "unlink from a repository that never held it",
        s.unlink_blob("kit/never", &digest).await,
    );
    assert_eq!(
        blob_bytes(&c, &*s, "kit/a", &digest).await,
        data,
        "other links stay"
    );
    ok(&c, "content stays after unlink", s.stat_blob(&digest).await);
}

/// A dropped staged writer leaves nothing; dedupe; the empty blob; a staged writer cannot save.
pub async fn staged_blobs(h: &dyn Harness) {
    let c = Check::start("staged_blobs");
    let s = h.fresh().await;
    let kept = put_blob(&*s, "kit/s", b"kept", 4).await;
    let before = ok(&c, "list_blobs", s.list_blobs(ListOptions::default()).await);

    let data = pattern(500, 4);
    let mut writer = ok(&c, "stage_blob", s.stage_blob().await);
    ok(&c, "write", writer.write(Bytes::from(data.clone())).await);
    drop(writer);
    let after = ok(&c, "list_blobs", s.list_blobs(ListOptions::default()).await);
    assert_eq!(
        after.items.iter().map(|b| &b.digest).collect::<Vec<_>>(),
        before.items.iter().map(|b| &b.digest).collect::<Vec<_>>(),
        "a dropped staged writer left content behind"
    );
    not_found(
        &c,
        "stat of dropped bytes",
        s.stat_blob(&sha256(&data)).await,
    );

    let mut writer = ok(&c, "stage_blob", s.stage_blob().await);
    ok(&c, "write", writer.write(Bytes::from_static(b"x")).await);
    fails(
        &c,
        "save of a staged writer",
        writer.save(Hasher::new(Algorithm::Sha256).save()).await,
        "InvalidInput",
        |e| matches!(e, Error::InvalidInput { .. }),
    );

    // The same content completed twice, into two repositories.
    let first = put_blob(&*s, "kit/s", &data, 100).await;
    let second = put_blob(&*s, "kit/t", &data, 7).await;
    assert_eq!(first, second);
    assert_eq!(blob_bytes(&c, &*s, "kit/s", &first).await, data);
    assert_eq!(blob_bytes(&c, &*s, "kit/t", &first).await, data);
    let listed = ok(&c, "list_blobs", s.list_blobs(ListOptions::default()).await);
    let digests: Vec<_> = listed.items.iter().map(|b| b.digest.clone()).collect();
    let mut expected = vec![kept, first];
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(digests, expected, "list_blobs after a dedupe");

    // The empty blob.
    let empty = put_blob(&*s, "kit/s", b"", 1).await;
    assert_eq!(blob_bytes(&c, &*s, "kit/s", &empty).await, b"");
    let info = ok(&c, "stat empty", s.stat_blob(&empty).await);
    assert_eq!(info.size, 0, "empty blob size");
    let range = ByteRange::parse("bytes=0-").expect("parse");
    let got = ok(
        &c,
        "range of the empty blob",
        s.get_blob("kit/s", &empty, GetOptions::range(Some(range), false))
            .await,
    );
    assert_eq!(got.span, Span::Unsatisfiable, "bytes=0- of an empty blob");
    assert!(got.body.is_none());
}

// ---- uploads ----

/// `finish_upload`: the closing `PUT` in one step. A wrong digest changes nothing, the right
/// one stores and links the blob and ends the session, another repository's session is
/// unknown, a held session is busy, and bytes hashed with another algorithm are handed back
/// to the caller to re-hash.
pub async fn finish_in_one_step(h: &dyn Harness) {
    let c = Check::start("finish_in_one_step");
    let s = h.fresh().await;
    let session = new_session("00000000-0000-4000-8000-000000000701", "kit/fin");
    ok(&c, "create_upload", s.create_upload(&session).await);
    let mut writer = ok(&c, "resume_upload", s.resume_upload(&session.id).await);
    ok(
        &c,
        "write",
        writer.write(Bytes::from_static(b"head ")).await,
    );
    let mut hasher = Hasher::new(Algorithm::Sha256);
    hasher.update(b"head ");
    ok(&c, "save", writer.save(hasher.save()).await);

    let wrong = sha256(b"head and something else");
    let outcome = ok(
        &c,
        "finish_upload with a wrong digest",
        s.finish_upload(
            &session.id,
            "kit/fin",
            Bytes::from_static(b"tail"),
            &wrong,
            None,
        )
        .await,
    );
    assert_eq!(
        outcome,
        Finished::DigestMismatch {
            actual: sha256(b"head tail")
        },
        "testkit `finish_in_one_step`: the mismatch names the actual digest"
    );
    let stored = ok(
        &c,
        "get_upload after a mismatch",
        s.get_upload(&session.id).await,
    );
    assert_eq!(stored.offset, 5, "a mismatch stores nothing");
    not_found(
        &c,
        "finish_upload of another repository's session",
        s.finish_upload(
            &session.id,
            "kit/other",
            Bytes::new(),
            &sha256(b"head "),
            None,
        )
        .await,
    );
    let held = ok(&c, "resume_upload", s.resume_upload(&session.id).await);
    fails(
        &c,
        "finish_upload of a held session",
        s.finish_upload(
            &session.id,
            "kit/fin",
            Bytes::new(),
            &sha256(b"head "),
            None,
        )
        .await,
        "Busy",
        |e| matches!(e, Error::Busy { .. }),
    );
    drop(held);
    let sha512 = Digest::of(Algorithm::Sha512, b"head tail");
    assert_eq!(
        ok(
            &c,
            "finish_upload with a sha512 digest of sha256-hashed bytes",
            s.finish_upload(
                &session.id,
                "kit/fin",
                Bytes::from_static(b"tail"),
                &sha512,
                None
            )
            .await,
        ),
        Finished::OtherAlgorithm
    );

    let right = sha256(b"head tail");
    assert_eq!(
        ok(
            &c,
            "finish_upload",
            s.finish_upload(
                &session.id,
                "kit/fin",
                Bytes::from_static(b"tail"),
                &right,
                None
            )
            .await,
        ),
        Finished::Completed
    );
    assert_eq!(blob_bytes(&c, &*s, "kit/fin", &right).await, b"head tail");
    not_found(
        &c,
        "get_upload after finish",
        s.get_upload(&session.id).await,
    );
    not_found(
        &c,
        "finish_upload of a finished session",
        s.finish_upload(&session.id, "kit/fin", Bytes::new(), &right, None)
            .await,
    );

    // A session with no bytes follows the algorithm of the digest it is finished with.
    let empty = new_session("00000000-0000-4000-8000-000000000702", "kit/fin");
    ok(&c, "create_upload", s.create_upload(&empty).await);
    let sha512 = Digest::of(Algorithm::Sha512, b"all at once");
    assert_eq!(
        ok(
            &c,
            "finish_upload of an empty session with a sha512 digest",
            s.finish_upload(
                &empty.id,
                "kit/fin",
                Bytes::from_static(b"all at once"),
                &sha512,
                None
            )
            .await,
        ),
        Finished::Completed
    );
    assert_eq!(
        blob_bytes(&c, &*s, "kit/fin", &sha512).await,
        b"all at once"
    );
}

/// `finish_upload` of a session with no record, as the unstored session the caller passes:
/// the tail alone is the blob, nothing is stored for the session (a wrong digest stores
/// nothing at all), a stored session under the id takes precedence, and a closed session's
/// marker is absent for both.
pub async fn finish_unstored(h: &dyn Harness) {
    let c = Check::start("finish_unstored");
    let s = h.fresh().await;
    let unstored = new_session("00000000-0000-4000-8000-000000000801", "kit/un");
    let wrong = sha256(b"not the tail");
    assert_eq!(
        ok(
            &c,
            "finish_upload of an unstored session with a wrong digest",
            s.finish_upload(
                &unstored.id,
                "kit/un",
                Bytes::from_static(b"tail"),
                &wrong,
                Some(&unstored)
            )
            .await,
        ),
        Finished::DigestMismatch {
            actual: sha256(b"tail")
        }
    );
    not_found(&c, "stat_blob after a mismatch", s.stat_blob(&wrong).await);
    not_found(
        &c,
        "get_upload after a mismatch",
        s.get_upload(&unstored.id).await,
    );
    not_found(
        &c,
        "finish_upload of an absent session without `unstored`",
        s.finish_upload(&unstored.id, "kit/un", Bytes::new(), &wrong, None)
            .await,
    );

    let right = sha256(b"tail");
    assert_eq!(
        ok(
            &c,
            "finish_upload of an unstored session",
            s.finish_upload(
                &unstored.id,
                "kit/un",
                Bytes::from_static(b"tail"),
                &right,
                Some(&unstored)
            )
            .await,
        ),
        Finished::CompletedUnstored
    );
    assert_eq!(blob_bytes(&c, &*s, "kit/un", &right).await, b"tail");
    not_found(
        &c,
        "get_upload after an unstored finish",
        s.get_upload(&unstored.id).await,
    );

    // An unstored sha256 session finished with a sha512 digest follows the digest.
    let other = new_session("00000000-0000-4000-8000-000000000802", "kit/un");
    let sha512 = Digest::of(Algorithm::Sha512, b"five hundred and twelve");
    assert_eq!(
        ok(
            &c,
            "finish_upload of an unstored session with a sha512 digest",
            s.finish_upload(
                &other.id,
                "kit/un",
                Bytes::from_static(b"five hundred and twelve"),
                &sha512,
                Some(&other)
            )
            .await,
        ),
        Finished::CompletedUnstored
    );

    // Stored after all: the stored session's bytes count.
    let stored = new_session("00000000-0000-4000-8000-000000000803", "kit/un");
    ok(&c, "create_upload", s.create_upload(&stored).await);
    let mut writer = ok(&c, "resume_upload", s.resume_upload(&stored.id).await);
    ok(
        &c,
        "write",
        writer.write(Bytes::from_static(b"head ")).await,
    );
    let mut hasher = Hasher::new(Algorithm::Sha256);
    hasher.update(b"head ");
    ok(&c, "save", writer.save(hasher.save()).await);
    let both = sha256(b"head tail");
    assert_eq!(
        ok(
            &c,
            "finish_upload of a stored session passed as unstored",
            s.finish_upload(
                &stored.id,
                "kit/un",
                Bytes::from_static(b"tail"),
                &both,
                Some(&stored)
            )
            .await,
        ),
        Finished::Completed
    );
    assert_eq!(blob_bytes(&c, &*s, "kit/un", &both).await, b"head tail");

    // A closed session's marker: stored, listed, and absent to finish_upload either way.
    let closed = UploadState::closed(
        "00000000-0000-4000-8000-000000000804",
        "kit/un",
        Algorithm::Sha256,
        std::time::SystemTime::now(),
    );
    ok(
        &c,
        "create_upload of a closed marker",
        s.create_upload(&closed).await,
    );
    let got = ok(
        &c,
        "get_upload of a closed marker",
        s.get_upload(&closed.id).await,
    );
    assert!(
        got.closed,
        "testkit `finish_unstored`: a marker reads back closed"
    );
    let as_unstored = new_session(&closed.id, "kit/un");
    not_found(
        &c,
        "finish_upload of a closed session",
        s.finish_upload(
            &closed.id,
            "kit/un",
            Bytes::from_static(b"x"),
            &sha256(b"x"),
            Some(&as_unstored),
        )
        .await,
    );
    not_found(
        &c,
        "stat_blob of a closed session's tail",
        s.stat_blob(&sha256(b"x")).await,
    );
    let listed = ok(
        &c,
        "list_uploads",
        s.list_uploads(ListOptions::new(None, 100)).await,
    );
    assert!(
        listed.items.iter().any(|u| u.id == closed.id && u.closed),
        "testkit `finish_unstored`: a closed marker is listed (so sweeps remove it)"
    );
    ok(
        &c,
        "delete_upload of a closed marker",
        s.delete_upload(&closed.id).await,
    );
}

/// Create, get, resume + write + save, the claimed state, read_back, completion, listing.
pub async fn uploads(h: &dyn Harness) {
    let c = Check::start("uploads");
    let s = h.fresh().await;
    let session = new_session("00000000-0000-4000-8000-000000000001", "kit/up");
    ok(&c, "create_upload", s.create_upload(&session).await);
    fails(
        &c,
        "create_upload with a taken id",
        s.create_upload(&session).await,
        "AlreadyExists",
        |e| matches!(e, Error::AlreadyExists { .. }),
    );
    let stored = ok(&c, "get_upload", s.get_upload(&session.id).await);
    assert_eq!(
        (
            &stored.id,
            &stored.repo,
            stored.algorithm,
            stored.offset,
            &stored.hash_state
        ),
        (
            &session.id,
            &session.repo,
            Algorithm::Sha256,
            0,
            &session.hash_state
        ),
        "stored new session"
    );
    assert_eq!(
        stored.principal, None,
        "a session opened by nobody in particular"
    );
    let bound = new_session("00000000-0000-4000-8000-000000000002", "kit/up")
        .with_principal(Some("alice".into()));
    ok(
        &c,
        "create_upload bound to a principal",
        s.create_upload(&bound).await,
    );
    let writer = ok(
        &c,
        "resume the bound session",
        s.resume_upload(&bound.id).await,
    );
    let claimed = writer.state().map(|state| state.principal.clone());
    assert_eq!(claimed, Some(Some("alice".into())), "principal as claimed");
    let saved = ok(
        &c,
        "save the bound session",
        writer.save(bound.hash_state.clone()).await,
    );
    assert_eq!(
        saved.principal.as_deref(),
        Some("alice"),
        "principal after save"
    );
    let stored_bound = ok(&c, "get the bound session", s.get_upload(&bound.id).await);
    assert_eq!(
        stored_bound.principal.as_deref(),
        Some("alice"),
        "stored principal"
    );
    ok(
        &c,
        "delete the bound session",
        s.delete_upload(&bound.id).await,
    );

    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut writer = ok(&c, "resume_upload", s.resume_upload(&stored.id).await);
    assert_eq!(writer.offset(), 0);
    for part in [&b"hello"[..], b" "] {
        ok(
            &c,
            "write",
            writer.write(Bytes::copy_from_slice(part)).await,
        );
        hasher.update(part);
    }
    assert_eq!(writer.offset(), 6, "offset counts written bytes");
    let back = ok(&c, "read_back", writer.read_back().await);
    assert_eq!(read_all(back).await, b"hello ", "read_back before save");
    let saved = ok(&c, "save", writer.save(hasher.save()).await);
    assert_eq!(saved.offset, 6, "saved offset");
    assert_eq!(saved.hash_state, hasher.save(), "saved hash state");
    let stored = ok(&c, "get_upload after save", s.get_upload(&session.id).await);
    assert_eq!(stored.offset, 6, "stored offset");
    assert_eq!(stored.hash_state, hasher.save(), "stored hash state");
    assert!(stored.updated >= stored.started, "updated before started");

    let mut writer = ok(&c, "resume_upload", s.resume_upload(&stored.id).await);
    assert_eq!(writer.offset(), 6, "resumed offset");
    assert_eq!(
        writer.state(),
        Some(&stored),
        "the writer's state is the stored one"
    );
    ok(&c, "write of no bytes", writer.write(Bytes::new()).await);
    ok(
        &c,
        "write",
        writer.write(Bytes::from_static(b"world")).await,
    );
    hasher.update(b"world");
    let back = ok(&c, "read_back", writer.read_back().await);
    assert_eq!(
        read_all(back).await,
        b"hello world",
        "read_back spans saves"
    );
    let digest = hasher.finalize();
    assert_eq!(digest, sha256(b"hello world"));
    ok(&c, "complete", writer.complete("kit/up", &digest).await);
    not_found(
        &c,
        "get_upload after complete",
        s.get_upload(&session.id).await,
    );
    assert_eq!(blob_bytes(&c, &*s, "kit/up", &digest).await, b"hello world");

    not_found(
        &c,
        "delete_upload of unknown id",
        s.delete_upload("00000000-0000-4000-8000-0000000000ff")
            .await,
    );
    not_found(
        &c,
        "get_upload of unknown id",
        s.get_upload("00000000-0000-4000-8000-0000000000ff").await,
    );
    not_found(
        &c,
        "resume_upload of unknown id",
        s.resume_upload("00000000-0000-4000-8000-0000000000ff")
            .await,
    );

    // Listing, ordered by id.
    let ids = [
        "00000000-0000-4000-8000-000000000130",
        "00000000-0000-4000-8000-000000000100",
        "00000000-0000-4000-8000-000000000140",
        "00000000-0000-4000-8000-000000000110",
        "00000000-0000-4000-8000-000000000120",
    ];
    for id in ids {
        ok(
            &c,
            "create_upload",
            s.create_upload(&new_session(id, "kit/up")).await,
        );
    }
    let listed = all_pages(
        &c,
        "list_uploads",
        2,
        |u: &UploadState| u.id.clone(),
        |o| s.list_uploads(o),
    )
    .await;
    let listed: Vec<_> = listed.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        listed,
        [
            "00000000-0000-4000-8000-000000000100",
            "00000000-0000-4000-8000-000000000110",
            "00000000-0000-4000-8000-000000000120",
            "00000000-0000-4000-8000-000000000130",
            "00000000-0000-4000-8000-000000000140"
        ]
    );
    let page = ok(
        &c,
        "list_uploads after an absent id",
        s.list_uploads(ListOptions::new(
            Some("00000000-0000-4000-8000-000000000115".into()),
            2,
        ))
        .await,
    );
    let got: Vec<_> = page.items.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        (got, page.more),
        (
            vec![
                "00000000-0000-4000-8000-000000000120",
                "00000000-0000-4000-8000-000000000130"
            ],
            true
        ),
        "after kit-p-15"
    );
    let page = ok(
        &c,
        "list_uploads",
        s.list_uploads(ListOptions::new(
            Some("00000000-0000-4000-8000-000000000120".into()),
            2,
        ))
        .await,
    );
    let got: Vec<_> = page.items.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        (got, page.more),
        (
            vec![
                "00000000-0000-4000-8000-000000000130",
                "00000000-0000-4000-8000-000000000140"
            ],
            false
        ),
        "last page"
    );
    ok(
        &c,
        "delete_upload",
        s.delete_upload("00000000-0000-4000-8000-000000000120")
            .await,
    );
    not_found(
        &c,
        "get_upload after delete",
        s.get_upload("00000000-0000-4000-8000-000000000120").await,
    );
}

/// One writer per session; a dropped writer's unsaved bytes are gone.
pub async fn upload_claims(h: &dyn Harness) {
    let c = Check::start("upload_claims");
    let s = h.fresh().await;
    let session = new_session("00000000-0000-4000-8000-000000000200", "kit/up");
    ok(&c, "create_upload", s.create_upload(&session).await);

    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut first = ok(&c, "resume_upload", s.resume_upload(&session.id).await);
    fails(
        &c,
        "second resume while the first writer is held",
        s.resume_upload(&session.id).await,
        "Busy",
        |e| matches!(e, Error::Busy { .. }),
    );
    ok(&c, "write", first.write(Bytes::from_static(b"abc")).await);
    hasher.update(b"abc");
    let saved = ok(&c, "save", first.save(hasher.save()).await);
    assert_eq!(saved.offset, 3);

    // A writer that is dropped: its bytes go, the session stays at its last save.
    let mut dropped = ok(&c, "resume after save", s.resume_upload(&saved.id).await);
    ok(
        &c,
        "write",
        dropped.write(Bytes::from_static(b"XYZ-lost")).await,
    );
    assert_eq!(dropped.offset(), 11);
    drop(dropped);
    let stored = ok(&c, "get_upload", s.get_upload(&session.id).await);
    assert_eq!(stored.offset, 3, "offset after a dropped writer");
    assert_eq!(
        stored.hash_state,
        hasher.save(),
        "hash state after a dropped writer"
    );

    let mut writer = ok(&c, "resume after drop", s.resume_upload(&stored.id).await);
    assert_eq!(writer.offset(), 3);
    let back = ok(&c, "read_back", writer.read_back().await);
    assert_eq!(
        read_all(back).await,
        b"abc",
        "read_back after a dropped writer"
    );
    ok(&c, "write", writer.write(Bytes::from_static(b"def")).await);
    hasher.update(b"def");
    let digest = hasher.finalize();
    assert_eq!(digest, sha256(b"abcdef"));
    ok(&c, "complete", writer.complete("kit/up", &digest).await);
    assert_eq!(blob_bytes(&c, &*s, "kit/up", &digest).await, b"abcdef");
    not_found(
        &c,
        "stat of the dropped bytes",
        s.stat_blob(&sha256(b"abcXYZ-lost")).await,
    );
}

/// A session saved in one instance continues and completes in another over the same data.
pub async fn upload_reopen(h: &dyn Harness) {
    let c = Check::start("upload_reopen");
    let first = h.fresh().await;
    let session = new_session("00000000-0000-4000-8000-000000000300", "kit/up");
    ok(&c, "create_upload", first.create_upload(&session).await);
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut writer = ok(&c, "resume_upload", first.resume_upload(&session.id).await);
    ok(
        &c,
        "write",
        writer.write(Bytes::from_static(b"first part ")).await,
    );
    hasher.update(b"first part ");
    ok(&c, "save", writer.save(hasher.save()).await);
    drop(hasher);

    let second = h.reopen().await;
    let stored = ok(
        &c,
        "get_upload from the reopened store",
        second.get_upload(&session.id).await,
    );
    assert_eq!(stored.offset, 11, "offset seen by the reopened store");
    let mut hasher = Hasher::restore(stored.algorithm, &stored.hash_state)
        .unwrap_or_else(|| panic!("`upload_reopen`: stored hash state does not restore"));

    let mut writer = ok(
        &c,
        "resume in the reopened store",
        second.resume_upload(&stored.id).await,
    );
    fails(
        &c,
        "resume from the first instance while the second holds it",
        first.resume_upload(&stored.id).await,
        "Busy",
        |e| matches!(e, Error::Busy { .. }),
    );
    assert_eq!(writer.offset(), 11);
    ok(
        &c,
        "write",
        writer.write(Bytes::from_static(b"second")).await,
    );
    hasher.update(b"second");
    let digest = hasher.finalize();
    assert_eq!(
        digest,
        sha256(b"first part second"),
        "hash carried through the record"
    );
    ok(&c, "complete", writer.complete("kit/up", &digest).await);
    assert_eq!(
        blob_bytes(&c, &*second, "kit/up", &digest).await,
        b"first part second"
    );
    assert_eq!(
        blob_bytes(&c, &*first, "kit/up", &digest).await,
        b"first part second",
        "the first instance sees what the second completed"
    );
    not_found(
        &c,
        "get_upload after complete",
        first.get_upload(&session.id).await,
    );
}

/// Deleting a session under a writer makes its save and complete fail, and nothing comes back.
pub async fn upload_delete_while_writing(h: &dyn Harness) {
    let c = Check::start("upload_delete_while_writing");
    let s = h.fresh().await;

    let session = new_session("00000000-0000-4000-8000-000000000400", "kit/up");
    ok(&c, "create_upload", s.create_upload(&session).await);
    let mut writer = ok(&c, "resume_upload", s.resume_upload(&session.id).await);
    ok(&c, "write", writer.write(Bytes::from_static(b"abc")).await);
    ok(
        &c,
        "delete_upload under a writer",
        s.delete_upload(&session.id).await,
    );
    not_found(
        &c,
        "save after delete",
        writer.save(Hasher::new(Algorithm::Sha256).save()).await,
    );
    not_found(
        &c,
        "get_upload after delete",
        s.get_upload(&session.id).await,
    );
    let listed = ok(
        &c,
        "list_uploads",
        s.list_uploads(ListOptions::default()).await,
    );
    assert!(
        listed.items.iter().all(|u| u.id != session.id),
        "a deleted session was listed again"
    );
    not_found(
        &c,
        "resume after delete",
        s.resume_upload(&session.id).await,
    );

    let session = new_session("00000000-0000-4000-8000-000000000500", "kit/up");
    ok(&c, "create_upload", s.create_upload(&session).await);
    let mut writer = ok(&c, "resume_upload", s.resume_upload(&session.id).await);
    ok(
        &c,
        "write",
        writer.write(Bytes::from_static(b"never")).await,
    );
    ok(
        &c,
        "delete_upload under a writer",
        s.delete_upload(&session.id).await,
    );
    let digest = sha256(b"never");
    not_found(
        &c,
        "complete after delete",
        writer.complete("kit/up", &digest).await,
    );
    not_found(&c, "blob of a deleted session", s.stat_blob(&digest).await);
    not_found(
        &c,
        "get_upload after delete",
        s.get_upload(&session.id).await,
    );
}

// ---- manifests and tags ----

/// Put with tags, reads, re-put, digest check, delete with tags, delete_tag.
pub async fn manifests_and_tags(h: &dyn Harness) {
    let c = Check::start("manifests_and_tags");
    let s = h.fresh().await;
    let repo = "kit/m";
    let put1 = manifest_put(1, &["v1", "latest"]);
    let d1 = put1.digest.clone();
    ok(&c, "put_manifest", s.put_manifest(repo, &put1).await);

    let got = ok(&c, "get_manifest", s.get_manifest(repo, &d1).await);
    assert_eq!(got, put1.manifest, "stored manifest");
    let meta = ok(&c, "manifest_meta", s.manifest_meta(repo, &d1).await);
    assert_eq!(
        (meta.media_type.as_str(), meta.size),
        (MEDIA_TYPE, put1.manifest.bytes.len() as u64),
        "manifest_meta"
    );
    for tag in ["v1", "latest"] {
        assert_eq!(
            ok(&c, "get_tag", s.get_tag(repo, tag).await),
            d1,
            "tag {tag}"
        );
    }
    not_found(
        &c,
        "get_manifest in another repo",
        s.get_manifest("kit/n", &d1).await,
    );
    not_found(
        &c,
        "manifest_meta in another repo",
        s.manifest_meta("kit/n", &d1).await,
    );
    not_found(
        &c,
        "get_tag of an unknown tag",
        s.get_tag(repo, "nope").await,
    );
    not_found(
        &c,
        "get_tag in an unknown repo",
        s.get_tag("kit/n", "v1").await,
    );

    // Re-put: replaces the media type, adds tags.
    let (_, bytes1) = manifest(1);
    let reput = ManifestPut::new(d1.clone(), StoredManifest::new(INDEX_TYPE, bytes1.clone()))
        .with_tags(["v2".to_owned()]);
    ok(&c, "re-put", s.put_manifest(repo, &reput).await);
    let got = ok(
        &c,
        "get_manifest after re-put",
        s.get_manifest(repo, &d1).await,
    );
    assert_eq!(
        got,
        StoredManifest::new(INDEX_TYPE, bytes1),
        "re-put manifest"
    );
    let meta = ok(
        &c,
        "manifest_meta after re-put",
        s.manifest_meta(repo, &d1).await,
    );
    assert_eq!(meta.media_type, INDEX_TYPE, "re-put media type");
    for tag in ["v1", "v2", "latest"] {
        assert_eq!(
            ok(&c, "get_tag", s.get_tag(repo, tag).await),
            d1,
            "tag {tag} after re-put"
        );
    }

    // Bytes that do not hash to the digest.
    let (other, _) = manifest(99);
    let (_, bytes2) = manifest(2);
    let bad = ManifestPut::new(other.clone(), StoredManifest::new(MEDIA_TYPE, bytes2))
        .with_tags(["bad".to_owned()]);
    let result = s.put_manifest(repo, &bad).await;
    assert!(
        result.is_err(),
        "put_manifest accepted bytes that do not hash to the digest"
    );
    not_found(
        &c,
        "manifest of a refused put",
        s.get_manifest(repo, &other).await,
    );
    not_found(&c, "tag of a refused put", s.get_tag(repo, "bad").await);

    // A second manifest takes `latest` over.
    let put2 = manifest_put(2, &["latest", "two"]);
    let d2 = put2.digest.clone();
    ok(&c, "put_manifest", s.put_manifest(repo, &put2).await);
    assert_eq!(
        ok(&c, "get_tag", s.get_tag(repo, "latest").await),
        d2,
        "moved tag"
    );

    ok(&c, "delete_manifest", s.delete_manifest(repo, &d1).await);
    not_found(
        &c,
        "get_manifest after delete",
        s.get_manifest(repo, &d1).await,
    );
    not_found(
        &c,
        "manifest_meta after delete",
        s.manifest_meta(repo, &d1).await,
    );
    not_found(
        &c,
        "tag v1 of a deleted manifest",
        s.get_tag(repo, "v1").await,
    );
    not_found(
        &c,
        "tag v2 of a deleted manifest",
        s.get_tag(repo, "v2").await,
    );
    assert_eq!(
        ok(&c, "get_tag", s.get_tag(repo, "latest").await),
        d2,
        "other tags stay"
    );
    assert_eq!(
        ok(&c, "get_tag", s.get_tag(repo, "two").await),
        d2,
        "other tags stay"
    );
    let tags = ok(
        &c,
        "list_tags",
        s.list_tags(repo, ListOptions::default()).await,
    );
    assert_eq!(tags.items, ["latest", "two"], "tags after delete_manifest");
    not_found(
        &c,
        "second delete_manifest",
        s.delete_manifest(repo, &d1).await,
    );
    not_found(
        &c,
        "delete_manifest in an unknown repo",
        s.delete_manifest("kit/n", &d2).await,
    );

    ok(&c, "delete_tag", s.delete_tag(repo, "two").await);
    not_found(&c, "get_tag after delete_tag", s.get_tag(repo, "two").await);
    ok(
        &c,
        "manifest stays after delete_tag",
        s.manifest_meta(repo, &d2).await,
    );
    not_found(&c, "second delete_tag", s.delete_tag(repo, "two").await);
    not_found(
        &c,
        "delete_tag in an unknown repo",
        s.delete_tag("kit/n", "latest").await,
    );
}

/// `list_tags`: byte order, strictly after, `more`, absent `after`, unknown repository.
pub async fn tag_listing(h: &dyn Harness) {
    let c = Check::start("tag_listing");
    let s = h.fresh().await;
    let repo = "kit/tags";
    let tags = [
        "v1", "V1", "v1.0", "v1-rc", "v10", "v2", "latest", "_x", "0",
    ];
    ok(
        &c,
        "put_manifest",
        s.put_manifest(repo, &manifest_put(1, &tags)).await,
    );
    let mut sorted: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
    sorted.sort();

    let all = ok(
        &c,
        "list_tags",
        s.list_tags(repo, ListOptions::default()).await,
    );
    assert_eq!(
        (&all.items, all.more),
        (&sorted, false),
        "all tags in byte order"
    );
    for limit in [1, 2, 3, 4, 9] {
        let paged = all_pages(&c, "list_tags", limit, String::clone, |o| {
            s.list_tags(repo, o)
        })
        .await;
        assert_eq!(paged, sorted, "tags in pages of {limit}");
    }
    let page = ok(
        &c,
        "list_tags n=3",
        s.list_tags(repo, ListOptions::new(None, 3)).await,
    );
    assert_eq!(
        (&page.items[..], page.more),
        (&sorted[..3], true),
        "first page of 3"
    );
    let page = ok(
        &c,
        "list_tags after the third",
        s.list_tags(repo, ListOptions::new(Some(sorted[2].clone()), 3))
            .await,
    );
    assert_eq!(
        (&page.items[..], page.more),
        (&sorted[3..6], true),
        "strictly after"
    );
    let page = ok(
        &c,
        "list_tags exact fit",
        s.list_tags(repo, ListOptions::new(Some(sorted[5].clone()), 3))
            .await,
    );
    assert_eq!(
        (&page.items[..], page.more),
        (&sorted[6..], false),
        "last page, exact fit"
    );
    let last = sorted.last().cloned();
    let page = ok(
        &c,
        "list_tags after the last",
        s.list_tags(repo, ListOptions::new(last, 3)).await,
    );
    assert_eq!(
        (page.items.len(), page.more),
        (0, false),
        "after the last tag"
    );
    let page = ok(
        &c,
        "list_tags after an absent tag",
        s.list_tags(repo, ListOptions::new(Some("v1.".into()), 100))
            .await,
    );
    let expected: Vec<_> = sorted
        .iter()
        .filter(|t| t.as_str() > "v1.")
        .cloned()
        .collect();
    assert_eq!(page.items, expected, "after an absent tag");

    not_found(
        &c,
        "list_tags of an unknown repository",
        s.list_tags("kit/none", ListOptions::default()).await,
    );
    ok(
        &c,
        "put untagged",
        s.put_manifest("kit/untagged", &manifest_put(2, &[])).await,
    );
    let page = ok(
        &c,
        "list_tags of a repository without tags",
        s.list_tags("kit/untagged", ListOptions::default()).await,
    );
    assert_eq!((page.items.len(), page.more), (0, false), "no tags");
}

/// `list_repositories` over nested names in byte order; existence outlives content.
pub async fn repositories(h: &dyn Harness) {
    let c = Check::start("repositories");
    let s = h.fresh().await;
    let blob = put_blob(&*s, "a", b"layer", 5).await;
    put_blob(&*s, "a-b", b"other layer", 5).await;
    let nested = manifest_put(1, &[]);
    ok(&c, "put_manifest", s.put_manifest("a/b", &nested).await);
    let deep = manifest_put(2, &["only"]);
    ok(&c, "put_manifest", s.put_manifest("a/b/c", &deep).await);
    ok(
        &c,
        "link_blob",
        s.link_blob("ab", &blob, LinkOptions::default()).await,
    );
    let tagged = manifest_put(3, &["t"]);
    ok(&c, "put_manifest", s.put_manifest("b", &tagged).await);
    let expected = ["a", "a-b", "a/b", "a/b/c", "ab", "b"];

    let all = ok(
        &c,
        "list_repositories",
        s.list_repositories(ListOptions::default()).await,
    );
    assert_eq!(all.items, expected, "repositories in byte order");
    assert!(!all.more, "list_repositories: more on the only page");
    for limit in [1, 2, 4] {
        let paged = all_pages(&c, "list_repositories", limit, String::clone, |o| {
            s.list_repositories(o)
        })
        .await;
        assert_eq!(paged, expected, "repositories in pages of {limit}");
    }
    let page = ok(
        &c,
        "list_repositories after a/b",
        s.list_repositories(ListOptions::new(Some("a/b".into()), 10))
            .await,
    );
    assert_eq!(page.items, ["a/b/c", "ab", "b"], "strictly after a/b");
    let page = ok(
        &c,
        "list_repositories after an absent name",
        s.list_repositories(ListOptions::new(Some("a0".into()), 1))
            .await,
    );
    assert_eq!(page.items, ["ab"], "after a0");
    assert!(page.more, "after a0: more");

    for repo in expected {
        assert!(
            ok(&c, "repository_exists", s.repository_exists(repo).await),
            "{repo} exists"
        );
    }
    for repo in ["a/", "a/b/c/d", "zzz", "A"] {
        assert!(
            !ok(&c, "repository_exists", s.repository_exists(repo).await),
            "{repo} does not exist"
        );
    }

    ok(
        &c,
        "delete_manifest",
        s.delete_manifest("a/b/c", &deep.digest).await,
    );
    ok(&c, "delete_tag", s.delete_tag("b", "t").await);
    ok(
        &c,
        "delete_manifest",
        s.delete_manifest("b", &tagged.digest).await,
    );
    ok(&c, "unlink_blob", s.unlink_blob("a", &blob).await);
    for repo in ["a/b/c", "b", "a"] {
        assert!(
            ok(&c, "repository_exists", s.repository_exists(repo).await),
            "{repo} stays known after its last content is deleted"
        );
    }
    let all = ok(
        &c,
        "list_repositories",
        s.list_repositories(ListOptions::default()).await,
    );
    assert_eq!(all.items, expected, "repositories after deletes");
}

/// Referrers: order, filter, paging, the byte bound, unknown subjects, exact descriptors.
pub async fn referrers(h: &dyn Harness) {
    let c = Check::start("referrers");
    let s = h.fresh().await;
    let repo = "kit/ref";
    let (subject, subject_bytes) = manifest(0);
    ok(
        &c,
        "put subject",
        s.put_manifest(
            repo,
            &ManifestPut::new(
                subject.clone(),
                StoredManifest::new(MEDIA_TYPE, subject_bytes),
            ),
        )
        .await,
    );
    let types = [
        Some("application/x.a"),
        Some("application/x.b"),
        Some("application/x.a"),
        None,
        Some("application/x.b"),
    ];
    let mut entries = Vec::new();
    for (i, artifact_type) in types.iter().enumerate() {
        let (digest, bytes) = manifest(10 + i);
        // Odd spacing and key order: the descriptor must come back byte for byte.
        let descriptor = format!(
            "{{\"mediaType\": \"{MEDIA_TYPE}\",  \"size\":{}, \"digest\":\"{digest}\",\"annotations\":{{\"z\":\"{i}\",\"a\":\"\"}}}}",
            bytes.len()
        );
        let entry =
            ReferrerEntry::new(digest.clone(), artifact_type.map(str::to_owned), descriptor);
        let put = ManifestPut::new(digest, StoredManifest::new(MEDIA_TYPE, bytes))
            .with_referrer(subject.clone(), entry.clone());
        ok(&c, "put referrer", s.put_manifest(repo, &put).await);
        entries.push(entry);
    }
    entries.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));

    let all = ok(
        &c,
        "list_referrers",
        s.list_referrers(repo, &subject, ReferrerListOptions::default())
            .await,
    );
    assert_eq!(
        (&all.items, all.more),
        (&entries, false),
        "all referrers, by digest"
    );

    let wanted = Some("application/x.a".to_owned());
    let filtered = ok(
        &c,
        "list_referrers by artifact type",
        s.list_referrers(
            repo,
            &subject,
            ReferrerListOptions::new(ListOptions::default(), wanted.clone(), 1 << 20),
        )
        .await,
    );
    let expected: Vec<_> = entries
        .iter()
        .filter(|e| e.artifact_type == wanted)
        .cloned()
        .collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(
        (&filtered.items, filtered.more),
        (&expected, false),
        "artifactType filter"
    );
    let page = ok(
        &c,
        "filtered page of 1",
        s.list_referrers(
            repo,
            &subject,
            ReferrerListOptions::new(ListOptions::new(None, 1), wanted, 1 << 20),
        )
        .await,
    );
    assert_eq!(
        (&page.items[..], page.more),
        (&expected[..1], true),
        "filtered paging says more"
    );

    let paged = referrer_pages(&c, &*s, repo, &subject, 2, 1 << 20).await;
    assert_eq!(paged, entries, "referrers in pages of 2");
    let page = ok(
        &c,
        "list_referrers after the second",
        s.list_referrers(
            repo,
            &subject,
            ReferrerListOptions::new(
                ListOptions::new(Some(entries[1].digest.to_string()), 2),
                None,
                1 << 20,
            ),
        )
        .await,
    );
    assert_eq!(
        (&page.items[..], page.more),
        (&entries[2..4], true),
        "strictly after"
    );

    // The byte bound: never more than max_bytes unless a single entry is larger.
    let one = entries[0].descriptor.len();
    for max_bytes in [0, 1, one, one + 1, 2 * one + one / 2] {
        let page = ok(
            &c,
            "list_referrers with max_bytes",
            s.list_referrers(
                repo,
                &subject,
                ReferrerListOptions::new(ListOptions::default(), None, max_bytes),
            )
            .await,
        );
        let held: usize = page.items.iter().map(|e| e.descriptor.len()).sum();
        assert!(
            !page.items.is_empty(),
            "max_bytes {max_bytes}: at least one entry"
        );
        assert!(
            held <= max_bytes || page.items.len() == 1,
            "max_bytes {max_bytes}: page holds {held} bytes in {} entries",
            page.items.len()
        );
        assert!(page.more, "max_bytes {max_bytes}: a bounded page says more");
        assert_eq!(
            page.items[..],
            entries[..page.items.len()],
            "max_bytes {max_bytes}: order"
        );
        let paged = referrer_pages(&c, &*s, repo, &subject, 100, max_bytes).await;
        assert_eq!(
            paged, entries,
            "all referrers in pages of max_bytes {max_bytes}"
        );
    }

    for (what, repo, subject) in [
        ("unknown subject", repo, sha256(b"no such subject")),
        ("unknown repository", "kit/none", subject.clone()),
    ] {
        let page = ok(
            &c,
            what,
            s.list_referrers(repo, &subject, ReferrerListOptions::default())
                .await,
        );
        assert_eq!(
            (page.items.len(), page.more),
            (0, false),
            "{what}: an empty page"
        );
    }

    // Deleting a referrer removes its entry; re-putting one does not duplicate it.
    let gone = entries.remove(1);
    ok(
        &c,
        "delete referrer",
        s.delete_manifest(repo, &gone.digest).await,
    );
    let kept = &entries[0];
    let (_, kept_bytes) = s
        .get_manifest(repo, &kept.digest)
        .await
        .map(|m| ((), m.bytes))
        .unwrap_or_else(|e| panic!("`referrers`: get_manifest: {e:?}"));
    let reput = ManifestPut::new(
        kept.digest.clone(),
        StoredManifest::new(MEDIA_TYPE, kept_bytes),
    )
    .with_referrer(subject.clone(), kept.clone());
    ok(&c, "re-put referrer", s.put_manifest(repo, &reput).await);
    let all = ok(
        &c,
        "list_referrers",
        s.list_referrers(repo, &subject, ReferrerListOptions::default())
            .await,
    );
    assert_eq!(all.items, entries, "referrers after a delete and a re-put");
}

async fn referrer_pages(
    c: &Check,
    s: &dyn Storage,
    repo: &str,
    subject: &Digest,
    limit: usize,
    max_bytes: usize,
) -> Vec<ReferrerEntry> {
    let mut out: Vec<ReferrerEntry> = Vec::new();
    loop {
        let after = out.last().map(|e| e.digest.to_string());
        let options = ReferrerListOptions::new(ListOptions::new(after, limit), None, max_bytes);
        let page = ok(
            c,
            "list_referrers page",
            s.list_referrers(repo, subject, options).await,
        );
        assert!(
            page.items.len() <= limit,
            "`{}`: referrers page over its limit",
            c.0
        );
        if page.items.is_empty() {
            assert!(!page.more, "`{}`: empty referrers page says more", c.0);
            return out;
        }
        let more = page.more;
        out.extend(page.items);
        if !more {
            return out;
        }
    }
}

// ---- garbage collection ----

/// Listings for a collector, touched times, and conditional content deletes.
pub async fn garbage_collection(h: &dyn Harness) {
    let c = Check::start("garbage_collection");
    let s = h.fresh().await;
    let b1 = put_blob(&*s, "kit/gc", &pattern(300, 5), 100).await;
    let b2 = put_blob(&*s, "kit/gc", &pattern(200, 6), 100).await;
    let m = manifest_put(1, &["t"]);
    ok(&c, "put_manifest", s.put_manifest("kit/gc", &m).await);

    let mut expected = vec![
        (b1.clone(), 300),
        (b2.clone(), 200),
        (m.digest.clone(), m.manifest.bytes.len() as u64),
    ];
    expected.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for limit in [1, 2, 1000] {
        let listed = all_pages(
            &c,
            "list_blobs",
            limit,
            |b: &super::ContentInfo| b.digest.to_string(),
            |o| s.list_blobs(o),
        )
        .await;
        let listed: Vec<_> = listed.into_iter().map(|b| (b.digest, b.size)).collect();
        assert_eq!(
            listed, expected,
            "list_blobs (manifests included) in pages of {limit}"
        );
    }
    let manifests = ok(
        &c,
        "list_manifests",
        s.list_manifests("kit/gc", ListOptions::default()).await,
    );
    let manifests: Vec<_> = manifests
        .items
        .into_iter()
        .map(|m| (m.digest, m.size))
        .collect();
    assert_eq!(
        manifests,
        [(m.digest.clone(), m.manifest.bytes.len() as u64)],
        "list_manifests"
    );
    let (m2, _) = {
        let put = manifest_put(2, &[]);
        ok(&c, "put_manifest", s.put_manifest("kit/gc", &put).await);
        (put.digest, ())
    };
    let mut want = vec![m.digest.clone(), m2];
    want.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let paged = all_pages(
        &c,
        "list_manifests",
        1,
        |b: &super::ContentInfo| b.digest.to_string(),
        |o| s.list_manifests("kit/gc", o),
    )
    .await;
    assert_eq!(
        paged.into_iter().map(|m| m.digest).collect::<Vec<_>>(),
        want,
        "list_manifests paged"
    );

    // Linking refreshes the touched time, and a touched blob is not deleted.
    let before = ok(&c, "stat_blob", s.stat_blob(&b1).await).touched;
    pause().await;
    let mark = SystemTime::now();
    pause().await;
    ok(
        &c,
        "link_blob",
        s.link_blob("kit/gc2", &b1, LinkOptions::default()).await,
    );
    let after = ok(&c, "stat_blob", s.stat_blob(&b1).await).touched;
    refreshed("link_blob", before, after, mark);
    refused_as_touched(
        &c,
        "delete_blob_content of content touched since",
        s.delete_blob_content(&b1, DeleteContentOptions::untouched_since(mark))
            .await,
    );
    ok(
        &c,
        "content kept after a refused delete",
        s.stat_blob(&b1).await,
    );

    // Completing existing content refreshes it too.
    pause().await;
    let mark = SystemTime::now();
    pause().await;
    put_blob(&*s, "kit/gc3", &pattern(300, 5), 50).await;
    refused_as_touched(
        &c,
        "delete_blob_content of content re-pushed since",
        s.delete_blob_content(&b1, DeleteContentOptions::untouched_since(mark))
            .await,
    );

    // Untouched content goes; its links then read as NotFound.
    pause().await;
    let mark = SystemTime::now();
    ok(
        &c,
        "delete_blob_content of untouched content",
        s.delete_blob_content(&b2, DeleteContentOptions::untouched_since(mark))
            .await,
    );
    not_found(&c, "stat_blob after delete", s.stat_blob(&b2).await);
    not_found(
        &c,
        "get_blob of deleted content",
        s.get_blob("kit/gc", &b2, GetOptions::whole()).await,
    );
    not_found(
        &c,
        "second delete_blob_content",
        s.delete_blob_content(&b2, DeleteContentOptions::default())
            .await,
    );
    ok(
        &c,
        "unconditional delete_blob_content",
        s.delete_blob_content(&b1, DeleteContentOptions::default())
            .await,
    );
    not_found(&c, "stat_blob after delete", s.stat_blob(&b1).await);
    let listed = ok(&c, "list_blobs", s.list_blobs(ListOptions::default()).await);
    assert!(
        listed
            .items
            .iter()
            .all(|b| b.digest != b1 && b.digest != b2),
        "deleted content still listed"
    );
}

/// `touch_blob` refreshes content and is atomic with a conditional delete: once a touch
/// returns `Ok`, a racing `delete_blob_content` with an earlier `untouched_since` has left the
/// content in place.
pub async fn touch_and_delete_race(h: &dyn Harness) {
    let c = Check::start("touch_and_delete_race");
    let s = h.fresh().await;
    not_found(
        &c,
        "touch_blob of absent content",
        s.touch_blob(&sha256(b"never stored")).await,
    );
    let b = put_blob(&*s, "kit/touch", &pattern(100, 9), 100).await;
    let before = ok(&c, "stat_blob", s.stat_blob(&b).await).touched;
    pause().await;
    let mark = SystemTime::now();
    ok(&c, "touch_blob", s.touch_blob(&b).await);
    let after = ok(&c, "stat_blob", s.stat_blob(&b).await).touched;
    refreshed("touch_blob", before, after, mark);
    refused_as_touched(
        &c,
        "delete_blob_content of content touched since",
        s.delete_blob_content(&b, DeleteContentOptions::untouched_since(mark))
            .await,
    );
    for round in 0..24u8 {
        let data = pattern(64, 100 + round);
        let b = put_blob(&*s, "kit/touch", &data, 64).await;
        pause().await;
        let mark = SystemTime::now();
        let (toucher, deleter) = (Arc::clone(&s), Arc::clone(&s));
        let (bt, bd) = (b.clone(), b.clone());
        let touch = tokio::spawn(async move {
            for _ in 0..(round % 4) {
                tokio::task::yield_now().await;
            }
            toucher.touch_blob(&bt).await
        });
        let delete = tokio::spawn(async move {
            deleter
                .delete_blob_content(&bd, DeleteContentOptions::untouched_since(mark))
                .await
        });
        let touched = touch.await.expect("touch task");
        let deleted = delete.await.expect("delete task");
        match (&touched, &deleted) {
            (Ok(()), _) => {
                ok(
                    &c,
                    "content a touch found stays after a racing delete",
                    s.stat_blob(&b).await,
                );
            }
            (Err(e), Ok(())) if e.is_not_found() => {}
            (Err(e), _) if e.is_not_found() => {}
            (Err(e), _) => panic!("testkit `touch_and_delete_race`: touch_blob: {e:?}"),
        }
        if let Err(e) = &deleted {
            assert!(
                matches!(e, Error::Conflict { .. }) || e.is_not_found(),
                "delete_blob_content: {e:?}"
            );
        }
        // The blob can always be pushed again, and reads back whole, even while a collector
        // removes the link the collected content left.
        let unlinker = Arc::clone(&s);
        let bu = b.clone();
        let unlink =
            tokio::spawn(async move { unlinker.delete_dangling_link("kit/touch", &bu).await });
        let again = put_blob(&*s, "kit/touch", &data, 64).await;
        let _ = unlink.await.expect("unlink task");
        assert_eq!(blob_bytes(&c, &*s, "kit/touch", &again).await, data);
    }
    let _ = ok(
        &c,
        "delete_leftovers",
        s.delete_leftovers(super::LeftoverOptions::older_than(SystemTime::now()).dry_run(true))
            .await,
    );
}

fn image_json(config: &Digest, layers: &[&Digest], subject: Option<&Digest>) -> Bytes {
    let descriptor = |d: &Digest| {
        format!("{{\"mediaType\":\"application/octet-stream\",\"digest\":\"{d}\",\"size\":1}}")
    };
    let layers: Vec<String> = layers.iter().map(|d| descriptor(d)).collect();
    let subject = subject
        .map(|d| format!(",\"subject\":{}", descriptor(d)))
        .unwrap_or_default();
    Bytes::from(format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{MEDIA_TYPE}\",\"config\":{},\"layers\":[{}]{subject}}}",
        descriptor(config),
        layers.join(",")
    ))
}

async fn put_json(
    c: &Check,
    s: &dyn Storage,
    repo: &str,
    media_type: &str,
    bytes: Bytes,
    tags: &[&str],
) -> Digest {
    let digest = sha256(&bytes);
    let put = ManifestPut::new(digest.clone(), StoredManifest::new(media_type, bytes))
        .with_tags(tags.iter().map(|t| (*t).to_owned()));
    ok(c, "put_manifest", s.put_manifest(repo, &put).await);
    digest
}

/// A [`crate::gc::Collector`] run over the store: what manifests name stays (untagged
/// manifests, index children and subjects included), the rest goes, nothing is served from a
/// cache afterwards, and deleted content can be pushed again.
pub async fn collector(h: &dyn Harness) {
    use crate::gc::{Collector, GcOptions};
    let c = Check::start("collector");
    let s = h.fresh().await;
    let config = put_blob(&*s, "kit/c", b"{}", 2).await;
    let layer = put_blob(&*s, "kit/c", &pattern(500, 1), 100).await;
    let orphan = put_blob(&*s, "kit/c", &pattern(400, 2), 100).await;
    let doomed_layer = put_blob(&*s, "kit/c", &pattern(300, 3), 100).await;
    let image = put_json(
        &c,
        &*s,
        "kit/c",
        MEDIA_TYPE,
        image_json(&config, &[&layer], None),
        &["v1"],
    )
    .await;
    let untagged = put_json(
        &c,
        &*s,
        "kit/c",
        MEDIA_TYPE,
        image_json(&config, &[&layer], Some(&image)),
        &[],
    )
    .await;
    let doomed = put_json(
        &c,
        &*s,
        "kit/c",
        MEDIA_TYPE,
        image_json(&config, &[&doomed_layer], None),
        &[],
    )
    .await;
    let index = Bytes::from(format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{INDEX_TYPE}\",\"manifests\":[{{\"mediaType\":\"{MEDIA_TYPE}\",\"digest\":\"{image}\",\"size\":1}}]}}"
    ));
    let index = put_json(&c, &*s, "kit/c", INDEX_TYPE, index, &["multi"]).await;
    // A manifest read now is cached by backends that cache.
    ok(&c, "get_manifest", s.get_manifest("kit/c", &doomed).await);
    ok(
        &c,
        "delete_manifest",
        s.delete_manifest("kit/c", &doomed).await,
    );
    pause().await;

    let gc = Collector::new(
        Arc::clone(&s),
        GcOptions::default().grace(Duration::ZERO).dry_run(true),
    );
    let dry = ok(&c, "dry run", gc.run().await);
    assert_eq!(
        dry.blobs_deleted, 3,
        "dry run counts orphan, doomed layer, doomed manifest: {dry:?}"
    );
    ok(&c, "dry run deletes nothing", s.stat_blob(&orphan).await);

    let gc = Collector::new(Arc::clone(&s), GcOptions::default().grace(Duration::ZERO));
    let report = ok(&c, "collector run", gc.run().await);
    assert_eq!(report.blobs_deleted, 3, "{report:?}");
    assert_eq!(
        report.bytes_freed,
        400 + 300 + image_json(&config, &[&doomed_layer], None).len() as u64,
        "{report:?}"
    );
    for d in [&orphan, &doomed_layer, &doomed] {
        not_found(&c, "stat_blob of collected content", s.stat_blob(d).await);
    }
    not_found(
        &c,
        "get_manifest of collected manifest",
        s.get_manifest("kit/c", &doomed).await,
    );
    // Links a backend lists all lead to content (links to collected content went, or the
    // backend lists none); a link to existing content is never removed as dangling.
    let links = ok(
        &c,
        "list_blob_links",
        s.list_blob_links("kit/c", ListOptions::default()).await,
    );
    for d in &links.items {
        ok(&c, "listed link has content", s.stat_blob(d).await);
    }
    fails(
        &c,
        "delete_dangling_link of a link to existing content",
        s.delete_dangling_link("kit/c", &layer).await,
        "Conflict",
        |e| matches!(e, Error::Conflict { .. }),
    );
    for (repo, digest) in [("kit/c", &orphan), ("kit/none", &layer)] {
        let result = s.delete_dangling_link(repo, digest).await;
        assert!(
            matches!(&result, Err(e) if e.is_not_found() || matches!(e, Error::Conflict { .. })),
            "delete_dangling_link without a link: {result:?}"
        );
    }
    for d in [&config, &layer] {
        ok(
            &c,
            "named blob kept",
            s.get_blob("kit/c", d, GetOptions::head()).await,
        );
    }
    for d in [&image, &untagged, &index] {
        ok(&c, "manifest kept", s.get_manifest("kit/c", d).await);
    }
    // Collected content can be pushed again and serves its bytes.
    let again = put_blob(&*s, "kit/c", &pattern(300, 3), 100).await;
    assert_eq!(blob_bytes(&c, &*s, "kit/c", &again).await, pattern(300, 3));
    let doomed_again = put_json(
        &c,
        &*s,
        "kit/c",
        MEDIA_TYPE,
        image_json(&config, &[&doomed_layer], None),
        &[],
    )
    .await;
    ok(
        &c,
        "re-pushed manifest reads",
        s.get_manifest("kit/c", &doomed_again).await,
    );
    // Content touched within the grace is kept.
    let gc = Collector::new(Arc::clone(&s), GcOptions::default());
    let kept = ok(&c, "collector run", gc.run().await);
    assert_eq!(kept.blobs_deleted, 0, "{kept:?}");
}

// ---- concurrency ----

/// Racing put and delete of one manifest always ends with its tag and the manifest together.
pub async fn concurrent_manifest_put_delete(h: &dyn Harness) {
    let c = Check::start("concurrent_manifest_put_delete");
    let s = h.fresh().await;
    let repo = "kit/race";
    let put = Arc::new(manifest_put(7, &["t"]));
    let digest = put.digest.clone();
    for round in 0..100 {
        let (s1, p) = (Arc::clone(&s), Arc::clone(&put));
        let putter = tokio::spawn(async move { s1.put_manifest(repo, &p).await });
        let (s2, d) = (Arc::clone(&s), digest.clone());
        let deleter = tokio::spawn(async move { s2.delete_manifest(repo, &d).await });
        ok(&c, "put_manifest", putter.await.expect("put task"));
        match deleter.await.expect("delete task") {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => panic!("`{}`: round {round}: delete_manifest: {e:?}", c.0),
        }
        let tag = s.get_tag(repo, "t").await;
        let meta = s.manifest_meta(repo, &digest).await;
        if let Ok(target) = &tag {
            assert_eq!(target, &digest, "round {round}: tag target");
        }
        assert_eq!(
            tag.is_ok(),
            meta.is_ok(),
            "`{}`: round {round}: tag {tag:?} but manifest {meta:?}",
            c.0
        );
        let tags = ok(
            &c,
            "list_tags",
            s.list_tags(repo, ListOptions::default()).await,
        );
        for t in &tags.items {
            let target = ok(&c, "get_tag of a listed tag", s.get_tag(repo, t).await);
            ok(
                &c,
                "manifest of a listed tag",
                s.manifest_meta(repo, &target).await,
            );
        }
    }
}

/// Eight writers completing the same blob all succeed, and the content is right.
pub async fn concurrent_blob_complete(h: &dyn Harness) {
    let c = Check::start("concurrent_blob_complete");
    let s = h.fresh().await;
    let data = Bytes::from(pattern(64 * 1024, 8));
    let digest = sha256(&data);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (s, data, digest) = (Arc::clone(&s), data.clone(), digest.clone());
            tokio::spawn(async move {
                let repo = if i % 2 == 0 { "kit/cc0" } else { "kit/cc1" };
                let mut writer = s.stage_blob().await?;
                let half = data.len() / 2;
                writer.write(data.slice(..half)).await?;
                writer.write(data.slice(half..)).await?;
                writer.complete(repo, &digest).await
            })
        })
        .collect();
    for task in tasks {
        ok(
            &c,
            "concurrent complete",
            task.await.expect("complete task"),
        );
    }
    for repo in ["kit/cc0", "kit/cc1"] {
        assert_eq!(
            blob_bytes(&c, &*s, repo, &digest).await,
            data,
            "content in {repo}"
        );
    }
    let info = ok(&c, "stat_blob", s.stat_blob(&digest).await);
    assert_eq!(info.size, data.len() as u64);
    let listed = ok(&c, "list_blobs", s.list_blobs(ListOptions::default()).await);
    assert_eq!(listed.items.len(), 1, "one content for one digest");
}

/// Of sixteen concurrent resumes of one session, exactly one wins while it is held.
pub async fn concurrent_resume(h: &dyn Harness) {
    let c = Check::start("concurrent_resume");
    let s = h.fresh().await;
    let session = Arc::new(new_session(
        "00000000-0000-4000-8000-000000000600",
        "kit/up",
    ));
    ok(&c, "create_upload", s.create_upload(&session).await);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (s, session) = (Arc::clone(&s), Arc::clone(&session));
            tokio::spawn(async move { s.resume_upload(&session.id).await })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("resume task") {
            Ok(writer) => winners.push(writer),
            Err(Error::Busy { .. }) => {}
            Err(e) => panic!("`{}`: concurrent resume: expected Busy, got {e:?}", c.0),
        }
    }
    assert_eq!(winners.len(), 1, "`{}`: writers holding one session", c.0);
    drop(winners);
    let writer = ok(
        &c,
        "resume after the winner is dropped",
        s.resume_upload(&session.id).await,
    );
    drop(writer);
}
