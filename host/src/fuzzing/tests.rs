use arbitrary::{Arbitrary as _, Unstructured};

use super::{Driver, Op};

/// The fuzz target's loop without libFuzzer's guidance: inputs from a fixed
/// pseudo-random stream, run on a fresh instance each as `host_calls` runs them. Runs in the
/// host's unit tests with `--features fuzzing`; a panic here is a finding too.
#[test]
fn random_call_sequences_never_panic_the_host() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut bytes = vec![0u8; 4096];
    let runs: usize = std::env::var("SANDLOOP_FUZZ_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let mut calls = 0;
    for _ in 0..runs {
        for b in bytes.iter_mut() {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            *b = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
        let len = 16 + (state as usize % (bytes.len() - 16));
        // Calls decoded one after the other until the bytes run out. (`Vec<Op>`'s own
        // decoding, the fuzz target's, reads a continue flag before each call: on
        // random bytes, sequences of one or two calls, too short to reach the states
        // worth testing; libFuzzer's guided inputs grow past that.)
        let mut input = Unstructured::new(&bytes[..len]);
        let mut ops = Vec::new();
        while !input.is_empty() {
            match Op::arbitrary(&mut input) {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        calls += ops.len();
        Driver::new().run(&ops);
    }
    // The sequences are long enough to reach the interesting states (handles made,
    // used, dropped, used again), not one call each.
    assert!(calls > runs * 20, "{calls} calls in {runs} runs");
}
