//! The portable reactor: the sources the loop watches, each a set of `wasi:io` pollables
//! under the loop's token, and the wait over them (`WasiPollSelector::select`).
//!
//! `wasi:io/poll.poll` takes the whole list of pollables on every call, so a wait costs
//! O(registered) on both sides of the boundary. The reactor keeps that as low as the
//! interface allows: a source's pollables are made once (on its first interest) and kept
//! until the source goes, the list handed to `poll` is rebuilt each wait in a buffer kept
//! between waits (no allocation in the steady state), and only the directions someone
//! waits for are in it, so an idle connection whose protocol paused reading, or whose
//! writes all went out, costs nothing but a skipped slot.
//!
//! Like the host's reactor, it is one per instance (a thread local: a WASI 0.2 component
//! has one thread), so a socket registers itself without a reference to its loop.
//! Readiness is level-triggered: a pollable stays ready while its stream has data or room.

use std::cell::RefCell;
use std::time::Duration;

use slab::Slab;

use super::bindings::monotonic_clock;
use super::bindings::poll::{self, Pollable};
use crate::sys::{Event, Readiness};

/// Which of a resource's pollables says that a direction is ready.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The resource's own (`tcp-socket.subscribe`: a connection to accept, a connect
    /// finished; a lookup's answer).
    Own = 0,
    /// Its input stream's: bytes (or the end) to read.
    Input = 1,
    /// Its output stream's: room to write.
    Output = 2,
}

/// A resource the reactor can watch: it says which pollable serves each direction now
/// (a TCP socket's change once it is connected) and makes that pollable.
pub(crate) trait Watched {
    /// The slot of the pollable that says `readable` (or, `false`, writable) now.
    fn slot(&self, readable: bool) -> Slot;
    /// A new pollable for `slot` (a child of the resource: it is dropped first).
    fn subscribe(&self, slot: Slot) -> Pollable;
}

/// One registration: what the loop waits for, under which token.
struct Source {
    token: u64,
    readable: bool,
    writable: bool,
    /// Reported once, then forgotten (a lookup's answer).
    oneshot: bool,
    /// The pollables made so far, by [`Slot`]; declared before `resource`, so dropped
    /// before it, as WASI requires of a resource's children.
    pollables: [Option<Pollable>; 3],
    resource: std::rc::Rc<dyn Watched>,
}

/// The sources of the instance and the buffers its waits reuse.
#[derive(Default)]
struct Reactor {
    sources: Slab<Source>,
    /// The list handed to `poll`, empty between waits; kept for its allocation.
    list: Vec<&'static Pollable>,
    /// What the wait watches: a source's key, the slot of its pollable, and what that
    /// pollable says is ready.
    wanted: Vec<(usize, Slot, Readiness)>,
    /// For each entry of `list`: its source's key and what it says is ready.
    owners: Vec<(usize, Readiness)>,
}

thread_local! {
    static REACTOR: RefCell<Reactor> = RefCell::new(Reactor::default());
}

/// A registration of `resource`, watching nothing until [`set_interest`].
pub(crate) fn register(resource: std::rc::Rc<dyn Watched>) -> usize {
    REACTOR.with(|r| {
        r.borrow_mut().sources.insert(Source {
            token: 0,
            readable: false,
            writable: false,
            oneshot: false,
            pollables: [None, None, None],
            resource,
        })
    })
}

/// Watches registration `key` under `token` for the directions asked; a `oneshot` one is
/// forgotten once reported.
pub(crate) fn set_interest(key: usize, token: u64, readable: bool, writable: bool, oneshot: bool) {
    REACTOR.with(|r| {
        if let Some(source) = r.borrow_mut().sources.get_mut(key) {
            source.token = token;
            source.readable = readable;
            source.writable = writable;
            source.oneshot = oneshot;
        }
    });
}

/// Forgets registration `key` and drops its pollables. Harmless at the instance's end,
/// when the reactor may be gone already.
pub(crate) fn deregister(key: usize) {
    let removed = REACTOR.try_with(|r| r.borrow_mut().sources.try_remove(key));
    // Dropped outside the borrow: the pollables first, then the resource (if this held
    // its last reference).
    drop(removed);
}

/// Drops every pollable made from `resource` (they are made again on the next wait): a
/// resource about to replace its streams (a UDP connect) calls this first, since WASI
/// requires a resource's children to go before it.
pub(crate) fn drop_pollables_of(resource: &dyn Watched) {
    let target = resource as *const dyn Watched as *const ();
    let dropped: Vec<Pollable> = REACTOR.with(|r| {
        let mut reactor = r.borrow_mut();
        let mut dropped = Vec::new();
        for (_, source) in reactor.sources.iter_mut() {
            if std::rc::Rc::as_ptr(&source.resource) as *const () == target {
                dropped.extend(source.pollables.iter_mut().filter_map(Option::take));
            }
        }
        dropped
    });
    drop(dropped);
}

/// An empty list whose allocation is the one `list` had: a `Vec` of references that
/// outlive one wait, kept between waits. (Collecting an emptied `vec::IntoIter` into a
/// `Vec` of an element of the same size reuses its buffer.)
fn recycle<'b>(mut list: Vec<&Pollable>) -> Vec<&'b Pollable> {
    list.clear();
    list.into_iter()
        .map(|_| unreachable!("the list is empty"))
        .collect()
}

/// Waits until a watched direction is ready or `timeout` passes (`None`: no limit);
/// appends an event per ready source.
pub(crate) fn select(timeout: Option<Duration>, events: &mut Vec<Event>) {
    REACTOR.with(|r| {
        let mut reactor = r.borrow_mut();
        let Reactor {
            sources,
            list,
            wanted,
            owners,
        } = &mut *reactor;

        // The pollables of what has interest, made on first use and then kept.
        wanted.clear();
        owners.clear();
        for (key, source) in sources.iter_mut() {
            let read = source.readable.then(|| source.resource.slot(true));
            let write = source.writable.then(|| source.resource.slot(false));
            for slot in [read, write].into_iter().flatten() {
                if source.pollables[slot as usize].is_none() {
                    source.pollables[slot as usize] = Some(source.resource.subscribe(slot));
                }
            }
            match (read, write) {
                (Some(r), Some(w)) if r == w => wanted.push((key, r, readiness(true, true))),
                _ => {
                    if let Some(r) = read {
                        wanted.push((key, r, readiness(true, false)));
                    }
                    if let Some(w) = write {
                        wanted.push((key, w, readiness(false, true)));
                    }
                }
            }
        }

        if wanted.is_empty() {
            match timeout {
                Some(t) if t.is_zero() => {}
                Some(t) => std::thread::sleep(t),
                // Nothing can ever become ready: block the way asyncio's selector would.
                None => loop {
                    std::thread::sleep(Duration::from_secs(3600));
                },
            }
            return;
        }

        let mut pollables = recycle(std::mem::take(list));
        for &(key, slot, ready) in wanted.iter() {
            if let Some(p) = &sources[key].pollables[slot as usize] {
                pollables.push(p);
                owners.push((key, ready));
            }
        }
        let timer = timeout.map(|t| {
            monotonic_clock::subscribe_duration(u64::try_from(t.as_nanos()).unwrap_or(u64::MAX))
        });
        if let Some(timer) = &timer {
            pollables.push(timer);
        }
        let ready = poll::poll(&pollables);
        *list = recycle(pollables);
        drop(timer);

        for index in ready {
            let Some(&(key, what)) = owners.get(index as usize) else {
                continue; // the timer
            };
            let source = &mut sources[key];
            match events.last_mut() {
                // A source's read and write entries are next to each other: one event.
                Some(last) if last.token == source.token => {
                    last.readiness.readable |= what.readable;
                    last.readiness.writable |= what.writable;
                }
                _ => events.push(Event::new(source.token, what)),
            }
            if source.oneshot {
                source.readable = false;
                source.writable = false;
            }
        }
    });
}

fn readiness(readable: bool, writable: bool) -> Readiness {
    Readiness {
        readable,
        writable,
        hangup: false,
    }
}
