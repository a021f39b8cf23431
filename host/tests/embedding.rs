//! The embedding example (host/examples/embed.rs) does what it says: three workloads in
//! one process, a post, a stop from outside, a memory limit, every exit status collected.

mod common;

#[allow(dead_code)]
#[path = "../examples/embed.rs"]
mod embed;

use sandloop_host::ExitStatus;

#[test]
fn the_embedding_example_collects_every_exit_status() {
    // The example waits for its workloads: bounded, so that one that never ends fails
    // the test instead of hanging it.
    let ended = common::within("the embedding example", common::PATIENCE, embed::run)
        .expect("the example runs");
    let names: Vec<_> = ended.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(names, ["greeter", "waiter", "hog"]);

    let (_, status, stdout) = &ended[0];
    assert_eq!(*status, ExitStatus::Exited(0), "{stdout}");
    assert_eq!(
        stdout,
        "hello from the embedding\nhello from another host thread\n"
    );

    let (_, status, _) = &ended[1];
    assert_eq!(*status, ExitStatus::Stopped);

    match &ended[2].1 {
        ExitStatus::Trapped(message) => assert!(
            message.starts_with("memory limit of 16777216 bytes exceeded"),
            "{message}"
        ),
        other => panic!("expected the memory limit's trap, got {other:?}"),
    }
}
