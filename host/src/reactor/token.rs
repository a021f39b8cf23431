//! The mio tokens of one instance's registrations.
//!
//! The guest's `u64` token is stored in the watched resource; mio is given a token made of
//! the kind of the resource and its `ResourceTable` index instead: `kind << 32 | rep`, with
//! kind 0 for a readiness source and 1 for a completion-mode stream. That keeps the
//! waker's token (`usize::MAX`) out of the guest's token space (every `u64` is a valid
//! guest token) and lets `wait` find the resource of an event with one typed table
//! lookup. An instance on shared threads registers in the hub's one epoll set, and its
//! tokens carry its seat above those 33 bits (see `hub.rs`); on a thread of its own the
//! seat bits are 0.

use mio::Token;

/// The mio token of the waker: its kind (`u32::MAX`) is none of [`TokenKind`].
pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX);

// A mio token holds a kind and a `u32` table index side by side.
const _: () = assert!(usize::BITS >= 64, "the reactor needs 64-bit tokens");

/// The kind of table entry a mio token refers to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TokenKind {
    /// A readiness source (`reactor.source`).
    Source = 0,
    /// A completion-mode stream (a `Completion`).
    Stream = 1,
}

/// The mio token of the `kind` entry at table index `rep`.
pub(crate) fn token(kind: TokenKind, rep: u32) -> Token {
    Token(super::hub::seat_bits() | (kind as usize) << 32 | rep as usize)
}

/// The kind and table index a mio token refers to; `None` for the waker.
pub(crate) fn decode(token: Token) -> Option<(TokenKind, u32)> {
    if token == WAKER_TOKEN {
        return None;
    }
    let token = super::hub::without_seat(token.0);
    let rep = token as u32;
    match token >> 32 {
        0 => Some((TokenKind::Source, rep)),
        1 => Some((TokenKind::Stream, rep)),
        _ => None,
    }
}
