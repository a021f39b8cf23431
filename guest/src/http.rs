//! `wasi:http` handlers on sandloop (the `wasi-http` feature, portable build only): a
//! workload that serverless hosts (`wasmtime serve`, Spin, other `wasi:http` hosts) call
//! once per request, with the whole loop (tasks, timers, `wasi:sockets` TCP, outgoing
//! HTTP) available while it answers.
//!
//! One `async fn` is the handler; [`http_handler!`](crate::http_handler) exports it as
//! `wasi:http/incoming-handler`:
//!
//! ```no_run
//! use std::time::Duration;
//! use sandloop::http::{Body, Request, Response};
//!
//! async fn handle(req: Request<Body>) -> sandloop::Result<Response<Body>> {
//!     match req.uri().path() {
//!         "/" => Ok(Response::new(Body::from("Hello, World!\n"))),
//!         "/slow" => {
//!             sandloop::sleep(Duration::from_millis(100)).await?;
//!             Ok(Response::new(Body::from("slept\n")))
//!         }
//!         _ => Ok(Response::builder().status(404).body(Body::empty()).unwrap()),
//!     }
//! }
//!
//! sandloop::http_handler!(handle);
//!
//! // A component exports `wasi:cli/run` too: `wasmtime serve -S cli=y` calls the handler.
//! fn main() {}
//! ```
//!
//! Each request runs on a new loop ([`crate::run`], asyncio's `asyncio.run`): the handler
//! is its main task, tasks it spawned and left running are cancelled once the response
//! is sent, and the loop closes. An `Err` from the handler is answered with `500` and a
//! line on stderr, never a trap. The response's body is written as the host takes it: a
//! body known at once gets a `content-length`, [`Body::from_stream`] goes out chunk by
//! chunk. [`fetch`] sends requests of its own through `wasi:http/outgoing-handler`.
//!
//! Requests and responses are the `http` crate's [`Request`] and [`Response`] (the ones
//! hyper and axum use; the whole crate is re-exported as [`types`]) with this module's
//! [`Body`]: a handler reads like any other Rust HTTP handler, nothing of `wasi:http`
//! shows, and the `http` crate's builders, headers and status codes are at hand.
//!
//! A workload that never calls `http_handler!` or [`fetch`] exports and imports nothing
//! of `wasi:http`, feature or not.

mod body;
mod client;
mod handler;
mod outgoing;
mod wait;

pub use body::Body;
pub use client::fetch;

/// The `http` crate (method, status, headers, URI, builders): its types in full.
pub use ::http as types;

pub use ::http::{Request, Response, StatusCode};

/// What [`http_handler!`](crate::http_handler) expands to: not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use super::handler::handle;
    pub use crate::sys::http::{Guest, IncomingRequest, ResponseOutparam};
    pub use crate::sys::http_bindings as bindings;
}

/// Exports `handler` as the workload's `wasi:http/incoming-handler`: every request the
/// host hands the component runs `handler(request)` on a new loop until the response is
/// sent (see the [module docs](crate::http)).
///
/// `handler` is an `async fn(Request<Body>) -> Result<Response<Body>, E>` (or a path to one) with
/// any `E: Display`. Use it once per component, at the top level of the binary crate.
#[macro_export]
macro_rules! http_handler {
    ($handler:path) => {
        const _: () = {
            struct SandloopHttpHandler;

            impl $crate::http::__private::Guest for SandloopHttpHandler {
                fn handle(
                    request: $crate::http::__private::IncomingRequest,
                    response_out: $crate::http::__private::ResponseOutparam,
                ) {
                    $crate::http::__private::handle(request, response_out, $handler);
                }
            }

            $crate::http::__private::bindings::export_handler!(
                SandloopHttpHandler with_types_in $crate::http::__private::bindings
            );
        };
    };
}
