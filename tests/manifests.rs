//! Manifest push/pull/delete, validation, tags-on-PUT and referrers over real HTTP.

mod common;

use bytes::Bytes;
use common::{image_manifest, sha256, sha512, start, start_with, OCI_INDEX, OCI_MANIFEST};
use http::StatusCode;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[tokio::test]
async fn push_by_tag_then_get_byte_exact_with_headers() {
    let s = start().await;
    let cd = s.push_blob("app", b"{}").await;
    let ld = s.push_blob("app", b"layer").await;
    // Odd whitespace must survive: the registry stores what it was sent.
    let manifest = image_manifest(&cd, 2, &ld, 5, "").replace(",\"config\"", ",\n   \"config\"");
    let digest = sha256(manifest.as_bytes());
    let r = s
        .put_manifest("/v2/app/manifests/v1", OCI_MANIFEST, manifest.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/app/manifests/{digest}").as_str())
    );
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));

    for path in [
        "/v2/app/manifests/v1".to_owned(),
        format!("/v2/app/manifests/{digest}"),
    ] {
        let r = s
            .send(
                "GET",
                &path,
                &[(
                    "accept",
                    "application/vnd.docker.distribution.manifest.v2+json",
                )],
                Bytes::new(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], manifest.as_bytes());
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        let h = s.head(&path).await;
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(
            h.header("content-length"),
            Some(manifest.len().to_string().as_str())
        );
        assert_eq!(h.header("docker-content-digest"), Some(digest.as_str()));
        assert!(h.body.is_empty());
    }
}

#[tokio::test]
async fn missing_references_are_manifest_blob_unknown() {
    let s = start().await;
    let cd = s.push_blob("app", b"{}").await;
    let missing = sha256(b"never pushed");
    let m = image_manifest(&cd, 2, &missing, 12, "");
    let r = s
        .put_manifest("/v2/app/manifests/v1", OCI_MANIFEST, m)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code().as_deref(), Some("MANIFEST_BLOB_UNKNOWN"));
    // A blob of another repository does not count.
    let other = s.push_blob("elsewhere", b"layer").await;
    let m = image_manifest(&cd, 2, &other, 5, "");
    let r = s
        .put_manifest("/v2/app/manifests/v1", OCI_MANIFEST, m)
        .await;
    assert_eq!(r.error_code().as_deref(), Some("MANIFEST_BLOB_UNKNOWN"));
    // Non-distributable layers (with urls) need not be present.
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"{missing}","size":12,"urls":["https://example.com/layer"]}}]}}"#
    );
    let r = s
        .put_manifest("/v2/app/manifests/v2", OCI_MANIFEST, m)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn urls_skip_the_blob_check_only_on_non_distributable_layers() {
    let s = start().await;
    let cd = s.push_blob("urls", b"{}").await;
    let missing = sha256(b"never pushed");
    let manifest = |media_type: &str, urls: &str| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":2}},"layers":[{{"mediaType":"{media_type}","digest":"{missing}","size":12,"urls":{urls}}}]}}"#
        )
    };
    let put = |m: String| async {
        s.put_manifest("/v2/urls/manifests/t", OCI_MANIFEST, m)
            .await
    };
    let gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    let foreign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    let url = r#"["https://example.com/layer"]"#;
    // An ordinary layer with urls is still checked.
    let r = put(manifest(gzip, url)).await;
    assert_eq!(r.error_code().as_deref(), Some("MANIFEST_BLOB_UNKNOWN"));
    // urls must be strings; an empty list points nowhere.
    for bad in ["[1]", r#"[{"href":"x"}]"#, r#""https://example.com/layer""#] {
        let r = put(manifest(foreign, bad)).await;
        assert_eq!(r.error_code().as_deref(), Some("MANIFEST_INVALID"), "{bad}");
    }
    let r = put(manifest(foreign, "[]")).await;
    assert_eq!(r.error_code().as_deref(), Some("MANIFEST_BLOB_UNKNOWN"));
    let r = put(manifest(foreign, url)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn keys_that_differ_only_in_case_are_manifest_invalid() {
    let s = start().await;
    let cd = s.push_blob("case", b"{}").await;
    let ld = s.push_blob("case", b"layer").await;
    let missing = sha256(b"never pushed");
    // Go clients match JSON keys case-insensitively: they would pull the LAYERS the registry
    // never checked.
    let smuggled = format!(
        r#","LAYERS":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{missing}","size":12}}]"#
    );
    let cases = [
        image_manifest(&cd, 2, &ld, 5, &smuggled),
        image_manifest(&cd, 2, &ld, 5, "").replace(r#""config":"#, r#""CONFIG":"#),
        image_manifest(&cd, 2, &ld, 5, "").replacen(r#""digest":"#, r#""DiGeSt":"#, 2),
        image_manifest(
            &cd,
            2,
            &ld,
            5,
            r#","Subject":{"mediaType":"x","digest":"y","size":1}"#,
        ),
    ];
    for body in cases {
        let r = s
            .put_manifest("/v2/case/manifests/t", OCI_MANIFEST, body.clone())
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            r.error_code().as_deref(),
            Some("MANIFEST_INVALID"),
            "{body}"
        );
    }
    let r = s.get("/v2/case/manifests/t").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing was stored");
}

#[tokio::test]
async fn index_children_must_exist() {
    let s = start().await;
    let (child, child_digest) = s.push_image("multi", "amd64", "a").await;
    let index = |d: &str| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            child.len()
        )
    };
    let r = s
        .put_manifest(
            "/v2/multi/manifests/latest",
            OCI_INDEX,
            index(&sha256(b"nope")),
        )
        .await;
    assert_eq!(r.error_code().as_deref(), Some("MANIFEST_BLOB_UNKNOWN"));
    let r = s
        .put_manifest(
            "/v2/multi/manifests/latest",
            OCI_INDEX,
            index(&child_digest),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        s.get("/v2/multi/manifests/latest")
            .await
            .header("content-type"),
        Some(OCI_INDEX)
    );
}

#[tokio::test]
async fn docker_schema2_manifest_and_list_are_accepted() {
    let s = start().await;
    let cd = s.push_blob("d", b"{\"architecture\":\"amd64\"}").await;
    let ld = s.push_blob("d", b"gzip layer").await;
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{cd}","size":25}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{ld}","size":10}}]}}"#
    );
    let r = s
        .put_manifest("/v2/d/manifests/v1", DOCKER_MANIFEST, m.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let md = sha256(m.as_bytes());
    let list = format!(
        r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"{md}","size":{}}}]}}"#,
        m.len()
    );
    let r = s
        .put_manifest("/v2/d/manifests/list", DOCKER_LIST, list)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        s.get("/v2/d/manifests/list").await.header("content-type"),
        Some(DOCKER_LIST)
    );
}

#[tokio::test]
async fn invalid_manifests_say_why() {
    let s = start().await;
    let cases = [
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            r#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#,
        ),
        (OCI_MANIFEST, "not json at all"),
        (
            OCI_MANIFEST,
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
        ),
        (
            OCI_MANIFEST,
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#,
        ),
    ];
    for (ct, body) in cases {
        let r = s.put_manifest("/v2/x/manifests/bad", ct, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            r.error_code().as_deref(),
            Some("MANIFEST_INVALID"),
            "{body}"
        );
        assert!(!r.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .is_empty());
    }
}

#[tokio::test]
async fn put_by_digest_checks_the_digest_and_follows_its_algorithm() {
    let s = start().await;
    let cd = s.push_blob("r", b"{}").await;
    let ld = s.push_blob("r", b"l").await;
    let m = image_manifest(&cd, 2, &ld, 1, "");
    let wrong = sha256(b"something else");
    let r = s
        .put_manifest(&format!("/v2/r/manifests/{wrong}"), OCI_MANIFEST, m.clone())
        .await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (StatusCode::BAD_REQUEST, Some("DIGEST_INVALID"))
    );
    assert_eq!(
        s.head(&format!("/v2/r/manifests/{wrong}")).await.status,
        StatusCode::NOT_FOUND
    );

    let d512 = sha512(m.as_bytes());
    let r = s
        .put_manifest(&format!("/v2/r/manifests/{d512}"), OCI_MANIFEST, m.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("docker-content-digest"), Some(d512.as_str()));
    let g = s.get(&format!("/v2/r/manifests/{d512}")).await;
    assert_eq!((g.status, &g.body[..]), (StatusCode::OK, m.as_bytes()));
}

#[tokio::test]
async fn tags_as_query_parameters_on_put_by_digest() {
    let s = start().await;
    let cd = s.push_blob("r", b"{}").await;
    let ld = s.push_blob("r", b"l").await;
    let m = image_manifest(&cd, 2, &ld, 1, "");
    let d = sha256(m.as_bytes());
    let r = s
        .put_manifest(
            &format!("/v2/r/manifests/{d}?tag=1.2.3&tag=1.2&tag=latest"),
            OCI_MANIFEST,
            m.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let tags: Vec<&str> = r
        .headers
        .get_all("oci-tag")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(tags, ["1.2.3", "1.2", "latest"]);
    for t in ["1.2.3", "1.2", "latest"] {
        assert_eq!(
            s.get(&format!("/v2/r/manifests/{t}"))
                .await
                .header("docker-content-digest"),
            Some(d.as_str())
        );
    }
    let r = s
        .put_manifest(&format!("/v2/r/manifests/{d}?tag=bad!tag"), OCI_MANIFEST, m)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oversized_manifests_get_413_with_and_without_content_length() {
    let s = start_with(|l| l.max_manifest_size(1024)).await;
    let big = format!(r#"{{"schemaVersion":2,"pad":"{}"}}"#, "x".repeat(2000));
    let r = s
        .put_manifest("/v2/r/manifests/big", OCI_MANIFEST, big.clone())
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let chunks = big
        .as_bytes()
        .chunks(300)
        .map(Bytes::copy_from_slice)
        .collect();
    let r = s
        .send_chunked(
            "PUT",
            "/v2/r/manifests/big",
            &[("content-type", OCI_MANIFEST)],
            chunks,
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn deletes_of_tags_and_manifests() {
    let s = start().await;
    let (_, d) = s.push_image("r", "v1", "x").await;
    let body = s.get("/v2/r/manifests/v1").await.body;
    let r = s
        .put_manifest(&format!("/v2/r/manifests/{d}?tag=v2"), OCI_MANIFEST, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let r = s.empty("DELETE", "/v2/r/manifests/v2").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        s.get("/v2/r/manifests/v2").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(s.get("/v2/r/manifests/v1").await.status, StatusCode::OK);

    let r = s.empty("DELETE", &format!("/v2/r/manifests/{d}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        s.head(&format!("/v2/r/manifests/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = s.get("/v2/r/manifests/v1").await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (StatusCode::NOT_FOUND, Some("MANIFEST_UNKNOWN"))
    );
    let r = s.empty("DELETE", &format!("/v2/r/manifests/{d}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.empty("DELETE", &format!("/v2/never/manifests/{d}")).await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (StatusCode::NOT_FOUND, Some("NAME_UNKNOWN"))
    );
}

#[tokio::test]
async fn unknown_repository_and_manifest() {
    let s = start().await;
    let r = s.get("/v2/nothing/here/manifests/latest").await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (StatusCode::NOT_FOUND, Some("NAME_UNKNOWN"))
    );
    s.push_image("known", "v1", "k").await;
    let r = s.get("/v2/known/manifests/v9").await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (StatusCode::NOT_FOUND, Some("MANIFEST_UNKNOWN"))
    );
}

#[tokio::test]
async fn referrers_are_indexed_filtered_and_removed() {
    let s = start().await;
    let subject = sha256(b"a subject that does not exist yet");
    let cd = s.push_blob("r", b"{}").await;
    let ld = s.push_blob("r", b"sig").await;
    let subject_desc =
        format!(r#","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":33}}"#);
    // An image manifest without artifactType: falls back to the config media type.
    let sbom = image_manifest(
        &cd,
        2,
        &ld,
        3,
        &format!("{subject_desc},\"annotations\":{{\"kind\":\"sbom\"}}"),
    )
    .replace(
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.example.sbom",
    );
    let sig = image_manifest(
        &cd,
        2,
        &ld,
        3,
        &format!("{subject_desc},\"artifactType\":\"application/vnd.example.sig\""),
    );
    for m in [&sbom, &sig] {
        let d = sha256(m.as_bytes());
        let r = s
            .put_manifest(&format!("/v2/r/manifests/{d}"), OCI_MANIFEST, m.clone())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.header("oci-subject"), Some(subject.as_str()));
    }
    let r = s.get(&format!("/v2/r/referrers/{subject}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    let doc = r.json();
    let list = doc["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let sbom_entry = list
        .iter()
        .find(|e| e["digest"] == sha256(sbom.as_bytes()).as_str())
        .unwrap();
    assert_eq!(sbom_entry["artifactType"], "application/vnd.example.sbom");
    assert_eq!(sbom_entry["annotations"]["kind"], "sbom");
    assert_eq!(sbom_entry["size"], sbom.len());
    assert_eq!(sbom_entry["mediaType"], OCI_MANIFEST);

    let r = s
        .get(&format!(
            "/v2/r/referrers/{subject}?artifactType=application/vnd.example.sig"
        ))
        .await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let list = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["artifactType"], "application/vnd.example.sig");
    // Percent-encoded filter values are decoded.
    let r = s
        .get(&format!(
            "/v2/r/referrers/{subject}?artifactType=application%2Fvnd.example.sig"
        ))
        .await;
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);

    let r = s
        .empty(
            "DELETE",
            &format!("/v2/r/manifests/{}", sha256(sig.as_bytes())),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s.get(&format!("/v2/r/referrers/{subject}")).await;
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn referrers_of_unknown_things_are_an_empty_index() {
    let s = start().await;
    let r = s
        .get(&format!("/v2/no/such/repo/referrers/{}", sha256(b"x")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    assert_eq!(r.json()["manifests"].as_array().map(Vec::len), Some(0));
    assert_eq!(r.json()["schemaVersion"], 2);
    let r = s.get("/v2/r/referrers/sha256:nothex").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// Follows `Link: <..>; rel="next"` from `first`, returning each page's referrer digests.
async fn referrer_pages(s: &common::TestServer, first: String) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next = Some(first);
    while let Some(path) = next.take() {
        assert!(pages.len() < 50, "the Link chain does not end");
        let r = s.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let digests = r.json()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["digest"].as_str().unwrap().to_owned())
            .collect();
        pages.push(digests);
        next = r.header("link").map(|link| {
            let (target, rel) = link.split_once(">;").unwrap();
            assert!(rel.contains("rel=\"next\""), "{link}");
            target.trim_start_matches('<').to_owned()
        });
    }
    pages
}

#[tokio::test]
async fn referrers_are_paged_with_link_and_bounded_in_bytes() {
    let s = start_with(|l| l.page_cap(3)).await;
    let subject = sha256(b"the subject of many referrers");
    let cd = s.push_blob("r", b"{}").await;
    let ld = s.push_blob("r", b"sig").await;
    let subject_desc =
        format!(r#","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":33}}"#);
    let mut pushed = Vec::new();
    for i in 0..7 {
        // 1.5 MiB of annotations each: a page holds about 4 MiB of descriptors, so two fit
        // and a third does not, whatever the page cap allows.
        let note = format!("{i}{}", "x".repeat(3 << 19));
        let m = image_manifest(
            &cd,
            2,
            &ld,
            3,
            &format!(
                "{subject_desc},\"artifactType\":\"application/vnd.example.n{}\",\"annotations\":{{\"n\":\"{note}\"}}",
                i % 2
            ),
        );
        let d = sha256(m.as_bytes());
        let r = s
            .put_manifest(&format!("/v2/r/manifests/{d}"), OCI_MANIFEST, m)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        pushed.push(d);
    }
    pushed.sort();
    let pages = referrer_pages(&s, format!("/v2/r/referrers/{subject}")).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 2, 2, 1], "bounded by bytes before the cap of 3");
    let all: Vec<String> = pages.concat();
    assert_eq!(all, pushed, "every referrer once, in digest order");

    // The filter carries over to the next page.
    let pages = referrer_pages(
        &s,
        format!("/v2/r/referrers/{subject}?artifactType=application/vnd.example.n1"),
    )
    .await;
    assert_eq!(pages.concat().len(), 3, "{pages:?}");
}
