//! Host bindings for what a workload exports to the executor's workers: the world
//! `sandloop:jobs/worker` (package `sandloop:jobs@0.1.0`, in `wit/deps/jobs`).
//!
//! Generated apart from the imports' bindings (`bindings.rs`) because it is the other direction (the host
//! calls the guest), and `instance` is its only user. The world is named with its package,
//! which selects it among the dependencies of `wit/`.

wasmtime::component::bindgen!({
    path: "wit",
    world: "sandloop:jobs/worker",
});

pub(crate) use exports::sandloop::jobs::jobs::RunError;
