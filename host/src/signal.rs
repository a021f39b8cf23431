//! Signals delivered to the host process, handed to the workloads that subscribed: the
//! host side of the WIT interface `sandloop:host/signal` and of asyncio's
//! `add_signal_handler`.
//!
//! # One capture per process
//!
//! Signals belong to the process, not to an instance. A process-wide `Registry` maps
//! each signal to its subscribers (an instance's guest token and the completer of its
//! reactor). The first subscription to a signal has `signal-hook` capture it (its
//! self-pipe, read by one host thread, so nothing but a write runs in the signal handler);
//! each delivery then reports a `readable` event under the token of every subscriber.
//!
//! # Unsubscribing restores the default
//!
//! `signal-hook` cannot give a signal's disposition back once it captured it, so the
//! capture stays for the life of the process, and a delivery that finds no subscriber
//! carries out the signal's default action (`emulate_default_handler`): with no workload
//! handling it, SIGTERM or SIGINT ends the host as it would have before.
//!
//! # Deliveries nobody claims
//!
//! An embedding may replace that default action with its own ([`on_unclaimed`]): the
//! `sandloop` CLI stops its workloads on a SIGTERM, SIGINT or SIGHUP that no workload
//! handles, so that their children are killed and reaped before the host dies of the
//! signal ([`default_action`]).
//!
//! A subscription is a resource in the instance's table: the guest dropping it, and the
//! instance ending in any way (its store, and so its table, is dropped), unsubscribes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use signal_hook::iterator::{Handle, Signals};
use wasmtime::component::ResourceTable;

use crate::error::{Error, ErrorKind, error};
use crate::policy::{MAX_SIGNAL, NEVER_HANDLED, Policy, signal_name};
use crate::reactor::Completer;

mod host;

#[cfg(test)]
mod tests;

/// A workload's subscription to one signal: the WIT `signal.subscription`. Dropping it
/// unsubscribes.
pub struct Subscription {
    id: u64,
    signum: i32,
}

impl Subscription {
    /// The signal subscribed to.
    pub(crate) fn signum(&self) -> i32 {
        self.signum
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        registry().remove(self.signum, self.id);
    }
}

/// What runs for a delivery no workload claims (see [`on_unclaimed`]).
type UnclaimedAction = Arc<dyn Fn(i32) + Send + Sync>;

/// One subscriber of a signal.
struct Subscriber {
    id: u64,
    token: u64,
    completer: Completer,
}

/// The process-wide map of signals to their subscribers.
#[derive(Default)]
struct Registry {
    subscribers: HashMap<i32, Vec<Subscriber>>,
    /// Signals captured so far (captured for good, see the module's doc).
    captured: HashSet<i32>,
    /// Adds signals to the capture thread's set; `None` until the first subscription.
    capture: Option<Handle>,
    /// The embedding's actions for deliveries no workload claims, by signal.
    unclaimed: HashMap<i32, UnclaimedAction>,
    next_id: u64,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    /// Subscribes `token` of the instance whose reactor `completer` belongs to.
    fn add(
        &mut self,
        signum: i32,
        token: u64,
        completer: Completer,
    ) -> Result<Subscription, Error> {
        self.capture(signum).map_err(|err| {
            error(
                ErrorKind::InvalidInput,
                format!("subscribe {}: cannot be caught: {err}", signal_name(signum)),
            )
        })?;
        self.next_id += 1;
        let id = self.next_id;
        self.subscribers
            .entry(signum)
            .or_default()
            .push(Subscriber {
                id,
                token,
                completer,
            });
        Ok(Subscription { id, signum })
    }

    fn remove(&mut self, signum: i32, id: u64) {
        if let Some(subs) = self.subscribers.get_mut(&signum) {
            subs.retain(|s| s.id != id);
            if subs.is_empty() {
                self.subscribers.remove(&signum);
            }
        }
    }

    /// Makes sure deliveries of `signum` reach [`deliver`].
    fn capture(&mut self, signum: i32) -> std::io::Result<()> {
        if self.captured.contains(&signum) {
            return Ok(());
        }
        let handle = match &self.capture {
            Some(handle) => handle,
            None => {
                let mut signals = Signals::new(std::iter::empty::<i32>())?;
                let handle = signals.handle();
                // Kept only once a thread reads what it captures.
                std::thread::Builder::new()
                    .name("sandloop-signals".into())
                    .spawn(move || {
                        for signum in signals.forever() {
                            deliver(signum);
                        }
                    })?;
                self.capture.insert(handle)
            }
        };
        handle.add_signal(signum)?;
        self.captured.insert(signum);
        Ok(())
    }

    fn subscriber_count(&self, signum: i32) -> usize {
        self.subscribers.get(&signum).map_or(0, Vec::len)
    }
}

/// Hands one delivery of `signum` to its subscribers, or carries out the signal's default
/// action when it has none.
fn deliver(signum: i32) {
    let registry = registry();
    let subs = registry.subscribers.get(&signum).filter(|s| !s.is_empty());
    match subs {
        Some(subs) => {
            tracing::debug!(signal = %signal_name(signum), subscribers = subs.len(), "signal delivered");
            for sub in subs {
                sub.completer.complete(sub.token);
            }
        }
        None => {
            let action = registry.unclaimed.get(&signum).cloned();
            drop(registry);
            match action {
                Some(action) => {
                    tracing::debug!(signal = %signal_name(signum), "no subscriber: the embedding's action");
                    action(signum);
                }
                None => {
                    tracing::debug!(signal = %signal_name(signum), "no subscriber: default action");
                    default_action(signum);
                }
            }
        }
    }
}

/// Has `action` run for each delivery of one of `signals` to the host process that no
/// workload has subscribed to, in place of the signal's default action; the signals are
/// captured from now on. A workload that subscribes still gets the deliveries while it
/// does. `action` runs on the host's signal thread (not in a signal handler: it may lock,
/// log, stop workloads and join threads), with the signal's number; it may end the
/// process with [`default_action`]. A later call for the same signal replaces the
/// action.
///
/// The `sandloop` CLI uses it for SIGTERM, SIGINT and SIGHUP: it stops every running
/// workload (each one's teardown kills and reaps its children), then dies of the signal.
///
/// ```no_run
/// sandloop_host::signal::on_unclaimed(&[libc::SIGTERM], |signum| {
///     // ... stop the workloads, join them ...
///     sandloop_host::signal::default_action(signum);
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A signal no workload can handle (SIGKILL, SIGSTOP, SIGSEGV, SIGILL, SIGFPE, SIGBUS)
/// or a number out of range is `InvalidInput`.
pub fn on_unclaimed(
    signals: &[i32],
    action: impl Fn(i32) + Send + Sync + 'static,
) -> std::io::Result<()> {
    let action: UnclaimedAction = Arc::new(action);
    let mut registry = registry();
    for &signum in signals {
        if !(1..=MAX_SIGNAL).contains(&signum) || NEVER_HANDLED.contains(&signum) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("on_unclaimed: {} cannot be caught", signal_name(signum)),
            ));
        }
        registry.capture(signum)?;
        registry.unclaimed.insert(signum, Arc::clone(&action));
    }
    Ok(())
}

/// Carries out the default action of `signum` in the host process: for SIGTERM, SIGINT
/// or SIGHUP, the process dies of the signal (its parent sees it killed by it, as if it
/// had never been caught), whatever handler was installed; an ignored-by-default signal
/// does nothing.
pub fn default_action(signum: i32) {
    if let Err(err) = signal_hook::low_level::emulate_default_handler(signum) {
        tracing::warn!(signal = %signal_name(signum), %err, "the default action failed");
    }
}

/// How many subscriptions to signal `signum` the process's instances hold now: lets an
/// embedding application (and the tests) see that an ended or trapped workload left none.
///
/// ```
/// assert_eq!(sandloop_host::signal::subscriptions(libc::SIGPWR), 0);
/// ```
pub fn subscriptions(signum: i32) -> usize {
    registry().subscriber_count(signum)
}

#[cfg(test)]
use subscriptions as subscriber_count;

/// Whether `signum` may be handed to a workload at all: `Ok`, or why not.
fn validate(signum: u32) -> Result<i32, Error> {
    let Some(signum) = i32::try_from(signum)
        .ok()
        .filter(|n| (1..=MAX_SIGNAL).contains(n))
    else {
        return Err(error(
            ErrorKind::InvalidInput,
            format!("subscribe: signal {signum} out of range (1 to {MAX_SIGNAL})"),
        ));
    };
    // A policy's builder refuses to grant these, but its fields are public: check again.
    if NEVER_HANDLED.contains(&signum) {
        return Err(error(
            ErrorKind::InvalidInput,
            format!("subscribe {}: cannot be caught", signal_name(signum)),
        ));
    }
    Ok(signum)
}

/// `subscribe`: `token` of the instance whose reactor `completer` belongs to hears of
/// every delivery of `signum`, if the policy grants the signal and `table` has room for
/// one more handle (under `policy`'s limit).
pub(crate) fn subscribe(
    table: &mut ResourceTable,
    completer: Completer,
    policy: &Policy,
    signum: u32,
    token: u64,
) -> Result<Subscription, Error> {
    let signum = validate(signum)?;
    policy
        .check_signal(signum)
        .map_err(|denied| error(ErrorKind::Denied, denied.to_string()))?;
    let what = format!("subscribe to signal {signum}");
    crate::limits::check_room(table, &policy.limits, &what, 1)?;
    registry().add(signum, token, completer)
}
