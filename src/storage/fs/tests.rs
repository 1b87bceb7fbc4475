use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use super::*;
use crate::protocol::{Algorithm, ByteRange, Hasher};
use crate::storage::{BlobReader, Span};

fn sha256(data: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, data)
}

/// Both modes: every behaviour test runs durable and not.
fn stores() -> Vec<(tempfile::TempDir, FsStorage)> {
    [true, false]
        .into_iter()
        .map(|durable| {
            let dir = tempfile::tempdir().unwrap();
            let store = FsStorage::new(dir.path().join("root"), durable);
            (dir, store)
        })
        .collect()
}

async fn write_all(writer: &mut Box<dyn UploadWriter>, data: &[u8]) {
    // Uneven pieces, so chunk boundaries fall mid-write.
    for piece in data.chunks(100_003) {
        writer.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
}

async fn push(store: &FsStorage, repo: &str, data: &[u8]) -> Digest {
    let digest = sha256(data);
    let mut staged = store.stage_blob().await.unwrap();
    write_all(&mut staged, data).await;
    assert_eq!(staged.offset(), data.len() as u64);
    staged.complete(repo, &digest).await.unwrap();
    digest
}

async fn read_reader(reader: BlobReader) -> Vec<u8> {
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

async fn read_all(
    store: &FsStorage,
    repo: &str,
    digest: &Digest,
    range: Option<ByteRange>,
) -> Vec<u8> {
    let got = store
        .get_blob(repo, digest, GetOptions::range(range, false))
        .await
        .unwrap();
    read_reader(got.body.unwrap()).await
}

fn files_in(dir: &Path) -> usize {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.count(),
        Err(_) => 0,
    }
}

fn manifest(media_type: &str, body: &str) -> (Digest, StoredManifest) {
    let bytes = Bytes::from(body.to_owned());
    (sha256(&bytes), StoredManifest::new(media_type, bytes))
}

fn new_session(repo: &str) -> UploadState {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    UploadState::new(
        id,
        repo,
        Algorithm::Sha256,
        Hasher::new(Algorithm::Sha256).save(),
    )
}

/// Paths of this process's open file descriptors.
#[cfg(target_os = "linux")]
fn open_paths() -> Vec<PathBuf> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .collect()
}

const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";

#[tokio::test(flavor = "multi_thread")]
async fn blob_round_trip_and_ranges() {
    for (dir, store) in stores() {
        // Larger than two write chunks, so chunk writes overlap with buffering.
        let data: Vec<u8> = (0..(2 * (1 << 20) + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        let digest = push(&store, "library/a", &data).await;
        let size = data.len() as u64;

        let head = store
            .get_blob("library/a", &digest, GetOptions::head())
            .await
            .unwrap();
        assert_eq!((head.size, head.span), (size, Span::Whole));
        assert!(head.body.is_none());
        assert_eq!(read_all(&store, "library/a", &digest, None).await, data);
        let range = |a, b| Some(ByteRange::FromTo(a, b));
        assert_eq!(
            read_all(&store, "library/a", &digest, range(0, 0)).await,
            &data[..1]
        );
        assert_eq!(
            read_all(&store, "library/a", &digest, range(10, 1_500_000)).await,
            &data[10..=1_500_000]
        );
        let last = size - 1;
        assert_eq!(
            read_all(&store, "library/a", &digest, range(last - 1, last + 100)).await,
            &data[data.len() - 2..]
        );
        let out = store
            .get_blob(
                "library/a",
                &digest,
                GetOptions::range(range(size, size), false),
            )
            .await
            .unwrap();
        assert_eq!((out.size, out.span), (size, Span::Unsatisfiable));
        assert!(out.body.is_none());
        let head_range = store
            .get_blob("library/a", &digest, GetOptions::range(range(1, 2), true))
            .await
            .unwrap();
        assert_eq!(head_range.span, Span::Range { first: 1, last: 2 });
        assert!(head_range.body.is_none());

        // The content file holds exactly the bytes of its digest; nothing is left staged.
        let on_disk =
            std::fs::read(dir.path().join("root/blobs/sha256").join(digest.hex())).unwrap();
        assert_eq!(sha256(&on_disk), digest);
        assert_eq!(files_in(&dir.path().join("root/uploads")), 0);
        let info = store.stat_blob(&digest).await.unwrap();
        assert_eq!((info.digest, info.size), (digest.clone(), size));

        let empty = push(&store, "library/a", b"").await;
        assert_eq!(read_all(&store, "library/a", &empty, None).await, b"");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn blob_is_per_repository_until_linked() {
    for (_dir, store) in stores() {
        let digest = push(&store, "a", b"shared content").await;
        let absent = sha256(b"never pushed");
        let nf = |r: Result<GetResult>| matches!(r, Err(Error::NotFound { .. }));
        assert!(nf(store.get_blob("b", &digest, GetOptions::whole()).await));
        assert!(nf(store.get_blob("b", &digest, GetOptions::head()).await));
        assert!(nf(store.get_blob("a", &absent, GetOptions::whole()).await));
        assert!(store.stat_blob(&absent).await.unwrap_err().is_not_found());

        let link = |repo: &'static str, d: Digest, from: Option<&'static str>| {
            let store = &store;
            async move {
                let options = from.map(LinkOptions::from_repository).unwrap_or_default();
                store.link_blob(repo, &d, options).await
            }
        };
        assert!(link("b", absent.clone(), None)
            .await
            .unwrap_err()
            .is_not_found());
        // Mounting from a repository that does not hold it fails.
        assert!(link("b", digest.clone(), Some("c"))
            .await
            .unwrap_err()
            .is_not_found());
        let before = store.stat_blob(&digest).await.unwrap().touched;
        tokio::time::sleep(Duration::from_millis(20)).await;
        link("b", digest.clone(), Some("a")).await.unwrap();
        link("b", digest.clone(), None).await.unwrap();
        assert!(store.stat_blob(&digest).await.unwrap().touched > before);
        assert_eq!(
            read_all(&store, "b", &digest, None).await,
            b"shared content"
        );

        store.unlink_blob("b", &digest).await.unwrap();
        assert!(store
            .unlink_blob("b", &digest)
            .await
            .unwrap_err()
            .is_not_found());
        assert!(nf(store.get_blob("b", &digest, GetOptions::head()).await));
        assert_eq!(
            read_all(&store, "a", &digest, None).await,
            b"shared content"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_completes_of_one_blob_all_succeed() {
    for (dir, store) in stores() {
        let store = Arc::new(store);
        let data: Arc<Vec<u8>> = Arc::new((0..300_000u32).map(|i| (i * 7 % 256) as u8).collect());
        let digest = sha256(&data);
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, data, digest) = (Arc::clone(&store), Arc::clone(&data), digest.clone());
                tokio::spawn(async move {
                    let repo = format!("repo{}", i % 2);
                    let mut staged = store.stage_blob().await?;
                    for piece in data.chunks(4096) {
                        staged.write(Bytes::copy_from_slice(piece)).await?;
                    }
                    staged.complete(&repo, &digest).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let on_disk =
            std::fs::read(dir.path().join("root/blobs/sha256").join(digest.hex())).unwrap();
        assert_eq!(on_disk, *data);
        assert_eq!(read_all(&store, "repo1", &digest, None).await, *data);
        assert_eq!(files_in(&dir.path().join("root/uploads")), 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_staged_blob_leaves_nothing() {
    for (dir, store) in stores() {
        let uploads = dir.path().join("root/uploads");
        let mut small = store.stage_blob().await.unwrap();
        small.write(Bytes::from_static(b"abc")).await.unwrap();
        // Big enough that a chunk write is in flight when it is dropped.
        let mut big = store.stage_blob().await.unwrap();
        big.write(Bytes::from(vec![7u8; (1 << 20) + 1]))
            .await
            .unwrap();
        assert_eq!(files_in(&uploads), 2);
        assert!(matches!(
            small.save(Bytes::new()).await,
            Err(Error::InvalidInput { .. })
        ));
        drop(big);
        assert_eq!(files_in(&uploads), 0);
        assert!(store
            .stat_blob(&sha256(b"abc"))
            .await
            .unwrap_err()
            .is_not_found());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_to_unsafe_name_fails_and_cleans_up() {
    let (dir, store) = stores().remove(0);
    let mut staged = store.stage_blob().await.unwrap();
    staged.write(Bytes::from_static(b"x")).await.unwrap();
    assert!(matches!(
        staged.complete("../evil", &sha256(b"x")).await,
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(files_in(&dir.path().join("root/uploads")), 0);
    assert!(!dir.path().join("evil").exists());
}

/// Writes `data` to a resumed session, feeding `hasher`, and saves.
async fn append_and_save(
    store: &FsStorage,
    state: &UploadState,
    hasher: &mut Hasher,
    data: &[u8],
) -> UploadState {
    let mut writer = store.resume_upload(&state.id).await.unwrap();
    write_all(&mut writer, data).await;
    hasher.update(data);
    assert_eq!(writer.offset(), state.offset + data.len() as u64);
    let saved = writer.save(hasher.save()).await.unwrap();
    assert_eq!(saved.offset, state.offset + data.len() as u64);
    assert_eq!(store.get_upload(&state.id).await.unwrap(), saved);
    saved
}

#[tokio::test(flavor = "multi_thread")]
async fn session_round_trip_with_digest_checked() {
    for (dir, store) in stores() {
        let state = new_session("a/b");
        store.create_upload(&state).await.unwrap();
        assert!(matches!(
            store.create_upload(&state).await,
            Err(Error::AlreadyExists { .. })
        ));
        let stored = store.get_upload(&state.id).await.unwrap();
        assert_eq!(stored, state, "a record reads back exactly");

        let part1: Vec<u8> = (0..1_500_000u32).map(|i| (i % 253) as u8).collect();
        let part2: Vec<u8> = (0..700_000u32).map(|i| (i % 13) as u8).collect();
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let saved = append_and_save(&store, &stored, &mut hasher, &part1).await;

        // Resume with the stored hash state, read back, write more, complete.
        let mut hasher = Hasher::restore(Algorithm::Sha256, &saved.hash_state).unwrap();
        let mut writer = store.resume_upload(&saved.id).await.unwrap();
        write_all(&mut writer, &part2).await;
        hasher.update(&part2);
        let whole = [part1.clone(), part2.clone()].concat();
        assert_eq!(read_reader(writer.read_back().await.unwrap()).await, whole);
        let digest = hasher.finalize();
        assert_eq!(digest, sha256(&whole));
        writer.complete("a/b", &digest).await.unwrap();

        assert_eq!(read_all(&store, "a/b", &digest, None).await, whole);
        assert!(store
            .get_upload(&state.id)
            .await
            .unwrap_err()
            .is_not_found());
        assert!(store
            .resume_upload(&saved.id)
            .await
            .unwrap_err()
            .is_not_found());
        assert_eq!(files_in(&dir.path().join("root/uploads")), 0);
        assert!(store.repository_exists("a/b").await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn session_resumes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let state = new_session("a");
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let saved = {
        let store = FsStorage::new(&root, true);
        store.create_upload(&state).await.unwrap();
        append_and_save(&store, &state, &mut hasher, b"hello ").await
    };
    let store = FsStorage::new(&root, true);
    assert_eq!(store.get_upload(&state.id).await.unwrap(), saved);
    let mut hasher = Hasher::restore(Algorithm::Sha256, &saved.hash_state).unwrap();
    let mut writer = store.resume_upload(&saved.id).await.unwrap();
    writer.write(Bytes::from_static(b"world")).await.unwrap();
    hasher.update(b"world");
    let digest = hasher.finalize();
    assert_eq!(digest, sha256(b"hello world"));
    writer.complete("a", &digest).await.unwrap();
    assert_eq!(read_all(&store, "a", &digest, None).await, b"hello world");
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_writer_leaves_session_at_saved_offset() {
    for (dir, store) in stores() {
        let state = new_session("a");
        store.create_upload(&state).await.unwrap();
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let saved = append_and_save(&store, &state, &mut hasher, b"kept").await;

        let mut writer = store.resume_upload(&saved.id).await.unwrap();
        writer
            .write(Bytes::from(vec![9u8; (1 << 20) + 5]))
            .await
            .unwrap();
        writer
            .write(Bytes::from_static(b"unacknowledged"))
            .await
            .unwrap();
        drop(writer);
        // Let a chunk still in flight land: it must be cut off anyway.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(store.get_upload(&state.id).await.unwrap(), saved);

        let data = dir
            .path()
            .join("root/uploads")
            .join(format!("{}.data", state.id));
        let mut writer = store.resume_upload(&saved.id).await.unwrap();
        assert_eq!(std::fs::metadata(&data).unwrap().len(), 4);
        assert_eq!(
            read_reader(writer.read_back().await.unwrap()).await,
            b"kept"
        );
        writer.write(Bytes::from_static(b"!")).await.unwrap();
        hasher.update(b"!");
        let digest = hasher.finalize();
        writer.complete("a", &digest).await.unwrap();
        assert_eq!(read_all(&store, "a", &digest, None).await, b"kept!");

        // The writer reports the state it claimed, whatever the caller read before.
        let state = new_session("a");
        store.create_upload(&state).await.unwrap();
        let writer = store.resume_upload(&state.id).await.unwrap();
        assert_eq!(writer.state().map(|s| s.offset), Some(0));
        assert_eq!(writer.state().map(|s| s.repo.as_str()), Some("a"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_resume_is_busy_in_and_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let one = FsStorage::new(&root, false);
    let two = FsStorage::new(&root, false);
    let state = new_session("a");
    one.create_upload(&state).await.unwrap();

    let (a, b) = tokio::join!(one.resume_upload(&state.id), one.resume_upload(&state.id));
    let busy = |r: &Result<Box<dyn UploadWriter>>| matches!(r, Err(Error::Busy { .. }));
    assert!(
        (a.is_ok() && busy(&b)) || (b.is_ok() && busy(&a)),
        "{a:?} {b:?}"
    );
    drop((a, b));

    let mut held = one.resume_upload(&state.id).await.unwrap();
    assert!(busy(&two.resume_upload(&state.id).await));
    held.write(Bytes::from_static(b"abc")).await.unwrap();
    let saved = held.save(Bytes::from_static(b"state")).await.unwrap();
    // Once saved, the other instance may claim it, at the new offset.
    let writer = two.resume_upload(&saved.id).await.unwrap();
    assert_eq!(writer.state().map(|s| s.offset), Some(3));
    assert!(busy(&one.resume_upload(&saved.id).await));
    drop(writer);
    assert!(one.resume_upload(&saved.id).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_while_writing_fails_save_and_never_resurrects() {
    for (dir, store) in stores() {
        let state = new_session("a");
        store.create_upload(&state).await.unwrap();
        let mut writer = store.resume_upload(&state.id).await.unwrap();
        writer.write(Bytes::from_static(b"abc")).await.unwrap();
        store.delete_upload(&state.id).await.unwrap();
        assert!(store
            .delete_upload(&state.id)
            .await
            .unwrap_err()
            .is_not_found());
        assert!(writer.save(Bytes::new()).await.unwrap_err().is_not_found());
        assert!(store
            .get_upload(&state.id)
            .await
            .unwrap_err()
            .is_not_found());

        let mut writer = {
            let state = new_session("a");
            store.create_upload(&state).await.unwrap();
            let writer = store.resume_upload(&state.id).await.unwrap();
            store.delete_upload(&state.id).await.unwrap();
            writer
        };
        writer.write(Bytes::from_static(b"x")).await.unwrap();
        assert!(writer
            .complete("a", &sha256(b"x"))
            .await
            .unwrap_err()
            .is_not_found());
        assert!(store
            .stat_blob(&sha256(b"x"))
            .await
            .unwrap_err()
            .is_not_found());
        assert_eq!(files_in(&dir.path().join("root/uploads")), 0);
        assert_eq!(
            store
                .list_uploads(ListOptions::default())
                .await
                .unwrap()
                .items,
            []
        );
    }
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn idle_saved_session_holds_no_file() {
    let (dir, store) = stores().remove(0);
    let state = new_session("a");
    store.create_upload(&state).await.unwrap();
    let data = dir
        .path()
        .join("root/uploads")
        .join(format!("{}.data", state.id));
    let holds = || open_paths().contains(&data);
    assert!(!holds());
    let mut writer = store.resume_upload(&state.id).await.unwrap();
    writer.write(Bytes::from(vec![1u8; 3 << 20])).await.unwrap();
    assert!(holds());
    let saved = writer.save(Bytes::from_static(b"h")).await.unwrap();
    assert_eq!(saved.offset, 3 << 20);
    assert!(!holds(), "a saved session keeps its data file open");
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_list_in_id_order_and_page() {
    let (_dir, store) = stores().remove(1);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let state = new_session("a");
        store.create_upload(&state).await.unwrap();
        ids.push(state.id);
    }
    ids.sort();
    let page = store.list_uploads(ListOptions::new(None, 2)).await.unwrap();
    let got: Vec<_> = page.items.iter().map(|s| s.id.clone()).collect();
    assert_eq!((got.as_slice(), page.more), (&ids[..2], true));
    let page = store
        .list_uploads(ListOptions::new(Some(ids[1].clone()), 10))
        .await
        .unwrap();
    let got: Vec<_> = page.items.iter().map(|s| s.id.clone()).collect();
    assert_eq!((got.as_slice(), page.more), (&ids[2..], false));
    assert!(matches!(
        store.get_upload("../x").await,
        Err(Error::InvalidInput { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn startup_removes_only_its_own_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::write(&outside, b"precious").unwrap();
    let state = new_session("a");
    let saved = {
        let store = FsStorage::new(&root, false);
        store.create_upload(&state).await.unwrap();
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let saved = append_and_save(&store, &state, &mut hasher, b"part").await;
        let mut staged = store.stage_blob().await.unwrap();
        staged.write(Bytes::from_static(b"half")).await.unwrap();
        // A crash: the staged blob's destructor never runs.
        std::mem::forget(staged);
        saved
    };
    let tmp = root.join("tmp");
    let uploads = root.join("uploads");
    std::fs::write(tmp.join(".oci-tmp-deadbeef-7"), b"torn").unwrap();
    std::fs::write(tmp.join("not-ours"), b"keep").unwrap();
    std::fs::write(uploads.join("notes.txt"), b"keep").unwrap();
    std::os::unix::fs::symlink(&outside, tmp.join(".oci-tmp-link")).unwrap();
    assert_eq!(files_in(&uploads), 4);

    let store = FsStorage::new(&root, false);
    let mut left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, [".oci-tmp-link", "not-ours"]);
    assert_eq!(files_in(&uploads), 3, "session files and notes.txt stay");
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
    assert_eq!(store.get_upload(&state.id).await.unwrap(), saved);
    store.resume_upload(&saved.id).await.unwrap();

    // A symlinked tmp directory is not entered.
    let root2 = dir.path().join("root2");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(&root2).unwrap();
    std::fs::write(elsewhere.join(".oci-tmp-x-1"), b"not ours to delete").unwrap();
    std::os::unix::fs::symlink(&elsewhere, root2.join("tmp")).unwrap();
    let _ = FsStorage::new(&root2, false);
    assert!(elsewhere.join(".oci-tmp-x-1").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn symlinks_are_refused_never_followed() {
    let (dir, store) = stores().remove(0);
    let outside = dir.path().join("outside");
    std::fs::write(&outside, b"precious").unwrap();
    let (digest, m) = manifest(IMAGE, "{}");
    store
        .put_manifest(
            "a",
            &ManifestPut::new(digest.clone(), m.clone()).with_tags(["ok".to_owned()]),
        )
        .await
        .unwrap();

    // A tag file.
    let fresh = FsStorage::new(dir.path().join("root"), true);
    let tag = dir.path().join("root/repositories/a/_tags/evil");
    std::os::unix::fs::symlink(&outside, &tag).unwrap();
    let err = fresh.get_tag("a", "evil").await.unwrap_err();
    assert!(!err.is_not_found(), "{err}");
    let put = ManifestPut::new(digest.clone(), m).with_tags(["evil".to_owned()]);
    assert!(fresh.put_manifest("a", &put).await.is_err());
    assert!(fresh.delete_tag("a", "evil").await.is_err());
    assert_eq!(
        fresh
            .list_tags("a", ListOptions::default())
            .await
            .unwrap()
            .items,
        ["ok"]
    );
    assert!(std::fs::symlink_metadata(&tag)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious");

    // An upload's data file, planted as a link after create (the first resume creates it).
    let state = new_session("a");
    fresh.create_upload(&state).await.unwrap();
    let data = dir
        .path()
        .join("root/uploads")
        .join(format!("{}.data", state.id));
    std::os::unix::fs::symlink(&outside, &data).unwrap();
    assert!(fresh.resume_upload(&state.id).await.is_err());
    let _ = fresh.delete_upload(&state.id).await;
    assert!(std::fs::symlink_metadata(&data)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(true));
    // Swapped for a link after the first resume created it.
    let state = new_session("a");
    fresh.create_upload(&state).await.unwrap();
    drop(fresh.resume_upload(&state.id).await.unwrap());
    std::fs::remove_file(data_path(&dir, &state.id)).unwrap();
    std::os::unix::fs::symlink(&outside, data_path(&dir, &state.id)).unwrap();
    assert!(fresh.resume_upload(&state.id).await.is_err());
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
}

fn data_path(dir: &tempfile::TempDir, id: &str) -> PathBuf {
    dir.path().join("root/uploads").join(format!("{id}.data"))
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_tags_and_referrers_round_trip() {
    for (_dir, store) in stores() {
        let (digest, m) = manifest(IMAGE, r#"{"schemaVersion":2}"#);
        assert!(store
            .get_manifest("a", &digest)
            .await
            .unwrap_err()
            .is_not_found());
        let bad = ManifestPut::new(sha256(b"other"), m.clone());
        assert!(matches!(
            store.put_manifest("a", &bad).await,
            Err(Error::InvalidInput { .. })
        ));
        let subject = sha256(b"subject");
        let entry = ReferrerEntry::new(digest.clone(), Some("x/sig".into()), &b"{\"d\":1}"[..]);
        let put = ManifestPut::new(digest.clone(), m.clone())
            .with_tags(["v1".to_owned(), "latest".to_owned()])
            .with_referrer(subject.clone(), entry.clone());
        store.put_manifest("a", &put).await.unwrap();
        assert_eq!(store.get_manifest("a", &digest).await.unwrap(), m);
        assert_eq!(
            store.manifest_meta("a", &digest).await.unwrap(),
            ManifestMeta::new(IMAGE, m.bytes.len() as u64)
        );
        assert!(store
            .get_manifest("b", &digest)
            .await
            .unwrap_err()
            .is_not_found());
        assert_eq!(store.get_tag("a", "v1").await.unwrap(), digest);
        let page = store.list_tags("a", ListOptions::default()).await.unwrap();
        assert_eq!(page.items, ["latest", "v1"]);
        let refs = store
            .list_referrers("a", &subject, ReferrerListOptions::default())
            .await
            .unwrap();
        assert_eq!(refs.items, [entry]);
        let listed = store
            .list_manifests("a", ListOptions::default())
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0].size, m.bytes.len() as u64);

        // Another manifest takes one of the tags.
        let (other, m2) = manifest(IMAGE, r#"{"other":true}"#);
        let put2 = ManifestPut::new(other.clone(), m2).with_tags(["v1".to_owned()]);
        store.put_manifest("a", &put2).await.unwrap();
        store.delete_manifest("a", &digest).await.unwrap();
        assert!(store
            .delete_manifest("a", &digest)
            .await
            .unwrap_err()
            .is_not_found());
        assert!(store
            .get_tag("a", "latest")
            .await
            .unwrap_err()
            .is_not_found());
        assert_eq!(store.get_tag("a", "v1").await.unwrap(), other);
        let refs = store
            .list_referrers("a", &subject, ReferrerListOptions::default())
            .await
            .unwrap();
        assert!(refs.items.is_empty());
        store.delete_tag("a", "v1").await.unwrap();
        assert!(store
            .delete_tag("a", "v1")
            .await
            .unwrap_err()
            .is_not_found());
        assert!(store
            .list_tags("a", ListOptions::default())
            .await
            .unwrap()
            .items
            .is_empty());
        assert!(store
            .list_tags("nope", ListOptions::default())
            .await
            .unwrap_err()
            .is_not_found());

        // Disk is the truth for a fresh instance.
        let fresh = FsStorage::new(_dir.path().join("root"), false);
        assert!(fresh
            .get_tag("a", "latest")
            .await
            .unwrap_err()
            .is_not_found());
        assert!(fresh
            .manifest_meta("a", &digest)
            .await
            .unwrap_err()
            .is_not_found());
        assert!(fresh.manifest_meta("a", &other).await.is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tag_put_racing_manifest_delete_never_dangles() {
    let (dir, store) = stores().remove(1);
    let store = Arc::new(store);
    let (digest, m) = manifest(IMAGE, r#"{"race":1}"#);
    let put = Arc::new(ManifestPut::new(digest.clone(), m).with_tags(["t".to_owned()]));
    for _ in 0..200 {
        let (s1, p) = (Arc::clone(&store), Arc::clone(&put));
        let putter = tokio::spawn(async move { s1.put_manifest("r", &p).await });
        let (s2, d) = (Arc::clone(&store), digest.clone());
        let deleter = tokio::spawn(async move { s2.delete_manifest("r", &d).await });
        putter.await.unwrap().unwrap();
        match deleter.await.unwrap() {
            Ok(()) => {}
            Err(e) => assert!(e.is_not_found(), "{e}"),
        }
        if let Ok(target) = store.get_tag("r", "t").await {
            store.manifest_meta("r", &target).await.unwrap();
        }
        // Disk agrees.
        let tag = dir.path().join("root/repositories/r/_tags/t");
        let link = dir
            .path()
            .join("root/repositories/r/_manifests/sha256")
            .join(digest.hex());
        assert!(!tag.exists() || link.exists());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_pages_come_from_the_index_without_rescans() {
    let (dir, store) = stores().remove(1);
    let (digest, m) = manifest(IMAGE, "{}");
    let tags: Vec<String> = (0..100_000).map(|i| format!("t{i:06}")).collect();
    store
        .put_manifest(
            "big",
            &ManifestPut::new(digest.clone(), m).with_tags(tags.clone()),
        )
        .await
        .unwrap();
    // A fresh instance loads the index from disk once.
    let store = FsStorage::new(dir.path().join("root"), false);
    let first = store
        .list_tags("big", ListOptions::new(Some("t049999".into()), 100))
        .await
        .unwrap();
    assert_eq!(first.items, &tags[50_000..50_100]);
    assert!(first.more);
    let scans = store.directory_scans();
    let mut after = first.items.last().cloned();
    let mut seen = 100;
    while let Some(last) = after {
        let page = store
            .list_tags("big", ListOptions::new(Some(last), 100))
            .await
            .unwrap();
        assert_eq!(
            page.items,
            &tags[50_000 + seen..(50_100 + seen).min(100_000)]
        );
        seen += page.items.len();
        after = if page.more {
            page.items.last().cloned()
        } else {
            None
        };
    }
    assert_eq!(seen, 50_000);
    assert_eq!(store.directory_scans(), scans, "paging rescanned the tags");
    // Deleting the manifest uses the reverse index and removes every tag.
    store.delete_manifest("big", &digest).await.unwrap();
    assert_eq!(store.directory_scans(), scans);
    assert_eq!(files_in(&dir.path().join("root/repositories/big/_tags")), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn referrer_pages_are_bounded_and_filtered() {
    let (_dir, store) = stores().remove(1);
    let subject = sha256(b"subject");
    let mut expected = Vec::new();
    for i in 0..5 {
        let (digest, m) = manifest(IMAGE, &format!("{{\"n\":{i}}}"));
        let kind = if i % 2 == 0 { "even" } else { "odd" };
        let entry = ReferrerEntry::new(digest.clone(), Some(kind.into()), vec![b' '; 100]);
        let put = ManifestPut::new(digest, m).with_referrer(subject.clone(), entry.clone());
        store.put_manifest("a", &put).await.unwrap();
        expected.push(entry);
    }
    expected.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
    let list = |page, artifact_type: Option<&str>, max_bytes| {
        let options = ReferrerListOptions::new(page, artifact_type.map(str::to_owned), max_bytes);
        let store = &store;
        let subject = subject.clone();
        async move { store.list_referrers("a", &subject, options).await.unwrap() }
    };
    let page = list(ListOptions::default(), None, 250).await;
    assert_eq!((page.items.as_slice(), page.more), (&expected[..2], true));
    let page = list(ListOptions::default(), None, 10).await;
    assert_eq!((page.items.as_slice(), page.more), (&expected[..1], true));
    let after = Some(expected[1].digest.as_str().to_owned());
    let page = list(ListOptions::new(after, 2), None, 1 << 20).await;
    assert_eq!((page.items.as_slice(), page.more), (&expected[2..4], true));
    let page = list(ListOptions::default(), Some("odd"), 1 << 20).await;
    assert_eq!(page.items.len(), 2);
    assert!(page
        .items
        .iter()
        .all(|e| e.artifact_type.as_deref() == Some("odd")));
    let none = store
        .list_referrers("zz", &subject, ReferrerListOptions::default())
        .await
        .unwrap();
    assert!(none.items.is_empty() && !none.more);
}

#[tokio::test(flavor = "multi_thread")]
async fn repositories_nest_sort_and_page() {
    for (_dir, store) in stores() {
        assert!(store
            .list_repositories(ListOptions::default())
            .await
            .unwrap()
            .items
            .is_empty());
        let (digest, m) = manifest(IMAGE, "{}");
        push(&store, "a/b", b"blob").await;
        store
            .put_manifest("a", &ManifestPut::new(digest.clone(), m.clone()))
            .await
            .unwrap();
        // Written behind this instance's back: found by a fresh instance's walk.
        let fresh = FsStorage::new(_dir.path().join("root"), false);
        fresh
            .put_manifest("a/b/c", &ManifestPut::new(digest.clone(), m))
            .await
            .unwrap();
        push(&fresh, "a-b", b"blob").await;
        let all = fresh
            .list_repositories(ListOptions::default())
            .await
            .unwrap();
        assert_eq!(all.items, ["a", "a-b", "a/b", "a/b/c"]);
        let scans = fresh.directory_scans();
        push(&fresh, "z", b"blob").await;
        let page = fresh
            .list_repositories(ListOptions::new(Some("a-b".into()), 2))
            .await
            .unwrap();
        assert_eq!(
            (page.items.as_slice(), page.more),
            (&["a/b".to_owned(), "a/b/c".to_owned()][..], true)
        );
        let page = fresh
            .list_repositories(ListOptions::new(Some("a/b/c".into()), 2))
            .await
            .unwrap();
        assert_eq!(
            (page.items.as_slice(), page.more),
            (&["z".to_owned()][..], false)
        );
        assert_eq!(fresh.directory_scans(), scans);
        for repo in ["a", "a/b", "a/b/c", "z", "a-b"] {
            assert!(fresh.repository_exists(repo).await.unwrap(), "{repo}");
        }
        for repo in ["b", "a/b/c/d", "../a", ""] {
            assert!(!fresh.repository_exists(repo).await.unwrap(), "{repo}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_lists_blobs_and_deletes_untouched_content() {
    for (_dir, store) in stores() {
        let mut digests = Vec::new();
        for i in 0..4 {
            digests.push(push(&store, "a", format!("blob {i}").as_bytes()).await);
        }
        digests.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let page = store.list_blobs(ListOptions::new(None, 3)).await.unwrap();
        let got: Vec<_> = page.items.iter().map(|c| c.digest.clone()).collect();
        assert_eq!((got.as_slice(), page.more), (&digests[..3], true));
        let page = store
            .list_blobs(ListOptions::new(Some(digests[2].as_str().to_owned()), 3))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(!page.more);

        let victim = &digests[0];
        let before = SystemTime::now() - Duration::from_secs(3600);
        assert!(matches!(
            store
                .delete_blob_content(victim, DeleteContentOptions::untouched_since(before))
                .await,
            Err(Error::Conflict { .. })
        ));
        let later = SystemTime::now() + Duration::from_secs(1);
        store
            .delete_blob_content(victim, DeleteContentOptions::untouched_since(later))
            .await
            .unwrap();
        assert!(store
            .delete_blob_content(victim, DeleteContentOptions::default())
            .await
            .unwrap_err()
            .is_not_found());
        // The link stays, and reads as absent.
        assert!(store
            .get_blob("a", victim, GetOptions::whole())
            .await
            .unwrap_err()
            .is_not_found());
        assert!(store
            .get_blob("a", victim, GetOptions::head())
            .await
            .unwrap_err()
            .is_not_found());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unsafe_names_never_touch_disk() {
    let (dir, store) = stores().remove(1);
    let digest = push(&store, "a", b"x").await;
    for bad in ["../a", "a/../../x", "a//b", "/a", "a/_blobs", "", "A"] {
        let invalid = |e: Error| matches!(e, Error::InvalidInput { .. });
        assert!(invalid(
            store
                .get_blob(bad, &digest, GetOptions::whole())
                .await
                .unwrap_err()
        ));
        assert!(invalid(
            store
                .link_blob(bad, &digest, LinkOptions::default())
                .await
                .unwrap_err()
        ));
        assert!(invalid(store.get_tag(bad, "t").await.unwrap_err()));
        assert!(invalid(
            store
                .list_tags(bad, ListOptions::default())
                .await
                .unwrap_err()
        ));
        let (d, m) = manifest(IMAGE, "{}");
        assert!(invalid(
            store
                .put_manifest(bad, &ManifestPut::new(d, m))
                .await
                .unwrap_err()
        ));
        assert!(!store.repository_exists(bad).await.unwrap());
    }
    let (d, m) = manifest(IMAGE, "{}");
    let put = ManifestPut::new(d, m).with_tags(["../t".to_owned()]);
    assert!(matches!(
        store.put_manifest("a", &put).await,
        Err(Error::InvalidInput { .. })
    ));
    let mut state = new_session("a");
    state.id = "../../etc/passwd".into();
    assert!(matches!(
        store.create_upload(&state).await,
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(
        store
            .list_repositories(ListOptions::default())
            .await
            .unwrap()
            .items,
        ["a"]
    );
    let mut top: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert_eq!(top, ["root"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_manifest_get_by_tag_touches_no_disk() {
    let (dir, store) = stores().remove(1);
    let (digest, m) = manifest(IMAGE, r#"{"hot":1}"#);
    let put = ManifestPut::new(digest.clone(), m.clone()).with_tags(["latest".to_owned()]);
    store.put_manifest("a", &put).await.unwrap();
    // Move the whole tree away: only the caches can answer now.
    let root = dir.path().join("root");
    std::fs::rename(&root, dir.path().join("moved")).unwrap();
    let target = store.get_tag("a", "latest").await.unwrap();
    assert_eq!(target, digest);
    assert_eq!(store.get_manifest("a", &target).await.unwrap(), m);
    assert_eq!(
        store.manifest_meta("a", &target).await.unwrap().size,
        m.bytes.len() as u64
    );
    assert!(!root.exists());
}

/// Opens `FsStorage` over fresh temp directories; `reopen` is a new instance over the last one
/// (what a restart, or a second process on the same root, sees).
struct FsHarness {
    durable: bool,
    dirs: std::sync::Mutex<Vec<tempfile::TempDir>>,
}

impl crate::storage::testkit::Harness for FsHarness {
    fn fresh(&self) -> crate::storage::BoxFuture<'_, Arc<dyn Storage>> {
        Box::pin(async move {
            let dir = tempfile::tempdir().unwrap();
            let store = FsStorage::new(dir.path(), self.durable);
            self.dirs.lock().unwrap().push(dir);
            Arc::new(store) as Arc<dyn Storage>
        })
    }

    fn reopen(&self) -> crate::storage::BoxFuture<'_, Arc<dyn Storage>> {
        Box::pin(async move {
            let root = self
                .dirs
                .lock()
                .unwrap()
                .last()
                .unwrap()
                .path()
                .to_path_buf();
            Arc::new(FsStorage::new(root, self.durable)) as Arc<dyn Storage>
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fs_backend_passes_the_testkit() {
    for durable in [false, true] {
        let harness = FsHarness {
            durable,
            dirs: std::sync::Mutex::new(Vec::new()),
        };
        crate::storage::testkit::run_all(&harness).await;
    }
}
