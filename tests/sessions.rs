//! Upload sessions kept in storage, over HTTP: a session outlives the process that opened it
//! (kill -9, restart), any process on the same root continues it, and an idle session holds
//! its bytes on disk, not in memory or an open file. Also: a tag PUT racing a manifest DELETE
//! never leaves a tag that points nowhere.

mod common;
mod process;

use std::path::Path;

use bytes::Bytes;
use http::StatusCode;
use process::{pattern, RegistryProcess, Remote};

const MIB: usize = 1024 * 1024;

/// The Location to use next: the one this response gave.
fn next_location(r: &common::Reply, what: &str) -> String {
    r.header("location")
        .unwrap_or_else(|| panic!("{what}: no Location"))
        .to_owned()
}

/// PATCH `data` at `offset`; asserts 202 and `Range: 0-<end>`; returns the next Location.
async fn patch_ok(c: &Remote, loc: &str, offset: usize, data: &[u8], what: &str) -> String {
    let r = c
        .patch(loc, offset as u64, Bytes::copy_from_slice(data))
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "{what}: PATCH {loc} at {offset}: {:?}",
        r.body
    );
    let end = offset + data.len() - 1;
    assert_eq!(
        r.header("range"),
        Some(format!("0-{end}").as_str()),
        "{what}: Range"
    );
    next_location(&r, what)
}

/// GET on the session; asserts 204 and `Range: 0-<received-1>`; returns the next Location.
async fn status_ok(c: &Remote, loc: &str, received: usize, what: &str) -> String {
    let r = c.get(loc).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "{what}: GET {loc} on {}: {:?}",
        c.addr,
        r.body
    );
    assert_eq!(
        r.header("range"),
        Some(format!("0-{}", received - 1).as_str()),
        "{what}: Range"
    );
    next_location(&r, what)
}

/// PUT `?digest=` with `last`; asserts 201 and the digest header.
async fn finish_ok(c: &Remote, repo: &str, loc: &str, data: &[u8], last: &[u8], what: &str) {
    let digest = common::sha256(data);
    let r = c.finish(loc, &digest, Bytes::copy_from_slice(last)).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{what}: PUT {loc}: {:?}",
        r.body
    );
    assert_eq!(
        r.header("docker-content-digest"),
        Some(digest.as_str()),
        "{what}: Docker-Content-Digest"
    );
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/{repo}/blobs/{digest}").as_str()),
        "{what}: blob Location"
    );
}

async fn assert_blob(c: &Remote, repo: &str, data: &[u8], what: &str) {
    let digest = common::sha256(data);
    let r = c.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(r.status, StatusCode::OK, "{what}: GET blob from {}", c.addr);
    assert_eq!(r.body.len(), data.len(), "{what}: blob length");
    assert!(r.body[..] == data[..], "{what}: blob bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_survives_sigkill_and_restart() {
    let root = tempfile::tempdir().expect("tempdir");
    let repo = "sessions/killed";
    let data = pattern(5 * MIB, 1);
    let (head, tail) = data.split_at(3 * MIB);

    let first = RegistryProcess::start(root.path());
    let c = first.client();
    let loc = c.start_upload(repo).await;
    let loc = patch_ok(&c, &loc, 0, head, "before kill").await;
    first.sigkill();

    let second = RegistryProcess::start(root.path());
    let c = second.client();
    // 0-3145727: every byte acknowledged before the kill is still there.
    let loc = status_ok(&c, &loc, 3 * MIB, "after restart").await;
    let loc = patch_ok(&c, &loc, 3 * MIB, tail, "after restart").await;
    finish_ok(&c, repo, &loc, &data, &[], "after restart").await;
    assert_blob(&c, repo, &data, "after restart").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_survives_sigkill_and_restart_with_final_chunk_on_put() {
    let root = tempfile::tempdir().expect("tempdir");
    let repo = "sessions/killed-put";
    let data = pattern(5 * MIB, 2);
    let (head, tail) = data.split_at(3 * MIB);

    let first = RegistryProcess::start(root.path());
    let c = first.client();
    let loc = c.start_upload(repo).await;
    let loc = patch_ok(&c, &loc, 0, head, "before kill").await;
    first.sigkill();

    let second = RegistryProcess::start(root.path());
    let c = second.client();
    let loc = status_ok(&c, &loc, 3 * MIB, "after restart").await;
    // The last 2 MiB arrive with the PUT itself.
    finish_ok(&c, repo, &loc, &data, tail, "PUT with final chunk").await;
    assert_blob(&c, repo, &data, "PUT with final chunk").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_continues_across_two_registries_on_one_root() {
    let root = tempfile::tempdir().expect("tempdir");
    let repo = "sessions/shared";
    let data = pattern(3 * MIB + 12345, 3);
    let chunks: Vec<&[u8]> = data.chunks(MIB).collect();
    assert_eq!(chunks.len(), 4);

    let a = RegistryProcess::start(root.path());
    let b = RegistryProcess::start(root.path());
    let (ca, cb) = (a.client(), b.client());

    let loc = ca.start_upload(repo).await;
    let loc = status_ok_or_empty(&cb, &loc).await;
    let loc = patch_ok(&cb, &loc, 0, chunks[0], "PATCH on B").await;
    let loc = patch_ok(&ca, &loc, MIB, chunks[1], "PATCH on A").await;
    let loc = status_ok(&cb, &loc, 2 * MIB, "status on B").await;
    let loc = status_ok(&ca, &loc, 2 * MIB, "status on A").await;
    let loc = patch_ok(&cb, &loc, 2 * MIB, chunks[2], "PATCH on B again").await;
    finish_ok(&ca, repo, &loc, &data, chunks[3], "PUT on A").await;
    assert_blob(&ca, repo, &data, "from A").await;
    assert_blob(&cb, repo, &data, "from B").await;

    // And the other way round, with the PUT on B and no final chunk.
    let other = pattern(2 * MIB + 7, 4);
    let (x, y) = other.split_at(MIB);
    let loc = cb.start_upload(repo).await;
    let loc = patch_ok(&ca, &loc, 0, x, "PATCH on A").await;
    let loc = patch_ok(&cb, &loc, MIB, y, "PATCH on B").await;
    finish_ok(&cb, repo, &loc, &other, &[], "PUT on B").await;
    assert_blob(&ca, repo, &other, "second blob from A").await;
    assert_blob(&cb, repo, &other, "second blob from B").await;
}

/// A session with no bytes yet: the other process knows it too (204, `Range: 0-0`).
async fn status_ok_or_empty(c: &Remote, loc: &str) -> String {
    let r = c.get(loc).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "fresh session opened on A, GET on B: {:?}",
        r.body
    );
    next_location(&r, "fresh session on B")
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/pid/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/pid/fd")
        .count()
}

/// Bytes in regular files under `dir`, skipping the top-level `blobs/` (committed blobs).
fn bytes_outside_blobs(dir: &Path, top: bool) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if top && entry.file_name() == "blobs" {
                continue;
            }
            total += bytes_outside_blobs(&entry.path(), false);
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_keep_bytes_on_disk_not_in_ram() {
    const SESSIONS: usize = 200;
    const CHUNK: usize = 900 * 1024;
    let root = tempfile::tempdir().expect("tempdir");
    let repo = "sessions/idle";
    // Default settings: fsync on.
    let reg = RegistryProcess::start_with(root.path(), &[]);
    let pid = reg.pid();
    let c = reg.client();
    let chunk = Bytes::from(pattern(CHUNK, 5));

    // Warm up one full upload so buffers, thread pools and the connection exist already.
    let warm = pattern(CHUNK, 6);
    let loc = c.start_upload(repo).await;
    let loc = patch_ok(&c, &loc, 0, &warm, "warm-up").await;
    finish_ok(&c, repo, &loc, &warm, &[], "warm-up").await;

    let rss_before = vm_rss_kib(pid);
    let fds_before = fd_count(pid);
    let disk_before = bytes_outside_blobs(root.path(), true);

    let mut locations = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        let loc = c.start_upload(repo).await;
        let r = c.patch(&loc, 0, chunk.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::ACCEPTED,
            "session {i}: PATCH: {:?}",
            r.body
        );
        locations.push(next_location(&r, "idle PATCH"));
    }

    let rss_after = vm_rss_kib(pid);
    let fds_after = fd_count(pid);
    let disk_after = bytes_outside_blobs(root.path(), true);
    let rss_growth_kib = rss_after.saturating_sub(rss_before);
    println!(
        "VmRSS {rss_before} -> {rss_after} KiB, fds {fds_before} -> {fds_after}, \
         bytes outside blobs/ {disk_before} -> {disk_after}"
    );
    assert!(
        rss_growth_kib < 16 * 1024,
        "VmRSS grew by {rss_growth_kib} KiB with {SESSIONS} idle sessions of {CHUNK} bytes"
    );
    assert!(
        disk_after >= (SESSIONS * CHUNK) as u64,
        "only {disk_after} bytes in files under the root outside blobs/, want >= {}",
        SESSIONS * CHUNK
    );
    assert!(
        fds_after < fds_before + 50,
        "open fds grew from {fds_before} to {fds_after} with {SESSIONS} idle sessions"
    );

    // The sessions are still usable.
    for (i, loc) in locations.iter().enumerate().step_by(50) {
        status_ok(&c, loc, CHUNK, &format!("idle session {i}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tag_put_racing_manifest_delete_leaves_no_dangling_tag() {
    const ROUNDS: usize = 40;
    let s = common::start().await;
    let repo = "race/tags";
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = b"race layer bytes";
    let cd = s.push_blob(repo, config).await;
    let ld = s.push_blob(repo, layer).await;
    let manifests: Vec<String> = (0..ROUNDS)
        .map(|i| {
            common::image_manifest(
                &cd,
                config.len(),
                &ld,
                layer.len(),
                &format!(r#","annotations":{{"round":"{i}"}}"#),
            )
        })
        .collect();

    async fn check_tags(s: &common::TestServer, repo: &str, when: &str) {
        let r = s.get(&format!("/v2/{repo}/tags/list")).await;
        assert_eq!(r.status, StatusCode::OK, "{when}: tags/list: {:?}", r.body);
        let tags = r.json()["tags"].as_array().cloned().unwrap_or_default();
        for tag in tags {
            let tag = tag.as_str().expect("tag string");
            let m = s
                .send(
                    "GET",
                    &format!("/v2/{repo}/manifests/{tag}"),
                    &[("accept", common::OCI_MANIFEST)],
                    Bytes::new(),
                )
                .await;
            assert_eq!(
                m.status,
                StatusCode::OK,
                "{when}: tag {tag:?} is listed but its manifest is {}: {:?}",
                m.status,
                m.body
            );
        }
    }

    for (i, manifest) in manifests.iter().enumerate() {
        let digest = common::sha256(manifest.as_bytes());
        let by_digest = format!("/v2/{repo}/manifests/{digest}");
        let r = s
            .put_manifest(&by_digest, common::OCI_MANIFEST, manifest.clone())
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "round {i}: PUT by digest: {:?}",
            r.body
        );
        let by_tag = format!("/v2/{repo}/manifests/race");
        let (put, del) = tokio::join!(
            s.put_manifest(&by_tag, common::OCI_MANIFEST, manifest.clone()),
            s.empty("DELETE", &by_digest),
        );
        assert!(
            put.status == StatusCode::CREATED || put.status.is_client_error(),
            "round {i}: PUT by tag: {} {:?}",
            put.status,
            put.body
        );
        assert!(
            del.status == StatusCode::ACCEPTED || del.status == StatusCode::NOT_FOUND,
            "round {i}: DELETE: {} {:?}",
            del.status,
            del.body
        );
        check_tags(&s, repo, &format!("after round {i}")).await;
    }
    check_tags(&s, repo, "after all rounds").await;
}

/// Opens a session holding one byte (a session counts for the caps once it stores a byte):
/// its Location, or the status that refused it.
async fn open_with_a_byte(s: &common::TestServer, repo: &str) -> Result<String, StatusCode> {
    let r = s.empty("POST", &format!("/v2/{repo}/blobs/uploads/")).await;
    if r.status != StatusCode::ACCEPTED {
        return Err(r.status);
    }
    let loc = r.header("location").expect("location").to_owned();
    let r = s
        .send(
            "PATCH",
            &loc,
            &[
                ("content-range", "0-0"),
                ("content-type", "application/octet-stream"),
            ],
            Bytes::from_static(b"x"),
        )
        .await;
    match r.status {
        StatusCode::ACCEPTED => Ok(r.header("location").expect("location").to_owned()),
        other => Err(other),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cap_is_enforced_atomically() {
    // The cap is not configurable over HTTP: find it by opening sessions (each with a stored
    // byte) until a 429, free FREED slots, then race 2 * FREED openings for them: exactly
    // FREED may win.
    const BOUND: usize = 10_000;
    const FREED: usize = 300;
    // 600 connections at once, each end in this process.
    #[cfg(unix)]
    process::raise_nofile_limit();
    let s = common::start().await;
    let repo = "sessions/cap";
    let mut open = Vec::new();
    let cap = loop {
        match open_with_a_byte(&s, repo).await {
            Ok(loc) => open.push(loc),
            Err(StatusCode::TOO_MANY_REQUESTS) => break open.len(),
            Err(other) => panic!("opening session {}: {other}", open.len()),
        }
        assert!(
            open.len() <= BOUND,
            "no 429 after {BOUND} open sessions: this test assumes a session cap below that"
        );
    };
    println!("session cap: {cap}");
    assert!(cap > FREED, "cap {cap} too small for this test");
    // At the cap, a new start is refused at once, before any byte.
    let r = s.empty("POST", &format!("/v2/{repo}/blobs/uploads/")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "POST at the cap");
    for loc in open.drain(..FREED) {
        let r = s.empty("DELETE", &loc).await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "DELETE {loc}: {:?}",
            r.body
        );
    }
    let results =
        futures_util::future::join_all((0..2 * FREED).map(|_| open_with_a_byte(&s, repo))).await;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| **r == Err(StatusCode::TOO_MANY_REQUESTS))
        .count();
    assert_eq!(
        (accepted, refused),
        (FREED, FREED),
        "{} concurrent openings for {FREED} free slots under a cap of {cap}: {accepted} \
         accepted, {refused} refused with 429",
        2 * FREED
    );
}

/// A session that has received no byte is not stored (its id says what it is), yet every
/// process sharing the storage knows it, it survives a restart, and once cancelled or
/// completed after stored bytes its id is unknown to every process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstored_sessions_are_known_everywhere_and_close_everywhere() {
    let root = tempfile::tempdir().expect("tempdir");
    let repo = "sessions/unstored";
    let a = RegistryProcess::start(root.path());
    let b = RegistryProcess::start(root.path());
    let (ca, cb) = (a.client(), b.client());
    let uploads = root.path().join("uploads");
    let records = || {
        std::fs::read_dir(&uploads)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0)
    };

    // Started on A: nothing stored, B answers for it, and B finishes it in one PUT.
    let data = pattern(4096, 7);
    let loc = ca.start_upload(repo).await;
    assert_eq!(records(), 0, "a session with no byte stores no record");
    let loc = status_ok_or_empty(&cb, &loc).await;
    finish_ok(&cb, repo, &loc, &data, &data, "PUT of the whole blob on B").await;
    assert_blob(&ca, repo, &data, "from A").await;
    let r = cb.get(&loc).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "GET on B after B finished it"
    );
    assert_eq!(
        records(),
        0,
        "finishing an unstored session stores no record"
    );

    // Cancelled on B before any byte: unknown on A too (a closed marker).
    let loc = ca.start_upload(repo).await;
    let r = cb.send("DELETE", &loc, &[], Bytes::new()).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "DELETE on B: {:?}",
        r.body
    );
    for (c, what) in [(&ca, "A"), (&cb, "B")] {
        let r = c.get(&loc).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "GET on {what} after cancel"
        );
        let r = c.patch(&loc, 0, Bytes::from_static(b"late")).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "PATCH on {what} after cancel"
        );
        let r = c
            .finish(&loc, &common::sha256(b"late"), Bytes::from_static(b"late"))
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "PUT on {what} after cancel"
        );
    }

    // Chunked: PATCH on A stores it; PUT on B completes it; both then answer 404.
    let data = pattern(MIB + 17, 8);
    let (x, y) = data.split_at(MIB);
    let loc = cb.start_upload(repo).await;
    let loc = patch_ok(&ca, &loc, 0, x, "PATCH on A").await;
    finish_ok(&cb, repo, &loc, &data, y, "PUT on B").await;
    for (c, what) in [(&ca, "A"), (&cb, "B")] {
        let r = c.get(&loc).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "GET on {what} after completion"
        );
        let r = c
            .finish(&loc, &common::sha256(y), Bytes::copy_from_slice(y))
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "PUT on {what} after completion"
        );
    }

    // Another repository's id is unknown.
    let loc = ca.start_upload(repo).await;
    let other = loc.replace(repo, "sessions/elsewhere");
    let r = cb.get(&other).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "an id used in another repository"
    );

    // Started before a restart of both, finished after.
    drop((a, b));
    let a = RegistryProcess::start(root.path());
    let data = pattern(999, 9);
    finish_ok(&a.client(), repo, &loc, &data, &data, "PUT after a restart").await;
}

/// Eight first PATCHes of one unstored session at once, a hundred times: the session is stored by
/// exactly one of them (one 202, the rest 416), never a 5xx from a record read while another
/// request creates it, and the bytes of the one accepted are what the session completes with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_patches_store_a_session_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let registry = RegistryProcess::start(root.path());
    let s = registry.client();
    let chunk = Bytes::from(pattern(256 * 1024, 21));
    let digest = common::sha256(&chunk);
    let range = format!("0-{}", chunk.len() - 1);
    let headers = [
        ("content-type", "application/octet-stream"),
        ("content-range", range.as_str()),
    ];
    for round in 0..100 {
        let loc = s.start_upload("sessions/race").await;
        let patches = (0..8).map(|_| s.send("PATCH", &loc, &headers, chunk.clone()));
        let mut statuses: Vec<u16> = futures_util::future::join_all(patches)
            .await
            .iter()
            .map(|r| r.status.as_u16())
            .collect();
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [202, 416, 416, 416, 416, 416, 416, 416],
            "round {round}"
        );
        let r = s.finish(&loc, &digest, Bytes::new()).await;
        assert_eq!(r.status, StatusCode::CREATED, "round {round}: {:?}", r.body);
    }
}
