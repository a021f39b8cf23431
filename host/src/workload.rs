//! A loaded workload and its runs: instantiate, call `wasi:cli/run`, classify the ending.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::Instrument as _;
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::sync::CommandPre;

use crate::calls::Caller;
use crate::calls::error::Ending;
use crate::error::trap_message;
use crate::executor::{WorkerPre, WorkerSpec, runners};
use crate::fs::StdioAccess;
use crate::host_functions::HostFunctions;
use crate::inbox::Poster;
use crate::policy::{Policy, PolicyError};
use crate::reactor::{Hub, ReactorWaker, Seated, Watch};
use crate::runtime::BoxError;
use crate::shared::{Finished, SharedThreads};
use crate::state::{Capture, InstanceError, State, wasi_builder};
use crate::stats::{Counters, Stats};

/// A compiled, linked workload, ready to run any number of times.
///
/// Cheap to clone (everything inside is shared); each [`run`](Workload::run) gets a fresh
/// instance with its own store, WASI context and reactor, and releases all of it when it
/// returns.
#[derive(Clone)]
pub struct Workload {
    /// `argv[0]` of every run: the component's file stem.
    name: Arc<str>,
    engine: Engine,
    pre: CommandPre<State>,
    /// The same component pre-linked for its executor jobs, if it exports them.
    jobs: Option<WorkerPre<State>>,
    /// Compiled with epoch checks: a callback time limit can hold.
    interruptible: bool,
    /// Set when the runtime runs its instances on shared threads: the component linked
    /// with the parking `wait`, and the threads.
    shared: Option<Shared>,
}

/// A workload's way onto the runtime's shared threads.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) pre: wasmtime_wasi::p2::bindings::CommandPre<State>,
    pub(crate) threads: Arc<SharedThreads>,
}

/// How to run a workload once.
///
/// The default runs with no arguments, an empty environment, the host's stdout and stderr
/// (not captured), a closed stdin and a policy that grants nothing.
///
/// ```
/// use sandloop_host::{Policy, RunOptions};
///
/// let opts = RunOptions {
///     args: vec!["--port".into(), "8080".into()],
///     policy: Policy::new().allow_listen("127.0.0.1:8080")?,
///     ..Default::default()
/// };
/// # Ok::<(), sandloop_host::RuleError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `argv[1..]`; `argv[0]` is the component's file stem.
    pub args: Vec<String>,
    /// The guest's whole environment: nothing of the host's is passed unless listed here.
    pub env: Vec<(String, String)>,
    /// `false`: the guest writes to the host's stdout and stderr. `true`: both are captured
    /// into [`RunOutput`] (up to 64 MiB each; writing more traps the guest). The run's
    /// executor workers write to the same place (what they write after the run returned
    /// is not in its output).
    pub capture_output: bool,
    /// Whether the guest reads the host's stdin (otherwise its stdin is closed).
    pub inherit_stdin: bool,
    /// What the guest may do with the network; the default denies everything.
    pub policy: Policy,
    /// The functions the embedding application provides to this run (see
    /// [`host_functions`](crate::host_functions)); the guest may call those that
    /// [`Policy::allow_host_functions`] lists. The default provides none.
    pub host_functions: HostFunctions,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// The guest returned from `wasi:cli/run` (`Ok` is 0, `Err` is 1) or called
    /// `exit` with this code.
    Exited(i32),
    /// The guest trapped (a Rust panic ends in `unreachable`; also out-of-bounds accesses,
    /// stack overflow, or a host call that failed fatally). The message holds the trap
    /// reason, then the wasm backtrace with function names and, when the component
    /// carries debug info, file and line (not on a runtime with
    /// [`shared_threads`](crate::RuntimeOptions::shared_threads), where reading the debug
    /// info for each trap would cost tens of milliseconds of a shared thread).
    Trapped(String),
    /// The run was stopped from outside ([`RunningWorkload::stop`] or a
    /// [`StopHandle`](crate::StopHandle)).
    Stopped,
}

impl ExitStatus {
    /// Whether the guest exited with code 0.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
    }

    /// The exit code, if the guest exited rather than trapped.
    pub fn code(&self) -> Option<i32> {
        match self {
            ExitStatus::Exited(code) => Some(*code),
            ExitStatus::Trapped(_) | ExitStatus::Stopped => None,
        }
    }
}

/// Why the host could not run a workload ([`Workload::run`], [`Workload::start`],
/// [`RunningWorkload::join`]). A guest that exits or traps is no error: its run has an
/// [`ExitStatus`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The policy can never work as written ([`Policy::check`]); the message says why.
    #[error("the policy cannot work as written: {0}")]
    Policy(PolicyError),
    /// The policy sets a callback time limit, which needs the epoch checks the runtime
    /// was built without ([`RuntimeOptions::interruptible`](crate::RuntimeOptions)).
    #[error(
        "a callback time limit ({} ms) needs a runtime built with \
         `RuntimeOptions::interruptible`",
        .0.as_millis()
    )]
    NotInterruptible(Duration),
    /// The instance's store could not be set up: its reactor, or a preopened directory.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// The thread of a started workload could not be spawned.
    #[error("failed to spawn the workload's thread")]
    Thread(#[source] io::Error),
    /// wasmtime could not instantiate the component (not a trap of the guest's, which
    /// ends the run with [`ExitStatus::Trapped`]).
    #[error("failed to instantiate {name}")]
    Instantiate {
        /// The workload's name.
        name: String,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
    /// The thread of a started workload panicked (a bug of sandloop's).
    #[error("the workload's thread panicked")]
    Panicked,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// How the run ended.
    pub status: ExitStatus,
    /// The captured stdout (empty unless [`RunOptions::capture_output`]).
    pub stdout: Vec<u8>,
    /// The captured stderr (empty unless [`RunOptions::capture_output`]); a guest panic's
    /// message is here, the trap itself is in [`ExitStatus::Trapped`].
    pub stderr: Vec<u8>,
}

impl Workload {
    pub(crate) fn new(
        name: &str,
        engine: Engine,
        pre: CommandPre<State>,
        jobs: Option<WorkerPre<State>>,
        interruptible: bool,
        shared: Option<Shared>,
    ) -> Workload {
        Workload {
            name: name.into(),
            engine,
            pre,
            jobs,
            interruptible,
            shared,
        }
    }

    /// Refuses a policy that can never work ([`Policy::check`]), and a callback time limit
    /// without the epoch checks the runtime may have left out.
    fn check_policy(&self, opts: &RunOptions) -> Result<(), RunError> {
        opts.policy.check().map_err(RunError::Policy)?;
        if let Some(limit) = opts.policy.limits.callback_cpu
            && !self.interruptible
        {
            return Err(RunError::NotInterruptible(limit));
        }
        Ok(())
    }

    /// The workload's name (`argv[0]` of its runs): the component's file stem.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the guest's `wasi:cli/run` on the current thread to completion.
    ///
    /// A guest that exits or traps is an `Ok` with the matching [`ExitStatus`]; an `Err`
    /// means the host could not run it (no reactor, instantiation refused, ...).
    ///
    /// ```no_run
    /// use sandloop_host::{Runtime, RunOptions};
    ///
    /// let runtime = Runtime::new()?;
    /// let workload = runtime.load("hello_world.wasm".as_ref())?;
    /// let output = workload.run(RunOptions { capture_output: true, ..Default::default() })?;
    /// assert!(output.status.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// On a runtime with [`shared_threads`](crate::RuntimeOptions::shared_threads) the
    /// instance is seated at their reactor as a started one is, but its task runs on the
    /// calling thread, which `run` holds until the end anyway: handing it to a shared
    /// thread and the output back would cost two cross-thread wake-ups (about half of a
    /// small guest's start). Called from a thread of a tokio runtime (where blocking on a
    /// task is not allowed), it runs on the shared threads and this thread waits.
    pub fn run(&self, opts: RunOptions) -> Result<RunOutput, RunError> {
        if let Some(shared) = &self.shared {
            if tokio::runtime::Handle::try_current().is_ok() {
                return self.start(opts)?.join();
            }
            self.check_policy(&opts)?;
            let hub = shared.threads.hub();
            let (state, capture) = instance_state(&self.name, &opts, self.jobs.clone(), Some(hub))?;
            let bits = state.seat_bits();
            let run = self.run_parked(state, capture);
            return shared.threads.block_on(Seated {
                bits,
                task: Box::pin(run),
            });
        }
        self.check_policy(&opts)?;
        let (state, capture) = instance_state(&self.name, &opts, self.jobs.clone(), None)?;
        self.run_instance(state, capture)
    }

    /// Runs the guest on a new thread; the returned handle gives the instance's reactor
    /// waker, a [`Poster`] into its loop and a [`Caller`] of its functions at once (all
    /// exist before the thread starts: messages posted and calls made before the guest's
    /// loop runs wait for it) and the output on
    /// [`join`](RunningWorkload::join).
    ///
    /// This is how an embedding posts into a loop or calls it: [`run`](Workload::run)
    /// holds the calling thread until the guest ends, so it offers no poster or caller.
    pub fn start(&self, opts: RunOptions) -> Result<RunningWorkload, RunError> {
        self.check_policy(&opts)?;
        let hub = self.shared.as_ref().map(|shared| shared.threads.hub());
        let (state, capture) = instance_state(&self.name, &opts, self.jobs.clone(), hub)?;
        let waker = state.waker();
        let poster = state.poster();
        let caller = Caller::new(state.poster());
        let stop = StopHandle::new(state.watch(), state.waker());
        let stats = state.stats();
        let workload = self.clone();
        let ending = match &self.shared {
            Some(shared) => {
                // Every registration the instance makes carries its seat at the shared
                // reactor: its task sets the seat for the thread while it runs.
                let bits = state.seat_bits();
                let run = async move { workload.run_parked(state, capture).await };
                Joiner::Task(shared.threads.spawn(Seated {
                    bits,
                    task: Box::pin(run),
                }))
            }
            None => Joiner::Thread(
                std::thread::Builder::new()
                    .name(format!("sandloop {}", self.name))
                    .spawn(move || workload.run_instance(state, capture))
                    .map_err(RunError::Thread)?,
            ),
        };
        Ok(RunningWorkload {
            waker,
            poster,
            caller,
            stop,
            stats,
            ending,
        })
    }

    /// A store for `state`, with its memory limit and its watchdog; `parked`: the
    /// watchdog also has a guest that spins yield its shared thread at each tick.
    fn store(&self, state: State, parked: bool) -> Store<State> {
        let limits = *state.limits();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        crate::limits::arm_watchdog(&mut store, &limits, State::watch, parked);
        store
    }

    /// How a failure to instantiate ends the run: a trap while instantiating is the
    /// guest's, anything else the host's.
    fn instantiate_failed(&self, err: wasmtime::Error) -> Result<ExitStatus, RunError> {
        if err.is::<Trap>() || err.is::<I32Exit>() {
            return Ok(guest_ending(err));
        }
        Err(RunError::Instantiate {
            name: self.name.to_string(),
            source: err.into(),
        })
    }

    fn run_instance(&self, state: State, capture: Capture) -> Result<RunOutput, RunError> {
        // Every host log line of the run (audit lines included) names the workload: the
        // span has the level of a warning, so it shows under the default filter (`warn`).
        let _span = tracing::warn_span!("workload", name = %self.name).entered();
        let mut store = self.store(state, false);
        let status = match self.pre.instantiate(&mut store) {
            Ok(command) => run_status(command.wasi_cli_run().call_run(&mut store)),
            Err(err) => self.instantiate_failed(err)?,
        };
        Ok(self.finish(store, status, capture))
    }

    /// [`run_instance`](Workload::run_instance) as a task of the shared threads.
    async fn run_parked(&self, state: State, capture: Capture) -> Result<RunOutput, RunError> {
        let Some(shared) = &self.shared else {
            unreachable!("only workloads on shared threads run parked")
        };
        let span = tracing::warn_span!("workload", name = %self.name);
        let mut store = self.store(state, true);
        let status = async {
            match shared.pre.instantiate_async(&mut store).await {
                Ok(command) => Ok(run_status(
                    command.wasi_cli_run().call_run(&mut store).await,
                )),
                Err(err) => self.instantiate_failed(err),
            }
        }
        .instrument(span.clone())
        .await?;
        let _span = span.entered();
        Ok(self.finish(store, status, capture))
    }

    /// The end of a run, however it ended: pending calls fail, the store and everything
    /// in it goes, the run's audit lines come out, the captured output is read.
    fn finish(&self, mut store: Store<State>, status: ExitStatus, capture: Capture) -> RunOutput {
        // Calls still waiting fail with the reason of the end, and so do later ones.
        store.data_mut().inbox().end(ending_of(&status));
        // Dropping the store releases every resource of the instance and closes the
        // guest's ends of the capture pipes, so their contents are final.
        drop(store);
        // The run's repeated denials were only counted so far: their lines come now.
        crate::policy::audit::end_of_run();
        let (stdout, stderr) = capture.into_bytes();
        RunOutput {
            status,
            stdout,
            stderr,
        }
    }
}

/// How the guest's `wasi:cli/run` ended.
fn run_status(outcome: wasmtime::Result<Result<(), ()>>) -> ExitStatus {
    match outcome {
        Ok(Ok(())) => ExitStatus::Exited(0),
        Ok(Err(())) => ExitStatus::Exited(1),
        Err(err) => guest_ending(err),
    }
}

/// The store data of one run: `argv0` then `opts.args`, exactly `opts.env` (deny by
/// default: nothing from the host environment unless the caller put it there), stdio
/// inherited or captured, the policy's preopened directories (read-only unless writable)
/// and no WASI network access (the network comes through sandloop's own interfaces, under
/// a policy). `jobs` is the component pre-linked for its executor jobs, if it exports
/// them: the instance's executor pools make their workers from it.
fn instance_state(
    argv0: &Arc<str>,
    opts: &RunOptions,
    jobs: Option<WorkerPre<State>>,
    hub: Option<&Arc<Hub>>,
) -> Result<(State, Capture), InstanceError> {
    let capture = Capture::new(opts.capture_output);
    let mut builder = wasi_builder(argv0, &opts.env, &capture);
    builder.args(&opts.args);
    if opts.inherit_stdin {
        builder.inherit_stdin();
    }
    let spec = WorkerSpec {
        name: Arc::clone(argv0),
        jobs,
        env: opts.env.clone(),
        policy: opts.policy.clone(),
        host_functions: opts.host_functions.clone(),
        capture: capture.clone(),
    };
    let stdio = StdioAccess {
        stdin: opts.inherit_stdin,
        output: !opts.capture_output,
    };
    let state = State::new(
        builder,
        opts.policy.clone(),
        runners(Arc::new(spec)),
        opts.host_functions.clone(),
        stdio,
        hub,
    )?;
    Ok((state, capture))
}

/// Classifies an error out of the guest: `exit(n)` surfaces as `I32Exit`, everything
/// else (a trap, or a host function failing fatally) ends the guest as a trap.
fn guest_ending(err: wasmtime::Error) -> ExitStatus {
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return ExitStatus::Exited(exit.0);
    }
    if err.is::<crate::reactor::Stopped>() {
        return ExitStatus::Stopped;
    }
    ExitStatus::Trapped(trap_message(&err))
}

/// What the calls into an instance that ended as `status` fail with.
fn ending_of(status: &ExitStatus) -> Ending {
    match status {
        ExitStatus::Exited(code) => Ending::Exited(*code),
        ExitStatus::Trapped(message) => Ending::Trapped(message.clone()),
        ExitStatus::Stopped => Ending::Stopped,
    }
}

/// A workload running on its own thread, or on the runtime's shared threads.
pub struct RunningWorkload {
    waker: ReactorWaker,
    poster: Poster,
    caller: Caller,
    stop: StopHandle,
    stats: Arc<Counters>,
    ending: Joiner,
}

/// Where the output of a started run will come from.
enum Joiner {
    Thread(JoinHandle<Result<RunOutput, RunError>>),
    Task(Finished<Result<RunOutput, RunError>>),
}

impl RunningWorkload {
    /// The waker of the instance's reactor: interrupts the guest's `wait` from any thread.
    pub fn waker(&self) -> ReactorWaker {
        self.waker.clone()
    }

    /// Posts messages into the instance's loop from any thread (asyncio's
    /// `call_soon_threadsafe` from outside the guest). Posts fail once the loop is closed
    /// or the run has ended.
    pub fn poster(&self) -> Poster {
        self.poster.clone()
    }

    /// Calls the functions the instance's loop exported, from any thread (see
    /// [`calls`](crate::calls)). Calls made before the guest's loop runs wait for it;
    /// calls fail once the loop is closed, and with the reason of the end once the run
    /// has ended.
    pub fn caller(&self) -> Caller {
        self.caller.clone()
    }

    /// Stops the run from outside (see [`StopHandle::stop`]): [`join`](RunningWorkload::join)
    /// then returns [`ExitStatus::Stopped`], unless the run had already ended otherwise.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// A handle that stops the run from any thread, even after this `RunningWorkload`
    /// was moved into `join`.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// What the instance has used so far (see [`Stats`] for what each counter counts and
    /// when): cheap, from any thread, without disturbing the guest. Once the run has
    /// ended the totals are final and the instance holds no handles.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot(self.is_finished())
    }

    /// Whether the run has ended (then [`join`](RunningWorkload::join) does not block).
    pub fn is_finished(&self) -> bool {
        match &self.ending {
            Joiner::Thread(thread) => thread.is_finished(),
            Joiner::Task(task) => task.is_finished(),
        }
    }

    /// Waits for the run to end and returns its output.
    pub fn join(self) -> Result<RunOutput, RunError> {
        match self.ending {
            Joiner::Thread(thread) => thread.join().map_err(|_| RunError::Panicked)?,
            Joiner::Task(task) => task.wait().ok_or(RunError::Panicked)?,
        }
    }
}

/// Stops one running workload from any thread: see [`RunningWorkload::stop_handle`].
#[derive(Clone)]
pub struct StopHandle {
    stop: Arc<AtomicBool>,
    waker: ReactorWaker,
}

impl StopHandle {
    /// A handle that stops the instance `watch` belongs to, waking it with `waker`.
    pub(crate) fn new(watch: &Watch, waker: ReactorWaker) -> StopHandle {
        StopHandle {
            stop: watch.stop_flag(),
            waker,
        }
    }

    /// Asks the instance to stop: a guest blocked in its loop's wait wakes and ends at
    /// once; a guest running code ends at the runtime's next tick (within about 10 ms).
    /// The run then ends as [`ExitStatus::Stopped`], and all of its resources are
    /// released as for any ending. Stopping a run that has ended, or stopping twice, does
    /// nothing.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Err(err) = self.waker.wake() {
            // The flag is set: the next tick of a running guest still sees it.
            tracing::debug!(%err, "stop: waking the reactor failed");
        }
    }
}
