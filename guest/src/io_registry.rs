//! The loop's table of I/O registrations: what each reactor token stands for.
//!
//! A token is a key of this slab. An event for a watched socket queues its reader and
//! writer handles (asyncio's `_process_events`); an event for a completion-mode stream
//! queues the transport with the event stored in it; a lookup's event queues its one-shot
//! callback. Everything queued runs in the same batch, after what was ready before the
//! wait, in the order asyncio runs it. Sockets and streams decide what their events make
//! ready themselves ([`EventTarget`]), so the table names neither.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use slab::Slab;

use crate::events::Handle;
use crate::events::{Dispatch, EventLoop, Ready};
use crate::sys::Event;

/// A registration that decides what its events make ready: a watched socket queues its
/// reader and writer handles; a stream transport keeps the event and queues itself.
pub(crate) trait EventTarget {
    /// Takes one event and queues what it makes ready.
    fn take_event(self: Rc<Self>, ev: Event, ready: &mut VecDeque<Ready>);
}

/// What a token stands for.
pub(crate) enum IoEntry {
    /// A stream transport, held until its connection is lost.
    Held(Rc<dyn EventTarget>),
    /// A socket watched with `add_reader`/`add_writer`, held by its owner only: the entry
    /// goes when the socket does.
    Watched(Weak<dyn EventTarget>),
    /// A host lookup or job; its callback runs once, when the answer is ready.
    Lookup(Option<Handle>),
    /// A watch that fires on every event (the inbox of posted messages, a signal handler).
    #[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
    Repeating(Handle),
    /// Something the loop keeps alive until it is done or the loop closes (a datagram
    /// endpoint, whose socket watch holds it only weakly); never the token of an event.
    Kept(#[expect(dead_code, reason = "never read: owning it is the point")] Rc<dyn std::any::Any>),
}

/// The registrations of one loop, in the loop's slot for them.
#[derive(Default)]
pub(crate) struct IoRegistry {
    entries: RefCell<Slab<IoEntry>>,
}

impl EventLoop {
    /// The loop's registrations; the first use makes them what the loop's waits hand
    /// their events to.
    fn io_registry(&self) -> Rc<IoRegistry> {
        if let Some(registry) = self.existing_slot::<IoRegistry>() {
            return registry;
        }
        let registry = self.slot::<IoRegistry>();
        self.set_dispatch(registry.clone());
        registry
    }

    /// Registers `entry`; its key is the token of its events.
    pub(crate) fn register_io(&self, entry: IoEntry) -> usize {
        self.io_registry().entries.borrow_mut().insert(entry)
    }

    /// Puts `entry` in the place of what `key` stands for (`start_tls` moves a
    /// connection to a new transport under the same token).
    pub(crate) fn replace_io(&self, key: usize, entry: IoEntry) {
        let registry = self.io_registry();
        if let Some(slot) = registry.entries.borrow_mut().get_mut(key) {
            *slot = entry;
        }
    }

    /// Forgets what `key` stands for.
    pub(crate) fn deregister_io(&self, key: usize) {
        let removed = self
            .existing_slot::<IoRegistry>()
            .and_then(|registry| registry.entries.borrow_mut().try_remove(key));
        // Dropped outside the borrow: what the entry held may deregister more.
        drop(removed);
    }
}

impl Dispatch for IoRegistry {
    fn dispatch(&self, events: &mut Vec<Event>, ready: &mut VecDeque<Ready>) {
        for ev in events.drain(..) {
            let Ok(key) = usize::try_from(ev.token) else {
                continue;
            };
            let mut entries = self.entries.borrow_mut();
            let target = match entries.get_mut(key) {
                Some(IoEntry::Held(target)) => target.clone(),
                Some(IoEntry::Watched(target)) => match target.upgrade() {
                    Some(target) => target,
                    None => {
                        entries.remove(key);
                        continue;
                    }
                },
                Some(IoEntry::Repeating(handle)) => {
                    ready.push_back(Ready::Handle(handle.clone()));
                    continue;
                }
                Some(IoEntry::Lookup(handle)) => {
                    if let Some(handle) = handle.take() {
                        ready.push_back(Ready::Handle(handle));
                    }
                    entries.remove(key);
                    continue;
                }
                Some(IoEntry::Kept(_)) | None => continue,
            };
            drop(entries);
            target.take_event(ev, ready);
        }
    }

    fn clear(&self) {
        let registrations: Vec<IoEntry> = self.entries.borrow_mut().drain().collect();
        drop(registrations);
    }
}
