//! Getting a loop, `sandloop::run`, selectors: guest program
//! tests/programs/src/bin/getting_a_loop.rs.

mod common;

test_programs_artifacts::for_each_quiet_case!("getting_a_loop", guest_cases);
