//! A real registry on 127.0.0.1 (OS-chosen port) over a temp dir, and a small HTTP client.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{service_fn, Layer};
use tower_oci::OciLayer;

/// What the inner (host) service answers for every non-registry request.
pub const INNER_REPLY: &str = "inner service";

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    client: Client<HttpConnector, BoxBody<Bytes, Infallible>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// Status, headers and the whole body of a response.
    pub async fn read(res: Response<hyper::body::Incoming>) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `code` of the first OCI error in the body.
    pub fn error_code(&self) -> Option<String> {
        self.json()["errors"][0]["code"].as_str().map(str::to_owned)
    }
}

/// Starts a server with the default layer settings.
pub async fn start() -> TestServer {
    start_with(|layer| layer).await
}

/// Starts a server with the layer adjusted by `configure`.
pub async fn start_with(configure: impl FnOnce(OciLayer) -> OciLayer) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let layer = configure(OciLayer::new(dir.path().join("data")));
    let inner = service_fn(|req: Request<hyper::body::Incoming>| async move {
        // Echo method, path and body so pass-through tests can see what arrived.
        let method = req.method().clone();
        let uri = req.uri().clone();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut text = format!("{INNER_REPLY} {method} {uri} ").into_bytes();
        text.extend_from_slice(&body);
        let res = Response::builder()
            .status(StatusCode::IM_A_TEAPOT)
            .header("x-inner", "yes")
            .body(Full::new(Bytes::from(text)))
            .expect("response");
        Ok::<_, Infallible>(res)
    });
    let svc = layer.layer(inner);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    let client = Client::builder(TokioExecutor::new()).build_http();
    TestServer {
        addr,
        dir,
        client,
        task,
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request; `path` may carry a query. Headers are `(name, value)` pairs.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let req = builder
            .body(Full::new(body.into()).boxed())
            .expect("request");
        self.request(req).await
    }

    /// Sends `chunks` as separate frames with `Transfer-Encoding: chunked` (no Content-Length).
    pub async fn send_chunked(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        chunks: Vec<Bytes>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let frames = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, Infallible>(hyper::body::Frame::data(c))),
        );
        let req = builder
            .body(StreamBody::new(frames).boxed())
            .expect("request");
        self.request(req).await
    }

    pub async fn request(&self, req: Request<BoxBody<Bytes, Infallible>>) -> Reply {
        let res = self.client.request(req).await.expect("request failed");
        Reply::read(res).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], Bytes::new()).await
    }

    /// A manifest `PUT` to `path` with this `Content-Type`.
    pub async fn put_manifest(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Reply {
        self.send("PUT", path, &[("content-type", content_type)], body)
            .await
    }

    /// A request with no body and no extra headers.
    pub async fn empty(&self, method: &str, path: &str) -> Reply {
        self.send(method, path, &[], Bytes::new()).await
    }

    pub async fn head(&self, path: &str) -> Reply {
        self.send("HEAD", path, &[], Bytes::new()).await
    }
}

/// One GET on a fresh HTTP/1.1 connection to `addr` (any server, not only a `TestServer`).
pub async fn get_fresh(addr: SocketAddr, path: &str) -> Reply {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .expect("request");
    let res = sender.send_request(req).await.expect("response");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub fn sha256(data: &[u8]) -> String {
    tower_oci::protocol::Digest::of(tower_oci::protocol::Algorithm::Sha256, data).to_string()
}

pub fn sha512(data: &[u8]) -> String {
    tower_oci::protocol::Digest::of(tower_oci::protocol::Algorithm::Sha512, data).to_string()
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

impl TestServer {
    /// Pushes a blob with a single POST; panics unless 201.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let r = self
            .send(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                &[],
                Bytes::copy_from_slice(data),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "push_blob: {:?}", r.body);
        digest
    }

    /// Starts an upload session; returns its Location.
    pub async fn start_upload(&self, repo: &str, query: &str) -> String {
        let r = self
            .send(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/{query}"),
                &[],
                Bytes::new(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "start_upload: {:?}", r.body);
        r.header("location").expect("location").to_owned()
    }

    /// Pushes config + one layer and an OCI image manifest tagged `tag`; returns (manifest bytes, digest).
    pub async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (Vec<u8>, String) {
        let config = format!("{{\"seed\":\"{seed}\"}}");
        let layer = format!("layer of {seed}");
        let cd = self.push_blob(repo, config.as_bytes()).await;
        let ld = self.push_blob(repo, layer.as_bytes()).await;
        let manifest = image_manifest(&cd, config.len(), &ld, layer.len(), "");
        let r = self
            .put_manifest(
                &format!("/v2/{repo}/manifests/{tag}"),
                OCI_MANIFEST,
                manifest.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "push_image: {:?}", r.body);
        let digest = sha256(manifest.as_bytes());
        (manifest.into_bytes(), digest)
    }
}

/// An OCI image manifest; `extra` is spliced in before the closing brace (start it with a comma).
pub fn image_manifest(
    config: &str,
    config_size: usize,
    layer: &str,
    layer_size: usize,
    extra: &str,
) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":{layer_size}}}]{extra}}}"#
    )
}
