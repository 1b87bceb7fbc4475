//! The registry example with authentication over real HTTPS, driven by real clients: a CA and
//! a server certificate made here (rcgen), an htpasswd file made here (bcrypt, as
//! `htpasswd -B` writes), and skopeo and podman logging in and pushing and pulling with Basic
//! and with Bearer tokens from the built-in issuer, trusting the test CA through `--cert-dir`.
//! Also: a wrong password fails `login`, a pull-only user's push fails, expired and
//! other-key tokens get 401 with the right challenge, and an external token server's keys
//! (`--token-trust`) are trusted.
//!
//! A client that is not installed skips its part with a message, or fails the test under
//! `CI=true` (the repository's CI installs skopeo and podman). Every client call is bounded by
//! `timeout`.
#![cfg(all(unix, feature = "auth"))]

mod common;
mod process;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::Reply;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use process::RegistryProcess;
use rustls::pki_types::{CertificateDer, ServerName};
use tower_oci::auth::SigningKey;

/// The most one client command may take (a push or pull of a small image takes ~1 s).
const CLIENT_TIMEOUT: &str = "90";

const POLICY: &str = "\
# alice pushes, bob only pulls; --anonymous-pull lets anyone pull
alice  **  pull,push,delete
bob    **  pull
";

/// A scratch directory with everything a registry with authentication needs: `certs/ca.crt`
/// (the directory clients get as `--cert-dir`), `cert.pem` + `key.pem` (leaf first, then the
/// CA), `htpasswd` (alice/alice-pw, bob/bob-pw), `policy` and `token.pem` (an EC P-256
/// signing key, PKCS#8).
struct Setup {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
    token_key_pem: String,
}

impl Setup {
    fn new() -> Setup {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tower-oci network test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let leaf_key = KeyPair::generate().expect("server key");
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params")
            .signed_by(&leaf_key, &ca)
            .expect("server certificate");
        std::fs::create_dir(path.join("certs")).expect("mkdir certs");
        std::fs::write(path.join("certs/ca.crt"), ca.pem()).expect("write ca.crt");
        std::fs::write(path.join("cert.pem"), format!("{}{}", leaf.pem(), ca.pem()))
            .expect("write cert");
        std::fs::write(path.join("key.pem"), leaf_key.serialize_pem()).expect("write key");

        let line = |user: &str| {
            let hash = bcrypt::hash_with_result(format!("{user}-pw"), 5)
                .expect("bcrypt")
                .format_for_version(bcrypt::Version::TwoY);
            format!("{user}:{hash}\n")
        };
        std::fs::write(path.join("htpasswd"), ["alice", "bob"].map(line).concat())
            .expect("write htpasswd");
        std::fs::write(path.join("policy"), POLICY).expect("write policy");
        let token_key_pem = KeyPair::generate().expect("token key").serialize_pem();
        std::fs::write(path.join("token.pem"), &token_key_pem).expect("write token key");
        Setup {
            ca: ca.der().clone(),
            dir,
            token_key_pem,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The registry with TLS, the htpasswd file, the policy and `--anonymous-pull`, plus
    /// `extra` flags.
    fn start(&self, extra: &[&str]) -> RegistryProcess {
        let (cert, key) = (self.path("cert.pem"), self.path("key.pem"));
        let (htpasswd, policy) = (self.path("htpasswd"), self.path("policy"));
        let mut args = vec![
            "--no-fsync",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--htpasswd",
            &htpasswd,
            "--policy",
            &policy,
            "--anonymous-pull",
        ];
        args.extend_from_slice(extra);
        RegistryProcess::start_with(&self.dir.path().join("data"), &args)
    }
}

/// Whether `name` is installed. Missing: a failure under `CI=true`, else `false` with a note.
fn installed(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is not installed (CI=true: a missing client fails; the repository's CI installs it)"
        );
        eprintln!("SKIP: {name} is not installed (would fail under CI=true)");
    }
    found
}

/// Runs `program args` under `timeout`; returns its output and how long it took.
fn run<S: AsRef<str>>(program: &str, args: &[S]) -> (Output, Duration) {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let started = Instant::now();
    let output = Command::new("timeout")
        .args(["--kill-after=5", CLIENT_TIMEOUT, program])
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    if output.status.code() == Some(124) {
        panic!("{program} {args:?}: no result within {CLIENT_TIMEOUT} s");
    }
    (output, started.elapsed())
}

/// The client subcommands, for the timing lines.
const VERBS: &[&str] = &[
    "login", "copy", "inspect", "import", "push", "pull", "rmi", "tag",
];

/// [`run`], asserting success.
fn ok<S: AsRef<str>>(program: &str, args: &[S]) -> Duration {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let (output, took) = run(program, &args);
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let verb = args
        .iter()
        .find(|a| VERBS.contains(a))
        .copied()
        .unwrap_or("");
    eprintln!("  {took:>8.2?}  {program} {verb}");
    took
}

/// [`run`], asserting failure; returns stderr (lowercase).
fn fails<S: AsRef<str>>(program: &str, args: &[S]) -> String {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let (output, _) = run(program, &args);
    assert!(
        !output.status.success(),
        "{program} {args:?} succeeded but should not have"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    eprintln!("  refused as expected: {program}: {last}");
    stderr.to_lowercase()
}

fn ocilayout(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/ocilayout.py");
    let output = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 tests/interop/ocilayout.py");
    assert!(output.status.success(), "ocilayout.py {args:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// skopeo: a wrong password fails `login`; alice logs in, pushes an OCI layout and copies it
/// back (same manifest digest); bob (pull only) can read but his push fails; a client
/// without credentials can pull (`--anonymous-pull`).
fn skopeo_round_trip(setup: &Setup, registry: &str, label: &str) {
    let work = setup.dir.path().join(format!("skopeo-{label}"));
    std::fs::create_dir(&work).expect("mkdir");
    let at = |name: &str| work.join(name).display().to_string();
    let certs = setup.path("certs");
    let (src, back) = (
        format!("oci:{}:v1", at("src")),
        format!("oci:{}:v1", at("back")),
    );
    let want = ocilayout(&[
        "build",
        &at("src"),
        "v1",
        "--seed",
        "31",
        "--size",
        "200000",
    ]);
    let (alice, bob) = (at("alice.json"), at("bob.json"));
    let image = format!("docker://{registry}/team/skopeo:v1");

    let login = |authfile: &str, user: &str, password: &str| {
        let args = [
            "login",
            "--authfile",
            authfile,
            "--cert-dir",
            &certs,
            "-u",
            user,
            "-p",
            password,
            registry,
        ];
        args.map(str::to_owned)
    };
    let err = fails("skopeo", &login(&alice, "alice", "wrong"));
    assert!(
        err.contains("401")
            || err.contains("unauthorized")
            || err.contains("invalid username/password"),
        "wrong password: {err}"
    );
    ok("skopeo", &login(&alice, "alice", "alice-pw"));
    let copy = |authfile: &str, from: &str, to: &str| {
        let args = [
            "--insecure-policy",
            "copy",
            "--authfile",
            authfile,
            "--src-cert-dir",
            &certs,
            "--dest-cert-dir",
            &certs,
            from,
            to,
        ];
        args.map(str::to_owned)
    };
    ok("skopeo", &copy(&alice, &src, &image));
    ok("skopeo", &copy(&alice, &image, &back));
    assert_eq!(
        ocilayout(&["manifest-digest", &at("back"), "v1"]),
        want,
        "pulled back"
    );

    ok("skopeo", &login(&bob, "bob", "bob-pw"));
    let inspect = [
        "inspect",
        "--authfile",
        &bob,
        "--cert-dir",
        &certs,
        "--format",
        "{{.Digest}}",
        &image,
    ];
    ok("skopeo", &inspect);
    let bobs = format!("docker://{registry}/team/bob:v1");
    let err = fails("skopeo", &copy(&bob, &src, &bobs));
    assert!(
        ["403", "401", "denied", "unauthorized"]
            .iter()
            .any(|s| err.contains(s)),
        "bob's push: {err}"
    );
    let anonymous = [
        "inspect",
        "--no-creds",
        "--cert-dir",
        &certs,
        "--format",
        "{{.Digest}}",
        &image,
    ];
    let (output, _) = run("skopeo", &anonymous);
    assert!(
        output.status.success(),
        "anonymous pull: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), want);
}

/// podman (private storage, vfs): a wrong password fails `login`; alice logs in, pushes an
/// imported image, removes it and pulls it back (same image id); bob's push fails.
fn podman_round_trip(setup: &Setup, registry: &str, label: &str) {
    let work = setup.dir.path().join(format!("podman-{label}"));
    std::fs::create_dir_all(work.join("tmp")).expect("mkdir");
    let at = |name: &str| work.join(name).display().to_string();
    let certs = setup.path("certs");
    let (storage, run_root, tmp) = (at("storage"), at("run"), at("tmp"));
    let base = [
        "--root",
        &storage,
        "--runroot",
        &run_root,
        "--storage-driver",
        "vfs",
        "--tmpdir",
        &tmp,
        "--events-backend",
        "file",
        "--cgroup-manager",
        "cgroupfs",
    ];
    let podman = |args: &[&str]| -> Vec<String> {
        base.iter().chain(args).map(|s| (*s).to_owned()).collect()
    };
    let (alice, bob) = (at("alice.json"), at("bob.json"));
    let image = format!("{registry}/team/podman:v1");

    let wrong = podman(&[
        "login",
        "--authfile",
        &alice,
        "--cert-dir",
        &certs,
        "-u",
        "alice",
        "-p",
        "wrong",
        registry,
    ]);
    let err = fails("podman", &wrong);
    assert!(
        err.contains("401")
            || err.contains("unauthorized")
            || err.contains("invalid username/password"),
        "wrong password: {err}"
    );
    ok(
        "podman",
        &podman(&[
            "login",
            "--authfile",
            &alice,
            "--cert-dir",
            &certs,
            "-u",
            "alice",
            "-p",
            "alice-pw",
            registry,
        ]),
    );
    ocilayout(&[
        "rootfs-tar",
        &at("rootfs.tar"),
        "--seed",
        "41",
        "--size",
        "200000",
    ]);
    let (output, _) = run(
        "podman",
        &podman(&["import", "--quiet", &at("rootfs.tar"), &image]),
    );
    assert!(output.status.success(), "podman import");
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    ok(
        "podman",
        &podman(&[
            "push",
            "--quiet",
            "--authfile",
            &alice,
            "--cert-dir",
            &certs,
            &image,
        ]),
    );
    ok("podman", &podman(&["rmi", "--force", &image]));
    ok(
        "podman",
        &podman(&[
            "pull",
            "--quiet",
            "--authfile",
            &alice,
            "--cert-dir",
            &certs,
            &image,
        ]),
    );
    let (output, _) = run(
        "podman",
        &podman(&["image", "inspect", "--format", "{{.Id}}", &image]),
    );
    let pulled = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        id.contains(&pulled) && !pulled.is_empty(),
        "image id {pulled} after pull, {id} imported"
    );

    ok(
        "podman",
        &podman(&[
            "login",
            "--authfile",
            &bob,
            "--cert-dir",
            &certs,
            "-u",
            "bob",
            "-p",
            "bob-pw",
            registry,
        ]),
    );
    let bobs = format!("{registry}/team/bob-podman:v1");
    ok("podman", &podman(&["tag", &image, &bobs]));
    let err = fails(
        "podman",
        &podman(&[
            "push",
            "--quiet",
            "--authfile",
            &bob,
            "--cert-dir",
            &certs,
            &bobs,
        ]),
    );
    assert!(
        ["403", "401", "denied", "unauthorized"]
            .iter()
            .any(|s| err.contains(s)),
        "bob's push: {err}"
    );
    let _ = run("podman", &podman(&["system", "reset", "--force"]));
}

/// One HTTPS/1.1 request to the registry at `addr`, trusting only `ca`.
async fn https(
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
    path: &str,
    authorization: Option<&str>,
) -> Reply {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("trust the test CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::get(path).header("host", addr.to_string());
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    let req = req.body(Empty::<Bytes>::new()).expect("request");
    let res = tokio::time::timeout(process::REQUEST_TIMEOUT, sender.send_request(req))
        .await
        .expect("answer in time")
        .expect("response");
    Reply::read(res).await
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Claims for `pull` on `repo`, expiring `exp_offset` seconds from now.
fn claims(iss: &str, aud: &str, repo: &str, exp_offset: i64) -> serde_json::Value {
    let now = now() as i64;
    serde_json::json!({
        "iss": iss, "aud": aud, "sub": "alice",
        "iat": now - 600, "nbf": now - 600, "exp": now + exp_offset,
        "access": [{"type": "repository", "name": repo, "actions": ["pull"]}],
    })
}

#[test]
fn basic_auth_over_https_with_skopeo_and_podman() {
    let setup = Setup::new();
    let started = Instant::now();
    let registry = setup.start(&[]);
    let addr = registry.addr;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let r = https(addr, &setup.ca, "/v2/", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"tower-oci\"")
        );
        let r = https(addr, &setup.ca, "/v2/", Some(&basic("alice", "alice-pw"))).await;
        assert_eq!(r.status, StatusCode::OK);
    });
    let address = addr.to_string();
    if installed("skopeo") {
        let t = Instant::now();
        skopeo_round_trip(&setup, &address, "basic");
        eprintln!("skopeo with Basic: {:.1?}", t.elapsed());
    }
    if installed("podman") {
        let t = Instant::now();
        podman_round_trip(&setup, &address, "basic");
        eprintln!("podman with Basic: {:.1?}", t.elapsed());
    }
    eprintln!("Basic over HTTPS: {:.1?} in all", started.elapsed());
}

#[test]
fn bearer_auth_through_the_built_in_issuer_with_skopeo_and_podman() {
    let setup = Setup::new();
    let started = Instant::now();
    let token_key = setup.path("token.pem");
    let registry = setup.start(&["--token-key", &token_key]);
    let addr = registry.addr;
    let realm = format!("https://{addr}/token");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let r = https(addr, &setup.ca, "/v2/", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.header("www-authenticate"),
            Some(format!("Bearer realm=\"{realm}\",service=\"tower-oci\"").as_str())
        );
        // A token from the issuer opens what the policy grants.
        let path = "/token?service=tower-oci&scope=repository:team/x:pull,push";
        let r = https(addr, &setup.ca, path, Some(&basic("bob", "bob-pw"))).await;
        assert_eq!(r.status, StatusCode::OK);
        let token = r.json()["token"].as_str().expect("token").to_owned();
        let r = https(addr, &setup.ca, "/v2/", Some(&format!("Bearer {token}"))).await;
        assert_eq!(r.status, StatusCode::OK, "a valid token");
        let r = https(addr, &setup.ca, path, Some(&basic("bob", "wrong"))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "wrong password");

        // Expired, or signed by another key: 401 invalid_token with the scope needed.
        let key = SigningKey::from_pem(&setup.token_key_pem).expect("token key");
        let other = SigningKey::generate_es256().expect("another key");
        let want = format!(
            "Bearer realm=\"{realm}\",service=\"tower-oci\",\
             scope=\"repository:team/x:pull\",error=\"invalid_token\""
        );
        let valid = key
            .sign(&claims("tower-oci", "tower-oci", "team/x", 300))
            .expect("sign");
        let expired = key
            .sign(&claims("tower-oci", "tower-oci", "team/x", -3600))
            .expect("sign");
        let foreign = other
            .sign(&claims("tower-oci", "tower-oci", "team/x", 300))
            .expect("sign");
        let tags = "/v2/team/x/tags/list";
        let r = https(addr, &setup.ca, tags, Some(&format!("Bearer {valid}"))).await;
        assert_eq!(
            r.error_code().as_deref(),
            Some("NAME_UNKNOWN"),
            "a valid token passes"
        );
        for (what, token) in [("expired", expired), ("another key's", foreign)] {
            let r = https(addr, &setup.ca, tags, Some(&format!("Bearer {token}"))).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what} token");
            assert_eq!(
                r.header("www-authenticate"),
                Some(want.as_str()),
                "{what} token"
            );
        }
    });
    let address = addr.to_string();
    if installed("skopeo") {
        let t = Instant::now();
        skopeo_round_trip(&setup, &address, "bearer");
        eprintln!("skopeo with Bearer: {:.1?}", t.elapsed());
    }
    if installed("podman") {
        let t = Instant::now();
        podman_round_trip(&setup, &address, "bearer");
        eprintln!("podman with Bearer: {:.1?}", t.elapsed());
    }
    eprintln!("Bearer over HTTPS: {:.1?} in all", started.elapsed());
}

#[test]
fn tokens_of_an_external_token_server_are_trusted_by_its_keys() {
    let setup = Setup::new();
    let trusted = rcgen::KeyPair::generate().expect("key");
    let trust = setup.dir.path().join("trust.pem");
    std::fs::write(&trust, trusted.public_key_pem()).expect("write trust.pem");
    let (cert, key) = (setup.path("cert.pem"), setup.path("key.pem"));
    let trust = trust.display().to_string();
    let realm = "https://auth.example.com/token";
    let registry = RegistryProcess::start_with(
        &setup.dir.path().join("data"),
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--token-trust",
            &trust,
            "--token-realm",
            realm,
            "--token-service",
            "registry.example.com",
            "--token-issuer",
            "auth.example.com",
        ],
    );
    let addr = registry.addr;
    let signer = SigningKey::from_pem(&trusted.serialize_pem()).expect("signing key");
    let other = SigningKey::generate_es256().expect("another key");
    let claims = claims("auth.example.com", "registry.example.com", "a", 300);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let r = https(addr, &setup.ca, "/v2/a/tags/list", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.header("www-authenticate"),
            Some(
                "Bearer realm=\"https://auth.example.com/token\",\
                 service=\"registry.example.com\",scope=\"repository:a:pull\""
            )
        );
        let token = signer.sign(&claims).expect("sign");
        let r = https(
            addr,
            &setup.ca,
            "/v2/a/tags/list",
            Some(&format!("Bearer {token}")),
        )
        .await;
        assert_eq!(r.error_code().as_deref(), Some("NAME_UNKNOWN"), "trusted");
        let token = other.sign(&claims).expect("sign");
        let r = https(
            addr,
            &setup.ca,
            "/v2/a/tags/list",
            Some(&format!("Bearer {token}")),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "another key");
        // No issuer is mounted: the realm is the external server's.
        let r = https(addr, &setup.ca, "/token", None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    });
}

/// Start-up errors: a missing htpasswd file or a bad key stop the example with a message and
/// a non-zero status.
#[test]
fn bad_authentication_files_stop_the_registry_at_start() {
    let setup = Setup::new();
    let data = setup.dir.path().join("data");
    let missing = setup.path("no-such-file");
    let bad = setup.path("policy"); // not a key
    let htpasswd = setup.path("htpasswd");
    for (args, says) in [
        (vec!["--htpasswd", &missing], "--htpasswd"),
        (
            vec!["--htpasswd", &htpasswd, "--token-key", &bad],
            "--token-key",
        ),
        (
            vec!["--htpasswd", &htpasswd, "--policy", &htpasswd],
            "--policy",
        ),
    ] {
        let err = match RegistryProcess::try_start_with(&data, &args, &[]) {
            Ok(_) => panic!("started with {args:?}"),
            Err(err) => err,
        };
        assert!(err.contains("exit status: 1"), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
