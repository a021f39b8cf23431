//! Guest side of bench/sendfile.sh: `bench_sendfile MODE PORT PATH` sends the file PATH
//! (of a preopened directory) once over a connection to 127.0.0.1:PORT with
//! `loop.sendfile`, and prints `MODE bytes=N secs=S`, timed inside the guest from before
//! the call until the connection has sent its last byte (the transport closed).
//!
//! MODE: `native` (a `sandloop::fs::File`: the host's `sendfile(2)`), `fallback` (a
//! `std::fs::File`: read in the guest and written through the transport, asyncio's
//! `_sendfile_fallback`), each with `-selector` for a `SelectorEventLoop` (readiness mode).

use std::time::Instant;

use sandloop::{ConnectOptions, Error, Future, HostSelector, Protocol, SelectorEventLoop};

struct Client {
    lost: Future<()>,
}

impl Protocol for Client {
    fn connection_lost(&mut self, exc: Option<Error>) {
        if let Some(err) = exc {
            eprintln!("connection lost: {err}");
        }
        let _ = self.lost.set_result(());
    }
}

fn main() -> sandloop::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, port, path] = args.as_slice() else {
        eprintln!("usage: bench_sendfile MODE PORT PATH");
        std::process::exit(64);
    };
    let port: u16 = port.parse().map_err(Error::other)?;
    let path = path.clone();
    let lp = if mode.ends_with("-selector") {
        SelectorEventLoop::new(HostSelector::new())
    } else {
        sandloop::new_event_loop()
    };
    sandloop::set_event_loop(Some(lp.clone()));
    let native = mode.starts_with("native");
    let main_lp = lp.clone();
    let (sent, secs) = lp.run_until_complete(async move {
        let lp = main_lp;
        let lost = lp.create_future();
        let for_protocol = lost.clone();
        let (transport, _) = lp
            .create_connection(
                move || Client { lost: for_protocol },
                "127.0.0.1",
                port,
                ConnectOptions::default(),
            )
            .await?;
        let start = Instant::now();
        let sent = if native {
            let mut file = sandloop::fs::File::open(&path)?;
            lp.sendfile(&transport, &mut file, 0, None, false).await?
        } else {
            let mut file = std::fs::File::open(&path)?;
            lp.sendfile(&transport, &mut file, 0, None, true).await?
        };
        transport.close();
        lost.await?;
        Ok::<_, Error>((sent, start.elapsed().as_secs_f64()))
    })?;
    println!("{mode} bytes={sent} secs={secs:.6}");
    lp.close()
}
