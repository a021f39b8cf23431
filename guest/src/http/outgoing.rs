//! Writing a [`Body`] into an outgoing body's stream (a response's, a fetched request's):
//! its framing header, then each chunk as the stream takes it, waiting on the loop when
//! the host's buffer is full, then a flush and the body's end.

use crate::error::Result;
use crate::sys::errors::Progress;
use crate::sys::http::BodyWriter;

use super::Body;
use super::wait::wait_ready;

/// Writes all of `body` into `writer` and finishes it.
pub(crate) async fn write_body(writer: &mut BodyWriter, mut body: Body) -> Result<()> {
    while let Some(chunk) = body.chunk().await? {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            match writer.write(rest)? {
                Progress::Done(n) => rest = &rest[n..],
                Progress::Pending => wait_ready(|token| writer.source(token)).await?,
            }
        }
    }
    writer.flush()?;
    while !writer.flushed()? {
        wait_ready(|token| writer.source(token)).await?;
    }
    writer.finish()
}

/// `content-length` for a body whose bytes are known, unless the handler said how the
/// body is framed itself.
pub(crate) fn set_content_length(headers: &mut ::http::HeaderMap, body: &Body) {
    if headers.contains_key(::http::header::CONTENT_LENGTH)
        || headers.contains_key(::http::header::TRANSFER_ENCODING)
    {
        return;
    }
    if let Some(len) = body.exact_len() {
        headers.insert(::http::header::CONTENT_LENGTH, len.into());
    }
}
