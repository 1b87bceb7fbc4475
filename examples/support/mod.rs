//! Shared by the examples (this folder is not an example itself): command-line flags, the
//! server loop with its limits and TLS, and the shutdown signal.
//!
//! The `examples_server` test of the workspace member tools/ includes this file with `#[path]`, so its
//! TLS-probe and graceful shutdown tests exercise exactly these builder settings and this accept
//! loop.
#![allow(dead_code)] // each example uses a different part

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Parser};
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
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

/// Installs the examples' log subscriber: one line per event on stderr, without colours unless
/// stderr is a terminal, filtered by `RUST_LOG` (or `default_filter` when it is unset or
/// invalid). Lines are written by a background thread, so a reader that stops draining stderr
/// costs dropped lines, not a frozen server; keep the returned guard alive until exit, so the
/// last lines are flushed.
pub fn install_log_subscriber(default_filter: &str) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // Lossy: a full queue drops lines rather than stalling requests behind a stuck stderr.
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    guard
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

/// The flags as clap reads them; [`Args`] is what they mean.
#[derive(clap::Args, Debug)]
struct StorageFlags {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
    /// Where blobs and manifests are stored on local disk [default: ./registry-data]
    #[arg(long, value_name = "DIR", conflicts_with = "storage")]
    root: Option<PathBuf>,
    /// file:///DIR (the same as --root DIR), or object storage (registry example,
    /// --features object-store): s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX;
    /// endpoint and credentials from the environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)
    #[arg(long, value_name = "URL", value_parser = parse_storage)]
    storage: Option<Storage>,
    /// Don't fsync writes: faster, but a crash can lose acknowledged pushes
    #[arg(long = "no-fsync", action = ArgAction::SetFalse)]
    durable: bool,
    /// Object storage: how long a replica holds an upload it is writing
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    upload_lease: Option<Duration>,
}

#[derive(Clone, Debug)]
enum Storage {
    Dir(PathBuf),
    Object(String),
}

fn parse_storage(value: &str) -> Result<Storage, String> {
    let (scheme, rest) = value.split_once("://").ok_or_else(|| {
        "not a URL; give file:///DIR, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or \
         az://CONTAINER/PREFIX (or --root DIR)"
            .to_owned()
    })?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "file" {
        // file:///DIR (an empty host) or file://localhost/DIR.
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        if !path.starts_with('/') {
            return Err("a file URL needs an absolute path (file:///DIR)".to_owned());
        }
        Ok(Storage::Dir(PathBuf::from(path)))
    } else if OBJECT_STORE_SCHEMES.contains(&scheme.as_str()) {
        if scheme != "memory" && (rest.is_empty() || rest.starts_with('/')) {
            return Err("no bucket in the URL".to_owned());
        }
        Ok(Storage::Object(value.to_owned()))
    } else {
        Err(format!(
            "unknown scheme {scheme:?}; expected file, s3, gs or az"
        ))
    }
}

/// Seconds > 0, fractions allowed.
fn parse_secs(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "expected seconds > 0".to_owned())
}

impl StorageFlags {
    fn into_args(self) -> Result<Args, String> {
        let mut args = Args {
            listen: self.listen,
            root: self
                .root
                .unwrap_or_else(|| PathBuf::from("./registry-data")),
            durable: self.durable,
            object_storage: None,
            upload_lease: self.upload_lease,
        };
        match self.storage {
            Some(Storage::Dir(dir)) => args.root = dir,
            Some(Storage::Object(url)) => args.object_storage = Some(url),
            None => {}
        }
        if args.upload_lease.is_some() && args.object_storage.is_none() {
            return Err(
                "--upload-lease applies to object storage only (--storage s3://…)".to_owned(),
            );
        }
        Ok(args)
    }
}

#[derive(Parser, Debug)]
#[command(disable_version_flag = true)]
struct ExampleFlags {
    #[command(flatten)]
    storage: StorageFlags,
}

/// What `examples/registry` takes besides [`Args`]: how it serves on a network.
#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key. HTTP/2 and
    /// HTTP/1.1 by ALPN
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, RSA or SEC1)
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A connection must send its first request (TLS handshake included) within this, and each
    /// later HTTP/1.1 request head too; else it is closed
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "30")]
    pub header_timeout: Duration,
    /// A request body that sends nothing for this long is cut (the upload keeps its
    /// acknowledged bytes)
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "60")]
    pub body_timeout: Duration,
    /// Also serve requests naming this host (name or address, optionally :PORT). Bound to
    /// loopback, only loopback names are served unless added; bound elsewhere, any Host is
    /// unless this is given. Repeatable
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// Serve requests from web pages of this origin (scheme://host[:port]); other requests
    /// carrying an Origin header are refused. Repeatable
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Run garbage collection this often (`2s`, `10m`, `1h`, `1d`; `off` or `0`: never). Each
    /// run logs one info line with what it freed
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, default_value = "10m")]
    pub gc_interval: Duration,
    /// Keep unreferenced content touched (pushed, linked, HEADed) within this long: the time
    /// a client has between pushing a blob and the manifest naming it
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub gc_grace: Duration,
    /// Collect without deleting: log what each run would free
    #[arg(long)]
    pub gc_dry_run: bool,
    /// Delete manifests left untagged for this long (never an index's child, never a referrer
    /// whose subject is held). Default: keep them
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub delete_untagged_after: Option<Duration>,
    /// In repositories matching GLOB (`*` within a path component, `**` across), keep only
    /// the N most recently pushed tags (`GLOB=N`). Repeatable; the first match applies
    #[arg(long = "keep-last-tags", value_name = "GLOB=N", value_parser = parse_keep)]
    pub keep_last_tags: Vec<(String, usize)>,
    /// Ask for HTTP Basic credentials checked against this htpasswd file (bcrypt, as
    /// `htpasswd -B` writes; re-read when it changes). Needs --features auth
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Authentication (--features auth)"
    )]
    pub htpasswd: Option<PathBuf>,
    /// Per-repository permissions (one rule a line: `WHO REPOSITORY-GLOB ACTIONS`; see
    /// tower_oci::auth::Policy). Without it, every user of the htpasswd file may do everything
    #[arg(
        long,
        value_name = "FILE",
        requires = "htpasswd",
        help_heading = "Authentication (--features auth)"
    )]
    pub policy: Option<PathBuf>,
    /// Clients without credentials may pull every repository, unless the policy file has
    /// `anonymous` rules: then those decide
    #[arg(
        long,
        requires = "htpasswd",
        help_heading = "Authentication (--features auth)"
    )]
    pub anonymous_pull: bool,
    /// Bearer tokens instead of Basic: the built-in token issuer at /token signs them with
    /// this private key (PEM: PKCS#8 EC P-256/P-384, Ed25519 or RSA, or PKCS#1 RSA) for the
    /// users of --htpasswd, granting what the policy allows
    #[arg(
        long,
        value_name = "PEM",
        requires = "htpasswd",
        help_heading = "Authentication (--features auth)"
    )]
    pub token_key: Option<PathBuf>,
    /// Where clients get tokens (the challenge's realm). With --token-key, defaults to this
    /// server's own URL + /token (give it when clients reach the server under another name)
    #[arg(
        long,
        value_name = "URL",
        help_heading = "Authentication (--features auth)"
    )]
    pub token_realm: Option<String>,
    /// The registry's name in tokens: the challenge's `service` and the `aud` a token must
    /// carry [default with --token-key: tower-oci]
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Authentication (--features auth)"
    )]
    pub token_service: Option<String>,
    /// The `iss` a token must carry [default with --token-key: tower-oci]
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Authentication (--features auth)"
    )]
    pub token_issuer: Option<String>,
    /// Trust an external token server instead: tokens signed by one of these keys (PEM public
    /// keys or certificates, or a JWKS file). Needs --token-realm, --token-service and
    /// --token-issuer
    #[arg(
        long,
        value_name = "PEM_OR_JWKS",
        requires_all = ["token_realm", "token_service", "token_issuer"],
        conflicts_with_all = ["htpasswd", "policy", "anonymous_pull", "token_key"],
        help_heading = "Authentication (--features auth)"
    )]
    pub token_trust: Option<PathBuf>,
    /// Serve Prometheus metrics (text format) at GET /metrics, outside /v2/ (needs the crate
    /// feature `metrics`)
    #[arg(long)]
    pub metrics: bool,
}

impl ServeArgs {
    /// True when any authentication flag is given.
    pub fn wants_auth(&self) -> bool {
        self.htpasswd.is_some()
            || self.policy.is_some()
            || self.anonymous_pull
            || self.token_key.is_some()
            || self.token_realm.is_some()
            || self.token_service.is_some()
            || self.token_issuer.is_some()
            || self.token_trust.is_some()
    }
}

impl ServeArgs {
    /// The garbage collection settings these flags ask for.
    pub fn gc_options(&self) -> tower_oci::gc::GcOptions {
        let mut retention =
            tower_oci::gc::Retention::default().delete_untagged_after(self.delete_untagged_after);
        for (glob, keep) in &self.keep_last_tags {
            retention = retention.keep_last_tags(glob.clone(), *keep);
        }
        tower_oci::gc::GcOptions::default()
            .interval((!self.gc_interval.is_zero()).then_some(self.gc_interval))
            .grace(self.gc_grace)
            .dry_run(self.gc_dry_run)
            .retention(retention)
    }
}

/// `500ms`, `2s`, `10m`, `1h`, `1d`, or plain seconds (`1.5`); zero is allowed.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let (number, unit) = match value.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => value.split_at(at),
        None => (value, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(format!("unknown unit `{unit}` (ms, s, m, h, d)")),
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| Duration::from_secs_f64(n * scale))
        .ok_or_else(|| format!("expected a duration like 2s, 10m or 1h, got `{value}`"))
}

/// A duration, `off` being zero (never).
fn parse_interval(value: &str) -> Result<Duration, String> {
    if value == "off" {
        return Ok(Duration::ZERO);
    }
    parse_duration(value)
}

/// `GLOB=N`.
fn parse_keep(value: &str) -> Result<(String, usize), String> {
    let (glob, n) = value
        .rsplit_once('=')
        .ok_or_else(|| "expected GLOB=N".to_owned())?;
    let n = n.parse().map_err(|_| format!("`{n}` is not a count"))?;
    if glob.is_empty() {
        return Err("empty repository glob".to_owned());
    }
    Ok((glob.to_owned(), n))
}

#[derive(Parser, Debug)]
#[command(disable_version_flag = true)]
struct RegistryFlags {
    #[command(flatten)]
    storage: StorageFlags,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Parses `argv` (without the program name) as `F`: `Ok(None)` is `--help`, `Err` a message.
fn try_parse_flags<F: Parser>(argv: impl Iterator<Item = String>) -> Result<Option<F>, String> {
    match F::try_parse_from(std::iter::once(String::from("example")).chain(argv)) {
        Ok(flags) => Ok(Some(flags)),
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses the process arguments as `F` for example `name`; prints help and exits on `--help`
/// or a bad flag.
fn parse_flags<F: Parser>(name: &'static str, about: &'static str) -> F {
    // The axum example is behind the examples' `axum` feature (it alone needs axum).
    let features = if name == "axum" {
        " --features axum"
    } else {
        ""
    };
    let command = F::command().name(name).about(about).after_help(format!(
        "Run with: cargo run --release --example {name}{features} -- [OPTIONS]"
    ));
    let matches = command.get_matches();
    F::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn exit_with(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

impl Args {
    /// Parses the process arguments; prints help and exits on `--help` or a bad flag.
    pub fn parse(example: &'static str, about: &'static str) -> Args {
        let flags: ExampleFlags = parse_flags(example, about);
        match flags.storage.into_args() {
            Ok(args) if args.object_storage.is_some() => exit_with(&format!(
                "--storage {}: object storage is served by the registry example only \
                 (cargo run --features object-store --example registry -- --storage URL)",
                args.storage_display()
            )),
            Ok(args) => args,
            Err(message) => exit_with(&message),
        }
    }

    /// `Ok(None)` means `--help`.
    pub fn try_parse(argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
        match try_parse_flags::<ExampleFlags>(argv)? {
            Some(flags) => flags.storage.into_args().map(Some),
            None => Ok(None),
        }
    }

    /// The registry example's flags: these and [`ServeArgs`].
    pub fn parse_registry(about: &'static str) -> (Args, ServeArgs) {
        let flags: RegistryFlags = parse_flags("registry", about);
        match flags.storage.into_args() {
            Ok(args) => (args, flags.serve),
            Err(message) => exit_with(&message),
        }
    }

    /// [`Args::parse_registry`] on `argv`; `Ok(None)` means `--help`.
    pub fn try_parse_registry(
        argv: impl Iterator<Item = String>,
    ) -> Result<Option<(Args, ServeArgs)>, String> {
        match try_parse_flags::<RegistryFlags>(argv)? {
            Some(flags) => Ok(Some((flags.storage.into_args()?, flags.serve))),
            None => Ok(None),
        }
    }
}

/// The largest request head taken, in bytes (request line and headers; HTTP/2: the decoded
/// header list). hyper's HTTP/1 parser refuses a head that fills its read buffer (431 and
/// close), so this is also the read buffer's cap (it was 2 MiB for fewer, larger reads on
/// pushes; a quick run of two clients pushing 64 MiB blobs showed no loss at 64 KiB on this
/// shared machine, where runs vary by ±20%).
pub const MAX_HEAD: usize = 64 * 1024;

/// Per HTTP/2 stream, the response bytes hyper queues ahead of a reader that does not read (a
/// stream's share of what one slow reader can hold; hyper's default is 400 KiB).
pub const H2_MAX_SEND_BUF: usize = 64 * 1024;

/// HTTP/2 streams at once per connection (hyper's default, made explicit: it multiplies
/// [`H2_MAX_SEND_BUF`]).
pub const H2_MAX_STREAMS: u32 = 200;

/// HTTP/2 flow-control windows a client may fill before the registry reads (hyper's defaults).
pub const H2_STREAM_WINDOW: u32 = 1024 * 1024;
/// See [`H2_STREAM_WINDOW`].
pub const H2_CONNECTION_WINDOW: u32 = 1024 * 1024;

/// How the server loop serves: TLS or not, and its timeouts.
#[derive(Clone)]
pub struct Serving {
    /// `None`: plain HTTP.
    pub tls: Option<TlsAcceptor>,
    /// See [`ServeArgs::header_timeout`].
    pub header_timeout: Duration,
}

impl Default for Serving {
    fn default() -> Self {
        Serving {
            tls: None,
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// A TLS acceptor for a certificate chain and key in PEM files, offering HTTP/2 and HTTP/1.1
/// by ALPN. rustls on ring.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no CERTIFICATE in the file",
            cert.display()
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// HTTP/1.1, plus HTTP/2 (by ALPN over TLS, with prior knowledge over plain TCP), with the
/// limits that keep a few clients from holding the server:
///
/// - each HTTP/1.1 request head must arrive within `header_timeout` (hyper's header-read
///   timeout; it also closes keep-alive connections idle that long) and fit in [`MAX_HEAD`]
///   bytes (431 and close); HTTP/2 header lists likewise;
/// - a reader that stops reading holds a bounded number of response bytes, whatever the blob
///   size: hyper stops polling a body once [`MAX_HEAD`] bytes are queued on an HTTP/1.1
///   connection, and queues at most [`H2_MAX_SEND_BUF`] per HTTP/2 stream (at most
///   [`H2_MAX_STREAMS`] streams per connection), so what stays is the layer's frame in hand
///   and its read-ahead (1 MiB each): about 2.1 MiB per stalled blob download (measured with
///   200 of them), plus what the kernel's socket buffers hold (up to `tcp_wmem`).
///
/// Bytes that aren't HTTP at all (a TLS ClientHello on this plain port) fail the HTTP/1 parser
/// at once: hyper answers `400 Bad Request` and closes.
pub fn builder(header_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD as u32)
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_send_buf_size(H2_MAX_SEND_BUF)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        // Pings find peers that vanished without closing (their streams would stay open).
        .keep_alive_interval(Duration::from_secs(60));
    builder
}

/// Serves `svc` on `listener` over plain HTTP with the default timeouts; see [`serve_with`].
pub async fn serve<S, B>(listener: TcpListener, svc: S, shutdown: impl Future<Output = ()>)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    serve_with(listener, svc, shutdown, Serving::default()).await
}

/// Serves `svc` on `listener` until `shutdown` completes, then stops accepting and gives open
/// connections [`GRACE_PERIOD`] to finish (idle keep-alive connections close at once).
///
/// A connection must deliver its first request (its TLS handshake, the HTTP/2 preface and the
/// first request head) within `header_timeout` of being accepted, or it is closed: hyper's own
/// header-read timeout starts only once the first bytes are in, so a connection that sends
/// nothing, or less than a preface, would otherwise hold its descriptor for ever.
pub async fn serve_with<S, B>(
    listener: TcpListener,
    svc: S,
    shutdown: impl Future<Output = ()>,
    serving: Serving,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let builder = Arc::new(builder(serving.header_timeout));
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
        // Responses go out when written: with Nagle's algorithm on, a response written as a
        // head and then a body waits for the client's delayed ACK (~40 ms) before its body.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "TCP_NODELAY");
        }
        let deadline = tokio::time::Instant::now() + serving.header_timeout;
        let (builder, tls, svc) = (Arc::clone(&builder), serving.tls.clone(), svc.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(tcp, &builder, svc, watcher, deadline).await,
                Some(acceptor) => {
                    match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            serve_connection(tls, &builder, svc, watcher, deadline).await
                        }
                        Ok(Err(err)) => tracing::debug!(%err, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake not done in time: closed"),
                    }
                }
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

/// Serves one connection; closes it at `deadline` unless a first request has arrived by then.
async fn serve_connection<I, S, B>(
    io: I,
    builder: &auto::Builder<TokioExecutor>,
    svc: S,
    watcher: hyper_util::server::graceful::Watcher,
    deadline: tokio::time::Instant,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let first_request = Arc::new(Notify::new());
    // TowerToHyperService clones `svc` per request and polls it ready before calling.
    let hyper_svc = TowerToHyperService::new(svc);
    let seen = Arc::clone(&first_request);
    let counted = hyper::service::service_fn(move |req: Request<Incoming>| {
        seen.notify_one();
        hyper::service::Service::call(&hyper_svc, req)
    });
    let conn = watcher.watch(
        builder
            .serve_connection(TokioIo::new(io), counted)
            .into_owned(),
    );
    let in_time = async {
        tokio::time::timeout_at(deadline, first_request.notified())
            .await
            .is_ok()
    };
    tokio::select! {
        result = conn => {
            if let Err(err) = result {
                tracing::debug!(%err, "connection ended with an error");
            }
        }
        false = in_time => tracing::debug!("no request in time: connection closed"),
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

/// Keeps transient buffers of up to a few megabytes on glibc's heap instead of mapping and
/// unmapping them, and lets the heap keep up to 16 MiB of freed memory instead of handing it
/// back at once. hyper's receive buffers (up to ~400 KiB each) are freed and allocated again
/// all through a blob push; with glibc's defaults they were given back to the kernel and
/// faulted in (zeroed) again: 100,000 page faults per 2 GiB pushed, 1,700 with these settings,
/// and 10-15% less system CPU (bench: push-256MiB-x1 alternating with and without them).
/// A host that embeds the crate makes this choice for its own process (or uses another
/// allocator); the library cannot.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets glibc's allocator parameters (under its own lock); these two
    // take any non-negative size. Measured reason for the `unsafe`: see above.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
}
