//! `sandloop`: run and precompile sandloop workloads from the command line.
//!
//! Exit codes: the guest's own exit code when it exits; 101 when it traps (as a Rust
//! program that panics does); 2 when the host cannot run it (missing file, not a
//! component, bad flags); 70 when the host itself panicked (a bug of sandloop's), whatever
//! the workload did.

mod cli;

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

/// Set by the panic hook: the host panicked somewhere, on any thread.
static HOST_PANICKED: AtomicBool = AtomicBool::new(false);

fn main() {
    let cli = cli::Cli::parse();
    init_logging();
    report_panics_as_host_bugs();
    let code = match std::panic::catch_unwind(|| cli::execute(cli)) {
        Ok(Ok(code)) => code,
        // After a panic, the error is its consequence (a workload thread that panicked):
        // the hook has said what happened, on one line.
        Ok(Err(_)) if HOST_PANICKED.load(Ordering::Acquire) => cli::HOST_BUG_EXIT_CODE,
        Ok(Err(err)) => {
            eprintln!("error: {err:#}");
            cli::HOST_ERROR_EXIT_CODE
        }
        // The hook has said what happened.
        Err(_) => cli::HOST_BUG_EXIT_CODE,
    };
    // A panic caught on the way (an executor job's, a workload thread's) still means the
    // host misbehaved: its exit code says so rather than the workload's.
    if HOST_PANICKED.load(Ordering::Acquire) {
        std::process::exit(cli::HOST_BUG_EXIT_CODE);
    }
    std::process::exit(code);
}

/// Replaces Rust's panic message (which reads like a workload's panic, and a workload's
/// panic is a trap, exit 101) with one line that names it a host bug; the backtrace
/// follows when RUST_BACKTRACE asks for it.
fn report_panics_as_host_bugs() {
    std::panic::set_hook(Box::new(|info| {
        // A second panic is most often the first one unwinding into a frame that cannot
        // unwind (wasmtime's calls between wasm and the host), where Rust aborts as soon as
        // this hook returns: the first has said what happened; exit with the host bug's
        // code, not with SIGABRT.
        if HOST_PANICKED.swap(true, Ordering::AcqRel) {
            std::process::exit(cli::HOST_BUG_EXIT_CODE);
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        let location = info
            .location()
            .map(|at| format!(" at {at}"))
            .unwrap_or_default();
        eprintln!(
            "error: host bug: sandloop panicked{location}: {message} (not the workload's \
             doing; please report it)"
        );
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            eprintln!("{backtrace}");
        }
    }));
}

/// Host logs go to stderr, filtered by `SANDLOOP_LOG` (tracing's `EnvFilter` syntax,
/// e.g. `debug` or `sandloop_host=trace`); warnings only by default (but for the benign
/// race of two hosts writing one entry of wasmtime's compile cache). In colour only for a
/// person: when stderr is a terminal and `NO_COLOR` is unset or empty (no-color.org), so
/// that a file or a pipe gets plain text.
fn init_logging() {
    let filter = match EnvFilter::try_from_env("SANDLOOP_LOG") {
        Ok(filter) => filter,
        Err(err) => {
            if std::env::var_os("SANDLOOP_LOG").is_some() {
                eprintln!("warning: ignoring SANDLOOP_LOG ({err}); logging warnings only");
            }
            // Two hosts that compile the same component at once race to write its entry
            // in wasmtime's cache; the loser warns "File exists" though the entry is there.
            EnvFilter::new("warn,wasmtime_internal_cache=error")
        }
    };
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}
