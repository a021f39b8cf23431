//! Async generators the loop finalizes at shutdown (`shutdown_asyncgens`).
//!
//! Rust has no async generators; what the crate (or a user) registers here plays their role:
//! something with an `aclose`, closed by [`EventLoop::shutdown_asyncgens`] (which
//! `sandloop::run` calls before closing its loop).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use crate::error::Result;
use crate::events::EventLoop;
use crate::exception_handler::ExceptionContext;
use crate::log::{self, Level};

/// An async generator the loop finalizes in [`EventLoop::shutdown_asyncgens`].
///
/// Rust has no async generators; what the crate (or a user) registers with
/// [`EventLoop::register_asyncgen`] plays their role: something with an `aclose`.
///
/// A resource closed when `sandloop::run` finishes, as an async generator's `finally` would be:
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::rc::Rc;
///
/// struct Feed;
///
/// impl sandloop::AsyncGen for Feed {
///     fn describe(&self) -> String {
///         "<Feed>".into()
///     }
///     fn aclose(&self) -> Pin<Box<dyn Future<Output = sandloop::Result<()>>>> {
///         Box::pin(async {
///             println!("feed closed");
///             Ok(())
///         })
///     }
/// }
///
/// sandloop::run(async {
///     sandloop::get_running_loop()?.register_asyncgen(Rc::new(Feed));
///     Ok::<_, sandloop::Error>(())
/// })?; // prints "feed closed" before the loop closes
/// # Ok::<_, sandloop::Error>(())
/// ```
pub trait AsyncGen {
    /// A description for error reports.
    fn describe(&self) -> String;
    /// Closes the generator, asyncio's `agen.aclose()`.
    fn aclose(&self) -> Pin<Box<dyn Future<Output = Result<()>>>>;
}

/// A registered generator: held by the loop, or only watched (the crate's own streams,
/// which must not outlive their users because the loop remembers them).
enum Registered {
    Held(Rc<dyn AsyncGen>),
    #[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
    Watched(Weak<dyn AsyncGen>),
}

impl Registered {
    fn live(&self) -> Option<Rc<dyn AsyncGen>> {
        match self {
            Registered::Held(agen) => Some(agen.clone()),
            Registered::Watched(agen) => agen.upgrade(),
        }
    }
}

/// A loop's registered generators, and whether `shutdown_asyncgens` was called, in the
/// loop's slot for them.
#[derive(Default)]
struct AsyncGens {
    registered: RefCell<Vec<Registered>>,
    shutdown_called: Cell<bool>,
}

impl EventLoop {
    /// Closes every registered async generator (asyncio's `shutdown_asyncgens`); errors go to
    /// the exception handler. Generators registered afterwards are closed right away.
    ///
    /// `sandloop::run` calls it for you; a loop driven by hand calls it before `close`:
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// lp.run_until_complete(async { println!("work") })?;
    /// let closer = lp.clone();
    /// lp.run_until_complete(async move { closer.shutdown_asyncgens().await })?;
    /// lp.close()?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn shutdown_asyncgens(&self) -> Result<()> {
        let state = self.slot::<AsyncGens>();
        state.shutdown_called.set(true);
        let gens = std::mem::take(&mut *state.registered.borrow_mut());
        for agen in gens.iter().filter_map(Registered::live) {
            if let Err(e) = agen.aclose().await {
                self.call_exception_handler(&ExceptionContext {
                    message: "an error occurred during closing of asynchronous generator".into(),
                    exception: Some(e),
                    asyncgen: Some(agen.describe()),
                    ..Default::default()
                });
            }
        }
        Ok(())
    }

    /// Registers an async generator to be closed by [`EventLoop::shutdown_asyncgens`].
    pub fn register_asyncgen(&self, agen: Rc<dyn AsyncGen>) {
        self.register(Registered::Held(agen));
    }

    /// Registers one of the crate's own async streams without keeping it alive: it is
    /// closed at shutdown if it still exists.
    pub(crate) fn watch_asyncgen(&self, agen: Weak<dyn AsyncGen>) {
        self.register(Registered::Watched(agen));
    }

    fn register(&self, agen: Registered) {
        let state = self.slot::<AsyncGens>();
        if state.shutdown_called.get()
            && let Some(agen) = agen.live()
        {
            log::log(
                Level::Warn,
                format_args!(
                    "asynchronous generator {} was scheduled after loop.shutdown_asyncgens() call",
                    agen.describe()
                ),
            );
        }
        let mut gens = state.registered.borrow_mut();
        // Forget the streams that are gone whenever the list doubles, so a server's
        // connections do not pile up here.
        if gens.len() >= 64 && gens.len().is_power_of_two() {
            gens.retain(|g| !matches!(g, Registered::Watched(w) if w.strong_count() == 0));
        }
        gens.push(agen);
    }
}
