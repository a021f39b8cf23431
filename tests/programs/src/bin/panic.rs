//! Panics inside a loop callback (tests that a panic traps the instance and the host reports
//! it with the panic message).

fn boom() {
    panic!("sandloop test panic: boom");
}

fn main() {
    let lp = sandloop::new_event_loop();
    lp.call_soon(boom);
    lp.run_forever().unwrap();
}
