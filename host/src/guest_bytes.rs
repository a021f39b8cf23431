//! Bytes a guest hands a host call, read where the guest holds them.
//!
//! The generated glue lifts a `list<u8>` parameter into a `Vec<u8>` of the host's: a copy
//! of every byte, and wasmtime's lift of bytes is a loop slower than a `memcpy`. The
//! functions that carry a stream's bytes to the kernel (`reactor.wait`'s `write-data`,
//! `stream.write`) are linked by hand instead, taking the list as a [`WasmList`], and send
//! from the guest's memory: the kernel's copy is the only one, and only the bytes the
//! kernel does not take are copied, into the stream's buffer.

use wasmtime::StoreContextMut;
use wasmtime::component::WasmList;

use crate::state::State;

/// The bytes of `list`, in the guest's memory, for the rest of a host call on `store`.
///
/// The slice outlives the borrow of `store` that found it, so that the call can use the
/// store's data (the reactor, the table) while it sends the bytes. Callers use it only
/// within the host call that received `list`, and keep no reference to it.
pub(crate) fn guest_bytes<'a>(store: &StoreContextMut<'_, State>, list: &WasmList<u8>) -> &'a [u8] {
    let bytes: *const [u8] = list.as_le_slice(store);
    // SAFETY: the slice lies in the instance's linear memory, an allocation apart from the
    // store's data, which the host call mutates. It stays valid and unchanged until the
    // host call returns: the guest is suspended in the call (it cannot write or grow its
    // memory; on shared threads, while its fiber waits for a turn, other instances run,
    // each with a memory of its own), and nothing the host does in these calls calls into
    // the guest or resizes its memory. The callers (`reactor.wait`, `stream.write`) use
    // the slice only within that host call: the stream sends the bytes or copies what it
    // buffers, and keeps no reference.
    unsafe { &*bytes }
}
