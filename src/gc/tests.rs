use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::protocol::Algorithm;
use crate::storage::{ManifestPut, MemoryStorage, StoredManifest};

const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn descriptor(media_type: &str, digest: &Digest) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":1}}"#)
}

async fn put(s: &dyn Storage, repo: &str, media_type: &str, json: String, tags: &[&str]) -> Digest {
    let digest = Digest::of(Algorithm::Sha256, json.as_bytes());
    let put = ManifestPut::new(
        digest.clone(),
        StoredManifest::new(media_type, Bytes::from(json)),
    )
    .with_tags(tags.iter().map(|t| (*t).to_owned()));
    s.put_manifest(repo, &put).await.unwrap();
    digest
}

async fn image(
    s: &dyn Storage,
    repo: &str,
    n: u32,
    subject: Option<&Digest>,
    tags: &[&str],
) -> Digest {
    let subject = subject
        .map(|d| format!(r#","subject":{}"#, descriptor(IMAGE, d)))
        .unwrap_or_default();
    let config = Digest::of(Algorithm::Sha256, b"{}");
    put(
        s,
        repo,
        IMAGE,
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{IMAGE}","config":{},"layers":[],"annotations":{{"n":"{n}"}}{subject}}}"#,
            descriptor("application/vnd.oci.image.config.v1+json", &config)
        ),
        tags,
    )
    .await
}

async fn held(s: &dyn Storage, repo: &str, digest: &Digest) -> bool {
    s.manifest_meta(repo, digest).await.is_ok()
}

#[tokio::test]
async fn untagged_manifests_go_after_the_delay_but_children_referrers_and_tagged_stay() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let s = storage.as_ref();
    let tagged = image(s, "r", 1, None, &["v1"]).await;
    let untagged = image(s, "r", 2, None, &[]).await;
    let child = image(s, "r", 3, None, &[]).await;
    // An untagged index: its child is protected while it exists.
    let index = put(
        s,
        "r",
        INDEX,
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{}]}}"#,
            descriptor(IMAGE, &child)
        ),
        &[],
    )
    .await;
    let referrer = image(s, "r", 4, Some(&tagged), &[]).await;
    let orphan_referrer = image(
        s,
        "r",
        5,
        Some(&Digest::of(Algorithm::Sha256, b"gone")),
        &[],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let young = image(s, "r", 6, None, &[]).await;

    let retention = Retention::default().delete_untagged_after(Some(Duration::from_millis(40)));
    let options = GcOptions::default()
        .grace(Duration::ZERO)
        .retention(retention);
    let dry = Collector::new(Arc::clone(&storage), options.clone().dry_run(true))
        .run()
        .await
        .unwrap();
    assert_eq!(dry.manifests_deleted, 3, "{dry}");
    assert!(held(s, "r", &untagged).await, "a dry run deletes nothing");

    let report = Collector::new(Arc::clone(&storage), options.clone())
        .run()
        .await
        .unwrap();
    assert_eq!(report.manifests_deleted, 3, "{report}");
    for (what, digest, kept) in [
        ("tagged", &tagged, true),
        ("untagged", &untagged, false),
        ("index child", &child, true),
        ("untagged index", &index, false),
        ("referrer of a held subject", &referrer, true),
        ("referrer of an absent subject", &orphan_referrer, false),
        ("younger than the delay", &young, true),
    ] {
        assert_eq!(held(s, "r", digest).await, kept, "{what}");
    }
    // The child's index is gone: the next run takes the child.
    let report = Collector::new(Arc::clone(&storage), options)
        .run()
        .await
        .unwrap();
    assert_eq!(report.manifests_deleted, 1, "{report}");
    assert!(!held(s, "r", &child).await);
    // Deleted manifests' content went with the collection.
    assert!(s.stat_blob(&untagged).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn keep_last_tags_keeps_the_newest_in_matching_repositories() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let s = storage.as_ref();
    for n in 0..4 {
        image(s, "ci/app", n, None, &[&format!("t{n}")]).await;
        image(s, "prod/app", n, None, &[&format!("t{n}")]).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let retention = Retention::default().keep_last_tags("ci/*", 2);
    let report = Collector::new(
        Arc::clone(&storage),
        GcOptions::default().retention(retention),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(report.tags_deleted, 2, "{report}");
    let tags = |repo: &'static str| async move {
        s.list_tags(repo, ListOptions::default())
            .await
            .unwrap()
            .items
    };
    assert_eq!(tags("ci/app").await, ["t2", "t3"]);
    assert_eq!(tags("prod/app").await, ["t0", "t1", "t2", "t3"]);
}

#[test]
fn touches_are_rate_limited_per_digest() {
    let limiter = TouchLimiter::default();
    let every = Duration::from_secs(60);
    assert!(limiter.should_touch("a", every));
    assert!(!limiter.should_touch("a", every));
    assert!(limiter.should_touch("b", every));
    assert!(limiter.should_touch("a", Duration::ZERO));
    assert_eq!(
        touch_interval(Duration::from_secs(3600)),
        Duration::from_secs(60)
    );
    assert_eq!(
        touch_interval(Duration::from_secs(2)),
        Duration::from_millis(250)
    );
}
