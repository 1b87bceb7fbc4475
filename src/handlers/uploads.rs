//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, single-request push, mount) and
//! `GET` / `PATCH` / `PUT` / `DELETE /v2/<name>/blobs/uploads/<id>`.
//!
//! A session is stored (its bytes and the serialized hash of them), not held by this process:
//! every request reads the stored state, resumes it, streams its body in through the hash, and
//! saves the new offset and hash state before answering. A restart, a crash or another replica
//! on the same storage can therefore continue any session at its last acknowledged byte. A
//! request that fails or is dropped part way leaves the session at its last saved offset.

use std::time::SystemTime;

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body::Body;

use super::request_body::{hash_reader, read_limited, stream_into};
use super::{
    bodiless_head, build_response, header_value, Ctx, HandlerResult, DOCKER_CONTENT_DIGEST,
    DOCKER_UPLOAD_UUID, OCI_CHUNK_MIN_LENGTH,
};
use crate::error::{ErrorCode, RegistryError};
use crate::protocol::upload_id::Minted;
use crate::protocol::{name::is_valid_name, Algorithm, ContentRange, Digest, Hasher};
use crate::response_body::RegistryBody;
use crate::settings::Config;
use crate::storage::{
    Error as StorageError, Finished, LinkOptions, ListOptions, UploadState, UploadWriter,
};
use crate::uploads::{CapReached, Caps};
use crate::BoxError;

fn upload_unknown(id: &str) -> RegistryError {
    RegistryError::from_code(ErrorCode::BlobUploadUnknown)
        .with_detail(serde_json::json!({ "uuid": id }))
}

fn busy() -> RegistryError {
    RegistryError::new(
        ErrorCode::BlobUploadInvalid,
        "another request is writing to this upload",
    )
    .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
}

/// A storage error on session `id`, as the client should see it: gone is `BLOB_UPLOAD_UNKNOWN`;
/// claimed by another request, or moved on by one (another replica took over after this one's
/// claim expired) is 416, after which a client asks where the upload stands; anything else is
/// the store's failure.
fn session_error(id: &str, e: StorageError) -> RegistryError {
    match e {
        StorageError::Busy { .. } | StorageError::Conflict { .. } => busy(),
        e if e.is_not_found() => upload_unknown(id),
        e => e.into(),
    }
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
    let mut builder = bodiless_head(status)
        .header(header::LOCATION, location(name, id)?)
        .header(header::RANGE, range_value(offset)?)
        .header(DOCKER_UPLOAD_UUID, header_value(id)?);
    if let Some(min) = config.min_chunk_length {
        builder = builder.header(OCI_CHUNK_MIN_LENGTH, HeaderValue::from(min));
    }
    build_response(builder, RegistryBody::empty())
}

fn blob_created(name: &str, digest: &str) -> HandlerResult {
    let builder = bodiless_head(StatusCode::CREATED)
        .header(
            header::LOCATION,
            header_value(&format!("/v2/{name}/blobs/{digest}"))?,
        )
        .header(DOCKER_CONTENT_DIGEST, header_value(digest)?);
    build_response(builder, RegistryBody::empty())
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

fn too_many(cap: CapReached) -> RegistryError {
    let message = match cap {
        CapReached::Global => "too many open uploads",
        CapReached::Repository => "too many open uploads in this repository",
        CapReached::Principal => "too many open uploads by this user",
    };
    RegistryError::new(ErrorCode::TooManyRequests, message)
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("10"))
}

/// Starts a session: an id that says what it is (see [`Minted`]); nothing is stored until its
/// first byte arrives. Refused while the stored sessions are at a cap, as their next byte
/// would be.
async fn open_session(
    ctx: &Ctx<'_>,
    repo: &str,
    algorithm: Algorithm,
) -> Result<String, RegistryError> {
    let owner = ctx.session_owner();
    ctx.shared
        .uploads
        .has_room(ctx.storage(), repo, owner.as_deref(), Caps::of(&ctx.config))
        .await
        .map_err(too_many)?;
    Ok(Minted::issue(
        repo,
        owner.as_deref(),
        algorithm,
        SystemTime::now(),
    ))
}

/// Session `id` of `name` as it is while nothing is stored for it: an id this registry issued
/// for `name` and the caller's principal, within the session timeout, not finished by this
/// process.
fn unstored(ctx: &Ctx<'_>, name: &str, id: &str) -> Option<UploadState> {
    let minted = Minted::decode(id)?;
    let owner = ctx.session_owner();
    let live = minted.is_for(name, owner.as_deref())
        && minted.is_live(SystemTime::now(), ctx.config.upload_timeout)
        && !ctx.shared.uploads.was_finished(id);
    live.then(|| {
        let mut state = UploadState::new(
            id,
            name,
            minted.algorithm,
            Hasher::new(minted.algorithm).save(),
        );
        state.started = minted.started;
        state.updated = minted.started;
        state.with_principal(owner)
    })
}

/// Leaves a marker that session `id` of `name` is closed, so its id is not taken for an
/// unstored session again before it expires (only ids that could be taken so need one).
/// `false` when a session is stored under `id` (stored by a request racing this one).
async fn mark_closed(ctx: &Ctx<'_>, name: &str, id: &str) -> Result<bool, StorageError> {
    let Some(minted) = Minted::decode(id) else {
        return Ok(true);
    };
    if !minted.is_live(SystemTime::now(), ctx.config.upload_timeout) {
        return Ok(true);
    }
    let marker = UploadState::closed(id, name, minted.algorithm, minted.started);
    match ctx.storage().create_upload(&marker).await {
        Ok(()) => Ok(true),
        Err(StorageError::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn digest_mismatch(expected: &Digest, actual: &Digest) -> RegistryError {
    RegistryError::from_code(ErrorCode::DigestInvalid).with_detail(serde_json::json!({
        "expected": expected.as_str(),
        "actual": actual.as_str(),
    }))
}

/// Checks the hash of a finished upload and completes it. `session` names the stored session
/// (`None` for a single-request push) for the errors its completion can meet.
async fn complete(
    name: &str,
    expected: &Digest,
    actual: Digest,
    writer: Box<dyn UploadWriter>,
    session: Option<&str>,
) -> HandlerResult {
    if actual != *expected {
        return Err(digest_mismatch(expected, &actual));
    }
    match (writer.complete(name, &actual).await, session) {
        (Ok(()), _) => blob_created(name, actual.as_str()),
        (Err(e), Some(id)) => Err(session_error(id, e)),
        (Err(e), None) => Err(e.into()),
    }
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
        // Single-request monolithic push: staged with no stored session.
        let expected = parse_digest_param(&raw)?;
        let mut hasher = Hasher::new(expected.algorithm());
        let mut writer = ctx.storage().stage_blob().await?;
        let written = stream_into(body, writer.as_mut(), &mut hasher).await?;
        check_declared_length(ctx, written)?;
        return complete(name, &expected, hasher.finalize(), writer, None).await;
    }
    // A plain start; any body (some clients send `null`) is ignored.
    let algorithm = requested_algorithm(ctx)?;
    let id = open_session(ctx, name, algorithm).await?;
    session_response(ctx.config, StatusCode::ACCEPTED, name, &id, 0)
}

async fn mount_or_open(ctx: &Ctx<'_>, name: &str, mount: &str) -> HandlerResult {
    let digest = parse_digest_param(mount)?;
    let mounted = match ctx.param("from")? {
        Some(from) if !is_valid_name(&from) => {
            return Err(RegistryError::new(
                ErrorCode::NameInvalid,
                "invalid `from` repository name",
            ))
        }
        // The authorizer has already checked `pull` on `from`.
        Some(from) => link_from(ctx, name, &digest, &from).await?,
        None => mount_from_any(ctx, name, &digest).await?,
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

/// Links `digest` into `name` if repository `from` holds it. False when it does not.
async fn link_from(
    ctx: &Ctx<'_>,
    name: &str,
    digest: &Digest,
    from: &str,
) -> Result<bool, RegistryError> {
    match ctx
        .storage()
        .link_blob(name, digest, LinkOptions::from_repository(from))
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The most repositories a mount without `from` looks through for one holding the blob;
/// past them the client uploads (always a correct answer to a mount request).
const MOUNT_SCAN_LIMIT: usize = 1000;

/// A mount without `from`: links the blob from a repository that holds it and that the
/// principal may pull. Stored content alone is not enough: content every repository unlinked
/// (deleted) is not mounted back, and neither is a blob only repositories the principal may
/// not read hold. Looks at up to [`MOUNT_SCAN_LIMIT`] repositories, `name` first.
async fn mount_from_any(ctx: &Ctx<'_>, name: &str, digest: &Digest) -> Result<bool, RegistryError> {
    match ctx.storage().stat_blob(digest).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    if link_from(ctx, name, digest, name).await? {
        return Ok(true);
    }
    let mut scanned = 0;
    let mut after = None;
    while scanned < MOUNT_SCAN_LIMIT {
        let limit = (MOUNT_SCAN_LIMIT - scanned).min(ctx.config.page_cap.max(1));
        let page = ctx
            .storage()
            .list_repositories(ListOptions::new(after, limit))
            .await?;
        scanned += page.items.len();
        for repo in &page.items {
            if repo != name
                && ctx.may_pull(repo).await
                && link_from(ctx, name, digest, repo).await?
            {
                return Ok(true);
            }
        }
        after = page.items.last().cloned();
        if !page.more || after.is_none() {
            break;
        }
    }
    Ok(false)
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

/// Whether this request may work on `state` as session `id` of `name`: same repository, not
/// closed, and (with an authorizer) the principal that stored it.
fn is_ours(ctx: &Ctx<'_>, state: &UploadState, name: &str) -> bool {
    state.repo == name && !state.closed && ctx.owns_session(state.principal.as_deref())
}

/// Session `id` of `name`, stored or not (`true` when stored). A session of another
/// repository, a closed one, or (with an authorizer) another principal's, is unknown.
async fn session_state(
    ctx: &Ctx<'_>,
    name: &str,
    id: &str,
) -> Result<(UploadState, bool), RegistryError> {
    match ctx.storage().get_upload(id).await {
        Ok(state) if is_ours(ctx, &state, name) => Ok((state, true)),
        Ok(_) => Err(upload_unknown(id)),
        Err(e) if e.is_not_found() => unstored(ctx, name, id)
            .map(|state| (state, false))
            .ok_or_else(|| upload_unknown(id)),
        Err(e) => Err(e.into()),
    }
}

/// Claims stored session `id` of `name` for this request: its writer, the state it claimed
/// (read under the claim, so it cannot move on meanwhile) and its hash. One storage call.
async fn resume(
    ctx: &Ctx<'_>,
    name: &str,
    id: &str,
) -> Result<(Box<dyn UploadWriter>, UploadState, Hasher), RegistryError> {
    let writer = ctx
        .storage()
        .resume_upload(id)
        .await
        .map_err(|e| session_error(id, e))?;
    let state = match writer.state() {
        Some(state) if is_ours(ctx, state, name) => state.clone(),
        // Another repository's (or principal's) session is unknown here; dropping the writer
        // releases it.
        _ => return Err(upload_unknown(id)),
    };
    let hasher = Hasher::restore(state.algorithm, &state.hash_state).ok_or_else(|| {
        RegistryError::internal(&format_args!("upload {id} has an unreadable hash state"))
    })?;
    Ok((writer, state, hasher))
}

/// `PATCH`: appends a chunk (with `Content-Range`) or a stream (without).
pub(super) async fn patch<B>(ctx: &Ctx<'_>, body: B, name: &str, id: &str) -> HandlerResult
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut writer, state, mut hasher) = match resume(ctx, name, id).await {
        Err(e) if e.code() == ErrorCode::BlobUploadUnknown => {
            store_unstored(ctx, name, id, e).await?;
            resume(ctx, name, id).await?
        }
        other => other?,
    };
    // Only a session that exists is counted, and the sweep leaves it alone while we write.
    let _active = ctx
        .shared
        .uploads
        .activate(id, name, state.principal.as_deref());
    // Checked before any byte is read, so an out-of-order chunk leaves the session usable.
    let expected_len = check_chunk_range(ctx, state.offset)?;
    let written = stream_into(body, writer.as_mut(), &mut hasher).await?;
    if expected_len.is_some_and(|len| written != len) {
        // Dropping the writer leaves the session at its last saved offset.
        return Err(RegistryError::new(
            ErrorCode::SizeInvalid,
            "chunk length does not match Content-Range",
        ));
    }
    // Unknown when cancelled (DELETE) while this chunk was arriving.
    let saved = writer
        .save(hasher.save())
        .await
        .map_err(|e| session_error(id, e))?;
    session_response(ctx.config, StatusCode::ACCEPTED, name, id, saved.offset)
}

/// Stores unstored session `id` of `name` (its first chunk is arriving), within the caps;
/// `unknown` is the error to answer when it is no such session.
async fn store_unstored(
    ctx: &Ctx<'_>,
    name: &str,
    id: &str,
    unknown: RegistryError,
) -> Result<(), RegistryError> {
    let Some(state) = unstored(ctx, name, id) else {
        return Err(unknown);
    };
    let uploads = &ctx.shared.uploads;
    uploads
        .reserve(
            ctx.storage(),
            id,
            name,
            state.principal.as_deref(),
            Caps::of(&ctx.config),
        )
        .await
        .map_err(too_many)?;
    match ctx.storage().create_upload(&state).await {
        // Stored meanwhile by a concurrent request: resuming it claims it or answers busy.
        Ok(()) | Err(StorageError::AlreadyExists { .. }) => Ok(()),
        Err(e) => {
            uploads.release(id);
            Err(e.into())
        }
    }
}

/// `PUT ?digest=`: the optional last chunk, then verify and complete.
pub(super) async fn finish_upload<B>(ctx: &Ctx<'_>, body: B, name: &str, id: &str) -> HandlerResult
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let raw = ctx.param("digest")?.ok_or_else(|| {
        RegistryError::new(ErrorCode::DigestInvalid, "the closing PUT needs ?digest=")
    })?;
    let expected = parse_digest_param(&raw)?;
    let small_tail = ctx.header(header::CONTENT_RANGE).is_none()
        && ctx
            .content_length()?
            .is_some_and(|len| len <= ONE_STEP_TAIL);
    let response = if small_tail {
        // The common closing PUT (no bytes, or a small last chunk, no Content-Range): the
        // tail is read first, then storage claims, checks and completes in one step.
        if ctx.guarded() {
            // The one-step finish claims no state we could check: check the owner first (it
            // never changes, so the check cannot go stale).
            session_state(ctx, name, id).await?;
        }
        let tail = read_limited(body, ONE_STEP_TAIL).await?;
        check_declared_length(ctx, tail.len() as u64)?;
        let unstored = unstored(ctx, name, id);
        match ctx
            .storage()
            .finish_upload(id, name, tail.clone(), &expected, unstored.as_ref())
            .await
        {
            Ok(Finished::Completed) => {
                closed(ctx, name, id).await;
                blob_created(name, expected.as_str())
            }
            Ok(Finished::CompletedUnstored) => {
                ctx.shared.uploads.note_finished(id);
                blob_created(name, expected.as_str())
            }
            Ok(Finished::DigestMismatch { actual }) => {
                return Err(digest_mismatch(&expected, &actual))
            }
            Ok(Finished::OtherAlgorithm) => {
                finish_streamed(ctx, Tail::<B>::Bytes(tail), name, id, &expected).await
            }
            Err(e) => return Err(session_error(id, e)),
        }
    } else {
        finish_streamed(ctx, Tail::Body(body), name, id, &expected).await
    };
    match response {
        Err(e) if e.code() == ErrorCode::DigestInvalid => Err(e),
        other => {
            ctx.shared.uploads.release(id);
            other
        }
    }
}

/// The largest closing-`PUT` body finished in one storage step (read into memory first).
const ONE_STEP_TAIL: u64 = 1 << 20;

/// The last bytes of an upload: a request body still to stream, or one already read.
enum Tail<B> {
    Body(B),
    Bytes(Bytes),
}

/// The closing `PUT` streamed through a resumed writer: any size, and the only way to finish a
/// session whose bytes were hashed with another algorithm than the digest's.
async fn finish_streamed<B>(
    ctx: &Ctx<'_>,
    tail: Tail<B>,
    name: &str,
    id: &str,
    expected: &Digest,
) -> HandlerResult
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut writer, state, mut hasher, stored) = match resume(ctx, name, id).await {
        Ok((writer, state, hasher)) => (writer, state, hasher, true),
        Err(e) if e.code() == ErrorCode::BlobUploadUnknown => {
            // Nothing stored: the body is the whole blob, staged like a one-request push.
            let state = unstored(ctx, name, id).ok_or(e)?;
            let hasher = Hasher::new(state.algorithm);
            (ctx.storage().stage_blob().await?, state, hasher, false)
        }
        Err(e) => return Err(e),
    };
    // Only a session that exists is counted, and the sweep leaves it alone while we write.
    let _active = stored.then(|| {
        ctx.shared
            .uploads
            .activate(id, name, state.principal.as_deref())
    });
    check_chunk_range(ctx, state.offset)?;
    if state.offset == 0 && hasher.algorithm() != expected.algorithm() {
        // Nothing hashed yet: follow the algorithm of the digest the client names.
        hasher = Hasher::new(expected.algorithm());
    }
    match tail {
        Tail::Body(body) => {
            stream_into(body, writer.as_mut(), &mut hasher).await?;
        }
        Tail::Bytes(bytes) if bytes.is_empty() => {}
        Tail::Bytes(bytes) => {
            hasher.update(&bytes);
            writer.write(bytes).await?;
        }
    }
    let actual = if hasher.algorithm() == expected.algorithm() {
        hasher.finalize()
    } else {
        // Started without `?digest-algorithm=` (which clients SHOULD, not MUST, send) and
        // finished with another algorithm: hash the stored bytes once more, with that one.
        hash_reader(writer.read_back().await?, expected.algorithm()).await?
    };
    let created = complete(name, expected, actual, writer, Some(id)).await?;
    if stored {
        closed(ctx, name, id).await;
    } else {
        ctx.shared.uploads.note_finished(id);
    }
    Ok(created)
}

/// After stored session `id` completed: its marker, so its id stays unknown. A failure leaves
/// the id taken for an empty session until it expires (harmless: such a session holds
/// nothing), so it is logged, not answered.
async fn closed(ctx: &Ctx<'_>, name: &str, id: &str) {
    if let Err(e) = mark_closed(ctx, name, id).await {
        tracing::warn!(error = %e, "could not mark a completed upload session closed");
    }
}

/// `GET`: where the upload stands (its last saved offset).
pub(super) async fn status(ctx: &Ctx<'_>, name: &str, id: &str) -> HandlerResult {
    let (state, _) = session_state(ctx, name, id).await?;
    session_response(ctx.config, StatusCode::NO_CONTENT, name, id, state.offset)
}

/// `DELETE`: cancels the upload; its bytes go with the session, and a marker keeps its id
/// unknown until it expires.
pub(super) async fn cancel(ctx: &Ctx<'_>, name: &str, id: &str) -> HandlerResult {
    let (_, mut stored) = session_state(ctx, name, id).await?;
    // Twice at most: an unstored session may be stored by a request racing this one.
    for _ in 0..2 {
        if stored {
            match ctx.storage().delete_upload(id).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            ctx.shared.uploads.release(id);
        }
        if mark_closed(ctx, name, id).await? {
            ctx.shared.uploads.note_finished(id);
            return build_response(bodiless_head(StatusCode::NO_CONTENT), RegistryBody::empty());
        }
        stored = true;
    }
    Err(busy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_errors_are_the_clients_answers() {
        let id = "4b4a7c4e-0d2b-4f7e-9a51-3c7f0e1d2a6b";
        let status = |e: StorageError| session_error(id, e).status();
        // Another replica moved the session on (its claim had expired): 416, not 500.
        assert_eq!(
            status(StorageError::conflict(id, "claim expired")),
            StatusCode::RANGE_NOT_SATISFIABLE
        );
        assert_eq!(
            status(StorageError::Busy { key: id.into() }),
            StatusCode::RANGE_NOT_SATISFIABLE
        );
        let gone = session_error(id, StorageError::not_found(id));
        assert_eq!(
            (gone.status(), gone.code()),
            (StatusCode::NOT_FOUND, ErrorCode::BlobUploadUnknown)
        );
        let full = StorageError::io(id, std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(status(full), StatusCode::INSUFFICIENT_STORAGE);
    }
}
