//! `sandloop run` asked to end: a SIGTERM, SIGINT or SIGHUP that no workload handles.
//!
//! Left to its default action, such a signal would end the host at once. The kernel would
//! then kill the workloads' children (their parent-death signal), but only after the host
//! is gone: whoever waits for the host could see it exit while its children still run,
//! and nothing would reap them. So the CLI claims these signals from the start
//! (`sandloop_host::signal::on_unclaimed`: a workload that handles one still gets it),
//! stops every running copy of the workload, whose teardown kills and reaps its children
//! and closes its sockets, and then dies of the signal, as it would have without all this:
//! its parent sees it killed by SIGTERM (a shell reports 143).
//!
//! A second such signal ends the host at once, and so does a teardown that has not
//! finished after [`GRACE`] (a guest spinning in a callback cannot be stopped by a run
//! without epoch checks, i.e. without `--max-callback-time`); the children then die of
//! their parent-death signal.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sandloop_host::StopHandle;
use sandloop_host::policy::signal_name;
use sandloop_host::signal::{default_action, on_unclaimed};

/// The signals that ask the host to end.
const ENDING: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// How long the teardown may take before the host dies of the signal anyway.
const GRACE: Duration = Duration::from_secs(5);

/// The runs to stop when the host is asked to end, and the signal that asked.
#[derive(Clone)]
pub(crate) struct Shutdown(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    signal: Option<i32>,
    running: Vec<StopHandle>,
}

impl Shutdown {
    /// Claims SIGTERM, SIGINT and SIGHUP for the runs [`watch`](Shutdown::watch)ed from
    /// now on.
    pub(crate) fn install() -> anyhow::Result<Shutdown> {
        let shutdown = Shutdown(Arc::default());
        let claimed = shutdown.clone();
        on_unclaimed(&ENDING, move |signum| claimed.asked_to_end(signum))?;
        Ok(shutdown)
    }

    /// Has `run` stopped when the host is asked to end (at once if it already was).
    pub(crate) fn watch(&self, run: StopHandle) {
        let mut state = self.lock();
        if state.signal.is_some() {
            run.stop();
        }
        state.running.push(run);
    }

    /// Once the runs have ended: if a signal asked the host to end, the host dies of it
    /// now (this does not return); otherwise nothing happens.
    pub(crate) fn finish(&self) {
        let signal = self.lock().signal;
        if let Some(signum) = signal {
            tracing::debug!("workloads stopped: ending on {}", signal_name(signum));
            default_action(signum);
        }
    }

    fn asked_to_end(&self, signum: i32) {
        let mut state = self.lock();
        if state.signal.is_some() {
            drop(state);
            eprintln!("sandloop: {} again: ending now", signal_name(signum));
            default_action(signum);
            return;
        }
        state.signal = Some(signum);
        for run in &state.running {
            run.stop();
        }
        drop(state);
        let spawned = std::thread::Builder::new()
            .name("sandloop grace".into())
            .spawn(move || {
                std::thread::sleep(GRACE);
                eprintln!(
                    "sandloop: the workloads did not stop within {GRACE:?} of {}: ending now",
                    signal_name(signum)
                );
                default_action(signum);
            });
        if let Err(err) = spawned {
            tracing::warn!("no grace period: {err}");
            default_action(signum);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
