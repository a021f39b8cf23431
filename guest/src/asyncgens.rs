//! Async generators the loop finalizes at shutdown (`shutdown_asyncgens`).
//!
//! Rust has no async generators; what the crate (or a user) registers here plays their role:
//! something with an `aclose`, closed by [`EventLoop::shutdown_asyncgens`] (which
//! `sandloop::run` calls before closing its loop).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::base_events::EventLoop;
use crate::error::Result;
use crate::exception_handler::ExceptionContext;
use crate::log::{self, Level};

/// An async generator the loop finalizes in [`EventLoop::shutdown_asyncgens`].
///
/// Rust has no async generators; what the crate (or a user) registers with
/// [`EventLoop::register_asyncgen`] plays their role: something with an `aclose`.
pub trait AsyncGen {
    /// A description for error reports.
    fn describe(&self) -> String;
    /// Closes the generator, asyncio's `agen.aclose()`.
    fn aclose(&self) -> Pin<Box<dyn Future<Output = Result<()>>>>;
}

impl EventLoop {
    /// Closes every registered async generator (asyncio's `shutdown_asyncgens`); errors go to
    /// the exception handler. Generators registered afterwards are closed right away.
    pub async fn shutdown_asyncgens(&self) -> Result<()> {
        self.inner.asyncgens_shutdown_called.set(true);
        let gens = std::mem::take(&mut *self.inner.asyncgens.borrow_mut());
        for agen in gens {
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
        if self.inner.asyncgens_shutdown_called.get() {
            log::log(
                Level::Warning,
                format_args!(
                    "asynchronous generator {} was scheduled after loop.shutdown_asyncgens() call",
                    agen.describe()
                ),
            );
        }
        self.inner.asyncgens.borrow_mut().push(agen);
    }
}
