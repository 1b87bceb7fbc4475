use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use super::*;
use crate::protocol::Algorithm;

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

async fn push(store: &FsStorage, repo: &str, data: &[u8]) -> Digest {
    let digest = sha256(data);
    let mut staged = store.stage_blob().await.unwrap();
    // Uneven pieces, so chunk boundaries fall mid-write.
    for piece in data.chunks(100_003) {
        staged.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    assert_eq!(staged.len(), data.len() as u64);
    staged.commit(repo, &digest).await.unwrap();
    digest
}

async fn read_all(
    store: &FsStorage,
    repo: &str,
    digest: &Digest,
    range: Option<(u64, u64)>,
) -> Vec<u8> {
    let blob = store.read_blob(repo, digest, range).await.unwrap();
    let len = blob.len();
    let mut out = Vec::new();
    blob.into_async_read().read_to_end(&mut out).await.unwrap();
    assert_eq!(out.len() as u64, len);
    out
}

fn files_in(dir: &Path) -> usize {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.count(),
        Err(_) => 0,
    }
}

fn manifest(media_type: &str, body: &str) -> (Digest, StoredManifest) {
    let bytes = Bytes::from(body.to_owned());
    (
        sha256(&bytes),
        StoredManifest {
            media_type: media_type.to_owned(),
            bytes,
        },
    )
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";

#[tokio::test]
async fn blob_round_trip_and_ranges() {
    for (dir, store) in stores() {
        // Larger than two write chunks, so chunk writes overlap with buffering.
        let data: Vec<u8> = (0..(2 * (1 << 20) + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        let digest = push(&store, "library/a", &data).await;

        assert_eq!(
            store.blob_size("library/a", &digest).await.unwrap(),
            Some(data.len() as u64)
        );
        assert!(store.blob_exists(&digest).await.unwrap());
        assert_eq!(read_all(&store, "library/a", &digest, None).await, data);
        assert_eq!(
            read_all(&store, "library/a", &digest, Some((0, 0))).await,
            &data[..1]
        );
        assert_eq!(
            read_all(&store, "library/a", &digest, Some((10, 1_500_000))).await,
            &data[10..=1_500_000]
        );
        let last = data.len() as u64 - 1;
        assert_eq!(
            read_all(&store, "library/a", &digest, Some((last, last))).await,
            &data[data.len() - 1..]
        );
        // A range running past the end is cut to the blob.
        assert_eq!(
            read_all(&store, "library/a", &digest, Some((last - 1, last + 100))).await,
            &data[data.len() - 2..]
        );
        assert!(matches!(
            store
                .read_blob("library/a", &digest, Some((last + 1, last + 1)))
                .await,
            Err(Error::Io(_))
        ));

        // The content file holds exactly the bytes of its digest; nothing is left staged.
        let on_disk =
            std::fs::read(dir.path().join("root/blobs/sha256").join(digest.hex())).unwrap();
        assert_eq!(sha256(&on_disk), digest);
        assert_eq!(files_in(&dir.path().join("root/uploads")), 0);

        // An empty blob works too.
        let empty = push(&store, "library/a", b"").await;
        assert_eq!(store.blob_size("library/a", &empty).await.unwrap(), Some(0));
        assert_eq!(read_all(&store, "library/a", &empty, None).await, b"");
    }
}

#[tokio::test]
async fn blob_is_per_repository_until_linked() {
    for (_dir, store) in stores() {
        let digest = push(&store, "a", b"shared content").await;
        let absent = sha256(b"never pushed");

        assert_eq!(store.blob_size("b", &digest).await.unwrap(), None);
        assert!(matches!(
            store.read_blob("b", &digest, None).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            store.read_blob("a", &absent, None).await,
            Err(Error::NotFound)
        ));
        assert!(!store.blob_exists(&absent).await.unwrap());

        assert!(!store.link_blob("b", &absent).await.unwrap());
        assert!(store.link_blob("b", &digest).await.unwrap());
        assert!(
            store.link_blob("b", &digest).await.unwrap(),
            "linking twice is fine"
        );
        assert_eq!(
            read_all(&store, "b", &digest, None).await,
            b"shared content"
        );

        assert!(store.delete_blob("b", &digest).await.unwrap());
        assert!(!store.delete_blob("b", &digest).await.unwrap());
        assert_eq!(store.blob_size("b", &digest).await.unwrap(), None);
        // Unlinking from one repository leaves the others (and the content) alone.
        assert_eq!(
            read_all(&store, "a", &digest, None).await,
            b"shared content"
        );
        assert!(store.blob_exists(&digest).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_of_one_blob_all_succeed() {
    for (dir, store) in stores() {
        let store = Arc::new(store);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let data = Arc::new(data);
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
                    staged.commit(&repo, &digest).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let on_disk =
            std::fs::read(dir.path().join("root/blobs/sha256").join(digest.hex())).unwrap();
        assert_eq!(on_disk, *data);
        assert_eq!(read_all(&store, "repo0", &digest, None).await, *data);
        assert_eq!(read_all(&store, "repo1", &digest, None).await, *data);
        assert_eq!(files_in(&dir.path().join("root/uploads")), 0);
    }
}

#[tokio::test]
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
        drop(small);
        drop(big);
        assert_eq!(files_in(&uploads), 0);
        assert!(!store.blob_exists(&sha256(b"abc")).await.unwrap());
    }
}

#[tokio::test]
async fn commit_to_unsafe_name_fails_and_cleans_up() {
    let (dir, store) = stores().remove(0);
    let mut staged = store.stage_blob().await.unwrap();
    staged.write(Bytes::from_static(b"x")).await.unwrap();
    assert!(matches!(
        staged.commit("../evil", &sha256(b"x")).await,
        Err(Error::Io(_))
    ));
    assert_eq!(files_in(&dir.path().join("root/uploads")), 0);
    assert!(!store.blob_exists(&sha256(b"x")).await.unwrap());
    assert!(!dir.path().join("evil").exists());
}

#[tokio::test]
async fn new_removes_crash_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let uploads = root.join("uploads");
    {
        let store = FsStorage::new(&root, false);
        push(&store, "a", b"kept").await;
        let mut staged = store.stage_blob().await.unwrap();
        staged
            .write(Bytes::from_static(b"half an upload"))
            .await
            .unwrap();
        // A crash: the staged blob's destructor never runs.
        std::mem::forget(staged);
    }
    std::fs::write(uploads.join("stray-temp"), b"torn tag").unwrap();
    assert_eq!(files_in(&uploads), 2);

    let store = FsStorage::new(&root, false);
    assert_eq!(files_in(&uploads), 0);
    assert_eq!(read_all(&store, "a", &sha256(b"kept"), None).await, b"kept");
}

#[tokio::test]
async fn manifests_round_trip_per_repository() {
    for (_dir, store) in stores() {
        let (digest, m) = manifest(IMAGE, r#"{"schemaVersion":2}"#);
        assert_eq!(store.get_manifest("a", &digest).await.unwrap(), None);
        store.put_manifest("a", &digest, m.clone()).await.unwrap();
        assert_eq!(
            store.get_manifest("a", &digest).await.unwrap(),
            Some(m.clone())
        );
        // Held by `a` only; the bytes are not a blob of `a` either.
        assert_eq!(store.get_manifest("b", &digest).await.unwrap(), None);
        assert_eq!(store.blob_size("a", &digest).await.unwrap(), None);

        // Re-pushing with another media type replaces it.
        let retyped = StoredManifest {
            media_type: INDEX.to_owned(),
            ..m.clone()
        };
        store
            .put_manifest("a", &digest, retyped.clone())
            .await
            .unwrap();
        assert_eq!(
            store.get_manifest("a", &digest).await.unwrap(),
            Some(retyped)
        );

        // Bytes that do not hash to the digest are refused.
        let (_, other) = manifest(IMAGE, "{}");
        assert!(matches!(
            store.put_manifest("a", &digest, other).await,
            Err(Error::Io(_))
        ));

        assert!(store.delete_manifest("a", &digest).await.unwrap());
        assert!(!store.delete_manifest("a", &digest).await.unwrap());
        assert_eq!(store.get_manifest("a", &digest).await.unwrap(), None);
    }
}

#[tokio::test]
async fn delete_manifest_removes_its_tags_only() {
    for (_dir, store) in stores() {
        let (one, m1) = manifest(IMAGE, r#"{"n":1}"#);
        let (two, m2) = manifest(IMAGE, r#"{"n":2}"#);
        store.put_manifest("r", &one, m1.clone()).await.unwrap();
        store.put_manifest("r", &two, m2).await.unwrap();
        store.put_manifest("other", &one, m1).await.unwrap();
        for tag in ["latest", "v1"] {
            store.set_tag("r", tag, &one).await.unwrap();
        }
        store.set_tag("r", "v2", &two).await.unwrap();
        store.set_tag("other", "latest", &one).await.unwrap();

        assert!(store.delete_manifest("r", &one).await.unwrap());
        assert_eq!(store.resolve_tag("r", "latest").await.unwrap(), None);
        assert_eq!(store.resolve_tag("r", "v1").await.unwrap(), None);
        assert_eq!(
            store.resolve_tag("r", "v2").await.unwrap(),
            Some(two.clone())
        );
        assert_eq!(
            store.list_tags("r").await.unwrap(),
            Some(vec!["v2".to_owned()])
        );
        // Another repository's tag and manifest are untouched.
        assert_eq!(
            store.resolve_tag("other", "latest").await.unwrap(),
            Some(one.clone())
        );
        assert!(store.get_manifest("other", &one).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn tags_round_trip_sorted() {
    for (_dir, store) in stores() {
        let a = sha256(b"a");
        let b = sha256(b"b");
        assert_eq!(store.list_tags("r").await.unwrap(), None);
        assert_eq!(store.resolve_tag("r", "latest").await.unwrap(), None);
        for tag in ["latest", "V2", "v10", "_x", "1.0", "v9", "a-b"] {
            store.set_tag("r", tag, &a).await.unwrap();
        }
        store.set_tag("r", "latest", &b).await.unwrap();
        assert_eq!(
            store.resolve_tag("r", "latest").await.unwrap(),
            Some(b.clone())
        );
        assert_eq!(store.resolve_tag("r", "v9").await.unwrap(), Some(a.clone()));
        assert_eq!(
            store.list_tags("r").await.unwrap().unwrap(),
            ["1.0", "V2", "_x", "a-b", "latest", "v10", "v9"]
        );
        assert!(store.delete_tag("r", "v9").await.unwrap());
        assert!(!store.delete_tag("r", "v9").await.unwrap());
        assert_eq!(store.resolve_tag("r", "v9").await.unwrap(), None);
        assert_eq!(store.list_tags("r").await.unwrap().unwrap().len(), 6);
        // Tags are per repository.
        assert_eq!(store.resolve_tag("r/sub", "latest").await.unwrap(), None);
    }
}

#[tokio::test]
async fn repository_with_only_a_blob_has_empty_tag_list() {
    let (_dir, store) = stores().remove(1);
    push(&store, "only/blobs", b"x").await;
    assert_eq!(store.list_tags("only/blobs").await.unwrap(), Some(vec![]));
    assert!(store.repository_exists("only/blobs").await.unwrap());
    assert!(!store.repository_exists("only").await.unwrap());
}

#[tokio::test]
async fn disk_is_the_truth_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let (digest, m) = manifest(IMAGE, r#"{"restart":true}"#);
    {
        let store = FsStorage::new(&root, true);
        store.put_manifest("r", &digest, m.clone()).await.unwrap();
        store.set_tag("r", "latest", &digest).await.unwrap();
        // Warm the caches with a negative entry that the next write must overwrite.
        assert_eq!(store.resolve_tag("r", "next").await.unwrap(), None);
        store.set_tag("r", "next", &digest).await.unwrap();
        assert_eq!(
            store.resolve_tag("r", "next").await.unwrap(),
            Some(digest.clone())
        );
    }
    let store = FsStorage::new(&root, true);
    assert_eq!(
        store.resolve_tag("r", "latest").await.unwrap(),
        Some(digest.clone())
    );
    assert_eq!(
        store.resolve_tag("r", "next").await.unwrap(),
        Some(digest.clone())
    );
    assert_eq!(store.get_manifest("r", &digest).await.unwrap(), Some(m));
}

#[tokio::test]
async fn torn_tag_file_is_corrupt() {
    let (dir, store) = stores().remove(1);
    store.set_tag("r", "t", &sha256(b"x")).await.unwrap();
    let store = FsStorage::new(dir.path().join("root"), false);
    std::fs::write(dir.path().join("root/repositories/r/_tags/t"), b"sha256:12").unwrap();
    assert!(matches!(
        store.resolve_tag("r", "t").await,
        Err(Error::Corrupt(_))
    ));
}

#[tokio::test]
async fn referrers_add_remove_list() {
    for (_dir, store) in stores() {
        let subject = sha256(b"subject");
        assert!(store
            .list_referrers("r", &subject)
            .await
            .unwrap()
            .is_empty());
        let mut made: Vec<Referrer> = (0..5u8)
            .map(|i| Referrer {
                digest: sha256(&[i]),
                media_type: IMAGE.to_owned(),
                size: u64::from(i) * 100,
                artifact_type: (i % 2 == 0).then(|| format!("application/x-{i}")),
                annotations: (i == 3).then(|| r#"{"b":"2","a":"1"}"#.to_owned()),
            })
            .collect();
        for r in made.iter().rev() {
            store.add_referrer("r", &subject, r.clone()).await.unwrap();
        }
        // Adding again replaces rather than duplicates.
        store
            .add_referrer("r", &subject, made[0].clone())
            .await
            .unwrap();
        made.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
        assert_eq!(store.list_referrers("r", &subject).await.unwrap(), made);
        // Per repository and per subject.
        assert!(store
            .list_referrers("other", &subject)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .list_referrers("r", &sha256(b"other"))
            .await
            .unwrap()
            .is_empty());

        let gone = made.remove(2);
        store
            .remove_referrer("r", &subject, &gone.digest)
            .await
            .unwrap();
        store
            .remove_referrer("r", &subject, &gone.digest)
            .await
            .unwrap();
        assert_eq!(store.list_referrers("r", &subject).await.unwrap(), made);
    }
}

#[tokio::test]
async fn repositories_nest_and_sort() {
    for (_dir, store) in stores() {
        assert!(store.list_repositories().await.unwrap().is_empty());
        let (digest, m) = manifest(IMAGE, "{}");
        push(&store, "a/b", b"blob").await;
        store.put_manifest("a", &digest, m.clone()).await.unwrap();
        store.set_tag("z", "t", &digest).await.unwrap();
        store.put_manifest("a/b/c", &digest, m).await.unwrap();
        push(&store, "a-b", b"blob").await;
        // Referrers alone do not make a repository.
        store
            .add_referrer(
                "only-referrers",
                &digest,
                Referrer {
                    digest: digest.clone(),
                    media_type: IMAGE.to_owned(),
                    size: 2,
                    artifact_type: None,
                    annotations: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            store.list_repositories().await.unwrap(),
            ["a", "a-b", "a/b", "a/b/c", "z"]
        );
        for repo in ["a", "a/b", "a/b/c", "z", "a-b"] {
            assert!(store.repository_exists(repo).await.unwrap(), "{repo}");
        }
        for repo in ["b", "a/b/c/d", "only-referrers", "../a", ""] {
            assert!(!store.repository_exists(repo).await.unwrap(), "{repo}");
        }
    }
}

#[tokio::test]
async fn unsafe_names_never_touch_disk() {
    let (dir, store) = stores().remove(1);
    let digest = push(&store, "a", b"x").await;
    for bad in ["../a", "a/../../x", "a//b", "/a", "a/_blobs", "", "A"] {
        assert_eq!(store.blob_size(bad, &digest).await.unwrap(), None, "{bad}");
        assert!(matches!(
            store.read_blob(bad, &digest, None).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            store.link_blob(bad, &digest).await,
            Err(Error::Io(_))
        ));
        assert!(matches!(
            store.set_tag(bad, "t", &digest).await,
            Err(Error::Io(_))
        ));
        assert_eq!(store.list_tags(bad).await.unwrap(), None);
        assert_eq!(store.resolve_tag(bad, "t").await.unwrap(), None);
    }
    assert!(matches!(
        store.set_tag("a", "../t", &digest).await,
        Err(Error::Io(_))
    ));
    assert_eq!(store.list_repositories().await.unwrap(), ["a"]);
    let mut top: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert_eq!(top, ["root"]);
}
