//! Callbacks that code outside the guest schedules by name: the host side of asyncio's
//! `call_soon_threadsafe`.
//!
//! A guest cannot receive closures from host threads, so a loop registers named callbacks
//! and an embedding application posts `(name, payload)` messages into the instance's inbox
//! (`sandloop_host::Poster::post`). The host wakes the reactor; the loop takes the
//! messages and schedules `callback(payload)` with `call_soon`, in the order they were
//! posted. Once the loop is closed, posting fails, as `call_soon_threadsafe` on a closed
//! loop raises.
//!
//! The same inbox carries calls of the functions the loop exports (`calls.rs`): a message
//! with a call id starts a task of the exported function instead of a callback.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::Location;
use std::rc::{Rc, Weak};

use crate::error::{IntoResult, Result};
use crate::events::Handle;
use crate::events::{EventLoop, LoopInner};
use crate::exception_handler::ExceptionContext;
use crate::io_registry::IoEntry;
use crate::sys::executor::{self as host, InboxMessage};

type Callback = Rc<RefCell<dyn FnMut(Vec<u8>) -> Result<()>>>;

/// A loop's named callbacks and whether it watches the instance's inbox, in the loop's
/// slot for them.
#[derive(Default)]
struct Inbox {
    callbacks: RefCell<HashMap<String, Callback>>,
    watching: Cell<bool>,
}

impl EventLoop {
    /// Registers `cb` under `name`: when code outside the guest (a host thread of an
    /// embedding application) posts `(name, payload)`, the loop runs `cb(payload)` soon,
    /// as asyncio's `call_soon_threadsafe` would. Replaces an earlier callback of that name.
    pub fn add_threadsafe_callback<F, R>(&self, name: impl Into<String>, mut cb: F)
    where
        F: FnMut(Vec<u8>) -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        let cb: Callback = Rc::new(RefCell::new(move |payload| cb(payload).into_result()));
        self.slot::<Inbox>()
            .callbacks
            .borrow_mut()
            .insert(name.into(), cb);
    }

    /// Unregisters the callback named `name`; `true` if there was one.
    pub fn remove_threadsafe_callback(&self, name: &str) -> bool {
        self.existing_slot::<Inbox>()
            .is_some_and(|inbox| inbox.callbacks.borrow_mut().remove(name).is_some())
    }

    /// Starts watching the instance's inbox (when the loop starts running on the host).
    pub(crate) fn watch_inbox(&self) {
        let inbox = self.slot::<Inbox>();
        if !self.selector_watches_host_sources() || inbox.watching.get() {
            return;
        }
        let weak: Weak<LoopInner> = Rc::downgrade(&self.inner);
        let handle = Handle::repeating(
            move || {
                if let Some(inner) = weak.upgrade() {
                    EventLoop { inner }.drain_inbox();
                }
            },
            Location::caller(),
        );
        let key = self.register_io(IoEntry::Repeating(handle));
        inbox.watching.set(true);
        host::inbox_watch(key as u64);
    }

    /// Schedules the callback of every posted message, starts the task of every call, and
    /// cancels the calls the host gave up on.
    fn drain_inbox(&self) {
        let inbox = self.slot::<Inbox>();
        let (messages, cancelled) = host::inbox_take();
        for id in cancelled {
            self.cancel_call(id);
        }
        for message in messages {
            let InboxMessage {
                name,
                payload,
                call,
            } = message;
            if let Some(id) = call {
                self.start_call(id, &name, payload);
                continue;
            }
            let cb = inbox.callbacks.borrow().get(&name).cloned();
            match cb {
                Some(cb) => {
                    self.call_soon(move || (cb.borrow_mut())(payload));
                }
                None => self.call_exception_handler(&ExceptionContext::new(format!(
                    "a message was posted for {name:?}, which is no threadsafe callback of this loop"
                ))),
            }
        }
    }

    /// Closes the inbox if this loop watches it: posts fail from now on.
    pub(crate) fn close_inbox(&self) {
        let Some(inbox) = self.existing_slot::<Inbox>() else {
            return;
        };
        if inbox.watching.replace(false) {
            host::inbox_close();
        }
        inbox.callbacks.borrow_mut().clear();
        self.clear_exports();
    }
}
