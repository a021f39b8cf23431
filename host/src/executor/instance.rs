//! Worker instances: sibling instances of the running component that run its jobs.
//!
//! A worker thread gets an [`InstanceRunner`], which instantiates the component on the
//! first job into a store of its own (its own WASI context, resource table, reactor and
//! memory) and keeps the instance for the next jobs. It never runs `wasi:cli/run`: it
//! calls the component's export `sandloop:jobs/jobs@0.1.0#run-job` once per job.
//!
//! A worker gets what the instance that created its pool got, except the arguments and
//! stdin: `argv` is only the component's name, stdin is closed, the environment and the
//! [`Policy`] are the same, and stdout and stderr go where the parent's go (the host's, or
//! the parent's capture, so that a test sees what its jobs print; bytes a worker writes
//! after the parent's run returned are not in that run's [`RunOutput`]).
//!
//! A trap (a panic in the job, a failed host call) poisons the instance: wasmtime does not
//! allow re-entering it. The job fails with the trap's message and backtrace, the store is
//! dropped (releasing everything the instance held) and the next job instantiates afresh.
//!
//! [`RunOutput`]: crate::RunOutput

use std::sync::Arc;

use wasmtime::Store;
use wasmtime_wasi::I32Exit;

use crate::error::trap_message;
use crate::executor::pool::{Answer, JobError, JobRunner, RunnerFactory};
use crate::executor::worker_bindings::{RunError, Worker, WorkerPre};
use crate::fs::StdioAccess;
use crate::host_functions::HostFunctions;
use crate::policy::Policy;
use crate::state::{Capture, InstanceError, State, wasi_builder};

/// What the worker instances of one run are made from: the compiled component, and the
/// parent's environment, policy and output.
pub(crate) struct WorkerSpec {
    /// `argv[0]` of each worker, and the name in its log lines.
    pub(crate) name: Arc<str>,
    /// The component pre-linked for its jobs export; `None` if it exports no jobs (then
    /// every job is an `unknown-job`, and no instance is made).
    pub(crate) jobs: Option<WorkerPre<State>>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) policy: Policy,
    /// The parent's host functions: a job may call what the parent may (the same
    /// policy decides).
    pub(crate) host_functions: HostFunctions,
    /// The parent's capture pipes, shared (none: the host's stdout and stderr).
    pub(crate) capture: Capture,
}

/// Makes an [`InstanceRunner`] for each new worker thread of a pool.
pub(crate) fn runners(spec: Arc<WorkerSpec>) -> RunnerFactory {
    Arc::new(move || {
        Box::new(InstanceRunner {
            spec: Arc::clone(&spec),
            live: None,
        })
    })
}

/// The worker instance of one thread, made on first need.
pub(crate) struct InstanceRunner {
    spec: Arc<WorkerSpec>,
    live: Option<Live>,
}

/// An instantiated worker and its store.
struct Live {
    store: Store<State>,
    worker: Worker,
}

impl JobRunner for InstanceRunner {
    fn run_job(&mut self, name: &str, args: &[u8]) -> Answer {
        let Some(pre) = &self.spec.jobs else {
            return Err(JobError::UnknownJob(name.to_owned()));
        };
        let _span = tracing::warn_span!("worker", name = %self.spec.name).entered();
        let mut live = match self.live.take() {
            Some(live) => live,
            None => instantiate(&self.spec, pre).map_err(JobError::Trapped)?,
        };
        let outcome = live
            .worker
            .sandloop_jobs_jobs()
            .call_run_job(&mut live.store, name, args);
        let answer = match outcome {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(RunError::Failed(message))) => Err(JobError::Failed(message)),
            Ok(Err(RunError::UnknownJob)) => Err(JobError::UnknownJob(name.to_owned())),
            Err(err) => {
                // The instance cannot be entered again: it is not put back, its store goes
                // now with whatever it held, and the next job gets a fresh one.
                let message = ending_message(&err);
                tracing::debug!(job = name, "executor: a worker trapped: {message}");
                return Err(JobError::Trapped(message));
            }
        };
        self.live = Some(live);
        answer
    }
}

/// A fresh worker instance, or why none could be made.
fn instantiate(spec: &Arc<WorkerSpec>, pre: &WorkerPre<State>) -> Result<Live, String> {
    let state = worker_state(spec).map_err(|err| {
        format!(
            "cannot start a worker instance of {}: {}",
            spec.name,
            crate::error::chain(&err)
        )
    })?;
    let mut store = Store::new(pre.engine(), state);
    store.limiter(|state| &mut state.limiter);
    crate::limits::disarm(&mut store);
    match pre.instantiate(&mut store) {
        Ok(worker) => Ok(Live { store, worker }),
        Err(err) => Err(format!(
            "cannot start a worker instance of {}: {}",
            spec.name,
            ending_message(&err)
        )),
    }
}

/// The store data of a worker instance: `argv` is only the name, the environment, policy,
/// host functions and output are the parent run's (`spec`), stdin is closed, and no stdio is handed out
/// as pipes. The worker gets its own reactor, table, resolver, executor and inbox.
fn worker_state(spec: &Arc<WorkerSpec>) -> Result<State, InstanceError> {
    let builder = wasi_builder(&spec.name, &spec.env, &spec.capture);
    State::new(
        builder,
        spec.policy.clone(),
        runners(Arc::clone(spec)),
        spec.host_functions.clone(),
        StdioAccess::default(),
        // A worker blocks a thread of its own, whatever its workload's instances do.
        false,
    )
}

/// What ended a worker's call: `exit(n)` (which ends the instance as surely as a trap), or
/// the trap's reason and backtrace.
fn ending_message(err: &wasmtime::Error) -> String {
    match err.downcast_ref::<I32Exit>() {
        Some(exit) => format!("the worker instance exited with code {}", exit.0),
        None => trap_message(err),
    }
}
