//! `sandloop run --instances N`: N copies of one workload in one process, a thread each.
//!
//! Each copy is a separate instance (its own memory, loop, handles and limits) under the
//! same policy. To share a listening port, each copy binds it with `SO_REUSEPORT` (the
//! guest's `ServerOptions { reuse_port: true, .. }`): the kernel then spreads incoming
//! connections over the copies' listening sockets. The host does not set the option
//! behind the guest's back; it tells each copy its place through two environment
//! variables, `SANDLOOP_INSTANCE` (0 to N-1) and `SANDLOOP_INSTANCES` (N), which a
//! workload may read to decide to use `reuse_port` (the `http_hello` example does).

use anyhow::Context as _;
use sandloop_host::{ExitStatus, RunOptions, RunningWorkload, Workload};

use super::shutdown::Shutdown;

/// Runs `n` copies of `workload` with `opts` (see [`start_copies`]) and waits for all;
/// returns the first failure in start order, else success.
pub(crate) fn run_copies(
    workload: &Workload,
    opts: RunOptions,
    n: u32,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitStatus> {
    let running = start_copies(workload, opts, n, shutdown)?;
    let mut first_failure = None;
    for (index, run) in running.into_iter().enumerate() {
        let status = run
            .join()
            .with_context(|| format!("instance {index} of {n}"))?
            .status;
        if !status.success() {
            if let ExitStatus::Trapped(message) = &status {
                eprintln!("error: instance {index} trapped: {message}");
            }
            first_failure.get_or_insert(status);
        }
    }
    Ok(first_failure.unwrap_or(ExitStatus::Exited(0)))
}

/// Starts `n` copies of `workload` with `opts` (stdin closed: the copies cannot share
/// it), copy `i` with SANDLOOP_INSTANCE=i and SANDLOOP_INSTANCES=n, each stopped by
/// `shutdown` when the host is asked to end. If one cannot start, those started are
/// stopped and waited for, and the error says which could not.
pub(crate) fn start_copies(
    workload: &Workload,
    opts: RunOptions,
    n: u32,
    shutdown: &Shutdown,
) -> anyhow::Result<Vec<RunningWorkload>> {
    let mut running = Vec::with_capacity(n as usize);
    for index in 0..n {
        let mut copy = opts.clone();
        copy.inherit_stdin = false;
        copy.env
            .push(("SANDLOOP_INSTANCE".to_owned(), index.to_string()));
        copy.env
            .push(("SANDLOOP_INSTANCES".to_owned(), n.to_string()));
        match workload.start(copy) {
            Ok(started) => {
                shutdown.watch(started.stop_handle());
                running.push(started);
            }
            Err(err) => {
                stop_all(running);
                return Err(err)
                    .with_context(|| format!("failed to start instance {index} of {n}"));
            }
        }
    }
    Ok(running)
}

/// Stops `running` and waits for each to end (their ending is not the news: whatever
/// made the caller stop them is).
pub(crate) fn stop_all(running: Vec<RunningWorkload>) {
    for run in &running {
        run.stop();
    }
    for run in running {
        if let Err(err) = run.join() {
            tracing::debug!("a stopped instance: {err}");
        }
    }
}
