//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, single-request push, mount) and
//! `GET` / `PATCH` / `PUT` / `DELETE /v2/<name>/blobs/uploads/<id>`.
//!
//! A session lives in memory: its staged blob and the hash state of everything received so
//! far, so no byte is read back to compute the digest. While a request works on a session it
//! is leased out of the table; if that request is dropped (client gone), the lease's drop
//! removes the session and the staged blob's drop deletes its temp file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body::Body;

use super::body::stream_into;
use super::{empty, finish, header_value, Ctx, HandlerResult, Shared};
use crate::body::RegistryBody;
use crate::error::{ErrorCode, RegistryError};
use crate::layer::Config;
use crate::protocol::{name::is_valid_name, Algorithm, ContentRange, Digest, Hasher};
use crate::legacy_storage::StagedBlob;
use crate::BoxError;

/// The most sessions open at once; more get 429.
const MAX_SESSIONS: usize = 4096;

/// An open upload.
#[derive(Debug)]
struct Session {
    repo: String,
    hasher: Hasher,
    staged: Box<dyn StagedBlob>,
    touched: Instant,
}

#[derive(Debug)]
enum Slot {
    Idle(Box<Session>),
    /// A request is working on it; holds the repository so status requests still match.
    Busy {
        repo: String,
        offset: u64,
    },
}

/// The open upload sessions of one registry.
#[derive(Debug, Default)]
pub(crate) struct UploadSessions {
    slots: Mutex<HashMap<String, Slot>>,
}

impl UploadSessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding the lock cannot leave the map half-updated (every update is a
        // single insert/remove), so a poisoned lock is still usable.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A session taken out of the table for the length of one request.
struct Lease {
    shared: Arc<Shared>,
    id: String,
    session: Option<Box<Session>>,
}

impl Lease {
    fn session(&mut self) -> &mut Session {
        // Always Some until `put_back` / `finish` consume the lease.
        self.session
            .as_mut()
            .unwrap_or_else(|| unreachable!("lease used after release"))
    }

    /// Returns the session to the table, ready for the next request.
    fn put_back(mut self) {
        if let Some(mut session) = self.session.take() {
            session.touched = Instant::now();
            let mut slots = self.shared.uploads.lock();
            // A DELETE may have cancelled the session meanwhile; then it stays gone.
            if let Some(slot @ Slot::Busy { .. }) = slots.get_mut(&self.id) {
                *slot = Slot::Idle(session);
            }
        }
    }

    /// Ends the session and hands over its parts.
    fn into_session(mut self) -> Box<Session> {
        self.shared.uploads.lock().remove(&self.id);
        self.session
            .take()
            .unwrap_or_else(|| unreachable!("lease used after release"))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.session.is_some() {
            // The request ended without returning the session (error or disconnect): the
            // session's state no longer matches its bytes, so it goes.
            self.shared.uploads.lock().remove(&self.id);
        }
    }
}

fn upload_unknown(id: &str) -> RegistryError {
    RegistryError::from_code(ErrorCode::BlobUploadUnknown)
        .with_detail(serde_json::json!({ "uuid": id }))
}

/// Takes session `id` of `repo` out of the table. A session of another repository is unknown.
fn lease(shared: &Arc<Shared>, repo: &str, id: &str) -> Result<Lease, RegistryError> {
    let mut slots = shared.uploads.lock();
    match slots.get(id) {
        Some(Slot::Idle(s)) if s.repo == repo => {}
        Some(Slot::Busy { repo: r, .. }) if r == repo => {
            return Err(RegistryError::new(
                ErrorCode::BlobUploadInvalid,
                "another request is writing to this upload",
            )
            .with_status(StatusCode::RANGE_NOT_SATISFIABLE))
        }
        _ => return Err(upload_unknown(id)),
    }
    let Some(Slot::Idle(session)) = slots.remove(id) else {
        return Err(upload_unknown(id));
    };
    slots.insert(
        id.to_owned(),
        Slot::Busy {
            repo: session.repo.clone(),
            offset: session.staged.len(),
        },
    );
    drop(slots);
    Ok(Lease {
        shared: Arc::clone(shared),
        id: id.to_owned(),
        session: Some(session),
    })
}

fn location(name: &str, id: &str) -> Result<HeaderValue, RegistryError> {
    header_value(&format!("/v2/{name}/blobs/uploads/{id}"))
}

fn range_value(offset: u64) -> Result<HeaderValue, RegistryError> {
    // `0-0` before any byte arrived, as distribution answers; clients read it as "at 0".
    header_value(&format!("0-{}", offset.saturating_sub(1)))
}

/// The 202 / 204 headers of an open session.
fn session_response(
    config: Config,
    status: StatusCode,
    name: &str,
    id: &str,
    offset: u64,
) -> HandlerResult {
    let mut builder = empty(status)
        .header(header::LOCATION, location(name, id)?)
        .header(header::RANGE, range_value(offset)?)
        .header("docker-upload-uuid", header_value(id)?);
    if let Some(min) = config.min_chunk_length {
        builder = builder.header("oci-chunk-min-length", HeaderValue::from(min));
    }
    finish(builder, RegistryBody::empty())
}

fn blob_created(name: &str, digest: &str) -> HandlerResult {
    let builder = empty(StatusCode::CREATED)
        .header(
            header::LOCATION,
            header_value(&format!("/v2/{name}/blobs/{digest}"))?,
        )
        .header("docker-content-digest", header_value(digest)?);
    finish(builder, RegistryBody::empty())
}

fn parse_digest_param(raw: &str) -> Result<Digest, RegistryError> {
    Ok(Digest::parse(raw)?)
}

/// `digest-algorithm=<alg>`; sha256 when absent.
fn requested_algorithm(ctx: &Ctx<'_>) -> Result<Algorithm, RegistryError> {
    match ctx.param("digest-algorithm")? {
        None => Ok(Algorithm::Sha256),
        Some(name) => Algorithm::from_name(&name).ok_or_else(|| {
            RegistryError::new(
                ErrorCode::DigestInvalid,
                "unsupported digest-algorithm (sha256 and sha512 are supported)",
            )
            .with_detail(serde_json::json!({ "digest-algorithm": name.as_ref() }))
        }),
    }
}

/// Opens a new session and records it as idle.
async fn open_session(
    ctx: &Ctx<'_>,
    repo: &str,
    algorithm: Algorithm,
) -> Result<String, RegistryError> {
    let shared = ctx.shared;
    {
        let mut slots = shared.uploads.lock();
        let now = Instant::now();
        let expired: Vec<String> = slots
            .iter()
            .filter(|(_, slot)| match slot {
                Slot::Idle(s) => now.duration_since(s.touched) >= ctx.config.upload_timeout,
                Slot::Busy { .. } => false,
            })
            .map(|(id, _)| id.clone())
            .collect();
        if !expired.is_empty() {
            let dropped: Vec<Slot> = expired.iter().filter_map(|id| slots.remove(id)).collect();
            // Dropping a session deletes its temp file: not on this thread, not under the lock.
            tokio::task::spawn_blocking(move || drop(dropped));
        }
        if slots.len() >= MAX_SESSIONS {
            return Err(
                RegistryError::new(ErrorCode::TooManyRequests, "too many open uploads")
                    .with_header(header::RETRY_AFTER, HeaderValue::from_static("10")),
            );
        }
    }
    let staged = shared.storage.stage_blob().await?;
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let session = Session {
        repo: repo.to_owned(),
        hasher: Hasher::new(algorithm),
        staged,
        touched: Instant::now(),
    };
    shared
        .uploads
        .lock()
        .insert(id.clone(), Slot::Idle(Box::new(session)));
    Ok(id)
}

/// Checks the hash of a finished upload and commits it.
async fn commit(
    name: &str,
    expected: &Digest,
    hasher: Hasher,
    staged: Box<dyn StagedBlob>,
) -> HandlerResult {
    let actual = hasher.finalize();
    if actual != *expected {
        return Err(
            RegistryError::from_code(ErrorCode::DigestInvalid).with_detail(serde_json::json!({
                "expected": expected.as_str(),
                "actual": actual.as_str(),
            })),
        );
    }
    staged.commit(name, &actual).await?;
    blob_created(name, actual.as_str())
}

/// `POST /v2/<name>/blobs/uploads/`: mount, single-request push, or a new session.
pub(super) async fn start<B>(ctx: &Ctx<'_>, body: B, name: &str) -> HandlerResult
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if let Some(mount) = ctx.param("mount")? {
        return mount_or_open(ctx, name, &mount).await;
    }
    if let Some(raw) = ctx.param("digest")? {
        // Single-request monolithic push.
        let expected = parse_digest_param(&raw)?;
        let mut hasher = Hasher::new(expected.algorithm());
        let mut staged = ctx.storage().stage_blob().await?;
        let written = stream_into(body, staged.as_mut(), &mut hasher).await?;
        check_declared_length(ctx, written)?;
        return commit(name, &expected, hasher, staged).await;
    }
    // A plain start; any body (some clients send `null`) is ignored.
    let algorithm = requested_algorithm(ctx)?;
    let id = open_session(ctx, name, algorithm).await?;
    session_response(ctx.config, StatusCode::ACCEPTED, name, &id, 0)
}

async fn mount_or_open(ctx: &Ctx<'_>, name: &str, mount: &str) -> HandlerResult {
    let digest = parse_digest_param(mount)?;
    let storage = ctx.storage();
    let mounted = match ctx.param("from")? {
        Some(from) => {
            if !is_valid_name(&from) {
                return Err(RegistryError::new(
                    ErrorCode::NameInvalid,
                    "invalid `from` repository name",
                ));
            }
            storage.blob_size(&from, &digest).await?.is_some()
                && storage.link_blob(name, &digest).await?
        }
        // Without `from`, any repository holding it will do (to be narrowed to repositories the
        // caller may read once authorization exists).
        None => storage.blob_exists(&digest).await? && storage.link_blob(name, &digest).await?,
    };
    if mounted {
        return blob_created(name, digest.as_str());
    }
    let algorithm = match ctx.query.get("digest-algorithm") {
        Some(_) => requested_algorithm(ctx)?,
        None => digest.algorithm(),
    };
    let id = open_session(ctx, name, algorithm).await?;
    session_response(ctx.config, StatusCode::ACCEPTED, name, &id, 0)
}

/// A body shorter or longer than its `Content-Length` is `SIZE_INVALID` (hyper already
/// refuses most such bodies; this catches the rest).
fn check_declared_length(ctx: &Ctx<'_>, written: u64) -> Result<(), RegistryError> {
    match ctx.content_length()? {
        Some(len) if len != written => Err(RegistryError::from_code(ErrorCode::SizeInvalid)),
        _ => Ok(()),
    }
}

/// Validates `Content-Range` against the session's offset before any byte is read, so an
/// out-of-order chunk leaves the session usable. Returns the chunk's declared length.
fn check_chunk_range(ctx: &Ctx<'_>, offset: u64) -> Result<Option<u64>, RegistryError> {
    let Some(raw) = ctx.header(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let range = ContentRange::parse(raw).ok_or_else(|| {
        RegistryError::new(ErrorCode::BlobUploadInvalid, "malformed Content-Range")
            .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
    })?;
    if range.first != offset {
        return Err(RegistryError::new(
            ErrorCode::BlobUploadInvalid,
            format!(
                "chunk starts at {} but the upload is at {offset}",
                range.first
            ),
        )
        .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
        .with_header(header::RANGE, range_value(offset)?));
    }
    let len = range.len();
    if let Some(declared) = ctx.content_length()? {
        if declared != len {
            return Err(RegistryError::new(
                ErrorCode::SizeInvalid,
                "Content-Length does not match Content-Range",
            ));
        }
    }
    Ok(Some(len))
}

/// `PATCH`: appends a chunk (with `Content-Range`) or a stream (without).
pub(super) async fn patch<B>(ctx: &Ctx<'_>, body: B, name: &str, id: &str) -> HandlerResult
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut lease = lease(ctx.shared, name, id)?;
    let offset = lease.session().staged.len();
    let expected_len = match check_chunk_range(ctx, offset) {
        Ok(len) => len,
        Err(e) => {
            lease.put_back();
            return Err(e);
        }
    };
    let session = lease.session();
    let written = stream_into(body, session.staged.as_mut(), &mut session.hasher).await?;
    if let Some(len) = expected_len {
        if written != len {
            // The lease's drop ends the session: its bytes no longer match any range.
            return Err(RegistryError::new(
                ErrorCode::SizeInvalid,
                "chunk length does not match Content-Range",
            ));
        }
    }
    let offset = lease.session().staged.len();
    lease.put_back();
    session_response(ctx.config, StatusCode::ACCEPTED, name, id, offset)
}

/// `PUT ?digest=`: the optional last chunk, then verify and commit.
pub(super) async fn finish_upload<B>(ctx: &Ctx<'_>, body: B, name: &str, id: &str) -> HandlerResult
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let raw = ctx.param("digest")?.ok_or_else(|| {
        RegistryError::new(ErrorCode::DigestInvalid, "the closing PUT needs ?digest=")
    })?;
    let expected = parse_digest_param(&raw)?;
    let mut lease = lease(ctx.shared, name, id)?;
    let offset = lease.session().staged.len();
    if let Err(e) = check_chunk_range(ctx, offset) {
        lease.put_back();
        return Err(e);
    }
    let session = lease.session();
    if session.staged.is_empty() && session.hasher.algorithm() != expected.algorithm() {
        // Nothing hashed yet: follow the algorithm of the digest the client names.
        session.hasher = Hasher::new(expected.algorithm());
    }
    if session.hasher.algorithm() != expected.algorithm() {
        lease.put_back();
        return Err(RegistryError::new(
            ErrorCode::DigestInvalid,
            "the upload was hashed with another algorithm; start it with ?digest-algorithm=",
        ));
    }
    stream_into(body, session.staged.as_mut(), &mut session.hasher).await?;
    let Session { hasher, staged, .. } = *lease.into_session();
    commit(name, &expected, hasher, staged).await
}

/// `GET`: where the upload stands.
pub(super) fn status(ctx: &Ctx<'_>, name: &str, id: &str) -> HandlerResult {
    let offset = match ctx.shared.uploads.lock().get(id) {
        Some(Slot::Idle(s)) if s.repo == name => s.staged.len(),
        Some(Slot::Busy { repo, offset }) if repo == name => *offset,
        _ => return Err(upload_unknown(id)),
    };
    session_response(ctx.config, StatusCode::NO_CONTENT, name, id, offset)
}

/// `DELETE`: cancels the upload; its temp file goes with the session.
pub(super) fn cancel(ctx: &Ctx<'_>, name: &str, id: &str) -> HandlerResult {
    let removed = {
        let mut slots = ctx.shared.uploads.lock();
        match slots.get(id) {
            Some(Slot::Idle(s)) if s.repo == name => slots.remove(id),
            Some(Slot::Busy { repo, .. }) if repo == name => slots.remove(id),
            _ => None,
        }
    };
    match removed {
        Some(slot) => {
            drop(slot);
            finish(empty(StatusCode::NO_CONTENT), RegistryBody::empty())
        }
        None => Err(upload_unknown(id)),
    }
}
