//! One HTTP/1.1 keep-alive connection per client, with hyper's low-level client.
//!
//! No pool: each simulated client owns its connection, so `--clients N` means exactly N TCP
//! connections. A connection is replaced only after an error, and every replacement is counted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::content::ContentBody;

/// Errors are reported, not matched on.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Builds an error from a message.
pub fn fail(message: impl Into<String>) -> Error {
    message.into().into()
}

/// The registry being driven: where to connect and what to send as `Host`.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub authority: String,
}

impl Target {
    /// Parses `http://host:port` (a trailing `/` is allowed; https is not supported).
    pub fn parse(url: &str) -> Result<Self, Error> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| fail(format!("--url must start with http:// (got {url:?})")))?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(fail(format!("--url must be http://host:port, got {url:?}")));
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&with_port)?
            .next()
            .ok_or_else(|| fail(format!("{authority} resolves to nothing")))?;
        Ok(Target {
            addr,
            authority: authority.to_owned(),
        })
    }
}

/// Request bodies the tool sends.
#[derive(Debug)]
pub enum ReqBody {
    Empty,
    Full(Option<Bytes>),
    Content(ContentBody),
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            ReqBody::Content(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Full(data) => data.is_none(),
            ReqBody::Content(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Full(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            ReqBody::Content(body) => body.size_hint(),
        }
    }
}

/// One keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    target: Target,
    sender: SendRequest<ReqBody>,
}

impl Conn {
    pub async fn connect(target: &Target) -> Result<Self, Error> {
        let tcp = TcpStream::connect(target.addr).await?;
        tcp.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(async move {
            // The error, if any, resurfaces on the next send_request.
            let _ = connection.await;
        });
        Ok(Conn {
            target: target.clone(),
            sender,
        })
    }

    /// Whether the server (or an error) closed the connection.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one request; `path` is path and query. `content_length` is set when given.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&'static str, String)],
        body: ReqBody,
    ) -> Result<Response<Incoming>, Error> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.target.authority);
        let length = body.size_hint().exact().unwrap_or_default();
        if !matches!(builder.method_ref(), Some(&Method::GET | &Method::HEAD)) {
            builder = builder.header(CONTENT_LENGTH, length);
            let typed = headers.iter().any(|(name, _)| *name == "content-type");
            if length > 0 && !typed {
                builder = builder.header(CONTENT_TYPE, "application/octet-stream");
            }
        }
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let request = builder.body(body)?;
        self.sender.ready().await?;
        Ok(self.sender.send_request(request).await?)
    }
}

/// Fails with status, a hint of the body, and context unless `status` is `expected`.
pub async fn expect_status(
    response: Response<Incoming>,
    expected: StatusCode,
    what: &str,
) -> Result<Response<Incoming>, Error> {
    if response.status() == expected {
        return Ok(response);
    }
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(body.get(..body.len().min(300)).unwrap_or_default());
    Err(fail(format!(
        "{what}: expected {expected}, got {status}: {text}"
    )))
}

/// Reads and discards a body; bodies must be read to reuse the connection.
pub async fn drain(response: Response<Incoming>) -> Result<u64, Error> {
    let mut body = response.into_body();
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            n += data.len() as u64;
        }
    }
    Ok(n)
}

/// A header as text, or an error naming it.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Error> {
    headers
        .get(name)
        .ok_or_else(|| fail(format!("response has no {name} header")))?
        .to_str()
        .map_err(|_| fail(format!("{name} header is not text")))
}

/// Checks `Docker-Content-Digest` against what was sent.
pub fn check_digest(headers: &HeaderMap, expected: &str) -> Result<(), Error> {
    let got = header(headers, "docker-content-digest")?;
    if got != expected {
        return Err(fail(format!(
            "Docker-Content-Digest {got} does not match {expected}"
        )));
    }
    Ok(())
}

/// The upload URL from `Location`, as path and query (absolute URLs are cut to their path).
pub fn upload_location(headers: &HeaderMap) -> Result<String, Error> {
    let location = header(headers, LOCATION.as_str())?;
    let path = match location.split_once("://") {
        Some((_, rest)) => rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/"),
        None => location,
    };
    Ok(path.to_owned())
}

/// Appends `key=value` to a path that may already have a query.
pub fn with_query(path: &str, key: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{key}={value}")
}
