//! A unix-socket echo client with the streams API: sends a message to `unix_echo_server`
//! and prints the echo.
//!
//! ```text
//! cargo example unix_echo_client --allow-unix /tmp/echo.sock -- /tmp/echo.sock 'Hello World!'
//! ```
//! The first argument is the server's path (or `@NAME` for an abstract name).

use sandloop::UnixPath;
use sandloop::streams;

fn main() -> sandloop::Result<()> {
    let mut args = std::env::args().skip(1);
    let arg = args.next().unwrap_or_else(|| "/tmp/echo.sock".into());
    let path = match arg.strip_prefix('@') {
        Some(name) => UnixPath::abstract_name(name),
        None => UnixPath::from(arg),
    };
    let message = args.next().unwrap_or_else(|| "Hello World!".into());
    sandloop::run(async move {
        let (reader, writer) = streams::open_unix_connection(path, Default::default()).await?;
        writer.write(message.as_bytes());
        println!("Data sent: {message:?}");
        let echo = reader.readexactly(message.len()).await?;
        println!("Data received: {:?}", String::from_utf8_lossy(&echo));
        writer.close();
        writer.wait_closed().await?;
        println!("The connection is closed");
        Ok::<_, sandloop::Error>(())
    })
}
