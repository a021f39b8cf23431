//! Embedding `sandloop-host`: one process runs several workloads, each on its own thread,
//! with a policy built in code; it posts a callback into one loop (the host side of
//! `call_soon_threadsafe`), stops another from outside, lets a third hit its memory
//! limit, and collects every exit status.
//!
//! Run it with `cargo run --release -p sandloop-host --example embed` (it runs the guest
//! test program `limits`, which the host's build compiles for wasm32-wasip2).

use std::time::Duration;

use sandloop_host::{ExitStatus, Limits, Policy, RunOptions, Runtime};

fn main() -> anyhow::Result<()> {
    for (name, status, stdout) in run()? {
        match status {
            // The trap's first line is its reason; the wasm backtrace follows.
            ExitStatus::Trapped(message) => {
                println!("{name}: trapped: {}", message.lines().next().unwrap_or(""));
            }
            status => println!("{name}: {status:?}"),
        }
        for line in stdout.lines() {
            println!("  | {line}");
        }
    }
    Ok(())
}

/// Runs the three workloads and returns, for each, its name, how it ended and what it
/// printed.
pub fn run() -> anyhow::Result<Vec<(&'static str, ExitStatus, String)>> {
    // One runtime per process: every workload loaded from it shares the compiled code.
    let runtime = Runtime::new()?;
    let program = runtime.load(test_programs_artifacts::program("limits"))?;

    // A policy built in code: no network, at most 16 MiB of memory, callbacks of at
    // most 500 ms, 64 handles, 1 MiB buffered in the host for its writes, 4 children.
    let mut policy = Policy::new();
    policy.limits = Limits {
        memory_bytes: Some(16 << 20),
        callback_cpu: Some(Duration::from_millis(500)),
        handles: Some(64),
        buffered_bytes: Some(1 << 20),
        children: Some(4),
    };
    let options = |case: &str| RunOptions {
        args: vec![case.into()],
        capture_output: true,
        policy: policy.clone(),
        ..Default::default()
    };

    let greeter = program.start(options("serve_posts"))?;
    let waiter = program.start(options("wait_forever"))?;
    let hog = program.start(options("allocate_without_bound"))?;

    // Post into the greeter's loop from this thread and from another one; messages run
    // in the order they were posted.
    let poster = greeter.poster();
    poster.post("greet", "from the embedding")?;
    let other = poster.clone();
    std::thread::spawn(move || other.post("greet", "from another host thread"))
        .join()
        .expect("the posting thread")?;
    poster.post("quit", "")?;

    // Stop the waiter from outside, through a handle any thread may hold.
    std::thread::sleep(Duration::from_millis(200));
    let stop = waiter.stop_handle();
    std::thread::spawn(move || stop.stop());

    let mut ended = Vec::new();
    for (name, running) in [("greeter", greeter), ("waiter", waiter), ("hog", hog)] {
        let output = running.join()?;
        ended.push((
            name,
            output.status,
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ));
    }
    Ok(ended)
}
