//! Sockets: the host side of the WIT interface `sandloop:host/net`.
//!
//! A [`Socket`] wraps a non-blocking, close-on-exec `socket2::Socket`; the guest drives it
//! in readiness mode (register `socket.source()` with
//! the reactor, then `recv`/`send`), or hands it over to a [`Stream`], whose I/O the host
//! does itself (completion mode, see [`stream`]).
//!
//! `send-file` sends a file of the workload's preopened directories with `sendfile(2)`
//! (`net/sendfile.rs`): once per call on a socket, queued behind the buffered bytes on a
//! stream.
//!
//! Every `bind`, `listen` and `connect` (and a datagram socket's every `send-to`, see
//! `net/datagram.rs`) passes the workload's [`Policy`](crate::Policy) first; a denial is
//! an error of kind `denied` that names the operation and the address, and an audit line
//! in the host log. Unix socket paths and abstract names are checked against the policy's
//! unix rules (see `net/unix.rs`); `socketpair` needs no grant (it reaches nothing outside
//! the workload).
//!
//! The files: `socket.rs` (the [`Socket`] and its calls), `datagram.rs` and `unix.rs`
//! (its datagram and unix-path calls), `stream/` (completion mode), `address.rs`,
//! `options.rs`, `sendfile.rs`, `io.rs` (the system calls they share); `host.rs` is the
//! WIT glue.

mod address;
mod datagram;
mod host;
mod io;
mod options;
mod sendfile;
mod socket;
pub mod stream;
mod unix;

pub(crate) use address::{Address, AddressFamily, SocketType};
pub use datagram::MAX_DATAGRAM;
pub(crate) use host::add_to_linker;
pub(crate) use options::{OptionName, SocketOption};
pub(crate) use sendfile::segment;
pub use socket::{MAX_RECV, Socket};
pub use stream::Stream;
pub(crate) use unix::remove_stale_socket_file;

#[cfg(test)]
mod tests;
