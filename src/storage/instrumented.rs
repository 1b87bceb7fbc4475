//! [`Instrumented`]: any [`Storage`] with a `storage` tracing span (debug level) around each
//! operation and, with feature `metrics`, its latency and errors recorded.
//!
//! The layer wraps its storage in it, so every backend is observed the same way; operations
//! are forwarded one to one (the backend's own `finish_upload` included).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use tracing::Instrument;

use super::{
    BoxFuture, ContentInfo, DeleteContentOptions, Finished, GetOptions, GetResult, LeftoverOptions,
    LinkOptions, ListOptions, ManifestMeta, ManifestPut, Page, Reclaimed, ReferrerEntry,
    ReferrerListOptions, Result, Storage, StoredManifest, UploadState, UploadWriter,
};
use crate::protocol::Digest;
use crate::telemetry;

/// A storage whose operations are traced and measured.
pub(crate) struct Instrumented(pub(crate) Arc<dyn Storage>);

impl fmt::Debug for Instrumented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Runs `fut` (storage operation `op`) in its span, recording how long it took and how it
/// failed. With nothing to record (no `metrics` feature, the span disabled) the operation's
/// own future is returned as it is: no second allocation on the request path.
fn observe<'a, T: 'a>(op: &'static str, fut: BoxFuture<'a, Result<T>>) -> BoxFuture<'a, Result<T>> {
    let span = tracing::debug_span!("storage", op);
    if !cfg!(feature = "metrics") && span.is_disabled() {
        return fut;
    }
    Box::pin(
        async move {
            let started = telemetry::Timer::start();
            let result = fut.await;
            telemetry::storage_operation(op, started, result.as_ref().err());
            result
        }
        .instrument(span),
    )
}

impl Storage for Instrumented {
    fn get_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        options: GetOptions,
    ) -> BoxFuture<'a, Result<GetResult>> {
        observe("get_blob", self.0.get_blob(repo, digest, options))
    }

    fn stat_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<ContentInfo>> {
        observe("stat_blob", self.0.stat_blob(digest))
    }

    fn link_blob<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
        options: LinkOptions,
    ) -> BoxFuture<'a, Result<()>> {
        observe("link_blob", self.0.link_blob(repo, digest, options))
    }

    fn unlink_blob<'a>(&'a self, repo: &'a str, digest: &'a Digest) -> BoxFuture<'a, Result<()>> {
        observe("unlink_blob", self.0.unlink_blob(repo, digest))
    }

    fn create_upload<'a>(&'a self, state: &'a UploadState) -> BoxFuture<'a, Result<()>> {
        observe("create_upload", self.0.create_upload(state))
    }

    fn get_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<UploadState>> {
        observe("get_upload", self.0.get_upload(id))
    }

    fn resume_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Box<dyn UploadWriter>>> {
        observe("resume_upload", self.0.resume_upload(id))
    }

    fn finish_upload<'a>(
        &'a self,
        id: &'a str,
        repo: &'a str,
        tail: Bytes,
        expected: &'a Digest,
        unstored: Option<&'a UploadState>,
    ) -> BoxFuture<'a, Result<Finished>> {
        observe(
            "finish_upload",
            self.0.finish_upload(id, repo, tail, expected, unstored),
        )
    }

    fn stage_blob(&self) -> BoxFuture<'_, Result<Box<dyn UploadWriter>>> {
        observe("stage_blob", self.0.stage_blob())
    }

    fn delete_upload<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        observe("delete_upload", self.0.delete_upload(id))
    }

    fn list_uploads(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<UploadState>>> {
        observe("list_uploads", self.0.list_uploads(options))
    }

    fn get_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<StoredManifest>> {
        observe("get_manifest", self.0.get_manifest(repo, digest))
    }

    fn manifest_meta<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<ManifestMeta>> {
        observe("manifest_meta", self.0.manifest_meta(repo, digest))
    }

    fn put_manifest<'a>(
        &'a self,
        repo: &'a str,
        put: &'a ManifestPut,
    ) -> BoxFuture<'a, Result<()>> {
        observe("put_manifest", self.0.put_manifest(repo, put))
    }

    fn delete_manifest<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        observe("delete_manifest", self.0.delete_manifest(repo, digest))
    }

    fn get_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<Digest>> {
        observe("get_tag", self.0.get_tag(repo, tag))
    }

    fn delete_tag<'a>(&'a self, repo: &'a str, tag: &'a str) -> BoxFuture<'a, Result<()>> {
        observe("delete_tag", self.0.delete_tag(repo, tag))
    }

    fn list_tags<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<String>>> {
        observe("list_tags", self.0.list_tags(repo, options))
    }

    fn list_referrers<'a>(
        &'a self,
        repo: &'a str,
        subject: &'a Digest,
        options: ReferrerListOptions,
    ) -> BoxFuture<'a, Result<Page<ReferrerEntry>>> {
        observe(
            "list_referrers",
            self.0.list_referrers(repo, subject, options),
        )
    }

    fn list_repositories(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<String>>> {
        observe("list_repositories", self.0.list_repositories(options))
    }

    fn repository_exists<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Result<bool>> {
        observe("repository_exists", self.0.repository_exists(repo))
    }

    fn list_blobs(&self, options: ListOptions) -> BoxFuture<'_, Result<Page<ContentInfo>>> {
        observe("list_blobs", self.0.list_blobs(options))
    }

    fn list_manifests<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<ContentInfo>>> {
        observe("list_manifests", self.0.list_manifests(repo, options))
    }

    fn delete_blob_content<'a>(
        &'a self,
        digest: &'a Digest,
        options: DeleteContentOptions,
    ) -> BoxFuture<'a, Result<()>> {
        observe(
            "delete_blob_content",
            self.0.delete_blob_content(digest, options),
        )
    }

    fn touch_blob<'a>(&'a self, digest: &'a Digest) -> BoxFuture<'a, Result<()>> {
        observe("touch_blob", self.0.touch_blob(digest))
    }

    fn list_blob_links<'a>(
        &'a self,
        repo: &'a str,
        options: ListOptions,
    ) -> BoxFuture<'a, Result<Page<Digest>>> {
        observe("list_blob_links", self.0.list_blob_links(repo, options))
    }

    fn delete_dangling_link<'a>(
        &'a self,
        repo: &'a str,
        digest: &'a Digest,
    ) -> BoxFuture<'a, Result<()>> {
        observe(
            "delete_dangling_link",
            self.0.delete_dangling_link(repo, digest),
        )
    }

    fn delete_leftovers(&self, options: LeftoverOptions) -> BoxFuture<'_, Result<Reclaimed>> {
        observe("delete_leftovers", self.0.delete_leftovers(options))
    }

    fn check(&self) -> BoxFuture<'_, Result<()>> {
        observe("check", self.0.check())
    }
}
