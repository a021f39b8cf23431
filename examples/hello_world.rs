//! The seed's first example: a callback scheduled with `call_soon` prints "Hello World" and
//! stops the loop.
//!
//! ```python
//! def hello_world(loop):
//!     print('Hello World')
//!     loop.stop()
//!
//! loop = asyncio.new_event_loop()
//! loop.call_soon(hello_world, loop)
//! try:
//!     loop.run_forever()
//! finally:
//!     loop.close()
//! ```

use sandloop::EventLoop;

/// Prints "Hello World" and stops the loop.
fn hello_world(lp: &EventLoop) {
    println!("Hello World");
    lp.stop();
}

fn main() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();

    // Schedule a call to hello_world().
    let lp2 = lp.clone();
    lp.call_soon(move || hello_world(&lp2));

    // Blocking call interrupted by lp.stop().
    let ran = lp.run_forever();
    lp.close()?;
    ran
}
