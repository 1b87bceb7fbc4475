//! Nanoseconds per parse for the request shapes a registry sees most, and for the worst case
//! the grammar allows (a 255-byte name).
//!
//! Run with `cargo bench --bench parse`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tower_oci::protocol::{ByteRange, ContentRange, DigestRef, Endpoint, Query};

const D256: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ID: &str = "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b";

fn paths(c: &mut Criterion) {
    // 255 bytes: 63 components of "abc" joined by "/" (251) plus "/a-b" (4).
    let longest_name = format!("{}/a-b", ["abc"; 63].join("/"));
    assert_eq!(longest_name.len(), 255);
    let cases = [
        ("blob", format!("/v2/library/ubuntu/blobs/{D256}")),
        (
            "manifest_tag",
            "/v2/library/ubuntu/manifests/22.04".to_owned(),
        ),
        (
            "manifest_digest",
            format!("/v2/library/ubuntu/manifests/{D256}"),
        ),
        (
            "upload_start",
            "/v2/library/ubuntu/blobs/uploads/".to_owned(),
        ),
        ("upload", format!("/v2/library/ubuntu/blobs/uploads/{ID}")),
        ("tags", "/v2/library/ubuntu/tags/list".to_owned()),
        (
            "longest_name_manifest",
            format!("/v2/{longest_name}/manifests/latest"),
        ),
        (
            "longest_name_blob",
            format!("/v2/{longest_name}/blobs/{D256}"),
        ),
        (
            "rejected_name",
            "/v2/Library/ubuntu/manifests/latest".to_owned(),
        ),
    ];
    let mut group = c.benchmark_group("endpoint");
    for (label, path) in &cases {
        assert!(Endpoint::parse(path).is_ok() || *label == "rejected_name");
        group.bench_function(*label, |b| b.iter(|| Endpoint::parse(black_box(path))));
    }
    group.finish();
}

fn others(c: &mut Criterion) {
    let query = Query::new(Some(
        "n=100&last=v1.2.3&tag=a&tag=b&artifactType=application%2Fvnd.x%2Bjson",
    ));
    c.bench_function("query_get_last_key", |b| {
        b.iter(|| black_box(query).get(black_box("artifactType")))
    });
    c.bench_function("digest_sha256", |b| {
        b.iter(|| DigestRef::parse(black_box(D256)))
    });
    c.bench_function("range_resolve", |b| {
        b.iter(|| {
            ByteRange::parse(black_box("bytes=1048576-2097151"))
                .and_then(|r| r.resolve(black_box(1 << 30)))
        })
    });
    c.bench_function("content_range", |b| {
        b.iter(|| ContentRange::parse(black_box("bytes 1048576-2097151/*")))
    });
}

criterion_group!(benches, paths, others);
criterion_main!(benches);
