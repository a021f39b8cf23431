//! Exits with the code given as the first argument (tests the host's exit-code passthrough).
//!
//! `std::process::exit(n)` on wasm32-wasip2 (Rust 1.95) reports every non-zero `n` as 1
//! (it imports only `wasi:cli/exit.exit(result)`), so this calls `exit-with-code` itself.

mod bindings {
    wit_bindgen::generate!({
        inline: "package sandloop-tests:exit; world exit { import wasi:cli/exit@0.2.12; }",
        path: "../../wit",
        world: "sandloop-tests:exit/exit",
        generate_all,
    });
}

fn main() {
    let code: u8 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    bindings::wasi::cli::exit::exit_with_code(code);
}
