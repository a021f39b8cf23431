//! One call of the `wasi:http/incoming-handler` export: a loop for the request, the
//! user's handler on it, the response sent back.
//!
//! Each call runs [`crate::run`] (asyncio's `asyncio.run`): a new loop on the portable
//! selector, the handler as its main task, then what is left cancelled and the loop
//! closed. A host that reuses the instance for the next request (`wasmtime serve
//! --max-instance-reuse-count`) gets a fresh loop each time; nothing of one request's
//! loop outlives its call.

use std::cell::RefCell;
use std::fmt::Display;
use std::future::Future;
use std::rc::Rc;

use crate::error::Result;
use crate::sys::http::{self as backend, BodyReader, IncomingRequest, ResponseOutparam};

use super::outgoing::{set_content_length, write_body};
use super::{Body, Request, Response};

/// Runs `handler` for `request` on a new loop and answers through `out`. A handler's
/// error becomes a `500 Internal Server Error` (and a line on stderr); a request whose
/// head cannot be read, a `400`.
pub fn handle<H, F, E>(request: IncomingRequest, out: ResponseOutparam, handler: H)
where
    H: FnOnce(Request<Body>) -> F + 'static,
    F: Future<Output = std::result::Result<Response<Body>, E>> + 'static,
    E: Display,
{
    let out = Rc::new(RefCell::new(Some(out)));
    let sender = out.clone();
    let outcome = crate::run(async move {
        let mut head_only = false;
        let response = match into_request(request) {
            Ok(request) => {
                head_only = request.method() == ::http::Method::HEAD;
                let what = format!("{} {}", request.method(), request.uri());
                match handler(request).await {
                    Ok(response) => response,
                    Err(e) => {
                        eprintln!("sandloop::http: handler failed on {what}: {e}");
                        status_response(500)
                    }
                }
            }
            Err(e) => {
                eprintln!("sandloop::http: unreadable request: {e}");
                status_response(400)
            }
        };
        send(&sender, response, head_only).await
    });
    if let Err(e) = outcome {
        eprintln!("sandloop::http: response not sent in full: {e}");
        // The head did not go yet: the host answers the client with an error.
        if let Some(out) = out.borrow_mut().take() {
            backend::send_error(out, &e.to_string());
        }
    }
}

fn into_request(request: IncomingRequest) -> Result<Request<Body>> {
    let head = backend::request_head(&request)?;
    let body = Body::incoming(BodyReader::of_request(request)?);
    Ok(Request::from_parts(head, body))
}

/// A response with `status` and its reason phrase as the body.
fn status_response(status: u16) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() =
        ::http::StatusCode::from_u16(status).unwrap_or(::http::StatusCode::INTERNAL_SERVER_ERROR);
    let reason = response.status().canonical_reason().unwrap_or("");
    *response.body_mut() = Body::from(format!("{status} {reason}\n"));
    response
}

/// Sends `response`'s head through the outparam, then its body (none after a `HEAD`).
async fn send(
    out: &RefCell<Option<ResponseOutparam>>,
    response: Response<Body>,
    head_only: bool,
) -> Result<()> {
    let (mut head, body) = response.into_parts();
    let body = if head_only {
        // The host checks a `content-length` against the bytes written, and takes none
        // after a `HEAD`.
        head.headers.remove(::http::header::CONTENT_LENGTH);
        Body::empty()
    } else {
        set_content_length(&mut head.headers, &body);
        body
    };
    let Some(out) = out.borrow_mut().take() else {
        return Ok(());
    };
    let mut writer = backend::send_response(out, &head)?;
    write_body(&mut writer, body).await
}
