//! A small HTTP/1.1 static file server: files of a preopened directory, sent with
//! `loop.sendfile` (the host's native `sendfile(2)`: the bytes never enter the sandbox).
//!
//! ```text
//! cargo example static_files --allow-listen 127.0.0.1:8080 --dir ./some/dir::/www -- 127.0.0.1:8080 /www
//! curl http://127.0.0.1:8080/index.html
//! ```
//!
//! `GET` and `HEAD`; `/` means `/index.html`; a missing file (or a directory) is a 404,
//! anything else that is not a regular file (a FIFO, a socket, a device) a 403, and
//! opening one never blocks the server (`sandloop::fs::File::open` refuses it at once); a
//! path with a `..` segment is a 400, and the host confines every open to the preopened
//! directory anyway. Connections are kept alive (HTTP/1.1), requests answered in order;
//! where a request ends, and which are refused (400, 413, 431, 501), is
//! `http_framing.rs`. A client that sends requests without reading the responses is not
//! read from while they wait. Add `--selector` to serve on a `SelectorEventLoop`
//! (readiness mode).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use sandloop::fs::File;
use sandloop::{
    Error, EventLoop, HostSelector, Protocol, SelectorEventLoop, ServerOptions, Transport,
};

#[path = "http_framing.rs"]
mod http_framing;

use http_framing::{Framing, MAX_BODY, MAX_HEAD, frame};

/// The most bytes of requests a connection holds before it stops reading: one request
/// of the largest size accepted.
const MAX_BUFFERED: usize = MAX_HEAD + MAX_BODY;

/// One connection: the bytes received and whether a task is answering.
struct Connection {
    root: Rc<str>,
    transport: Option<Transport>,
    state: Rc<RefCell<Requests>>,
}

#[derive(Default)]
struct Requests {
    buffer: Vec<u8>,
    /// A task is answering the requests in `buffer`.
    busy: bool,
    /// The transport paused writing: the client is not reading its responses.
    write_paused: bool,
}

impl Requests {
    /// Reads while the client reads its responses and the buffer has room, so that
    /// neither the requests nor the responses waiting for it grow without bound.
    fn pace(&self, transport: &Transport) {
        if self.write_paused || self.buffer.len() > MAX_BUFFERED {
            transport.pause_reading();
        } else {
            transport.resume_reading();
        }
    }
}

/// A response head.
fn head(status: &str, len: u64, content_type: &str, close: bool) -> Vec<u8> {
    let connection = if close { "close" } else { "keep-alive" };
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nContent-Type: {content_type}\r\nConnection: {connection}\r\n\r\n"
    )
    .into_bytes()
}

/// A short text response.
fn text(transport: &Transport, status: &str, body: &str, close: bool, head_only: bool) {
    transport.write(&head(status, body.len() as u64, "text/plain", close));
    if !head_only {
        transport.write(body.as_bytes());
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html" | "htm") => "text/html",
        Some("txt") => "text/plain",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// Answers one request head; returns whether the connection stays open.
async fn answer(lp: &EventLoop, transport: &Transport, root: &str, head_bytes: &[u8]) -> bool {
    let text_head = String::from_utf8_lossy(head_bytes);
    let mut lines = text_head.lines();
    let request = lines.next().unwrap_or_default();
    let close = text_head
        .to_ascii_lowercase()
        .lines()
        .any(|l| l.starts_with("connection:") && l.contains("close"))
        || request.ends_with("HTTP/1.0");
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        text(
            transport,
            "405 Method Not Allowed",
            "method not allowed\n",
            close,
            false,
        );
        return !close;
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') || path.split('/').any(|seg| seg == "..") {
        text(transport, "400 Bad Request", "bad path\n", true, head_only);
        return false;
    }
    let path = if path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    let full = format!("{}{path}", root.trim_end_matches('/'));
    let mut file = match File::open(&full) {
        Ok(file) => file,
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::IsADirectory
            ) =>
        {
            text(transport, "404 Not Found", "not found\n", close, head_only);
            return !close;
        }
        Err(_) => {
            // A FIFO, a socket, a device, or a file the host may not open: there is
            // something, but it is not served.
            text(transport, "403 Forbidden", "forbidden\n", close, head_only);
            return !close;
        }
    };
    let len = match file.len() {
        Ok(len) => len,
        Err(_) => {
            text(
                transport,
                "500 Internal Server Error",
                "error\n",
                true,
                head_only,
            );
            return false;
        }
    };
    transport.write(&head("200 OK", len, content_type(&path), close));
    if !head_only
        && len > 0
        && let Err(err) = lp.sendfile(transport, &mut file, 0, None, true).await
    {
        eprintln!("sendfile {full}: {err}");
        return false;
    }
    !close
}

/// Answers the requests in the buffer, in order, until none is complete.
async fn serve_requests(
    lp: EventLoop,
    transport: Transport,
    root: Rc<str>,
    state: Rc<RefCell<Requests>>,
) {
    loop {
        let request = {
            let mut st = state.borrow_mut();
            let request = match frame(&st.buffer) {
                Framing::Request { head, total } => {
                    let head = st.buffer[..head].to_vec();
                    st.buffer.drain(..total);
                    head
                }
                Framing::Incomplete => {
                    st.busy = false;
                    st.pace(&transport);
                    return;
                }
                Framing::Refused(refusal) => {
                    transport.write(&refusal.response());
                    transport.close();
                    st.busy = false;
                    return;
                }
            };
            st.pace(&transport);
            request
        };
        if !answer(&lp, &transport, &root, &request).await {
            transport.close();
            state.borrow_mut().busy = false;
            return;
        }
    }
}

impl Protocol for Connection {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        let Some(transport) = self.transport.clone() else {
            return;
        };
        let mut st = self.state.borrow_mut();
        st.buffer.extend_from_slice(data);
        st.pace(&transport);
        if st.busy {
            return;
        }
        st.busy = true;
        drop(st);
        let lp = transport.get_loop();
        let task = serve_requests(lp.clone(), transport, self.root.clone(), self.state.clone());
        lp.create_task(task);
    }

    fn pause_writing(&mut self) {
        self.set_write_paused(true);
    }

    fn resume_writing(&mut self) {
        self.set_write_paused(false);
    }
}

impl Connection {
    fn set_write_paused(&mut self, paused: bool) {
        let mut st = self.state.borrow_mut();
        st.write_paused = paused;
        if let Some(transport) = &self.transport {
            st.pace(transport);
        }
    }
}

async fn serve(lp: EventLoop, addr: SocketAddr, root: Rc<str>) -> Result<(), Error> {
    let server = lp
        .create_server(
            move || Connection {
                root: root.clone(),
                transport: None,
                state: Rc::default(),
            },
            addr.ip().to_string().as_str(),
            addr.port(),
            ServerOptions::default(),
        )
        .await?;
    for sock in server.sockets() {
        println!("Serving on {}", sock.local_addr()?);
    }
    server.serve_forever().await
}

fn main() -> sandloop::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut words = args.iter().filter(|a| !a.starts_with("--"));
    let addr: SocketAddr = words
        .next()
        .map(String::as_str)
        .unwrap_or("127.0.0.1:8080")
        .parse()
        .map_err(Error::other)?;
    let root: Rc<str> = words.next().map(String::as_str).unwrap_or("/www").into();
    let lp = if args.iter().any(|a| a == "--selector") {
        SelectorEventLoop::new(HostSelector::new())
    } else {
        sandloop::new_event_loop()
    };
    sandloop::set_event_loop(Some(lp.clone()));
    lp.run_until_complete(serve(lp.clone(), addr, root))?;
    lp.close()
}
