//! Guest side of bench/tls.sh: an echo over loopback, plain TCP or TLS, sandloop on both
//! ends (two processes, one per core).
//!
//! - `bench_tls server MODE PORT`: echoes every connection (reading pauses while its
//!   writes are over the high-water mark); prints `ready` once it listens.
//! - `bench_tls client MODE PORT MIB`: sends MIB mebibytes in 64 KiB writes with flow
//!   control, reads the echo back, and prints `MODE bytes=N secs=S`, timed from the first
//!   write until the last echoed byte arrived.
//!
//! MODE `plain` or `tls` (the host's rustls; certificates at /certs/cert.pem, key.pem and
//! ca.pem, from `cargo xtask dev-cert`).

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use sandloop::tls::TlsContext;
use sandloop::{ConnectOptions, Error, Future, Protocol, ServerOptions, Transport};

const CHUNK: usize = 64 * 1024;

/// Echoes what it reads, pausing its reading while the echo backs up.
#[derive(Default)]
struct Echo {
    transport: Option<Transport>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data);
        }
    }

    fn pause_writing(&mut self) {
        if let Some(t) = &self.transport {
            t.pause_reading();
        }
    }

    fn resume_writing(&mut self) {
        if let Some(t) = &self.transport {
            t.resume_reading();
        }
    }
}

/// Sends `total` bytes as the transport takes them and counts the echo.
struct Pump {
    transport: Option<Transport>,
    chunk: Rc<[u8]>,
    total: usize,
    sent: usize,
    received: Rc<Cell<usize>>,
    paused: bool,
    done: Future<()>,
}

impl Pump {
    fn send(&mut self) {
        let Some(t) = self.transport.clone() else {
            return;
        };
        while !self.paused && self.sent < self.total {
            let n = CHUNK.min(self.total - self.sent);
            t.write(&self.chunk[..n]);
            self.sent += n;
        }
    }
}

impl Protocol for Pump {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
        self.send();
    }

    fn data_received(&mut self, data: &[u8]) {
        self.received.set(self.received.get() + data.len());
        if self.received.get() >= self.total {
            let _ = self.done.set_result(());
        }
    }

    fn pause_writing(&mut self) {
        self.paused = true;
    }

    fn resume_writing(&mut self) {
        self.paused = false;
        self.send();
    }

    fn connection_lost(&mut self, exc: Option<Error>) {
        let _ = match exc {
            Some(err) => self.done.set_exception(err),
            None => self.done.set_result(()),
        };
    }
}

fn context(server: bool) -> sandloop::Result<TlsContext> {
    Ok(if server {
        let ctx = TlsContext::server();
        ctx.load_cert_chain(
            Path::new("/certs/cert.pem"),
            Some(Path::new("/certs/key.pem")),
        )?;
        ctx
    } else {
        let ctx = TlsContext::client();
        ctx.load_verify_locations(Some(Path::new("/certs/ca.pem")), None)?;
        ctx
    })
}

fn main() -> sandloop::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (role, mode, port) = match args.as_slice() {
        [role, mode, port, ..] if mode == "plain" || mode == "tls" => (
            role.clone(),
            mode.clone(),
            port.parse::<u16>().map_err(Error::other)?,
        ),
        _ => {
            eprintln!("usage: bench_tls (server MODE PORT | client MODE PORT MIB), MODE plain|tls");
            std::process::exit(64);
        }
    };
    let tls = mode == "tls";
    sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        if role == "server" {
            let server = lp
                .create_server(
                    Echo::default,
                    "127.0.0.1",
                    port,
                    ServerOptions {
                        ssl: if tls { Some(context(true)?) } else { None },
                        ..Default::default()
                    },
                )
                .await?;
            println!("ready");
            return server.serve_forever().await;
        }
        let mib: usize = args
            .get(3)
            .ok_or_else(|| Error::Runtime("client: MIB missing".into()))?
            .parse()
            .map_err(Error::other)?;
        let total = mib << 20;
        let done = lp.create_future::<()>();
        let received = Rc::new(Cell::new(0));
        let chunk: Rc<[u8]> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
        let started = Rc::new(RefCell::new(None));
        let (transport, _) = {
            let (done, received, started) = (done.clone(), received.clone(), started.clone());
            lp.create_connection(
                move || {
                    *started.borrow_mut() = Some(Instant::now());
                    Pump {
                        transport: None,
                        chunk,
                        total,
                        sent: 0,
                        received,
                        paused: false,
                        done,
                    }
                },
                "127.0.0.1",
                port,
                ConnectOptions {
                    ssl: if tls { Some(context(false)?) } else { None },
                    server_hostname: tls.then(|| "localhost".to_string()),
                    ..Default::default()
                },
            )
            .await?
        };
        done.await?;
        let secs = started
            .borrow()
            .map_or(0.0, |t: Instant| t.elapsed().as_secs_f64());
        println!("{mode} bytes={} secs={secs:.6}", received.get());
        transport.close();
        Ok(())
    })
}
