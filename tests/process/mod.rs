//! The standalone registry (the `registry` example of the repository's examples package,
//! <https://github.com/tower-oci/tower-oci/blob/main/examples/registry.rs>) as a real child
//! process on 127.0.0.1 (an OS-chosen port), and a small HTTP client for any address. The
//! examples are not part of the published crate: these tests need a checkout of the repository.
#![allow(dead_code)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::common::Reply;

/// Generous bound for one request: only there to turn a hang into a failure.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `target/<profile>/examples/registry`, (re)built once per test process.
pub fn registry_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert!(
            manifest_dir.join("examples").join("Cargo.toml").exists(),
            "this test runs the registry example, which the published crate does not contain: \
             run it in a checkout of https://github.com/tower-oci/tower-oci"
        );
        let exe = std::env::current_exe().expect("current_exe");
        // target/debug/deps/<test>-<hash> -> target/debug/examples/registry
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let bin = profile_dir
            .join("examples")
            .join(format!("registry{}", std::env::consts::EXE_SUFFIX));
        // Always ask cargo: `cargo test --test <name>` does not rebuild examples, and a stale
        // binary would test old code. A no-op when it is fresh.
        {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "--quiet", "--example", "registry"]);
            // Build the example with the features this test was built with: `cargo test
            // --features object-store` built it that way, and a plain build would replace it
            // (and `auth` turns on the example's authentication flags).
            let features: Vec<&str> = [
                ("object-store", cfg!(feature = "object-store")),
                ("auth", cfg!(feature = "auth")),
                ("metrics", cfg!(feature = "metrics")),
            ]
            .into_iter()
            .filter_map(|(name, on)| on.then_some(name))
            .collect();
            if !features.is_empty() {
                cmd.args(["--features", &features.join(",")]);
            }
            if profile_dir.file_name().is_some_and(|p| p == "release") {
                cmd.arg("--release");
            }
            // Cargo sets CARGO_MANIFEST_DIR, CARGO_PKG_NAME, ... for the test; ring's build
            // script tracks some (rerun-if-env-changed), so passing them on rebuilt ring and
            // everything above it (~50 s) whenever a test and a plain `cargo build` took turns.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy().into_owned();
                let set_for_tests = name.starts_with("CARGO_PKG_")
                    || name.starts_with("CARGO_MANIFEST_")
                    || matches!(
                        name.as_str(),
                        "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR"
                    );
                if set_for_tests {
                    cmd.env_remove(name);
                }
            }
            let status = cmd
                .current_dir(manifest_dir)
                .status()
                .expect("run cargo build --example registry");
            assert!(status.success(), "cargo build --example registry failed");
        }
        assert!(bin.exists(), "no registry example at {}", bin.display());
        bin
    })
    .clone()
}

/// A running `registry` example. Dropping it kills it (SIGKILL) and reaps it.
pub struct RegistryProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub root: PathBuf,
    /// Everything the registry wrote to stderr so far (its log).
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl RegistryProcess {
    /// Starts the registry on `root` with `--no-fsync`.
    pub fn start(root: &Path) -> RegistryProcess {
        RegistryProcess::start_with(root, &["--no-fsync"])
    }

    /// Starts the registry on `root` with these extra flags; waits for its address line.
    pub fn start_with(root: &Path, extra: &[&str]) -> RegistryProcess {
        RegistryProcess::try_start_with(root, extra, &[]).unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`RegistryProcess::start_with`] with environment variables (`RUST_LOG`, say), or `Err`
    /// with the registry's exit status and stderr if it exits before it listens.
    pub fn try_start_with(
        root: &Path,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Result<RegistryProcess, String> {
        let mut args: Vec<&std::ffi::OsStr> = vec!["--root".as_ref(), root.as_os_str()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        RegistryProcess::spawn(&args, env, root)
    }

    /// Starts the registry with `--storage url` (object storage), these extra flags and
    /// environment variables (the S3 endpoint and credentials, say).
    pub fn start_storage(url: &str, env: &[(String, String)], extra: &[&str]) -> RegistryProcess {
        RegistryProcess::try_start_storage(url, env, extra).unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`RegistryProcess::start_storage`], or `Err` with the registry's exit status and
    /// stderr if it exits before it listens.
    pub fn try_start_storage(
        url: &str,
        env: &[(String, String)],
        extra: &[&str],
    ) -> Result<RegistryProcess, String> {
        let mut args: Vec<&std::ffi::OsStr> = vec!["--storage".as_ref(), url.as_ref()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        RegistryProcess::spawn(&args, env, Path::new(""))
    }

    fn spawn(
        args: &[&std::ffi::OsStr],
        env: &[(String, String)],
        root: &Path,
    ) -> Result<RegistryProcess, String> {
        let mut child = Command::new(registry_binary())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn registry");
        // Stderr is passed on to ours (as inherited stderr would be) and kept, so a failed
        // start can say why.
        let stderr = child.stderr.take().expect("stderr");
        let kept = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let kept2 = kept.clone();
        let err_thread = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let mut k = kept2.lock().unwrap();
                k.push_str(&line);
                k.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address line, then keeps draining stdout so the child never hits EPIPE.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut tx = Some(tx);
            while let Some(Ok(line)) = lines.next() {
                let rest = line
                    .strip_prefix("registry listening on http://")
                    .or_else(|| line.strip_prefix("registry listening on https://"));
                if let Some(rest) = rest {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(REQUEST_TIMEOUT) {
            Ok(addr) => addr,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // Stdout closed before the address line: the registry exited.
                let status = child.wait().expect("wait registry");
                let _ = err_thread.join();
                let stderr = kept.lock().unwrap().clone();
                return Err(format!(
                    "registry exited during startup ({status}); stderr:\n{stderr}"
                ));
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "registry did not print its address within {REQUEST_TIMEOUT:?}"
                ));
            }
        };
        let addr: SocketAddr = addr.parse().expect("registry address");
        Ok(RegistryProcess {
            child,
            addr,
            root: root.to_owned(),
            stderr: kept,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9` and reap.
    pub fn sigkill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn client(&self) -> Remote {
        Remote::new(self.addr)
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// An HTTP/1.1 client for one address.
#[derive(Clone)]
pub struct Remote {
    pub addr: SocketAddr,
    client: Client<HttpConnector, BoxBody<Bytes, Infallible>>,
}

impl Remote {
    pub fn new(addr: SocketAddr) -> Remote {
        Remote {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends a request (`path` may carry a query); panics on a transport error or after
    /// [`REQUEST_TIMEOUT`].
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let req = builder
            .body(Full::new(body.into()).boxed())
            .expect("request");
        let what = format!("{method} {path}");
        let fut = async {
            let res = self.client.request(req).await.expect("request failed");
            Reply::read(res).await
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within {REQUEST_TIMEOUT:?}"))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], Bytes::new()).await
    }

    /// `POST /v2/<repo>/blobs/uploads/`; asserts 202 and returns the Location.
    pub async fn start_upload(&self, repo: &str) -> String {
        let r = self
            .send(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/"),
                &[],
                Bytes::new(),
            )
            .await;
        assert_eq!(
            r.status,
            http::StatusCode::ACCEPTED,
            "POST upload: {:?}",
            r.body
        );
        r.header("location").expect("location").to_owned()
    }

    /// PATCHes `data` at `offset` into the session at `location`.
    pub async fn patch(&self, location: &str, offset: u64, data: Bytes) -> Reply {
        let range = format!("{}-{}", offset, offset + data.len() as u64 - 1);
        let len = data.len().to_string();
        self.send(
            "PATCH",
            location,
            &[
                ("content-type", "application/octet-stream"),
                ("content-range", &range),
                ("content-length", &len),
            ],
            data,
        )
        .await
    }

    /// `PUT <location>?digest=<digest>` with an optional final chunk.
    pub async fn finish(&self, location: &str, digest: &str, last: Bytes) -> Reply {
        let sep = if location.contains('?') { '&' } else { '?' };
        let len = last.len().to_string();
        self.send(
            "PUT",
            &format!("{location}{sep}digest={digest}"),
            &[
                ("content-type", "application/octet-stream"),
                ("content-length", &len),
            ],
            last,
        )
        .await
    }

    /// Single-request push (`POST ?digest=`); asserts 201 and returns the digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = crate::common::sha256(data);
        let r = self
            .send(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                &[("content-type", "application/octet-stream")],
                Bytes::copy_from_slice(data),
            )
            .await;
        assert_eq!(
            r.status,
            http::StatusCode::CREATED,
            "push_blob: {:?}",
            r.body
        );
        digest
    }
}

/// Raises this process's RLIMIT_NOFILE soft limit to the hard limit (children inherit it);
/// returns the soft limit now in force.
// `rlim_t` is not `u64` on every Unix.
#[allow(clippy::unnecessary_cast)]
#[cfg(unix)]
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read/write the struct passed in.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let mut raised = lim;
            // An unlimited hard limit cannot be the soft limit for files (nr_open caps it).
            raised.rlim_cur = lim.rlim_max.min(1 << 20);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur as u64;
            }
        }
        lim.rlim_cur as u64
    }
}

/// Deterministic, non-repeating-looking test bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Reads one response head; returns its status (0 if unreadable) and its `Location`.
/// `Err` when the connection closes first.
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(
    io: &mut S,
) -> std::io::Result<(u16, Option<String>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::io::AsyncReadExt::read(io, &mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            return Err(std::io::Error::other("response head too long"));
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("location")
            .then(|| v.trim().to_owned())
    });
    Ok((status, location))
}
