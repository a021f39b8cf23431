//! The guest bindings of `wasi:http@0.2.12` (the `wasi-http` feature): the types, the
//! `outgoing-handler` import and the `incoming-handler` export, generated from
//! `wit/deps/http.wit`. The `wasi:io` types they use are the portable backend's own
//! (`with`), so a body's stream or a response's pollable waits in the same reactor as a
//! socket.
//!
//! The export macro is public (`pub_export_macro`) so that `sandloop::http_handler!`
//! can expand it in the workload's crate: this crate's custom section then describes the
//! imports only, and a workload that never names a handler exports nothing of
//! `wasi:http` (and, as wit-component keeps only the imports a module calls, imports
//! nothing of it unless it fetches).

// Generated code: its items are documented by the WIT, not here.
#![allow(missing_docs)]

wit_bindgen::generate!({
    inline: "
        package sandloop:portable-http;

        world handler {
            import wasi:http/types@0.2.12;
            import wasi:http/outgoing-handler@0.2.12;
            export wasi:http/incoming-handler@0.2.12;
        }
    ",
    path: [
        "wit/deps/io.wit",
        "wit/deps/clocks.wit",
        "wit/deps/random.wit",
        "wit/deps/filesystem.wit",
        "wit/deps/sockets.wit",
        "wit/deps/cli.wit",
        "wit/deps/http.wit",
    ],
    world: "sandloop:portable-http/handler",
    with: {
        "wasi:io/poll@0.2.12": crate::sys::wasi_sockets::bindings::poll,
        "wasi:io/streams@0.2.12": crate::sys::wasi_sockets::bindings::streams,
        "wasi:io/error@0.2.12": crate::sys::wasi_sockets::bindings::io_error,
        "wasi:clocks/monotonic-clock@0.2.12": crate::sys::wasi_sockets::bindings::monotonic_clock,
    },
    pub_export_macro: true,
    export_macro_name: "export_handler",
    generate_all,
});
