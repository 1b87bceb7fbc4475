//! S3 test servers as child processes on 127.0.0.1: moto (in memory) and s3s-fs (a directory).
//!
//! The repository's https://github.com/tower-oci/tower-oci/blob/main/tests/s3/install.sh installs both under `target/` and prints the
//! `MOTO_SERVER` and `S3S_FS` variables that point here at their binaries. When a variable is unset, [`S3Server::start`]
//! prints "skipped: ..." and returns `None`, except under `CI=true`, where it panics.
//!
//! ```text
//! moto_server -H 127.0.0.1 -p PORT
//! s3s-fs --host 127.0.0.1 --port PORT --access-key AK --secret-key SK ROOT
//! ```
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// moto 5.2.5 (`moto_server`): in memory; accepts any credentials.
    Moto,
    /// s3s-fs 0.14.1: buckets are directories of its root; checks SigV4 against one key pair.
    S3sFs,
}

impl Kind {
    fn var(self) -> &'static str {
        match self {
            Kind::Moto => "MOTO_SERVER",
            Kind::S3sFs => "S3S_FS",
        }
    }
}

pub const ACCESS_KEY: &str = "tower-oci-test";
pub const SECRET_KEY: &str = "tower-oci-test-secret";

/// How long a server may take to answer after it was spawned.
const STARTUP: Duration = Duration::from_secs(30);

/// A running S3 server with one bucket. Dropping it kills the server (SIGKILL, by PID) and
/// removes its directory.
pub struct S3Server {
    pub kind: Kind,
    pub bucket: String,
    pub port: u16,
    binary: PathBuf,
    child: Option<Child>,
    /// s3s-fs's root (its buckets are the directories in it); moto keeps a log here.
    pub dir: tempfile::TempDir,
}

impl S3Server {
    /// Starts `kind` with `bucket` created; `None` (after printing "skipped: ...") when its
    /// binary is not configured, a panic instead under `CI=true`.
    pub fn start(kind: Kind, bucket: &str) -> Option<S3Server> {
        let binary = match std::env::var_os(kind.var()) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => {
                let why = format!(
                    "{} is unset (set it as https://github.com/tower-oci/tower-oci/blob/main/tests/s3/install.sh prints)",
                    kind.var()
                );
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("{kind:?}: {why}");
                }
                eprintln!("skipped: {kind:?}: {why}");
                return None;
            }
        };
        assert!(
            binary.exists(),
            "{}={} does not exist",
            kind.var(),
            binary.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        if kind == Kind::S3sFs {
            std::fs::create_dir_all(dir.path().join("root").join(bucket)).expect("bucket dir");
        }
        let mut server = S3Server {
            kind,
            bucket: bucket.to_owned(),
            port: 0,
            binary,
            child: None,
            dir,
        };
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn() {
                Ok(()) => {
                    if kind == Kind::Moto {
                        server.create_moto_bucket();
                    }
                    return Some(server);
                }
                Err(err) => last = err,
            }
        }
        panic!("{kind:?} did not start: {last}");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3://<bucket>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{}", self.bucket, prefix)
    }

    /// The variables the registry reads its endpoint and credentials from.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// s3s-fs's root directory (the bucket is `root/<bucket>`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Kills the server (SIGKILL) and reaps it; the port and (for s3s-fs) the data stay.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (s3s-fs serves the same directory; moto comes
    /// back empty, with the bucket created again).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + STARTUP;
        loop {
            match self.spawn() {
                Ok(()) => break,
                Err(err) if Instant::now() < deadline => {
                    eprintln!(
                        "{:?} restart on port {}: {err}; retrying",
                        self.kind, self.port
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(err) => panic!(
                    "{:?} did not restart on port {}: {err}",
                    self.kind, self.port
                ),
            }
        }
        if self.kind == Kind::Moto {
            self.create_moto_bucket();
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Spawns on `self.port` and waits until it answers HTTP; `Err` if it exits first or stays
    /// silent (another process took the port, say).
    fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("server log");
        let port = self.port.to_string();
        let mut cmd = Command::new(&self.binary);
        match self.kind {
            Kind::Moto => {
                cmd.args(["-H", "127.0.0.1", "-p", &port]);
            }
            Kind::S3sFs => {
                cmd.args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port,
                    "--access-key",
                    ACCESS_KEY,
                    "--secret-key",
                    SECRET_KEY,
                ])
                .arg(self.root());
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .map_err(|err| format!("spawn {}: {err}", self.binary.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "exited with {status} during startup; log:\n{}",
                    self.log()
                ));
            }
            if http_status(addr, "GET", "/").is_some() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "no answer within {STARTUP:?}; log:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// moto accepts an unsigned `PUT /<bucket>`.
    fn create_moto_bucket(&self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let status = http_status(addr, "PUT", &format!("/{}", self.bucket));
        assert_eq!(status, Some(200), "moto: PUT /{}", self.bucket);
    }

    /// The server's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port the OS just handed out (bound, read, released: another process may take it before
/// the server binds it, which [`S3Server::start`] retries).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// One unsigned HTTP/1.1 request; the status code, or `None` on a connection error.
pub fn http_status(addr: SocketAddr, method: &str, path: &str) -> Option<u16> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match tcp.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let text = std::str::from_utf8(&head[..n]).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// True if `path` looks like a directory s3s-fs would serve as a bucket.
pub fn is_bucket_dir(root: &Path, bucket: &str) -> bool {
    root.join(bucket).is_dir()
}
