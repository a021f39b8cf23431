//! The loop's table of I/O registrations: what each reactor token stands for.
//!
//! A token is a key of this slab. An event for a socket queues its reader and writer
//! handles (asyncio's `_process_events`); an event for a completion-mode stream queues the
//! transport with the event stored in it; a lookup's event queues its one-shot callback.
//! Everything queued runs in the same batch, after what was ready before the wait, in the
//! order asyncio runs it.

use std::rc::{Rc, Weak};

use slab::Slab;

use crate::events::Handle;
use crate::net::SocketInner;
use crate::sys::Event;
use crate::transports::TransportInner;

/// What a token stands for.
pub(crate) enum IoEntry {
    /// A socket watched with `add_reader`/`add_writer`.
    Socket(Weak<SocketInner>),
    /// A stream transport, held until its connection is lost.
    Stream(Rc<TransportInner>),
    /// A host lookup or job; its callback runs once, when the answer is ready.
    Lookup(Option<Handle>),
    /// A watch that fires on every event (the inbox of posted messages).
    Repeating(Handle),
    /// Something the loop keeps alive until it is done or the loop closes (a datagram
    /// endpoint, whose socket watch holds it only weakly); never the token of an event.
    Held(#[expect(dead_code, reason = "never read: owning it is the point")] Rc<dyn std::any::Any>),
}

/// Something the loop runs because of an event.
pub(crate) enum IoReady {
    Handle(Handle),
    Stream(Rc<TransportInner>),
}

/// The registrations of one loop.
#[derive(Default)]
pub(crate) struct IoRegistry {
    entries: Slab<IoEntry>,
}

impl IoRegistry {
    pub(crate) fn insert(&mut self, entry: IoEntry) -> usize {
        self.entries.insert(entry)
    }

    /// Puts `entry` in the place of what `key` stands for (`start_tls` moves a
    /// connection to a new transport under the same token).
    pub(crate) fn replace(&mut self, key: usize, entry: IoEntry) {
        if let Some(slot) = self.entries.get_mut(key) {
            *slot = entry;
        }
    }

    pub(crate) fn remove(&mut self, key: usize) {
        self.entries.try_remove(key);
    }

    /// Drops every registration (the loop is closing): breaks the cycles between the loop
    /// and the transports it still holds.
    pub(crate) fn clear(&mut self) -> Vec<IoEntry> {
        self.entries.drain().collect()
    }

    /// Turns one event into what must run; `push` receives each item in order.
    pub(crate) fn dispatch(&mut self, ev: Event, mut push: impl FnMut(IoReady)) {
        let Ok(key) = usize::try_from(ev.token) else {
            return;
        };
        match self.entries.get_mut(key) {
            Some(IoEntry::Socket(sock)) => {
                let Some(sock) = sock.upgrade() else {
                    self.entries.remove(key);
                    return;
                };
                let watch = sock.watch.borrow();
                let r = ev.readiness;
                if (r.readable || r.hangup)
                    && let Some(reader) = &watch.reader
                    && !reader.cancelled()
                {
                    push(IoReady::Handle(reader.clone()));
                }
                if (r.writable || r.hangup)
                    && let Some(writer) = &watch.writer
                    && !writer.cancelled()
                {
                    push(IoReady::Handle(writer.clone()));
                }
            }
            Some(IoEntry::Stream(transport)) => {
                transport.queue_event(ev);
                push(IoReady::Stream(transport.clone()));
            }
            Some(IoEntry::Repeating(handle)) => push(IoReady::Handle(handle.clone())),
            Some(IoEntry::Held(_)) => {}
            Some(IoEntry::Lookup(handle)) => {
                if let Some(handle) = handle.take() {
                    push(IoReady::Handle(handle));
                }
                self.entries.remove(key);
            }
            None => {}
        }
    }
}
