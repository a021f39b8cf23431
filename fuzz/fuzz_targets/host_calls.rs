//! Drives the host interfaces with random call sequences: sockets, completion-mode
//! streams, the reactor's register/wait (with writes), pipes and TLS contexts, with
//! handles that are live, dropped, of another kind or made up. A panic is a finding; an
//! error result or a trap (a `wasmtime::Error`) is what a hostile guest must get.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sandloop_host::fuzzing::{Driver, Op};

fuzz_target!(|ops: Vec<Op>| {
    // One instance per input, as each workload gets its own store; dropping it releases
    // every socket, pipe and registration it holds.
    let mut driver = Driver::new();
    driver.run(&ops);
});
