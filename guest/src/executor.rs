//! The executor: `run_in_executor`, `set_default_executor`, `shutdown_default_executor`,
//! and the `jobs!` macro that declares what can run there.
//!
//! A WebAssembly guest has a single thread, so asyncio's thread pool cannot exist inside
//! it. The default executor is instead a pool of sibling instances of the same component on
//! host threads, each with memory of its own, as a process pool would be: a job is a named
//! function the workload declares with [`jobs!`](crate::jobs), its argument and result
//! travel serialized (serde, as JSON), and the awaiting task resumes through the reactor.
//! The loop keeps running callbacks, timers and I/O while jobs run.
//!
//! ```no_run
//! sandloop::jobs! {
//!     /// Sum of the squares below `n`: CPU-bound, so it belongs in the executor.
//!     fn sum_of_squares(n: u64) -> Result<u64, String> {
//!         Ok((0..n).map(|i| i * i).sum())
//!     }
//! }
//!
//! fn main() -> sandloop::Result<()> {
//!     sandloop::run(async {
//!         let lp = sandloop::get_running_loop()?;
//!         let total: u64 = lp.run_in_executor(None, "sum_of_squares", 10_000_000u64).await?;
//!         println!("{total}");
//!         Ok::<_, sandloop::Error>(())
//!     })
//! }
//! ```

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::json;
use crate::log::{self, Level};
use crate::sys::executor::HostPool;

/// How many workers the default executor may start (asyncio sizes its thread pool from the
/// CPU count, which a guest cannot see; the host clamps what a pool asks for).
pub const DEFAULT_MAX_WORKERS: u32 = 4;

/// A pool of worker instances (asyncio's `concurrent.futures` executor). A cheap handle;
/// clones share the pool. Dropping the last handle shuts the pool down without waiting.
///
/// asyncio: `concurrent.futures.ProcessPoolExecutor(max_workers=2)` given to `run_in_executor`:
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// use sandloop::Executor;
/// let pool = Executor::new(2);
/// // "resize" is a job the workload declared with sandloop::jobs!.
/// let thumb: Vec<u8> = lp.run_in_executor(Some(&pool), "resize", (vec![0u8; 64], 8u32)).await?;
/// pool.shutdown(&lp, true).await?;
/// # let _ = thumb;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Executor {
    inner: Rc<ExecutorInner>,
}

struct ExecutorInner {
    max_workers: u32,
    /// Made on first use; `None` after shutdown.
    pool: RefCell<Option<HostPool>>,
    shut_down: Cell<bool>,
}

impl Executor {
    /// A pool of at most `max_workers` sibling instances, started as jobs need them.
    ///
    /// ```no_run
    /// let pool = sandloop::Executor::new(2);
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn new(max_workers: u32) -> Executor {
        Executor {
            inner: Rc::new(ExecutorInner {
                max_workers: max_workers.max(1),
                pool: RefCell::new(None),
                shut_down: Cell::new(false),
            }),
        }
    }

    /// The most workers this pool starts.
    pub fn max_workers(&self) -> u32 {
        self.inner.max_workers
    }

    /// Whether [`Executor::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shut_down.get()
    }

    fn submit(&self, name: &str, args: &[u8], token: u64) -> Result<crate::sys::executor::HostJob> {
        if self.is_shut_down() {
            return Err(Error::runtime("cannot schedule new jobs after shutdown"));
        }
        let mut pool = self.inner.pool.borrow_mut();
        pool.get_or_insert_with(|| HostPool::new(self.inner.max_workers))
            .submit(name, args, token)
    }

    /// Stops taking jobs and cancels those not started. With `wait`, resolves once the
    /// running jobs are done; without, lets them finish on their own.
    pub async fn shutdown(&self, lp: &EventLoop, wait: bool) -> Result<()> {
        self.inner.shut_down.set(true);
        let Some(pool) = self.inner.pool.borrow_mut().take() else {
            return Ok(());
        };
        if wait {
            lp.host_answer(|token| {
                pool.shutdown(token);
                Ok(())
            })
            .await?;
        }
        drop(pool);
        Ok(())
    }

    /// Shuts down without waiting (what a loop's `close` does to its default executor).
    fn shutdown_nowait(&self) {
        self.inner.shut_down.set(true);
        self.inner.pool.borrow_mut().take();
    }
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("max_workers", &self.inner.max_workers)
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

/// The loop's default executor and whether `shutdown_default_executor` was called, in
/// the loop's slot for them.
#[derive(Default)]
struct DefaultExecutor {
    executor: RefCell<Option<Executor>>,
    shutdown_called: Cell<bool>,
}

impl EventLoop {
    /// Runs job `job` (declared with [`jobs!`](crate::jobs)) on `args` in `executor`, or in
    /// the default executor with `None` (asyncio's `run_in_executor`), and returns its result.
    ///
    /// An error the job returns comes back as `Error::Other` with its message; a worker that
    /// traps (a panic) fails the job with `Error::Runtime` and is replaced. Dropping the
    /// future abandons the result (the job still runs to its end).
    ///
    /// asyncio: `await loop.run_in_executor(None, fn, arg)`.
    ///
    /// ```no_run
    /// sandloop::jobs! {
    ///     fn fib(n: u64) -> Result<u64, String> {
    ///         Ok(if n < 2 { n } else { fib(n - 1)? + fib(n - 2)? })
    ///     }
    /// }
    ///
    /// fn main() -> sandloop::Result<()> {
    ///     sandloop::run(async {
    ///         let lp = sandloop::get_running_loop()?;
    ///         // The loop keeps serving while a worker instance computes.
    ///         let f: u64 = lp.run_in_executor(None, "fib", 30u64).await?;
    ///         println!("fib(30) = {f}");
    ///         Ok::<_, sandloop::Error>(())
    ///     })
    /// }
    /// ```
    pub async fn run_in_executor<A, R>(
        &self,
        executor: Option<&Executor>,
        job: &str,
        args: A,
    ) -> Result<R>
    where
        A: Serialize,
        R: DeserializeOwned,
    {
        self.check_closed()?;
        let executor = match executor {
            Some(executor) => executor.clone(),
            None => self.default_executor()?,
        };
        let of = format!("job {job:?}");
        let args = json::encode_arguments(&args, &of)?;
        let submitted = self
            .host_answer(|token| executor.submit(job, &args, token))
            .await?;
        match submitted.answer() {
            Some(Ok(bytes)) => json::decode_answer(&bytes, &of),
            Some(Err(failure)) => Err(failure.into()),
            None => Err(Error::runtime(format!(
                "the host reported job {job:?} without its answer"
            ))),
        }
    }

    /// The default executor, made on first use; an error after `shutdown_default_executor`.
    fn default_executor(&self) -> Result<Executor> {
        let default = self.slot::<DefaultExecutor>();
        if default.shutdown_called.get() {
            return Err(Error::runtime("Executor shutdown has been called"));
        }
        Ok(default
            .executor
            .borrow_mut()
            .get_or_insert_with(|| Executor::new(DEFAULT_MAX_WORKERS))
            .clone())
    }

    /// Makes `executor` the default of `run_in_executor(None, ..)` (asyncio's
    /// `set_default_executor`). The previous default is left running.
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// use std::time::Duration;
    /// lp.set_default_executor(sandloop::Executor::new(8));
    /// let n: u64 = lp.run_in_executor(None, "count_primes", 1_000_000u64).await?;
    /// lp.shutdown_default_executor(Some(Duration::from_secs(5))).await?;
    /// # let _ = n;
    /// # Ok(()) }
    /// ```
    pub fn set_default_executor(&self, executor: Executor) {
        *self.slot::<DefaultExecutor>().executor.borrow_mut() = Some(executor);
    }

    /// Shuts the default executor down and waits for its running jobs, at most `timeout`
    /// (`None`: as long as they take). After it, `run_in_executor(None, ..)` is an error.
    /// When the timeout passes, a warning is logged and the pool is dropped without waiting
    /// (asyncio's `shutdown_default_executor`).
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// use std::time::Duration;
    /// lp.shutdown_default_executor(Some(Duration::from_secs(10))).await?;
    /// let refused = lp.run_in_executor::<_, u64>(None, "fib", 10u64).await;
    /// assert!(refused.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn shutdown_default_executor(&self, timeout: Option<Duration>) -> Result<()> {
        let executor = {
            let default = self.slot::<DefaultExecutor>();
            default.shutdown_called.set(true);
            default.executor.take()
        };
        let Some(executor) = executor else {
            return Ok(());
        };
        let waited = crate::wait_for(
            {
                let (executor, lp) = (executor.clone(), self.clone());
                async move { executor.shutdown(&lp, true).await }
            },
            timeout,
        )
        .await;
        match waited {
            Err(Error::Timeout) => {
                let secs = timeout.map(|t| t.as_secs_f64()).unwrap_or_default();
                log::log(
                    Level::Warn,
                    format_args!(
                        "The executor did not finishing joining its threads within {secs} seconds."
                    ),
                );
                executor.shutdown_nowait();
                Ok(())
            }
            other => other,
        }
    }

    /// Shuts the default executor down without waiting (the loop is closing).
    pub(crate) fn drop_default_executor(&self) {
        let executor = self
            .existing_slot::<DefaultExecutor>()
            .and_then(|default| default.executor.take());
        if let Some(executor) = executor {
            executor.shutdown_nowait();
        }
    }
}

/// What a job returns: `Result<T, E>` with a serializable `T` and a displayable `E`.
#[doc(hidden)]
pub trait JobOutput {
    fn into_job_result(self) -> std::result::Result<Vec<u8>, String>;
}

impl<T: Serialize, E: Display> JobOutput for std::result::Result<T, E> {
    fn into_job_result(self) -> std::result::Result<Vec<u8>, String> {
        match self {
            Ok(value) => {
                serde_json::to_vec(&value).map_err(|e| format!("cannot serialize the result: {e}"))
            }
            Err(err) => Err(err.to_string()),
        }
    }
}

/// Runs one job in a worker: deserializes the argument, calls `f`, serializes the result.
#[doc(hidden)]
pub fn run_job<A, O>(name: &str, args: &[u8], f: fn(A) -> O) -> std::result::Result<Vec<u8>, String>
where
    A: DeserializeOwned,
    O: JobOutput,
{
    let arg: A = serde_json::from_slice(args)
        .map_err(|e| format!("job {name:?}: cannot deserialize its argument: {e}"))?;
    f(arg).into_job_result()
}

/// Declares the jobs a workload can run in its executor ([`EventLoop::run_in_executor`]).
///
/// Each job is a function of one serde-deserializable argument (use a tuple for several)
/// returning `Result<T, E>` with `T: Serialize` and `E: Display`; it stays an ordinary
/// function too. The macro makes the component export the jobs
/// (`sandloop:jobs/jobs@0.1.0`), so the host's worker instances can run them by name. Use it
/// once per workload, at the crate's top level; the workload must depend on the guest crate
/// under the name `sandloop`.
///
/// ```no_run
/// sandloop::jobs! {
///     fn add(pair: (i64, i64)) -> Result<i64, String> {
///         Ok(pair.0 + pair.1)
///     }
///     fn shout(text: String) -> Result<String, std::convert::Infallible> {
///         Ok(text.to_uppercase())
///     }
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! jobs {
    ($(
        $(#[$meta:meta])*
        $vis:vis fn $name:ident($arg:ident : $argty:ty) -> $ret:ty $body:block
    )*) => {
        $(
            $(#[$meta])*
            $vis fn $name($arg: $argty) -> $ret $body
        )*

        #[doc(hidden)]
        mod __sandloop_jobs {
            $crate::__private::wit_bindgen::generate!({
                inline: "
                    package sandloop:jobs@0.1.0;
                    interface jobs {
                        variant run-error {
                            failed(string),
                            unknown-job,
                        }
                        run-job: func(name: string, args: list<u8>) -> result<list<u8>, run-error>;
                    }
                    world worker {
                        export jobs;
                    }
                ",
                // No WIT folder besides the inline text: without `path`, wit-bindgen also
                // reads the calling crate's `wit/` if there is one (the sandloop crate's
                // own holds this very package, and a user's may hold anything).
                path: [],
                runtime_path: "::sandloop::__private::wit_bindgen::rt",
            });

            struct Jobs;

            impl exports::sandloop::jobs::jobs::Guest for Jobs {
                fn run_job(
                    name: ::std::string::String,
                    args: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<::std::vec::Vec<u8>, exports::sandloop::jobs::jobs::RunError> {
                    use exports::sandloop::jobs::jobs::RunError;
                    match name.as_str() {
                        $(
                            stringify!($name) => $crate::executor::run_job(&name, &args, super::$name)
                                .map_err(RunError::Failed),
                        )*
                        _ => Err(RunError::UnknownJob),
                    }
                }
            }

            export!(Jobs);
        }
    };
}

#[cfg(test)]
mod tests {
    /// The WIT without comments, whitespace collapsed.
    fn normalize(wit: &str) -> String {
        wit.lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_macro_inlines_the_jobs_wit_of_the_host() {
        let file = include_str!("../wit/deps/jobs/jobs.wit");
        let source = include_str!("executor.rs");
        let start = source.find("inline: \"").expect("the macro's inline WIT") + "inline: \"".len();
        let end = start + source[start..].find('"').expect("its end");
        assert_eq!(normalize(&source[start..end]), normalize(file));
    }
}
