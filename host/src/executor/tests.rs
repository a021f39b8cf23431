//! The executor's bookkeeping through its WIT functions, with plain Rust runners instead
//! of worker instances: threads on demand, answers and their events, shutdown, drops.
//! Worker instances themselves (jobs exported by a real component, traps) are covered by
//! the integration tests with a guest program.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::component::Resource;

use super::pool::{Answer, JobError, JobRunner, RunnerFactory};
use super::{Job, MAX_WORKERS, Pool};
use crate::bindings::executor::{HostJob, HostPool, JobError as WitJobError};
use crate::testing::{Fixture, PATIENCE_NS, borrow, loopback_policy};

/// Long enough never to expire on a loaded machine; the signals come much sooner.
const PATIENCE: Duration = Duration::from_nanos(PATIENCE_NS);

/// A gate that `hold` jobs wait at until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.opened.notify_all();
    }

    fn pass(&self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        while !*open {
            open = self
                .opened
                .wait(open)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// What the test's runners report, in order, from their threads.
#[derive(Debug, PartialEq, Eq)]
enum Signal {
    Started(String),
    Finished(String),
    /// A runner was dropped: its worker thread is ending.
    RunnerDropped,
}

/// Runners that run jobs by name: `echo` returns its arguments, `fail` fails with them as
/// the message, `hold` waits at the gate then echoes, `panic` panics; anything else is an
/// unknown job.
struct Script {
    gate: Arc<Gate>,
    signals: Mutex<Sender<Signal>>,
    runners_made: AtomicUsize,
}

struct ScriptRunner {
    script: Arc<Script>,
}

impl ScriptRunner {
    fn signal(&self, signal: Signal) {
        let signals = self
            .script
            .signals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The test may have stopped listening; that is not the runner's concern.
        let _ = signals.send(signal);
    }
}

impl JobRunner for ScriptRunner {
    fn run_job(&mut self, name: &str, args: &[u8]) -> Answer {
        self.signal(Signal::Started(name.to_owned()));
        let answer = match name {
            "echo" => Ok(args.to_vec()),
            "fail" => Err(JobError::Failed(String::from_utf8_lossy(args).into_owned())),
            "hold" => {
                self.script.gate.pass();
                Ok(args.to_vec())
            }
            "panic" => panic!("the script runner panics"),
            _ => Err(JobError::UnknownJob(name.to_owned())),
        };
        self.signal(Signal::Finished(name.to_owned()));
        answer
    }
}

impl Drop for ScriptRunner {
    fn drop(&mut self) {
        self.signal(Signal::RunnerDropped);
    }
}

/// A fixture whose executor runs [`Script`] jobs, the script, and its signals.
fn scripted() -> (Fixture, Arc<Script>, Receiver<Signal>) {
    let (tx, rx) = mpsc::channel();
    let script = Arc::new(Script {
        gate: Arc::default(),
        signals: Mutex::new(tx),
        runners_made: AtomicUsize::new(0),
    });
    let factory_script = Arc::clone(&script);
    let runners: RunnerFactory = Arc::new(move || {
        factory_script.runners_made.fetch_add(1, Ordering::SeqCst);
        Box::new(ScriptRunner {
            script: Arc::clone(&factory_script),
        })
    });
    (
        Fixture::with_runners(loopback_policy(), runners),
        script,
        rx,
    )
}

/// A job's error, comparable (the generated `JobError` is not).
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    Failed(String),
    Trapped(String),
    UnknownJob(String),
    Cancelled,
}

impl From<WitJobError> for Failure {
    fn from(err: WitJobError) -> Failure {
        match err {
            WitJobError::Failed(message) => Failure::Failed(message),
            WitJobError::Trapped(message) => Failure::Trapped(message),
            WitJobError::UnknownJob(name) => Failure::UnknownJob(name),
            WitJobError::Cancelled => Failure::Cancelled,
        }
    }
}

fn next_signal(signals: &Receiver<Signal>) -> Signal {
    signals
        .recv_timeout(PATIENCE)
        .expect("a signal from a runner")
}

impl Fixture {
    fn pool(&mut self, max_workers: u32) -> Resource<Pool> {
        HostPool::new(&mut self.executor(), max_workers).expect("no trap")
    }

    fn submit(
        &mut self,
        pool: &Resource<Pool>,
        name: &str,
        args: &[u8],
        token: u64,
    ) -> Resource<Job> {
        HostPool::submit(
            &mut self.executor(),
            borrow(pool),
            name.into(),
            args.to_vec(),
            token,
        )
        .expect("no trap")
        .expect("the pool takes the job")
    }

    fn answer(&mut self, job: &Resource<Job>) -> Option<Result<Vec<u8>, Failure>> {
        let answer = self.executor().answer(borrow(job)).expect("no trap");
        answer.map(|answer| answer.map_err(Failure::from))
    }

    fn drop_pool(&mut self, pool: Resource<Pool>) {
        HostPool::drop(&mut self.executor(), pool).expect("no trap");
    }

    fn drop_job(&mut self, job: Resource<Job>) {
        HostJob::drop(&mut self.executor(), job).expect("no trap");
    }

    fn worker_threads(&mut self, pool: &Resource<Pool>) -> usize {
        self.table.get(pool).expect("a live pool").workers.threads()
    }

    /// The tokens of every event up to and including the first under `last`, in order.
    fn tokens_until(&mut self, last: u64) -> Vec<u64> {
        let mut seen = Vec::new();
        for _ in 0..1000 {
            seen.extend(self.wait(Some(PATIENCE_NS)).iter().map(|e| e.token));
            if let Some(end) = seen.iter().position(|&t| t == last) {
                assert_eq!(end + 1, seen.len(), "events after {last}: {seen:?}");
                return seen;
            }
        }
        panic!("no event under token {last}; saw {seen:?}");
    }
}

#[test]
fn a_job_runs_on_a_worker_and_its_answer_comes_with_its_event() {
    let (mut fx, _script, _signals) = scripted();
    let pool = fx.pool(2);

    let job = fx.submit(&pool, "echo", b"hello", 7);

    fx.next_event(7);
    assert_eq!(fx.answer(&job), Some(Ok(b"hello".to_vec())));
}

#[test]
fn the_answer_is_none_until_the_job_is_done() {
    let (mut fx, script, signals) = scripted();
    let pool = fx.pool(1);

    let job = fx.submit(&pool, "hold", b"x", 1);
    assert_eq!(next_signal(&signals), Signal::Started("hold".into()));
    assert_eq!(fx.answer(&job), None);
    script.gate.open();

    fx.next_event(1);
    assert_eq!(fx.answer(&job), Some(Ok(b"x".to_vec())));
}

#[test]
fn failed_and_unknown_jobs_answer_errors() {
    let (mut fx, _script, _signals) = scripted();
    let pool = fx.pool(1);

    let failed = fx.submit(&pool, "fail", b"bad input", 1);
    let unknown = fx.submit(&pool, "no_such_job", b"", 2);
    fx.tokens_until(2);

    assert_eq!(
        fx.answer(&failed),
        Some(Err(Failure::Failed("bad input".into())))
    );
    assert_eq!(
        fx.answer(&unknown),
        Some(Err(Failure::UnknownJob("no_such_job".into())))
    );
}

#[test]
fn without_a_jobs_export_every_job_is_unknown() {
    let mut fx = Fixture::loopback();
    let pool = fx.pool(1);

    let job = fx.submit(&pool, "anything", b"", 3);

    fx.next_event(3);
    assert_eq!(
        fx.answer(&job),
        Some(Err(Failure::UnknownJob("anything".into())))
    );
}

#[test]
fn one_worker_runs_jobs_one_after_another_in_order() {
    let (mut fx, _script, signals) = scripted();
    let pool = fx.pool(1);

    for token in 1..=3 {
        fx.submit(&pool, "echo", &[token as u8], token);
    }

    assert_eq!(fx.tokens_until(3), [1, 2, 3]);
    assert_eq!(fx.worker_threads(&pool), 1);
    let started: Vec<Signal> = (0..6).map(|_| next_signal(&signals)).collect();
    assert_eq!(
        started
            .iter()
            .filter(|s| **s == Signal::Started("echo".into()))
            .count(),
        3
    );
}

#[test]
fn an_idle_worker_is_reused_rather_than_a_thread_started() {
    let (mut fx, script, _signals) = scripted();
    let pool = fx.pool(4);

    fx.submit(&pool, "echo", b"1", 1);
    fx.next_event(1);
    fx.submit(&pool, "echo", b"2", 2);
    fx.next_event(2);

    assert_eq!(fx.worker_threads(&pool), 1);
    assert_eq!(script.runners_made.load(Ordering::SeqCst), 1);
}

#[test]
fn workers_start_on_demand_up_to_max_workers() {
    let (mut fx, script, signals) = scripted();
    let pool = fx.pool(2);

    for token in 1..=5 {
        fx.submit(&pool, "hold", b"", token);
    }
    next_signal(&signals);
    next_signal(&signals);

    assert_eq!(fx.worker_threads(&pool), 2);
    script.gate.open();
    let mut seen: Vec<u64> = Vec::new();
    while seen.len() < 5 {
        seen.extend(fx.wait(Some(PATIENCE_NS)).iter().map(|e| e.token));
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        [1, 2, 3, 4, 5],
        "every job finishes on the two workers"
    );
}

#[test]
fn max_workers_below_one_gives_one_worker() {
    let (mut fx, script, signals) = scripted();
    let pool = fx.pool(0);

    fx.submit(&pool, "hold", b"", 1);
    fx.submit(&pool, "hold", b"", 2);
    next_signal(&signals);

    assert_eq!(fx.worker_threads(&pool), 1);
    script.gate.open();
    assert_eq!(fx.tokens_until(2), [1, 2]);
}

#[test]
fn max_workers_above_the_maximum_is_clamped() {
    let (mut fx, script, signals) = scripted();
    let pool = fx.pool(u32::MAX);
    let jobs = MAX_WORKERS as u64 + 8;

    for token in 1..=jobs {
        fx.submit(&pool, "hold", b"", token);
    }
    for _ in 0..MAX_WORKERS {
        next_signal(&signals);
    }

    assert_eq!(fx.worker_threads(&pool), MAX_WORKERS as usize);
    script.gate.open();
    let mut seen = 0;
    while seen < jobs {
        seen += fx.wait(Some(PATIENCE_NS)).len() as u64;
    }
}

#[test]
fn shutdown_cancels_queued_jobs_and_reports_once_running_ones_finish() {
    let (mut fx, script, signals) = scripted();
    let pool = fx.pool(1);
    let running = fx.submit(&pool, "hold", b"r", 1);
    assert_eq!(next_signal(&signals), Signal::Started("hold".into()));
    let queued = fx.submit(&pool, "echo", b"q", 2);

    HostPool::shutdown(&mut fx.executor(), borrow(&pool), 9).expect("no trap");

    fx.next_event(2);
    assert_eq!(fx.answer(&queued), Some(Err(Failure::Cancelled)));
    assert_eq!(fx.answer(&running), None, "the running job goes on");
    script.gate.open();
    assert_eq!(fx.tokens_until(9), [1, 9]);
    assert_eq!(fx.answer(&running), Some(Ok(b"r".to_vec())));
}

#[test]
fn shutdown_with_no_job_running_reports_at_once() {
    let (mut fx, _script, _signals) = scripted();
    let pool = fx.pool(1);
    fx.submit(&pool, "echo", b"", 1);
    fx.next_event(1);

    HostPool::shutdown(&mut fx.executor(), borrow(&pool), 9).expect("no trap");

    assert_eq!(fx.tokens_until(9), [9]);
}

#[test]
fn shutdown_of_an_unused_pool_reports_at_once() {
    let mut fx = Fixture::loopback();
    let pool = fx.pool(1);

    HostPool::shutdown(&mut fx.executor(), borrow(&pool), 9).expect("no trap");

    assert_eq!(fx.tokens_until(9), [9]);
}

#[test]
fn submit_after_shutdown_is_an_error_naming_the_job() {
    let (mut fx, _script, _signals) = scripted();
    let pool = fx.pool(1);
    HostPool::shutdown(&mut fx.executor(), borrow(&pool), 9).expect("no trap");

    let err = HostPool::submit(
        &mut fx.executor(),
        borrow(&pool),
        "echo".into(),
        Vec::new(),
        1,
    )
    .expect("no trap")
    .expect_err("a shut-down pool takes no jobs");

    assert_eq!(
        err.message,
        "run_in_executor \"echo\": cannot schedule new jobs after the executor's shutdown"
    );
}

#[test]
fn dropping_the_pool_cancels_queued_jobs_and_workers_exit_after_their_job() {
    let (mut fx, script, signals) = scripted();
    let pool = fx.pool(1);
    let running = fx.submit(&pool, "hold", b"r", 1);
    assert_eq!(next_signal(&signals), Signal::Started("hold".into()));
    let queued = fx.submit(&pool, "echo", b"q", 2);

    fx.drop_pool(pool);

    fx.next_event(2);
    assert_eq!(fx.answer(&queued), Some(Err(Failure::Cancelled)));
    script.gate.open();
    assert_eq!(next_signal(&signals), Signal::Finished("hold".into()));
    assert_eq!(next_signal(&signals), Signal::RunnerDropped);
    // A job the guest still holds gets its answer: its loop may still await it.
    fx.next_event(1);
    assert_eq!(fx.answer(&running), Some(Ok(b"r".to_vec())));
}

#[test]
fn shutdown_tokens_are_not_reported_once_the_pool_is_dropped() {
    let (mut fx, script, signals) = scripted();
    let pool = fx.pool(1);
    fx.submit(&pool, "hold", b"", 1);
    assert_eq!(next_signal(&signals), Signal::Started("hold".into()));
    HostPool::shutdown(&mut fx.executor(), borrow(&pool), 9).expect("no trap");

    fx.drop_pool(pool);
    script.gate.open();

    assert_eq!(next_signal(&signals), Signal::Finished("hold".into()));
    assert_eq!(next_signal(&signals), Signal::RunnerDropped);
    assert_eq!(fx.tokens_until(1), [1]);
    assert!(fx.wait(Some(0)).is_empty(), "no shutdown event");
}

#[test]
fn a_dropped_job_still_runs_and_reports_nothing() {
    let (mut fx, script, signals) = scripted();
    let pool = fx.pool(1);
    let job = fx.submit(&pool, "hold", b"", 1);

    fx.drop_job(job);
    script.gate.open();

    assert_eq!(next_signal(&signals), Signal::Started("hold".into()));
    assert_eq!(next_signal(&signals), Signal::Finished("hold".into()));
    HostPool::shutdown(&mut fx.executor(), borrow(&pool), 9).expect("no trap");
    assert_eq!(fx.tokens_until(9), [9]);
}

#[test]
fn the_end_of_the_instance_stops_its_workers_after_their_job() {
    let (mut fx, script, signals) = scripted();
    let pool = fx.pool(2);
    fx.submit(&pool, "hold", b"", 1);
    fx.submit(&pool, "echo", b"", 2);
    fx.tokens_until(2);

    // The store, its table and every pool in it go.
    drop(fx);
    script.gate.open();

    let mut dropped = 0;
    while dropped < 2 {
        if next_signal(&signals) == Signal::RunnerDropped {
            dropped += 1;
        }
    }
}

#[test]
fn a_runner_that_panics_fails_its_job_and_is_replaced() {
    let (mut fx, script, _signals) = scripted();
    let pool = fx.pool(1);

    let panicked = fx.submit(&pool, "panic", b"", 1);
    fx.next_event(1);
    let after = fx.submit(&pool, "echo", b"ok", 2);
    fx.next_event(2);

    let Some(Err(Failure::Trapped(message))) = fx.answer(&panicked) else {
        panic!("expected a trapped job");
    };
    assert!(message.contains("host bug"), "{message}");
    assert_eq!(fx.answer(&after), Some(Ok(b"ok".to_vec())));
    assert_eq!(script.runners_made.load(Ordering::SeqCst), 2);
    assert_eq!(fx.worker_threads(&pool), 1);
}

#[test]
fn a_stale_job_handle_traps_rather_than_panics() {
    let (mut fx, _script, _signals) = scripted();
    let pool = fx.pool(1);
    let job = fx.submit(&pool, "echo", b"", 1);
    let stale = borrow(&job);
    fx.drop_job(job);

    assert!(HostJob::answer(&mut fx.executor(), stale).is_err());
}
