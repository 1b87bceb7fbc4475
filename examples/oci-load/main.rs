//! `oci-load`: a load generator for any OCI Distribution registry (plain HTTP).
//!
//! ```text
//! cargo run --release --example oci-load -- push --url http://127.0.0.1:5000 --size 256MiB --count 8
//! cargo run --release --example oci-load -- manifest-get --clients 32 --duration 10
//! cargo run --release --example oci-load -- hash-rate
//! ```
//!
//! Each client owns one HTTP/1.1 keep-alive connection and runs operations one after another
//! until `--count` operations have been started in total or `--duration` has passed. Whatever a
//! workload reads (a blob to pull, a manifest to fetch, tags to list) is pushed before the clock
//! starts. Every operation is checked: pushes against the registry's `Docker-Content-Digest`,
//! pulls by hashing (or comparing) the body.

mod client;
mod content;
mod report;
mod workloads;

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use client::{fail, Conn, Error, Target};
use content::Content;
use report::{size_text, HashRate, Latency, Report};
use tower_oci::protocol::{Algorithm, Hasher};
use workloads::{Plan, PushMode, Verify, Workload};

const USAGE: &str = "\
usage: oci-load <workload> [options]
       oci-load hash-rate [--size N] [--json]
       oci-load table OURS.jsonl THEIRS.jsonl

workloads:
  push           monolithic blob push (--mode post-put: POST then PUT with the body, the default;
                 --mode single: one POST ?digest= carrying the body)
  push-small     push with --size 1KiB by default (use --clients 16)
  push-chunked   POST, PATCHes of --chunk-size with Content-Range, PUT ?digest=
  pull           GET of a blob pushed during setup
  pull-range     GET with Range of --range-size bytes at varying offsets of that blob
  manifest-get   GET of a manifest pushed during setup, by tag (or --by digest)
  manifest-head  HEAD of the same
  tags-list      GET /v2/<repo>/tags/list of a repository with --tags tags
  hash-rate      in-memory sha256 and sha512 rate of one core, no network

options:
  --url URL          registry base URL, http only     [http://127.0.0.1:5000]
  --repo NAME        repository                       [oci-load/bench]
  --size N           blob size (B, KiB, MiB, GiB)      [64MiB; push-small 1KiB; hash-rate 1GiB]
  --count N          operations in total, all clients [16 for blobs >= 1MiB, else 100000]
  --clients N        concurrent clients, one connection each  [1]
  --duration SECS    stop starting operations after this  [30]
  --chunk-size N     PATCH size for push-chunked      [8MiB]
  --range-size N     bytes per Range request          [1MiB]
  --mode MODE        push mode: post-put | single     [post-put]
  --tags N           tags to create for tags-list     [100]
  --by REF           manifest reference: tag | digest [tag]
  --verify HOW       pulled bodies: hash | bytes | none  [hash]
                     (bytes compares with the known content: same check, far less client CPU)
  --threads N        tokio worker threads             [available cores]
  --label TEXT       name of this run in the output   [workload name]
  --json             print one JSON object instead of the table
  --quiet            no progress line on stderr
";

/// Parsed command line.
#[derive(Debug)]
struct Options {
    workload: Workload,
    url: String,
    repo: String,
    size: u64,
    count: u64,
    clients: u64,
    duration: Duration,
    chunk_size: u64,
    range_size: u64,
    tag_count: u64,
    by_digest: bool,
    verify: Verify,
    threads: usize,
    label: String,
    json: bool,
    quiet: bool,
}

#[derive(Debug)]
enum Command {
    Help,
    Run(Box<Options>),
    HashRate { size: u64, json: bool },
    Table { ours: String, theirs: String },
}

/// `256MiB`, `1KiB`, `8M`, `1000`, `1GB` (decimal units end in B without i).
fn parse_size(text: &str) -> Result<u64, Error> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| fail(format!("bad size {text:?}")))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(fail(format!("bad size unit in {text:?}"))),
    };
    n.checked_mul(mult)
        .ok_or_else(|| fail(format!("size {text:?} too large")))
}

fn parse_number(text: &str, what: &str) -> Result<u64, Error> {
    text.parse()
        .map_err(|_| fail(format!("{what}: not a number: {text:?}")))
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, Error> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Command::Help);
    };
    let mut positional = Vec::new();
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut json = false;
    let mut quiet = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--quiet" | "-q" => quiet = true,
            "-h" | "--help" => return Ok(Command::Help),
            a if a.starts_with("--") => {
                let (name, value) = match a.split_once('=') {
                    Some((n, v)) => (n.to_owned(), v.to_owned()),
                    None => {
                        let v = args
                            .next()
                            .ok_or_else(|| fail(format!("{a} needs a value")))?;
                        (a.to_owned(), v)
                    }
                };
                flags.push((name, value));
            }
            _ => positional.push(arg),
        }
    }
    let flag = |name: &str| {
        flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let known = [
        "--url",
        "--repo",
        "--size",
        "--count",
        "--clients",
        "--duration",
        "--chunk-size",
        "--range-size",
        "--mode",
        "--tags",
        "--by",
        "--verify",
        "--threads",
        "--label",
    ];
    if let Some((name, _)) = flags.iter().find(|(n, _)| !known.contains(&n.as_str())) {
        return Err(fail(format!("unknown option {name}")));
    }
    match command.as_str() {
        "help" | "-h" | "--help" => return Ok(Command::Help),
        "hash-rate" => {
            let size = flag("--size").map_or(Ok(1 << 30), parse_size)?;
            return Ok(Command::HashRate { size, json });
        }
        "table" => {
            let [ours, theirs] = <[String; 2]>::try_from(positional)
                .map_err(|_| fail("table needs two files: OURS THEIRS"))?;
            return Ok(Command::Table { ours, theirs });
        }
        _ => {}
    }
    if let Some(p) = positional.first() {
        return Err(fail(format!("unexpected argument {p:?}")));
    }
    let mode = match flag("--mode").unwrap_or("post-put") {
        "post-put" => PushMode::PostPut,
        "single" => PushMode::Single,
        m => {
            return Err(fail(format!(
                "--mode must be post-put or single, not {m:?}"
            )))
        }
    };
    let (workload, default_size) = match command.as_str() {
        "push" => (Workload::Push(mode), 64 << 20),
        "push-small" => (Workload::Push(mode), 1 << 10),
        "push-chunked" => (Workload::PushChunked, 64 << 20),
        "pull" => (Workload::Pull, 64 << 20),
        "pull-range" => (Workload::PullRange, 64 << 20),
        "manifest-get" => (Workload::ManifestGet, 0),
        "manifest-head" => (Workload::ManifestHead, 0),
        "tags-list" => (Workload::TagsList, 0),
        other => return Err(fail(format!("unknown workload {other:?}"))),
    };
    let size = flag("--size").map_or(Ok(default_size), parse_size)?;
    let default_count = if size >= 1 << 20 { 16 } else { 100_000 };
    let count = flag("--count").map_or(Ok(default_count), |v| parse_number(v, "--count"))?;
    let clients = flag("--clients").map_or(Ok(1), |v| parse_number(v, "--clients"))?;
    if clients == 0 || clients > 10_000 {
        return Err(fail("--clients must be 1..=10000"));
    }
    let duration_secs: f64 = flag("--duration")
        .unwrap_or("30")
        .parse()
        .map_err(|_| fail("--duration: not a number of seconds"))?;
    if !(duration_secs > 0.0 && duration_secs <= 86_400.0) {
        return Err(fail("--duration must be in (0, 86400] seconds"));
    }
    let verify = match flag("--verify").unwrap_or("hash") {
        "hash" => Verify::Hash,
        "bytes" => Verify::Bytes,
        "none" => Verify::None,
        v => {
            return Err(fail(format!(
                "--verify must be hash, bytes or none, not {v:?}"
            )))
        }
    };
    let by_digest = match flag("--by").unwrap_or("tag") {
        "tag" => false,
        "digest" => true,
        v => return Err(fail(format!("--by must be tag or digest, not {v:?}"))),
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = flag("--threads").map_or(Ok(cores as u64), |v| parse_number(v, "--threads"))?;
    let range_size = flag("--range-size").map_or(Ok(1 << 20), parse_size)?;
    if workload == Workload::PullRange && (range_size == 0 || range_size > size) {
        return Err(fail("--range-size must be between 1 and --size"));
    }
    Ok(Command::Run(Box::new(Options {
        workload,
        url: flag("--url").unwrap_or("http://127.0.0.1:5000").to_owned(),
        repo: flag("--repo").unwrap_or("oci-load/bench").to_owned(),
        size,
        count,
        clients,
        duration: Duration::from_secs_f64(duration_secs),
        chunk_size: flag("--chunk-size").map_or(Ok(8 << 20), parse_size)?.max(1),
        range_size,
        tag_count: flag("--tags").map_or(Ok(100), |v| parse_number(v, "--tags"))?,
        by_digest,
        verify,
        threads: threads.clamp(1, 256) as usize,
        label: flag("--label").unwrap_or_default().to_owned(),
        json,
        quiet,
    })))
}

impl Options {
    /// The run's name in the output: `--label`, else the workload.
    fn display_name(&self) -> String {
        if self.label.is_empty() {
            self.workload.name().to_owned()
        } else {
            self.label.clone()
        }
    }
}

/// Counters shared by the clients and the progress line.
#[derive(Debug, Default)]
struct Progress {
    next: AtomicU64,
    ops: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Progress {
    fn error(&self, e: &Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert_with(|| e.to_string());
        }
    }
}

/// One client: its own connection, operations until the shared count or the deadline runs out.
async fn client(
    plan: Arc<Plan>,
    target: Target,
    mut conn: Option<Conn>,
    progress: Arc<Progress>,
    count: u64,
    deadline: Instant,
) -> Vec<u64> {
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let index = progress.next.fetch_add(1, Ordering::Relaxed);
        if index >= count {
            break;
        }
        // Reconnecting is not part of an operation's latency, but it is counted.
        if conn.as_ref().is_none_or(Conn::is_closed) {
            match Conn::connect(&target).await {
                Ok(c) => {
                    progress.reconnects.fetch_add(1, Ordering::Relaxed);
                    conn = Some(c);
                }
                Err(e) => {
                    progress.error(&e);
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let started = Instant::now();
        match workloads::run(&plan, c, index).await {
            Ok(bytes) => {
                latencies.push(started.elapsed().as_nanos() as u64);
                progress.ops.fetch_add(1, Ordering::Relaxed);
                progress.bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(e) => {
                progress.error(&e);
                // The connection may be mid-message; never reuse it.
                conn = None;
            }
        }
    }
    latencies
}

/// Prints a progress line to stderr until `done` is set.
async fn show_progress(progress: Arc<Progress>, done: Arc<AtomicBool>, name: String) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty { 1.0 } else { 5.0 };
    let start = Instant::now();
    let mut printed = false;
    let mut next_print = every;
    while !done.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let secs = start.elapsed().as_secs_f64();
        if secs < next_print || done.load(Ordering::Relaxed) {
            continue;
        }
        next_print += every;
        let ops = progress.ops.load(Ordering::Relaxed);
        let mb = progress.bytes.load(Ordering::Relaxed) as f64 / 1e6;
        let line = format!(
            "[{name}] {secs:6.1}s  ops {ops}  {:.1} MB/s  {:.1} ops/s  errors {}",
            mb / secs,
            ops as f64 / secs,
            progress.errors.load(Ordering::Relaxed)
        );
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
        printed = true;
    }
    if printed && tty {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
}

async fn run(opts: &Options) -> Result<Report, Error> {
    let target = Target::parse(&opts.url)?;
    let nonce = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 40);
    let blob_size = match opts.workload {
        Workload::ManifestGet | Workload::ManifestHead | Workload::TagsList => 0,
        _ => opts.size,
    };
    // Hashing the shared part of large blobs takes a moment; keep it off the async threads.
    let content = tokio::task::spawn_blocking(move || Content::new(blob_size, nonce)).await?;
    let mut plan = Plan {
        workload: opts.workload,
        repo: opts.repo.clone(),
        content,
        chunk_size: opts.chunk_size,
        range_size: opts.range_size,
        verify: opts.verify,
        tag_count: opts.tag_count,
        by_digest: opts.by_digest,
        nonce,
        pull_blob: None,
        manifest: None,
    };
    let mut conns = Vec::new();
    for _ in 0..opts.clients {
        conns.push(
            Conn::connect(&target)
                .await
                .map_err(|e| fail(format!("cannot connect to {}: {e}", target.authority)))?,
        );
    }
    if let Some(first) = conns.first_mut() {
        workloads::setup(&mut plan, first).await?;
    }
    let plan = Arc::new(plan);
    let progress = Arc::new(Progress::default());
    let name = opts.display_name();
    let done = Arc::new(AtomicBool::new(false));
    let reporter = (!opts.quiet).then(|| {
        tokio::spawn(show_progress(
            Arc::clone(&progress),
            Arc::clone(&done),
            name.clone(),
        ))
    });

    let start = Instant::now();
    let deadline = start + opts.duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            tokio::spawn(client(
                Arc::clone(&plan),
                target.clone(),
                Some(conn),
                Arc::clone(&progress),
                opts.count,
                deadline,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    let seconds = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    if let Some(r) = reporter {
        let _ = r.await;
    }

    let ops = progress.ops.load(Ordering::Relaxed);
    let bytes = progress.bytes.load(Ordering::Relaxed);
    let first_error = progress.first_error.lock().ok().and_then(|e| e.clone());
    Ok(Report {
        label: name,
        workload: opts.workload.name().to_owned(),
        url: opts.url.clone(),
        clients: opts.clients,
        size: match opts.workload {
            Workload::PullRange => opts.range_size,
            Workload::ManifestGet | Workload::ManifestHead | Workload::TagsList => 0,
            _ => opts.size,
        },
        chunk_size: (opts.workload == Workload::PushChunked).then_some(opts.chunk_size),
        verify: match opts.workload {
            Workload::Pull | Workload::PullRange => format!("{:?}", opts.verify).to_lowercase(),
            _ => "digest".to_owned(),
        },
        ops,
        errors: progress.errors.load(Ordering::Relaxed),
        reconnects: progress.reconnects.load(Ordering::Relaxed),
        bytes,
        seconds,
        mb_per_s: bytes as f64 / 1e6 / seconds,
        ops_per_s: ops as f64 / seconds,
        latency_ms: Latency::of(latencies),
        first_error,
    })
}

/// One core hashing an in-memory buffer: the ceiling for any registry that hashes what it stores.
fn hash_rate(total: u64) -> HashRate {
    let buf = content::pattern(1);
    let rate = |algorithm: Algorithm| {
        let mut best = 0.0f64;
        for _ in 0..3 {
            let start = Instant::now();
            let mut hasher = Hasher::new(algorithm);
            let mut done = 0;
            while done < total {
                let n = (total - done).min(buf.len() as u64) as usize;
                hasher.update(buf.get(..n).unwrap_or_default());
                done += n as u64;
            }
            std::hint::black_box(hasher.finalize());
            best = best.max(total as f64 / 1e6 / start.elapsed().as_secs_f64());
        }
        best
    };
    HashRate {
        workload: "hash-rate".to_owned(),
        bytes: total,
        sha256_mb_per_s: rate(Algorithm::Sha256),
        sha512_mb_per_s: rate(Algorithm::Sha512),
    }
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oci-load: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Table { ours, theirs } => match report::compare(&ours, &theirs) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("oci-load: {e}");
                ExitCode::FAILURE
            }
        },
        Command::HashRate { size, json } => {
            let rate = hash_rate(size.max(1));
            if json {
                println!("{}", serde_json::to_string(&rate).unwrap_or_default());
            } else {
                println!(
                    "in-memory hash rate, one core, {}: sha256 {:.0} MB/s, sha512 {:.0} MB/s",
                    size_text(rate.bytes),
                    rate.sha256_mb_per_s,
                    rate.sha512_mb_per_s
                );
            }
            ExitCode::SUCCESS
        }
        Command::Run(opts) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(opts.threads)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("oci-load: cannot start tokio: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(&opts)) {
                Ok(report) => {
                    if opts.json {
                        println!("{}", serde_json::to_string(&report).unwrap_or_default());
                    } else {
                        print!("{}", report::table(std::slice::from_ref(&report)));
                    }
                    if report.errors > 0 {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("oci-load: {e}");
                    if opts.json {
                        // One line per run even when setup fails, so comparisons show the failure.
                        let failed = Report {
                            label: opts.display_name(),
                            workload: opts.workload.name().to_owned(),
                            url: opts.url.clone(),
                            clients: opts.clients,
                            size: opts.size,
                            errors: 1,
                            first_error: Some(e.to_string()),
                            ..Report::default()
                        };
                        println!("{}", serde_json::to_string(&failed).unwrap_or_default());
                    }
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Command, Error> {
        parse_args(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("1KiB").unwrap(), 1024);
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("17").unwrap(), 17);
        assert!(parse_size("1.5MiB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn options_and_defaults() {
        let Command::Run(o) = args("push --size=256MiB --clients 2 --mode single --json").unwrap()
        else {
            panic!("not a run");
        };
        assert_eq!(o.workload, Workload::Push(PushMode::Single));
        assert_eq!(
            (o.size, o.clients, o.count, o.json),
            (256 << 20, 2, 16, true)
        );
        let Command::Run(o) = args("push-small").unwrap() else {
            panic!("not a run");
        };
        assert_eq!((o.size, o.count), (1024, 100_000));
        assert!(args("push --bogus 1").is_err());
        assert!(args("push --clients 0").is_err());
        assert!(args("push --duration -1").is_err());
        assert!(args("frobnicate").is_err());
        assert!(args("pull-range --size 1KiB --range-size 2KiB").is_err());
        assert!(matches!(args("table a b").unwrap(), Command::Table { .. }));
        assert!(args("table a").is_err());
    }
}
