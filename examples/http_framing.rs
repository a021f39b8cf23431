//! Where an HTTP/1.1 request ends in a connection's byte stream, and which requests a
//! server must refuse instead of answering: the framing the HTTP examples share
//! (`http_request.rs`, `static_files`).
//!
//! A server that misjudges where a request ends answers bytes of one request as if they
//! were another (request smuggling): so the body length is read with checked arithmetic
//! (on wasm32 `usize` has 32 bits: `Content-Length: 4294967295` must not wrap), every
//! `Content-Length` field must agree, and what cannot be framed for certain (a length
//! that is not a number, a transfer coding, a malformed field line) is refused and the
//! connection closed. Limits keep one client from filling the server's memory: a head
//! past [`MAX_HEAD`] is a 431, a body past [`MAX_BODY`] a 413.

/// The largest request head (request line and header fields, with the blank line that
/// ends them) a server reads; a longer one is answered 431 and the connection closed.
pub const MAX_HEAD: usize = 16 * 1024;

/// The largest request body a server accepts (these examples skip bodies, but still hold
/// the whole request before answering it); a longer one is answered 413.
pub const MAX_BODY: usize = 1 << 20;

/// What the front of a connection's input holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Framing {
    /// Not a whole request yet: more bytes may complete it.
    Incomplete,
    /// A whole request: its head is `input[..head]`, its body `input[head..total]`.
    Request { head: usize, total: usize },
    /// A request that must not be answered: send [`Refusal::response`] and close.
    Refused(Refusal),
}

/// Why a request is refused, with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: a malformed field line, or a `Content-Length` that is not a number or
    /// disagrees with another one.
    BadRequest(&'static str),
    /// 413: a body longer than [`MAX_BODY`].
    ContentTooLarge,
    /// 431: no end of the head within [`MAX_HEAD`] bytes.
    HeadTooLarge,
    /// 501: a `Transfer-Encoding` (no transfer coding is read, so where the body ends is
    /// unknown).
    NotImplemented,
}

impl Refusal {
    /// The status line's code and reason.
    pub fn status(self) -> &'static str {
        match self {
            Refusal::BadRequest(_) => "400 Bad Request",
            Refusal::ContentTooLarge => "413 Content Too Large",
            Refusal::HeadTooLarge => "431 Request Header Fields Too Large",
            Refusal::NotImplemented => "501 Not Implemented",
        }
    }

    /// The body of the response: what was wrong.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::BadRequest(why) => why,
            Refusal::ContentTooLarge => "the request body is too large",
            Refusal::HeadTooLarge => "the request head is too large",
            Refusal::NotImplemented => "transfer codings are not supported",
        }
    }

    /// The whole response, which closes the connection.
    pub fn response(self) -> Vec<u8> {
        let reason = self.reason();
        format!(
            "HTTP/1.1 {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reason}\n",
            self.status(),
            reason.len() + 1,
        )
        .into_bytes()
    }
}

/// Frames the request at the front of `input`.
///
/// ```
/// # use sandloop_bench::http_hello::framing::{frame, Framing, Refusal};
/// let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET";
/// assert_eq!(frame(get), Framing::Request { head: 27, total: 27 });
/// let huge = b"POST / HTTP/1.1\r\nContent-Length: 4294967295\r\n\r\n";
/// assert_eq!(frame(huge), Framing::Refused(Refusal::ContentTooLarge));
/// ```
pub fn frame(input: &[u8]) -> Framing {
    let searched = &input[..input.len().min(MAX_HEAD)];
    let Some(head) = searched
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
    else {
        return if input.len() >= MAX_HEAD {
            Framing::Refused(Refusal::HeadTooLarge)
        } else {
            Framing::Incomplete
        };
    };
    let body = match body_length(&input[..head]) {
        Ok(len) => len,
        Err(refusal) => return Framing::Refused(refusal),
    };
    // `body <= MAX_BODY` and `head <= MAX_HEAD`: the sum fits any `usize`.
    let total = head + body;
    if input.len() < total {
        Framing::Incomplete
    } else {
        Framing::Request { head, total }
    }
}

/// The header fields of a head: `(name, value)` with the value's surrounding whitespace
/// trimmed; a line that is not a well-formed field is an error.
pub fn fields(head: &[u8]) -> impl Iterator<Item = Result<(&[u8], &[u8]), Refusal>> {
    head.split(|&b| b == b'\n')
        .skip(1)
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(|line| {
            let malformed = Err(Refusal::BadRequest("malformed header field"));
            // A line that starts with whitespace continues the last one (obsolete line
            // folding), which a server may refuse: one reading of a field is safer.
            if line[0].is_ascii_whitespace() {
                return malformed;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return malformed;
            };
            let name = &line[..colon];
            // `Content-Length : 5` may be read as a field by a proxy and not by the
            // server, or the other way round (RFC 9112 5.1: refuse it).
            if name.iter().any(|b| b.is_ascii_whitespace()) {
                return malformed;
            }
            Ok((name, line[colon + 1..].trim_ascii()))
        })
}

/// The body length the head declares (0 without `Content-Length`), at most [`MAX_BODY`].
fn body_length(head: &[u8]) -> Result<usize, Refusal> {
    let mut length = None;
    for field in fields(head) {
        let (name, value) = field?;
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(Refusal::NotImplemented);
        }
        if !name.eq_ignore_ascii_case(b"content-length") {
            continue;
        }
        let this = parse_length(value)?;
        if length.is_some_and(|earlier| earlier != this) {
            return Err(Refusal::BadRequest("conflicting Content-Length fields"));
        }
        length = Some(this);
    }
    Ok(length.unwrap_or(0))
}

/// A `Content-Length` value: decimal digits only (no sign, no list), at most
/// [`MAX_BODY`]; a number too large for any type is as much too large.
fn parse_length(value: &[u8]) -> Result<usize, Refusal> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(Refusal::BadRequest("Content-Length is not a number"));
    }
    value
        .iter()
        .try_fold(0usize, |n, &digit| {
            n.checked_mul(10)?
                .checked_add(usize::from(digit - b'0'))
                .filter(|&n| n <= MAX_BODY)
        })
        .ok_or(Refusal::ContentTooLarge)
}
