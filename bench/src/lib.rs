//! Benchmarks of sandloop.
//!
//! Two kinds live in this crate:
//! - the loop core measured inside the guest under the real host (`benches/`, criterion),
//!   with the helpers of [`guest_loop`] (behind the default feature `guest-loop`, since it
//!   needs the host and the guest test programs);
//! - the network harness (`run.sh`): a native load generator (`echo_load`), native peer
//!   servers (mio, tokio) doing the same job as the sandloop examples, and `bench_report`,
//!   which turns the runs into tables and a plot. These need none of the host: build them with
//!   `--no-default-features`, as run.sh does. [`http_hello`] is the request handling the
//!   native HTTP peers share, [`mio_server`] and [`tokio_server`] the skeletons of the mio and
//!   tokio peers.

#[path = "../../examples/http_request.rs"]
pub mod http_hello;
pub mod mio_server;
pub mod tokio_server;

#[cfg(feature = "guest-loop")]
pub mod guest_loop;

#[cfg(feature = "guest-loop")]
pub use guest_loop::{bench_loop, load, measure};
