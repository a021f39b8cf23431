//! A UDP echo client (asyncio's "UDP Echo Client Protocol" example): sends one datagram,
//! prints the echo, closes.
//!
//! ```text
//! cargo example udp_echo_client --allow-udp-send 127.0.0.1:9999 -- 127.0.0.1:9999 ['Hello World!']
//! ```
//! The first argument is the server's address (default `127.0.0.1:9999`), which the
//! host's policy must allow sending to (`--allow-udp-send`); the second the message.

use std::net::SocketAddr;

use sandloop::net::Address;
use sandloop::{DatagramOptions, DatagramProtocol, DatagramTransport, Error, Future};

/// Sends the message once the endpoint is up, closes at the first answer, and completes
/// `on_con_lost` at the end.
struct EchoClientProtocol {
    message: String,
    on_con_lost: Future<()>,
    transport: Option<DatagramTransport>,
}

impl DatagramProtocol for EchoClientProtocol {
    fn connection_made(&mut self, transport: &DatagramTransport) {
        self.transport = Some(transport.clone());
        println!("Send: {}", self.message);
        if let Err(err) = transport.sendto(self.message.as_bytes(), None) {
            eprintln!("sendto: {err}");
        }
    }

    fn datagram_received(&mut self, data: &[u8], _addr: &Address) {
        println!("Received: {}", String::from_utf8_lossy(data));
        println!("Close the socket");
        if let Some(transport) = &self.transport {
            transport.close();
        }
    }

    fn error_received(&mut self, exc: Error) {
        println!("Error received: {exc}");
    }

    fn connection_lost(&mut self, _exc: Option<Error>) {
        println!("Connection closed");
        let _ = self.on_con_lost.set_result(());
    }
}

fn main() -> sandloop::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9999".into())
        .parse()
        .map_err(Error::other)?;
    let message = args.next().unwrap_or_else(|| "Hello World!".into());
    sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        let on_con_lost = lp.create_future::<()>();
        let lost = on_con_lost.clone();
        let (transport, _protocol) = lp
            .create_datagram_endpoint(
                move || EchoClientProtocol {
                    message,
                    on_con_lost: lost,
                    transport: None,
                },
                DatagramOptions {
                    remote_addr: Some(addr.into()),
                    ..Default::default()
                },
            )
            .await?;
        let done = on_con_lost.await;
        transport.close();
        done
    })
}
