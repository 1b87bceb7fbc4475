//! Round trips through the `oci-client` crate against a running registry.
//!
//! Usage: `cargo run --release -- 127.0.0.1:5000 [NAMESPACE]` (or env REGISTRY, INTEROP_NS); the
//! repositories it creates are NAMESPACE/oci-client{,-mono,-mounted} (NAMESPACE defaults to `interop`).
//! Every step prints `ok: ...`; the first failure prints `FAIL: ...` and exits with status 1.

use std::process::ExitCode;

use bytes::Bytes;
use futures_util::{stream, TryStreamExt};
use oci_client::client::{BlobResponse, ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

type Res<T> = Result<T, String>;

/// Deterministic pseudo-random bytes (xorshift64*), so layers do not compress or dedupe away.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// True when the registry under test is the docker-registry baseline, whose known spec deviations
/// are tolerated (and named) so the suite still proves the client side.
fn lenient_baseline() -> bool {
    std::env::var("REGISTRY_KIND").as_deref() == Ok("docker-registry")
}

fn client(monolithic: bool) -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        use_monolithic_push: monolithic,
        ..Default::default()
    })
}

fn reference(registry: &str, repo: &str, tag: &str) -> Reference {
    Reference::with_tag(registry.to_owned(), repo.to_owned(), tag.to_owned())
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Res<()> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

fn config_for(label: &str) -> Config {
    let json = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"interop":"{label}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    );
    Config::oci_v1(json.into_bytes(), None)
}

/// Pushes an image with `client`, pulls it back with a fresh client and compares every byte.
async fn push_and_pull(
    client: &Client,
    image: &Reference,
    layers: &[ImageLayer],
    config: Config,
) -> Res<OciImageManifest> {
    let auth = RegistryAuth::Anonymous;
    let manifest = OciImageManifest::build(layers, &config, None);
    client
        .push(image, layers, config.clone(), &auth, Some(manifest.clone()))
        .await
        .map_err(|e| format!("push {image}: {e}"))?;
    let puller = self::client(false);
    let pulled = puller
        .pull(
            image,
            &auth,
            vec![oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE],
        )
        .await
        .map_err(|e| format!("pull {image}: {e}"))?;
    ensure(pulled.layers.len() == layers.len(), || {
        format!(
            "pull {image}: {} layers, pushed {}",
            pulled.layers.len(),
            layers.len()
        )
    })?;
    // oci-client downloads layers concurrently and may return them in any order.
    for (i, want) in layers.iter().enumerate() {
        ensure(
            pulled.layers.iter().any(|got| got.data == want.data),
            || {
                format!(
                    "pull {image}: pushed layer {i} ({} bytes) not among the pulled layers",
                    want.data.len()
                )
            },
        )?;
    }
    ensure(pulled.config.data == config.data, || {
        format!("pull {image}: config bytes differ")
    })?;
    let digest = puller
        .fetch_manifest_digest(image, &auth)
        .await
        .map_err(|e| format!("HEAD manifest {image}: {e}"))?;
    ensure(pulled.digest.as_deref() == Some(digest.as_str()), || {
        format!(
            "pull {image}: digest {:?} but HEAD says {digest}",
            pulled.digest
        )
    })?;
    Ok(manifest)
}

async fn run(registry: &str, ns: &str) -> Res<()> {
    let auth = RegistryAuth::Anonymous;
    let chunked = client(false);
    let mono = client(true);
    let repo = format!("{ns}/oci-client");
    let repo = repo.as_str();
    let mono_repo = format!("{ns}/oci-client-mono");
    let mono_repo = mono_repo.as_str();
    let mounted_repo = format!("{ns}/oci-client-mounted");
    let mounted_repo = mounted_repo.as_str();

    // 1. Chunked push of an image: a 10 MiB layer (3 PATCH chunks of 4 MiB) and a small one.
    let big = ImageLayer::oci_v1(noise(10 * 1024 * 1024 + 123, 1), None);
    let small = ImageLayer::oci_v1(noise(70_000, 2), None);
    let image = reference(registry, repo, "chunked");
    // `Client::push` falls back to a monolithic PUT when the chunked protocol misbehaves;
    // push_blob_stream has no fallback, so the chunked path is asserted here first.
    let pieces: Vec<Result<Bytes, _>> = big
        .data
        .chunks(1024 * 1024 + 7)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    chunked
        .push_blob_stream(&image, stream::iter(pieces), &big.sha256_digest(), None)
        .await
        .map_err(|e| format!("chunked push_blob_stream (no monolithic fallback): {e}"))?;
    ensure(
        chunked
            .blob_exists(&image, &big.sha256_digest())
            .await
            .map_err(|e| format!("HEAD blob: {e}"))?,
        || "blob missing after chunked push_blob_stream".into(),
    )?;
    println!("ok: chunked blob upload (PATCH 4 MiB chunks + PUT ?digest=)");

    let streamed = noise(5 * 1024 * 1024 + 5, 3);
    let resp = chunked
        .push_blob_stream_chunked(
            &image,
            stream::iter(vec![Ok(Bytes::from(streamed.clone()))]),
        )
        .await
        .map_err(|e| format!("push_blob_stream_chunked: {e}"))?;
    let want = ImageLayer::oci_v1(streamed.clone(), None).sha256_digest();
    ensure(
        resp.blob_digest == want && resp.size == streamed.len() as u64,
        || {
            format!(
                "push_blob_stream_chunked: got {} / {}",
                resp.blob_digest, resp.size
            )
        },
    )?;
    println!("ok: push_blob_stream_chunked");

    let layers = vec![big.clone(), small.clone()];
    let manifest = push_and_pull(&chunked, &image, &layers, config_for("chunked")).await?;
    println!("ok: image push (chunked) + pull, bytes and digest match");

    // 2. Monolithic push (POST then a single PUT with the whole blob) to another repository.
    let mono_layers = vec![
        ImageLayer::oci_v1(noise(3 * 1024 * 1024, 4), None),
        ImageLayer::oci_v1(noise(1000, 5), None),
    ];
    let mono_image = reference(registry, mono_repo, "v1");
    push_and_pull(&mono, &mono_image, &mono_layers, config_for("mono")).await?;
    println!("ok: image push (monolithic) + pull, bytes and digest match");

    // 3. Range GET: expects 206 and exactly the requested bytes.
    let (offset, length) = (1_000_003u64, 65_537u64);
    let big_desc = manifest
        .layers
        .first()
        .ok_or_else(|| "manifest has no layers".to_string())?;
    match chunked
        .pull_blob_stream_partial(&image, big_desc, offset, Some(length))
        .await
        .map_err(|e| format!("pull_blob_stream_partial: {e}"))?
    {
        BlobResponse::Partial(s) => {
            let chunks: Vec<Bytes> = s
                .stream
                .try_collect()
                .await
                .map_err(|e| format!("partial stream: {e}"))?;
            let got: Vec<u8> = chunks.concat();
            let start = offset as usize;
            let want = big
                .data
                .get(start..start + length as usize)
                .unwrap_or_default();
            ensure(got == want, || {
                format!(
                    "Range GET returned {} bytes that differ from the blob slice",
                    got.len()
                )
            })?;
        }
        BlobResponse::Full(_) => {
            return Err("Range GET: registry answered 200 with the full blob, expected 206".into())
        }
    }
    println!("ok: pull_blob_stream_partial (206, bytes {offset}+{length})");

    // 4. Cross-repository mount, then a manifest in the target referencing only mounted blobs.
    let target = reference(registry, mounted_repo, "v1");
    for d in std::iter::once(&manifest.config).chain(manifest.layers.iter()) {
        chunked
            .mount_blob(&target, &image, &d.digest)
            .await
            .map_err(|e| format!("mount_blob {}: {e}", d.digest))?;
        ensure(
            chunked
                .blob_exists(&target, &d.digest)
                .await
                .map_err(|e| format!("HEAD mounted blob: {e}"))?,
            || format!("mounted blob {} missing in target", d.digest),
        )?;
    }
    chunked
        .push_manifest(&target, &OciManifest::Image(manifest.clone()))
        .await
        .map_err(|e| format!("push manifest to mount target: {e}"))?;
    let pulled = chunked
        .pull(
            &target,
            &auth,
            vec![oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE],
        )
        .await
        .map_err(|e| format!("pull mount target: {e}"))?;
    ensure(
        pulled.layers.iter().any(|l| l.data == big.data) && pulled.layers.len() == 2,
        || "mount target: pulled layers differ from the pushed ones".into(),
    )?;
    println!("ok: mount_blob + push manifest + pull in target repository");

    // 5. Tags: add two more tags, list all, then paginate with n=1.
    for tag in ["a-second", "z-third"] {
        chunked
            .push_manifest(
                &reference(registry, repo, tag),
                &OciManifest::Image(manifest.clone()),
            )
            .await
            .map_err(|e| format!("tag {tag}: {e}"))?;
    }
    let tags = chunked
        .list_tags(&image, &auth, None, None)
        .await
        .map_err(|e| format!("list_tags: {e}"))?;
    let want_tags = vec!["a-second", "chunked", "z-third"];
    let mut tags = tags;
    if lenient_baseline() {
        // CNCF distribution 2.8 lists tags in storage order, not the lexical order the spec demands.
        tags.tags.sort_unstable();
    }
    ensure(tags.name == repo && tags.tags == want_tags, || {
        format!(
            "list_tags: got {} {:?}, want {want_tags:?}",
            tags.name, tags.tags
        )
    })?;
    if lenient_baseline() {
        println!("note: baseline ignores n/last on tags/list; tag pagination not checked");
    } else {
        let page = chunked
            .list_tags(&image, &auth, Some(1), Some("a-second"))
            .await
            .map_err(|e| format!("list_tags n=1 last=a-second: {e}"))?;
        ensure(page.tags == ["chunked"], || {
            format!(
                "list_tags n=1&last=a-second: got {:?}, want [\"chunked\"]",
                page.tags
            )
        })?;
    }
    println!("ok: list_tags (all, and n=1&last=)");

    // 6. Catalog.
    let catalog = chunked
        .catalog(&image, &auth, None, None)
        .await
        .map_err(|e| format!("catalog: {e}"))?;
    for want in [repo, mono_repo, mounted_repo] {
        ensure(catalog.repositories.iter().any(|r| r == want), || {
            format!("catalog: {want} missing from {:?}", catalog.repositories)
        })?;
    }
    let page = chunked
        .catalog(&image, &auth, Some(1), None)
        .await
        .map_err(|e| format!("catalog n=1: {e}"))?;
    ensure(page.repositories.len() == 1, || {
        format!("catalog n=1: got {:?}", page.repositories)
    })?;
    println!("ok: catalog (all, and n=1)");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let registry = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("REGISTRY").ok())
        .unwrap_or_else(|| "127.0.0.1:5000".to_owned());
    let ns = std::env::args()
        .nth(2)
        .or_else(|| std::env::var("INTEROP_NS").ok())
        .unwrap_or_else(|| "interop".to_owned());
    match run(&registry, &ns).await {
        Ok(()) => {
            println!("oci-client: all checks passed against {registry}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("FAIL: oci-client against {registry}: {e}");
            ExitCode::FAILURE
        }
    }
}
