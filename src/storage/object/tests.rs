use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use tokio::io::AsyncReadExt;

use super::{ObjectStorage, ObjectStorageOptions};
use crate::protocol::{Algorithm, ByteRange, Digest, Hasher};
use crate::storage::testkit::{self, Harness};
use crate::storage::{
    BlobReader, BoxFuture, Error, GetOptions, ListOptions, ManifestPut, Span, Storage,
    StoredManifest, UploadState,
};

/// Fresh stores over a new InMemory; a reopen is a new ObjectStorage over the same one (what
/// another replica sees).
#[derive(Default)]
struct Memory(Mutex<Option<Arc<InMemory>>>);

impl Harness for Memory {
    fn fresh(&self) -> BoxFuture<'_, Arc<dyn Storage>> {
        let store = Arc::new(InMemory::new());
        *self.0.lock().unwrap() = Some(Arc::clone(&store));
        Box::pin(async move { Arc::new(ObjectStorage::new(store, "registry")) as Arc<dyn Storage> })
    }

    fn reopen(&self) -> BoxFuture<'_, Arc<dyn Storage>> {
        let store = self.0.lock().unwrap().clone().expect("a fresh store first");
        Box::pin(async move { Arc::new(ObjectStorage::new(store, "registry")) as Arc<dyn Storage> })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn object_backend_passes_the_testkit() {
    testkit::run_all(&Memory::default()).await;
}

fn sha256(data: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, data)
}

fn replicas() -> (ObjectStorage, ObjectStorage) {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    (
        ObjectStorage::new(Arc::clone(&store), "r"),
        ObjectStorage::new(store, "r"),
    )
}

async fn read_all(reader: BlobReader) -> Vec<u8> {
    let len = reader.len();
    let mut out = Vec::new();
    reader
        .into_async_read()
        .read_to_end(&mut out)
        .await
        .unwrap();
    assert_eq!(out.len() as u64, len);
    out
}

/// Tag PUTs on one replica racing manifest DELETEs on another never leave a tag pointing at
/// a manifest the repository does not hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tag_put_and_manifest_delete_race_across_replicas() {
    for (a, b) in replica_pairs(&ObjectStorageOptions::default()) {
        race_tag_put_and_manifest_delete(Arc::new(a), Arc::new(b)).await;
    }
}

async fn race_tag_put_and_manifest_delete(a: Arc<ObjectStorage>, b: Arc<ObjectStorage>) {
    let repo = "race/x";
    let bytes = Bytes::from_static(b"{\"schemaVersion\":2,\"n\":\"race\"}");
    let digest = sha256(&bytes);
    let put = Arc::new(
        ManifestPut::new(
            digest.clone(),
            StoredManifest::new("application/json", bytes),
        )
        .with_tags(["t".to_owned(), "u".to_owned()]),
    );
    for round in 0..200 {
        let (a2, p) = (Arc::clone(&a), Arc::clone(&put));
        let putter = tokio::spawn(async move { a2.put_manifest(repo, &p).await });
        let (b2, d) = (Arc::clone(&b), digest.clone());
        let deleter = tokio::spawn(async move { b2.delete_manifest(repo, &d).await });
        putter.await.unwrap().unwrap();
        match deleter.await.unwrap() {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => panic!("round {round}: delete: {e:?}"),
        }
        for replica in [&a, &b] {
            let meta = replica.manifest_meta(repo, &digest).await;
            for tag in ["t", "u"] {
                let got = replica.get_tag(repo, tag).await;
                assert_eq!(
                    got.is_ok(),
                    meta.is_ok(),
                    "round {round}: tag {tag} {got:?} but manifest {meta:?}"
                );
            }
            let tags = replica
                .list_tags(repo, ListOptions::default())
                .await
                .unwrap();
            for tag in &tags.items {
                let target = replica.get_tag(repo, tag).await.unwrap();
                replica.manifest_meta(repo, &target).await.unwrap();
            }
        }
    }
}

fn session(id: &str) -> UploadState {
    UploadState::new(
        id,
        "up/x",
        Algorithm::Sha256,
        Hasher::new(Algorithm::Sha256).save(),
    )
}

/// A claim held on replica A makes B busy; A killed without releasing (its writer forgotten),
/// B resumes once the lease has run out.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_replicas_claim_expires() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let short = ObjectStorageOptions {
        upload_lease: Duration::from_millis(200),
    };
    let a = ObjectStorage::new(Arc::clone(&store), "").options(short.clone());
    let b = ObjectStorage::new(store, "").options(short);
    let id = "00000000-0000-4000-8000-00000000a001";
    a.create_upload(&session(id)).await.unwrap();
    let mut held = a.resume_upload(id).await.unwrap();
    held.write(Bytes::from_static(b"lost")).await.unwrap();
    assert!(matches!(b.resume_upload(id).await, Err(Error::Busy { .. })));
    // The replica dies: no drop, no release.
    std::mem::forget(held);
    assert!(matches!(b.resume_upload(id).await, Err(Error::Busy { .. })));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let mut writer = b.resume_upload(id).await.unwrap();
    assert_eq!(writer.offset(), 0);
    writer.write(Bytes::from_static(b"kept")).await.unwrap();
    let digest = sha256(b"kept");
    writer.complete("up/x", &digest).await.unwrap();
    let got = a
        .get_blob("up/x", &digest, GetOptions::whole())
        .await
        .unwrap();
    assert_eq!(read_all(got.body.unwrap()).await, b"kept");
}

/// A blob saved in several sessions steps is several chunks; it reads back whole and by
/// ranges that start, end and span chunk boundaries.
#[tokio::test(flavor = "multi_thread")]
async fn chunked_blob_reads_whole_and_by_ranges() {
    let (a, b) = replicas();
    let id = "00000000-0000-4000-8000-00000000b001";
    a.create_upload(&session(id)).await.unwrap();
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut hasher = Hasher::new(Algorithm::Sha256);
    // Chunks of 100, 1, 399 and 500 bytes, alternating replicas.
    let mut start = 0;
    for (i, len) in [100, 1, 399].into_iter().enumerate() {
        let replica = if i % 2 == 0 { &a } else { &b };
        let mut writer = replica.resume_upload(id).await.unwrap();
        writer
            .write(Bytes::copy_from_slice(&data[start..start + len]))
            .await
            .unwrap();
        hasher.update(&data[start..start + len]);
        writer.save(hasher.save()).await.unwrap();
        start += len;
    }
    let mut writer = b.resume_upload(id).await.unwrap();
    assert_eq!(writer.offset(), 500);
    let back = read_all(writer.read_back().await.unwrap()).await;
    assert_eq!(back, &data[..500]);
    writer
        .write(Bytes::copy_from_slice(&data[500..]))
        .await
        .unwrap();
    let digest = sha256(&data);
    writer.complete("up/x", &digest).await.unwrap();

    let whole = a
        .get_blob("up/x", &digest, GetOptions::whole())
        .await
        .unwrap();
    assert_eq!(whole.size, 1000);
    assert_eq!(read_all(whole.body.unwrap()).await, data);
    for (first, last) in [
        (0, 99),
        (99, 100),
        (100, 100),
        (50, 450),
        (99, 501),
        (101, 499),
        (499, 500),
        (0, 999),
        (998, 999),
    ] {
        let range = ByteRange::parse(&format!("bytes={first}-{last}")).unwrap();
        let got = b
            .get_blob("up/x", &digest, GetOptions::range(Some(range), false))
            .await
            .unwrap();
        assert_eq!(got.span, Span::Range { first, last });
        assert_eq!(
            read_all(got.body.unwrap()).await,
            &data[first as usize..=last as usize],
            "bytes={first}-{last}"
        );
    }
}

#[test]
fn from_url_knows_memory_and_refuses_the_unknown() {
    let store = ObjectStorage::from_url("memory:///some/prefix").unwrap();
    assert_eq!(store.inner.prefix, "some/prefix/");
    assert!(ObjectStorage::from_url("ftp://x/y").is_err());
    assert!(ObjectStorage::from_url("no scheme").is_err());
}

/// The kit against a real store: `TOWER_OCI_TEST_STORAGE_URL=s3://bucket/prefix` (with the
/// `AWS_*` variables `from_url` reads). Each fresh store is a new prefix below it.
struct Remote {
    base: String,
    last: Mutex<String>,
}

impl Harness for Remote {
    fn fresh(&self) -> BoxFuture<'_, Arc<dyn Storage>> {
        let url = format!("{}/{}", self.base, uuid::Uuid::new_v4());
        *self.last.lock().unwrap() = url.clone();
        Box::pin(async move {
            Arc::new(ObjectStorage::from_url(&url).expect("from_url")) as Arc<dyn Storage>
        })
    }

    fn reopen(&self) -> BoxFuture<'_, Arc<dyn Storage>> {
        let url = self.last.lock().unwrap().clone();
        Box::pin(async move {
            Arc::new(ObjectStorage::from_url(&url).expect("from_url")) as Arc<dyn Storage>
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_store_passes_the_testkit() {
    let Some(base) = std::env::var("TOWER_OCI_TEST_STORAGE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!("skipped: TOWER_OCI_TEST_STORAGE_URL is unset");
        return;
    };
    let remote = Remote {
        base: base.trim_end_matches('/').to_owned(),
        last: Mutex::new(String::new()),
    };
    testkit::run_all(&remote).await;
}

/// Pairs of replicas over one store: an InMemory, and the remote store when configured.
fn replica_pairs(options: &ObjectStorageOptions) -> Vec<(ObjectStorage, ObjectStorage)> {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut pairs = vec![(
        ObjectStorage::new(Arc::clone(&store), "r").options(options.clone()),
        ObjectStorage::new(store, "r").options(options.clone()),
    )];
    if let Some(base) = std::env::var("TOWER_OCI_TEST_STORAGE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        let url = format!("{}/{}", base.trim_end_matches('/'), uuid::Uuid::new_v4());
        let open = || {
            ObjectStorage::from_url(&url)
                .unwrap()
                .options(options.clone())
        };
        pairs.push((open(), open()));
    }
    pairs
}

/// Sizes of the chunk objects in the store, sorted.
async fn chunk_sizes(s: &ObjectStorage) -> Vec<u64> {
    let mut sizes = Vec::new();
    s.inner
        .list("chunks", None, |_, meta| {
            sizes.push(meta.size);
            true
        })
        .await
        .unwrap();
    sizes.sort_unstable();
    sizes
}

/// Long writes go up as several chunk objects of about 8 MiB, each one plain PUT (no
/// multipart upload), and read back across chunk boundaries.
#[tokio::test(flavor = "multi_thread")]
async fn long_writes_are_several_plain_chunks() {
    let data: Vec<u8> = (0..20u32 << 20).map(|i| (i % 253) as u8).collect();
    let digest = sha256(&data);
    let split = 9 << 20;
    for (a, b) in replica_pairs(&ObjectStorageOptions::default()) {
        let id = "00000000-0000-4000-8000-00000000c001";
        a.create_upload(&session(id)).await.unwrap();
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let mut writer = a.resume_upload(id).await.unwrap();
        for frame in data[..split].chunks(1 << 20) {
            writer.write(Bytes::copy_from_slice(frame)).await.unwrap();
        }
        hasher.update(&data[..split]);
        writer.save(hasher.save()).await.unwrap();
        let mut writer = b.resume_upload(id).await.unwrap();
        for frame in data[split..].chunks(3 << 20) {
            writer.write(Bytes::copy_from_slice(frame)).await.unwrap();
        }
        writer.complete("up/x", &digest).await.unwrap();
        const MIB: u64 = 1 << 20;
        // 8 + 1 MiB from the first writer, 9 (three 3 MiB frames) + 2 from the second.
        assert_eq!(chunk_sizes(&a).await, [MIB, 2 * MIB, 8 * MIB, 9 * MIB]);

        let whole = a
            .get_blob("up/x", &digest, GetOptions::whole())
            .await
            .unwrap();
        assert_eq!(whole.size, data.len() as u64);
        assert!(read_all(whole.body.unwrap()).await == data, "whole blob");
        for (first, last) in [(split - 10, split + 10), ((8 << 20) - 1, (8 << 20) + 1)] {
            let range = ByteRange::parse(&format!("bytes={first}-{last}")).unwrap();
            let got = b
                .get_blob("up/x", &digest, GetOptions::range(Some(range), false))
                .await
                .unwrap();
            assert_eq!(read_all(got.body.unwrap()).await, &data[first..=last]);
        }
    }
}

/// A writer dropped with a chunk being stored (a request cut off mid-body) leaves no chunk
/// object behind once its cleanup has run, and the session stays at its saved offset.
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_writer_leaves_no_chunks() {
    for (a, b) in replica_pairs(&ObjectStorageOptions::default()) {
        let id = "00000000-0000-4000-8000-00000000c002";
        a.create_upload(&session(id)).await.unwrap();
        let mut writer = a.resume_upload(id).await.unwrap();
        for _ in 0..10 {
            writer.write(Bytes::from(vec![7u8; 1 << 20])).await.unwrap();
        }
        drop(writer);
        let mut left = Vec::new();
        for _ in 0..100 {
            left = chunk_sizes(&a).await;
            if left.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(left.is_empty(), "chunks left behind: {left:?}");
        // The claim is released after the chunks are deleted; until then B finds it busy.
        let mut resumed = b.resume_upload(id).await;
        for _ in 0..100 {
            if !matches!(resumed, Err(Error::Busy { .. })) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            resumed = b.resume_upload(id).await;
        }
        assert_eq!(resumed.unwrap().offset(), 0);
    }
}

/// A writer renews its claim while it writes: another replica stays Busy past the lease.
#[tokio::test(flavor = "multi_thread")]
async fn a_writing_replica_keeps_its_claim_past_the_lease() {
    let options = ObjectStorageOptions {
        upload_lease: Duration::from_millis(300),
    };
    for (a, b) in replica_pairs(&options) {
        let id = "00000000-0000-4000-8000-00000000d001";
        a.create_upload(&session(id)).await.unwrap();
        let mut writer = a.resume_upload(id).await.unwrap();
        let mut hasher = Hasher::new(Algorithm::Sha256);
        for _ in 0..12 {
            writer.write(Bytes::from_static(b"tick")).await.unwrap();
            hasher.update(b"tick");
            tokio::time::sleep(Duration::from_millis(75)).await;
            assert!(
                matches!(b.resume_upload(id).await, Err(Error::Busy { .. })),
                "resumed under a live writer"
            );
        }
        let saved = writer.save(hasher.save()).await.unwrap();
        assert_eq!(saved.offset, 48);
        let writer = b.resume_upload(id).await.unwrap();
        assert_eq!(writer.offset(), 48);
    }
}
