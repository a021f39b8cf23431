//! An echo server on a unix socket (asyncio's echo server, on `create_unix_server`).
//!
//! ```text
//! cargo example unix_echo_server --allow-unix /tmp/echo.sock -- /tmp/echo.sock [--streams] [--selector]
//! ```
//! The first argument is the socket's path (default `/tmp/echo.sock`), or `@NAME` for an
//! abstract name (grant it with `--allow-unix @NAME`); the host's policy must allow it. A
//! stale socket file left at the path by an earlier run is removed first; the file is
//! removed again when the server closes. `--streams` serves with the streams API instead
//! of a `Protocol`; `--selector` runs a `SelectorEventLoop` (readiness mode) instead of the
//! default completion-mode loop. Talk to it with `unix_echo_client`, or from Python:
//! `socket.socket(socket.AF_UNIX).connect("/tmp/echo.sock")`. The echo itself, with its
//! flow control, is `echo.rs` (shared with `echo_server`).

mod echo;

use echo::{EchoServerProtocol, echo};
use sandloop::{
    Error, EventLoop, HostSelector, ProactorEventLoop, SelectorEventLoop, Server, UnixPath,
    UnixServerOptions,
};

/// `@NAME` is an abstract name, anything else a path.
fn unix_path(arg: &str) -> UnixPath {
    match arg.strip_prefix('@') {
        Some(name) => UnixPath::abstract_name(name),
        None => UnixPath::from(arg),
    }
}

async fn serve(lp: EventLoop, path: UnixPath, streams: bool) -> Result<(), Error> {
    let opts = UnixServerOptions::default();
    let server: Server = if streams {
        sandloop::streams::start_unix_server(echo, path, opts).await?
    } else {
        lp.create_unix_server(EchoServerProtocol::default, path, opts)
            .await?
    };
    for sock in server.sockets() {
        println!("Serving on {}", sock.local_addr()?);
    }
    server.serve_forever().await
}

fn main() -> sandloop::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = unix_path(
        args.iter()
            .find(|a| !a.starts_with("--"))
            .map(String::as_str)
            .unwrap_or("/tmp/echo.sock"),
    );
    let flag = |name: &str| args.iter().any(|a| a == name);
    let lp = if flag("--selector") {
        SelectorEventLoop::new(HostSelector::new())
    } else {
        ProactorEventLoop::new()
    };
    sandloop::set_event_loop(Some(lp.clone()));
    let served = lp.run_until_complete(serve(lp.clone(), path, flag("--streams")));
    lp.close()?;
    served
}
