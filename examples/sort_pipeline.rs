//! A pipeline through `sort`: the workload streams lines into the child's stdin (with
//! flow control: `drain` waits when the pipe is full) while a second task reads the
//! sorted lines back from its stdout, then prints them and the child's exit code.
//!
//! ```text
//! cargo example sort_pipeline --allow-exec /usr/bin/sort -- 5
//! line 0
//! line 1
//! line 2
//! line 3
//! line 4
//! sort exited with 0 (5 lines)
//! ```
//!
//! The argument is how many lines to stream (default 10); they are sent in a scrambled
//! order. Without `--allow-exec /usr/bin/sort` the spawn is refused:
//! `permission denied: policy denies exec of /usr/bin/sort`.

use sandloop::subprocess::{SubprocessOptions, create_subprocess_exec};

const NO_ARGS: [&str; 0] = [];

fn main() -> sandloop::Result<()> {
    let count: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse().unwrap_or_else(|err| {
            eprintln!("sort_pipeline: the line count {arg:?}: {err}");
            std::process::exit(2)
        }),
        None => 10,
    };
    sandloop::run(async move {
        let mut sort =
            create_subprocess_exec("/usr/bin/sort", NO_ARGS, SubprocessOptions::piped()).await?;
        let stdin = sort.stdin.take().expect("piped stdin");
        let stdout = sort.stdout.clone().expect("piped stdout");

        // Read concurrently with the writing: sort only answers at the end of its input,
        // but the reader is ready for however much comes.
        let reader = sandloop::create_task(async move { stdout.read_to_end().await });

        // A scrambled order: i * a stride coprime with `count`, modulo `count`.
        let stride = (1..=count.max(1))
            .rev()
            .find(|s| gcd(*s, count.max(1)) == 1 && *s < count.max(2))
            .unwrap_or(1);
        for i in 0..count {
            let n = (i * stride) % count;
            stdin.write(format!("line {n:0width$}\n", width = digits(count)).as_bytes());
            stdin.drain().await?;
        }
        stdin.close();
        stdin.wait_closed().await?;

        let sorted = reader.await?;
        print!("{}", String::from_utf8_lossy(&sorted));
        let code = sort.wait().await?;
        println!(
            "sort exited with {code} ({} lines)",
            sorted.split(|&b| b == b'\n').count() - 1
        );
        Ok::<_, sandloop::Error>(())
    })
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// How many digits `count - 1` has: the lines are zero-padded so that text order is
/// number order.
fn digits(count: usize) -> usize {
    count.saturating_sub(1).max(1).to_string().len()
}
