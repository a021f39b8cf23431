//! The `sandloop:host/signal` bindings: subscriptions to signals delivered to the host
//! process, and the host's pid.

use super::bindings::signal;
use super::errors::wit_result;
use crate::error::Result;

/// A subscription to one signal (`signal.subscription`); dropping it unsubscribes.
pub(crate) struct HostSubscription(
    #[expect(dead_code, reason = "owning it is the point")] signal::Subscription,
);

/// Has the reactor report `token` for each delivery of `signum` to the host process.
pub(crate) fn subscribe(signum: u32, token: u64) -> Result<HostSubscription> {
    wit_result(signal::subscribe(signum, token)).map(HostSubscription)
}

/// The host process's id.
pub(crate) fn host_pid() -> u32 {
    signal::host_pid()
}
