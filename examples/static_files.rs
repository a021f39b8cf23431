//! A small HTTP/1.1 static file server: files of a preopened directory, sent with
//! `loop.sendfile` (the host's native `sendfile(2)`: the bytes never enter the sandbox).
//!
//! ```text
//! cargo example static_files --allow-listen 127.0.0.1:8080 --dir ./some/dir::/www -- 127.0.0.1:8080 /www
//! curl http://127.0.0.1:8080/index.html
//! ```
//!
//! `GET` and `HEAD`; `/` means `/index.html`; a missing file (or a directory) is a 404; a
//! path with a `..` segment is a 400, and the host confines every open to the preopened
//! directory anyway. Connections are kept alive (HTTP/1.1), requests answered in order.
//! Add `--selector` to serve on a `SelectorEventLoop` (readiness mode).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use sandloop::fs::File;
use sandloop::{
    Error, EventLoop, HostSelector, Protocol, SelectorEventLoop, ServerOptions, Transport,
};

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
}

/// The end of the head of a request (`\r\n\r\n`), if it has arrived.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
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
        Err(_) => {
            text(transport, "404 Not Found", "not found\n", close, head_only);
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
            match head_end(&st.buffer) {
                Some(end) => st.buffer.drain(..end).collect::<Vec<u8>>(),
                None => {
                    st.busy = false;
                    return;
                }
            }
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
        if st.buffer.len() > 64 * 1024 && head_end(&st.buffer).is_none() {
            text(
                &transport,
                "431 Request Header Fields Too Large",
                "too large\n",
                true,
                false,
            );
            transport.close();
            return;
        }
        if st.busy {
            return;
        }
        st.busy = true;
        drop(st);
        let lp = transport.get_loop();
        let task = serve_requests(lp.clone(), transport, self.root.clone(), self.state.clone());
        lp.create_task(task);
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
