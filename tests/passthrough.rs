//! Requests outside `/v2/` reach the inner service untouched, and its responses come back
//! untouched; `/v2` and everything under `/v2/` never reach it. (The examples' server is tested
//! with the examples, in the repository's examples package.)

mod common;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use common::INNER_REPLY;
use http::{Request, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The inner service's echo for a request: see `tests/common/mod.rs`.
fn echo(method: &str, uri: &str, body: &[u8]) -> Vec<u8> {
    let mut text = format!("{INNER_REPLY} {method} {uri} ").into_bytes();
    text.extend_from_slice(body);
    text
}

fn assert_from_inner(reply: &common::Reply, method: &str, uri: &str, body: &[u8]) {
    assert_eq!(reply.status, StatusCode::IM_A_TEAPOT, "{method} {uri}");
    assert_eq!(reply.header("x-inner"), Some("yes"), "{method} {uri}");
    assert_eq!(reply.body, echo(method, uri, body), "{method} {uri}");
    // Oci forwards the inner body's exact size hint, so hyper still sets Content-Length.
    let length = reply.body.len().to_string();
    assert_eq!(
        reply.header("content-length"),
        Some(length.as_str()),
        "{method} {uri}"
    );
}

fn assert_not_from_inner(reply: &common::Reply, what: &str) {
    assert!(
        reply.header("x-inner").is_none(),
        "{what} reached the inner service"
    );
    assert_ne!(reply.status, StatusCode::IM_A_TEAPOT, "{what}");
    let inner = INNER_REPLY.as_bytes();
    assert!(
        !reply.body.windows(inner.len()).any(|w| w == inner),
        "{what} reached the inner service"
    );
}

#[tokio::test]
async fn non_registry_requests_reach_inner_unchanged() {
    let server = common::start().await;
    let cases = [
        ("GET", "/", ""),
        ("GET", "/index.html?lang=en&x=%2Fv2%2F", ""),
        ("POST", "/api/items?draft=true", "{\"name\":\"x\"}"),
        ("PUT", "/files/a.bin", "some bytes\r\n\0\u{7f}"),
        ("PATCH", "/api/items/7", "patch body"),
        ("DELETE", "/api/items/7?hard=1", ""),
        ("OPTIONS", "/api/items", ""),
        ("BREW", "/coffee", "with milk"),
    ];
    for (method, uri, body) in cases {
        let reply = server
            .send(method, uri, &[], body.as_bytes().to_vec())
            .await;
        assert_from_inner(&reply, method, uri, body.as_bytes());
    }
}

#[tokio::test]
async fn lookalike_paths_pass_through() {
    let server = common::start().await;
    for uri in [
        "/v2x",
        "/v2x/",
        "/v2x/library/alpine/manifests/latest",
        "/v20/",
        "/v2.json",
        "/api/v2/",
        "/api/v2/library/alpine/tags/list",
        "/x?next=/v2/",
    ] {
        let reply = server.send("POST", uri, &[], &b"payload"[..]).await;
        assert_from_inner(&reply, "POST", uri, b"payload");
    }
}

#[tokio::test]
async fn registry_paths_never_reach_inner() {
    let server = common::start().await;
    for (method, uri) in [
        ("GET", "/v2"),
        ("GET", "/v2/"),
        ("GET", "/v2/?x=1"),
        ("GET", "/v2/anything"),
        ("GET", "/v2/library/alpine/manifests/latest"),
        ("GET", "/v2/_catalog"),
        ("HEAD", "/v2/library/alpine/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000"),
        ("POST", "/v2/anything"),
        ("DELETE", "/v2/anything/else/entirely"),
        ("BREW", "/v2/coffee"),
    ] {
        let reply = server.send(method, uri, &[], &b"payload"[..]).await;
        assert_not_from_inner(&reply, &format!("{method} {uri}"));
    }
}

/// A request body of `total` bytes sent as separate 64 KiB frames with no Content-Length,
/// so hyper sends it chunked and the server reads it as a stream.
struct Streamed {
    data: Bytes,
    sent: usize,
}

impl Body for Streamed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let start = self.sent;
        if start >= self.data.len() {
            return Poll::Ready(None);
        }
        let end = (start + 64 * 1024).min(self.data.len());
        self.sent = end;
        Poll::Ready(Some(Ok(Frame::data(self.data.slice(start..end)))))
    }
}

#[tokio::test]
async fn large_streamed_body_reaches_inner_unchanged() {
    let server = common::start().await;
    // A pattern that is not periodic in 64 KiB, so reordered or dropped frames show.
    let data: Bytes = (0..4 * 1024 * 1024u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();

    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let uri = "/upload/big?chunked=yes";
    let req = Request::post(uri)
        .header("host", server.addr.to_string())
        .body(Streamed {
            data: data.clone(),
            sent: 0,
        })
        .expect("request");
    assert!(
        req.body().size_hint().exact().is_none(),
        "body must go out chunked"
    );
    let res = sender.send_request(req).await.expect("response");
    assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(
        res.headers().get("x-inner").map(|v| v.as_bytes()),
        Some(&b"yes"[..])
    );
    let body = res.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(body.len(), echo("POST", uri, &data).len());
    assert!(body == echo("POST", uri, &data), "echoed body differs");

    // The same body with a Content-Length, through the shared client.
    let reply = server.send("PUT", "/upload/big", &[], data.clone()).await;
    assert_from_inner(&reply, "PUT", "/upload/big", &data);
}
