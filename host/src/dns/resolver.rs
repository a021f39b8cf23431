//! The resolver threads of one instance: lookups block, so they never run on the loop's
//! thread.
//!
//! A small pool, started lazily: a lookup goes to an idle thread, or to a new one while
//! fewer than [`MAX_THREADS`] run, or waits in the queue for the next free thread. A
//! thread that stays idle for [`IDLE_EXIT`] ends, and every thread ends when the instance
//! does (queued lookups are then dropped; one already in the C library finishes and its
//! answer is discarded).

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::reactor::Completer;

/// The most resolver threads one instance runs at once.
const MAX_THREADS: usize = 8;

/// How long an idle resolver thread waits for work before it ends.
const IDLE_EXIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// The resolver pool of one instance, and the completer its lookups report through.
pub(crate) struct Resolver {
    shared: Arc<Shared>,
    completer: Completer,
}

struct Shared {
    pool: Mutex<Pool>,
    work: Condvar,
}

#[derive(Default)]
struct Pool {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Resolver {
    pub(crate) fn new(completer: Completer) -> Resolver {
        Resolver {
            shared: Arc::new(Shared {
                pool: Mutex::new(Pool::default()),
                work: Condvar::new(),
            }),
            completer,
        }
    }

    /// Reports finished lookups to the instance's reactor.
    pub(crate) fn completer(&self) -> &Completer {
        &self.completer
    }

    /// Runs `job` on a resolver thread.
    pub(crate) fn submit(&self, job: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let mut pool = self.shared.lock();
        pool.jobs.push_back(Box::new(job));
        if pool.jobs.len() > pool.idle && pool.threads < MAX_THREADS {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("sandloop-dns".into())
                .spawn(move || work(&shared));
            match spawned {
                Ok(_) => pool.threads += 1,
                // With no thread at all the job would wait forever: refuse it.
                Err(err) if pool.threads == 0 => {
                    pool.jobs.pop_back();
                    return Err(err);
                }
                Err(err) => tracing::debug!(%err, "dns: could not add a resolver thread"),
            }
        }
        drop(pool);
        self.shared.work.notify_one();
        Ok(())
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        let mut pool = self.shared.lock();
        pool.closed = true;
        pool.jobs.clear();
        drop(pool);
        self.shared.work.notify_all();
    }
}

/// The loop of one resolver thread.
fn work(shared: &Shared) {
    let mut pool = shared.lock();
    loop {
        if let Some(job) = pool.jobs.pop_front() {
            drop(pool);
            job();
            pool = shared.lock();
            continue;
        }
        if pool.closed {
            break;
        }
        pool.idle += 1;
        let (guard, wait) = shared
            .work
            .wait_timeout(pool, IDLE_EXIT)
            .unwrap_or_else(PoisonError::into_inner);
        pool = guard;
        pool.idle -= 1;
        if wait.timed_out() && pool.jobs.is_empty() {
            break;
        }
    }
    pool.threads -= 1;
}
