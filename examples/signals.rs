//! The seed's signals example: handlers for SIGINT and SIGTERM stop the loop.
//!
//! ```python
//! def ask_exit(signame, loop):
//!     print("got signal %s: exit" % signame)
//!     loop.stop()
//!
//! async def main():
//!     loop = asyncio.get_running_loop()
//!     for signame in {'SIGINT', 'SIGTERM'}:
//!         loop.add_signal_handler(
//!             getattr(signal, signame),
//!             functools.partial(ask_exit, signame, loop))
//!     await asyncio.sleep(3600)
//!
//! print("Event loop running for 1 hour, press Ctrl+C to interrupt.")
//! print(f"pid {os.getpid()}: send SIGINT or SIGTERM to exit.")
//! asyncio.run(main())
//! ```
//!
//! The pid printed is the host process's (`sandloop::signal::host_pid`): that is where
//! signals are sent; a workload has no process of its own. The host must grant the
//! signals (host flags go before the `--`):
//! `cargo example signals --allow-signal SIGINT --allow-signal SIGTERM --`.
//!
//! Where CPython's `asyncio.run` raises "Event loop stopped before Future completed"
//! after `loop.stop()`, this runs `main` as a task under `run_forever`, so the stop is a
//! clean exit (status 0), which is what the example means to show.

use std::io::Write as _;
use std::time::Duration;

use sandloop::signal::{SIGINT, SIGTERM, host_pid, name};
use sandloop::{EventLoop, get_running_loop, sleep};

/// Prints the signal's name and stops the loop.
fn ask_exit(signame: &str, lp: &EventLoop) {
    println!("got signal {signame}: exit");
    let _ = std::io::stdout().flush();
    lp.stop();
}

async fn main_task() -> sandloop::Result<()> {
    let lp = get_running_loop()?;
    for signum in [SIGINT, SIGTERM] {
        let signame = name(signum);
        let stopper = lp.clone();
        lp.add_signal_handler(signum, move || ask_exit(&signame, &stopper))?;
    }
    sleep(Duration::from_secs(3600)).await
}

fn main() -> sandloop::Result<()> {
    println!("Event loop running for 1 hour, press Ctrl+C to interrupt.");
    println!("pid {}: send SIGINT or SIGTERM to exit.", host_pid());
    let _ = std::io::stdout().flush();

    let lp = sandloop::new_event_loop();
    sandloop::set_event_loop(Some(lp.clone()));
    // The loop stops when a handler stops it, or when `main` ends (as `asyncio.run`'s
    // does).
    let stopper = lp.clone();
    let task = lp.create_task(async move {
        let ended = main_task().await;
        stopper.stop();
        ended
    });
    lp.run_forever()?;
    if task.done() {
        // `main` ended before a signal came: its error (say, a denied signal) is ours.
        // (It cannot end otherwise: it sleeps an hour.)
        task.result()?;
    } else {
        // Let `main` see its cancellation before the loop closes, as `asyncio.run` does.
        task.cancel();
        let _ = lp.run_until_complete(task);
    }
    lp.close()
}
