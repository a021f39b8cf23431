//! asyncio's `add_signal_handler` and `remove_signal_handler`: a signal delivered to the
//! host process runs a callback on the loop.
//!
//! Each handler holds a host subscription to its signal (see the WIT interface `signal`)
//! under a token of the loop's I/O registry; each delivery is a reactor event under that
//! token, which queues the handler's callback like any ready callback (asyncio's wakeup
//! fd, then `_handle_signal` adding the handle to the ready queue). Removing the handler
//! drops the subscription: with no workload handling the signal, the host carries out its
//! default action again (SIGTERM and SIGINT end the host process).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::panic::Location;

use crate::error::{Error, IntoResult, Result};
use crate::events::EventLoop;
use crate::events::Handle;
use crate::io_registry::IoEntry;
use crate::signal::{in_range, name, uncatchable};
use crate::sys::signal::{HostSubscription, subscribe};

/// One handler: its registry key (the token of its events) and its subscription.
struct Installed {
    key: usize,
    handle: Handle,
    _subscription: HostSubscription,
}

/// A loop's signal handlers, by signal number, in the loop's slot for them.
#[derive(Default)]
struct SignalHandlers {
    installed: RefCell<HashMap<i32, Installed>>,
}

/// asyncio's `_check_signal`: a number that names no signal is an `InvalidInput` error
/// (CPython's `ValueError`).
fn check_signal(signum: i32) -> Result<()> {
    if in_range(signum) {
        Ok(())
    } else {
        Err(Error::Os(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sig {signum} out of range(1, 65)"),
        )))
    }
}

fn cannot_be_caught(signum: i32, why: Option<&str>) -> Error {
    let name = name(signum);
    match why {
        Some(why) => Error::runtime(format!("sig {signum} ({name}) cannot be caught: {why}")),
        None => Error::runtime(format!("sig {signum} ({name}) cannot be caught")),
    }
}

impl EventLoop {
    /// Runs `cb` on the loop whenever signal `signum` (see [`crate::signal`]) is delivered
    /// to the host process, as asyncio's `loop.add_signal_handler`. A second call for the
    /// same signal replaces the handler. Deliveries close together may run `cb` once.
    ///
    /// Errors: a number outside `1..=64` is [`Error::Os`] of kind `InvalidInput` ("sig N
    /// out of range", CPython's `ValueError`); SIGKILL, SIGSTOP, and the signals the host
    /// keeps (SIGSEGV, SIGILL, SIGFPE, SIGBUS) are [`Error::Runtime`] ("sig N cannot be
    /// caught", CPython's `RuntimeError`); a signal the workload's policy does not grant
    /// (`--allow-signal`) is [`Error::PermissionDenied`]; a closed loop, or a loop whose
    /// selector is not the host's reactor, is [`Error::Runtime`].
    ///
    /// asyncio: `loop.add_signal_handler(signal.SIGTERM, cb)`; a graceful stop on Ctrl+C or
    /// `kill` (the host needs `--allow-signal` for each):
    ///
    /// ```no_run
    /// use sandloop::signal::{SIGINT, SIGTERM};
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let stop = sandloop::Event::new();
    ///     for sig in [SIGINT, SIGTERM] {
    ///         let stop = stop.clone();
    ///         lp.add_signal_handler(sig, move || stop.set())?;
    ///     }
    ///     println!("kill -TERM {} to stop", sandloop::signal::host_pid());
    ///     stop.wait().await?;
    ///     lp.remove_signal_handler(SIGINT)?;
    ///     lp.remove_signal_handler(SIGTERM)?;
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    #[track_caller]
    pub fn add_signal_handler<F, R>(&self, signum: i32, cb: F) -> Result<()>
    where
        F: FnMut() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        check_signal(signum)?;
        self.check_closed()?;
        if uncatchable(signum) {
            return Err(cannot_be_caught(signum, None));
        }
        if !self.selector_watches_host_sources() {
            return Err(Error::runtime(
                "add_signal_handler needs the sandloop host's reactor as the loop's selector",
            ));
        }
        let handle = Handle::repeating(cb, Location::caller());
        let key = self.register_io(IoEntry::Repeating(handle.clone()));
        // Subscribe before the old handler lets go, so the signal is never left without a
        // handler in between (its default action would run).
        let subscription = match subscribe(signum as u32, key as u64) {
            Ok(sub) => sub,
            Err(err) => {
                self.deregister_io(key);
                return Err(match err {
                    Error::Os(os) if os.kind() == io::ErrorKind::InvalidInput => {
                        cannot_be_caught(signum, Some(&os.to_string()))
                    }
                    other => other,
                });
            }
        };
        let old = self.slot::<SignalHandlers>().installed.borrow_mut().insert(
            signum,
            Installed {
                key,
                handle,
                _subscription: subscription,
            },
        );
        if let Some(old) = old {
            self.uninstall(old);
        }
        Ok(())
    }

    /// Removes the handler of `signum`, as asyncio's `loop.remove_signal_handler`: `true`
    /// if there was one, `false` otherwise. The signal's default action applies again
    /// once no workload handles it (SIGTERM and SIGINT end the host). A number outside
    /// `1..=64` is an `InvalidInput` error, as for `add_signal_handler`.
    ///
    /// ```no_run
    /// # fn demo(lp: &sandloop::EventLoop) -> sandloop::Result<()> {
    /// use sandloop::signal::SIGHUP;
    /// lp.add_signal_handler(SIGHUP, || println!("reloading"))?;
    /// assert!(lp.remove_signal_handler(SIGHUP)?);
    /// assert!(!lp.remove_signal_handler(SIGHUP)?); // none any more
    /// # Ok(()) }
    /// ```
    pub fn remove_signal_handler(&self, signum: i32) -> Result<bool> {
        check_signal(signum)?;
        let removed = self
            .existing_slot::<SignalHandlers>()
            .and_then(|handlers| handlers.installed.borrow_mut().remove(&signum));
        match removed {
            Some(old) => {
                self.uninstall(old);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Removes every handler (the loop is closing).
    pub(crate) fn remove_signal_handlers(&self) {
        let Some(handlers) = self.existing_slot::<SignalHandlers>() else {
            return;
        };
        let all: Vec<Installed> = handlers
            .installed
            .borrow_mut()
            .drain()
            .map(|(_, installed)| installed)
            .collect();
        for installed in all {
            self.uninstall(installed);
        }
    }

    fn uninstall(&self, installed: Installed) {
        installed.handle.cancel();
        self.deregister_io(installed.key);
        // Dropping `installed` drops the subscription.
    }
}
