//! The seed's "watch a file descriptor for read events": `add_reader` on one end of a
//! socketpair waits for data, then stops the loop. Prints `Received: abc`.

use sandloop::net::socketpair;

fn main() -> sandloop::Result<()> {
    // A connected pair of sockets.
    let (rsock, wsock) = socketpair()?;
    let lp = sandloop::new_event_loop();

    // Register the socket for read events.
    let (reader_sock, reader_loop) = (rsock.clone(), lp.clone());
    lp.add_reader(&rsock, move || {
        let data = reader_sock.recv(100)?;
        println!("Received: {}", String::from_utf8_lossy(&data));
        // Done: unregister the socket, stop the loop.
        reader_loop.remove_reader(&reader_sock);
        reader_loop.stop();
        Ok::<_, sandloop::Error>(())
    })?;

    // Simulate the reception of data from the network.
    let writer = wsock.clone();
    lp.call_soon(move || writer.send(b"abc").map(drop));

    let outcome = lp.run_forever();
    // Done: close the sockets and the loop.
    rsock.close();
    wsock.close();
    lp.close()?;
    outcome
}
