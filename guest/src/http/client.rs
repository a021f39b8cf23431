//! [`fetch`]: an HTTP request sent with `wasi:http/outgoing-handler`, its response
//! awaited on the loop.

use crate::error::Result;
use crate::sys::errors::Progress;
use crate::sys::http as backend;

use super::outgoing::{set_content_length, write_body};
use super::wait::wait_ready;
use super::{Body, Request, Response};

/// Sends `request` through the host's `wasi:http/outgoing-handler` and returns the
/// response once its head arrived; its body is read as it comes
/// ([`Body::chunk`]). The request's URI must be absolute (`http://host:port/path`).
///
/// The task waits on the loop (other tasks, timers and sockets go on); the host decides
/// which requests may go out (`wasmtime serve` sends any; a denied one is
/// `Error::PermissionDenied`).
///
/// ```no_run
/// use sandloop::http::{Body, Request, fetch};
///
/// # async fn demo() -> sandloop::Result<()> {
/// let request = Request::get("http://127.0.0.1:8080/").body(Body::empty()).unwrap();
/// let response = fetch(request).await?;
/// println!("{}: {}", response.status(), response.into_body().text().await?);
/// # Ok(())
/// # }
/// ```
pub async fn fetch(request: Request<Body>) -> Result<Response<Body>> {
    let (mut head, body) = request.into_parts();
    set_content_length(&mut head.headers, &body);
    let (mut writer, pending) = backend::send_request(&head)?;
    write_body(&mut writer, body).await?;
    loop {
        match pending.get()? {
            Progress::Done((head, reader)) => {
                return Ok(Response::from_parts(head, Body::incoming(reader)));
            }
            Progress::Pending => wait_ready(|token| Some(pending.source(token))).await?,
        }
    }
}
