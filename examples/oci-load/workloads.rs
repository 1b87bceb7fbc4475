//! The registry operations the tool times, and the untimed setup each one needs.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tower_oci::protocol::{Algorithm, Digest, Hasher};

use crate::client::{
    check_digest, drain, expect_status, fail, header, upload_location, with_query, Conn, Error,
    ReqBody,
};
use crate::content::{Blob, Content};

/// What each operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Monolithic blob upload, one blob per operation.
    Push(PushMode),
    /// POST, PATCHes of `--chunk-size` with Content-Range, then PUT ?digest=.
    PushChunked,
    /// GET of one blob pushed during setup.
    Pull,
    /// GET with `Range: bytes=a-b` of `--range-size` at varying offsets of the setup blob.
    PullRange,
    /// GET of a manifest (by tag, or by digest with `--by digest`).
    ManifestGet,
    /// HEAD of the same.
    ManifestHead,
    /// GET /v2/<name>/tags/list of a repository holding `--tags` tags.
    TagsList,
}

/// How a monolithic push is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushMode {
    /// `POST /blobs/uploads/?digest=` carrying the blob: one request.
    Single,
    /// `POST /blobs/uploads/` then `PUT <location>?digest=` carrying the blob.
    PostPut,
}

impl Workload {
    /// The name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Push(PushMode::Single) => "push-single",
            Workload::Push(PushMode::PostPut) => "push",
            Workload::PushChunked => "push-chunked",
            Workload::Pull => "pull",
            Workload::PullRange => "pull-range",
            Workload::ManifestGet => "manifest-get",
            Workload::ManifestHead => "manifest-head",
            Workload::TagsList => "tags-list",
        }
    }
}

/// How pulled bodies are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// SHA-256 of the whole body against the digest (costs the client ~1 core-second per 2 GB).
    Hash,
    /// Byte comparison with the known content: same guarantee here, a fraction of the CPU.
    Bytes,
    /// Length only.
    None,
}

/// Everything an operation needs, fixed before timing starts.
#[derive(Debug)]
pub struct Plan {
    pub workload: Workload,
    pub repo: String,
    pub content: Content,
    pub chunk_size: u64,
    pub range_size: u64,
    pub verify: Verify,
    pub tag_count: u64,
    pub by_digest: bool,
    /// Per-run value mixed into every blob, so runs never push the same bytes.
    pub nonce: u64,
    /// Set by [`setup`] for pulls.
    pub pull_blob: Option<Blob>,
    /// Set by [`setup`] for manifest and tag workloads: bytes, digest, reference to fetch.
    pub manifest: Option<(Bytes, Digest, String)>,
}

/// Setup blobs use indices far from the timed ones.
const SETUP_INDEX: u64 = 1 << 63;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Untimed preparation: checks the API, pushes what the workload reads.
pub async fn setup(plan: &mut Plan, conn: &mut Conn) -> Result<(), Error> {
    let response = conn.send(Method::GET, "/v2/", &[], ReqBody::Empty).await?;
    drain(expect_status(response, StatusCode::OK, "GET /v2/").await?).await?;
    match plan.workload {
        Workload::Push(PushMode::Single) => {
            // Distribution 2.8 answers 202 and drops the body: find out on 16 bytes, not 256 MiB.
            let probe = Content::new(16, plan.nonce).blob(SETUP_INDEX);
            push_single(conn, &plan.repo, &probe).await.map_err(|e| {
                fail(format!(
                    "single-request monolithic push probe failed ({e}); \
                     this registry may not support POST ?digest=, try --mode post-put"
                ))
            })?;
        }
        Workload::Push(PushMode::PostPut) | Workload::PushChunked => {}
        Workload::Pull | Workload::PullRange => {
            let blob = plan.content.blob(SETUP_INDEX);
            push_post_put(conn, &plan.repo, &blob).await?;
            plan.pull_blob = Some(blob);
        }
        Workload::ManifestGet | Workload::ManifestHead | Workload::TagsList => {
            let config = Bytes::from_static(
                br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
            );
            let config_blob = push_bytes(conn, &plan.repo, config.clone()).await?;
            let layer = Content::new(1024, plan.nonce).blob(SETUP_INDEX);
            push_post_put(conn, &plan.repo, &layer).await?;
            let manifest = format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
                config_blob,
                config.len(),
                layer.digest(),
                layer.len()
            );
            let manifest = Bytes::from(manifest);
            let digest = Digest::of(Algorithm::Sha256, &manifest);
            let tags: Vec<String> = if plan.workload == Workload::TagsList {
                (0..plan.tag_count).map(|i| format!("t{i}")).collect()
            } else {
                vec!["latest".to_owned()]
            };
            for tag in &tags {
                put_manifest(conn, &plan.repo, tag, &manifest, &digest).await?;
            }
            let reference = if plan.by_digest {
                digest.to_string()
            } else {
                "latest".to_owned()
            };
            plan.manifest = Some((manifest, digest, reference));
        }
    }
    Ok(())
}

/// One timed operation. Returns the payload bytes moved.
pub async fn run(plan: &Plan, conn: &mut Conn, index: u64) -> Result<u64, Error> {
    match plan.workload {
        Workload::Push(PushMode::Single) => {
            let blob = plan.content.blob(index);
            push_single(conn, &plan.repo, &blob).await?;
            Ok(blob.len())
        }
        Workload::Push(PushMode::PostPut) => {
            let blob = plan.content.blob(index);
            push_post_put(conn, &plan.repo, &blob).await?;
            Ok(blob.len())
        }
        Workload::PushChunked => {
            let blob = plan.content.blob(index);
            push_chunked(conn, &plan.repo, &blob, plan.chunk_size).await?;
            Ok(blob.len())
        }
        Workload::Pull => {
            let blob = plan
                .pull_blob
                .as_ref()
                .ok_or_else(|| fail("no setup blob"))?;
            pull(conn, &plan.repo, blob, None, plan.verify).await
        }
        Workload::PullRange => {
            let blob = plan
                .pull_blob
                .as_ref()
                .ok_or_else(|| fail("no setup blob"))?;
            let span = plan.range_size.clamp(1, blob.len().max(1));
            let start = mix(index) % (blob.len() - span + 1);
            let verify = match plan.verify {
                // A range has no digest of its own; compare bytes instead.
                Verify::Hash => Verify::Bytes,
                v => v,
            };
            pull(conn, &plan.repo, blob, Some((start, start + span)), verify).await
        }
        Workload::ManifestGet | Workload::ManifestHead => {
            let (bytes, digest, reference) = plan
                .manifest
                .as_ref()
                .ok_or_else(|| fail("no setup manifest"))?;
            let head = plan.workload == Workload::ManifestHead;
            get_manifest(conn, &plan.repo, reference, bytes, digest, head).await
        }
        Workload::TagsList => list_tags(conn, &plan.repo, plan.tag_count).await,
    }
}

/// A cheap deterministic scramble (splitmix64) for range offsets.
fn mix(index: u64) -> u64 {
    let mut z = index.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

async fn start_upload(conn: &mut Conn, repo: &str) -> Result<String, Error> {
    let path = format!("/v2/{repo}/blobs/uploads/");
    let response = conn.send(Method::POST, &path, &[], ReqBody::Empty).await?;
    let response = expect_status(response, StatusCode::ACCEPTED, "POST upload").await?;
    let location = upload_location(response.headers())?;
    drain(response).await?;
    Ok(location)
}

async fn finish_created(
    response: hyper::Response<hyper::body::Incoming>,
    what: &str,
    digest: &Digest,
) -> Result<(), Error> {
    let response = expect_status(response, StatusCode::CREATED, what).await?;
    check_digest(response.headers(), digest.as_str())?;
    drain(response).await?;
    Ok(())
}

async fn push_single(conn: &mut Conn, repo: &str, blob: &Blob) -> Result<(), Error> {
    let path = format!("/v2/{repo}/blobs/uploads/?digest={}", blob.digest());
    let body = ReqBody::Content(blob.body(0, blob.len()));
    let response = conn.send(Method::POST, &path, &[], body).await?;
    if response.status() == StatusCode::ACCEPTED {
        drain(response).await?;
        return Err(fail(
            "registry answered 202 Accepted to POST ?digest= with a body: \
             it opened a session and ignored the blob (no single-request upload)",
        ));
    }
    finish_created(response, "POST ?digest=", blob.digest()).await
}

async fn push_post_put(conn: &mut Conn, repo: &str, blob: &Blob) -> Result<(), Error> {
    let location = start_upload(conn, repo).await?;
    let path = with_query(&location, "digest", blob.digest().as_str());
    let body = ReqBody::Content(blob.body(0, blob.len()));
    let response = conn.send(Method::PUT, &path, &[], body).await?;
    finish_created(response, "PUT ?digest=", blob.digest()).await
}

/// Pushes a small literal blob; returns its digest.
async fn push_bytes(conn: &mut Conn, repo: &str, data: Bytes) -> Result<Digest, Error> {
    let digest = Digest::of(Algorithm::Sha256, &data);
    let location = start_upload(conn, repo).await?;
    let path = with_query(&location, "digest", digest.as_str());
    let response = conn
        .send(Method::PUT, &path, &[], ReqBody::Full(Some(data)))
        .await?;
    finish_created(response, "PUT ?digest=", &digest).await?;
    Ok(digest)
}

async fn push_chunked(conn: &mut Conn, repo: &str, blob: &Blob, chunk: u64) -> Result<(), Error> {
    let mut location = start_upload(conn, repo).await?;
    let mut offset = 0u64;
    while offset < blob.len() {
        let end = (offset + chunk.max(1)).min(blob.len());
        let range = format!("{}-{}", offset, end - 1);
        let headers = [("content-range", range)];
        let body = ReqBody::Content(blob.body(offset, end));
        let response = conn.send(Method::PATCH, &location, &headers, body).await?;
        let response = expect_status(response, StatusCode::ACCEPTED, "PATCH").await?;
        let acknowledged = header(response.headers(), "range")?;
        if acknowledged != format!("0-{}", end - 1) {
            return Err(fail(format!(
                "PATCH up to {} answered Range: {acknowledged}",
                end - 1
            )));
        }
        location = upload_location(response.headers())?;
        drain(response).await?;
        offset = end;
    }
    let path = with_query(&location, "digest", blob.digest().as_str());
    let response = conn.send(Method::PUT, &path, &[], ReqBody::Empty).await?;
    finish_created(response, "final PUT", blob.digest()).await
}

async fn pull(
    conn: &mut Conn,
    repo: &str,
    blob: &Blob,
    range: Option<(u64, u64)>,
    verify: Verify,
) -> Result<u64, Error> {
    let path = format!("/v2/{repo}/blobs/{}", blob.digest());
    let (start, end) = range.unwrap_or((0, blob.len()));
    let headers: Vec<(&'static str, String)> = match range {
        Some(_) => vec![("range", format!("bytes={}-{}", start, end - 1))],
        None => Vec::new(),
    };
    let response = conn
        .send(Method::GET, &path, &headers, ReqBody::Empty)
        .await?;
    let response = match range {
        Some(_) => {
            let response =
                expect_status(response, StatusCode::PARTIAL_CONTENT, "GET range").await?;
            let expected = format!("bytes {}-{}/{}", start, end - 1, blob.len());
            let got = header(response.headers(), "content-range")?;
            if got != expected {
                return Err(fail(format!("Content-Range {got}, expected {expected}")));
            }
            response
        }
        None => expect_status(response, StatusCode::OK, "GET blob").await?,
    };
    let mut body = response.into_body();
    let mut hasher = (verify == Verify::Hash).then(|| Hasher::new(Algorithm::Sha256));
    let mut offset = start;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        match (&mut hasher, verify) {
            (Some(h), _) => h.update(&data),
            (None, Verify::Bytes) if !blob.matches(offset, &data) => {
                return Err(fail(format!(
                    "body differs from the blob near byte {offset}"
                )));
            }
            _ => {}
        }
        offset += data.len() as u64;
        if offset > end {
            return Err(fail(format!(
                "body longer than the {} bytes asked",
                end - start
            )));
        }
    }
    if offset != end {
        return Err(fail(format!(
            "body ended after {} of {} bytes",
            offset - start,
            end - start
        )));
    }
    if let Some(h) = hasher {
        let got = h.finalize();
        if &got != blob.digest() {
            return Err(fail(format!(
                "pulled body hashes to {got}, not {}",
                blob.digest()
            )));
        }
    }
    Ok(end - start)
}

async fn put_manifest(
    conn: &mut Conn,
    repo: &str,
    tag: &str,
    manifest: &Bytes,
    digest: &Digest,
) -> Result<(), Error> {
    let path = format!("/v2/{repo}/manifests/{tag}");
    let headers = [("content-type", OCI_MANIFEST.to_owned())];
    let body = ReqBody::Full(Some(manifest.clone()));
    let response = conn.send(Method::PUT, &path, &headers, body).await?;
    finish_created(response, "PUT manifest", digest).await
}

async fn get_manifest(
    conn: &mut Conn,
    repo: &str,
    reference: &str,
    manifest: &Bytes,
    digest: &Digest,
    head: bool,
) -> Result<u64, Error> {
    let path = format!("/v2/{repo}/manifests/{reference}");
    let headers = [("accept", OCI_MANIFEST.to_owned())];
    let method = if head { Method::HEAD } else { Method::GET };
    let response = conn.send(method, &path, &headers, ReqBody::Empty).await?;
    let response = expect_status(response, StatusCode::OK, "manifest").await?;
    check_digest(response.headers(), digest.as_str())?;
    let length = header(response.headers(), "content-length")?;
    if length != manifest.len().to_string() {
        return Err(fail(format!(
            "manifest Content-Length {length}, expected {}",
            manifest.len()
        )));
    }
    if head {
        drain(response).await?;
        return Ok(0);
    }
    let body = response.into_body().collect().await?.to_bytes();
    if &Digest::of(Algorithm::Sha256, &body) != digest {
        return Err(fail("manifest body does not hash to its digest"));
    }
    Ok(body.len() as u64)
}

async fn list_tags(conn: &mut Conn, repo: &str, expected: u64) -> Result<u64, Error> {
    #[derive(serde::Deserialize)]
    struct TagList {
        tags: Option<Vec<String>>,
    }
    let path = format!("/v2/{repo}/tags/list");
    let response = conn.send(Method::GET, &path, &[], ReqBody::Empty).await?;
    let response = expect_status(response, StatusCode::OK, "tags/list").await?;
    let body = response.into_body().collect().await?.to_bytes();
    let list: TagList = serde_json::from_slice(&body)?;
    let tags: BTreeSet<String> = list.tags.unwrap_or_default().into_iter().collect();
    let missing = (0..expected).find(|i| !tags.contains(&format!("t{i}")));
    if let Some(i) = missing {
        return Err(fail(format!("tag t{i} missing from tags/list")));
    }
    Ok(body.len() as u64)
}
