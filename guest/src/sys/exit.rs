//! `exit(code)`: ends the workload with an exact exit code.
//!
//! The standard library's `std::process::exit(n)` on wasm32-wasip2 (Rust 1.95) imports only
//! `wasi:cli/exit.exit(result)`, so every non-zero `n` reaches the host as 1.
//! `exit-with-code` carries the code itself.

mod bindings {
    wit_bindgen::generate!({
        inline: "package sandloop:exit; world exit { import wasi:cli/exit@0.2.12; }",
        path: "wit",
        world: "sandloop:exit/exit",
        generate_all,
    });
}

/// Ends the workload at once with exit code `code`, which the host passes on (the
/// `sandloop` CLI makes it its own exit status). Nothing else runs: no destructor, no
/// pending callback. `std::process::exit` would report every non-zero code as 1.
///
/// ```no_run
/// sandloop::exit(3);
/// ```
pub fn exit(code: u8) -> ! {
    bindings::wasi::cli::exit::exit_with_code(code);
    // The host never returns from `exit-with-code`.
    std::process::abort()
}
