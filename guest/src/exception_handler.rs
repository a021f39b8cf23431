//! The loop's exception handler: where errors nobody else can receive end up
//! (`set_exception_handler`, `default_exception_handler`, `call_exception_handler`).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use crate::base_tasks::TaskRef;
use crate::error::{Error, IntoResult};
use crate::events::EventLoop;
use crate::events::Handle;
use crate::log::{self, Level};

/// What went wrong and where, asyncio's exception-handler `context` dict.
///
/// Every field but `message` is optional; later subsystems fill `protocol`, `transport`,
/// `socket` and `asyncgen` with a description of the object involved.
///
/// ```
/// let lp = sandloop::new_event_loop();
/// let mut ctx = sandloop::ExceptionContext::new("connection dropped");
/// ctx.exception = Some(sandloop::Error::Timeout);
/// lp.call_exception_handler(&ctx); // the default handler logs it
/// ```
#[derive(Clone, Default)]
pub struct ExceptionContext {
    /// What happened, e.g. `"Exception in callback <Handle created at src/main.rs:9:8>"`.
    pub message: String,
    /// The error, if there is one.
    pub exception: Option<Error>,
    /// The future involved (its description).
    pub future: Option<String>,
    /// The task involved.
    pub task: Option<TaskRef>,
    /// The callback handle involved.
    pub handle: Option<Handle>,
    /// The protocol involved (its description).
    pub protocol: Option<String>,
    /// The transport involved (its description).
    pub transport: Option<String>,
    /// The socket involved (its description).
    pub socket: Option<String>,
    /// The asynchronous generator involved (its description).
    pub asyncgen: Option<String>,
}

impl ExceptionContext {
    /// A context with just a message.
    pub fn new(message: impl Into<String>) -> ExceptionContext {
        ExceptionContext {
            message: message.into(),
            ..Default::default()
        }
    }
}

impl fmt::Debug for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let fields: [(&str, Option<String>); 8] = [
            ("asyncgen", self.asyncgen.clone()),
            ("future", self.future.clone()),
            ("handle", self.handle.as_ref().map(|h| format!("{h:?}"))),
            ("protocol", self.protocol.clone()),
            ("socket", self.socket.clone()),
            ("task", self.task.as_ref().map(|t| format!("{t:?}"))),
            ("transport", self.transport.clone()),
            ("exception", self.exception.as_ref().map(describe_error)),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                write!(f, "\n{key}: {value}")?;
            }
        }
        Ok(())
    }
}

/// An error with its chain of causes.
fn describe_error(e: &Error) -> String {
    let mut text = format!("{e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    text
}

/// A custom exception handler, as set with [`EventLoop::set_exception_handler`].
///
/// asyncio: `loop.set_exception_handler(handler)`; here errors of callbacks are counted:
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// let lp = sandloop::new_event_loop();
/// let errors = Rc::new(Cell::new(0));
/// let seen = errors.clone();
/// lp.set_exception_handler(Some(move |_: &sandloop::EventLoop, ctx: &sandloop::ExceptionContext| {
///     seen.set(seen.get() + 1);
///     eprintln!("{}: {:?}", ctx.message, ctx.exception);
/// }));
/// lp.call_soon(|| Err::<(), _>(sandloop::Error::Timeout)); // reaches the handler
/// lp.stop();
/// lp.run_forever()?;
/// assert_eq!(errors.get(), 1);
/// # Ok::<_, sandloop::Error>(())
/// ```
pub type ExceptionHandler = Rc<dyn Fn(&EventLoop, &ExceptionContext) -> crate::Result<()>>;

/// The custom handler of a loop, in the loop's slot for it.
#[derive(Default)]
struct CustomHandler(RefCell<Option<ExceptionHandler>>);

/// Logs the context at error level, asyncio's `default_exception_handler`.
fn log_context(ctx: &ExceptionContext) {
    log::log(Level::Error, format_args!("{ctx:?}"));
}

impl EventLoop {
    /// Sets the handler that receives errors nobody else can (`None`: the default handler).
    ///
    /// ```no_run
    /// let lp = sandloop::new_event_loop();
    /// lp.set_exception_handler(Some(|_: &sandloop::EventLoop, ctx: &sandloop::ExceptionContext| {
    ///     eprintln!("workload error: {}", ctx.message);
    /// }));
    /// // The default handler again (`None` needs the handler's type spelled out):
    /// lp.set_exception_handler(None::<fn(&sandloop::EventLoop, &sandloop::ExceptionContext)>);
    /// ```
    pub fn set_exception_handler<F, R>(&self, handler: Option<F>)
    where
        F: Fn(&EventLoop, &ExceptionContext) -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        *self.slot::<CustomHandler>().0.borrow_mut() = handler.map(|h| {
            Rc::new(move |lp: &EventLoop, ctx: &ExceptionContext| h(lp, ctx).into_result())
                as ExceptionHandler
        });
    }

    /// The custom exception handler, if one is set.
    pub fn get_exception_handler(&self) -> Option<ExceptionHandler> {
        self.existing_slot::<CustomHandler>()
            .and_then(|custom| custom.0.borrow().clone())
    }

    /// Logs `ctx` to stderr at error level (asyncio's `default_exception_handler`).
    pub fn default_exception_handler(&self, ctx: &ExceptionContext) {
        log_context(ctx);
    }

    /// Passes `ctx` to the custom handler, or to the default one. An error returned by the
    /// custom handler is logged by the default handler, never lost.
    pub fn call_exception_handler(&self, ctx: &ExceptionContext) {
        match self.get_exception_handler() {
            None => self.default_exception_handler(ctx),
            Some(h) => {
                if let Err(e) = h(self, ctx) {
                    self.default_exception_handler(&ExceptionContext {
                        message: "Unhandled error in exception handler".into(),
                        exception: Some(e),
                        future: Some(format!("{ctx:?}")),
                        ..Default::default()
                    });
                }
            }
        }
    }
}
