//! Shared by the examples (this folder is not an example itself): command-line flags, the
//! server loop, and the shutdown signal.
//!
//! `tests/passthrough.rs` includes this file with `#[path]`, so its TLS-probe and graceful
//! shutdown tests exercise exactly these builder settings and this accept loop.
#![allow(dead_code)] // each example uses a different part

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Service;
use tower_oci::BoxError;

/// Raises this process's open-file soft limit to its hard limit, as Go's runtime does at start:
/// every connection and every blob being read or written holds a descriptor, and the common
/// soft limit of 1,024 would otherwise cap a registry at a few hundred clients. Returns the
/// limit now in force (`None` when it could not be read).
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    // `None` is "unlimited"; Linux never reports it for open files, so only raise to a number.
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum) {
        if current < maximum {
            limit.current = Some(maximum);
            if setrlimit(Resource::Nofile, limit).is_err() {
                return getrlimit(Resource::Nofile).current;
            }
        }
    }
    limit.current
}

/// How long in-flight connections may keep running after a shutdown signal.
pub const GRACE_PERIOD: Duration = Duration::from_secs(10);

/// The flags every example takes.
#[derive(Debug)]
pub struct Args {
    /// `--listen ADDR`, default `127.0.0.1:5000`.
    pub listen: SocketAddr,
    /// `--root DIR` or `--storage file:///DIR`, default `./registry-data`.
    pub root: PathBuf,
    /// `false` with `--no-fsync`.
    pub durable: bool,
    /// `--storage URL` with an object-store URL (`s3://bucket/prefix`, `gs://…`, `az://…`):
    /// blobs and metadata go there instead of under `root`. Only `examples/registry` serves it.
    pub object_storage: Option<String>,
    /// `--upload-lease SECS` (object storage only): how long a replica holds an upload session
    /// it is writing before another replica may take it over.
    pub upload_lease: Option<Duration>,
}

/// URL schemes served by object storage (`--features object-store`).
/// `memory:///` is a fresh in-process store (one process only: for trying things out).
pub const OBJECT_STORE_SCHEMES: &[&str] =
    &["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "memory"];

impl Args {
    /// Where the data lives, for the "listening on" line.
    pub fn storage_display(&self) -> String {
        match &self.object_storage {
            Some(url) => url.clone(),
            None => self.root.display().to_string(),
        }
    }
}

impl Args {
    /// Parses the process arguments; prints help and exits on `--help` or a bad flag.
    pub fn parse(example: &str, about: &str) -> Args {
        let usage = format!(
            "{about}\n\n\
             Usage: cargo run --release --example {example} -- [--listen ADDR] [--root DIR | --storage URL] [--no-fsync] [--upload-lease SECS]\n\n\
             Options:\n  \
             --listen ADDR        address to listen on [default: 127.0.0.1:5000]\n  \
             --root DIR           where blobs and manifests are stored on local disk [default: ./registry-data]\n  \
             --storage URL        file:///DIR (the same as --root DIR), or object storage (registry example,\n                       \
             --features object-store): s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX;\n                       \
             endpoint and credentials from the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)\n  \
             --no-fsync           don't fsync writes: faster, but a crash can lose acknowledged pushes\n  \
             --upload-lease SECS  object storage: how long a replica holds an upload it is writing\n  \
             -h, --help           print this help"
        );
        match Args::try_parse(std::env::args().skip(1)) {
            Ok(Some(args)) if args.object_storage.is_some() && example != "registry" => {
                eprintln!(
                    "error: --storage {}: object storage is served by the registry example only \
                     (cargo run --features object-store --example registry -- --storage URL)",
                    args.storage_display()
                );
                std::process::exit(2)
            }
            Ok(Some(args)) => args,
            Ok(None) => {
                println!("{usage}");
                std::process::exit(0)
            }
            Err(message) => {
                eprintln!("error: {message}\n\n{usage}");
                std::process::exit(2)
            }
        }
    }

    /// `Ok(None)` means `--help`.
    pub fn try_parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
        let mut args = Args {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            root: PathBuf::from("./registry-data"),
            durable: true,
            object_storage: None,
            upload_lease: None,
        };
        let (mut root_given, mut storage_given) = (false, false);
        while let Some(arg) = argv.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            match flag.as_str() {
                "--storage" => {
                    let value = inline
                        .or_else(|| argv.next())
                        .ok_or_else(|| format!("{flag} needs a value"))?;
                    storage_given = true;
                    let (scheme, rest) = value.split_once("://").ok_or_else(|| {
                        format!(
                            "--storage {value:?}: not a URL; give file:///DIR, s3://BUCKET/PREFIX, \
                             gs://BUCKET/PREFIX or az://CONTAINER/PREFIX (or --root DIR)"
                        )
                    })?;
                    let scheme = scheme.to_ascii_lowercase();
                    if scheme == "file" {
                        // file:///DIR (an empty host) or file://localhost/DIR.
                        let path = rest.strip_prefix("localhost").unwrap_or(rest);
                        if !path.starts_with('/') {
                            return Err(format!(
                                "--storage {value:?}: a file URL needs an absolute path (file:///DIR)"
                            ));
                        }
                        args.root = PathBuf::from(path);
                    } else if OBJECT_STORE_SCHEMES.contains(&scheme.as_str()) {
                        if scheme != "memory" && (rest.is_empty() || rest.starts_with('/')) {
                            return Err(format!("--storage {value:?}: no bucket in the URL"));
                        }
                        args.object_storage = Some(value);
                    } else {
                        return Err(format!(
                            "--storage {value:?}: unknown scheme {scheme:?}; expected file, s3, gs or az"
                        ));
                    }
                }
                "--upload-lease" => {
                    let value = inline
                        .or_else(|| argv.next())
                        .ok_or_else(|| format!("{flag} needs a value"))?;
                    let secs: f64 = value
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s > 0.0)
                        .ok_or_else(|| format!("--upload-lease {value:?}: expected seconds > 0"))?;
                    args.upload_lease = Some(Duration::from_secs_f64(secs));
                }
                "--listen" | "--root" => {
                    let value = inline
                        .or_else(|| argv.next())
                        .ok_or_else(|| format!("{flag} needs a value"))?;
                    if flag == "--listen" {
                        args.listen = value
                            .parse()
                            .map_err(|err| format!("--listen {value:?}: {err}"))?;
                    } else {
                        root_given = true;
                        args.root = PathBuf::from(value);
                    }
                }
                "--no-fsync" if inline.is_none() => args.durable = false,
                "-h" | "--help" => return Ok(None),
                _ => return Err(format!("unexpected argument {flag:?}")),
            }
        }
        if root_given && storage_given {
            return Err("give --root DIR or --storage URL, not both".to_owned());
        }
        if args.upload_lease.is_some() && args.object_storage.is_none() {
            return Err(
                "--upload-lease applies to object storage only (--storage s3://…)".to_owned(),
            );
        }
        Ok(Some(args))
    }
}

/// HTTP/1.1, plus HTTP/2 with prior knowledge (`curl --http2-prior-knowledge`).
///
/// The timer turns on hyper's default 30 s header-read timeout, so a client that sends half a
/// request head and goes quiet is dropped. Bytes that aren't HTTP at all (a TLS ClientHello on
/// this plain port) fail the HTTP/1 parser at once: hyper answers `400 Bad Request` and closes.
pub fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Reads of up to 2 MiB (hyper's default cap is about 400 KiB) mean fewer syscalls and larger
    // frames on big pushes: about 10% more throughput with two clients pushing 64 MiB blobs
    // (bench figures in BENCHMARKS.md). A connection only grows its buffer while data streams in.
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(2 * 1024 * 1024);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Serves `svc` on `listener` until `shutdown` completes, then stops accepting and gives open
/// connections [`GRACE_PERIOD`] to finish (idle keep-alive connections close at once).
pub async fn serve<S, B>(listener: TcpListener, svc: S, shutdown: impl Future<Output = ()>)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let builder = builder();
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => tcp,
                Err(err) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // TowerToHyperService clones `svc` per request and polls it ready before calling.
        let conn =
            builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(svc.clone()));
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting up to {GRACE_PERIOD:?} for open connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(GRACE_PERIOD) => tracing::warn!("grace period over, dropping the rest"),
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
