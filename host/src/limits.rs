//! Enforcing a workload's [`Limits`]: the memory limiter, the watchdog that interrupts a
//! guest spinning in a callback (wasmtime's epoch interruption) and ends a guest stopped
//! from outside (the reactor's [`Watch`]; the public `StopHandle` is in `workload.rs`),
//! and the counters of handles, children and buffered bytes.

use std::time::Duration;

use wasmtime::{Engine, EngineWeak, ResourceLimiter, Store, UpdateDeadline};

use crate::policy::Limits;
use crate::reactor::{Stopped, Watch};

mod handles;

pub(crate) use handles::{check_room, held, push_limited};

/// How often the runtime's ticker advances the engine's epoch: the resolution of the
/// callback time limit and of a stop's reaction time for a guest that never waits.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// An epoch deadline far enough away never to be reached (about 350 years of ticks).
const NEVER: u64 = 1 << 40;

/// Starts the thread that advances `engine`'s epoch every [`TICK`]. It holds only a weak
/// reference: it ends at the first tick after the engine (the runtime and every workload
/// loaded from it) is gone.
pub(crate) fn start_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak: EngineWeak = engine.weak();
    std::thread::Builder::new()
        .name("sandloop epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })
        .map(drop)
}

/// Caps one store's linear memories at `limit` bytes; growing past it traps the instance
/// with a message naming the limit (wasmtime's default is to make `memory.grow` return
/// -1, after which a Rust guest's allocator aborts with a bare `unreachable`).
pub(crate) struct MemoryLimiter {
    limit: Option<u64>,
}

impl MemoryLimiter {
    pub(crate) fn new(limits: &Limits) -> MemoryLimiter {
        MemoryLimiter {
            limit: limits.memory_bytes,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if let Some(limit) = self.limit
            && desired as u64 > limit
        {
            return Err(wasmtime::format_err!(
                "memory limit of {limit} bytes exceeded (the guest's memory of {current} bytes \
                 asked to grow to {desired})"
            ));
        }
        Ok(maximum.is_none_or(|max| desired <= max))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

/// Arms the watchdog of a workload's store: at every tick of the epoch, the instance
/// traps if it was stopped, or if its current callback has run past
/// `limits.callback_cpu`; otherwise its callback so far is charged to its counters.
/// `watch` finds the instance's [`Watch`] in its store data. `parked`: the instance runs
/// on shared threads, and a tick that finds it running otherwise yields its thread, so
/// that a callback that spins does not keep the others from it (see `shared`).
pub(crate) fn arm_watchdog<T: 'static>(
    store: &mut Store<T>,
    limits: &Limits,
    watch: impl Fn(&T) -> &Watch + Send + Sync + 'static,
    parked: bool,
) {
    let budget = limits.callback_cpu;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |store| {
        let watch = watch(store.data());
        if watch.stopped() {
            return Err(wasmtime::Error::from(Stopped));
        }
        watch.charge_running();
        if let Some(budget) = budget
            && watch.callback_since.elapsed() > budget
        {
            return Err(wasmtime::format_err!(
                "callback ran longer than the limit of {} ms without returning to the loop",
                budget.as_millis()
            ));
        }
        Ok(match parked {
            true => UpdateDeadline::Yield(1),
            false => UpdateDeadline::Continue(1),
        })
    });
}

/// An executor worker's store: never interrupted (its jobs are meant to block; a stop
/// ends the run, whose drop stops the pools).
pub(crate) fn disarm<T>(store: &mut Store<T>) {
    store.set_epoch_deadline(NEVER);
}

/// Entries the table may hold past the handle limit: room for what WASI makes on its own
/// (the guest's stdio streams, made on first use) and for the calls that cannot return an
/// error (an executor pool), so that those do not trap a guest that [`check_room`]
/// already refused.
const TABLE_HEADROOM: usize = 16;

/// Applies the handle limit to an instance's resource table. Calls that make a resource
/// and can fail refuse it with `limit-reached` once the instance holds `limit` handles
/// ([`check_room`], every host resource of the instance counted, WASI's own streams
/// included, and the pipe ends its children hold for it); as a backstop, wasmtime refuses any push past `limit` + [`TABLE_HEADROOM`],
/// which traps the instance ("resource table has no free keys").
pub(crate) fn limit_table(table: &mut wasmtime::component::ResourceTable, limits: &Limits) {
    if let Some(limit) = limits.handles {
        table.set_max_capacity((limit as usize).saturating_add(TABLE_HEADROOM));
    }
}

/// `limit-reached` when the instance already has as many live (not yet reaped) children
/// as `limits` allow, and logs it for audit. Reaps the children that have exited on the
/// way, so a child that ended frees its place even if the guest never waited for it.
pub(crate) fn check_children(
    table: &mut wasmtime::component::ResourceTable,
    limits: &Limits,
    program: &str,
) -> Result<(), crate::error::Error> {
    let Some(limit) = limits.children else {
        return Ok(());
    };
    let live = table
        .iter_mut()
        .filter_map(|entry| entry.downcast_mut::<crate::process::Child>())
        .filter_map(|child| child.exit_status().is_none().then_some(()))
        .count();
    if live < limit as usize {
        return Ok(());
    }
    let message = format!("spawn {program}: child limit of {limit} reached");
    crate::policy::audit::denied("spawn", program, &message);
    Err(crate::error::error(
        crate::error::ErrorKind::LimitReached,
        message,
    ))
}
