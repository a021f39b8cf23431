//! Streams (guest program `streams`): `StreamReader` on fed data, and `open_connection` /
//! `start_server` over loopback TCP (the harness's policy allows listen and connect on
//! 127.0.0.1), including flow control, half-close and the `futures-io` traits.
//!
//! Each case asserts the behaviour inside the guest; here every case must exit 0 and log
//! nothing (an error that reached the default exception handler fails the test).

mod common;

test_programs_artifacts::for_each_quiet_case!("streams", guest_cases);
