//! [`Body`]: the bytes of a request or response, whole or arriving as chunks.

use std::fmt;
use std::pin::Pin;

use futures_core::Stream;

use crate::error::Result;
use crate::sys::errors::Progress;
use crate::sys::http::BodyReader;

use super::wait::wait_ready;

/// The body of a [`Request`](super::Request) or [`Response`](super::Response): bytes
/// known at once, a stream of chunks the handler produces, or (for an incoming request
/// and a fetched response) the bytes as the host receives them.
///
/// Reading is async and chunk by chunk ([`chunk`](Body::chunk)), so a handler can bound
/// what it keeps; [`bytes`](Body::bytes) and [`text`](Body::text) collect it all.
///
/// ```no_run
/// use sandloop::http::{Body, Request, Response};
///
/// async fn count(req: Request<Body>) -> sandloop::Result<Response<Body>> {
///     let mut body = req.into_body();
///     let mut total = 0;
///     while let Some(chunk) = body.chunk().await? {
///         total += chunk.len();
///     }
///     Ok(Response::new(Body::from(format!("{total} bytes\n"))))
/// }
/// ```
pub struct Body {
    kind: Kind,
}

enum Kind {
    Bytes(Vec<u8>),
    Incoming(BodyReader),
    Stream(Pin<Box<dyn Stream<Item = Result<Vec<u8>>>>>),
}

impl Body {
    /// No bytes.
    pub fn empty() -> Body {
        Body::from(Vec::new())
    }

    /// A body written as `stream` yields its chunks: each is written to the client (or
    /// server) as it comes, without a `content-length` (chunked on HTTP/1.1). An `Err`
    /// ends the exchange without finishing the body, so the peer sees it cut short.
    pub fn from_stream(stream: impl Stream<Item = Result<Vec<u8>>> + 'static) -> Body {
        Body {
            kind: Kind::Stream(Box::pin(stream)),
        }
    }

    pub(crate) fn incoming(reader: BodyReader) -> Body {
        Body {
            kind: Kind::Incoming(reader),
        }
    }

    /// The length, when the bytes are all known (what `content-length` says).
    pub(crate) fn exact_len(&self) -> Option<usize> {
        match &self.kind {
            Kind::Bytes(bytes) => Some(bytes.len()),
            _ => None,
        }
    }

    /// The next chunk of bytes, `None` at the end. An incoming body waits on the loop
    /// until the host has bytes for it.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match &mut self.kind {
            Kind::Bytes(bytes) if bytes.is_empty() => Ok(None),
            Kind::Bytes(bytes) => Ok(Some(std::mem::take(bytes))),
            Kind::Stream(stream) => std::future::poll_fn(|cx| stream.as_mut().poll_next(cx))
                .await
                .transpose(),
            Kind::Incoming(reader) => loop {
                match reader.read()? {
                    Progress::Done(chunk) => return Ok(chunk),
                    Progress::Pending => wait_ready(|token| reader.source(token)).await?,
                }
            },
        }
    }

    /// All the bytes to the end.
    pub async fn bytes(mut self) -> Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }

    /// All the bytes to the end, as UTF-8 (invalid sequences replaced).
    pub async fn text(self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.bytes().await?).into_owned())
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body {
            kind: Kind::Bytes(bytes),
        }
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(text.into_bytes())
    }
}

impl From<&str> for Body {
    fn from(text: &str) -> Body {
        Body::from(text.as_bytes().to_vec())
    }
}

impl From<&[u8]> for Body {
    fn from(bytes: &[u8]) -> Body {
        Body::from(bytes.to_vec())
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Bytes(bytes) => write!(f, "Body({} bytes)", bytes.len()),
            Kind::Incoming(_) => f.write_str("Body(incoming)"),
            Kind::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}
