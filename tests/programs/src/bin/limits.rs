//! Guests that push against the host's limits (host/tests/limits.rs runs each under a
//! policy with the matching limit and checks how the run ends).

use std::hint::black_box;
use std::time::Duration;

use sandloop::net::{Family, Socket, SocketType};
use sandloop::subprocess::{SubprocessOptions, create_subprocess_exec};
use test_programs::cases;

cases!(
    waits_are_not_charged_to_the_callback_limit;
    checked:
    allocate_without_bound,
    spin_in_a_callback,
    open_sockets_without_bound,
    open_pipes_without_bound,
    spawn_children_without_bound,
    wait_forever,
    serve_posts,
    spin_forever,
);

/// Grows a vector of 1 MiB blocks, touching every one, until the host says no.
fn allocate_without_bound() -> sandloop::Result<()> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        blocks.push(black_box(vec![1u8; 1 << 20]));
        if blocks.len().is_multiple_of(64) {
            println!("holding {} MiB", blocks.len());
        }
    }
}

/// Sleeps in the loop (several waits, 300 ms together), then spins in a callback.
fn spin_in_a_callback() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.run_until_complete(sandloop::sleep(Duration::from_millis(300)))?;
    println!("slept");
    lp.call_soon(spin);
    lp.run_until_complete(sandloop::sleep(Duration::from_secs(30)))?;
    println!("not reached");
    lp.close()
}

/// Blocked in the loop's wait far longer than any callback limit: it is never charged.
fn waits_are_not_charged_to_the_callback_limit() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.run_until_complete(sandloop::sleep(Duration::from_millis(400)))?;
    lp.run_until_complete(async {
        for _ in 0..4 {
            sandloop::sleep(Duration::from_millis(50)).await?;
        }
        Ok::<(), sandloop::Error>(())
    })?;
    lp.close()
}

/// Opens sockets until the host refuses one, then closes them all and exits cleanly.
fn open_sockets_without_bound() -> sandloop::Result<()> {
    let mut sockets = Vec::new();
    let err = loop {
        match Socket::new(Family::Inet, SocketType::Stream) {
            Ok(sock) => sockets.push(sock),
            Err(err) => break err,
        }
        assert!(sockets.len() < 100_000, "the host never refused a socket");
    };
    println!("opened {}", sockets.len());
    println!("kind {:?}", err.kind());
    println!("error {err}");
    drop(sockets);
    // Closing them made room again.
    let again = Socket::new(Family::Inet, SocketType::Stream)?;
    drop(again);
    println!("closed");
    Ok(())
}

/// Opens pipes until the host refuses one, then closes half of them and shows the
/// instance still works: a new pipe carries bytes, and the loop runs.
fn open_pipes_without_bound() -> sandloop::Result<()> {
    let mut pipes = Vec::new();
    let err = loop {
        match sandloop::os::pipe() {
            Ok(pair) => pipes.push(pair),
            Err(err) => break err,
        }
        assert!(pipes.len() < 100_000, "the host never refused a pipe");
    };
    println!("opened {}", pipes.len());
    println!("kind {:?}", err.kind());
    println!("error {err}");
    pipes.truncate(pipes.len() / 2);
    let (read, write) = sandloop::os::pipe()?;
    write.write(b"still serving")?;
    println!("{}", String::from_utf8_lossy(&read.read(64)?));
    sandloop::run(sandloop::sleep(Duration::from_millis(10)))?;
    println!("loop ran");
    Ok(())
}

/// Spawns `sleep 30` until the host refuses a child, then kills and reaps them all and
/// spawns once more (the limit counts live children only).
fn spawn_children_without_bound() -> sandloop::Result<()> {
    sandloop::run(async {
        let mut children = Vec::new();
        let err = loop {
            match create_subprocess_exec("/usr/bin/sleep", ["30"], SubprocessOptions::default())
                .await
            {
                Ok(child) => children.push(child),
                Err(err) => break err,
            }
            assert!(children.len() < 1_000, "the host never refused a child");
        };
        println!("spawned {}", children.len());
        println!("kind {:?}", err.kind());
        println!("error {err}");
        for child in &children {
            child.kill()?;
            child.wait().await?;
        }
        let again = create_subprocess_exec(
            "/usr/bin/true",
            [] as [&str; 0],
            SubprocessOptions::default(),
        )
        .await?;
        assert_eq!(again.wait().await?, 0);
        println!("reaped");
        Ok::<(), sandloop::Error>(())
    })
}

/// A callback that never returns.
fn spin() {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Prints every `greet` the host posts into the loop; a `quit` post ends the run.
fn serve_posts() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.add_threadsafe_callback("greet", |payload: Vec<u8>| {
        println!("hello {}", String::from_utf8_lossy(&payload));
    });
    let stopper = lp.clone();
    lp.add_threadsafe_callback("quit", move |_: Vec<u8>| stopper.stop());
    lp.run_forever()?;
    lp.close()
}

/// Waits in the loop for a minute (a stop from outside ends it sooner).
fn wait_forever() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    println!("waiting");
    lp.run_until_complete(sandloop::sleep(Duration::from_secs(60)))?;
    lp.close()
}

/// Spins without ever returning to a loop (a stop from outside ends it).
fn spin_forever() -> sandloop::Result<()> {
    println!("spinning");
    spin();
    Ok(())
}
