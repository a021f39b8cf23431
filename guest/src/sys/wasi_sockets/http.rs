//! `wasi:http` in the portable backend (the `wasi-http` feature): an incoming request's
//! head and body, the response written back through its `response-outparam`, and
//! requests sent with `wasi:http/outgoing-handler`.
//!
//! Everything here is non-blocking: a body's read or write that cannot proceed says
//! [`Progress::Pending`], and the caller waits for the resource's pollable through the
//! portable reactor ([`BodyReader::source`], [`BodyWriter::source`],
//! [`PendingResponse::source`]), as a socket's readiness is waited for. Heads cross as the
//! `http` crate's types, so nothing above this file names a binding.
//!
//! WASI requires a resource's children to go before it: each wrapper here declares its
//! fields child first (a stream before its body, a body before its request or response).

use std::io;
use std::rc::Rc;

use super::bindings::poll::Pollable;
use super::bindings::streams::{InputStream, OutputStream, StreamError};
use super::errors::{Progress, error_from_stream};
use super::http_bindings::wasi::http::outgoing_handler;
use super::http_bindings::wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, OutgoingResponse, Scheme,
};
use super::net::HostSource;
use super::poll::{Slot, Watched};
use crate::error::{Error, Result};

// Public (hidden, through `sandloop::http::__private`) for what `http_handler!` expands to.
pub use super::http_bindings::exports::wasi::http::incoming_handler::Guest;
pub use super::http_bindings::wasi::http::types::{IncomingRequest, ResponseOutparam};

/// The largest part of a body one read asks the host for.
const READ_CHUNK: u64 = 64 * 1024;

/// The error of `op` from a `wasi:http` `error-code`.
fn error_from_http(op: &str, code: &ErrorCode) -> Error {
    let kind = match code {
        ErrorCode::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout => io::ErrorKind::TimedOut,
        ErrorCode::DnsError(_) => io::ErrorKind::NotFound,
        ErrorCode::HttpRequestDenied => {
            return Error::PermissionDenied(format!("{op}: the WASI host denies it"));
        }
        _ => io::ErrorKind::Other,
    };
    Error::Os(io::Error::new(kind, format!("{op}: {code:?}")))
}

fn invalid(op: &str, what: impl std::fmt::Display) -> Error {
    Error::Os(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{op}: {what}"),
    ))
}

fn method_from_wasi(method: Method) -> Result<::http::Method> {
    Ok(match method {
        Method::Get => ::http::Method::GET,
        Method::Head => ::http::Method::HEAD,
        Method::Post => ::http::Method::POST,
        Method::Put => ::http::Method::PUT,
        Method::Delete => ::http::Method::DELETE,
        Method::Connect => ::http::Method::CONNECT,
        Method::Options => ::http::Method::OPTIONS,
        Method::Trace => ::http::Method::TRACE,
        Method::Patch => ::http::Method::PATCH,
        Method::Other(name) => ::http::Method::from_bytes(name.as_bytes())
            .map_err(|e| invalid(&format!("request method {name:?}"), e))?,
    })
}

fn method_to_wasi(method: &::http::Method) -> Method {
    match *method {
        ::http::Method::GET => Method::Get,
        ::http::Method::HEAD => Method::Head,
        ::http::Method::POST => Method::Post,
        ::http::Method::PUT => Method::Put,
        ::http::Method::DELETE => Method::Delete,
        ::http::Method::CONNECT => Method::Connect,
        ::http::Method::OPTIONS => Method::Options,
        ::http::Method::TRACE => Method::Trace,
        ::http::Method::PATCH => Method::Patch,
        ref other => Method::Other(other.as_str().to_string()),
    }
}

fn headers_from_wasi(fields: Fields) -> Result<::http::HeaderMap> {
    let mut headers = ::http::HeaderMap::new();
    for (name, value) in fields.entries() {
        let header = ::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| invalid(&format!("header name {name:?}"), e))?;
        let value = ::http::HeaderValue::from_bytes(&value)
            .map_err(|e| invalid(&format!("header {name}"), e))?;
        headers.append(header, value);
    }
    Ok(headers)
}

fn headers_to_wasi(op: &str, headers: &::http::HeaderMap) -> Result<Fields> {
    let entries: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&entries).map_err(|e| invalid(op, format!("headers refused: {e:?}")))
}

/// What an incoming request's head holds, in the `http` crate's types.
pub(crate) fn request_head(request: &IncomingRequest) -> Result<::http::request::Parts> {
    let path = request.path_with_query().unwrap_or_else(|| "/".to_string());
    let mut uri = ::http::Uri::builder();
    if let Some(scheme) = request.scheme() {
        let scheme = match scheme {
            Scheme::Http => "http".to_string(),
            Scheme::Https => "https".to_string(),
            Scheme::Other(s) => s,
        };
        uri = uri.scheme(scheme.as_str());
    }
    if let Some(authority) = request.authority().filter(|a| !a.is_empty()) {
        uri = uri.authority(authority);
    }
    let uri = uri
        .path_and_query(path.as_str())
        .build()
        .map_err(|e| invalid(&format!("request target {path:?}"), e))?;
    let (mut parts, ()) = ::http::Request::builder()
        .method(method_from_wasi(request.method())?)
        .uri(uri)
        .body(())
        .map_err(|e| invalid("request head", e))?
        .into_parts();
    parts.headers = headers_from_wasi(request.headers())?;
    Ok(parts)
}

/// What a body reader keeps alive after its stream: the request or response it came
/// from (dropped last).
enum Owner {
    Request(#[expect(dead_code, reason = "owning it is the point")] IncomingRequest),
    Response(#[expect(dead_code, reason = "owning it is the point")] IncomingResponse),
}

/// The body of an incoming request or response, read as its bytes arrive.
pub(crate) struct BodyReader {
    /// Declared first: the stream goes before its body, the body before its owner.
    stream: Option<Rc<InputStream>>,
    body: Option<IncomingBody>,
    _owner: Owner,
}

impl Watched for InputStream {
    fn slot(&self, _readable: bool) -> Slot {
        Slot::Own
    }

    fn subscribe(&self, _slot: Slot) -> Pollable {
        InputStream::subscribe(self)
    }
}

impl Watched for OutputStream {
    fn slot(&self, _readable: bool) -> Slot {
        Slot::Own
    }

    fn subscribe(&self, _slot: Slot) -> Pollable {
        OutputStream::subscribe(self)
    }
}

impl Watched for FutureIncomingResponse {
    fn slot(&self, _readable: bool) -> Slot {
        Slot::Own
    }

    fn subscribe(&self, _slot: Slot) -> Pollable {
        FutureIncomingResponse::subscribe(self)
    }
}

/// A registration that reports `resource`'s pollable once, under `token`.
fn watch_once(resource: Rc<dyn Watched>, token: u64) -> HostSource {
    let source = HostSource::of(resource);
    source.watch_once(token);
    source
}

impl BodyReader {
    fn new(body: IncomingBody, owner: Owner, op: &str) -> Result<BodyReader> {
        let stream = body
            .stream()
            .map_err(|()| invalid(op, "the body's stream was taken already"))?;
        Ok(BodyReader {
            stream: Some(Rc::new(stream)),
            body: Some(body),
            _owner: owner,
        })
    }

    /// The body of `request` (its head was read first: `consume` takes the body only).
    pub(crate) fn of_request(request: IncomingRequest) -> Result<BodyReader> {
        let body = request
            .consume()
            .map_err(|()| invalid("request body", "consumed already"))?;
        BodyReader::new(body, Owner::Request(request), "request body")
    }

    /// The next bytes that arrived: `Done(None)` at the end of the body.
    pub(crate) fn read(&mut self) -> Result<Progress<Option<Vec<u8>>>> {
        let Some(stream) = &self.stream else {
            return Ok(Progress::Done(None));
        };
        match stream.read(READ_CHUNK) {
            Ok(bytes) if bytes.is_empty() => Ok(Progress::Pending),
            Ok(bytes) => Ok(Progress::Done(Some(bytes))),
            Err(StreamError::Closed) => {
                // The end: the stream goes before its body is finished (trailers are
                // not read).
                self.stream = None;
                if let Some(body) = self.body.take() {
                    drop(IncomingBody::finish(body));
                }
                Ok(Progress::Done(None))
            }
            Err(e) => Err(error_from_stream("read body", e)),
        }
    }

    /// A registration reporting under `token`, once, that [`read`](Self::read) can
    /// proceed.
    pub(crate) fn source(&self, token: u64) -> Option<HostSource> {
        let stream: Rc<dyn Watched> = self.stream.clone()?;
        Some(watch_once(stream, token))
    }
}

/// The body of an outgoing response or request, written as the loop produces it.
pub(crate) struct BodyWriter {
    /// Declared first: the stream goes before its body.
    stream: Option<Rc<OutputStream>>,
    body: Option<OutgoingBody>,
    op: &'static str,
}

impl BodyWriter {
    fn new(body: OutgoingBody, op: &'static str) -> Result<BodyWriter> {
        let stream = body
            .write()
            .map_err(|()| invalid(op, "the body's stream was taken already"))?;
        Ok(BodyWriter {
            stream: Some(Rc::new(stream)),
            body: Some(body),
            op,
        })
    }

    fn stream(&self) -> Result<&OutputStream> {
        self.stream
            .as_deref()
            .ok_or_else(|| invalid(self.op, "the body is finished"))
    }

    /// Writes what the stream takes now of `bytes`: `Done(n)` with `n > 0`, or `Pending`.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<Progress<usize>> {
        let stream = self.stream()?;
        let permit = stream
            .check_write()
            .map_err(|e| error_from_stream(self.op, e))?;
        let n = usize::try_from(permit)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        if n == 0 {
            return Ok(Progress::Pending);
        }
        stream
            .write(&bytes[..n])
            .map_err(|e| error_from_stream(self.op, e))?;
        Ok(Progress::Done(n))
    }

    /// Starts a flush of what was written; [`flushed`](Self::flushed) says when it is done.
    /// A stream the host closed has nothing left to flush: the host closes a body's
    /// stream once it has all the bytes its `content-length` announced.
    pub(crate) fn flush(&mut self) -> Result<()> {
        match self.stream()?.flush() {
            Ok(()) | Err(StreamError::Closed) => Ok(()),
            Err(e) => Err(error_from_stream(self.op, e)),
        }
    }

    /// Whether the last [`flush`](Self::flush) is done (a closed stream's is).
    pub(crate) fn flushed(&mut self) -> Result<bool> {
        match self.stream()?.check_write() {
            Ok(permit) => Ok(permit > 0),
            Err(StreamError::Closed) => Ok(true),
            Err(e) => Err(error_from_stream(self.op, e)),
        }
    }

    /// Ends the body (a flush must be done first): the stream goes, then the body is
    /// finished, which tells the peer that nothing more comes.
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.stream = None;
        match self.body.take() {
            Some(body) => {
                OutgoingBody::finish(body, None).map_err(|e| error_from_http(self.op, &e))
            }
            None => Ok(()),
        }
    }

    /// A registration reporting under `token`, once, that the stream has room (or
    /// finished flushing).
    pub(crate) fn source(&self, token: u64) -> Option<HostSource> {
        let stream: Rc<dyn Watched> = self.stream.clone()?;
        Some(watch_once(stream, token))
    }
}

/// Sends the head of the response through `out` (which it consumes) and returns the
/// writer of its body.
pub(crate) fn send_response(
    out: ResponseOutparam,
    head: &::http::response::Parts,
) -> Result<BodyWriter> {
    let response = match headers_to_wasi("response", &head.headers) {
        Ok(headers) => OutgoingResponse::new(headers),
        Err(e) => {
            send_error(out, &format!("{e}"));
            return Err(e);
        }
    };
    if response.set_status_code(head.status.as_u16()).is_err() {
        send_error(out, "bad status");
        return Err(invalid("response", format!("status {}", head.status)));
    }
    let body = match response.body() {
        Ok(body) => body,
        Err(()) => {
            send_error(out, "no body");
            return Err(invalid("response", "its body was taken already"));
        }
    };
    ResponseOutparam::set(out, Ok(response));
    BodyWriter::new(body, "write response body")
}

/// Answers through `out` with an error instead of a response (the host answers the
/// client with a 500, or closes the connection).
pub(crate) fn send_error(out: ResponseOutparam, why: &str) {
    ResponseOutparam::set(out, Err(ErrorCode::InternalError(Some(why.to_string()))));
}

/// An outgoing request sent, its response not yet in.
pub(crate) struct PendingResponse {
    future: Rc<FutureIncomingResponse>,
    target: String,
}

/// Sends `head` with `wasi:http/outgoing-handler`; returns the writer of its body and
/// the response to wait for.
pub(crate) fn send_request(head: &::http::request::Parts) -> Result<(BodyWriter, PendingResponse)> {
    let target = format!("{} {}", head.method, head.uri);
    let op = format!("fetch {target}");
    let request = OutgoingRequest::new(headers_to_wasi(&op, &head.headers)?);
    let bad = |what: &str| invalid(&op, format!("the host refuses its {what}"));
    request
        .set_method(&method_to_wasi(&head.method))
        .map_err(|()| bad("method"))?;
    let scheme = match head.uri.scheme_str() {
        Some("http") | None => Scheme::Http,
        Some("https") => Scheme::Https,
        Some(other) => Scheme::Other(other.to_string()),
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("scheme"))?;
    let authority = head
        .uri
        .authority()
        .ok_or_else(|| invalid(&op, "the URI has no authority (host[:port])"))?;
    request
        .set_authority(Some(authority.as_str()))
        .map_err(|()| bad("authority"))?;
    let path = head.uri.path_and_query().map_or("/", |p| p.as_str());
    request
        .set_path_with_query(Some(path))
        .map_err(|()| bad("path"))?;
    let body = request
        .body()
        .map_err(|()| invalid(&op, "its body was taken already"))?;
    let future = outgoing_handler::handle(request, None).map_err(|e| error_from_http(&op, &e))?;
    Ok((
        BodyWriter::new(body, "write request body")?,
        PendingResponse {
            future: Rc::new(future),
            target,
        },
    ))
}

impl PendingResponse {
    /// The response's head and body reader, once it arrived.
    pub(crate) fn get(&self) -> Result<Progress<(::http::response::Parts, BodyReader)>> {
        let op = format!("fetch {}", self.target);
        let response = match self.future.get() {
            None => return Ok(Progress::Pending),
            Some(Err(())) => return Err(invalid(&op, "the response was taken already")),
            Some(Ok(Err(code))) => return Err(error_from_http(&op, &code)),
            Some(Ok(Ok(response))) => response,
        };
        let (mut parts, ()) = ::http::Response::builder()
            .status(response.status())
            .body(())
            .map_err(|e| invalid(&op, e))?
            .into_parts();
        parts.headers = headers_from_wasi(response.headers())?;
        let body = response
            .consume()
            .map_err(|()| invalid(&op, "the response body was consumed already"))?;
        let reader = BodyReader::new(body, Owner::Response(response), "response body")?;
        Ok(Progress::Done((parts, reader)))
    }

    /// A registration reporting under `token`, once, that the response arrived.
    pub(crate) fn source(&self, token: u64) -> HostSource {
        watch_once(self.future.clone(), token)
    }
}
