//! A TCP echo client with the Protocol API (asyncio's "TCP Echo Client" example).
//!
//! ```text
//! cargo example echo_client --allow-connect 127.0.0.1:8888 -- 127.0.0.1:8888 'Hello World!'
//! ```

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use sandloop::{ConnectOptions, Error, Future, Protocol, Transport};

/// Sends one message, prints what comes back, closes once the whole echo is back, and
/// completes `on_con_lost` at the end.
struct EchoClientProtocol {
    message: String,
    received: usize,
    transport: Option<Transport>,
    on_con_lost: Future<()>,
}

impl Protocol for EchoClientProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(self.message.as_bytes());
        println!("Data sent: {:?}", self.message);
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        println!("Data received: {:?}", String::from_utf8_lossy(data));
        self.received += data.len();
        // An echo server keeps the connection open: close it once the echo is complete.
        if self.received >= self.message.len()
            && let Some(transport) = &self.transport
        {
            transport.close();
        }
    }

    fn connection_lost(&mut self, _exc: Option<Error>) {
        println!("The connection is closed");
        let _ = self.on_con_lost.set_result(());
    }
}

fn main() -> sandloop::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8888".into())
        .parse()
        .map_err(Error::other)?;
    let message = args.next().unwrap_or_else(|| "Hello World!".into());
    sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        let on_con_lost = lp.create_future::<()>();
        let lost = on_con_lost.clone();
        let (_transport, _protocol): (Transport, Rc<RefCell<EchoClientProtocol>>) = lp
            .create_connection(
                move || EchoClientProtocol {
                    message,
                    received: 0,
                    transport: None,
                    on_con_lost: lost,
                },
                &addr.ip().to_string(),
                addr.port(),
                ConnectOptions::default(),
            )
            .await?;
        on_con_lost.await
    })
}
