//! The handle limit where host calls make resources: every WIT function that hands the
//! guest a new resource and can return an `error` checks here first, so a guest at its
//! limit gets `limit-reached` (the guest's `QuotaExceeded`) and keeps running, instead of
//! reaching the table's hard capacity, which traps the instance.
//!
//! Counting walks the instance's table (wasmtime's `ResourceTable` does not keep a count),
//! so it is done only by calls that make handles. Every entry counts, whatever its kind:
//! sockets, pipes, streams, sources, lookups, subscriptions, TLS contexts, executor pools
//! and jobs, pending host function calls, children, and WASI's own streams and descriptors.
//!
//! Calls that make a handle only by consuming one (`open-stream` of a socket or a pipe
//! end) never raise the count and need no check. A child's pipe ends count from the spawn
//! on (`spawn` checks room for the child and each of them), so its `take-stdin`/
//! `take-stdout`/`take-stderr`, which cannot return an error, never go past the limit.
//! The `pool` constructor cannot return an error either: it pushes plainly, bounded by
//! the table's headroom past the limit (the parent module's `limit_table`).

use wasmtime::component::{Resource, ResourceTable};

use crate::error::{Error, ErrorKind};
use crate::policy::Limits;

/// `limit-reached` unless the instance can hold `count` more handles under `limits` (and
/// an audit line in the host log when it cannot). Calls that make several handles at
/// once (a pipe's two ends, a socket pair) check room for all of them before making any,
/// so a refusal leaks nothing. `what` names the operation in the message.
pub(crate) fn check_room(
    table: &mut ResourceTable,
    limits: &Limits,
    what: &str,
    count: usize,
) -> Result<(), Error> {
    let Some(limit) = limits.handles else {
        return Ok(());
    };
    let held = held(table);
    if held.saturating_add(count) <= limit as usize {
        return Ok(());
    }
    let message = if count > 1 {
        format!("{what}: handle limit of {limit} reached ({held} held, {count} more needed)")
    } else {
        format!("{what}: handle limit of {limit} reached")
    };
    crate::policy::audit::denied(what, "handle limit", &message);
    Err(crate::error::error(ErrorKind::LimitReached, message))
}

/// The handles the instance holds: every table entry, plus the pipe ends its children
/// still hold for it to take. It walks the table: O(handles).
pub(crate) fn held(table: &mut ResourceTable) -> usize {
    table
        .iter_mut()
        .map(
            |entry| match entry.downcast_mut::<crate::process::Child>() {
                Some(child) => 1 + child.untaken_pipes(),
                None => 1,
            },
        )
        .sum()
}

/// Puts `value` in the table if the instance has room for one more handle; otherwise
/// drops it (closing what it holds) and answers `limit-reached`. For values that are
/// cheap to make and to throw away (a source sharing a descriptor); calls whose work should not
/// happen at all at the limit (an accept, a resolver thread, a job) call [`check_room`]
/// before doing it. The outer error is a trap (the table refused the push).
pub(crate) fn push_limited<T: Send + 'static>(
    table: &mut ResourceTable,
    limits: &Limits,
    what: &str,
    value: T,
) -> wasmtime::Result<Result<Resource<T>, Error>> {
    if let Err(err) = check_room(table, limits, what, 1) {
        return Ok(Err(err));
    }
    Ok(Ok(table.push(value)?))
}

#[cfg(test)]
mod tests;
